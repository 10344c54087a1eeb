//! No loops: a bridge that both exports and imports a topic which exists locally before
//! its first sample comes in (a subscriber made it) starts by exporting it; once its
//! import takes the topic, the export ends, so what comes in is never sent back out. (It
//! was: every imported message went back to Zenoh under this bridge's id, and three such
//! bridges passed messages round for ever.) The ended export keeps its row in the bridge's
//! counters, marked ended (it went missing, and what it had sent with it). The link is TCP over 127.0.0.1, to a plain
//! Zenoh peer that puts to the topic's key and counts what comes back.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use filemap::topic::{Subscriber, TopicOptions};
use filemap_zenoh::Bridge;
use zenoh::Wait;
use zenoh::bytes::ZBytes;
use zenoh::sample::Locality;

const PATIENCE: Duration = Duration::from_secs(20);

#[test]
fn an_import_ends_the_export_of_its_topic() {
    let dir = tempfile::tempdir().unwrap();
    common::use_namespace(dir.path());
    let name = "looped";
    let mut subscriber = Subscriber::create_or_open(name, &TopicOptions::new()).unwrap();

    let (session, endpoint) = common::loopback_peer();
    let key = filemap_zenoh::keys::key_for("filemap", name);
    let publisher = session.declare_publisher(key.clone()).wait().unwrap();
    let echoed = Arc::new(AtomicU64::new(0));
    let _echoes = {
        let echoed = echoed.clone();
        session
            .declare_subscriber(key)
            .allowed_origin(Locality::Remote)
            .callback(move |_| {
                echoed.fetch_add(1, Ordering::Relaxed);
            })
            .wait()
            .unwrap()
    };
    let bridge = Bridge::builder()
        .export(name)
        .import(name)
        .connect(endpoint)
        .start()
        .unwrap();
    // The topic exists, so the bridge's first scan exports it.
    common::until_exported(&bridge);
    // Probes until one comes in through the import (which then takes the topic).
    let started = Instant::now();
    loop {
        publisher
            .put(ZBytes::from(b"probe".to_vec()))
            .wait()
            .unwrap();
        if subscriber.recv_timeout(Duration::from_millis(50)).is_ok() {
            break;
        }
        assert!(started.elapsed() < PATIENCE, "no probe came in");
    }
    let stats = bridge.stats();
    let ended_export = |stats: &[filemap_zenoh::TopicStats]| {
        stats
            .iter()
            .find(|t| t.exported)
            .cloned()
            .expect("the ended export keeps its row")
    };
    let export = ended_export(&stats);
    assert!(
        export.ended && stats.iter().any(|t| !t.exported),
        "the topic is imported and no longer exported: {stats:?}"
    );
    // What comes in from now on is never sent back out.
    let before = echoed.load(Ordering::Relaxed);
    let count = 50;
    for i in 0..count {
        publisher
            .put(ZBytes::from(format!("message {i}")))
            .wait()
            .unwrap();
    }
    let mut received = 0;
    while received < count {
        let sample = subscriber.recv_timeout(PATIENCE).unwrap();
        if sample.to_vec().unwrap() != b"probe" {
            received += 1;
        }
    }
    // Long enough for an echo to come back over loopback.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        echoed.load(Ordering::Relaxed) - before,
        0,
        "imported messages were sent back out"
    );
    // The export's row keeps its final counters to the end.
    let last = bridge.stop();
    assert_eq!(ended_export(&last), export, "{last:?}");
    session.close().wait().unwrap();
}
