//! Two bridges in one namespace, one exporting everything and one importing everything,
//! linked to each other: what the importing one brings in from a remote peer, the
//! exporting one sends out again, and it must not come back in (it went round for ever,
//! each message again and again). The links are TCP over 127.0.0.1: a plain Zenoh peer
//! puts to the topic's key; the importing bridge connects to it and listens for the
//! exporting one.

mod common;

use std::time::{Duration, Instant};

use filemap::topic::{Subscriber, TopicOptions};
use filemap_zenoh::Bridge;
use zenoh::Wait;
use zenoh::bytes::ZBytes;

const PATIENCE: Duration = Duration::from_secs(20);

#[test]
fn a_sample_from_this_namespace_is_not_imported_again() {
    common::exit_if_still_running("two_bridges", "messages");
    let dir = tempfile::tempdir().unwrap();
    common::use_namespace(dir.path());
    let name = "round";
    let mut subscriber = Subscriber::create_or_open(name, &TopicOptions::new()).unwrap();
    let (session, endpoint) = common::loopback_peer();
    let between = common::free_loopback_endpoint();
    let importer = Bridge::builder()
        .import("*")
        .connect(endpoint)
        .listen(between.clone())
        .start()
        .unwrap();
    let exporter = Bridge::builder()
        .export("*")
        .connect(between)
        .start()
        .unwrap();
    let key = filemap_zenoh::keys::key_for("filemap", name);
    let publisher = session.declare_publisher(key).wait().unwrap();
    // Probes until one comes in (the links and subscriptions are up), and until the
    // exporting bridge exports the topic.
    let started = Instant::now();
    loop {
        publisher
            .put(ZBytes::from(b"probe".to_vec()))
            .wait()
            .unwrap();
        let came = subscriber.recv_timeout(Duration::from_millis(50)).is_ok();
        if came
            && exporter
                .stats()
                .iter()
                .any(|t| t.exported && t.name == name)
        {
            break;
        }
        assert!(started.elapsed() < PATIENCE, "no probe came in");
    }
    // Whatever is still on its way settles; then ten messages, each of which must come in
    // once.
    std::thread::sleep(Duration::from_millis(500));
    while let Ok(Some(_)) = subscriber.try_recv() {}
    for i in 0..10u32 {
        publisher
            .put(ZBytes::from(format!("m{i}").into_bytes()))
            .wait()
            .unwrap();
    }
    let mut got = 0;
    let counting = Instant::now();
    while counting.elapsed() < Duration::from_secs(2) && got <= 100 {
        if subscriber.recv_timeout(Duration::from_millis(50)).is_ok() {
            got += 1;
        }
    }
    exporter.stop();
    importer.stop();
    assert_eq!(
        got, 10,
        "each of ten messages came in once, not again and again"
    );
}
