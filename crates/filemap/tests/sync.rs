//! Named mutexes, events, semaphores and shared values across real processes: abandonment
//! after kill -9, exact counts under contention, wake-all and wake-one, maximum counts,
//! timeouts, wrong kinds and wrong types.

mod common;

use std::io::Write;
use std::time::{Duration, Instant};

use common::{child, role, run_tests, spawn_ready, unique, Namespace};
use filemap::sync::{EventReset, NamedEvent, NamedMutex, NamedSemaphore, SharedMutex};
use filemap::{Error, Kind, Mapping};

const PATIENCE: Duration = Duration::from_secs(20);

fn main() {
    if let Some((role, args)) = role() {
        std::process::exit(play(&role, &args));
    }
    run_tests(&[
        (
            "mutex_abandoned_by_killed_holder",
            mutex_abandoned_by_killed_holder,
        ),
        (
            "shared_counter_4_processes_x_10000",
            shared_counter_4_processes_x_10000,
        ),
        (
            "manual_event_wakes_every_waiter",
            manual_event_wakes_every_waiter,
        ),
        ("auto_event_wakes_one_per_set", auto_event_wakes_one_per_set),
        (
            "semaphore_across_processes_and_maximum",
            semaphore_across_processes_and_maximum,
        ),
        ("timeouts_are_honoured", timeouts_are_honoured),
        (
            "relock_is_an_error_not_a_hang",
            relock_is_an_error_not_a_hang,
        ),
        (
            "wrong_kind_and_wrong_type_are_refused",
            wrong_kind_and_wrong_type_are_refused,
        ),
        (
            "objects_go_away_with_their_last_handle",
            objects_go_away_with_their_last_handle,
        ),
    ]);
}

fn ready_then_block() {
    println!("ready");
    std::io::stdout().flush().unwrap();
    let _ = std::io::Read::read(&mut std::io::stdin(), &mut [0u8; 1]);
}

