//! Objects whose entries another process cuts short (Linux): a channel, an event, a
//! semaphore, a mutex and a shared value report `PageFault` from then on, and the
//! processes using them go on; every message received before is intact and in order.
//! (On Windows an object's section cannot be shortened while it is mapped: nothing to
//! test there.)

mod common;

#[cfg(target_os = "linux")]
use common::{Namespace, child, cut_to, run_child, spawn_ready, unique};
use common::{role, run_tests};

fn main() {
    if let Some((role, args)) = role() {
        std::process::exit(play(&role, &args));
    }
    #[cfg(target_os = "linux")]
    run_tests(&[
        (
            "a_channel_cut_short_is_an_error",
            a_channel_cut_short_is_an_error,
        ),
        (
            "sync_objects_cut_short_are_errors",
            sync_objects_cut_short_are_errors,
        ),
        (
            "a_shared_value_under_a_flapping_entry",
            a_shared_value_under_a_flapping_entry,
        ),
    ]);
    #[cfg(not(target_os = "linux"))]
    {
        println!("cut_short: an object's section cannot be shortened on Windows; nothing to test");
        run_tests(&[]);
    }
}

#[cfg(not(target_os = "linux"))]
fn play(role: &str, _args: &[String]) -> i32 {
    panic!("unknown role {role}")
}

#[cfg(target_os = "linux")]
use linux::*;

#[cfg(target_os = "linux")]
mod linux {
    use super::*;
    use common::SpawnRetrying;
    use filemap::Error;
    use filemap::channel::{Receiver, Sender};
    use filemap::sync::{EventReset, NamedEvent, NamedMutex, NamedSemaphore, SharedMutex};
    use std::io::{BufRead, Write};
    use std::path::{Path, PathBuf};
    use std::time::{Duration, Instant};

    /// The value of the shared-value test: three pages, the last two of which get cut.
    pub(super) type Value = [u64; 1536];

    pub(super) fn play(role: &str, args: &[String]) -> i32 {
        match role {
            // The hostile process: sets the length of the file at args[0] to args[1].
            "truncate" => {
                let len: u64 = args[1].parse().unwrap();
                cut_to(Path::new(&args[0]), len);
                0
            }
            // Cuts the file at args[0] to args[2] and grows it back to args[1], args[3]
            // times, then cuts it to nothing.
            "flap" => {
                let path = PathBuf::from(&args[0]);
                let (full, cut, times): (u64, u64, u32) = (
                    args[1].parse().unwrap(),
                    args[2].parse().unwrap(),
                    args[3].parse().unwrap(),
                );
                for _ in 0..times {
                    cut_to(&path, cut);
                    std::thread::sleep(Duration::from_micros(200));
                    cut_to(&path, full);
                    std::thread::sleep(Duration::from_micros(200));
                }
                cut_to(&path, 0);
                0
            }
            // Sends numbered messages of varied sizes until a send fails; prints the error.
            "sender" => {
                let mut tx = Sender::open(args[0].as_str()).unwrap();
                println!("ready");
                let mut i = 0u64;
                let deadline = Instant::now() + Duration::from_secs(30);
                let error = loop {
                    if Instant::now() > deadline {
                        break "still sending after 30 s".to_string();
                    }
                    match tx.send_timeout(&message(i), Duration::from_secs(10)) {
                        Ok(()) => i += 1,
                        Err(e) => break describe(&e),
                    }
                };
                println!("sent {i}: {error}");
                0
            }
            // Waits on the event args[0] (after saying it is ready); prints how it ended.
            "event-waiter" => {
                let event = NamedEvent::open(args[0].as_str()).unwrap();
                println!("ready");
                std::io::stdout().flush().unwrap();
                let waited = event.wait_timeout(Duration::from_secs(20));
                println!(
                    "{}",
                    waited.map_or_else(|e| describe(&e), |()| "set".into())
                );
                0
            }
            other => panic!("unknown role {other}"),
        }
    }

    /// Message `i`: its number, then `i % 300` bytes of `i as u8`.
    fn message(i: u64) -> Vec<u8> {
        let mut m = i.to_le_bytes().to_vec();
        m.resize(8 + (i % 300) as usize, i as u8);
        m
    }

    /// The error's kind, and for a page fault whether the object was truncated.
    fn describe(e: &Error) -> String {
        match e {
            Error::PageFault { truncated, .. } => format!("PageFault truncated={truncated}"),
            other => format!("{other:?}"),
        }
    }

    fn entry_path(name: &str) -> PathBuf {
        filemap::namespace::directory().join(filemap::namespace::info(name).unwrap().file_name)
    }

    fn is_truncated_fault(e: &Error) -> bool {
        matches!(
            e,
            Error::PageFault {
                truncated: true,
                ..
            }
        )
    }

