//! Waiting on many objects (`wait_any`, `wait_all`) across real processes: the right index
//! for events set by another process, the lowest index first, semaphores and abandoned
//! mutexes taken, crossing `wait_all` sets that never deadlock and never hold a subset,
//! channel and topic endpoints, more objects than one system wait takes, and every error.

mod common;

use std::io::{BufRead, Write};
use std::time::{Duration, Instant};

use common::SpawnRetrying;
use common::{Namespace, child, ready_then_block, role, run_tests, spawn_ready, unique};
use filemap::channel::{Receiver, Sender};
use filemap::inbox::{Inbox, InboxOptions, InboxSender};
use filemap::sync::{EventReset, NamedEvent, NamedMutex, NamedSemaphore};
use filemap::topic::{Publisher, Subscriber, TopicOptions};
use filemap::wait::{Taken, Target, Waitable, wait_all, wait_any};
use filemap::{Error, Mapping};

const PATIENCE: Duration = Duration::from_secs(20);

fn main() {
    if let Some((role, args)) = role() {
        std::process::exit(play(&role, &args));
    }
    run_tests(&[
        (
            "wait_any_names_the_event_another_process_set",
            wait_any_names_the_event_another_process_set,
        ),
        ("the_lowest_ready_index_wins", the_lowest_ready_index_wins),
        (
            "semaphore_unit_and_abandoned_mutex_are_taken",
            semaphore_unit_and_abandoned_mutex_are_taken,
        ),
        (
            "crossing_wait_all_sets_never_deadlock",
            crossing_wait_all_sets_never_deadlock,
        ),
        (
            "wait_all_holds_nothing_while_it_waits",
            wait_all_holds_nothing_while_it_waits,
        ),
        (
            "endpoints_are_ready_with_a_message_room_or_a_dead_peer",
            endpoints_are_ready_with_a_message_room_or_a_dead_peer,
        ),
        (
            "more_objects_than_one_system_wait_takes",
            more_objects_than_one_system_wait_takes,
        ),
        ("bad_waits_are_errors", bad_waits_are_errors),
        (
            "a_reset_event_is_not_taken_by_a_wait_all",
            a_reset_event_is_not_taken_by_a_wait_all,
        ),
        (
            "a_set_then_a_reset_releases_a_waiter_of_either_kind",
            a_set_then_a_reset_releases_a_waiter_of_either_kind,
        ),
        #[cfg(target_os = "linux")]
        (
            "a_scribbled_manual_event_state_is_read_alike_by_every_wait",
            a_scribbled_manual_event_state_is_read_alike_by_every_wait,
        ),
    ]);
}

/// Another process writes into a manual-reset event's state the value only an auto-reset
/// event's set stores (its signal owed to a woken waiter): every wait reads it alike, as
/// set. (A wait for all found the event ready by one reading and could not take it by
/// the other: it looked again at once, thousands of times a second, until its timeout.)
#[cfg(target_os = "linux")]
fn a_scribbled_manual_event_state_is_read_alike_by_every_wait() {
    let ns = Namespace::new();
    let name = unique("scribbled-manual");
    let (e, _) = NamedEvent::create_or_open(&name, EventReset::Manual, false).unwrap();
    let words = common::EntryFile::open(&ns, &name);
    // The state, the first word of the data area: 2, never a manual event's own.
    words.write(words.data_offset(), &2u32.to_le_bytes());
    let started = Instant::now();
    let got = wait_all(&[&e], Some(Duration::from_secs(2))).map(drop);
    assert!(got.is_ok(), "{got:?} after {:?}", started.elapsed());
    e.wait_timeout(Duration::ZERO).expect("a single wait too");
    e.reset().unwrap();
    assert!(matches!(
        e.wait_timeout(Duration::ZERO),
        Err(Error::Timeout { .. })
    ));
    drop((e, words));
    ns.assert_empty();
}