fn play(role: &str, args: &[String]) -> i32 {
    let arg = |i: usize| args[i].as_str();
    let result: Result<(), String> = (|| {
        match role {
            "hold-lock" => {
                let (m, _) = NamedMutex::create_or_open(arg(0)).map_err(|e| e.to_string())?;
                let g = m.lock().map_err(|e| e.to_string())?;
                ready_then_block();
                drop(g);
            }
            "count" => {
                let n: u64 = arg(1).parse().unwrap();
                let s = SharedMutex::<u64>::open(arg(0)).map_err(|e| e.to_string())?;
                for _ in 0..n {
                    let mut g = s.lock().map_err(|e| e.to_string())?;
                    *g += 1;
                }
            }
            "wait-event" => {
                // Waits for the event, then counts itself in the shared counter and says so.
                let e = NamedEvent::open(arg(0)).map_err(|e| e.to_string())?;
                let woke = SharedMutex::<u32>::open(arg(1)).map_err(|e| e.to_string())?;
                let told = NamedEvent::open(arg(2)).map_err(|e| e.to_string())?;
                ready_then_block_until_waiting();
                e.wait_timeout(PATIENCE).map_err(|e| e.to_string())?;
                *woke.lock().map_err(|e| e.to_string())? += 1;
                told.set().map_err(|e| e.to_string())?;
            }
            "acquire" => {
                let s = NamedSemaphore::open(arg(0)).map_err(|e| e.to_string())?;
                s.acquire_timeout(PATIENCE).map_err(|e| e.to_string())?;
                print!("acquired");
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

/// Says "ready" (the parent counts on it) without blocking.
fn ready_then_block_until_waiting() {
    println!("ready");
    std::io::stdout().flush().unwrap();
}

fn mutex_abandoned_by_killed_holder() {
    let ns = Namespace::new();
    let name = unique("abandon");
    let (m, _) = NamedMutex::create_or_open(&name).unwrap();
    let mut holder = spawn_ready("hold-lock", &[&name]);
    assert!(m.try_lock().unwrap().is_none(), "the child holds it");
    holder.kill().unwrap(); // SIGKILL / TerminateProcess while holding the lock
    holder.wait().unwrap();
    let started = Instant::now();
    {
        let g = m.lock_timeout(PATIENCE).unwrap();
        assert!(g.abandoned(), "the dead owner's lock is reported abandoned");
    }
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "no long wait on a dead owner"
    );
    // Works normally afterwards.
    let g = m.lock().unwrap();
    assert!(!g.abandoned());
    drop(g);
    drop(m);
    ns.assert_empty();
}

fn shared_counter_4_processes_x_10000() {
    let ns = Namespace::new();
    let name = unique("counter");
    let counter = SharedMutex::<u64>::create_new(&name, 0).unwrap();
    let children: Vec<_> = (0..4)
        .map(|_| child("count", &[&name, "10000"]).spawn().unwrap())
        .collect();
    for mut c in children {
        assert!(c.wait().unwrap().success());
    }
    assert_eq!(*counter.lock().unwrap(), 40_000);
    drop(counter);
    ns.assert_empty();
}

/// Starts `n` waiters on `event`; returns them with the counter and the "told" event.
fn start_waiters(
    event: &str,
    n: usize,
) -> (
    Vec<std::process::Child>,
    SharedMutex<u32>,
    NamedEvent,
    String,
    String,
) {
    let woke_name = unique("woke");
    let told_name = unique("told");
    let woke = SharedMutex::<u32>::create_new(&woke_name, 0).unwrap();
    let told = NamedEvent::create_new(&told_name, EventReset::Auto, false).unwrap();
    let children = (0..n)
        .map(|_| spawn_ready("wait-event", &[event, &woke_name, &told_name]))
        .collect();
    (children, woke, told, woke_name, told_name)
}

fn manual_event_wakes_every_waiter() {
    let ns = Namespace::new();
    let name = unique("manual");
    let event = NamedEvent::create_new(&name, EventReset::Manual, false).unwrap();
    let (children, woke, told, _, _) = start_waiters(&name, 4);
    std::thread::sleep(Duration::from_millis(100)); // let them reach their wait
    event.set().unwrap();
    for mut c in children {
        assert!(c.wait().unwrap().success());
    }
    assert_eq!(*woke.lock().unwrap(), 4, "one set released all four");
    assert!(event.try_wait().unwrap(), "a manual event stays set");
    drop((event, woke, told));
    ns.assert_empty();
}

fn auto_event_wakes_one_per_set() {
    let ns = Namespace::new();
    let name = unique("auto");
    let event = NamedEvent::create_new(&name, EventReset::Auto, false).unwrap();
    let (children, woke, told, _, _) = start_waiters(&name, 4);
    std::thread::sleep(Duration::from_millis(100));
    for round in 1..=4u32 {
        event.set().unwrap();
        told.wait_timeout(PATIENCE).unwrap();
        // Give a wrongly woken second waiter time to show up.
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(
            *woke.lock().unwrap(),
            round,
            "set #{round} released exactly one"
        );
    }
    for mut c in children {
        assert!(c.wait().unwrap().success());
    }
    assert!(
        !event.try_wait().unwrap(),
        "an auto event resets as it releases"
    );
    drop((event, woke, told));
    ns.assert_empty();
}

fn semaphore_across_processes_and_maximum() {
    let ns = Namespace::new();
    let name = unique("sem");
    let sem = NamedSemaphore::create_new(&name, 0, 2).unwrap();
    let waiter = child("acquire", &[&name])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(sem.release(1).unwrap(), 0);
    let out = waiter.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout), "acquired");
    // The maximum is enforced: nothing is released past it.
    assert_eq!(sem.release(2).unwrap(), 0);
    match sem.release(1) {
        Err(e @ Error::SemaphoreFull { release: 1, .. }) => {
            assert!(e.to_string().contains("maximum"), "{e}")
        }
        other => panic!("expected SemaphoreFull, got {other:?}"),
    }
    assert!(sem.try_acquire().unwrap());
    assert!(sem.try_acquire().unwrap());
    assert!(!sem.try_acquire().unwrap());
    assert!(matches!(
        NamedSemaphore::create_new(unique("bad"), 3, 2),
        Err(Error::InvalidCount { initial: 3, max: 2 })
    ));
    assert!(matches!(
        NamedSemaphore::create_new(unique("bad"), 0, 0),
        Err(Error::InvalidCount { .. })
    ));
    drop(sem);
    ns.assert_empty();
}

fn assert_timeout<T: std::fmt::Debug>(
    what: &str,
    d: Duration,
    f: impl FnOnce() -> filemap::Result<T>,
) {
    let started = Instant::now();
    match f() {
        Err(Error::Timeout { after, .. }) => assert_eq!(after, d),
        other => panic!("{what}: expected Timeout, got {other:?}"),
    }
    assert!(started.elapsed() >= d, "{what} returned before its timeout");
}

fn timeouts_are_honoured() {
    let ns = Namespace::new();
    let name = unique("held");
    let (m, _) = NamedMutex::create_or_open(&name).unwrap();
    let mut holder = spawn_ready("hold-lock", &[&name]);
    let d = Duration::from_millis(150);
    assert_timeout("lock_timeout", d, || m.lock_timeout(d));
    let e = NamedEvent::create_new(unique("ev"), EventReset::Auto, false).unwrap();
    assert_timeout("wait_timeout", d, || e.wait_timeout(d));
    let s = NamedSemaphore::create_new(unique("s"), 0, 1).unwrap();
    assert_timeout("acquire_timeout", d, || s.acquire_timeout(d));
    let shared = SharedMutex::<u8>::create_new(unique("v"), 0).unwrap();
    let g = shared.lock().unwrap();
    drop(g);
    drop(holder.stdin.take());
    assert!(holder.wait().unwrap().success());
    drop((m, e, s, shared));
    ns.assert_empty();
}

fn relock_is_an_error_not_a_hang() {
    let ns = Namespace::new();
    let m = NamedMutex::create_new(unique("relock")).unwrap();
    let g = m.lock().unwrap();
    assert!(matches!(m.lock(), Err(Error::WouldDeadlock { .. })));
    assert!(matches!(m.try_lock(), Err(Error::WouldDeadlock { .. })));
    // Another handle on the same mutex in the same thread: still refused.
    let again = NamedMutex::open(m.name()).unwrap();
    assert!(matches!(
        again.lock_timeout(Duration::from_secs(1)),
        Err(Error::WouldDeadlock { .. })
    ));
    drop(g);
    assert!(again.try_lock().unwrap().is_some());
    let s = SharedMutex::<i32>::create_new(unique("relock-shared"), 5).unwrap();
    let g = s.lock().unwrap();
    assert!(matches!(s.lock(), Err(Error::WouldDeadlock { .. })));
    assert_eq!(*g, 5);
    drop(g);
    drop((m, again, s));
    ns.assert_empty();
}

fn wrong_kind_and_wrong_type_are_refused() {
    let ns = Namespace::new();
    let mutex = unique("a-mutex");
    let m = NamedMutex::create_new(&mutex).unwrap();
    let kind = |r: Result<(), Error>, found: Kind, expected: Kind| match r {
        Err(Error::KindMismatch {
            found: f,
            expected: e,
            ..
        }) => {
            assert_eq!((f, e), (found, expected))
        }
        other => panic!("expected KindMismatch {found}/{expected}, got {other:?}"),
    };
    kind(
        NamedEvent::open(&mutex).map(|_| ()),
        Kind::Mutex,
        Kind::Event,
    );
    kind(
        NamedSemaphore::open(&mutex).map(|_| ()),
        Kind::Mutex,
        Kind::Semaphore,
    );
    kind(
        Mapping::open(&mutex).map(|_| ()),
        Kind::Mutex,
        Kind::Mapping,
    );
    kind(
        SharedMutex::<u64>::open(&mutex).map(|_| ()),
        Kind::Mutex,
        Kind::SharedMutex,
    );
    let mapping = unique("a-mapping");
    let map = Mapping::create_new(&mapping, 4096).unwrap();
    kind(
        NamedMutex::open(&mapping).map(|_| ()),
        Kind::Mapping,
        Kind::Mutex,
    );
    kind(
        NamedEvent::create_or_open(&mapping, EventReset::Manual, false).map(|_| ()),
        Kind::Mapping,
        Kind::Event,
    );
    let value = unique("a-value");
    let v = SharedMutex::<u64>::create_new(&value, 7).unwrap();
    for r in [
        SharedMutex::<u32>::open(&value).map(|_| ()),
        SharedMutex::<i64>::open(&value).map(|_| ()),
        SharedMutex::<[u8; 8]>::create_or_open(&value, [0; 8]).map(|_| ()),
    ] {
        match r {
            Err(e @ Error::LayoutMismatch { .. }) => assert!(e.to_string().contains(&value), "{e}"),
            other => panic!("expected LayoutMismatch, got {other:?}"),
        }
    }
    assert_eq!(
        *SharedMutex::<u64>::open(&value).unwrap().lock().unwrap(),
        7
    );
    drop((m, map, v));
    ns.assert_empty();
}

fn objects_go_away_with_their_last_handle() {
    let ns = Namespace::new();
    let name = unique("gone");
    drop(NamedEvent::create_new(&name, EventReset::Manual, true).unwrap());
    assert!(matches!(
        NamedEvent::open(&name),
        Err(Error::NotFound { .. })
    ));
    drop(NamedSemaphore::create_new(&name, 1, 1).unwrap());
    assert!(matches!(
        NamedSemaphore::open(&name),
        Err(Error::NotFound { .. })
    ));
    drop(NamedMutex::create_new(&name).unwrap());
    assert!(matches!(
        NamedMutex::open(&name),
        Err(Error::NotFound { .. })
    ));
    drop(SharedMutex::<u16>::create_new(&name, 1).unwrap());
    assert!(matches!(
        SharedMutex::<u16>::open(&name),
        Err(Error::NotFound { .. })
    ));
    ns.assert_empty();
}
