//! A crash storm on a topic: a publisher process and three subscriber processes, each
//! killed at random (SIGKILL on Linux, TerminateProcess on Windows) and replaced, while
//! this process subscribes throughout. Under `Block` nothing published may be lost: this
//! process must see every sequence number from its first on, each message intact (its
//! bytes derive from its number), across every publisher that took the topic over; every
//! subscriber process checks the same of what it receives and fails if it is not so; and
//! the publisher must keep going (a killed subscriber stops holding it up).
//!
//! Bounded for CI (`FILEMAP_SOAK_SECS`, default 10 s on Linux, 5 s on Windows).

mod common;

use std::process::Child;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::SpawnRetrying;
use common::{Namespace, child, role, run_tests, soak_secs, still_running};
use filemap::Error;
use filemap::topic::{Publisher, Subscriber, TopicOptions};

const TOPIC: &str = "soak-topic";
const SUBSCRIBERS: usize = 3;

fn main() {
    if let Some((role, args)) = role() {
        std::process::exit(play(&role, &args));
    }
    run_tests(&[("topic_crash_storm", topic_crash_storm)]);
}

/// Message `seq`: 8 to ~500 bytes, its number first, the rest derived from it.
fn message(seq: u64) -> Vec<u8> {
    let len = 8 + (seq.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 55) as usize;
    let mut m: Vec<u8> = (0..len).map(|i| (seq as u8) ^ (i as u8)).collect();
    m[..8].copy_from_slice(&seq.to_le_bytes());
    m
}

/// Receives until an error other than a timeout, checking that the numbers follow one
/// another and every message is intact; counts into `count`. `Err` says what was wrong.
fn follow(sub: &mut Subscriber, count: &AtomicU64, stop: &AtomicBool) -> Result<(), String> {
    let mut expected: Option<u64> = None;
    let mut got = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        match sub.recv_timeout(Duration::from_millis(100)) {
            Ok(sample) => {
                got.clear();
                sample.append_to(&mut got).map_err(|e| e.to_string())?;
                let seq = sample.seq();
                if expected.is_some_and(|e| e != seq) {
                    return Err(format!("message {seq} where {expected:?} was due"));
                }
                if got != message(seq) {
                    return Err(format!("message {seq} differs"));
                }
                expected = Some(seq + 1);
                count.fetch_add(1, Ordering::Relaxed);
            }
            // No publisher for a moment (one was killed), or nothing yet: go on.
            Err(Error::Timeout { .. } | Error::Disconnected { .. }) => {}
            Err(e) => return Err(e.to_string()),
        }
    }
    Ok(())
}

fn play(role: &str, _args: &[String]) -> i32 {
    match role {
        // Publishes from where the topic's sequence is, until killed.
        "publisher" => {
            let mut publisher = loop {
                match Publisher::open(TOPIC) {
                    Ok(p) => break p,
                    // The killed one's lock is not released yet: try again.
                    Err(Error::EndpointTaken { .. }) => {
                        std::thread::sleep(Duration::from_millis(1))
                    }
                    Err(e) => panic!("publisher: {e}"),
                }
            };
            loop {
                let seq = publisher.next_sequence();
                publisher.publish(&message(seq)).unwrap();
            }
        }
        // Checks what it receives until killed; exits 1 on anything wrong.
        "subscriber" => {
            let mut sub = Subscriber::open_latest(TOPIC).unwrap();
            let count = AtomicU64::new(0);
            match follow(&mut sub, &count, &AtomicBool::new(false)) {
                Ok(()) => 0,
                Err(e) => {
                    eprintln!("subscriber: {e}");
                    1
                }
            }
        }
        other => panic!("unknown role {other}"),
    }
}

fn topic_crash_storm() {
    let ns = Namespace::new();
    let options = TopicOptions::new().capacity(64 << 10);
    let mut mine = Subscriber::create_or_open(TOPIC, &options).unwrap();
    let received = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let checker = {
        let (received, stop) = (received.clone(), stop.clone());
        std::thread::spawn(move || {
            let r = follow(&mut mine, &received, &stop);
            (r, mine)
        })
    };
    let mut publisher = child("publisher", &[]).spawn_retrying();
    let mut subscribers: Vec<Child> = (0..SUBSCRIBERS)
        .map(|_| child("subscriber", &[]).spawn_retrying())
        .collect();
    let deadline = Instant::now() + Duration::from_secs(soak_secs(10, 5));
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    let (mut publisher_kills, mut subscriber_kills) = (0, 0);
    let mut last_progress = (received.load(Ordering::Relaxed), Instant::now());
    while Instant::now() < deadline {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        std::thread::sleep(Duration::from_millis(30 + rng % 120));
        still_running(&mut publisher, "the publisher");
        for s in &mut subscribers {
            still_running(s, "a subscriber");
        }
        if rng % 3 == 0 {
            publisher.kill().unwrap();
            publisher.wait().unwrap();
            publisher = child("publisher", &[]).spawn_retrying();
            publisher_kills += 1;
        } else {
            let k = (rng >> 8) as usize % SUBSCRIBERS;
            subscribers[k].kill().unwrap();
            subscribers[k].wait().unwrap();
            subscribers[k] = child("subscriber", &[]).spawn_retrying();
            subscriber_kills += 1;
        }
        // The publisher goes on: this process keeps receiving (a safety net of seconds,
        // far above a liveness interval, for a loaded machine).
        let now = received.load(Ordering::Relaxed);
        if now != last_progress.0 {
            last_progress = (now, Instant::now());
        }
        assert!(
            last_progress.1.elapsed() < Duration::from_secs(20),
            "no message for 20 s: the publisher is stuck"
        );
    }
    for mut c in subscribers.into_iter().chain([publisher]) {
        let _ = c.kill();
        let _ = c.wait();
    }
    stop.store(true, Ordering::Relaxed);
    let (checked, mine) = checker.join().unwrap();
    checked.unwrap();
    let total = received.load(Ordering::Relaxed);
    assert!(total > 0, "nothing was received");
    println!(
        "    {total} messages received in order and intact across {publisher_kills} killed \
         publishers and {subscriber_kills} killed subscribers"
    );
    drop(mine);
    ns.assert_empty();
}
