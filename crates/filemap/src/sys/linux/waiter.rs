//! The process's waiter threads, which sleep for the async waits (`crate::wait::future`):
//! each sleeps in one `futex_waitv` over the words of up to [`PER_THREAD`] pending
//! futures plus a private word of its own, and wakes a future's waker when its word
//! changes. A new thread starts when every thread has its fill; none ever ends (they are
//! few, and asleep when idle).
//!
//! - A future readies its sleep first (it counts itself where the object's waker looks and
//!   notes its word's value, `waits::arm`), looks at the object again, and only then
//!   registers here. The thread's `futex_waitv` compares every word with the value noted:
//!   a waker that changed the object after the future's look changed its word, so the
//!   kernel returns at once (`EAGAIN`) or the wake reaches the thread. No wake-up is lost.
//! - A registration changes the thread's private word and wakes it, so that it sleeps
//!   again over the new set. Every [`TICK`] the thread wakes every future anyway: a future
//!   looks again then, to find a dead mutex owner or peer, as a blocking waiter does.
//! - The thread never reads the words itself, only hands their addresses to the kernel:
//!   a future that was leaked (so never deregistered) cannot make it touch memory that is
//!   gone. The kernel says which word woke it; after `EAGAIN` (some word had changed
//!   already) it asks the kernel about each word alone, with a deadline already past.
//! - A future dropped after its wake and before it took what it was woken for passes the
//!   wake on (`FUTEX_WAKE` of one sleeper), so that it takes no wake-up from another
//!   waiter of the object.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::task::Waker;
use std::time::Duration;

use rustix::thread::futex;

use super::waits::WaitTarget;

/// The most futures one thread sleeps for (`futex_waitv` takes 128 words; one is the
/// thread's own).
const PER_THREAD: usize = 127;

/// How often the threads wake every future to look again.
const TICK: Duration = Duration::from_millis(100);

/// One pending future as its thread sees it.
struct Entry {
    id: u64,
    target: WaitTarget,
    waker: Waker,
    fired: Arc<AtomicBool>,
}

/// One waiter thread's futures, and its private word (changed on every registration).
struct Shard {
    entries: Mutex<Vec<Entry>>,
    control: AtomicU32,
}

impl Shard {
    fn lock(&self) -> MutexGuard<'_, Vec<Entry>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The threads' shards: made once, never freed (the threads use them for good).
fn shards() -> &'static Mutex<Vec<&'static Shard>> {
    static SHARDS: OnceLock<Mutex<Vec<&'static Shard>>> = OnceLock::new();
    SHARDS.get_or_init(|| Mutex::new(Vec::new()))
}

/// A future's place with a waiter thread: removed when dropped.
#[derive(Debug)]
pub(crate) struct Registration {
    shard: &'static Shard,
    id: u64,
    target: WaitTarget,
    fired: Arc<AtomicBool>,
    /// Set when the future took what it waited for (no wake-up to pass on).
    done: bool,
}

impl std::fmt::Debug for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Shard")
    }
}

/// Registers a readied sleep: `waker` is woken once the target's word changes (or at the
/// next tick).
///
/// # Safety
/// The registration must not outlive the object the target was readied on: its drop may
/// wake a sleeper on the target's word, which must still be mapped then (a future that
/// borrows the object and owns the registration guarantees it).
pub(crate) unsafe fn register(target: WaitTarget, waker: &Waker) -> std::io::Result<Registration> {
    static NEXT_ID: AtomicU64 = AtomicU64::new(1);
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    let fired = Arc::new(AtomicBool::new(false));
    let entry = Entry {
        id,
        target,
        waker: waker.clone(),
        fired: fired.clone(),
    };
    let shard = place(entry)?;
    // Tell the thread to sleep again over the new set.
    shard.control.fetch_add(1, Ordering::Release);
    let _ = futex::wake(&shard.control, futex::Flags::PRIVATE, 1);
    Ok(Registration {
        shard,
        id,
        target,
        fired,
        done: false,
    })
}

/// Puts the entry with a thread that has room, starting one if none has.
fn place(entry: Entry) -> std::io::Result<&'static Shard> {
    let mut all = shards().lock().unwrap_or_else(|p| p.into_inner());
    for shard in all.iter() {
        let mut entries = shard.lock();
        if entries.len() < PER_THREAD {
            entries.push(entry);
            return Ok(shard);
        }
    }
    let shard: &'static Shard = Box::leak(Box::new(Shard {
        entries: Mutex::new(vec![entry]),
        control: AtomicU32::new(0),
    }));
    std::thread::Builder::new()
        .name("filemap-waiter".into())
        .spawn(move || run(shard))?;
    all.push(shard);
    Ok(shard)
}

