//! Topics between real processes: one publisher and several subscriber processes, every
//! message intact and in order (checksums); kill -9 of a subscriber under `Block`; a
//! stalled subscriber under `DropOldest` (exact missed count); history for late joiners;
//! a dead publisher's subscribers, and a new publisher taking over; the settings refused.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::SpawnRetrying;
use common::{Namespace, child, role, run_tests, unique};
use filemap::Error;
use filemap::topic::{Publisher, SlowSubscribers, Subscriber, TopicOptions};
use xxhash_rust::xxh3::Xxh3;

fn main() {
    if let Some((role, args)) = role() {
        std::process::exit(play(&role, &args));
    }
    #[cfg(not(target_os = "linux"))]
    println!(
        "an_oldest_frame_past_the_tail_is_corrupt, \
         a_tail_kept_moving_past_the_frames_holds_a_join_up_briefly, \
         a_history_longer_than_the_most_is_capped, \
         a_sleeper_count_left_too_high_in_a_slot_never_wraps_the_total, \
         a_publisher_killed_asleep_is_counted_asleep_no_more, \
         a_release_position_moved_back_holds_no_publisher_up: Linux only (they write or read \
         words of the entry through its file; the code under test is the same here)"
    );
    run_tests(&[
        (
            "every_subscriber_gets_every_message",
            every_subscriber_gets_every_message,
        ),
        (
            "a_killed_subscriber_does_not_stall_the_publisher",
            a_killed_subscriber_does_not_stall_the_publisher,
        ),
        (
            "a_stalled_subscriber_is_told_exactly_what_it_missed",
            a_stalled_subscriber_is_told_exactly_what_it_missed,
        ),
        (
            "a_late_joiner_gets_the_history",
            a_late_joiner_gets_the_history,
        ),
        (
            "a_dead_publishers_messages_arrive_and_a_new_one_takes_over",
            a_dead_publishers_messages_arrive_and_a_new_one_takes_over,
        ),
        (
            "settings_and_roles_are_checked",
            settings_and_roles_are_checked,
        ),
        (
            "a_joiners_history_is_kept_under_block",
            a_joiners_history_is_kept_under_block,
        ),
        ("drop_oldest_edge_cases", drop_oldest_edge_cases),
        ("passing_a_wrap_is_no_lag", passing_a_wrap_is_no_lag),
        (
            "joiners_racing_a_blocked_publisher",
            joiners_racing_a_blocked_publisher,
        ),
        (
            "vectored_publishes_join_their_parts",
            vectored_publishes_join_their_parts,
        ),
        (
            "joiners_keep_up_with_a_fast_drop_oldest_publisher",
            joiners_keep_up_with_a_fast_drop_oldest_publisher,
        ),
        (
            "a_subscriber_killed_asleep_is_let_go",
            a_subscriber_killed_asleep_is_let_go,
        ),
        #[cfg(target_os = "linux")]
        (
            "a_publisher_killed_asleep_is_counted_asleep_no_more",
            a_publisher_killed_asleep_is_counted_asleep_no_more,
        ),
        #[cfg(target_os = "linux")]
        (
            "an_oldest_frame_past_the_tail_is_corrupt",
            an_oldest_frame_past_the_tail_is_corrupt,
        ),
        #[cfg(target_os = "linux")]
        (
            "a_tail_kept_moving_past_the_frames_holds_a_join_up_briefly",
            a_tail_kept_moving_past_the_frames_holds_a_join_up_briefly,
        ),
        #[cfg(target_os = "linux")]
        (
            "a_history_longer_than_the_most_is_capped",
            a_history_longer_than_the_most_is_capped,
        ),
        #[cfg(target_os = "linux")]
        (
            "a_sleeper_count_left_too_high_in_a_slot_never_wraps_the_total",
            a_sleeper_count_left_too_high_in_a_slot_never_wraps_the_total,
        ),
        #[cfg(target_os = "linux")]
        (
            "a_release_position_moved_back_holds_no_publisher_up",
            a_release_position_moved_back_holds_no_publisher_up,
        ),
    ]);
}

/// A hostile write of the topic's oldest frame far past its tail: a subscriber that finds
/// nothing at its position says the topic is corrupt, where it adopted that position and
/// waited there for ever (nothing is ever committed there). Written through the entry's
/// file, which the mapping shares.
#[cfg(target_os = "linux")]
fn an_oldest_frame_past_the_tail_is_corrupt() {
    let ns = Namespace::new();
    let name = unique("far-oldest");
    let options = TopicOptions::new()
        .capacity(4096)
        .slow_subscribers(SlowSubscribers::DropOldest);
    let mut publisher = Publisher::create_or_open(name.as_str(), &options).unwrap();
    let mut sub = Subscriber::open(name.as_str()).unwrap();
    publisher.publish(b"one").unwrap();
    assert_eq!(sub.try_recv().unwrap().unwrap().to_vec().unwrap(), b"one");
    let file = common::EntryFile::open(&ns, &name);
    // The topic's area follows the ring (4096 bytes after the ring's own page), and its
    // oldest-frame word is 64 bytes in.
    let area = file.data_offset() + 4096 + 4096;
    file.write(area + 64, &(1u64 << 62).to_le_bytes());
    match sub.try_recv() {
        Err(e @ Error::Corrupt { .. }) => assert!(e.to_string().contains("oldest"), "{e}"),
        other => panic!("expected Corrupt, got {:?}", other.map(|s| s.map(|_| ()))),
    }
    drop((sub, publisher));
    ns.assert_empty();
}

