//! A crash storm: 8 worker processes do random operations — create, open and close
//! mappings, map views and write them, lock a mutex guarding an invariant, send on a
//! channel — while the supervisor (this process, also the channel's receiver) kills random
//! workers (SIGKILL on Linux, TerminateProcess on Windows) and starts new ones.
//!
//! Meanwhile 6 waiter processes wait on a named auto-reset event (3 of them) and a named
//! semaphore (3), one of each in a blocking wait, one in an async wait (a future under
//! tokio, woken by the process's waiter thread) and one in `wait_any`, and a supervisor thread sets the event or releases the semaphore while
//! at least two of them wait, and mostly kills one of those right after, usually the one
//! that waited longest (the one a wake reaches first), so that the kill lands between a
//! waiter's wake and its taking the signal or unit. No waiter may sleep on while the event
//! is signalled or the semaphore has a unit: a round is settled once a waiter took it or
//! every waiter of before the wake moved on; if neither happened within 3 s, the thread
//! takes it itself, and finding it there while a waiter of before the wake still sleeps in
//! the same wait fails the test (a woken waiter killed before it took the signal used to
//! leave the others asleep until their timeout). Waiters wait with a 60 s timeout, a
//! safety net: one that times out ends, which fails the test too.
//!
//! Afterwards: no worker or waiter hung (each stops within seconds when asked), every
//! message a worker committed arrived exactly once, in order and intact (a killed worker
//! may have committed one message more than it managed to record), the mutex-guarded
//! invariant held whenever the mutex was not abandoned and was repaired when it was, and
//! once the supervisor lets go and garbage is collected nothing of the run is left in the
//! namespace. Prints the totals.
//!
//! Bounded for CI (`FILEMAP_SOAK_SECS`, default 20 s on Linux, 10 s on Windows); run it
//! longer with e.g. `FILEMAP_SOAK_SECS=600 cargo test -p filemap --test soak`.

mod common;

use std::collections::HashMap;
use std::process::Child;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::SpawnRetrying;
use common::{Namespace, child, role, run_tests};
use filemap::channel::{Receiver, Sender};
use filemap::sync::{EventReset, NamedEvent, NamedSemaphore, SharedMutex};
use filemap::wait::{Target, Waitable};
use filemap::{Error, Mapping, View};

const WORKERS: usize = 8;
const STATS: &str = "soak-stats";
const PAIR: &str = "soak-pair";
const CHANNEL: &str = "soak-channel";
const MAPPINGS: u64 = 4;
const EVENT: &str = "soak-event";
const SEMAPHORE: &str = "soak-semaphore";
/// Waiter processes per object (the event, the semaphore).
const WAITERS_PER_OBJECT: usize = 3;
const WAITERS: usize = 2 * WAITERS_PER_OBJECT;
/// A waiter's timeout: a safety net, far longer than the storm's checks.
const WAITER_PATIENCE: Duration = Duration::from_secs(60);
/// How long a signal or unit may stay untaken while a waiter of before the wake still
/// waits: far more than a waiter's re-check (100 ms), far less than its timeout.
const STRANDED_AFTER: Duration = Duration::from_secs(3);
/// When the wake rounds look whether a killed waiter took the signal with it (Windows).
const EARLY_LOOK: Duration = Duration::from_millis(300);

// Counters in the stats mapping (u64 each), then one slot per worker.
const STOP: usize = 0;
const OPERATIONS: usize = 8;
const ABANDONED: usize = 16;
const REPAIRED: usize = 24;
const VIOLATIONS: usize = 32;
const MAPPING_OPS: usize = 40;
const MUTEX_OPS: usize = 48;
const HALF_MADE: usize = 56;
/// Signals (event) and units (semaphore) waiters took: `TAKEN + 8 * object`.
const TAKEN: usize = 64;
/// The last wait number handed out (waiters number their waits from it).
const WAIT_NUMBERS: usize = 80;
const WAITERS_STOP: usize = 88;
/// View copies that met a truncated mapping (`PageFault`), and opens of one refused
/// because its header no longer fits (Linux: the truncating attacker).
const FAULTS: usize = 96;
const TRUNCATED_REFUSED: usize = 104;
const SLOTS: usize = 512;
const WAITER_SLOTS: usize = 1024;

/// A worker's slot: its incarnation and how many messages it sent (recorded after each
/// send returned).
fn slot(w: usize) -> (usize, usize) {
    (SLOTS + w * 16, SLOTS + w * 16 + 8)
}

