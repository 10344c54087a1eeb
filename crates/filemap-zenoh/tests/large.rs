//! Large messages through an import: a plain Zenoh peer puts messages of up to 2 MiB, which
//! Zenoh carries in fragments and hands over as payloads of many slices; the bridge writes
//! the slices straight into its local topic, where a subscriber must find every message
//! whole, in order. The link is TCP over 127.0.0.1.

mod common;

use std::time::{Duration, Instant};

use filemap::topic::{Subscriber, TopicOptions};
use filemap_zenoh::Bridge;
use zenoh::Wait;
use zenoh::bytes::ZBytes;
use zenoh::qos::CongestionControl;

/// Message `i`: its length (small ones and ones of a few MiB) and bytes, from `i`.
fn message(i: u32) -> Vec<u8> {
    let len = match i % 4 {
        0 => 10,
        1 => 100_000,
        2 => 1 << 20,
        _ => (2 << 20) - 1,
    };
    (0..len)
        .map(|k: usize| (k as u32).wrapping_mul(31).wrapping_add(i) as u8)
        .collect()
}

#[test]
fn large_messages_arrive_whole_through_an_import() {
    let dir = tempfile::tempdir().unwrap();
    common::use_namespace(dir.path());
    let name = "large-import";
    // The topic first, with room for a few of the largest messages.
    let options = TopicOptions::new().capacity(16 << 20);
    let mut subscriber = Subscriber::create_or_open(name, &options).unwrap();

    let (session, endpoint) = common::loopback_peer();
    let publisher = session
        .declare_publisher(filemap_zenoh::keys::key_for("filemap", name))
        .congestion_control(CongestionControl::Block)
        .wait()
        .unwrap();
    let bridge = Bridge::builder()
        .import(name)
        .connect(endpoint)
        .start()
        .unwrap();

    // Until the peer has learnt of the bridge's subscription, what it puts reaches nobody:
    // probe with small messages until one comes through.
    let started = Instant::now();
    loop {
        publisher
            .put(ZBytes::from(b"probe".to_vec()))
            .wait()
            .unwrap();
        if let Ok(sample) = subscriber.recv_timeout(Duration::from_millis(50)) {
            assert_eq!(sample.to_vec().unwrap(), b"probe");
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the bridge never received a probe"
        );
    }

    let count = 24;
    let receiving = std::thread::spawn(move || {
        for i in 0..count {
            // Probes sent before the first one came through may still arrive first (no
            // message is 5 bytes long).
            let got = loop {
                let sample = subscriber
                    .recv_timeout(Duration::from_secs(20))
                    .unwrap_or_else(|e| panic!("message {i}: {e}"));
                let got = sample.to_vec().unwrap();
                if i > 0 || got != b"probe" {
                    break got;
                }
            };
            let expected = message(i);
            assert_eq!(got.len(), expected.len(), "message {i}'s length");
            assert!(got == expected, "message {i}'s bytes");
        }
    });
    for i in 0..count {
        publisher.put(ZBytes::from(message(i))).wait().unwrap();
    }
    receiving.join().unwrap();
    let stats = bridge.stats();
    let topic = stats.iter().find(|t| t.name.ends_with(name)).unwrap();
    assert_eq!(topic.dropped, 0, "{stats:?}");
    bridge.stop();
    session.close().wait().unwrap();
}