impl Registration {
    /// Whether the thread woke the future for this registration (its word changed, or a
    /// tick passed): the future looks again and registers afresh.
    pub(crate) fn fired(&self) -> bool {
        self.fired.load(Ordering::Acquire)
    }

    /// Replaces the waker, if the future is now polled with another.
    pub(crate) fn set_waker(&self, waker: &Waker) {
        let mut entries = self.shard.lock();
        if let Some(entry) = entries.iter_mut().find(|e| e.id == self.id) {
            if !entry.waker.will_wake(waker) {
                entry.waker = waker.clone();
            }
        }
    }

    /// Ends the registration once the future took what it waited for.
    pub(crate) fn complete(mut self) {
        self.done = true;
    }

    /// What the thread took for the future: nothing on Linux (the future takes it).
    pub(crate) fn claim(&self) -> Option<crate::sys::Took> {
        None
    }

    /// Whether the thread found a mutex abandoned: never on Linux (the future finds it).
    pub(crate) fn abandoned(&self) -> bool {
        false
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.shard.lock().retain(|e| e.id != self.id);
        if self.fired() && !self.done {
            // The future was woken and is going away without taking what woke it: pass
            // the wake on to another sleeper of the object.
            // SAFETY: `register`'s contract: the object, and so its word, is still mapped.
            let word = unsafe { self.target.word() };
            let _ = futex::wake(word, futex::Flags::empty(), 1);
        }
    }
}

/// A waiter thread: sleeps over its shard's words until one changes, wakes that future.
fn run(shard: &'static Shard) {
    let mut waits: Vec<futex::Wait> = Vec::with_capacity(PER_THREAD + 1);
    let mut ids: Vec<u64> = Vec::with_capacity(PER_THREAD);
    loop {
        waits.clear();
        ids.clear();
        let control = shard.control.load(Ordering::Acquire);
        {
            let entries = shard.lock();
            waits.push(wait_for(&shard.control, control, futex::WaitFlags::PRIVATE));
            for entry in entries.iter() {
                let (word, expected) = entry.target.parts();
                waits.push(wait_for(word, expected, futex::WaitFlags::empty()));
                ids.push(entry.id);
            }
        }
        let deadline = super::waits::deadline_in(TICK);
        let result = futex::waitv(
            &waits,
            futex::WaitvFlags::empty(),
            Some(&deadline),
            rustix::time::ClockId::Monotonic,
        );
        let changed: Vec<u64> = match result {
            // The thread's own word: the set changed.
            Ok(0) => continue,
            Ok(i) => vec![ids[i - 1]],
            Err(rustix::io::Errno::TIMEDOUT) => ids.clone(),
            // The thread's own word changed (a registration came): sleep again over the
            // new set (a future's word that changed too is found then).
            Err(rustix::io::Errno::AGAIN) if shard.control.load(Ordering::Acquire) != control => {
                continue
            }
            // Some future's word had changed already: which ones?
            Err(rustix::io::Errno::AGAIN) => ids
                .iter()
                .zip(&waits[1..])
                .filter(|(_, w)| changed_now(w))
                .map(|(id, _)| *id)
                .collect(),
            Err(rustix::io::Errno::INTR) => continue,
            // A kernel older than 5.16: look every millisecond instead.
            Err(rustix::io::Errno::NOSYS) => {
                std::thread::sleep(Duration::from_millis(1));
                ids.clone()
            }
            // EFAULT (a word no longer mapped: a leaked future's) or worse: wake all, and
            // each registers afresh.
            Err(_) => ids.clone(),
        };
        fire(shard, &changed);
    }
}

/// Wakes and removes the futures with these ids.
fn fire(shard: &Shard, ids: &[u64]) {
    let mut woken = Vec::new();
    {
        let mut entries = shard.lock();
        entries.retain(|e| {
            if ids.contains(&e.id) {
                e.fired.store(true, Ordering::Release);
                woken.push(e.waker.clone());
                false
            } else {
                true
            }
        });
    }
    for waker in woken {
        waker.wake();
    }
}

fn wait_for(word: *const AtomicU32, expected: u32, flags: futex::WaitFlags) -> futex::Wait {
    let mut wait = futex::Wait::new();
    wait.val = u64::from(expected);
    wait.uaddr = futex::WaitPtr::new(word.cast_mut().cast());
    wait.flags = futex::WaitFlags::SIZE_U32 | flags;
    wait
}

/// Whether the word of `wait` no longer holds its value, asked of the kernel (a
/// `futex_waitv` on it alone whose deadline has passed: `EAGAIN` if it changed).
fn changed_now(wait: &futex::Wait) -> bool {
    let past = rustix::time::Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    !matches!(
        futex::waitv(
            std::slice::from_ref(wait),
            futex::WaitvFlags::empty(),
            Some(&past),
            rustix::time::ClockId::Monotonic,
        ),
        Err(rustix::io::Errno::TIMEDOUT)
    )
}
