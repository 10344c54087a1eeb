//! The channel between real processes: ordered, intact delivery of millions of messages of
//! random sizes with a checksum, kill -9 of the sender and of the receiver mid-stream, a
//! third endpoint refused; wraparound property tests in one process (short messages and
//! long ones); a receiver that spins through a long message being written rather than fall
//! asleep in it.

mod common;

use std::io::Write;
use std::time::{Duration, Instant};

use common::SpawnRetrying;
use common::{Namespace, child, role, run_tests, unique};
use filemap::Error;
use filemap::channel::{Receiver, SendSlot, Sender};
use xxhash_rust::xxh3::Xxh3;

fn main() {
    if let Some((role, args)) = role() {
        std::process::exit(play(&role, &args));
    }
    #[cfg_attr(not(target_os = "linux"), allow(unused_mut))]
    let mut tests: Vec<(&str, fn())> = vec![
        ("wraparound_properties", wraparound_properties),
        (
            "ordered_intact_delivery_between_processes",
            ordered_intact_delivery_between_processes,
        ),
        ("sender_killed_mid_stream", sender_killed_mid_stream),
        ("receiver_killed_mid_stream", receiver_killed_mid_stream),
        (
            "one_sender_and_one_receiver_at_a_time",
            one_sender_and_one_receiver_at_a_time,
        ),
        (
            "message_larger_than_the_ring_is_refused",
            message_larger_than_the_ring_is_refused,
        ),
        ("timeouts_and_orderly_close", timeouts_and_orderly_close),
        (
            "polling_receivers_see_the_sender_leave",
            polling_receivers_see_the_sender_leave,
        ),
        (
            "payload_that_looks_like_a_frame_is_not_received",
            payload_that_looks_like_a_frame_is_not_received,
        ),
        ("slots_are_aligned", slots_are_aligned),
        (
            "forwarding_into_the_same_full_channel_is_refused",
            forwarding_into_the_same_full_channel_is_refused,
        ),
        (
            "vectored_sends_join_their_parts",
            vectored_sends_join_their_parts,
        ),
        (
            "a_message_left_is_received_again",
            a_message_left_is_received_again,
        ),
    ];
    #[cfg(target_os = "linux")]
    tests.push(("runs_under_valgrind", runs_under_valgrind));
    #[cfg(target_os = "linux")]
    tests.push((
        "forwarding_into_a_new_channel_under_the_old_name_waits",
        forwarding_into_a_new_channel_under_the_old_name_waits,
    ));
    #[cfg(target_os = "linux")]
    tests.push((
        "a_receiver_spins_through_a_long_message_being_written",
        a_receiver_spins_through_a_long_message_being_written,
    ));
    #[cfg(target_os = "linux")]
    tests.push((
        "a_sender_killed_asleep_is_counted_asleep_no_more",
        a_sender_killed_asleep_is_counted_asleep_no_more,
    ));
    #[cfg(target_os = "linux")]
    tests.push((
        "a_sleeper_count_set_to_zero_under_a_sleeper_heals",
        a_sleeper_count_set_to_zero_under_a_sleeper_heals,
    ));
    #[cfg(target_os = "linux")]
    tests.push((
        "a_release_position_moved_back_holds_no_sender_up",
        a_release_position_moved_back_holds_no_sender_up,
    ));
    #[cfg(target_os = "linux")]
    tests.push((
        "a_dead_sender_under_a_scribbled_state_is_seen_gone",
        a_dead_sender_under_a_scribbled_state_is_seen_gone,
    ));
    #[cfg(windows)]
    tests.push((
        "a_channel_over_reserved_memory_is_refused",
        a_channel_over_reserved_memory_is_refused,
    ));
    #[cfg(not(windows))]
    println!("a_channel_over_reserved_memory_is_refused: Windows only (SEC_RESERVE sections)");
    #[cfg(not(target_os = "linux"))]
    println!(
        "a_receiver_spins_through_a_long_message_being_written, \
         a_sender_killed_asleep_is_counted_asleep_no_more, \
         a_sleeper_count_set_to_zero_under_a_sleeper_heals, \
         a_release_position_moved_back_holds_no_sender_up, \
         a_dead_sender_under_a_scribbled_state_is_seen_gone: Linux only (they read or write \
         words of the entry's file; the code under test is the same here)"
    );
    run_tests(&tests);
}

/// Message number `seq`: its length (1 byte to 64 KiB, mostly small: octave k is half as
/// likely as octave k - 1) and its bytes, both derived from `seq`.
fn message(seq: u64, buf: &mut Vec<u8>) {
    let mut x = seq.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0x5851_f42d_4c95_7f2d;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let octave = (next().trailing_zeros() as u64).min(15); // 0..=15, P(k) = 2^-(k+1)
    let len = (1u64 << octave) + next() % (1u64 << octave);
    buf.clear();
    buf.extend((0..len).map(|i| (seq as u8).wrapping_add((i as u8).wrapping_mul(31))));
    let n = buf.len().min(8);
    buf[..n].copy_from_slice(&seq.to_le_bytes()[..n]);
}

/// How long a test gives a waiting endpoint to notice that its peer died or closed. The
/// channel promises much less: a waiting endpoint notices a dead peer within 50 ms (its
/// timed sleep, `LIVENESS_INTERVAL` in channel/mod.rs) and an orderly close at its first
/// check, before it sleeps. A loaded machine or Wine may not run a process for longer than
/// that, so the tests assert only this safety net (200 times the promise: only a wait that
/// never checks its peer reaches it) and print the time they measured. Speed is for
/// `filemap bench channel`, not for test assertions.
const NOTICED_WITHIN: Duration = Duration::from_secs(10);

/// How long a test waits for a message or for room it knows is coming: a safety net that
/// turns a hang into a failure, never reached on a working channel however slow the machine.
const PATIENCE: Duration = Duration::from_secs(30);

/// Runs `f` (a blocking call) on a thread of its own and returns what it returns; fails the
/// test if `f` has not returned within `limit`, so that a call that never returns fails the
/// test instead of hanging it (the thread is left blocked; the process ends with the run).
fn within<T: Send + 'static>(
    limit: Duration,
    what: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (done, result) = std::sync::mpsc::channel();
    let worker = std::thread::spawn(move || {
        let _ = done.send(f());
    });
    match result.recv_timeout(limit) {
        Ok(value) => {
            worker.join().unwrap();
            value
        }
        // `f` panicked: pass its panic on.
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
            std::panic::resume_unwind(worker.join().unwrap_err())
        }
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
            panic!("{what}: not within {limit:?}")
        }
    }
}