/// An auto-reset event with a blocking waiter and a `wait_any` asleep on it: a set followed
/// at once by a reset releases one of them, each time, as Windows' set does. (On Linux the
/// `wait_any` sleeps on the event's state, and every other set is its turn; the reset used
/// to take that set's signal from the sleeper it woke, which slept on, and the set released
/// nobody.)
fn a_set_then_a_reset_releases_a_waiter_of_either_kind() {
    let ns = Namespace::new();
    let name = unique("pulse");
    let event = auto_event(&name);
    let (tx, released) = std::sync::mpsc::channel();
    let waiters = [false, true].map(|blocking| {
        let (name, tx) = (name.clone(), tx.clone());
        std::thread::spawn(move || {
            let event = NamedEvent::open(name.as_str()).unwrap();
            let took = if blocking {
                event.wait_timeout(PATIENCE).is_ok()
            } else {
                wait_any(&[&event], Some(PATIENCE)).is_ok()
            };
            tx.send((blocking, took)).unwrap();
        })
    });
    let mut seen = Vec::new();
    for round in 0..2 {
        // A few pulses at most: a `wait_any` between two of its 100 ms sleeps when a set
        // comes is not counted asleep (as a Windows wait between two kernel waits misses a
        // pulse), and the turns then fall otherwise. Without the owed state every pulse on
        // the state sleepers' turn released nobody, and every other one too (no slot
        // waiter, a plain state the reset takes).
        let mut pulses = 0;
        let (blocking, took) = loop {
            // Both asleep (the one released before gone).
            std::thread::sleep(Duration::from_millis(300));
            event.set().unwrap();
            event.reset().unwrap();
            pulses += 1;
            match released.recv_timeout(Duration::from_secs(2)) {
                Ok(released) => break released,
                Err(_) if pulses < 4 => {
                    println!("    round {round}: pulse {pulses} released nobody")
                }
                Err(_) => panic!("round {round}: {pulses} pulses released nobody"),
            }
        };
        assert!(took, "round {round}: a waiter gave up");
        seen.push(blocking);
    }
    seen.sort();
    assert_eq!(seen, [false, true], "each waiter released once");
    for waiter in waiters {
        waiter.join().unwrap();
    }
    drop(event);
    ns.assert_empty();
}

/// An auto-reset event set while a `wait_all` sleeps on it and on a semaphore that is not
/// ready, then reset before the semaphore comes (twice): the wait does not count the event
/// (as Windows' does not); set again, it does. (A Linux design that promised the set to the
/// wait's sleep kept the promise past the reset: the wait took it once the semaphore
/// came.)
fn a_reset_event_is_not_taken_by_a_wait_all() {
    let ns = Namespace::new();
    let (event_name, semaphore_name) = (unique("all-reset-event"), unique("all-reset-sem"));
    let event = NamedEvent::create_new(&event_name, EventReset::Auto, false).unwrap();
    let semaphore = NamedSemaphore::create_new(&semaphore_name, 0, 1).unwrap();
    // Time to reach a sleep, and to wake from it (Wine's are slower).
    let settle = if cfg!(target_os = "linux") {
        Duration::from_millis(300)
    } else {
        Duration::from_secs(2)
    };
    let (done_tx, done) = std::sync::mpsc::channel();
    std::thread::scope(|s| {
        s.spawn(|| {
            let waited = wait_all(&[&event, &semaphore], Some(PATIENCE)).map(drop);
            done_tx.send(waited).unwrap();
        });
        // Twice: on Linux the second set is the turn of the waiters on the state, and
        // wakes the wait with the state owed to it, which the wait disowns when it does
        // not take it (kept owed, no reset took it, and the wait took it once the
        // semaphore came).
        for _ in 0..2 {
            std::thread::sleep(settle);
            event.set().unwrap();
            std::thread::sleep(settle / 3);
            event.reset().unwrap();
        }
        semaphore.release(1).unwrap();
        assert!(
            done.recv_timeout(settle).is_err(),
            "wait_all returned with the event reset"
        );
        event.set().unwrap();
        done.recv_timeout(PATIENCE).unwrap().unwrap();
    });
    assert!(!event.try_wait().unwrap(), "the wait took the event");
    assert!(!semaphore.try_acquire().unwrap(), "the wait took the unit");
    drop((event, semaphore));
    ns.assert_empty();
}