/// A waiter's slot: the number of the wait it is in, 0 between waits.
fn waiter_slot(s: usize) -> usize {
    WAITER_SLOTS + s * 8
}

fn counter(stats: &View, at: usize) -> &AtomicU64 {
    // SAFETY: every counter is reached only as its own word (by this process and the
    // soak's children), and the stats mapping, the soak's own, is not cut short.
    unsafe { stats.atomic_u64(at) }.expect("a counter in the stats mapping")
}

fn main() {
    if let Some((role, args)) = role() {
        let arg = |i: usize| args[i].parse::<u64>().unwrap();
        match role.as_str() {
            "worker" => worker(arg(0) as usize, arg(1), arg(2)),
            "waiter" => waiter(arg(0) as usize),
            other => panic!("unknown role {other}"),
        }
        return;
    }
    run_tests(&[("crash_storm", crash_storm as fn())]);
}

/// xorshift64*: the storm's randomness, reproducible from a seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A message: incarnation, sequence number, then bytes derived from both.
fn message(incarnation: u64, seq: u64, len: usize) -> Vec<u8> {
    let mut m = Vec::with_capacity(len);
    m.extend_from_slice(&incarnation.to_le_bytes());
    m.extend_from_slice(&seq.to_le_bytes());
    m.extend((16..len).map(|i| (incarnation ^ seq ^ i as u64) as u8));
    m
}

fn worker(w: usize, incarnation: u64, seed: u64) {
    let stats_mapping = Mapping::open(STATS).unwrap();
    let stats = stats_mapping.view().map().unwrap();
    let pair = SharedMutex::<[u64; 2]>::open(PAIR).unwrap();
    let (incarnation_at, sent_at) = slot(w);
    counter(&stats, sent_at).store(0, Ordering::SeqCst);
    counter(&stats, incarnation_at).store(incarnation, Ordering::SeqCst);
    let mut rng = Rng(seed | 1);
    let mut sender: Option<Sender> = None;
    let mut seq = 0;
    while counter(&stats, STOP).load(Ordering::SeqCst) == 0 {
        match rng.below(4) {
            0 => {
                // Mapping churn: the last holder's close removes the name; a killed last
                // holder leaves a stale entry the next create or open reclaims.
                let name = format!("soak-map-{}", rng.below(MAPPINGS));
                match Mapping::create_or_open(name.as_str(), 1 << 16) {
                    Ok((m, _)) => {
                        let view = m.view().map().unwrap();
                        let at = rng.below((1 << 16) / 8) as usize * 8;
                        // The truncating attacker (Linux) may have shrunk the entry under
                        // the view: a copy then reports it, and the worker goes on.
                        match view
                            .write_at(at, &incarnation.to_le_bytes())
                            .and_then(|()| view.read_vec(at, 8))
                        {
                            Ok(_) => {
                                counter(&stats, MAPPING_OPS).fetch_add(1, Ordering::Relaxed);
                            }
                            // (Whether it says `truncated` depends on when the attacker
                            // gave the length back.)
                            Err(Error::PageFault { .. }) if cfg!(target_os = "linux") => {
                                counter(&stats, FAULTS).fetch_add(1, Ordering::Relaxed);
                            }
                            Err(e) => panic!("write or read {name}: {e}"),
                        }
                    }
                    // An entry the attacker has shrunk below what its header says.
                    Err(Error::Corrupt { problem, .. })
                        if cfg!(target_os = "linux") && problem.contains("does not fit") =>
                    {
                        counter(&stats, TRUNCATED_REFUSED).fetch_add(1, Ordering::Relaxed);
                    }
                    // Windows: a creator killed between creating the section and writing
                    // its header leaves a half-made object, which the next create call
                    // finishes (it holds the name's creation lock); counted, and required
                    // to stay at zero below (on Linux an entry gets its name only once
                    // complete).
                    Err(Error::Corrupt { problem, .. })
                        if cfg!(windows) && problem.contains("never written") =>
                    {
                        counter(&stats, HALF_MADE).fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) => panic!("create or open {name}: {e}"),
                }
            }
            1 => {
                let mut g = pair.lock().unwrap();
                if g.abandoned() {
                    counter(&stats, ABANDONED).fetch_add(1, Ordering::Relaxed);
                    if g[0] != g[1] {
                        g[1] = g[0];
                        counter(&stats, REPAIRED).fetch_add(1, Ordering::Relaxed);
                    }
                } else if g[0] != g[1] {
                    counter(&stats, VIOLATIONS).fetch_add(1, Ordering::Relaxed);
                }
                g[0] += 1;
                // Widen the window in which a kill breaks the invariant.
                for _ in 0..rng.below(20_000) {
                    std::hint::spin_loop();
                }
                g[1] += 1;
                drop(g);
                counter(&stats, MUTEX_OPS).fetch_add(1, Ordering::Relaxed);
            }
            _ => {
                if sender.is_none() {
                    match Sender::open(CHANNEL) {
                        Ok(tx) => sender = Some(tx),
                        Err(Error::EndpointTaken { .. }) => {}
                        Err(e) => panic!("open the sender: {e}"),
                    }
                }
                if let Some(tx) = sender.as_mut() {
                    for _ in 0..rng.below(50) {
                        let len = 16 + rng.below(2048) as usize;
                        match tx
                            .send_timeout(&message(incarnation, seq, len), Duration::from_secs(1))
                        {
                            Ok(()) => {
                                seq += 1;
                                counter(&stats, sent_at).store(seq, Ordering::SeqCst);
                            }
                            Err(Error::Timeout { .. }) => break,
                            Err(e) => panic!("send: {e}"),
                        }
                    }
                    // Give the other workers a turn at sending, sometimes.
                    if rng.below(3) == 0 {
                        sender = None;
                    }
                }
            }
        }
        counter(&stats, OPERATIONS).fetch_add(1, Ordering::Relaxed);
    }
}