/// A topic's history written past `MAX_HISTORY` (by another process, or by an earlier
/// filemap, which had no limit) still opens, and a joining subscriber gets what the ring
/// holds, noting at most `MAX_HISTORY` frames as it walks it (where it would have noted
/// every frame of a ring of gigabytes, and aborted where that memory was not there).
#[cfg(target_os = "linux")]
fn a_history_longer_than_the_most_is_capped() {
    let ns = Namespace::new();
    let name = unique("long-history");
    let options = TopicOptions::new().capacity(4096).history(2);
    let mut publisher = Publisher::create_or_open(name.as_str(), &options).unwrap();
    for message in [b"one", b"two", b"six"] {
        publisher.publish(message).unwrap();
    }
    let file = common::EntryFile::open(&ns, &name);
    // The topic's area follows the ring (as in the test above); its history word is 8
    // bytes in.
    let area = file.data_offset() + 4096 + 4096;
    file.write(area + 8, &u32::MAX.to_le_bytes());
    let mut late = Subscriber::open(name.as_str()).unwrap();
    for message in [b"one", b"two", b"six"] {
        assert_eq!(late.try_recv().unwrap().unwrap().to_vec().unwrap(), message);
    }
    assert!(late.try_recv().unwrap().is_none());
    drop((late, publisher));
    ns.assert_empty();
}

/// A free subscriber slot counts a sleeper that the count over all slots does not (what a
/// subscriber killed between its two counts left, when it counted its slot first, or what
/// another process wrote): the next subscriber of the slot takes its slot's count back from
/// the total, which stays at 0 (it wrapped round to 2^32 - 1 and stayed one too low for
/// good, so that a lone sleeper was never rung, only woken by its 50 ms nap).
#[cfg(target_os = "linux")]
fn a_sleeper_count_left_too_high_in_a_slot_never_wraps_the_total() {
    let ns = Namespace::new();
    let name = unique("sleeper-count");
    let options = TopicOptions::new().capacity(4096);
    let mut publisher = Publisher::create_or_open(name.as_str(), &options).unwrap();
    let file = common::EntryFile::open(&ns, &name);
    // The topic's area follows the ring (as in the test above); its count of sleepers over
    // all slots is its word at 192, and slot 0's own count the word at 4 of the slot table
    // (256 bytes in).
    let area = file.data_offset() + 4096 + 4096;
    let all_asleep = || u32::from_ne_bytes(file.read(area + 192));
    assert_eq!(all_asleep(), 0);
    file.write(area + 256 + 4, &1u32.to_ne_bytes());
    let mut sub = Subscriber::open(name.as_str()).unwrap();
    assert_eq!(all_asleep(), 0, "the total of sleepers wrapped round");
    // And the counts work on: the subscriber sleeps (counted) and is woken by a publish.
    let receiver = std::thread::spawn(move || {
        let got = sub.recv_timeout(PATIENCE).map(|m| m.to_vec());
        (got.map_err(|e| e.to_string()), sub)
    });
    let started = Instant::now();
    while all_asleep() != 1 {
        assert!(started.elapsed() < PATIENCE, "the subscriber never slept");
        std::thread::sleep(Duration::from_millis(1));
    }
    publisher.publish(b"wake").unwrap();
    let (got, sub) = receiver.join().unwrap();
    assert_eq!(got.unwrap().unwrap(), b"wake");
    assert_eq!(all_asleep(), 0);
    drop((sub, publisher, file));
    ns.assert_empty();
}

