//! What a remote peer puts cannot make a bridge's import misbehave: a put on a wildcard key
//! makes no topic (Zenoh delivers it to every subscriber it overlaps), a delete is no
//! message, ever new keys make no more topics than the bridge's bound, and samples refused
//! one by one (gaps, here) do not flood the log. The peer is a plain Zenoh session over
//! TCP on 127.0.0.1.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use filemap::topic::{Subscriber, TopicOptions};
use filemap_zenoh::{Bridge, wire};
use zenoh::Wait;
use zenoh::bytes::ZBytes;

const PATIENCE: Duration = Duration::from_secs(20);

#[test]
fn a_peers_wildcards_deletes_new_keys_and_gaps_are_bounded() {
    let dir = tempfile::tempdir().unwrap();
    common::use_namespace(dir.path());
    let (session, endpoint) = common::loopback_peer();
    let lines = Arc::new(Mutex::new(Vec::<String>::new()));
    let bridge = {
        let lines = lines.clone();
        Bridge::builder()
            .import("*")
            .topic_capacity(4096)
            .connect(endpoint)
            .start_with_log(move |line| lines.lock().unwrap().push(line.to_string()))
            .unwrap()
    };
    // The first topic, with a subscriber of its own: what the import publishes there (room
    // for every message below, so that none waits for this thread to read).
    let options = TopicOptions::new().capacity(1 << 20);
    let mut subscriber = Subscriber::create_or_open("first", &options).unwrap();
    let key = |name: &str| filemap_zenoh::keys::key_for("filemap", name);
    let put = |name: &str, seq: u64| {
        session
            .put(
                key(name),
                ZBytes::from(format!("{name} {seq}").into_bytes()),
            )
            .attachment(wire::attachment(seq, "peer"))
            .wait()
            .unwrap();
    };
    // Until the import has published one (the subscription reaches the peer in its own
    // time).
    let started = Instant::now();
    let mut seq = 0;
    while subscriber.try_recv().unwrap().is_none() {
        assert!(started.elapsed() < PATIENCE, "nothing was imported");
        put("first", seq);
        seq += 1;
        std::thread::sleep(Duration::from_millis(20));
    }
    while subscriber.try_recv().unwrap().is_some() {}
    // A wildcard key, a delete, then a message: only the message comes.
    session
        .put("filemap/**", ZBytes::from(b"wild".to_vec()))
        .wait()
        .unwrap();
    session
        .put("filemap/fir$*", b"wild".to_vec())
        .wait()
        .unwrap();
    session.delete(key("first")).wait().unwrap();
    put("first", seq);
    // (Skipping a put of the first loop that was still on its way.)
    let want = format!("first {seq}").into_bytes();
    loop {
        let got = subscriber.recv_timeout(PATIENCE).unwrap().to_vec().unwrap();
        assert!(!got.is_empty(), "a delete came as a message");
        if got == want {
            break;
        }
    }
    seq += 1;
    // Every second message missing, 200 times over: a gap each, but not a line each.
    for _ in 0..200 {
        put("first", seq + 1);
        seq += 2;
    }
    put("first", seq);
    // (The import takes samples in order: once this last one is in, all were.)
    let last = format!("first {seq}").into_bytes();
    let started = Instant::now();
    loop {
        let got = subscriber.recv_timeout(PATIENCE).unwrap().to_vec().unwrap();
        if got == last {
            break;
        }
        assert!(started.elapsed() < PATIENCE, "the last message never came");
    }
    // Ever new keys: no more topics than the bound. (Then one more message on the first
    // topic: the import takes samples in order, so once it is in, all were.)
    for i in 0..300 {
        put(&format!("new-{i}"), 0);
    }
    seq += 1;
    put("first", seq);
    let last = format!("first {seq}").into_bytes();
    let got = subscriber.recv_timeout(PATIENCE).unwrap().to_vec().unwrap();
    assert_eq!(got, last);
    let topics = || {
        let entries = filemap::namespace::list().unwrap();
        let topic = |e: &&filemap::namespace::EntryInfo| e.kind == Some(filemap::Kind::Topic);
        entries.iter().filter(topic).count()
    };
    let made = topics();
    let wild: Vec<String> = filemap::namespace::list()
        .unwrap()
        .into_iter()
        .map(|e| e.name)
        .filter(|name| name.contains(['*', '$']))
        .collect();
    drop(subscriber);
    drop(bridge);
    session.close().wait().unwrap();
    let lines = lines.lock().unwrap();
    for line in lines.iter() {
        println!("    {line}");
    }
    // No topic for the wildcards; "first" and 255 new ones.
    assert_eq!(made, 256, "topics made");
    assert!(wild.is_empty(), "topics made for wildcard keys: {wild:?}");
    // (A line a second at most: the run takes well under five.)
    let said = |start: &str| lines.iter().filter(|l| l.starts_with(start)).count();
    // (Refusals of names and of keys are limited together.)
    let (gap_lines, refusal_lines) = (said("gap"), said("cannot import") + said("a sample on"));
    assert!(
        (1..=5).contains(&gap_lines),
        "{gap_lines} gap lines for 200 gaps"
    );
    assert!(
        (1..=5).contains(&refusal_lines),
        "{refusal_lines} lines for 2 keys and 44 names refused"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("line(s) about refused names")),
        "the refusals left out are not counted"
    );
}