fn messages_to_send() -> u64 {
    std::env::var("FILEMAP_CHANNEL_MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000_000)
}

fn play(role: &str, args: &[String]) -> i32 {
    let arg = |i: usize| args[i].as_str();
    let result: Result<(), String> = (|| {
        match role {
            "send-all" => {
                let count: u64 = arg(1).parse().unwrap();
                let mut tx = Sender::create_or_open(arg(0), 1 << 20).map_err(|e| e.to_string())?;
                let mut hash = Xxh3::new();
                let mut buf = Vec::new();
                for seq in 0..count {
                    message(seq, &mut buf);
                    hash.update(&buf);
                    let mut slot = tx.reserve(buf.len()).map_err(|e| e.to_string())?;
                    slot.copy_from_slice(&buf).unwrap();
                    slot.commit();
                }
                print!("{:016x}", hash.digest());
            }
            "send-forever" => {
                let mut tx = Sender::create_or_open(arg(0), 64 << 10).map_err(|e| e.to_string())?;
                println!("ready");
                std::io::stdout().flush().unwrap();
                let mut buf = Vec::new();
                for seq in 0.. {
                    message(seq, &mut buf);
                    tx.send(&buf).map_err(|e| e.to_string())?;
                }
            }
            "receive-some" => {
                // Receives `n` messages, recording each sequence number while holding it,
                // then blocks without receiving more.
                let n: u64 = arg(1).parse().unwrap();
                let mut rx =
                    Receiver::create_or_open(arg(0), 64 << 10).map_err(|e| e.to_string())?;
                let last =
                    filemap::sync::SharedMutex::<u64>::open(arg(2)).map_err(|e| e.to_string())?;
                let mut buf = Vec::new();
                for seq in 0..n {
                    let slot = rx.recv().map_err(|e| e.to_string())?;
                    message(seq, &mut buf);
                    if slot.to_vec().unwrap() != buf {
                        return Err(format!("message {seq} differs"));
                    }
                    *last.lock().map_err(|e| e.to_string())? = seq;
                }
                println!("ready");
                std::io::stdout().flush().unwrap();
                let _ = std::io::Read::read(&mut std::io::stdin(), &mut [0u8; 1]);
            }
            "loopback" => {
                // Both endpoints and a mutex in this one process (run under valgrind).
                let mut tx = Sender::create_or_open(arg(0), 64 << 10).map_err(|e| e.to_string())?;
                let mut rx = Receiver::open(arg(0)).map_err(|e| e.to_string())?;
                let lock =
                    filemap::sync::NamedMutex::create_new(arg(1)).map_err(|e| e.to_string())?;
                let (mut buf, mut got) = (Vec::new(), Vec::new());
                for seq in 0..200 {
                    message(seq, &mut buf);
                    let _guard = lock.lock().map_err(|e| e.to_string())?;
                    tx.send(&buf).map_err(|e| e.to_string())?;
                    rx.recv_into(&mut got).map_err(|e| e.to_string())?;
                    if got != buf {
                        return Err(format!("message {seq} differs"));
                    }
                }
                print!("200 messages");
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

fn wraparound_properties() {
    let ns = Namespace::new();
    // Short messages through a 4 KiB ring, and long ones (marked as being written while
    // they are copied in) through a 1 MiB ring.
    wraparound_cases(4096, 4000, 200, 64);
    wraparound_cases(1 << 20, 300_000, 40, 16);
    ns.assert_empty();
}

/// `cases` random runs of up to `ops` sends and receives in random interleavings, of
/// messages of random sizes below `max_len`, through a ring of `capacity` bytes:
/// everything arrives once, in order, intact.
fn wraparound_cases(capacity: u64, max_len: usize, ops: usize, cases: u32) {
    use proptest::prelude::*;
    let mut runner = proptest::test_runner::TestRunner::new(proptest::test_runner::Config {
        cases,
        ..Default::default()
    });
    let strategy = proptest::collection::vec((0usize..max_len, 0u8..3), 1..ops);
    runner
        .run(&strategy, |ops| {
            let name = unique("prop");
            let mut tx = Sender::create_or_open(&name, capacity).unwrap();
            let mut rx = Receiver::open(&name).unwrap();
            let (mut sent, mut received) = (0u64, 0u64);
            let mut pending: std::collections::VecDeque<Vec<u8>> = Default::default();
            let check = |rx: &mut Receiver,
                         pending: &mut std::collections::VecDeque<Vec<u8>>,
                         received: &mut u64| {
                let slot = rx.try_recv().unwrap();
                match slot {
                    Some(s) => {
                        let want = pending.pop_front().expect("nothing was pending");
                        assert_eq!(s.to_vec().unwrap(), want);
                        *received += 1;
                        true
                    }
                    None => {
                        assert!(pending.is_empty(), "a committed message is missing");
                        false
                    }
                }
            };
            for (len, op) in ops {
                if op < 2 {
                    let msg: Vec<u8> = (0..len).map(|i| (i as u64 ^ sent) as u8).collect();
                    if tx.try_send(&msg).unwrap() {
                        pending.push_back(msg);
                        sent += 1;
                    } else {
                        // Full: make room. An empty ring takes it at once, or after the
                        // receiver has seen the wrap marker the failed attempt published.
                        let mut accepted = false;
                        for _ in 0..2 {
                            while check(&mut rx, &mut pending, &mut received) {}
                            if tx.try_send(&msg).unwrap() {
                                accepted = true;
                                break;
                            }
                        }
                        assert!(accepted, "an empty ring refused {len} bytes");
                        pending.push_back(msg);
                        sent += 1;
                    }
                } else {
                    check(&mut rx, &mut pending, &mut received);
                }
            }
            while check(&mut rx, &mut pending, &mut received) {}
            prop_assert_eq!(sent, received);
            Ok(())
        })
        .unwrap();
}

fn ordered_intact_delivery_between_processes() {
    let ns = Namespace::new();
    let name = unique("stream");
    let count = messages_to_send();
    let mut rx = Receiver::create_or_open(&name, 1 << 20).unwrap();
    let sender = child("send-all", &[&name, &count.to_string()])
        .stdout(std::process::Stdio::piped())
        .spawn_retrying();
    let started = Instant::now();
    let mut hash = Xxh3::new();
    let (mut bytes, mut expected) = (0u64, Vec::new());
    for seq in 0..count {
        let slot = rx.recv_timeout(PATIENCE).unwrap();
        message(seq, &mut expected);
        assert!(
            slot.to_vec().unwrap() == expected[..],
            "message {seq} differs"
        );
        hash.update(&slot.to_vec().unwrap());
        bytes += slot.len() as u64;
    }
    let out = sender.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("{:016x}", hash.digest())
    );
    // Then the sender is gone: Disconnected, nothing more.
    match rx.recv_timeout(NOTICED_WITHIN) {
        Err(Error::Disconnected { .. }) => {}
        other => panic!("expected Disconnected, got {other:?}"),
    }
    println!(
        "    {count} messages, {} MiB, checksum {:016x}, {:.1} s",
        bytes >> 20,
        hash.digest(),
        started.elapsed().as_secs_f64()
    );
    drop(rx);
    ns.assert_empty();
}

fn sender_killed_mid_stream() {
    let ns = Namespace::new();
    let name = unique("killsend");
    let mut rx = Receiver::create_or_open(&name, 64 << 10).unwrap();
    let mut sender = common::spawn_ready("send-forever", &[&name]);
    let mut next = 0u64;
    let mut buf = Vec::new();
    while next < 20_000 {
        let slot = rx.recv_timeout(PATIENCE).unwrap();
        message(next, &mut buf);
        assert!(slot.to_vec().unwrap() == buf[..]);
        next += 1;
    }
    sender.kill().unwrap(); // SIGKILL mid-stream
    sender.wait().unwrap();
    let killed = Instant::now();
    // Every message committed before the death arrives, in order, then Disconnected: a
    // blocked recv notices the death (within 50 ms, the channel promises; see
    // NOTICED_WITHIN for the bound asserted).
    let (mut rx, next, gone) = within(
        NOTICED_WITHIN,
        "a blocked recv noticing the sender's death",
        move || {
            let gone = loop {
                match rx.recv() {
                    Ok(slot) => {
                        message(next, &mut buf);
                        assert!(
                            slot.to_vec().unwrap() == buf[..],
                            "message {next} after the kill differs"
                        );
                        next += 1;
                    }
                    Err(Error::Disconnected { .. }) => break killed.elapsed(),
                    Err(e) => panic!("unexpected {e}"),
                }
            };
            (rx, next, gone)
        },
    );
    println!(
        "    {next} messages received; Disconnected {} ms after the kill",
        gone.as_millis()
    );
    // A new sender can take the dead one's place.
    let mut tx = Sender::open(&name).unwrap();
    tx.send(b"again").unwrap();
    assert_eq!(rx.recv().unwrap().to_vec().unwrap(), b"again");
    drop((tx, rx));
    ns.assert_empty();
}

fn receiver_killed_mid_stream() {
    let ns = Namespace::new();
    let name = unique("killrecv");
    let last_name = unique("last");
    let last = filemap::sync::SharedMutex::<u64>::create_new(&last_name, u64::MAX).unwrap();
    let mut tx = Sender::create_or_open(&name, 64 << 10).unwrap();
    let mut receiver = child("receive-some", &[&name, "1000", &last_name])
        .stdout(std::process::Stdio::piped())
        .stdin(std::process::Stdio::piped())
        .spawn_retrying();
    // The receiver takes 1000 messages, says "ready" and stops reading.
    let mut buf = Vec::new();
    for seq in 0..1000 {
        message(seq, &mut buf);
        tx.send_timeout(&buf, PATIENCE).unwrap();
    }
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(receiver.stdout.as_mut().unwrap()),
        &mut line,
    )
    .unwrap();
    assert_eq!(line.trim(), "ready");
    // Fill the ring until send would block: nobody reads it any more, so the first
    // message that does not fit now never will. (Frames take at least 16 bytes: a 64 KiB
    // ring is full after 4096 messages at most.)
    let mut seq = 1000u64;
    loop {
        message(seq, &mut buf);
        if !tx.try_send(&buf).unwrap() {
            break;
        }
        seq += 1;
        assert!(seq < 1000 + 4096, "the ring never filled");
    }
    receiver.kill().unwrap(); // SIGKILL while the sender is about to block
    receiver.wait().unwrap();
    let killed = Instant::now();
    // A blocked send notices the death (within 50 ms, the channel promises; see
    // NOTICED_WITHIN for the bound asserted).
    let (tx, mut buf, gone) = within(
        NOTICED_WITHIN,
        "a blocked send noticing the receiver's death",
        move || {
            match tx.send(&buf) {
                Err(Error::Disconnected { .. }) => {}
                other => panic!("expected Disconnected, got {other:?}"),
            }
            (tx, buf, killed.elapsed())
        },
    );
    println!(
        "    blocked send: Disconnected {} ms after the kill",
        gone.as_millis()
    );
    // A new receiver continues where the dead one stopped: nothing lost, nothing twice.
    let seen = *last.lock().unwrap();
    assert_eq!(seen, 999);
    let mut rx = Receiver::open(&name).unwrap();
    let mut expect = seen + 1;
    while expect < seq {
        let slot = rx.recv_timeout(PATIENCE).unwrap();
        message(expect, &mut buf);
        assert!(slot.to_vec().unwrap() == buf[..], "message {expect}");
        expect += 1;
    }
    assert!(rx.try_recv().unwrap().is_none());
    drop((tx, rx, last));
    ns.assert_empty();
}

fn one_sender_and_one_receiver_at_a_time() {
    let ns = Namespace::new();
    let name = unique("single");
    let tx = Sender::create_or_open(&name, 4096).unwrap();
    match Sender::open(&name) {
        Err(
            e @ Error::EndpointTaken {
                endpoint: "sender", ..
            },
        ) => {
            assert!(e.to_string().contains("only one at a time"), "{e}")
        }
        other => panic!("expected EndpointTaken, got {other:?}"),
    }
    let rx = Receiver::open(&name).unwrap();
    assert!(matches!(
        Receiver::create_or_open(&name, 4096),
        Err(Error::EndpointTaken {
            endpoint: "receiver",
            ..
        })
    ));
    drop(tx);
    let tx = Sender::open(&name).unwrap();
    assert!(matches!(
        Receiver::open(unique("nothing")),
        Err(Error::NotFound { .. })
    ));
    let not_a_channel = unique("mapping");
    let m = filemap::Mapping::create_new(&not_a_channel, 4096).unwrap();
    assert!(matches!(
        Sender::open(&not_a_channel),
        Err(Error::KindMismatch {
            found: filemap::Kind::Mapping,
            expected: filemap::Kind::Channel,
            ..
        })
    ));
    drop((tx, rx, m));
    ns.assert_empty();
}

/// `RecvSlot::leave` keeps a message queued: the next receive gets it again, by this
/// receiver or the channel's next one, after a wrap marker too, and the sender does not
/// write over it meanwhile.
fn a_message_left_is_received_again() {
    let ns = Namespace::new();
    let name = unique("left");
    let mut tx = Sender::create_or_open(&name, 4096).unwrap();
    let mut rx = Receiver::open(&name).unwrap();
    let message = |seq: u8, len: usize| vec![seq; len];
    // Near the ring's end, so that the second message after it wraps.
    tx.send(&[0u8; 3000]).unwrap();
    rx.recv().unwrap();
    for seq in 1..=3 {
        tx.send(&message(seq, 600)).unwrap();
    }
    rx.recv().unwrap().leave();
    let again = rx.recv().unwrap().to_vec().unwrap();
    assert_eq!(again, message(1, 600), "left, then received");
    rx.recv().unwrap().leave();
    // The sender fills the ring, and writes over nothing left in it.
    let mut sent = 3;
    while tx.try_send(&message(sent + 1, 100)).unwrap() {
        sent += 1;
        assert!(sent < 64, "the ring never filled");
    }
    drop(rx);
    let mut rx = Receiver::open(&name).unwrap();
    let left = rx.recv().unwrap().to_vec().unwrap();
    assert_eq!(left, message(2, 600), "the next receiver's");
    assert_eq!(rx.recv().unwrap().to_vec().unwrap(), message(3, 600));
    for seq in 4..=sent {
        assert_eq!(rx.recv().unwrap().to_vec().unwrap(), message(seq, 100));
    }
    assert!(rx.try_recv().unwrap().is_none());
    drop((tx, rx));
    ns.assert_empty();
}

/// `send_vectored` sends its parts as one message, in order: none, empty ones, one, many;
/// parts that add up to more than the ring carries are refused with nothing sent.
fn vectored_sends_join_their_parts() {
    let _ns = Namespace::new();
    let name = unique("vectored");
    // Large enough that nothing here wraps around (a wrap would wait for this thread's
    // receiver to skip the marker).
    let mut rx = Receiver::create_or_open(&name, 1 << 16).unwrap();
    let mut tx = Sender::open(&name).unwrap();
    let big = vec![7u8; 3000];
    let cases: [&[&[u8]]; 5] = [
        &[],
        &[b"", b""],
        &[b"one"],
        &[b"a", b"", b"bc", &big, b"d"],
        &[&big, &big],
    ];
    for parts in cases {
        tx.send_vectored(parts).unwrap();
        assert_eq!(rx.recv().unwrap().to_vec().unwrap(), parts.concat());
    }
    let max = tx.max_message_len();
    let just_over = vec![0u8; max];
    let huge = [&big[..]; 30];
    for parts in [&[&just_over[..], b"x"][..], &huge[..]] {
        assert!(
            matches!(tx.send_vectored(parts), Err(Error::MessageTooLarge { .. })),
            "{} bytes in parts",
            parts.iter().map(|p| p.len()).sum::<usize>()
        );
    }
    assert!(rx.try_recv().unwrap().is_none(), "nothing was sent");
    tx.send_vectored(&[b"after"]).unwrap();
    assert_eq!(rx.recv().unwrap().to_vec().unwrap(), b"after");
}

fn message_larger_than_the_ring_is_refused() {
    let ns = Namespace::new();
    let name = unique("large");
    let mut tx = Sender::create_or_open(&name, 5000).unwrap();
    assert_eq!(tx.capacity(), 8192, "rounded up to a power of two");
    let max = tx.max_message_len();
    assert_eq!(max, 8192 - 16);
    match tx.send(&vec![0u8; max + 1]) {
        Err(e @ Error::MessageTooLarge { .. }) => {
            assert!(e.to_string().contains("at most 8176"), "{e}")
        }
        other => panic!("expected MessageTooLarge, got {other:?}"),
    }
    // A copy of another length than the slot's is refused (an error, not a panic), and the
    // slot can still be filled.
    let mut slot = tx.reserve(4).unwrap();
    common::copies_of_another_length_are_refused(|m| slot.copy_from_slice(m));
    slot.copy_from_slice(b"abcd").unwrap();
    slot.commit();
    // The largest message goes through, wherever the ring's start is (the receiver runs
    // in another thread: a blocking send waits for it to skip the wrap marker).
    let mut rx = Receiver::open(&name).unwrap();
    assert_eq!(rx.recv().unwrap().to_vec().unwrap(), b"abcd");
    let writer = std::thread::spawn(move || {
        for round in 0..3u8 {
            tx.send(&[round; 100]).unwrap();
            tx.send(&vec![round; max]).unwrap();
        }
        tx
    });
    for round in 0..3u8 {
        assert_eq!(rx.recv().unwrap().to_vec().unwrap(), &[round; 100][..]);
        let big = rx.recv().unwrap();
        assert_eq!(big.len(), max);
        assert!(big.to_vec().unwrap().iter().all(|b| *b == round));
    }
    let tx = writer.join().unwrap();
    assert!(matches!(
        Sender::create_or_open(unique("zero"), 0),
        Err(Error::InvalidSize { .. })
    ));
    drop((tx, rx));
    ns.assert_empty();
}

/// A message received from a channel holds its room in the ring until it is dropped, so
/// forwarding it into that same channel when the ring is full would wait for ever: it is
/// refused at once. With room, it is forwarded as into any other channel.
fn forwarding_into_the_same_full_channel_is_refused() {
    let ns = Namespace::new();
    let name = unique("loop");
    let mut tx = Sender::create_or_open(&name, 4096).unwrap();
    let mut rx = Receiver::open(&name).unwrap();
    tx.send(b"around").unwrap();
    tx.forward(&rx.recv().unwrap()).unwrap();
    assert_eq!(rx.recv().unwrap().to_vec().unwrap(), b"around");
    while tx.try_send(&[7u8; 1000]).unwrap() {}
    let (result, tx, rx) = within(Duration::from_secs(60), "forward", move || {
        let held = rx.recv().unwrap();
        let result = tx.forward(&held);
        drop(held);
        (result, tx, rx)
    });
    match result {
        Err(e @ Error::Unsupported { .. }) => {
            assert!(e.to_string().contains("full channel"), "{e}")
        }
        other => panic!("expected Unsupported, got {other:?}"),
    }
    drop(tx);
    drop(rx);
    ns.assert_empty();
}

/// "The same channel" is the same object, not the same name: a channel removed and made
/// again under its name while the old one's receiver lives is another ring, so forwarding
/// a message of the old one into the new one when it is full waits for room, as into any
/// other channel. Linux only: a Windows name goes with its object's last handle.
#[cfg(target_os = "linux")]
fn forwarding_into_a_new_channel_under_the_old_name_waits() {
    let ns = Namespace::new();
    let name = unique("renamed");
    let mut old_tx = Sender::create_or_open(&name, 4096).unwrap();
    let old_rx = Receiver::open(&name).unwrap();
    old_tx.send(b"from the old one").unwrap();
    drop(old_tx);
    filemap::namespace::remove(name.as_str()).unwrap();
    let mut new_tx = Sender::create_or_open(&name, 4096).unwrap();
    let mut new_rx = Receiver::open(&name).unwrap();
    let mut filled = 0;
    while new_tx.try_send(&[7u8; 1000]).unwrap() {
        filled += 1;
    }
    let forwarder = std::thread::spawn(move || {
        let (mut old_rx, mut new_tx) = (old_rx, new_tx);
        let held = old_rx.recv().unwrap();
        let result = new_tx.forward(&held);
        drop(held);
        (result, old_rx, new_tx)
    });
    // The forward waits while the new ring is full; emptying it lets it through.
    std::thread::sleep(Duration::from_millis(100));
    for _ in 0..filled {
        assert_eq!(new_rx.recv().unwrap().len(), 1000);
    }
    let (result, old_rx, new_tx) = within(Duration::from_secs(60), "forward", move || {
        forwarder.join().unwrap()
    });
    result.unwrap();
    assert_eq!(
        new_rx.recv().unwrap().to_vec().unwrap(),
        b"from the old one"
    );
    drop((old_rx, new_tx, new_rx));
    ns.assert_empty();
}

/// Bytes a message of an earlier lap left where the receiver looks for the next frame must
/// not pass for a committed frame, whatever they are (a payload is the user's data, which
/// may come from anyone). White-box: the sizes below place payload bytes exactly where the
/// next frame's header goes, by the frame layout documented in the channel's ring module
/// (64-byte frames; a 16-byte header, the shape word then the tag, which is the complement
/// of the frame's position; payloads over 48 bytes start on the frame's second line).
fn payload_that_looks_like_a_frame_is_not_received() {
    let ns = Namespace::new();
    let name = unique("forged");
    let mut tx = Sender::create_or_open(&name, 4096).unwrap();
    let mut rx = Receiver::open(&name).unwrap();
    assert_eq!(tx.capacity(), 4096);
    let shape = |len: u64, offset: u64| (len | offset << 32).to_le_bytes();
    // Writes a forged header for position `at` at ring index `index` of a payload that
    // starts at ring index `payload`.
    let forge = |slot: &mut SendSlot<'_>, payload: usize, index: usize, at: u64| {
        let o = index - payload;
        slot.write_at(o, &shape(8, 16)).unwrap();
        slot.write_at(o + 8, &(!at).to_le_bytes()).unwrap();
    };
    let expect_nothing = |rx: &mut Receiver, when: &str| {
        if let Some(slot) = rx.try_recv().unwrap() {
            panic!("{when}: received {} bytes nobody sent", slot.len());
        }
    };
    // Frame 1 at [0, 64); frame 2 at [64, 4096), its payload at ring index 128 on.
    tx.send(&[1; 8]).unwrap();
    assert_eq!(rx.recv().unwrap().to_vec().unwrap(), &[1; 8]);
    let mut slot = tx.reserve(3968).unwrap();
    slot.copy_from_slice(&[2; 3968]).unwrap();
    // The next lap: frame 3 (120 bytes) at [4096, 4288), so the receiver then looks at
    // position 4288, ring index 192: forge a frame there.
    forge(&mut slot, 128, 192, 4288);
    slot.commit();
    let got = rx.recv().unwrap();
    assert_eq!(got.len(), 3968);
    drop(got);
    expect_nothing(&mut rx, "after a lap");
    tx.send(&[3; 120]).unwrap();
    assert_eq!(rx.recv().unwrap().to_vec().unwrap(), &[3; 120]);
    expect_nothing(
        &mut rx,
        "after a frame that ends where an old payload forged one",
    );
    // A slot committed shorter than reserved: frame 4 at [4288, 4480) with 100 of 1000
    // bytes; the reserved bytes past its end held a forged frame for position 4480.
    let mut slot = tx.reserve(1000).unwrap();
    slot.copy_from_slice(&[4; 1000]).unwrap();
    forge(&mut slot, 256, 384, 4480);
    slot.commit_len(100);
    assert_eq!(rx.recv().unwrap().to_vec().unwrap(), &[4; 100]);
    expect_nothing(&mut rx, "after a slot committed shorter than reserved");
    // The stream goes on.
    tx.send(&[5; 40]).unwrap();
    assert_eq!(rx.recv().unwrap().to_vec().unwrap(), &[5; 40]);
    expect_nothing(&mut rx, "at the end");
    drop((tx, rx));
    ns.assert_empty();
}

/// Slots are 16-byte aligned, and 64-byte aligned above 48 bytes (as `SendSlot` documents),
/// on both sides, wherever the ring's position is. (The sender runs in a thread: a frame
/// that does not fit before the ring's end waits for the receiver to pass the wrap marker.)
fn slots_are_aligned() {
    let ns = Namespace::new();
    let name = unique("aligned");
    let mut tx = Sender::create_or_open(&name, 8192).unwrap();
    let mut rx = Receiver::open(&name).unwrap();
    let max = tx.max_message_len();
    let lens = [1, 8, 48, 49, 64, 100, 1000, 4000, max - 48, max - 47, max];
    let align = move |len: usize| if len > 48 && len <= max - 48 { 64 } else { 16 };
    let sender = std::thread::spawn(move || {
        for round in 0..3u8 {
            for &len in &lens {
                let mut slot = tx.reserve(len).unwrap();
                let at = slot.as_mut_ptr() as usize;
                assert_eq!(at % align(len), 0, "send slot of {len} bytes at {at:#x}");
                slot.copy_from_slice(&vec![round; len]).unwrap();
                slot.commit();
            }
        }
        tx
    });
    for round in 0..3u8 {
        for &len in &lens {
            let got = rx.recv().unwrap();
            let at = got.as_ptr() as usize;
            assert_eq!(
                at % align(len),
                0,
                "received slot of {len} bytes at {at:#x}"
            );
            assert_eq!(got.len(), len);
            assert!(got.to_vec().unwrap().iter().all(|b| *b == round));
        }
    }
    let tx = sender.join().unwrap();
    drop((tx, rx));
    ns.assert_empty();
}

fn timeouts_and_orderly_close() {
    let ns = Namespace::new();
    let name = unique("timeouts");
    let mut rx = Receiver::create_or_open(&name, 4096).unwrap();
    let d = Duration::from_millis(100);
    let started = Instant::now();
    assert!(matches!(rx.recv_timeout(d), Err(Error::Timeout { .. })));
    assert!(started.elapsed() >= d);
    let mut tx = Sender::open(&name).unwrap();
    assert!(tx.try_send(&[1; 3000]).unwrap());
    assert!(!tx.try_send(&[2; 3000]).unwrap(), "full");
    let started = Instant::now();
    assert!(matches!(
        tx.send_timeout(&[2; 3000], d),
        Err(Error::Timeout { .. })
    ));
    assert!(started.elapsed() >= d);
    // An uncommitted slot sends nothing.
    drop(rx.recv().unwrap());
    let slot = tx.reserve(10).unwrap();
    drop(slot);
    assert!(rx.try_recv().unwrap().is_none());
    // commit_len publishes a prefix.
    let mut slot = tx.reserve(10).unwrap();
    slot.write_at(0, b"part").unwrap();
    slot.commit_len(4);
    assert_eq!(rx.recv().unwrap().to_vec().unwrap(), b"part");
    // The sender closes: what it sent arrives, then Disconnected at once (at the
    // receiver's first check, before it would sleep; see NOTICED_WITHIN for the bound
    // asserted).
    tx.send(b"last").unwrap();
    drop(tx);
    assert_eq!(rx.recv().unwrap().to_vec().unwrap(), b"last");
    let started = Instant::now();
    let rx = within(
        NOTICED_WITHIN,
        "Disconnected after an orderly close",
        move || {
            match rx.recv() {
                Err(Error::Disconnected { .. }) => {}
                other => panic!("expected Disconnected, got {other:?}"),
            }
            rx
        },
    );
    println!(
        "    orderly close: Disconnected {:?} after the last message",
        started.elapsed()
    );
    drop(rx);
    ns.assert_empty();
}

/// A receiver that only polls (`try_recv`, zero timeouts) learns that its sender closed or
/// died, within a liveness interval (50 ms; see NOTICED_WITHIN for the bound asserted): a
/// polling loop ends. (It got `Ok(None)` for ever: only a wait that slept looked.)
fn polling_receivers_see_the_sender_leave() {
    let ns = Namespace::new();
    let name = unique("polled");
    let mut rx = Receiver::create_or_open(&name, 64 << 10).unwrap();
    let mut tx = Sender::open(&name).unwrap();
    tx.send(b"last").unwrap();
    // Polled once before the close, as a loop would be.
    assert_eq!(rx.try_recv().unwrap().unwrap().to_vec().unwrap(), b"last");
    assert!(rx.try_recv().unwrap().is_none());
    drop(tx);
    let started = Instant::now();
    let mut rx = within(
        NOTICED_WITHIN,
        "try_recv after an orderly close",
        move || loop {
            let polled = rx.try_recv().map(|slot| slot.is_some());
            match polled {
                Ok(false) => std::thread::yield_now(),
                Err(Error::Disconnected { .. }) => break rx,
                other => panic!("expected Disconnected, got {other:?}"),
            }
        },
    );
    println!(
        "    orderly close: try_recv said Disconnected after {:?}",
        started.elapsed()
    );
    // And says so again, at every call (not only once a liveness interval).
    for _ in 0..3 {
        let again = rx.try_recv().map(|slot| slot.is_some());
        assert!(
            matches!(again, Err(Error::Disconnected { .. })),
            "{again:?}"
        );
    }
    // A sender killed with kill -9: zero timeouts see it too, after every message it sent.
    let mut sender = common::spawn_ready("send-forever", &[&name]);
    assert!(rx.recv_timeout(PATIENCE).is_ok());
    sender.kill().unwrap();
    sender.wait().unwrap();
    let killed = Instant::now();
    let rx = within(NOTICED_WITHIN, "zero timeouts after a kill", move || {
        loop {
            let polled = rx.recv_timeout(Duration::ZERO).map(drop);
            match polled {
                Ok(()) | Err(Error::Timeout { .. }) => {}
                Err(Error::Disconnected { .. }) => break rx,
                Err(e) => panic!("expected Disconnected, got {e}"),
            }
        }
    });
    println!(
        "    kill: a zero timeout said Disconnected {:?} after it",
        killed.elapsed()
    );
    drop(rx);
    ns.assert_empty();
}

/// The channel and a mutex run under valgrind's memcheck without a complaint (Linux, where
/// valgrind is installed). rustix once found the vDSO through the auxiliary vector in a way
/// valgrind's loader breaks, so every program that opened a channel crashed there; it now
/// asks libc for the auxiliary vector.
#[cfg(target_os = "linux")]
fn runs_under_valgrind() {
    if std::process::Command::new("valgrind")
        .arg("--version")
        .output()
        .is_err()
    {
        println!("    (skipped: valgrind is not installed)");
        return;
    }
    let ns = Namespace::new();
    let (channel, lock) = (unique("vg"), unique("vg-lock"));
    let out = std::process::Command::new("valgrind")
        .args(["-q", "--error-exitcode=99"])
        .arg(std::env::current_exe().unwrap())
        .env(common::ROLE_VAR, "loopback")
        .env("FILEMAP_TEST_ARGS", format!("{channel}\u{1f}{lock}"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "under valgrind: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "200 messages");
    ns.assert_empty();
}

/// A receiver waiting while its sender writes a long message spins through the copy (the
/// sender marked the frame as being written when it reserved it) instead of falling asleep
/// in the middle of it; while nothing comes, it sleeps once its spin is over. Seen in the
/// receiver's sleeper count, read from the channel's file (Linux: an entry is a file of
/// the namespace's directory; the count is the u32 at 260 in the data area, which
/// follows the entry's 4096-byte header).
#[cfg(target_os = "linux")]
fn a_receiver_spins_through_a_long_message_being_written() {
    use std::os::unix::fs::FileExt;
    let ns = Namespace::new();
    let name = unique("spin-through");
    let mut tx = Sender::create_or_open(&name, 4 << 20).unwrap();
    let uid = rustix::process::geteuid().as_raw();
    let file = std::fs::File::open(ns.path().join(format!("filemap.u{uid}.{name}"))).unwrap();
    let asleep = || {
        let mut word = [0u8; 4];
        file.read_exact_at(&mut word, 4096 + 260).unwrap();
        u32::from_ne_bytes(word)
    };
    let wait_for = |what: &str, done: &dyn Fn() -> bool| {
        let started = Instant::now();
        while !done() {
            assert!(started.elapsed() < Duration::from_secs(10), "{what}");
            std::thread::sleep(Duration::from_micros(200));
        }
    };
    // The mark: the tag word of the frame at position 0 (the ring starts 4096 bytes into
    // the data area; a tag is a frame header's second word) holds the position with bit
    // 62 set while a long slot is reserved there, and goes with a slot dropped uncommitted.
    let tag = || {
        let mut word = [0u8; 8];
        file.read_exact_at(&mut word, 4096 + 4096 + 8).unwrap();
        u64::from_ne_bytes(word)
    };
    let slot = tx.reserve(1 << 20).unwrap();
    assert_eq!(tag(), 1 << 62, "the frame being written is not marked");
    drop(slot);
    assert_eq!(tag(), 0, "an uncommitted slot left its mark");
    let receiver = std::thread::spawn({
        let name = name.clone();
        move || Receiver::open(&name).unwrap().recv().unwrap().len()
    });
    wait_for("the receiver never slept while nothing came", &|| {
        asleep() == 1
    });
    let marked = Instant::now();
    let mut slot = tx.reserve(1 << 20).unwrap();
    // The receiver wakes within its liveness interval (50 ms), sees the mark, and spins,
    // for at most 20 ms on one mark (`WRITING_SPIN_MAX`): asleep again sooner than that
    // after the mark is a failure; later, this thread was kept from looking (a busy
    // machine), and says so.
    wait_for("the receiver did not wake to spin", &|| asleep() == 0);
    let spinning = Instant::now();
    while spinning.elapsed() < Duration::from_millis(1) {
        if asleep() != 0 {
            let after = marked.elapsed();
            assert!(
                after >= Duration::from_millis(20),
                "the receiver fell asleep {after:?} after the message was marked, while it \
                 was written"
            );
            println!("    (looked too late: the receiver slept again {after:?} after the mark)");
            break;
        }
    }
    slot.copy_from_slice(&vec![7u8; 1 << 20]).unwrap();
    slot.commit();
    assert_eq!(receiver.join().unwrap(), 1 << 20);
}

/// A receiver's sleeper count set to 0 by another process while the receiver sleeps (only
/// a process outside the protocol writes it): the receiver counts itself out without
/// wrapping, and asleep again is counted again (it wrapped to u32::MAX, and back to 0 at
/// its next sleep: asleep uncounted for good, every message then waited out its timed
/// sleep). Linux (the count is read and written through the entry's file).
#[cfg(target_os = "linux")]
fn a_sleeper_count_set_to_zero_under_a_sleeper_heals() {
    let ns = Namespace::new();
    let name = unique("zeroed-sleepers");
    let mut tx = Sender::create_or_open(&name, 64 << 10).unwrap();
    let file = common::EntryFile::open(&ns, &name);
    // The receiver's count of sleepers is the ring's control word at 260.
    let at = file.data_offset() + 260;
    let asleep = || u32::from_ne_bytes(file.read(at));
    let wait_for = |what: &str, count: u32| {
        let started = Instant::now();
        while asleep() != count {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "{what}: the count is {}",
                asleep()
            );
            std::thread::sleep(Duration::from_millis(1));
        }
    };
    let receiver = std::thread::spawn({
        let name = name.clone();
        move || {
            let mut rx = Receiver::open(&name).unwrap();
            (0..2)
                .map(|_| rx.recv().unwrap().to_vec().unwrap())
                .collect::<Vec<_>>()
        }
    });
    wait_for("the receiver never slept", 1);
    file.write(at, &0u32.to_ne_bytes());
    tx.send(b"one").unwrap();
    // Woken by its timed sleep (the send saw nobody asleep), it counted itself out: 0,
    // not u32::MAX; then asleep for the second message, counted again.
    wait_for("the receiver is not counted asleep again", 1);
    tx.send(b"two").unwrap();
    assert_eq!(receiver.join().unwrap(), [b"one".to_vec(), b"two".to_vec()]);
    wait_for("the receiver left a count", 0);
    drop((tx, file));
    ns.assert_empty();
}

/// A sender's state word scribbled to a value no endpoint writes, then the sender killed
/// with kill -9: its receiver, once it has every message, is told `Disconnected` (it took
/// the sender for one not yet connected, and waited until its timeout).
#[cfg(target_os = "linux")]
fn a_dead_sender_under_a_scribbled_state_is_seen_gone() {
    let ns = Namespace::new();
    let name = unique("scribbled-state");
    let mut rx = Receiver::create_or_open(&name, 64 << 10).unwrap();
    let file = common::EntryFile::open(&ns, &name);
    let mut sender = common::spawn_ready("send-forever", &[&name]);
    // The sender's state is the ring's control word at 384 (1: connected).
    let state = file.data_offset() + 384;
    assert_eq!(u32::from_ne_bytes(file.read(state)), 1);
    file.write(state, &7u32.to_ne_bytes());
    sender.kill().unwrap(); // SIGKILL
    sender.wait().unwrap();
    let started = Instant::now();
    let mut received = 0u64;
    let ended = loop {
        match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(m) => {
                drop(m);
                received += 1;
            }
            Err(e) => break e,
        }
    };
    assert!(
        matches!(ended, Error::Disconnected { .. }),
        "after {received} messages and {:.1} s: {ended:?}",
        started.elapsed().as_secs_f64()
    );
    drop((rx, file));
    ns.assert_empty();
}

/// A sender killed with kill -9 while asleep, waiting for room, stayed counted asleep for
/// good, and every message the receiver took then cost a system call to wake nobody: the
/// next sender takes the doorbell over, and its count back to zero.
#[cfg(target_os = "linux")]
fn a_sender_killed_asleep_is_counted_asleep_no_more() {
    let ns = Namespace::new();
    let name = unique("killed-asleep-sender");
    let rx = Receiver::create_or_open(&name, 64 << 10).unwrap();
    let file = common::EntryFile::open(&ns, &name);
    // The sender's count of sleepers is the ring's control word at 324.
    let asleep = || u32::from_ne_bytes(file.read(file.data_offset() + 324));
    let mut sender = child("send-forever", &[&name])
        .stdout(std::process::Stdio::null())
        .spawn_retrying();
    let started = Instant::now();
    while asleep() != 1 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the sender never slept"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    sender.kill().unwrap(); // SIGKILL
    sender.wait().unwrap();
    assert_eq!(
        asleep(),
        1,
        "the sender was not counted asleep when it died"
    );
    let tx = Sender::open(&name).unwrap();
    assert_eq!(asleep(), 0, "the dead sender is still counted asleep");
    drop((tx, rx, file));
    ns.assert_empty();
}

/// Windows: a `SEC_RESERVE` section another program made under a channel's name, with a
/// channel's header and ring control page copied in and committed, and nothing past them:
/// opening it is refused as `Corrupt` (the open succeeded, and the first look at the ring
/// was an access violation that ended the process).
#[cfg(windows)]
fn a_channel_over_reserved_memory_is_refused() {
    use windows_sys::Win32::Foundation::CloseHandle;
    use windows_sys::Win32::System::Memory::{
        CreateFileMappingW, FILE_MAP_READ, FILE_MAP_WRITE, MEM_COMMIT, MapViewOfFile,
        OpenFileMappingW, PAGE_READWRITE, SEC_RESERVE, UnmapViewOfFile, VirtualAlloc,
    };
    let wide = |s: &str| s.encode_utf16().chain(Some(0)).collect::<Vec<u16>>();
    let ns = Namespace::new();
    let real = unique("committed-channel");
    let tx = Sender::create_or_open(&real, 1 << 16).unwrap();
    let fake = unique("reserved-channel");
    // The header page and the ring's control page.
    const COPIED: usize = 8192;
    let (wreal, wfake) = (
        wide(&format!("Local\\{real}")),
        wide(&format!("Local\\{fake}")),
    );
    // SAFETY: sections and views made and closed here; the copy stays inside both views'
    // committed first pages.
    let section = unsafe {
        let original = OpenFileMappingW(FILE_MAP_READ, 0, wreal.as_ptr());
        assert!(!original.is_null());
        let from = MapViewOfFile(original, FILE_MAP_READ, 0, 0, COPIED);
        assert!(!from.Value.is_null());
        let section = CreateFileMappingW(
            -1isize as _,
            std::ptr::null(),
            PAGE_READWRITE | SEC_RESERVE,
            0,
            1 << 20,
            wfake.as_ptr(),
        );
        assert!(!section.is_null());
        let to = MapViewOfFile(section, FILE_MAP_WRITE, 0, 0, 0);
        assert!(!to.Value.is_null());
        assert!(!VirtualAlloc(to.Value, COPIED, MEM_COMMIT, PAGE_READWRITE).is_null());
        std::ptr::copy_nonoverlapping(from.Value.cast::<u8>(), to.Value.cast::<u8>(), COPIED);
        UnmapViewOfFile(to);
        // What another view of the section shows (Wine keeps a `SEC_RESERVE` section's
        // commits to the view they were made through: the scenario cannot be made there).
        let again = MapViewOfFile(section, FILE_MAP_READ, 0, 0, COPIED);
        assert!(!again.Value.is_null());
        let shared = std::slice::from_raw_parts(again.Value.cast::<u8>(), COPIED)
            == std::slice::from_raw_parts(from.Value.cast::<u8>(), COPIED);
        UnmapViewOfFile(again);
        UnmapViewOfFile(from);
        CloseHandle(original);
        if !shared {
            println!(
                "    this system does not show a SEC_RESERVE section's commits in other views \
                 (Wine): the section cannot be made here, not tested"
            );
            CloseHandle(section);
            drop(tx);
            ns.assert_empty();
            return;
        }
        section
    };
    match Receiver::open(&fake) {
        Err(e @ Error::Corrupt { .. }) => {
            println!("    refused: {e}");
            assert!(e.to_string().contains("not committed"), "{e}");
        }
        Ok(mut rx) => {
            // (Where the open is let through, a look at the ring must not end the process.)
            let got = rx.try_recv().map(|m| m.is_some());
            panic!("a channel over reserved memory opened; its first look: {got:?}");
        }
        Err(other) => panic!("expected Corrupt, got {other:?}"),
    }
    // SAFETY: the section made above, closed once.
    unsafe { CloseHandle(section) };
    drop(tx);
    ns.assert_empty();
}

/// A process moves a drained channel's release position (`HEAD`, the ring's control word at
/// 64) back by the ring's capacity: the sender then finds the ring full and waits for
/// room; the receiver, waiting for a message, says its positions again before it sleeps,
/// so the sender goes on and its message comes (both waited for ever before).
#[cfg(target_os = "linux")]
fn a_release_position_moved_back_holds_no_sender_up() {
    let ns = Namespace::new();
    let name = unique("head-back");
    let mut rx = Receiver::create_or_open(name.as_str(), 4096).unwrap();
    let mut tx = Sender::open(name.as_str()).unwrap();
    // Past the ring's first lap, so that the position moved back is a valid one.
    for i in 0..4u8 {
        tx.send(&[i; 1500]).unwrap();
        assert_eq!(
            rx.recv_timeout(PATIENCE).unwrap().to_vec().unwrap(),
            [i; 1500]
        );
    }
    let file = common::EntryFile::open(&ns, &name);
    let head = file.data_offset() + 64;
    let at = u64::from_ne_bytes(file.read(head));
    assert!(at >= 4096, "the ring is past its first lap ({at})");
    file.write(head, &(at - 4096).to_ne_bytes());
    std::thread::scope(|s| {
        // (Nearly the whole ring: the sender looks at the release position again.)
        let sending = s.spawn(|| tx.send_timeout(&[9; 3900], Duration::from_secs(10)));
        let got = rx
            .recv_timeout(Duration::from_secs(10))
            .map(|m| m.to_vec().unwrap());
        assert_eq!(got.unwrap(), [9; 3900]);
        sending.join().unwrap().unwrap();
    });
    drop((rx, tx, file));
    ns.assert_empty();
}
