//! One stuck local subscriber never stops an import: a topic whose subscriber takes
//! nothing (under `Block`) holds the link up for a moment, then its samples are dropped
//! and counted until it has room, while another topic of the same import goes on (it
//! waited, on Zenoh's receiving thread, for as long as the stuck subscriber lived, and so
//! did every key of the link). The peer is a plain Zenoh session over TCP on 127.0.0.1.

mod common;

use std::time::{Duration, Instant};

use filemap::topic::{Subscriber, TopicOptions};
use filemap_zenoh::Bridge;
use zenoh::Wait;
use zenoh::bytes::ZBytes;

const PATIENCE: Duration = Duration::from_secs(20);

#[test]
fn a_stuck_subscriber_holds_up_no_other_topic() {
    let dir = tempfile::tempdir().unwrap();
    common::use_namespace(dir.path());
    let options = TopicOptions::new().capacity(4096);
    // Subscribed to, and never read.
    let _stuck = Subscriber::create_or_open("stuck", &options).unwrap();
    let mut free = Subscriber::create_or_open("free", &options).unwrap();
    let (session, endpoint) = common::loopback_peer();
    let stuck_key = filemap_zenoh::keys::key_for("filemap", "stuck");
    let free_key = filemap_zenoh::keys::key_for("filemap", "free");
    let bridge = Bridge::builder()
        .import("*")
        .connect(endpoint)
        .start()
        .unwrap();
    // The free topic's first message comes through (the subscription reaches the peer in
    // its own time).
    let started = Instant::now();
    loop {
        session
            .put(&free_key, ZBytes::from(b"hello".to_vec()))
            .wait()
            .unwrap();
        if free.recv_timeout(Duration::from_millis(50)).is_ok() {
            break;
        }
        assert!(started.elapsed() < PATIENCE, "nothing came through");
    }
    // Far more than the stuck topic's ring holds.
    for i in 0..100u32 {
        session
            .put(&stuck_key, ZBytes::from(vec![i as u8; 500]))
            .wait()
            .unwrap();
    }
    session
        .put(&free_key, ZBytes::from(b"after".to_vec()))
        .wait()
        .unwrap();
    let got = loop {
        match free.recv_timeout(PATIENCE) {
            Ok(message) => {
                let bytes = message.to_vec().unwrap();
                if bytes != b"hello" {
                    break bytes;
                }
            }
            Err(e) => panic!("the free topic's message after the stuck one's: {e}"),
        }
    };
    assert_eq!(got, b"after");
    let stats = bridge.stats();
    let stuck = stats.iter().find(|t| t.name.ends_with("stuck")).unwrap();
    println!(
        "    stuck topic: {} published, {} dropped",
        stuck.messages, stuck.dropped
    );
    assert!(stuck.dropped > 0, "{stats:?}");
    assert_eq!(stuck.messages + stuck.dropped, 100, "{stats:?}");
    drop(bridge);
    session.close().wait().unwrap();
}