/// Under `DropOldest` (where the publisher never waits, so never looks for dead
/// subscribers that hold it up), a subscriber killed with kill -9 while asleep in a receive
/// stayed connected and counted asleep for good, and every publish rang it with a system
/// call: the publisher now frees its slot within a liveness interval of publishing.
fn a_subscriber_killed_asleep_is_let_go() {
    let ns = Namespace::new();
    let name = unique("killed-asleep");
    let options = TopicOptions::new()
        .capacity(4096)
        .slow_subscribers(SlowSubscribers::DropOldest);
    let mut publisher = Publisher::create_or_open(name.as_str(), &options).unwrap();
    let (mut sleeper, _out) = spawn_ready("sub-all", &[&name, "1"]);
    assert_eq!(publisher.subscribers(), 1);
    // Until its receive has spun out and fallen asleep: on Linux the topic's count of
    // sleepers says so (its word at 192 of the topic's area, which follows the ring, as in
    // the test above); elsewhere, long enough for it.
    #[cfg(target_os = "linux")]
    {
        let file = common::EntryFile::open(&ns, &name);
        let all_asleep = || u32::from_ne_bytes(file.read(file.data_offset() + 4096 + 4096 + 192));
        let started = Instant::now();
        while all_asleep() != 1 {
            assert!(started.elapsed() < PATIENCE, "the subscriber never slept");
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    #[cfg(not(target_os = "linux"))]
    std::thread::sleep(Duration::from_millis(300));
    sleeper.kill().unwrap(); // SIGKILL
    sleeper.wait().unwrap();
    let killed = Instant::now();
    let mut published = 0u64;
    while publisher.subscribers() > 0 {
        assert!(
            killed.elapsed() < PATIENCE,
            "the killed subscriber is still connected after {published} messages"
        );
        publisher.publish(&published.to_le_bytes()).unwrap();
        published += 1;
        std::thread::sleep(Duration::from_millis(1));
    }
    println!(
        "    the killed subscriber's slot was freed {} ms after the kill",
        killed.elapsed().as_millis()
    );
    drop(publisher);
    ns.assert_empty();
}

/// A publisher killed with kill -9 while asleep, held up under `Block` by a subscriber that
/// does not read, stayed counted asleep for good, and every message a subscriber released
/// then cost a system call to wake nobody: the next publisher takes the doorbell over, and
/// its count back to zero.
#[cfg(target_os = "linux")]
fn a_publisher_killed_asleep_is_counted_asleep_no_more() {
    let ns = Namespace::new();
    let name = unique("killed-asleep-publisher");
    let options = TopicOptions::new().capacity(4096);
    let first = Publisher::create_or_open(name.as_str(), &options).unwrap();
    let sub = Subscriber::open(name.as_str()).unwrap();
    drop(first);
    let file = common::EntryFile::open(&ns, &name);
    // The publisher's count of sleepers is the ring's control word at 324.
    let asleep = || u32::from_ne_bytes(file.read(file.data_offset() + 324));
    let mut publisher = child("pub-some", &[&name, "1000000"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn_retrying();
    let started = Instant::now();
    while asleep() != 1 {
        assert!(started.elapsed() < PATIENCE, "the publisher never slept");
        std::thread::sleep(Duration::from_millis(1));
    }
    publisher.kill().unwrap(); // SIGKILL
    publisher.wait().unwrap();
    assert_eq!(
        asleep(),
        1,
        "the publisher was not counted asleep when it died"
    );
    let next = Publisher::open(name.as_str()).unwrap();
    assert_eq!(asleep(), 0, "the dead publisher is still counted asleep");
    drop((next, sub, file));
    ns.assert_empty();
}

/// A safety net that turns a hang into a failure; never reached on a working topic.
const PATIENCE: Duration = Duration::from_secs(60);

/// Message `seq`: 8 to 4 KiB bytes (mostly small), its number first, all derived from it.
fn message(seq: u64, buf: &mut Vec<u8>) {
    let mut x = seq.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0x5851_f42d_4c95_7f2d;
    x ^= x << 13;
    x ^= x >> 7;
    let octave = (x.trailing_zeros() as u64).min(9);
    let len = 8 + (1u64 << octave) + (x >> 20) % (1u64 << octave);
    buf.clear();
    buf.extend((0..len).map(|i| (seq as u8).wrapping_add((i as u8).wrapping_mul(31))));
    buf[..8].copy_from_slice(&seq.to_le_bytes());
}

fn messages() -> u64 {
    std::env::var("FILEMAP_TOPIC_MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000)
}

/// Checks a received message against what message `seq` is.
fn check(seq: u64, got: &[u8], expected: &mut Vec<u8>) -> Result<(), String> {
    message(seq, expected);
    if got != &expected[..] {
        return Err(format!("message {seq} differs ({} bytes)", got.len()));
    }
    Ok(())
}

fn play(role: &str, args: &[String]) -> i32 {
    let arg = |i: usize| args[i].as_str();
    let result: Result<(), String> = (|| {
        let e = |e: Error| e.to_string();
        match role {
            // Joins, says so, receives `count` messages and checks each; prints the
            // checksum of all of them.
            "sub-all" => {
                let count: u64 = arg(1).parse().unwrap();
                let mut sub = Subscriber::open(arg(0)).map_err(e)?;
                ready();
                let (mut hash, mut expected, mut got) = (Xxh3::new(), Vec::new(), Vec::new());
                for seq in 0..count {
                    let s = sub.recv_into(&mut got).map_err(e)?;
                    if s != seq {
                        return Err(format!("message {s} where {seq} was due"));
                    }
                    check(seq, &got, &mut expected)?;
                    hash.update(&got);
                }
                print!("{:016x}", hash.digest());
            }
            // Joins, receives `n` messages, says so, then holds its slot without reading.
            "sub-some" => {
                let n: u64 = arg(1).parse().unwrap();
                let mut sub = Subscriber::open(arg(0)).map_err(e)?;
                let (mut expected, mut got) = (Vec::new(), Vec::new());
                for seq in 0..n {
                    sub.recv_into(&mut got).map_err(e)?;
                    check(seq, &got, &mut expected)?;
                }
                ready();
                let _ = std::io::Read::read(&mut std::io::stdin(), &mut [0u8; 1]);
            }
            // Joins, says so, waits for a line on stdin, then reads until message
            // `last`: prints how many it received and how many it was told it missed.
            "sub-stalled" => {
                let last: u64 = arg(1).parse().unwrap();
                let mut sub = Subscriber::open(arg(0)).map_err(e)?;
                ready();
                let mut line = String::new();
                std::io::stdin().read_line(&mut line).unwrap();
                let (mut received, mut missed) = (0u64, 0u64);
                let (mut expected, mut got) = (Vec::new(), Vec::new());
                loop {
                    match sub.recv_timeout(PATIENCE) {
                        Ok(sample) => match sample.append_to({
                            got.clear();
                            &mut got
                        }) {
                            Ok(()) => {
                                let seq = sample.seq();
                                drop(sample);
                                check(seq, &got, &mut expected)?;
                                received += 1;
                                if seq == last {
                                    break;
                                }
                            }
                            Err(Error::Lagged { missed: m, .. }) => missed += m,
                            Err(other) => return Err(other.to_string()),
                        },
                        Err(Error::Lagged { missed: m, .. }) => missed += m,
                        Err(other) => return Err(other.to_string()),
                    }
                }
                print!("{received} {missed}");
            }
            // Publishes `n` messages as the topic's publisher, says so, then waits to be
            // killed.
            "pub-some" => {
                let n: u64 = arg(1).parse().unwrap();
                let mut publisher = Publisher::open(arg(0)).map_err(e)?;
                let mut buf = Vec::new();
                for seq in 0..n {
                    message(seq, &mut buf);
                    publisher.publish(&buf).map_err(e)?;
                }
                ready();
                let _ = std::io::Read::read(&mut std::io::stdin(), &mut [0u8; 1]);
            }
            other => return Err(format!("unknown role {other}")),
        }
        Ok(())
    })();
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("child {role}: {e}");
            1
        }
    }
}

fn ready() {
    println!("ready");
    std::io::stdout().flush().unwrap();
}

/// Spawns a child with piped stdin and stdout and waits for its "ready" line.
fn spawn_ready(role: &str, args: &[&str]) -> (Child, BufReader<std::process::ChildStdout>) {
    let mut c = child(role, args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn_retrying();
    let mut out = BufReader::new(c.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "ready", "child {role} did not get ready");
    (c, out)
}

/// The rest of a child's output, after it exits successfully.
fn finish(mut c: Child, mut out: BufReader<std::process::ChildStdout>) -> String {
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut out, &mut rest).unwrap();
    let status = c.wait().unwrap();
    assert!(status.success(), "child failed: {status}");
    rest
}

/// Publishes messages `from..to`; the checksum of what was published.
fn publish(publisher: &mut Publisher, range: std::ops::Range<u64>, hash: &mut Xxh3) {
    let mut buf = Vec::new();
    for seq in range {
        message(seq, &mut buf);
        hash.update(&buf);
        publisher.publish_timeout(&buf, PATIENCE).unwrap();
    }
}

/// One publisher, four subscriber processes: each receives every message, intact, in
/// order, with its sequence number (the checksums agree).
/// A tail that another process keeps moving past the last frame (a word every process may
/// write) makes every walk of a joining subscriber from the oldest frame fail at the last
/// one, and look as if the publisher had moved on: the join gives up once it has walked 64
/// rings' worth (it walked the ring up to 10,000 times: about a minute on this half-full
/// 64 MiB ring, hours on a gigabyte). The tail moves every millisecond, for at most 90 s.
/// Linux (the tail is written through the entry's file).
#[cfg(target_os = "linux")]
fn a_tail_kept_moving_past_the_frames_holds_a_join_up_briefly() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let ns = Namespace::new();
    let name = unique("moving-tail");
    let capacity = 64u64 << 20;
    let mut publisher =
        Publisher::create_or_open(&name, &TopicOptions::new().capacity(capacity)).unwrap();
    let file = common::EntryFile::open(&ns, &name);
    // The ring's control area starts the data area; the publisher's tail is at 128.
    let tail_at = file.data_offset() + 128;
    let tail = || u64::from_le_bytes(file.read(tail_at));
    while tail() < capacity / 2 {
        publisher.publish(&[]).unwrap();
    }
    let real = tail();
    let (stop, moved) = (AtomicBool::new(false), AtomicBool::new(false));
    let (joined, took) = std::thread::scope(|s| {
        s.spawn(|| {
            let began = Instant::now();
            let mut fake = real;
            while !stop.load(Ordering::Relaxed) && began.elapsed() < Duration::from_secs(90) {
                fake = (fake + 64).min(capacity - 4096);
                file.write(tail_at, &fake.to_le_bytes());
                moved.store(true, Ordering::Release);
                std::thread::sleep(Duration::from_millis(1));
            }
        });
        // (A join that read the tail before it first moved walks to the real one, and
        // joins: as it may.)
        while !moved.load(Ordering::Acquire) {
            std::thread::sleep(Duration::from_millis(1));
        }
        let started = Instant::now();
        let joined = Subscriber::open(&name).map(|s| s.slot());
        let took = started.elapsed();
        stop.store(true, Ordering::Relaxed);
        (joined, took)
    });
    file.write(tail_at, &real.to_le_bytes());
    assert!(
        matches!(joined, Err(Error::Corrupt { .. } | Error::Outpaced { .. })),
        "{joined:?}"
    );
    assert!(took < Duration::from_secs(30), "the join took {took:?}");
    println!("    refused after {took:?}");
    drop((publisher, file));
    ns.assert_empty();
}

fn every_subscriber_gets_every_message() {
    let ns = Namespace::new();
    let name = unique("fanout");
    let count = messages();
    let options = TopicOptions::new().capacity(1 << 20);
    let mut publisher = Publisher::create_or_open(name.as_str(), &options).unwrap();
    let subscribers: Vec<_> = (0..4)
        .map(|_| spawn_ready("sub-all", &[&name, &count.to_string()]))
        .collect();
    assert_eq!(publisher.subscribers(), 4);
    let started = Instant::now();
    let mut hash = Xxh3::new();
    publish(&mut publisher, 0..count, &mut hash);
    for (c, out) in subscribers {
        assert_eq!(finish(c, out), format!("{:016x}", hash.digest()));
    }
    println!(
        "    {count} messages to 4 subscriber processes, checksum {:016x}, {:.1} s",
        hash.digest(),
        started.elapsed().as_secs_f64()
    );
    drop(publisher);
    ns.assert_empty();
}

/// Under `Block`, a subscriber that stops reading holds the publisher up; killed with
/// kill -9, it stops doing so (its slot is freed within the liveness interval), and the
/// other subscribers get everything.
fn a_killed_subscriber_does_not_stall_the_publisher() {
    let ns = Namespace::new();
    let name = unique("killsub");
    let count = (messages() / 10).max(20_000);
    let options = TopicOptions::new().capacity(64 << 10);
    let mut publisher = Publisher::create_or_open(name.as_str(), &options).unwrap();
    let others: Vec<_> = (0..2)
        .map(|_| spawn_ready("sub-all", &[&name, &count.to_string()]))
        .collect();
    let mut stuck = child("sub-some", &[&name, "1000"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn_retrying();
    let mut hash = Xxh3::new();
    // Until the stuck subscriber has joined, it does not hold anything up.
    let deadline = Instant::now() + PATIENCE;
    while publisher.subscribers() < 3 {
        assert!(
            Instant::now() < deadline,
            "the third subscriber never joined"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    publish(&mut publisher, 0..1000, &mut hash);
    let mut line = String::new();
    BufReader::new(stuck.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "ready");
    // The stuck subscriber reads no more: the ring fills and the publisher waits.
    let mut buf = Vec::new();
    let mut seq = 1000;
    loop {
        message(seq, &mut buf);
        if !publisher.try_publish(&buf).unwrap() {
            break;
        }
        hash.update(&buf);
        seq += 1;
        assert!(
            seq < count,
            "the publisher never waited for the stuck subscriber"
        );
    }
    stuck.kill().unwrap(); // SIGKILL
    stuck.wait().unwrap();
    let killed = Instant::now();
    // `try_publish` alone, which never waits (and so never reached the looks a wait makes
    // for dead subscribers: it stalled for ever), gets past the dead subscriber too.
    while !publisher.try_publish(&buf).unwrap() {
        assert!(
            killed.elapsed() < PATIENCE,
            "try_publish never got past the killed subscriber"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    let resumed = killed.elapsed();
    hash.update(&buf);
    publish(&mut publisher, seq + 1..count, &mut hash);
    for (c, out) in others {
        assert_eq!(finish(c, out), format!("{:016x}", hash.digest()));
    }
    println!(
        "    the publisher waited at message {seq}; it went on {} ms after the kill; \
         {count} messages to the other two, intact",
        resumed.as_millis()
    );
    drop(publisher);
    ns.assert_empty();
}

/// Under `DropOldest`, a subscriber that does not read does not slow the publisher down;
/// when it reads again, what it receives plus what it is told it missed is exactly what was
/// published, and what it receives is intact.
fn a_stalled_subscriber_is_told_exactly_what_it_missed() {
    let ns = Namespace::new();
    let name = unique("dropoldest");
    let count = (messages() / 10).max(20_000);
    let options = TopicOptions::new()
        .capacity(64 << 10)
        .slow_subscribers(SlowSubscribers::DropOldest);
    let mut publisher = Publisher::create_or_open(name.as_str(), &options).unwrap();
    // The rate with nobody subscribed, then with a stalled subscriber, in this run.
    let mut hash = Xxh3::new();
    let started = Instant::now();
    publish(&mut publisher, 0..count, &mut hash);
    let alone = started.elapsed();
    let (mut stalled, out) = spawn_ready("sub-stalled", &[&name, &(2 * count - 1).to_string()]);
    let started = Instant::now();
    publish(&mut publisher, count..2 * count, &mut hash);
    let with_stalled = started.elapsed();
    writeln!(stalled.stdin.as_mut().unwrap(), "go").unwrap();
    let report = finish(stalled, out);
    let (received, missed) = report.split_once(' ').unwrap();
    let (received, missed): (u64, u64) = (received.parse().unwrap(), missed.parse().unwrap());
    assert_eq!(
        received + missed,
        count,
        "received {received} + missed {missed} is not the {count} published since it joined"
    );
    assert!(missed > 0, "a 64 KiB ring kept {count} messages");
    println!(
        "    {count} messages past a stalled subscriber in {} ms (alone: {} ms, {:.2}x); \
         it then received {received} and was told it missed {missed}",
        with_stalled.as_millis(),
        alone.as_millis(),
        with_stalled.as_secs_f64() / alone.as_secs_f64()
    );
    drop(publisher);
    ns.assert_empty();
}

/// A subscriber that joins late receives the last K messages (K = the topic's history),
/// then the new ones; one that asks for the latest only receives the new ones.
fn a_late_joiner_gets_the_history() {
    let ns = Namespace::new();
    let name = unique("history");
    let options = TopicOptions::new().capacity(1 << 20).history(10);
    let mut publisher = Publisher::create_or_open(name.as_str(), &options).unwrap();
    let mut hash = Xxh3::new();
    publish(&mut publisher, 0..100, &mut hash);
    let mut late = Subscriber::open(name.as_str()).unwrap();
    let mut latest = Subscriber::open_latest(name.as_str()).unwrap();
    let (mut got, mut expected) = (Vec::new(), Vec::new());
    for seq in 90..100 {
        assert_eq!(late.recv_into(&mut got).unwrap(), seq);
        check(seq, &got, &mut expected).unwrap();
    }
    assert!(late.try_recv().unwrap().is_none(), "more than the history");
    assert!(
        latest.try_recv().unwrap().is_none(),
        "history for open_latest"
    );
    publish(&mut publisher, 100..101, &mut hash);
    assert_eq!(late.recv_into(&mut got).unwrap(), 100);
    assert_eq!(latest.recv_into(&mut got).unwrap(), 100);
    drop((late, latest, publisher));
    ns.assert_empty();
}

/// A publisher killed with kill -9: its subscriber receives every message it committed,
/// then `Disconnected`; a new publisher takes the topic over and its first message is the
/// next in the sequence.
fn a_dead_publishers_messages_arrive_and_a_new_one_takes_over() {
    let ns = Namespace::new();
    let name = unique("takeover");
    let options = TopicOptions::new().capacity(1 << 20);
    let mut sub = Subscriber::create_or_open(name.as_str(), &options).unwrap();
    let (mut first, _out) = spawn_ready("pub-some", &[&name, "500"]);
    first.kill().unwrap();
    let killed = Instant::now();
    first.wait().unwrap();
    let (mut got, mut expected) = (Vec::new(), Vec::new());
    for seq in 0..500 {
        assert_eq!(sub.recv_into(&mut got).unwrap(), seq);
        check(seq, &got, &mut expected).unwrap();
    }
    match sub.recv_timeout(PATIENCE) {
        Err(Error::Disconnected { .. }) => {}
        other => panic!("after the publisher died: {other:?}"),
    }
    let noticed = killed.elapsed();
    let mut second = Publisher::open(name.as_str()).unwrap();
    assert_eq!(second.next_sequence(), 500);
    message(500, &mut expected);
    second.publish(&expected).unwrap();
    assert_eq!(sub.recv_into(&mut got).unwrap(), 500);
    assert_eq!(got, expected);
    println!(
        "    500 messages of a killed publisher received, Disconnected {} ms after the kill; \
         the next publisher went on at 500",
        noticed.as_millis()
    );
    drop((sub, second));
    ns.assert_empty();
}

/// One publisher at a time; slots limited and freed when their subscriber goes; settings
/// out of range, messages too large and the wrong kind are refused with their errors.
fn settings_and_roles_are_checked() {
    let ns = Namespace::new();
    let name = unique("roles");
    let options = TopicOptions::new().max_subscribers(2);
    let publisher = Publisher::create_or_open(name.as_str(), &options).unwrap();
    assert!(matches!(
        Publisher::open(name.as_str()),
        Err(Error::EndpointTaken { .. })
    ));
    let a = Subscriber::open(name.as_str()).unwrap();
    let b = Subscriber::open(name.as_str()).unwrap();
    match Subscriber::open(name.as_str()) {
        Err(e @ Error::NoFreeSlot { slots: 2, .. }) => {
            assert!(e.to_string().contains("all 2 are taken"), "{e}")
        }
        other => panic!("a third subscriber of two slots: {other:?}"),
    }
    drop(a);
    let c = Subscriber::open(name.as_str()).unwrap();
    assert_eq!(c.slot(), 0, "the freed slot is taken again");
    for slots in [0, 129] {
        let e = Publisher::create_or_open(
            unique("slots").as_str(),
            &TopicOptions::new().max_subscribers(slots),
        )
        .unwrap_err();
        assert!(matches!(e, Error::InvalidSetting { .. }), "{e:?}");
    }
    let mut small = Publisher::create_or_open(
        unique("small").as_str(),
        &TopicOptions::new().capacity(4096),
    )
    .unwrap();
    assert!(matches!(
        small.publish(&[0; 8192]),
        Err(Error::MessageTooLarge { .. })
    ));
    let _channel = filemap::channel::Sender::create_or_open(unique("chan").as_str(), 4096).unwrap();
    let channel_name = _channel.name().to_string();
    assert!(matches!(
        Subscriber::open(channel_name.as_str()),
        Err(Error::KindMismatch { .. })
    ));
    assert!(matches!(
        Subscriber::open(unique("nothing").as_str()),
        Err(Error::NotFound { .. })
    ));
    drop((publisher, b, c, small, _channel));
    ns.assert_empty();
}

/// Under `Block`, a subscriber joining a full ring with history pins its history: the
/// publisher stops before the first of those frames instead of writing over them. With a
/// history of the whole ring the joiner's head is at the oldest frame, below the room the
/// publisher's next message needs, and the publisher learns of the joiner only after it
/// has moved `oldest` (its lowest head was looked at before the join): that try finds no
/// room, and so must every later one, though `oldest` says the bytes are free.
fn a_joiners_history_is_kept_under_block() {
    let ns = Namespace::new();
    // 64-byte frames in a 4096-byte ring: 64 of them fill it.
    for history in [12u64, 64] {
        let name = unique("pinned");
        let options = TopicOptions::new().capacity(4096).history(history as u32);
        let mut publisher = Publisher::create_or_open(name.as_str(), &options).unwrap();
        for seq in 0..74u64 {
            publisher.publish(&seq.to_le_bytes()).unwrap();
        }
        let mut sub = Subscriber::open(name.as_str()).unwrap();
        let mut published = 74u64;
        while publisher.try_publish(&published.to_le_bytes()).unwrap() {
            published += 1;
            assert!(
                published < 200,
                "the publisher wrote over the joiner's history"
            );
        }
        for _ in 0..3 {
            assert!(
                !publisher.try_publish(&published.to_le_bytes()).unwrap(),
                "a later try wrote over the joiner's history (history {history})"
            );
        }
        let mut got = Vec::new();
        for seq in 74 - history..published {
            assert_eq!(sub.recv_into(&mut got).unwrap(), seq, "history {history}");
            assert_eq!(got, seq.to_le_bytes());
        }
        drop((sub, publisher));
    }
    ns.assert_empty();
}

/// Under `DropOldest`: a message that takes the whole ring while the subscriber is behind
/// is waited for, then counted (not a corrupt ring); a sample overwritten while held is
/// missed once, however many times it is copied.
/// `publish_vectored` publishes its parts as one message, in order, to every subscriber;
/// parts that add up to more than the topic carries are refused with nothing published.
fn vectored_publishes_join_their_parts() {
    let _ns = Namespace::new();
    let name = unique("vectored");
    // Large enough that nothing here wraps around (a wrap would wait for this thread's
    // subscribers).
    let options = TopicOptions::new().capacity(1 << 16);
    let mut a = Subscriber::create_or_open(&name, &options).unwrap();
    let mut b = Subscriber::open(&name).unwrap();
    let mut publisher = Publisher::open(&name).unwrap();
    let big = vec![9u8; 3000];
    let cases: [&[&[u8]]; 4] = [&[], &[b"", b"one"], &[b"a", &big, b"", b"z"], &[&big, &big]];
    for parts in cases {
        publisher.publish_vectored(parts).unwrap();
        for subscriber in [&mut a, &mut b] {
            assert_eq!(subscriber.recv().unwrap().to_vec().unwrap(), parts.concat());
        }
    }
    let over = vec![0u8; publisher.max_message_len()];
    assert!(matches!(
        publisher.publish_vectored(&[&over, b"x"]),
        Err(Error::MessageTooLarge { .. })
    ));
    assert!(a.try_recv().unwrap().is_none(), "nothing was published");
    publisher.publish_vectored(&[b"after"]).unwrap();
    assert_eq!(a.recv().unwrap().to_vec().unwrap(), b"after");
    // A copy of another length than the slot's is refused (an error, not a panic), and
    // the slot can still be filled.
    let mut slot = publisher.reserve(4).unwrap();
    common::copies_of_another_length_are_refused(|m| slot.copy_from_slice(m));
    slot.copy_from_slice(b"abcd").unwrap();
    slot.commit();
    assert_eq!(b.recv().unwrap().to_vec().unwrap(), b"after");
    assert_eq!(b.recv().unwrap().to_vec().unwrap(), b"abcd");
}

fn drop_oldest_edge_cases() {
    let ns = Namespace::new();
    let name = unique("edges");
    let options = TopicOptions::new()
        .capacity(4096)
        .slow_subscribers(SlowSubscribers::DropOldest);
    let mut publisher = Publisher::create_or_open(name.as_str(), &options).unwrap();
    let mut sub = Subscriber::open(name.as_str()).unwrap();
    publisher.publish(&[1; 2000]).unwrap();
    let mut slot = publisher.reserve(4000).unwrap();
    slot.copy_from_slice(&[2; 4000]).unwrap();
    assert!(
        sub.try_recv().unwrap().is_none(),
        "while the big message is written"
    );
    slot.commit();
    match sub.try_recv() {
        Err(Error::Lagged { missed: 1, .. }) => {}
        other => panic!("after the big message: {other:?}"),
    }
    let big = sub.try_recv().unwrap().expect("the big message");
    assert_eq!((big.seq(), big.to_vec().unwrap()), (1, vec![2; 4000]));
    drop(big);
    publisher.publish(b"held").unwrap();
    let held = sub.try_recv().unwrap().expect("a message");
    for _ in 0..100 {
        publisher.publish(&[3; 200]).unwrap();
    }
    let counts: Vec<u64> = (0..3)
        .map(|_| match held.to_vec() {
            Err(Error::Lagged { missed, .. }) => missed,
            other => panic!("a copy of an overwritten message: {other:?}"),
        })
        .collect();
    assert_eq!(counts, [1, 0, 0]);
    drop(held);
    match sub.try_recv() {
        Err(Error::Lagged { missed, .. }) => assert!(missed > 0),
        other => panic!("after the overwrite: {other:?}"),
    }
    drop((sub, publisher));
    ns.assert_empty();
}

/// Under `DropOldest`, a subscriber that has read everything, whose position is where the
/// publisher then puts a wrap marker that the next message (at the ring's start) writes
/// over, has missed nothing: it gets that message, not a lag of 0.
fn passing_a_wrap_is_no_lag() {
    let ns = Namespace::new();
    let name = unique("wrapped");
    let options = TopicOptions::new()
        .capacity(4096)
        .slow_subscribers(SlowSubscribers::DropOldest);
    let mut publisher = Publisher::create_or_open(name.as_str(), &options).unwrap();
    let mut sub = Subscriber::open(name.as_str()).unwrap();
    // A frame of 2112 bytes (header and payload from the ring's start), then one of 2176
    // that does not fit in the 1984 bytes left: it goes to the ring's start, over the
    // wrap marker at 2112.
    let (first, second) = (vec![1u8; 2000], vec![2u8; 2100]);
    publisher.publish(&first).unwrap();
    assert_eq!(sub.try_recv().unwrap().unwrap().to_vec().unwrap(), first);
    publisher.publish(&second).unwrap();
    let sample = match sub.try_recv() {
        Ok(Some(sample)) => sample,
        other => panic!("after the wrap: {other:?}"),
    };
    assert_eq!((sample.seq(), sample.to_vec().unwrap()), (1, second));
    drop(sample);
    drop((sub, publisher));
    ns.assert_empty();
}

/// Under `Block`, subscribers that join and leave while the publisher waits for room: a
/// joiner's head starts at the oldest frame, below what the publisher waits for, so it may
/// appear between the wait's last look and the publisher's; the publisher then waits for
/// it too (it once gave up a wait without a deadline there, and panicked).
fn joiners_racing_a_blocked_publisher() {
    let ns = Namespace::new();
    let name = unique("racing");
    let options = TopicOptions::new().capacity(4096);
    let mut publisher = Publisher::create_or_open(name.as_str(), &options).unwrap();
    let total = 20_000u64;
    let started = Instant::now();
    let stop = std::sync::atomic::AtomicBool::new(false);
    let joined = std::sync::Barrier::new(2);
    std::thread::scope(|s| {
        let reader = s.spawn(|| {
            let mut sub = Subscriber::open(name.as_str()).unwrap();
            joined.wait();
            for expected in 0..total {
                // (A timeout, not a hang, should the publisher fail.)
                let sample = sub.recv_timeout(PATIENCE).unwrap();
                assert_eq!(sample.seq(), expected);
                assert_eq!(sample.to_vec().unwrap(), expected.to_le_bytes());
            }
        });
        let joiner = s.spawn(|| {
            let mut joins = 0u32;
            while !stop.load(std::sync::atomic::Ordering::Relaxed)
                && joins < 100_000
                && started.elapsed() < PATIENCE
            {
                let sub = Subscriber::open(name.as_str()).unwrap();
                drop(sub);
                joins += 1;
            }
            joins
        });
        joined.wait();
        for seq in 0..total {
            publisher.publish(&seq.to_le_bytes()).unwrap();
        }
        reader.join().unwrap();
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let joins = joiner.join().unwrap();
        println!("    {total} messages published while {joins} subscribers joined and left");
    });
    drop(publisher);
    ns.assert_empty();
}

/// Under `DropOldest`, subscribers join (with and without history) while the publisher
/// publishes as fast as it can, overwriting the ring over and over: every join finds its
/// place (the join's walk over the ring once started over whenever the publisher moved
/// `oldest` at all, so a publisher in a loop kept every joiner out, with `Corrupt`), and the
/// first thing each joiner receives is the message its `next_sequence` names, or an exact
/// lag. Small messages (many frames to walk), messages of more than half the ring (the walk
/// finds none), and sizes that leave wrap markers.
fn joiners_keep_up_with_a_fast_drop_oldest_publisher() {
    for len in [64, 40_000, 1000] {
        joiners_keep_up_with(len);
    }
}

fn joiners_keep_up_with(len: usize) {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    let ns = Namespace::new();
    let name = unique("outpaced");
    let options = TopicOptions::new()
        .capacity(64 * 1024)
        .history(64)
        .slow_subscribers(SlowSubscribers::DropOldest);
    let mut publisher = Publisher::create_or_open(name.as_str(), &options).unwrap();
    let body = |seq: u64| -> Vec<u8> { seq.to_le_bytes().repeat(len / 8) };
    let stop = AtomicBool::new(false);
    let published = AtomicU64::new(0);
    let started = Instant::now();
    std::thread::scope(|s| {
        let publishing = s.spawn(|| {
            let mut seq = 0u64;
            while !stop.load(Ordering::Relaxed) && started.elapsed() < PATIENCE {
                publisher.publish(&body(seq)).unwrap();
                seq += 1;
                published.store(seq, Ordering::Relaxed);
            }
            seq
        });
        // The ring written over many times before the first join.
        let laps = 64 * (64 * 1024 / (len as u64 + 32)).max(1);
        while published.load(Ordering::Relaxed) < laps && started.elapsed() < PATIENCE {
            std::thread::yield_now();
        }
        let mut lags = 0;
        for join in 0..400 {
            let before = Instant::now();
            let mut sub = if join % 2 == 0 {
                Subscriber::open(name.as_str())
            } else {
                Subscriber::open_latest(name.as_str())
            }
            .unwrap_or_else(|e| panic!("{len} B, join {join} after {:?}: {e}", before.elapsed()));
            let first = sub.next_sequence();
            // Lags (each exact) until a message: the publisher may lap a slow joiner more
            // than once.
            let mut missed = 0;
            let (seq, bytes) = loop {
                match sub.recv_timeout(PATIENCE) {
                    // (A message overwritten while it was copied out counts as missed.)
                    Ok(sample) => match sample.to_vec() {
                        Ok(bytes) => break (sample.seq(), bytes),
                        Err(Error::Lagged { missed: m, .. }) if m > 0 => missed += m,
                        Err(e) => panic!("{len} B, join {join}: {e}"),
                    },
                    Err(Error::Lagged { missed: m, .. }) if m > 0 => missed += m,
                    Err(e) => panic!("{len} B, join {join}: {e}"),
                }
            };
            lags += u32::from(missed > 0);
            assert_eq!(
                seq,
                first + missed,
                "{len} B, join {join}: {first} + {missed}"
            );
            assert_eq!(bytes, body(seq), "{len} B, join {join}");
        }
        stop.store(true, Ordering::Relaxed);
        let published = publishing.join().unwrap();
        println!(
            "    {len} B: 400 joins while {published} messages were published ({lags} lagged at once)"
        );
    });
    drop(publisher);
    ns.assert_empty();
}

/// A process moves a subscriber's release position back by the ring's capacity (under
/// `Block`): the publisher then finds the ring full and waits for that subscriber; the
/// subscriber, waiting for a message, says its position again before it sleeps, so the
/// publisher goes on and its message comes (both waited for ever before).
#[cfg(target_os = "linux")]
fn a_release_position_moved_back_holds_no_publisher_up() {
    let ns = Namespace::new();
    let name = unique("sub-head-back");
    let options = TopicOptions::new().capacity(4096);
    let mut publisher = Publisher::create_or_open(name.as_str(), &options).unwrap();
    let mut sub = Subscriber::open(name.as_str()).unwrap();
    // Past the ring's first lap, so that the position moved back is a valid one.
    for i in 0..4u8 {
        publisher.publish(&[i; 1500]).unwrap();
        assert_eq!(
            sub.recv_timeout(PATIENCE).unwrap().to_vec().unwrap(),
            [i; 1500]
        );
    }
    let file = common::EntryFile::open(&ns, &name);
    // The topic's area follows the ring (4096 bytes after the ring's own page); the slot
    // table starts 256 bytes in, 64 bytes a slot, a slot's release position at 16.
    let head = file.data_offset() + 4096 + 4096 + 256 + 64 * u64::from(sub.slot()) + 16;
    let at = u64::from_le_bytes(file.read(head));
    assert!(at >= 4096, "the ring is past its first lap ({at})");
    file.write(head, &(at - 4096).to_le_bytes());
    std::thread::scope(|s| {
        // (Nearly the whole ring: the publisher looks at the release positions again.)
        let publishing = s.spawn(|| publisher.publish_timeout(&[9; 3900], Duration::from_secs(10)));
        let got = sub
            .recv_timeout(Duration::from_secs(10))
            .map(|m| m.to_vec().unwrap());
        assert_eq!(got.unwrap(), [9; 3900]);
        publishing.join().unwrap().unwrap();
    });
    drop((sub, publisher, file));
    ns.assert_empty();
}
