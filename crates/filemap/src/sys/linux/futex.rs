//! The single-word futex calls of the Linux waiters (shared, never `FUTEX_PRIVATE_FLAG`:
//! the waiters are in other processes), and how long a waiter sleeps before it checks its
//! object again. (`futex_waitv` over many words is in `waits.rs` and `waiter.rs`.)

use std::sync::atomic::AtomicU32;
use std::time::Duration;

use rustix::thread::futex;

/// The longest a waiter (mutex, event or semaphore) sleeps in the kernel before checking
/// the object again.
pub(crate) const RECHECK_INTERVAL: Duration = Duration::from_millis(100);

/// Sleeps while `word` holds `expected`, at most `remaining`; whether the time ran out.
/// (Other returns, a wake, a changed word, a signal, are for the caller's loop to sort out.)
pub(crate) fn futex_wait(word: &AtomicU32, expected: u32, remaining: Option<Duration>) -> bool {
    let ts = remaining.map(|d| rustix::fs::Timespec {
        tv_sec: d.as_secs() as _,
        tv_nsec: d.subsec_nanos() as _,
    });
    matches!(
        futex::wait(word, futex::Flags::empty(), expected, ts.as_ref()),
        Err(rustix::io::Errno::TIMEDOUT)
    )
}

/// Wakes up to `count` waiters sleeping on `word`.
pub(crate) fn futex_wake(word: &AtomicU32, count: u32) {
    // (The kernel reads the count as a signed int: one past i32::MAX would wake one.)
    let _ = futex::wake(word, futex::Flags::empty(), count.min(i32::MAX as u32));
}

/// Wakes one waiter sleeping on `word`: whether there was one (asleep in the kernel, so
/// alive).
pub(crate) fn futex_wake_one(word: &AtomicU32) -> bool {
    futex::wake(word, futex::Flags::empty(), 1).is_ok_and(|woken| woken > 0)
}