fn play(role: &str, args: &[String]) -> i32 {
    let arg = |i: usize| args[i].as_str();
    let result: Result<(), Error> = (|| {
        match role {
            // Sets the events named by each line of stdin (an index into the names), and
            // waits for the acknowledgement event after each.
            "set-events" => {
                let ack = NamedEvent::open(arg(0))?;
                let events: Vec<NamedEvent> = args[1..]
                    .iter()
                    .map(NamedEvent::open)
                    .collect::<Result<_, _>>()?;
                println!("ready");
                std::io::stdout().flush().unwrap();
                for line in std::io::stdin().lock().lines() {
                    let index: usize = line.unwrap().trim().parse().unwrap();
                    events[index].set()?;
                    ack.wait_timeout(PATIENCE)?;
                }
            }
            "hold-lock" => {
                let m = NamedMutex::open(arg(0))?;
                let _g = m.lock()?;
                ready_then_block();
            }
            // Takes both mutexes `rounds` times with wait_all, in the order given, and adds
            // one to the shared count each time, not atomically: a lost update would show
            // a wait_all that did not hold both.
            "cross" => {
                let a = NamedMutex::open(arg(0))?;
                let b = NamedMutex::open(arg(1))?;
                let count = Mapping::open(arg(2))?.view().len(8).map()?;
                let rounds: u64 = arg(3).parse().unwrap();
                for _ in 0..rounds {
                    let _taken = wait_all(&[&a, &b], Some(PATIENCE))?;
                    let mut seen = [0u8; 8];
                    count.read_at(0, &mut seen)?;
                    std::thread::yield_now();
                    count.write_at(0, &(u64::from_le_bytes(seen) + 1).to_le_bytes())?;
                }
            }
            // Waits for all of the mutex and the event, then says so.
            "wait-all" => {
                let m = NamedMutex::open(arg(0))?;
                let e = NamedEvent::open(arg(1))?;
                println!("ready");
                std::io::stdout().flush().unwrap();
                let taken = wait_all(&[&m, &e], Some(PATIENCE))?;
                println!("took {}", taken.len());
                std::io::stdout().flush().unwrap();
                // Exits holding the mutex.
                std::mem::forget(taken);
            }
            "send" => {
                let mut tx = Sender::open(arg(0))?;
                tx.send(arg(1).as_bytes())?;
                ready_then_block();
            }
            "hold-sender" => {
                let _tx = Sender::open(arg(0))?;
                ready_then_block();
            }
            "publish" => {
                let mut p = Publisher::open(arg(0))?;
                p.publish(arg(1).as_bytes())?;
            }
            "set-after" => {
                let e = NamedEvent::open(arg(0))?;
                std::thread::sleep(Duration::from_millis(arg(1).parse().unwrap()));
                e.set()?;
            }
            other => panic!("unknown role {other}"),
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

fn auto_event(name: &str) -> NamedEvent {
    NamedEvent::create_new(name, EventReset::Auto, false).unwrap()
}

fn wait_any_names_the_event_another_process_set() {
    let ns = Namespace::new();
    let ack_name = unique("ack");
    let ack = auto_event(&ack_name);
    let names: Vec<String> = (0..3).map(|i| unique(&format!("ev{i}"))).collect();
    let events: Vec<NamedEvent> = names.iter().map(|n| auto_event(n)).collect();
    let mut args: Vec<&str> = vec![&ack_name];
    args.extend(names.iter().map(String::as_str));
    let mut setter = spawn_ready("set-events", &args);
    let objects: Vec<&dyn Waitable> = events.iter().map(|e| e as &dyn Waitable).collect();
    let sequence = [2usize, 0, 1, 1, 2, 0, 0, 2, 1, 2, 2, 1, 0, 1, 0];
    let stdin = setter.stdin.as_mut().unwrap();
    for (round, &k) in sequence.iter().cycle().take(45).enumerate() {
        writeln!(stdin, "{k}").unwrap();
        stdin.flush().unwrap();
        let ready = wait_any(&objects, Some(PATIENCE)).unwrap();
        assert_eq!(ready.index, k, "round {round}");
        assert!(matches!(ready.taken, Taken::Signal));
        // The auto-reset event's signal was taken: nothing is set now.
        assert!(matches!(
            wait_any(&objects, Some(Duration::ZERO)),
            Err(Error::Timeout { .. })
        ));
        ack.set().unwrap();
    }
    drop(setter.stdin.take());
    assert!(setter.wait().unwrap().success());
    drop((events, ack));
    ns.assert_empty();
}

fn the_lowest_ready_index_wins() {
    let ns = Namespace::new();
    let events: Vec<NamedEvent> = (0..4)
        .map(|i| auto_event(&unique(&format!("low{i}"))))
        .collect();
    let objects: Vec<&dyn Waitable> = events.iter().map(|e| e as &dyn Waitable).collect();
    events[3].set().unwrap();
    events[1].set().unwrap();
    events[2].set().unwrap();
    let order: Vec<usize> = (0..3)
        .map(|_| wait_any(&objects, Some(PATIENCE)).unwrap().index)
        .collect();
    assert_eq!(order, [1, 2, 3]);
    // A manual-reset event stays set: it wins every time.
    let manual = NamedEvent::create_new(unique("manual"), EventReset::Manual, true).unwrap();
    for _ in 0..3 {
        assert_eq!(wait_any(&[&events[0], &manual], None).unwrap().index, 1);
    }
    drop((events, manual));
    ns.assert_empty();
}

fn semaphore_unit_and_abandoned_mutex_are_taken() {
    let ns = Namespace::new();
    let stop = auto_event(&unique("stop"));
    let units = NamedSemaphore::create_new(unique("units"), 2, 5).unwrap();
    let name = unique("dying");
    let mutex = NamedMutex::create_new(&name).unwrap();
    let mut holder = spawn_ready("hold-lock", &[&name]);
    // Two units, then nothing (the mutex is held by a live process).
    for _ in 0..2 {
        let ready = wait_any(&[&stop, &units, &mutex], Some(PATIENCE)).unwrap();
        assert_eq!(ready.index, 1);
    }
    assert_eq!(units.count().unwrap_or(0), 0);
    assert!(matches!(
        wait_any(&[&stop, &units, &mutex], Some(Duration::from_millis(150))),
        Err(Error::Timeout { .. })
    ));
    holder.kill().unwrap(); // kill -9 while it holds the mutex
    holder.wait().unwrap();
    let started = Instant::now();
    let ready = wait_any(&[&stop, &units, &mutex], Some(PATIENCE)).unwrap();
    assert_eq!(ready.index, 2);
    assert!(
        ready.taken.abandoned(),
        "the dead holder's mutex is abandoned"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    // Held for this thread: locking again is refused, as for `lock`.
    assert!(matches!(mutex.lock(), Err(Error::WouldDeadlock { .. })));
    drop(ready);
    assert!(!mutex.try_lock().unwrap().unwrap().abandoned());
    drop((stop, units, mutex));
    ns.assert_empty();
}

fn crossing_wait_all_sets_never_deadlock() {
    let ns = Namespace::new();
    let (a, b, count) = (unique("a"), unique("b"), unique("count"));
    let _ma = NamedMutex::create_new(&a).unwrap();
    let _mb = NamedMutex::create_new(&b).unwrap();
    let shared = Mapping::create_new(&count, 4096).unwrap();
    let rounds = 300;
    let started = Instant::now();
    let children: Vec<_> = [(&a, &b), (&b, &a), (&a, &b)]
        .iter()
        .map(|(x, y)| child("cross", &[x, y, &count, &rounds.to_string()]).spawn_retrying())
        .collect();
    for mut c in children {
        assert!(c.wait().unwrap().success(), "a crossing wait_all failed");
    }
    let mut total = [0u8; 8];
    let view = shared.view().len(8).map().unwrap();
    view.read_at(0, &mut total).unwrap();
    assert_eq!(u64::from_le_bytes(total), 3 * rounds, "no update was lost");
    drop(view);
    println!(
        "    3 processes x {rounds} crossing wait_all in {:.2?}",
        started.elapsed()
    );
    drop((shared, _ma, _mb));
    ns.assert_empty();
}

fn wait_all_holds_nothing_while_it_waits() {
    let ns = Namespace::new();
    let (m, e) = (unique("m"), unique("e"));
    let mutex = NamedMutex::create_new(&m).unwrap();
    let event = auto_event(&e);
    let mut waiter = spawn_ready("wait-all", &[&m, &e]);
    // While the event is unset the waiter holds nothing: the mutex stays free to others.
    for _ in 0..20 {
        let guard = mutex.lock_timeout(PATIENCE).unwrap();
        assert!(!guard.abandoned());
        drop(guard);
        std::thread::sleep(Duration::from_millis(10));
    }
    event.set().unwrap();
    let mut line = String::new();
    std::io::BufReader::new(waiter.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "took 2");
    assert!(waiter.wait().unwrap().success());
    // The waiter exited holding the mutex: abandoned, as Win32 says.
    assert!(mutex.lock_timeout(PATIENCE).unwrap().abandoned());
    assert!(
        !event.try_wait().unwrap(),
        "the wait took the event's signal"
    );
    drop((mutex, event));
    ns.assert_empty();
}

fn endpoints_are_ready_with_a_message_room_or_a_dead_peer() {
    let ns = Namespace::new();
    let stop = auto_event(&unique("stop"));
    let (c1, c2) = (unique("c1"), unique("c2"));
    let mut rx1 = Receiver::create_or_open(&c1, 4096).unwrap();
    let mut rx2 = Receiver::create_or_open(&c2, 4096).unwrap();
    let mut sender = spawn_ready("send", &[&c2, "hello"]);
    let ready = wait_any(&[&stop, &rx1, &rx2], Some(PATIENCE)).unwrap();
    assert_eq!(ready.index, 2);
    assert!(matches!(ready.taken, Taken::Ready));
    drop(ready);
    assert_eq!(rx2.try_recv().unwrap().unwrap().to_vec().unwrap(), b"hello");
    // A sender killed with kill -9: its receiver is ready, and says Disconnected.
    let mut holder = spawn_ready("hold-sender", &[&c1]);
    holder.kill().unwrap();
    holder.wait().unwrap();
    let index = wait_any(&[&stop, &rx1, &rx2], Some(PATIENCE))
        .unwrap()
        .index;
    assert_eq!(index, 1);
    assert!(matches!(rx1.try_recv(), Err(Error::Disconnected { .. })));
    drop(sender.stdin.take());
    assert!(sender.wait().unwrap().success());
    // A sender is ready while there is room; a full ring is not, until its receiver reads.
    let c3 = unique("c3");
    let mut tx = Sender::create_or_open(&c3, 4096).unwrap();
    let mut rx = Receiver::open(&c3).unwrap();
    assert_eq!(wait_any(&[&tx], Some(PATIENCE)).unwrap().index, 0);
    while tx.try_send(&[7; 1000]).unwrap() {}
    let big = Target::Sender(&tx, 1000);
    assert!(matches!(
        wait_any(&[&big], Some(Duration::from_millis(50))),
        Err(Error::Timeout { .. })
    ));
    drop(rx.recv().unwrap());
    assert_eq!(wait_any(&[&big], Some(PATIENCE)).unwrap().index, 0);
    // A subscriber is ready when its publisher (another process) publishes.
    let topic = unique("topic");
    let sub = Subscriber::create_or_open(&topic, &TopicOptions::new()).unwrap();
    assert!(matches!(
        wait_any(&[&sub], Some(Duration::from_millis(20))),
        Err(Error::Timeout { .. })
    ));
    let mut publisher = child("publish", &[&topic, "news"]).spawn_retrying();
    assert_eq!(wait_any(&[&stop, &sub], Some(PATIENCE)).unwrap().index, 1);
    assert!(publisher.wait().unwrap().success());
    let mut sub = sub;
    assert_eq!(sub.recv().unwrap().to_vec().unwrap(), b"news");
    // An inbox whose senders have all left is ready, and its next receive, even one that
    // does not wait, says Disconnected (as the wait found it).
    let collect = unique("inbox");
    let mut inbox = Inbox::create_or_open(collect.as_str(), &InboxOptions::new()).unwrap();
    drop(InboxSender::open(collect.as_str()).unwrap());
    assert_eq!(wait_any(&[&inbox], Some(PATIENCE)).unwrap().index, 0);
    assert!(matches!(inbox.try_recv(), Err(Error::Disconnected { .. })));
    drop((stop, rx1, rx2, tx, rx, sub, inbox));
    ns.assert_empty();
}

fn more_objects_than_one_system_wait_takes() {
    let ns = Namespace::new();
    let events: Vec<NamedEvent> = (0..150)
        .map(|i| auto_event(&unique(&format!("many{i}"))))
        .collect();
    let objects: Vec<&dyn Waitable> = events.iter().map(|e| e as &dyn Waitable).collect();
    for last in [149usize, 0, 100] {
        let name = events[last].name().to_string();
        let mut setter = child("set-after", &[&name, "30"]).spawn_retrying();
        let ready = wait_any(&objects, Some(PATIENCE)).unwrap();
        assert_eq!(ready.index, last);
        assert!(setter.wait().unwrap().success());
    }
    drop(events);
    ns.assert_empty();
}

fn bad_waits_are_errors() {
    let ns = Namespace::new();
    let m = NamedMutex::create_new(unique("bad")).unwrap();
    let e = auto_event(&unique("bad-e"));
    assert!(matches!(
        wait_any(&[], None),
        Err(Error::InvalidSetting { value: 0, .. })
    ));
    assert!(matches!(
        wait_all(&[&e, &m, &e], None),
        Err(Error::InvalidSetting { value: 2, .. })
    ));
    // The same object through another handle, and (on Linux) through another name: a
    // wait for all could never take both (it looped until its timeout).
    let e_again = NamedEvent::open(e.name().clone()).unwrap();
    assert!(matches!(
        wait_all(&[&e, &e_again], None),
        Err(Error::InvalidSetting { value: 1, .. })
    ));
    #[cfg(target_os = "linux")]
    {
        let uid = rustix::process::geteuid().as_raw();
        let entry = |name: &str| ns.path().join(format!("filemap.u{uid}.{name}"));
        let (old, new) = (e.name().base().to_string(), unique("bad-e-renamed"));
        std::fs::rename(entry(&old), entry(&new)).unwrap();
        let renamed = NamedEvent::open(new.as_str()).unwrap();
        assert!(matches!(
            wait_all(&[&e, &renamed], Some(Duration::from_millis(1))),
            Err(Error::InvalidSetting { value: 1, .. })
        ));
        drop(renamed);
        std::fs::rename(entry(&new), entry(&old)).unwrap();
    }
    drop(e_again);
    // Windows: in session 0, `Local\x` is `Global\x`, one object under two names (which
    // the kernel refused in a wait for all, an I/O error before). Elsewhere two objects.
    #[cfg(windows)]
    {
        let base = unique("bad-scope");
        let global =
            NamedEvent::create_new(format!("Global\\{base}"), EventReset::Auto, true).unwrap();
        match NamedEvent::open(format!("Local\\{base}")) {
            Ok(local) => {
                let got = wait_all(&[&global, &local], Some(Duration::from_millis(1)));
                assert!(matches!(got, Err(Error::InvalidSetting { .. })), "{got:?}");
            }
            Err(e) => println!("Local\\ and Global\\ are apart in this session ({e})"),
        }
    }
    let guard = m.lock().unwrap();
    assert!(matches!(
        wait_any(&[&e, &m], None),
        Err(Error::WouldDeadlock { .. })
    ));
    drop(guard);
    let timeout = Duration::from_millis(30);
    let started = Instant::now();
    match wait_all(&[&e, &m], Some(timeout)) {
        Err(Error::Timeout { what, after }) => {
            assert_eq!((what.as_str(), after), ("2 objects", timeout));
        }
        other => panic!("expected a timeout, got {other:?}"),
    }
    assert!(started.elapsed() >= timeout);
    // More events, semaphores and mutexes than Windows takes in one wait, with a receiver
    // that has no message: refused before any wait (the endpoint was waited for first, and
    // the set refused only once it was ready: here, a timeout instead).
    #[cfg(windows)]
    {
        let events: Vec<NamedEvent> = (0..65)
            .map(|i| auto_event(&unique(&format!("too-many{i}"))))
            .collect();
        let rx = Receiver::create_or_open(unique("too-many-rx").as_str(), 4096).unwrap();
        let mut objects: Vec<&dyn Waitable> = vec![&rx];
        objects.extend(events.iter().map(|e| e as &dyn Waitable));
        match wait_all(&objects, Some(Duration::from_millis(50))) {
            Err(Error::InvalidSetting { value: 65, .. }) => {}
            other => panic!("expected the set refused, got {other:?}"),
        }
        drop((rx, events));
    }
    drop((m, e));
    ns.assert_empty();
}