/// Waiter `s` (of the event if `s < WAITERS_PER_OBJECT`, else of the semaphore): waits,
/// counts what it took, and waits again until told to stop, saying in its slot which wait
/// it is in. A wait that times out ends it (the supervisor fails the test on a waiter that
/// exits by itself; and no waiter outlives a supervisor that died).
fn waiter(s: usize) {
    let stats_mapping = Mapping::open(STATS).unwrap();
    let stats = stats_mapping.view().map().unwrap();
    let object = s / WAITERS_PER_OBJECT;
    let event = (object == 0).then(|| NamedEvent::open(EVENT).unwrap());
    let semaphore = (object == 1).then(|| NamedSemaphore::open(SEMAPHORE).unwrap());
    let slot = counter(&stats, waiter_slot(s));
    while counter(&stats, WAITERS_STOP).load(Ordering::SeqCst) == 0 {
        let number = counter(&stats, WAIT_NUMBERS).fetch_add(1, Ordering::SeqCst) + 1;
        slot.store(number, Ordering::SeqCst);
        let waited = match (&event, &semaphore) {
            (Some(e), _) => wait_as(s, e),
            (_, Some(sem)) => wait_as(s, sem),
            _ => unreachable!(),
        };
        match waited {
            Ok(()) => counter(&stats, TAKEN + 8 * object).fetch_add(1, Ordering::SeqCst),
            Err(Error::Timeout { .. }) => {
                eprintln!("waiter {s}: no wake in {} s", WAITER_PATIENCE.as_secs());
                std::process::exit(3);
            }
            Err(e) => panic!("waiter {s}: {e}"),
        };
        slot.store(0, Ordering::SeqCst);
    }
}

/// One wait of waiter `s` on `object`, in one of three ways (so each object has waiters of
/// every way): a blocking wait, an async one (a future under tokio), or `wait_any`.
fn wait_as(s: usize, object: &dyn Waitable) -> Result<(), Error> {
    match s % 3 {
        0 => match object.target() {
            Target::Event(e) => e.wait_timeout(WAITER_PATIENCE),
            Target::Semaphore(sem) => sem.acquire_timeout(WAITER_PATIENCE),
            _ => unreachable!(),
        },
        1 => {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .build()
                .unwrap();
            runtime.block_on(async {
                let wait = async {
                    match object.target() {
                        Target::Event(e) => e.wait_async().await,
                        Target::Semaphore(sem) => sem.acquire_async().await,
                        _ => unreachable!(),
                    }
                };
                match tokio::time::timeout(WAITER_PATIENCE, wait).await {
                    Ok(waited) => waited,
                    Err(_) => Err(Error::Timeout {
                        what: "an async wait".into(),
                        after: WAITER_PATIENCE,
                    }),
                }
            })
        }
        _ => filemap::wait_any(&[object], Some(WAITER_PATIENCE)).map(|_| ()),
    }
}

/// What the receiver saw: the next expected sequence number of each incarnation.
type Received = HashMap<u64, u64>;

