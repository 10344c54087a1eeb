//! Named mutexes, events, semaphores and shared values across real processes: abandonment
//! after kill -9, exact counts under contention, wake-all and wake-one, maximum counts,
//! timeouts, a woken waiter that dies before taking its wake (Linux), a shared value opened
//! while its creator makes and drops it, wrong kinds and wrong types.

mod common;

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::SpawnRetrying;
use common::{Namespace, child, ready_then_block, role, run_tests, spawn_ready, unique};
use filemap::sync::{EventReset, NamedEvent, NamedMutex, NamedSemaphore, SharedMutex};
use filemap::{Error, Kind, Mapping};

const PATIENCE: Duration = Duration::from_secs(20);

fn main() {
    if let Some((role, args)) = role() {
        std::process::exit(play(&role, &args));
    }
    #[cfg_attr(not(target_os = "linux"), allow(unused_mut))]
    let mut tests: Vec<(&str, fn())> = vec![
        (
            "mutex_abandoned_by_killed_holder",
            mutex_abandoned_by_killed_holder,
        ),
        (
            "a_guard_dropped_in_a_panic_writes_nothing_back",
            a_guard_dropped_in_a_panic_writes_nothing_back,
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
            "a_set_then_reset_releases_every_manual_waiter",
            a_set_then_reset_releases_every_manual_waiter,
        ),
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
            "unguarded_lock_and_release_pair",
            unguarded_lock_and_release_pair,
        ),
        (
            "a_thread_exiting_with_an_unguarded_lock_abandons_it",
            a_thread_exiting_with_an_unguarded_lock_abandons_it,
        ),
        (
            "wrong_kind_and_wrong_type_are_refused",
            wrong_kind_and_wrong_type_are_refused,
        ),
        (
            "objects_go_away_with_their_last_handle",
            objects_go_away_with_their_last_handle,
        ),
        (
            "auto_reset_sets_release_the_waiters_asleep_at_them",
            auto_reset_sets_release_the_waiters_asleep_at_them,
        ),
        (
            "a_wait_on_many_objects_gets_its_turn_on_an_auto_reset_event",
            a_wait_on_many_objects_gets_its_turn_on_an_auto_reset_event,
        ),
        (
            "shared_mutex_open_racing_its_creator_is_never_corrupt",
            shared_mutex_open_racing_its_creator_is_never_corrupt,
        ),
        (
            "a_leaked_guard_of_a_dropped_handle_refuses_no_later_lock",
            a_leaked_guard_of_a_dropped_handle_refuses_no_later_lock,
        ),
    ];
    #[cfg(target_os = "linux")]
    tests.extend([
        (
            "objects_work_after_the_main_thread_exits",
            objects_work_after_the_main_thread_exits as fn(),
        ),
        (
            "waiter_killed_after_its_wake_strands_nobody",
            waiter_killed_after_its_wake_strands_nobody as fn(),
        ),
        (
            "scribbled_mutex_never_harms_its_holder",
            scribbled_mutex_never_harms_its_holder,
        ),
        (
            "an_unguarded_lock_from_a_late_thread_local_is_refused",
            an_unguarded_lock_from_a_late_thread_local_is_refused,
        ),
        (
            "a_ninth_lock_from_a_late_thread_local_is_refused",
            a_ninth_lock_from_a_late_thread_local_is_refused,
        ),
    ]);
    run_tests(&tests);
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
            "hold-lock-unguarded" => {
                let m = NamedMutex::open(arg(0)).map_err(|e| e.to_string())?;
                m.lock_unguarded(None).map_err(|e| e.to_string())?;
                ready_then_block();
            }
            // The main thread exits (`pthread_exit`), another makes and locks a mutex
            // (its liveness lock opens its entry again through /proc) and maps a view; and
            // a copy view says which pages it wrote (from the thread's /proc pagemap: the
            // main thread's reads empty once it has exited).
            #[cfg(target_os = "linux")]
            "after-the-main-thread-exits" => {
                let name = arg(0).to_string();
                std::thread::spawn(move || {
                    std::thread::sleep(Duration::from_millis(100));
                    let outcome = NamedMutex::create_new(&name)
                        .and_then(|m| m.lock().map(drop))
                        .and_then(|()| filemap::Mapping::unnamed(4096))
                        .and_then(|m| m.view().map().map(drop))
                        .and_then(|()| filemap::Mapping::unnamed(8192))
                        .and_then(|m| {
                            let copy = m.view().access(filemap::Access::Copy).map()?;
                            copy.write_at(4096, b"x")?;
                            match copy.modified_pages()?.as_slice() {
                                [4096] => Ok(()),
                                other => Err(Error::Unsupported {
                                    what: if other.is_empty() {
                                        "no page written"
                                    } else {
                                        "other pages written"
                                    },
                                }),
                            }
                        });
                    match outcome {
                        Ok(()) => print!("locked and mapped"),
                        Err(e) => print!("{e}"),
                    }
                    use std::io::Write;
                    let _ = std::io::stdout().flush();
                    std::process::exit(0);
                });
                // SAFETY: the raw exit system call ends this thread only (unlike
                // `pthread_exit`, without unwinding, which Rust's main thread refuses); the
                // process lives on in the other, which ends it. Nothing of this thread's
                // is used after: its stack is never freed, nor looked at.
                unsafe { libc::syscall(libc::SYS_exit, 0) };
                unreachable!("the thread has exited")
            }
            "lock-and-say-if-abandoned" => {
                let m = NamedMutex::open(arg(0)).map_err(|e| e.to_string())?;
                let g = m.lock_timeout(PATIENCE).map_err(|e| e.to_string())?;
                print!("{}", if g.abandoned() { "abandoned" } else { "normal" });
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
            "wait-pulse" => {
                // Waits (blocking, on many objects, or async) for a manual-reset event
                // that the parent sets and resets at once, and says it was released.
                let e = NamedEvent::open(arg(1)).map_err(|e| e.to_string())?;
                let other = NamedEvent::open(arg(2)).map_err(|e| e.to_string())?;
                ready_then_block_until_waiting();
                let released = match arg(0) {
                    "wait" => e.wait_timeout(PATIENCE).map(|()| true),
                    "wait-any" => {
                        filemap::wait::wait_any(&[&other, &e], Some(PATIENCE)).map(|r| r.index == 1)
                    }
                    _ => {
                        // (A future has no timeout of its own: a watchdog ends the wait.)
                        std::thread::spawn(|| {
                            std::thread::sleep(PATIENCE);
                            print!("not released");
                            let _ = std::io::stdout().flush();
                            std::process::exit(1);
                        });
                        filemap::wait::block_on(e.wait_async()).map(|()| true)
                    }
                }
                .map_err(|e| e.to_string())?;
                print!("{}", if released { "released" } else { "not released" });
            }
            "acquire" => {
                let s = NamedSemaphore::open(arg(0)).map_err(|e| e.to_string())?;
                s.acquire_timeout(PATIENCE).map_err(|e| e.to_string())?;
                print!("acquired");
            }
            "take" => {
                // Waits for an event's signal or a semaphore's unit.
                let name = arg(1);
                match arg(0) {
                    "event" => NamedEvent::open(name).and_then(|e| e.wait_timeout(PATIENCE)),
                    // A waiter that takes the state only (not a hand-off slot's).
                    "event-any" => NamedEvent::open(name)
                        .and_then(|e| filemap::wait::wait_any(&[&e], Some(PATIENCE)).map(drop)),
                    _ => NamedSemaphore::open(name).and_then(|s| s.acquire_timeout(PATIENCE)),
                }
                .map_err(|e| e.to_string())?;
                print!("took");
            }
            "take-forever" => {
                // Takes an event's signals one after another until killed, or 5 minutes
                // have passed (a test that failed before it killed this leaves nothing
                // running for long).
                let e = NamedEvent::open(arg(0)).map_err(|e| e.to_string())?;
                let until = std::time::Instant::now() + Duration::from_secs(300);
                while let Some(left) = until.checked_duration_since(std::time::Instant::now()) {
                    match e.wait_timeout(left) {
                        Ok(()) | Err(Error::Timeout { .. }) => {}
                        Err(e) => return Err(e.to_string()),
                    }
                }
            }
            #[cfg(target_os = "linux")]
            "steal-wake" => steal_wake(arg(0), arg(1).parse().unwrap())?,
            "churn-shared" => {
                // Creates and drops the shared value `rounds` times, saying in the phase
                // word what it is doing (round r: 4r+1 creating, +2 made, +3 dropping,
                // +4 dropped).
                let rounds: u64 = arg(2).parse().unwrap();
                let m = Mapping::open(arg(1)).map_err(|e| e.to_string())?;
                let view = m.view().map().map_err(|e| e.to_string())?;
                // SAFETY: bytes 0..8 are reached only as this word (here and in the
                // parent), and the test's mapping is not cut short.
                let phase = unsafe { view.atomic_u64(0) }.map_err(|e| e.to_string())?;
                for r in 0..rounds {
                    phase.store(4 * r + 1, Ordering::SeqCst);
                    let (v, _) = SharedMutex::<u64>::create_or_open(arg(0), r)
                        .map_err(|e| format!("round {r}: create or open: {e}"))?;
                    phase.store(4 * r + 2, Ordering::SeqCst);
                    *v.lock().map_err(|e| e.to_string())? = r;
                    phase.store(4 * r + 3, Ordering::SeqCst);
                    drop(v);
                    phase.store(4 * r + 4, Ordering::SeqCst);
                }
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
    // A process that may only read the entry puts a read lock on the dead owner's
    // liveness byte: that fakes no live owner, and keeps nobody from taking the mutex over
    // (a takeover that took the dead owner's byte with a write lock was refused for ever).
    #[cfg(target_os = "linux")]
    let _readers_locks = {
        let words = common::EntryFile::open(&ns, &name);
        // The state word, the first of the data area: the owner's token, and the waiters
        // bit (`1 << 31`).
        let token = u32::from_le_bytes(words.read(words.data_offset())) & !(1 << 31);
        assert_ne!(token, 0, "the dead owner's token");
        let files = ns.entries();
        assert_eq!(files.len(), 1, "{files:?}");
        let entry = std::fs::File::open(ns.path().join(&files[0])).unwrap();
        // SAFETY: flock is plain data; all zeros is a valid value.
        let mut fl: libc::flock = unsafe { std::mem::zeroed() };
        fl.l_type = libc::F_RDLCK as libc::c_short;
        fl.l_whence = libc::SEEK_SET as libc::c_short;
        // Where the owners' bytes begin (`TOKEN_LOCKS_AT`), and the dead owner's.
        fl.l_start = (1 << 40) + i64::from(token);
        fl.l_len = 1;
        // SAFETY: fcntl with a valid descriptor and a pointer to a local flock.
        let r = unsafe {
            libc::fcntl(
                std::os::fd::AsRawFd::as_raw_fd(&entry),
                libc::F_OFD_SETLK,
                &fl,
            )
        };
        assert_eq!(r, 0, "{}", std::io::Error::last_os_error());
        entry
    };
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

/// A thread that panics while it holds a lock (the panic caught, the thread going on):
/// a `SharedMutex` guard writes nothing back (it wrote the half-changed value back before,
/// and the next locker was told nothing), and the next lock of either mutex is told the
/// mutex was abandoned, as after a holder that died (on Linux; Windows marks abandoned
/// only the mutexes of threads that exit: there the next lock is told nothing).
fn a_guard_dropped_in_a_panic_writes_nothing_back() {
    use std::panic::{AssertUnwindSafe, catch_unwind};
    let ns = Namespace::new();
    let shared =
        SharedMutex::<[u32; 2]>::create_new(unique("panicked-pair").as_str(), [0, 0]).unwrap();
    let mutex = NamedMutex::create_new(unique("panicked-lock").as_str()).unwrap();
    let unwound = catch_unwind(AssertUnwindSafe(|| {
        let _held = mutex.lock().unwrap();
        let mut pair = shared.lock().unwrap();
        pair[0] = 1;
        panic!("half way through the pair (this panic is the test's)");
    }));
    assert!(unwound.is_err());
    let pair = shared.lock_timeout(PATIENCE).unwrap();
    assert_eq!(*pair, [0, 0], "the half-changed value was written back");
    let expected = cfg!(target_os = "linux");
    assert_eq!(pair.abandoned(), expected);
    drop(pair);
    assert_eq!(mutex.lock_timeout(PATIENCE).unwrap().abandoned(), expected);
    // Normal again afterwards.
    assert!(!shared.lock().unwrap().abandoned());
    assert!(!mutex.lock().unwrap().abandoned());
    // A lock taken during the unwinding (in a destructor) runs its whole critical section:
    // its change is written back, and the mutex is not left abandoned (it was, and the
    // change was dropped).
    struct CountsDown<'a>(&'a SharedMutex<[u32; 2]>, &'a NamedMutex);
    impl Drop for CountsDown<'_> {
        fn drop(&mut self) {
            let _held = self.1.lock().unwrap();
            self.0.lock().unwrap()[1] = 7;
        }
    }
    let unwound = catch_unwind(AssertUnwindSafe(|| {
        let _counts_down = CountsDown(&shared, &mutex);
        panic!("unwinding through a destructor that locks (this panic is the test's)");
    }));
    assert!(unwound.is_err());
    let pair = shared.lock_timeout(PATIENCE).unwrap();
    assert_eq!(*pair, [0, 7], "the destructor's change was lost");
    assert!(!pair.abandoned());
    drop(pair);
    assert!(!mutex.lock_timeout(PATIENCE).unwrap().abandoned());
    drop((shared, mutex));
    ns.assert_empty();
}

fn shared_counter_4_processes_x_10000() {
    let ns = Namespace::new();
    let name = unique("counter");
    let counter = SharedMutex::<u64>::create_new(&name, 0).unwrap();
    let children: Vec<_> = (0..4)
        .map(|_| child("count", &[&name, "10000"]).spawn_retrying())
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

/// A manual-reset event set and reset at once (`PulseEvent`) releases every waiter already
/// waiting, as on Windows: one blocked in `wait`, one in `wait_any`, one in an async wait,
/// each asleep in another process (on Linux, seen asleep in the kernel).
fn a_set_then_reset_releases_every_manual_waiter() {
    let ns = Namespace::new();
    let name = unique("pulse");
    let other_name = unique("pulse-other");
    let event = NamedEvent::create_new(&name, EventReset::Manual, false).unwrap();
    let other = NamedEvent::create_new(&other_name, EventReset::Manual, false).unwrap();
    let waiters: Vec<(&str, std::process::Child)> = ["wait", "wait-any", "wait-async"]
        .into_iter()
        .map(|how| (how, spawn_ready("wait-pulse", &[how, &name, &other_name])))
        .collect();
    #[cfg(target_os = "linux")]
    for (how, child) in &waiters {
        await_futex_state(child.id(), true, &format!("the {how} waiter never slept"));
    }
    // Elsewhere nothing says a process sleeps: time to reach their waits (a waiter that
    // had not begun its wait at the set is rightly not released; 300 ms was too little
    // under Wine on a loaded machine, for the wait on many objects).
    #[cfg(not(target_os = "linux"))]
    std::thread::sleep(Duration::from_secs(2));
    event.set().unwrap();
    event.reset().unwrap();
    let mut failures = Vec::new();
    for (how, child) in waiters {
        let out = child.wait_with_output().unwrap();
        let said = String::from_utf8_lossy(&out.stdout);
        if !out.status.success() || said.trim() != "released" {
            failures.push(format!(
                "{how}: {} ({})",
                said.trim(),
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("; "));
    assert!(!event.try_wait().unwrap(), "the reset holds");
    drop((event, other));
    ns.assert_empty();
}

/// An auto-reset event's `set` releases a waiter blocked in `wait` asleep at it, as
/// `SetEvent` does on Windows: a `reset` right after it takes nothing from that waiter,
/// and two sets in a row release two sleeping waiters (not one, with the second set lost
/// on a state already set). Each waiter is another process, asleep before the sets (on
/// Linux, seen asleep in the kernel).
fn auto_reset_sets_release_the_waiters_asleep_at_them() {
    let ns = Namespace::new();
    let name = unique("handoff");
    let event = NamedEvent::create_new(&name, EventReset::Auto, false).unwrap();
    let sleepers = |n: usize| -> Vec<std::process::Child> {
        let waiters: Vec<_> = (0..n)
            .map(|_| {
                child("take", &["event", &name])
                    .stdout(std::process::Stdio::piped())
                    .spawn_retrying()
            })
            .collect();
        #[cfg(target_os = "linux")]
        for w in &waiters {
            await_futex_state(w.id(), true, "a waiter never slept");
        }
        // Elsewhere nothing says a process sleeps: time to reach their waits.
        #[cfg(not(target_os = "linux"))]
        std::thread::sleep(Duration::from_secs(2));
        waiters
    };
    let took = |waiters: Vec<std::process::Child>, what: &str| {
        for w in waiters {
            let out = w.wait_with_output().unwrap();
            let said = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success() && said == "took",
                "{what}: a waiter said {said:?} ({})",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
    };

    let one = sleepers(1);
    event.set().unwrap();
    event.reset().unwrap();
    took(one, "a set, then a reset");
    assert!(!event.try_wait().unwrap(), "the waiter took the one signal");

    let two = sleepers(2);
    event.set().unwrap();
    event.set().unwrap();
    took(two, "two sets, two waiters");
    assert!(!event.try_wait().unwrap(), "each set released a waiter");
    drop(event);
    ns.assert_empty();
}

/// A wait on many objects over an auto-reset event is not starved by a blocking waiter
/// that takes signal after signal and is always back asleep at the next set: on Linux
/// every other set goes to the waiters on the state while they sleep; on Windows the
/// kernel queues the waiters, and the wait on many objects keeps its place by sleeping
/// once for the whole wait (in 100 ms slices, it went to the back of the queue at each).
fn a_wait_on_many_objects_gets_its_turn_on_an_auto_reset_event() {
    let ns = Namespace::new();
    let name = unique("turns");
    let event = NamedEvent::create_new(&name, EventReset::Auto, false).unwrap();
    let mut greedy = child("take-forever", &[&name]).spawn_retrying();
    let mut patient = child("take", &["event-any", &name])
        .stdout(std::process::Stdio::piped())
        .spawn_retrying();
    #[cfg(target_os = "linux")]
    for (w, what) in [
        (&greedy, "the greedy waiter"),
        (&patient, "the patient one"),
    ] {
        await_futex_state(w.id(), true, &format!("{what} never slept"));
    }
    #[cfg(not(target_os = "linux"))]
    std::thread::sleep(Duration::from_secs(2));
    // (Processes start slowly under Wine: sets go on for up to 5 s.)
    let mut sets = 0;
    while patient.try_wait().unwrap().is_none() && sets < 50 {
        event.set().unwrap();
        sets += 1;
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = greedy.kill();
    let _ = greedy.wait();
    let finished = patient.try_wait().unwrap();
    if finished.is_none() {
        let _ = patient.kill();
    }
    let out = patient.wait_with_output().unwrap();
    assert!(
        finished.is_some() && String::from_utf8_lossy(&out.stdout) == "took",
        "the wait on many objects was not released by {sets} sets"
    );
    println!("    released by set {sets} of at most 50");
    drop(event);
    ns.assert_empty();
}

fn semaphore_across_processes_and_maximum() {
    let ns = Namespace::new();
    let name = unique("sem");
    let sem = NamedSemaphore::create_new(&name, 0, 2).unwrap();
    let waiter = child("acquire", &[&name])
        .stdout(std::process::Stdio::piped())
        .spawn_retrying();
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
    // Releasing nothing is refused, as ReleaseSemaphore refuses it.
    assert!(matches!(
        sem.release(0),
        Err(Error::InvalidSetting { value: 0, .. })
    ));
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
    // A timeout too long for the clock (Duration::MAX) means no deadline, not a panic.
    drop(m.lock_timeout(Duration::MAX).unwrap());
    drop(shared.lock_timeout(Duration::MAX).unwrap());
    e.set().unwrap();
    e.wait_timeout(Duration::MAX).unwrap();
    s.release(1).unwrap();
    s.acquire_timeout(Duration::MAX).unwrap();
    let channel = unique("c");
    let mut tx = filemap::channel::Sender::create_or_open(&channel, 4096).unwrap();
    let mut rx = filemap::channel::Receiver::open(&channel).unwrap();
    tx.send_timeout(b"no deadline", Duration::MAX).unwrap();
    assert_eq!(
        rx.recv_timeout(Duration::MAX).unwrap().to_vec().unwrap(),
        b"no deadline"
    );
    drop((m, e, s, shared, tx, rx));
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
    // Where a `Local\` name and its `Global\` form are one object (Windows' session 0,
    // where services run), a lock through each on one thread is a relock too.
    let base = unique("relock-alias");
    let local = NamedMutex::create_new(format!("Local\\{base}")).unwrap();
    match NamedMutex::open(format!("Global\\{base}")) {
        Ok(global) => {
            let g = local.lock().unwrap();
            assert!(matches!(
                global.lock_timeout(Duration::from_secs(1)),
                Err(Error::WouldDeadlock { .. })
            ));
            drop(g);
        }
        Err(Error::NotFound { .. }) => println!(
            "    Local\\ and Global\\ names are two namespaces here (not Windows' session 0): \
             no alias to lock through"
        ),
        Err(e) => panic!("opening the Global\\ form: {e}"),
    }
    drop((m, again, s, local));
    ns.assert_empty();
}

/// `lock_unguarded` / `release` (the bindings' `WaitForSingleObject` / `ReleaseMutex`):
/// only the locking thread releases, a guarded lock is not released by `release`, relocking
/// is refused, and a killed holder's unguarded lock is seen abandoned.
fn unguarded_lock_and_release_pair() {
    let ns = Namespace::new();
    let name = unique("unguarded");
    let m = NamedMutex::create_new(&name).unwrap();
    assert!(matches!(m.release(), Err(Error::NotOwner { .. })));
    assert!(!m.lock_unguarded(None).unwrap());
    assert!(matches!(
        m.lock_unguarded(Some(Duration::ZERO)),
        Err(Error::WouldDeadlock { .. })
    ));
    std::thread::scope(|s| {
        s.spawn(|| {
            assert!(matches!(m.release(), Err(Error::NotOwner { .. })));
            assert!(matches!(
                m.lock_unguarded(Some(Duration::from_millis(20))),
                Err(Error::Timeout { .. })
            ));
        });
    });
    m.release().unwrap();
    assert!(matches!(m.release(), Err(Error::NotOwner { .. })));
    let g = m.lock().unwrap();
    assert!(matches!(m.release(), Err(Error::NotOwner { .. })));
    drop(g);
    // A holder killed while holding it through `lock_unguarded`.
    let mut holder = spawn_ready("hold-lock-unguarded", &[&name]);
    assert!(m.try_lock().unwrap().is_none(), "the child holds it");
    holder.kill().unwrap();
    holder.wait().unwrap();
    assert!(m.lock_unguarded(Some(PATIENCE)).unwrap(), "abandoned");
    m.release().unwrap();
    // Only the handle that took it releases it: another handle of the same mutex cannot.
    let other = NamedMutex::open(&name).unwrap();
    m.lock_unguarded(None).unwrap();
    assert!(matches!(other.release(), Err(Error::NotOwner { .. })));
    m.release().unwrap();
    // A handle dropped while it holds the lock: the other handle still cannot release it,
    // and (Linux) the next lock takes it as abandoned rather than refusing a relock.
    m.lock_unguarded(None).unwrap();
    drop(m);
    assert!(matches!(other.release(), Err(Error::NotOwner { .. })));
    #[cfg(target_os = "linux")]
    {
        assert!(other.lock_unguarded(Some(PATIENCE)).unwrap(), "abandoned");
        other.release().unwrap();
    }
    drop(other);
    ns.assert_empty();
}

/// A thread that exits holding a lock it took with `lock_unguarded` (as a C or Python
/// thread that never calls release) leaves the mutex abandoned, its handle still open, as
/// Win32 does: the next locker, in this process or another, takes it and is told so, and
/// one already asleep on it is woken for it. (Before, on Linux, it stayed held until the
/// handle was closed: every other locker waited, or timed out.)
fn a_thread_exiting_with_an_unguarded_lock_abandons_it() {
    let ns = Namespace::new();
    let name = unique("thread-exit");
    let m = std::sync::Arc::new(NamedMutex::create_new(&name).unwrap());
    let holder = std::sync::Arc::clone(&m);
    std::thread::spawn(move || assert!(!holder.lock_unguarded(None).unwrap()))
        .join()
        .unwrap();
    assert!(m.lock_unguarded(Some(PATIENCE)).unwrap(), "abandoned");
    m.release().unwrap();
    // Another process's locker, asleep on it when the thread exits.
    let (tx, rx) = std::sync::mpsc::channel();
    let (locked_tx, locked) = std::sync::mpsc::channel();
    let holder = std::sync::Arc::clone(&m);
    let thread = std::thread::spawn(move || {
        holder.lock_unguarded(None).unwrap();
        locked_tx.send(()).unwrap();
        rx.recv().unwrap();
    });
    // (Held before the other process looks: on a loaded machine it could lock first.)
    locked.recv().unwrap();
    let locker = child("lock-and-say-if-abandoned", &[&name])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    tx.send(()).unwrap();
    thread.join().unwrap();
    let out = locker.wait_with_output().unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "abandoned");
    // The handle that took it is still open, and still usable.
    assert!(!m.lock_unguarded(Some(PATIENCE)).unwrap());
    m.release().unwrap();
    drop(m);
    ns.assert_empty();
}

/// A thread-local's destructor that runs after filemap's own (registered before it: they
/// run in reverse) takes a mutex unguarded: refused (`Unsupported`), the mutex free again.
/// It stayed locked, with nothing to release it nor abandon it at the thread's end.
#[cfg(target_os = "linux")]
fn an_unguarded_lock_from_a_late_thread_local_is_refused() {
    use std::sync::{Arc, mpsc};
    struct Late(Arc<NamedMutex>, mpsc::Sender<Result<bool, Error>>);
    impl Drop for Late {
        fn drop(&mut self) {
            let _ = self
                .1
                .send(self.0.lock_unguarded(Some(Duration::from_secs(1))));
        }
    }
    thread_local! {
        static LATE: std::cell::RefCell<Option<Late>> = const { std::cell::RefCell::new(None) };
    }
    let ns = Namespace::new();
    let name = unique("late-thread-local");
    let m = Arc::new(NamedMutex::create_new(&name).unwrap());
    let (tx, rx) = mpsc::channel();
    let late = Late(Arc::clone(&m), tx);
    let locker = Arc::clone(&m);
    std::thread::spawn(move || {
        LATE.with(|l| *l.borrow_mut() = Some(late));
        // filemap's own thread-locals, registered after it.
        locker.lock_unguarded(None).unwrap();
        locker.release().unwrap();
    })
    .join()
    .unwrap();
    let late = rx.recv_timeout(PATIENCE).expect("the late destructor ran");
    assert!(matches!(late, Err(Error::Unsupported { .. })), "{late:?}");
    let free = m.try_lock().unwrap();
    assert!(free.is_some(), "the mutex is free again");
    drop(free);
    drop(m);
    ns.assert_empty();
}

/// A guard leaked with `mem::forget` keeps its mutex locked while its handle lives; once
/// the handle is dropped, the lock has gone with it (Linux), and this thread locks the
/// mutex again through another handle, told it was abandoned. (Its record of the leaked
/// guard refused every later lock of the mutex by the thread, as a relock.) On Windows the
/// thread owns the kernel mutex still, and a relock stays refused.
fn a_leaked_guard_of_a_dropped_handle_refuses_no_later_lock() {
    let ns = Namespace::new();
    let name = unique("leaked-guard");
    let kept = NamedMutex::create_new(&name).unwrap();
    let m = NamedMutex::open(&name).unwrap();
    std::mem::forget(m.lock().unwrap());
    assert!(matches!(kept.try_lock(), Err(Error::WouldDeadlock { .. })));
    drop(m);
    if cfg!(windows) {
        assert!(matches!(kept.try_lock(), Err(Error::WouldDeadlock { .. })));
    } else {
        let again = kept.lock_timeout(PATIENCE).unwrap();
        assert!(again.abandoned());
        drop(again);
        assert!(!kept.lock().unwrap().abandoned());
    }
    drop(kept);
    ns.assert_empty();
}

/// A thread-local's destructor that runs after filemap's own takes nine mutexes through
/// guards: the ninth, past what the thread can record without its destroyed list, is
/// refused (`Unsupported`) and left free. It was taken unrecorded, and a relock of it
/// waited on itself instead of being refused.
#[cfg(target_os = "linux")]
fn a_ninth_lock_from_a_late_thread_local_is_refused() {
    use std::sync::{Arc, mpsc};
    struct Late(Arc<Vec<NamedMutex>>, mpsc::Sender<Result<(), Error>>);
    impl Drop for Late {
        fn drop(&mut self) {
            let mut guards = Vec::new();
            for m in &self.0[..8] {
                guards.push(m.lock().unwrap());
            }
            let _ = self.1.send(self.0[8].try_lock().map(drop));
        }
    }
    thread_local! {
        static LATE: std::cell::RefCell<Option<Late>> = const { std::cell::RefCell::new(None) };
    }
    let ns = Namespace::new();
    let mutexes: Arc<Vec<NamedMutex>> = Arc::new(
        (0..9)
            .map(|k| NamedMutex::create_new(unique(&format!("late-{k}")).as_str()).unwrap())
            .collect(),
    );
    let (tx, rx) = mpsc::channel();
    let late = Late(Arc::clone(&mutexes), tx);
    let locker = Arc::clone(&mutexes);
    std::thread::spawn(move || {
        LATE.with(|l| *l.borrow_mut() = Some(late));
        // filemap's own thread-locals, registered after it.
        locker[0].lock_unguarded(None).unwrap();
        locker[0].release().unwrap();
    })
    .join()
    .unwrap();
    let ninth = rx.recv_timeout(PATIENCE).expect("the late destructor ran");
    assert!(matches!(ninth, Err(Error::Unsupported { .. })), "{ninth:?}");
    for m in mutexes.iter() {
        assert!(m.try_lock().unwrap().is_some(), "a mutex left locked");
    }
    drop(mutexes);
    ns.assert_empty();
}

/// A program whose main thread has exited (as with `pthread_exit`; the process lives on in
/// its other threads) still makes and locks a mutex and maps a view: they reopen descriptors
/// through `/proc/thread-self` (before, `/proc/self/fd`, gone with the main thread's file
/// table: making the mutex failed).
#[cfg(target_os = "linux")]
fn objects_work_after_the_main_thread_exits() {
    let ns = Namespace::new();
    let name = unique("orphaned-main");
    let out = child("after-the-main-thread-exits", &[&name])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "locked and mapped");
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
    // A struct each program defines for itself, in its own crate (here: its own module),
    // is the same type under the same name; not under another.
    let pose = unique("a-pose");
    let p = SharedMutex::create_new(&pose, producer::Pose { x: 1.5, y: -2.0 }).unwrap();
    let seen = SharedMutex::<consumer::Pose>::open(&pose).unwrap();
    assert_eq!(seen.lock().unwrap().y, -2.0);
    match SharedMutex::<consumer::Position>::open(&pose) {
        Err(Error::LayoutMismatch { .. }) => {}
        other => panic!("expected LayoutMismatch, got {other:?}"),
    }
    drop((m, map, v, p, seen));
    ns.assert_empty();
}

/// The same struct, defined twice, as two programs would each define it.
mod producer {
    #[repr(C)]
    #[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
    pub struct Pose {
        pub x: f32,
        pub y: f32,
    }
}

mod consumer {
    #[repr(C)]
    #[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
    pub struct Pose {
        pub x: f32,
        pub y: f32,
    }

    #[repr(C)]
    #[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
    pub struct Position {
        pub x: f32,
        pub y: f32,
    }
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

/// Plays a waiter that a wake reaches and that dies before it takes what it was woken for
/// (or, in an auto-reset event's hand-off slot, that dies asleep): maps the data area of
/// the event or semaphore entry at `entry` (Linux: a file in the namespace directory,
/// header first, then the sync words: 0 the state or count, 1 the number of sleeping
/// waiters, 3 an event's count of sets, 4 an auto-reset event's first hand-off slot),
/// counts itself as a sleeping waiter (claims the slot: generation 1, waiting), says
/// "ready", sleeps on word `sleep_word` (the one the object's waiters sleep on) while it
/// holds what it held then, with no timeout, and once woken takes nothing: it waits on
/// stdin for the parent to kill it.
#[cfg(target_os = "linux")]
fn steal_wake(entry: &str, sleep_word: usize) -> Result<(), String> {
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::FileExt;
    use std::sync::atomic::AtomicU32;

    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(entry)
        .map_err(|e| format!("open {entry}: {e}"))?;
    let mut header = [0u8; 40];
    file.read_exact_at(&mut header, 0)
        .map_err(|e| format!("read the header of {entry}: {e}"))?;
    if &header[..8] != b"FILEMAP\0" {
        return Err(format!("{entry} has no filemap header"));
    }
    // The header's data offset (a page multiple), at byte 32.
    let data_offset = u64::from_le_bytes(header[32..40].try_into().unwrap());
    // SAFETY: maps 64 bytes of a file this process holds open, shared (so that the futex
    // key is the one the object's waiters use); the mapping is never unmapped.
    let at = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            64,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED,
            file.as_raw_fd(),
            data_offset as libc::off_t,
        )
    };
    if at == libc::MAP_FAILED {
        return Err(format!("map {entry}: {}", std::io::Error::last_os_error()));
    }
    // SAFETY: the mapping is 4-byte aligned, 64 bytes, and lives until exit.
    let (word, waiters) = unsafe {
        let words = at.cast::<AtomicU32>();
        (&*words.add(sleep_word), &*words.add(1))
    };
    // A slot's claim: generation 1 (bits 3 and up), waiting (1).
    let expected = if sleep_word >= 4 { 1 << 3 | 1 } else { 0 };
    if sleep_word >= 4 {
        word.store(expected, Ordering::SeqCst);
    } else {
        waiters.fetch_add(1, Ordering::SeqCst);
    }
    ready_then_block_until_waiting();
    // SAFETY: FUTEX_WAIT on a valid, mapped word; no timeout.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT,
            expected,
            std::ptr::null::<libc::timespec>(),
        )
    };
    let _ = std::io::Read::read(&mut std::io::stdin(), &mut [0u8; 1]);
    Ok(())
}

/// A child process, killed and reaped when dropped: a failing check leaves none behind.
#[cfg(target_os = "linux")]
struct Reaped(std::process::Child);

#[cfg(target_os = "linux")]
impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Whether process `pid` sleeps in a futex wait (its system call is `futex` or
/// `futex_waitv`, its state S).
#[cfg(target_os = "linux")]
fn asleep_in_futex(pid: u32) -> bool {
    let syscall = std::fs::read_to_string(format!("/proc/{pid}/syscall")).unwrap_or_default();
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let state = stat
        .rsplit_once(") ")
        .map(|(_, rest)| rest.starts_with('S'));
    let in_futex = [libc::SYS_futex, libc::SYS_futex_waitv]
        .iter()
        .any(|call| syscall.starts_with(&format!("{call} ")));
    in_futex && state == Some(true)
}

/// Waits (up to [`PATIENCE`]) until `pid` sleeps in a futex wait, or (`asleep` false) no
/// longer does.
#[cfg(target_os = "linux")]
fn await_futex_state(pid: u32, asleep: bool, what: &str) {
    let started = Instant::now();
    while asleep_in_futex(pid) != asleep {
        assert!(started.elapsed() < PATIENCE, "{what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The wait [`waiter_killed_after_its_wake_strands_nobody`] allows a stranded waiter: far
/// more than a waiter's 100 ms re-check, far less than its own timeout ([`PATIENCE`]).
#[cfg(target_os = "linux")]
const STRANDED: Duration = Duration::from_secs(5);

/// The lost wake-up, made deterministic: an auto-reset event (then a semaphore) has two
/// sleeping waiters; the first to sleep (a process playing a waiter, see [`steal_wake`]) is
/// the one `set` (`release(1)`) wakes, and it is killed before it takes the signal. The
/// other, a real waiter, must still get it: waiters re-check the object at least every
/// 100 ms instead of sleeping until their timeout with the object signalled. The event's
/// waiters here take its state only (a wait on many objects); a blocking waiter's hand-off
/// slot is the third case: the doomed waiter dies asleep in the first slot, and a `set`
/// must hand its release to the live waiter in the second, not to the dead one. (A waiter
/// killed once a set has handed it the release takes the release with it, as a thread
/// killed as its wait is satisfied does on Windows.)
#[cfg(target_os = "linux")]
fn waiter_killed_after_its_wake_strands_nobody() {
    let failures: Vec<String> = ["event", "event-slot", "semaphore"]
        .into_iter()
        .filter_map(|kind| stranded_waiter(kind).err())
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// One object of `kind`; `Err` if its waiter was left asleep with the object signalled.
#[cfg(target_os = "linux")]
fn stranded_waiter(kind: &str) -> Result<(), String> {
    let ns = Namespace::new();
    let name = unique(kind);
    let (event, semaphore) = if kind.starts_with("event") {
        let e = NamedEvent::create_new(&name, EventReset::Auto, false).unwrap();
        (Some(e), None)
    } else {
        (None, Some(NamedSemaphore::create_new(&name, 0, 1).unwrap()))
    };
    let entry = filemap::namespace::directory()
        .join(filemap::namespace::info(&name).unwrap().file_name)
        .display()
        .to_string();

    // The doomed waiter sleeps first, so a futex wake of one reaches it (futex waiters of
    // equal priority are woken in the order they slept).
    // The word the object's waiters sleep on: an event's count of sets (word 3), or its
    // first hand-off slot (word 4), a semaphore's count (word 0); word 1 counts the
    // sleepers of the first and the last.
    let sleep_word = match kind {
        "event" => "3",
        "event-slot" => "4",
        _ => "0",
    };
    let mut doomed = Reaped(spawn_ready("steal-wake", &[&entry, sleep_word]));
    await_futex_state(doomed.0.id(), true, "the doomed waiter never slept");
    let waits_as = match kind {
        "event" => "event-any",
        "event-slot" => "event",
        _ => kind,
    };
    let mut waiter = Reaped(
        child("take", &[waits_as, &name])
            .stdout(std::process::Stdio::piped())
            .spawn_retrying(),
    );
    await_futex_state(waiter.0.id(), true, "the waiter never slept");
    std::thread::sleep(Duration::from_millis(50));

    if kind == "event-slot" {
        // Dead in its slot before the set.
        doomed.0.kill().unwrap();
        doomed.0.wait().unwrap();
    }
    let mut died = Instant::now();
    match (&event, &semaphore) {
        (Some(e), _) => e.set().unwrap(),
        (_, Some(s)) => assert_eq!(s.release(1).unwrap(), 0),
        _ => unreachable!(),
    }
    if kind != "event-slot" {
        await_futex_state(
            doomed.0.id(),
            false,
            "the wake did not reach the doomed waiter",
        );
        doomed.0.kill().unwrap(); // woken, and dead before it took the signal
        doomed.0.wait().unwrap();
        died = Instant::now();
    }

    // The other waiter must take the signal now, not at its timeout.
    loop {
        if let Some(status) = waiter.0.try_wait().unwrap() {
            assert!(status.success(), "the waiter failed: {status}");
            break;
        }
        if died.elapsed() > STRANDED {
            let syscall = std::fs::read_to_string(format!("/proc/{}/syscall", waiter.0.id()))
                .unwrap_or_default();
            return Err(format!(
                "lost wake-up: the {kind} is signalled but its waiter still sleeps {:.1} s \
                 after the waiter its wake reached died (system call: {})",
                died.elapsed().as_secs_f64(),
                syscall.trim()
            ));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let took = died.elapsed();
    let mut out = String::new();
    std::io::Read::read_to_string(&mut waiter.0.stdout.take().unwrap(), &mut out).unwrap();
    assert_eq!(out, "took");
    println!(
        "    {kind}: the other waiter took it {} ms after the woken one died",
        took.as_millis()
    );
    // It took the one signal (unit) there was.
    match (&event, &semaphore) {
        (Some(e), _) => assert!(!e.try_wait().unwrap()),
        (_, Some(s)) => assert!(!s.try_acquire().unwrap()),
        _ => unreachable!(),
    }
    drop((event, semaphore));
    ns.assert_empty();
    Ok(())
}

/// What one opener saw.
#[derive(Default)]
struct Opens {
    found: u64,
    absent: u64,
    /// Refused as corrupt: the bug, whether the creator was creating or dropping it.
    corrupt: Vec<String>,
    /// Other failures.
    failed: Vec<String>,
}

/// Opens the shared value `name` over and over until `done`. `phase` is the creator's
/// (see the "churn-shared" role).
fn open_until_done(name: &str, phase: &AtomicU64, done: &AtomicBool, rounds: u64) -> Opens {
    let mut opens = Opens::default();
    while !done.load(Ordering::SeqCst) {
        let before = phase.load(Ordering::SeqCst);
        match SharedMutex::<u64>::open(name) {
            Ok(v) => {
                opens.found += 1;
                match v.lock_timeout(PATIENCE).map(|g| *g) {
                    Ok(value) if value < rounds => {}
                    Ok(value) => opens.failed.push(format!("value {value}")),
                    Err(e) => opens.failed.push(format!("lock: {e}")),
                }
            }
            Err(Error::NotFound { .. }) => opens.absent += 1,
            Err(e @ Error::Corrupt { .. }) => {
                let after = phase.load(Ordering::SeqCst);
                opens
                    .corrupt
                    .push(format!("{e} (creator's phase {before}..={after})"));
            }
            Err(e) => {
                opens.failed.push(e.to_string());
                break;
            }
        }
    }
    opens
}

/// A process creates and drops a shared value 2000 times while a thread of this one opens
/// it over and over: an open finds the value or finds nothing (`NotFound`), never a
/// half-made object (`Corrupt`). On Windows the value is a section plus a kernel mutex; its
/// creator used to publish the section before creating the mutex, and an opener in between
/// failed with "its lock cannot be opened".
///
/// Dropping closes the lock before the section, so an opener can also find the section
/// and then no lock; that object is going away, and the open says `NotFound`. One opener
/// only keeps the phases readable (the creator says in a phase word whether it is creating
/// or dropping, printed with any failure).
fn shared_mutex_open_racing_its_creator_is_never_corrupt() {
    let ns = Namespace::new();
    let name = unique("racing");
    let phase_name = unique("phase");
    let phase_mapping = Mapping::create_new(&phase_name, 4096).unwrap();
    let view = phase_mapping.view().map().unwrap();
    // SAFETY: bytes 0..8 are reached only as this word (here and in the child), and the
    // test's mapping is not cut short.
    let phase = unsafe { view.atomic_u64(0) }.unwrap();
    let rounds = 2000u64;
    let mut churn = child("churn-shared", &[&name, &phase_name, &rounds.to_string()])
        .stderr(std::process::Stdio::piped())
        .spawn_retrying();
    let done = AtomicBool::new(false);
    let opens = std::thread::scope(|scope| {
        let opener = scope.spawn(|| open_until_done(&name, phase, &done, rounds));
        let deadline = Instant::now() + Duration::from_secs(300);
        while churn.try_wait().unwrap().is_none() {
            if Instant::now() > deadline {
                let _ = churn.kill();
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        done.store(true, Ordering::SeqCst);
        opener.join().unwrap()
    });
    let out = churn.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the creator failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let Opens {
        found,
        absent,
        corrupt,
        failed,
    } = opens;
    println!(
        "    {rounds} rounds: {found} opens found the value, {absent} found nothing, {} were \
         refused as corrupt",
        corrupt.len(),
    );
    assert!(failed.is_empty(), "opens failed: {failed:?}");
    assert!(
        corrupt.is_empty(),
        "opens racing the creator were refused as corrupt:\n{}",
        corrupt.join("\n")
    );
    drop((view, phase_mapping));
    ns.assert_empty();
    assert!(matches!(
        SharedMutex::<u64>::open(&name),
        Err(Error::NotFound { .. })
    ));
}

/// A process with write access overwrites a held mutex's bytes, as a hostile writer or a
/// bug could: all ones over its data area, or a pair of wild pointers where a pthread
/// mutex on x86_64 keeps the holder's robust-list links (bytes 24 to 40). The holder
/// unlocks without touching any other memory, and the mutex goes on working for the
/// handles that have it open. (glibc unlinks a robust mutex by writing through those links:
/// this test crashed the holder with SIGSEGV when filemap's Linux mutexes were pthread
/// mutexes. Windows mutexes are kernel objects.)
#[cfg(target_os = "linux")]
fn scribbled_mutex_never_harms_its_holder() {
    use std::os::unix::fs::FileExt;
    let ns = Namespace::new();
    let wild = 0x4141_4141_4141_4141u64.to_le_bytes();
    let scribbles: [(u64, &[u8]); 3] = [(24, &wild), (32, &wild), (0, &[0xff; 64])];
    for (kind, (at, bytes)) in ["mutex", "shared value"]
        .into_iter()
        .flat_map(|k| scribbles.iter().map(move |s| (k, *s)))
    {
        let name = unique("scribbled");
        let (mutex, value) = if kind == "mutex" {
            (Some(NamedMutex::create_new(&name).unwrap()), None)
        } else {
            (
                None,
                Some(SharedMutex::<u64>::create_new(&name, 7).unwrap()),
            )
        };
        let info = filemap::namespace::info(&name).unwrap();
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(filemap::namespace::directory().join(&info.file_name))
            .unwrap();
        let data_offset = filemap::allocation_granularity();
        let scribble = || file.write_all_at(bytes, data_offset + at).unwrap();
        match (&mutex, &value) {
            (Some(m), _) => {
                let guard = m.lock().unwrap();
                scribble();
                drop(guard); // unlocks: must not write anywhere but the state word
                // The state word says free again; this handle locks as before.
                drop(m.lock_timeout(PATIENCE).unwrap());
            }
            (_, Some(v)) => {
                let mut guard = v.lock().unwrap();
                *guard += 1;
                scribble();
                drop(guard);
                assert_eq!(*v.lock_timeout(PATIENCE).unwrap(), 8);
            }
            _ => unreachable!(),
        }
        drop((mutex, value));
    }
    ns.assert_empty();
}