    /// A receiver takes 2,000 messages from a sender in another process, then a third
    /// process cuts the channel's entry (to nothing, or to half): every message received
    /// before is intact and in order, and the receiver's later calls fail with a page fault
    /// (or, when the cut spared its pages, end with the sender's departure) instead of
    /// killing it; the sender, whose ring memory is cut too, reports the fault and exits.
    pub(super) fn a_channel_cut_short_is_an_error() {
        for cut_to_half in [false, true] {
            let ns = Namespace::new();
            let name = unique("cut-channel");
            let mut rx = Receiver::create_or_open(name.as_str(), 65536).unwrap();
            let path = entry_path(&name);
            let full = std::fs::metadata(&path).unwrap().len();
            let mut sender = spawn_ready("sender", &[&name]);
            for i in 0..2000u64 {
                let got = rx
                    .recv_timeout(Duration::from_secs(10))
                    .unwrap()
                    .to_vec()
                    .unwrap();
                assert_eq!(got, message(i), "message {i} before the cut");
            }
            let cut = if cut_to_half { full / 2 } else { 0 };
            run_child("truncate", &[path.to_str().unwrap(), &cut.to_string()]);
            let mut next = 2000u64;
            let ended = loop {
                match rx.recv_timeout(Duration::from_secs(10)) {
                    Ok(slot) => match slot.to_vec() {
                        Ok(got) => {
                            assert_eq!(got, message(next), "message {next} after the cut");
                            next += 1;
                        }
                        Err(e) => break e,
                    },
                    Err(e) => break e,
                }
                assert!(
                    next < 10_000_000,
                    "the channel kept going after its entry was cut"
                );
            };
            match &ended {
                e if is_truncated_fault(e) => {}
                Error::Disconnected { .. } if cut_to_half => {}
                other => panic!("the receive after the cut ended with {other:?}"),
            }
            if is_truncated_fault(&ended) {
                // From then on, every call says so at once.
                for _ in 0..3 {
                    let e = rx.try_recv().expect_err("a receive after the loss");
                    assert!(is_truncated_fault(&e), "{e:?}");
                }
            }
            let mut report = String::new();
            std::io::BufReader::new(sender.stdout.take().unwrap())
                .read_line(&mut report)
                .unwrap();
            assert!(sender.wait().unwrap().success());
            assert!(
                report.contains("PageFault truncated=true") || report.contains("Disconnected"),
                "the sender ended with {report:?}"
            );
            println!(
                "cut to {cut} of {full}: {next} messages received intact, then {}; sender: {}",
                describe(&ended),
                report.trim()
            );
            drop(rx);
            ns.assert_empty();
        }
    }

    /// An event with a waiter in another process, a semaphore and a mutex, their entries
    /// cut to nothing by a third process: the waiter wakes with the page fault, and every
    /// later call on any of them is the page fault.
    pub(super) fn sync_objects_cut_short_are_errors() {
        let ns = Namespace::new();
        let event_name = unique("cut-event");
        let event = NamedEvent::create_new(event_name.as_str(), EventReset::Manual, false).unwrap();
        let mut waiter = spawn_ready("event-waiter", &[&event_name]);
        let semaphore = NamedSemaphore::create_new(unique("cut-sem").as_str(), 1, 4).unwrap();
        let mutex = NamedMutex::create_new(unique("cut-mutex").as_str()).unwrap();
        drop(mutex.lock().unwrap());
        let names = [
            event_name.clone(),
            semaphore.name().to_string(),
            mutex.name().to_string(),
        ];
        for name in names {
            run_child("truncate", &[entry_path(&name).to_str().unwrap(), "0"]);
        }
        let started = Instant::now();
        let mut report = String::new();
        std::io::BufReader::new(waiter.stdout.take().unwrap())
            .read_line(&mut report)
            .unwrap();
        assert!(waiter.wait().unwrap().success());
        assert_eq!(
            report.trim(),
            "PageFault truncated=true",
            "the waiter's wait"
        );
        println!(
            "the waiter in another process woke with the fault after {:?}",
            started.elapsed()
        );
        for _ in 0..3 {
            let results = [
                event.set().err(),
                event.try_wait().err(),
                semaphore.release(1).err(),
                semaphore.try_acquire().err(),
                mutex.lock().err(),
            ];
            for (what, e) in ["set", "try_wait", "release", "try_acquire", "lock"]
                .iter()
                .zip(results)
            {
                let e = e.unwrap_or_else(|| panic!("{what} after the cut succeeded"));
                assert!(is_truncated_fault(&e), "{what}: {e:?}");
            }
        }
        drop((event, semaphore, mutex));
        ns.assert_empty();
    }

    /// A shared value whose last two pages a hostile process cuts away and restores 2,000
    /// times while this process locks it and counts in its first page: each lock either
    /// works or is a page fault, the count is exact (every lock that worked counted, no
    /// other), and after the entry is cut to nothing every lock is the page fault.
    pub(super) fn a_shared_value_under_a_flapping_entry() {
        let ns = Namespace::new();
        let name = unique("flapping-value");
        let value = SharedMutex::<Value>::create_new(name.as_str(), [0; 1536]).unwrap();
        let path = entry_path(&name);
        let full = std::fs::metadata(&path).unwrap().len();
        // The header page and the first page of the data area stay.
        let cut = full - 2 * 4096;
        let mut flapper = child(
            "flap",
            &[
                path.to_str().unwrap(),
                &full.to_string(),
                &cut.to_string(),
                "2000",
            ],
        )
        .spawn_retrying();
        let (mut worked, mut faulted) = (0u64, 0u64);
        let deadline = Instant::now() + Duration::from_secs(60);
        while flapper.try_wait().unwrap().is_none() {
            assert!(Instant::now() < deadline, "the flapper did not finish");
            match value.lock() {
                Ok(mut guard) => {
                    assert_eq!(guard[0], worked, "the count in the first page");
                    guard[0] += 1;
                    guard[1535] = worked;
                    worked += 1;
                }
                // (Whether the entry is still short when the error is made is a race.)
                Err(Error::PageFault { .. }) => faulted += 1,
                Err(e) => panic!("a lock under the flapping entry: {e:?}"),
            }
        }
        assert!(flapper.wait().unwrap().success());
        println!("{worked} locks worked and {faulted} were page faults while the entry flapped");
        assert!(worked > 0, "no lock worked");
        // The flapper ended by cutting the entry to nothing.
        for _ in 0..3 {
            let e = value
                .lock()
                .expect_err("a lock after the entry was cut to nothing");
            assert!(is_truncated_fault(&e), "{e:?}");
        }
        drop(value);
        ns.assert_empty();
    }
}
