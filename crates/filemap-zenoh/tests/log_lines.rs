//! A remote peer's bytes never steer the terminal nor forge a log line: a sender id with a
//! line break and an escape sequence in it, named in the gap an import reports, is written
//! escaped, on one line (it was written as it came). The peer is a plain Zenoh session
//! over TCP on 127.0.0.1 that puts samples with a bridge's attachment.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use filemap_zenoh::{Bridge, wire};
use zenoh::Wait;
use zenoh::bytes::ZBytes;

const PATIENCE: Duration = Duration::from_secs(20);

#[test]
fn a_forged_sender_id_is_logged_on_one_line() {
    let dir = tempfile::tempdir().unwrap();
    common::use_namespace(dir.path());
    let name = "logged";
    let (session, endpoint) = common::loopback_peer();
    let key = filemap_zenoh::keys::key_for("filemap", name);
    let publisher = session.declare_publisher(key).wait().unwrap();
    let lines = Arc::new(Mutex::new(Vec::<String>::new()));
    let bridge = {
        let lines = lines.clone();
        Bridge::builder()
            .import(name)
            .connect(endpoint)
            .start_with_log(move |line| lines.lock().unwrap().push(line.to_string()))
            .unwrap()
    };
    let forged = "peer\n\u{1b}[2Jfilemap bridge: all is well";
    let put = |seq: u64| {
        publisher
            .put(ZBytes::from(b"message".to_vec()))
            .attachment(wire::attachment(seq, forged))
            .wait()
            .unwrap();
    };
    // Message 0 until the import has published one (the subscription reaches the peer in
    // its own time), then message 5: a gap of the ones between.
    let started = Instant::now();
    while bridge.stats().iter().map(|t| t.messages).sum::<u64>() == 0 {
        assert!(started.elapsed() < PATIENCE, "nothing was imported");
        put(0);
        std::thread::sleep(Duration::from_millis(20));
    }
    put(5);
    let gap = loop {
        let found = lines
            .lock()
            .unwrap()
            .iter()
            .find(|line| line.contains("gap"))
            .cloned();
        if let Some(line) = found {
            break line;
        }
        assert!(started.elapsed() < PATIENCE, "no gap was reported");
        std::thread::sleep(Duration::from_millis(10));
    };
    println!("    {gap}");
    assert!(gap.contains("peer\\n\\u{1b}[2J"), "{gap}");
    for line in lines.lock().unwrap().iter() {
        assert!(!line.chars().any(char::is_control), "{line:?}");
    }
    drop(bridge);
    session.close().wait().unwrap();
}