fn receive(mut rx: Receiver, done: Arc<AtomicBool>) -> Received {
    let mut next: Received = HashMap::new();
    let mut buf = Vec::new();
    loop {
        let got = match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(slot) => {
                buf.clear();
                slot.append_to(&mut buf).unwrap();
                true
            }
            Err(Error::Timeout { .. } | Error::Disconnected { .. }) => false,
            Err(e) => panic!("receive: {e}"),
        };
        if got {
            assert!(buf.len() >= 16, "a message of {} bytes", buf.len());
            let incarnation = u64::from_le_bytes(buf[0..8].try_into().unwrap());
            let seq = u64::from_le_bytes(buf[8..16].try_into().unwrap());
            let expected = next.entry(incarnation).or_insert(0);
            assert_eq!(
                seq, *expected,
                "incarnation {incarnation}: message {seq} arrived, {expected} expected"
            );
            assert!(
                buf == message(incarnation, seq, buf.len()),
                "incarnation {incarnation}: message {seq} is damaged"
            );
            *expected += 1;
        } else if done.load(Ordering::SeqCst) {
            // Every worker has exited: what is left is in the ring already.
            match rx.try_recv() {
                Ok(Some(_)) => panic!("a message after the drain"),
                Ok(None) | Err(Error::Disconnected { .. }) => return next,
                Err(e) => panic!("receive: {e}"),
            }
        } else {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

/// Where a hung process is stuck, for the failure message: its system call and, if gdb is
/// installed, its threads' stacks.
fn where_is(pid: u32) -> String {
    if !cfg!(target_os = "linux") {
        return String::new();
    }
    let mut out = String::new();
    for file in ["wchan", "syscall", "stack"] {
        let text = std::fs::read_to_string(format!("/proc/{pid}/{file}")).unwrap_or_default();
        out += &format!("{file}: {}\n", text.trim());
    }
    // Waiting on a futex: who does the word (a mutex's owner thread id) name?
    let syscall = std::fs::read_to_string(format!("/proc/{pid}/syscall")).unwrap_or_default();
    let args: Vec<&str> = syscall.split_whitespace().collect();
    if args.first() == Some(&"202") && args.len() > 3 {
        let value = u64::from_str_radix(args[3].trim_start_matches("0x"), 16).unwrap_or(0);
        let owner = value & 0x3fff_ffff;
        let status = std::fs::read_to_string(format!("/proc/{owner}/status"))
            .map(|s| s.lines().take(3).collect::<Vec<_>>().join(", "))
            .unwrap_or_else(|e| format!("{e}"));
        out += &format!("futex word {value:#x}: owner thread {owner}: {status}\n");
    }
    if let Ok(gdb) = std::process::Command::new("gdb")
        .args([
            "-p",
            &pid.to_string(),
            "-batch",
            "-ex",
            "thread apply all bt",
        ])
        .output()
    {
        out += &String::from_utf8_lossy(&gdb.stdout);
    }
    out
}

/// Which of `pids` are still running (not yet reaped).
fn workers_alive(pids: &[u32]) -> Vec<u32> {
    pids.iter()
        .copied()
        .filter(|p| std::path::Path::new(&format!("/proc/{p}/syscall")).exists())
        .collect()
}

struct Worker {
    child: Child,
    incarnation: u64,
}

fn start_worker(w: usize, incarnation: u64, rng: &mut Rng) -> Worker {
    let seed = rng.next().to_string();
    let args = [w.to_string(), incarnation.to_string(), seed];
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    Worker {
        child: start("worker", &args),
        incarnation,
    }
}

fn start(role: &str, args: &[&str]) -> Child {
    child(role, args).spawn_retrying()
}

/// How many messages the worker in slot `w` recorded as sent, if the slot is its own
/// (a worker killed before it wrote its slot sent nothing).
fn recorded_sent(stats: &View, w: usize, incarnation: u64) -> u64 {
    let (incarnation_at, sent_at) = slot(w);
    if counter(stats, incarnation_at).load(Ordering::SeqCst) == incarnation {
        counter(stats, sent_at).load(Ordering::SeqCst)
    } else {
        0
    }
}

/// The waiter processes, killed and reaped if the rounds end early.
struct Waiters(Vec<Option<Child>>);

impl Waiters {
    fn start(&mut self, s: usize) {
        self.0[s] = Some(start("waiter", &[&s.to_string()]));
    }

    fn pid(&self, s: usize) -> u32 {
        self.0[s].as_ref().map_or(0, Child::id)
    }

    fn kill(&mut self, s: usize) {
        if let Some(mut c) = self.0[s].take() {
            c.kill().unwrap();
            c.wait().unwrap();
        }
    }
}

impl Drop for Waiters {
    fn drop(&mut self) {
        for s in 0..self.0.len() {
            if let Some(mut c) = self.0[s].take() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }
}

/// The wake rounds' thread, told to end and joined when the storm ends, by a panic too.
struct Rounds {
    quit: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<Result<WakeTotals, String>>>,
}

impl Rounds {
    fn finish(mut self) -> Result<WakeTotals, String> {
        self.quit.store(true, Ordering::SeqCst);
        let thread = self.thread.take().unwrap();
        thread.join().expect("the wake rounds thread")
    }
}

impl Drop for Rounds {
    fn drop(&mut self) {
        self.quit.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// What the wake rounds did.
#[derive(Default)]
struct WakeTotals {
    /// Event sets, semaphore releases.
    rounds: [u64; 2],
    /// Waiters killed right after a wake.
    kills: u64,
    /// Rounds settled by a take or by every earlier waiter moving on.
    settled: u64,
    /// Rounds with a kill settled by a take 20 ms or more after the wake (another waiter's
    /// re-check, typically, when the woken one died).
    slow_after_kill: u64,
    /// Rounds in which the signal or unit went but nobody recorded taking it: the killed
    /// waiter took it with it (Windows hands a signal to a waiter as it wakes it).
    taken_by_the_killed: u64,
    /// Rounds that ended with a unit left and no waiter of before the wake still waiting.
    left_over: u64,
    slowest: Duration,
}

/// Sets the event or releases the semaphore while at least two waiters wait, kills one of
/// them in the middle of the wake, and checks that the others do not sleep on while the
/// signal or unit is there; until `deadline`, or until a check fails (`Err`, with `failed`
/// set).
fn wake_rounds(
    deadline: Instant,
    seed: u64,
    failed: &AtomicBool,
    quit: &AtomicBool,
) -> Result<WakeTotals, String> {
    let stats_mapping = Mapping::open(STATS).unwrap();
    let stats = stats_mapping.view().map().unwrap();
    let event = NamedEvent::open(EVENT).unwrap();
    let semaphore = NamedSemaphore::open(SEMAPHORE).unwrap();
    let mut rng = Rng(seed | 1);
    let mut waiters = Waiters((0..WAITERS).map(|_| None).collect());
    for s in 0..WAITERS {
        waiters.start(s);
    }
    let slot = |s: usize| counter(&stats, waiter_slot(s)).load(Ordering::SeqCst);
    let mut totals = WakeTotals::default();
    let mut failure = None;
    while failure.is_none() && Instant::now() < deadline && !quit.load(Ordering::SeqCst) {
        for (s, c) in waiters.0.iter_mut().enumerate() {
            if let Some(status) = c.as_mut().and_then(|c| c.try_wait().unwrap()) {
                failure = Some(format!("waiter {s} exited by itself: {status}"));
            }
        }
        if failure.is_some() {
            break;
        }
        let object = rng.below(2) as usize;
        let group = object * WAITERS_PER_OBJECT..(object + 1) * WAITERS_PER_OBJECT;
        let waiting = || -> Vec<(usize, u64)> {
            group
                .clone()
                .map(|s| (s, slot(s)))
                .filter(|&(_, number)| number != 0)
                .collect()
        };
        // At least two waiters, in the same wait for a moment (asleep, usually).
        let before = waiting();
        std::thread::sleep(Duration::from_millis(1 + rng.below(20)));
        let mut survivors: Vec<(usize, u64)> = waiting()
            .into_iter()
            .filter(|w| before.contains(w))
            .collect();
        if survivors.len() < 2 {
            continue;
        }
        let taken_at = TAKEN + 8 * object;
        let taken_before = counter(&stats, taken_at).load(Ordering::SeqCst);
        let units = if object == 0 { 1 } else { 1 + rng.below(2) };
        if object == 0 {
            event.set().unwrap();
        } else {
            match semaphore.release(units as u32) {
                Ok(_) => {}
                // Units left from earlier rounds (their waiters were killed): let them go.
                Err(Error::SemaphoreFull { .. }) => continue,
                Err(e) => panic!("release: {e}"),
            }
        }
        let woken = Instant::now();
        totals.rounds[object] += 1;
        // Kill a waiter in the middle of the wake: mostly the one that waited longest (a
        // futex wake reaches the first sleeper first), sometimes another, sometimes none.
        let mut killed = None;
        if rng.below(4) != 0 {
            let i = if rng.below(3) != 0 {
                (0..survivors.len())
                    .min_by_key(|&i| survivors[i].1)
                    .unwrap()
            } else {
                rng.below(survivors.len() as u64) as usize
            };
            let (victim, _) = survivors.remove(i);
            if rng.below(4) == 0 {
                for _ in 0..rng.below(20_000) {
                    std::hint::spin_loop();
                }
            }
            waiters.kill(victim);
            counter(&stats, waiter_slot(victim)).store(0, Ordering::SeqCst);
            totals.kills += 1;
            killed = Some(victim);
        }
        // Settled once the signal or units are taken (only this thread gives them), once no
        // waiter of before the wake still waits in the same wait, or (Linux) once the
        // semaphore is empty.
        let take = || {
            if object == 0 {
                event.try_wait().unwrap()
            } else {
                semaphore.try_acquire().unwrap()
            }
        };
        let mut looked = false;
        let settled = loop {
            let taken = counter(&stats, taken_at).load(Ordering::SeqCst) - taken_before;
            if taken >= units
                || survivors.iter().all(|&(s, number)| slot(s) != number)
                || (object == 1 && semaphore.count() == Some(0))
            {
                break Some(true);
            }
            if woken.elapsed() > STRANDED_AFTER {
                break None;
            }
            // Windows hands a signal or unit to the waiter it wakes, so a waiter killed
            // after its wake often takes it with it: look early whether it is gone, and put
            // it back if it is not. (Not on Linux: putting it back is a new wake, which
            // would hide a lost one.)
            if cfg!(windows) && !looked && woken.elapsed() > EARLY_LOOK {
                looked = true;
                if !take() {
                    break Some(false);
                }
                if object == 0 {
                    event.set().unwrap();
                } else {
                    semaphore.release(1).unwrap();
                }
            }
            std::thread::sleep(Duration::from_millis(1));
        };
        let took = woken.elapsed();
        match settled {
            Some(true) => {
                totals.settled += 1;
                totals.slowest = totals.slowest.max(took);
                if killed.is_some() && took >= Duration::from_millis(20) {
                    totals.slow_after_kill += 1;
                }
            }
            Some(false) => totals.taken_by_the_killed += 1,
            None => {
                // Still there, with a waiter of before the wake asleep in the same wait?
                let stranded: Vec<(usize, u64)> = survivors
                    .iter()
                    .copied()
                    .filter(|&(s, number)| slot(s) == number)
                    .collect();
                let there = take();
                if there && !stranded.is_empty() {
                    let what = if object == 0 {
                        "the event stayed signalled"
                    } else {
                        "a semaphore unit stayed available"
                    };
                    let mut message = format!(
                        "lost wake-up: {what} {:.1} s after the wake while waiters \
                         {stranded:?} (waiter, wait number) slept on in the same wait \
                         (killed: waiter {killed:?})",
                        took.as_secs_f64()
                    );
                    for &(s, _) in &stranded {
                        message += &format!("\nwaiter {s}:\n{}", where_is(waiters.pid(s)));
                    }
                    failure = Some(message);
                } else if there {
                    totals.left_over += 1;
                } else {
                    totals.taken_by_the_killed += 1;
                }
            }
        }
        if let Some(victim) = killed {
            waiters.start(victim);
        }
    }
    if failure.is_some() {
        failed.store(true, Ordering::SeqCst);
    }

    // Stop the waiters: each set or release wakes one, which sees the stop and exits.
    counter(&stats, WAITERS_STOP).store(1, Ordering::SeqCst);
    let stop_deadline = Instant::now() + Duration::from_secs(30);
    while waiters.0.iter().any(Option::is_some) {
        event.set().unwrap();
        let _ = semaphore.release(1);
        for s in 0..WAITERS {
            if let Some(status) = waiters.0[s].as_mut().and_then(|c| c.try_wait().unwrap()) {
                waiters.0[s] = None;
                if !status.success() && failure.is_none() {
                    failure = Some(format!("waiter {s} failed: {status}"));
                }
            }
        }
        if Instant::now() > stop_deadline {
            let hung: Vec<String> = (0..WAITERS)
                .filter(|&s| waiters.0[s].is_some())
                .map(|s| format!("waiter {s}:\n{}", where_is(waiters.pid(s))))
                .collect();
            failure.get_or_insert(format!(
                "waiters still running 30 s after stop:\n{}",
                hung.join("\n")
            ));
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    match failure {
        Some(f) => {
            failed.store(true, Ordering::SeqCst);
            Err(f)
        }
        None => Ok(totals),
    }
}

fn crash_storm() {
    let ns = Namespace::new();
    let secs = common::soak_secs(20, 10);
    let seed = std::env::var("FILEMAP_SOAK_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    println!(
        "    soak: {secs} s, seed {seed} (FILEMAP_SOAK_SEED={seed} repeats the supervisor's choices)"
    );
    let mut rng = Rng(seed | 1);

    let stats_mapping = Mapping::create_new(STATS, 4096).unwrap();
    let stats = stats_mapping.view().map().unwrap();
    let pair = SharedMutex::<[u64; 2]>::create_new(PAIR, [0, 0]).unwrap();
    let rx = Receiver::create_or_open(CHANNEL, 1 << 16).unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let receiver = {
        let done = done.clone();
        std::thread::spawn(move || receive(rx, done))
    };
    let event = NamedEvent::create_new(EVENT, EventReset::Auto, false).unwrap();
    let semaphore = NamedSemaphore::create_new(SEMAPHORE, 0, 64).unwrap();
    let deadline = Instant::now() + Duration::from_secs(secs);
    let wake_failed = Arc::new(AtomicBool::new(false));
    let rounds = {
        let failed = wake_failed.clone();
        let quit = Arc::new(AtomicBool::new(false));
        let seed = rng.next();
        Rounds {
            quit: quit.clone(),
            thread: Some(std::thread::spawn(move || {
                wake_rounds(deadline, seed, &failed, &quit)
            })),
        }
    };

    #[cfg(target_os = "linux")]
    let attacker = {
        let seed = rng.next();
        let dir = ns.path().to_path_buf();
        let stop = wake_failed.clone();
        std::thread::spawn(move || truncate_mappings(&dir, deadline, seed, &stop))
    };
    let mut next_incarnation = 1;
    let mut workers: Vec<Worker> = (0..WORKERS)
        .map(|w| {
            next_incarnation += 1;
            start_worker(w, next_incarnation - 1, &mut rng)
        })
        .collect();
    // Messages each incarnation recorded as sent, and whether it was killed.
    let mut sent: HashMap<u64, (u64, bool)> = HashMap::new();
    let mut kills = 0u64;
    while Instant::now() < deadline && !wake_failed.load(Ordering::SeqCst) {
        let pause = if cfg!(windows) {
            100 + rng.below(300)
        } else {
            10 + rng.below(140)
        };
        std::thread::sleep(Duration::from_millis(pause));
        for w in &mut workers {
            if let Some(status) = w.child.try_wait().unwrap() {
                panic!("worker {} exited by itself: {status}", w.incarnation);
            }
        }
        let w = rng.below(WORKERS as u64) as usize;
        let victim = &mut workers[w];
        victim.child.kill().unwrap();
        victim.child.wait().unwrap();
        kills += 1;
        sent.insert(
            victim.incarnation,
            (recorded_sent(&stats, w, victim.incarnation), true),
        );
        next_incarnation += 1;
        workers[w] = start_worker(w, next_incarnation - 1, &mut rng);
    }

    // Stop: every worker must finish its operation and exit cleanly, quickly.
    counter(&stats, STOP).store(1, Ordering::SeqCst);
    let stop_deadline = Instant::now() + Duration::from_secs(30);
    let pids: Vec<u32> = workers.iter().map(|w| w.child.id()).collect();
    for (w, worker) in workers.iter_mut().enumerate() {
        loop {
            if let Some(status) = worker.child.try_wait().unwrap() {
                assert!(
                    status.success(),
                    "worker {} failed: {status}",
                    worker.incarnation
                );
                break;
            }
            if Instant::now() > stop_deadline {
                let state = where_is(worker.child.id());
                for other in &workers_alive(&pids) {
                    eprintln!("worker process {other} still alive:\n{}", where_is(*other));
                }
                let _ = worker.child.kill();
                panic!(
                    "worker {} hung: still running 30 s after stop\n{state}",
                    worker.incarnation
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        sent.insert(
            worker.incarnation,
            (recorded_sent(&stats, w, worker.incarnation), false),
        );
    }
    done.store(true, Ordering::SeqCst);
    let received = receiver.join().expect("the receiver thread");
    let wakes = match rounds.finish() {
        Ok(totals) => totals,
        Err(failure) => panic!("{failure}"),
    };

    // Every committed message arrived exactly once (sequence numbers were checked in
    // order on arrival); a killed worker may have committed one it did not record.
    let mut messages = 0;
    for (incarnation, &(recorded, killed)) in &sent {
        let got = received.get(incarnation).copied().unwrap_or(0);
        messages += got;
        let ok = if killed {
            got == recorded || got == recorded + 1
        } else {
            got == recorded
        };
        assert!(
            ok,
            "incarnation {incarnation} (killed: {killed}) recorded {recorded} sent, {got} arrived"
        );
    }
    for incarnation in received.keys() {
        assert!(
            sent.contains_key(incarnation),
            "messages from unknown incarnation {incarnation}"
        );
    }

    // The invariant holds now (repaired if the last holder was killed holding it).
    {
        let mut g = pair.lock().unwrap();
        if g.abandoned() {
            counter(&stats, ABANDONED).fetch_add(1, Ordering::Relaxed);
            if g[0] != g[1] {
                g[1] = g[0];
                counter(&stats, REPAIRED).fetch_add(1, Ordering::Relaxed);
            }
        }
        assert_eq!(g[0], g[1]);
    }
    let get = |at| counter(&stats, at).load(Ordering::SeqCst);
    assert_eq!(
        get(VIOLATIONS),
        0,
        "the invariant was broken under a mutex not abandoned"
    );
    println!(
        "    soak: {} operations ({} mapping, {} mutex), {kills} kills, {} abandoned locks \
         recovered ({} with a broken invariant, repaired), {messages} messages from {} \
         senders checked, {} half-made objects refused",
        get(OPERATIONS),
        get(MAPPING_OPS),
        get(MUTEX_OPS),
        get(ABANDONED),
        get(REPAIRED),
        sent.len(),
        get(HALF_MADE),
    );
    assert_eq!(
        get(HALF_MADE),
        0,
        "a create call met a half-made object it did not finish"
    );
    #[cfg(target_os = "linux")]
    println!(
        "    soak: {} mapping truncations; {} view copies met a truncated entry (PageFault), \
         {} opens refused one as corrupt",
        attacker.join().expect("the attacker panicked"),
        get(FAULTS),
        get(TRUNCATED_REFUSED),
    );
    println!(
        "    soak: {} event sets and {} semaphore releases with 2 or more waiters, {} waiters \
         killed in the middle of a wake; {} settled by a take (slowest {} ms; {} after a kill \
         took 20 ms or more), {} taken away by the killed waiter, {} left over",
        wakes.rounds[0],
        wakes.rounds[1],
        wakes.kills,
        wakes.settled,
        wakes.slowest.as_millis(),
        wakes.slow_after_kill,
        wakes.taken_by_the_killed,
        wakes.left_over,
    );
    assert!(kills > 0 && get(OPERATIONS) > 0 && messages > 0);
    assert!(wakes.rounds[0] > 0 && wakes.rounds[1] > 0 && wakes.kills > 0);

    drop((stats, stats_mapping, pair, event, semaphore));
    filemap::namespace::collect_garbage(false).unwrap();
    ns.assert_empty();
    for m in 0..MAPPINGS {
        let name = format!("soak-map-{m}");
        assert!(
            matches!(Mapping::open(name.as_str()), Err(Error::NotFound { .. })),
            "{name} is left"
        );
    }
}

/// The truncating attacker (Linux): until `deadline`, shrinks a random worker mapping's
/// entry to its header and one page, then gives it its length back a moment later, as a
/// hostile process with write access could. Returns how many times it truncated.
#[cfg(target_os = "linux")]
fn truncate_mappings(
    dir: &std::path::Path,
    deadline: Instant,
    seed: u64,
    stop: &AtomicBool,
) -> u64 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let uid = unsafe { libc::geteuid() }; // names this process's Local entries
    let mut rng = Rng(seed | 1);
    let mut truncations = 0;
    while Instant::now() < deadline && !stop.load(Ordering::SeqCst) {
        let path = dir.join(format!("filemap.u{uid}.soak-map-{}", rng.below(MAPPINGS)));
        if let Ok(file) = std::fs::OpenOptions::new().write(true).open(&path) {
            let full = file.metadata().map(|m| m.len()).unwrap_or(0);
            if full > 8192 && file.set_len(8192).is_ok() {
                truncations += 1;
                std::thread::sleep(Duration::from_millis(1 + rng.below(5)));
                let _ = file.set_len(full);
            }
        }
        std::thread::sleep(Duration::from_millis(1 + rng.below(4)));
    }
    truncations
}
