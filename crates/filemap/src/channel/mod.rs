//! A zero-copy message channel between processes: variable-length messages in a ring
//! buffer in a named entry of the one namespace, one [`Sender`] and one [`Receiver`] at a
//! time, opened by name from any process, in either order.
//!
//! ```
//! # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
//! use filemap::channel::{Receiver, Sender};
//!
//! let mut tx = Sender::create_or_open("events", 1 << 20)?; // capacity in bytes
//! let mut rx = Receiver::create_or_open("events", 1 << 20)?; // usually another process
//!
//! // Write the message into the ring, then publish it.
//! let mut slot = tx.reserve(5)?;
//! slot.copy_from_slice(b"hello")?;
//! slot.commit();
//! tx.send(b"world")?; // the same in one call
//!
//! // The received slot borrows the ring until dropped; copy out what you need.
//! assert_eq!(rx.recv()?.to_vec()?, b"hello");
//! let mut buf = Vec::new();
//! rx.recv_into(&mut buf)?;
//! assert_eq!(buf, b"world");
//! # Ok::<(), filemap::Error>(())
//! ```
//!
//! Waiting spins briefly, then sleeps in the kernel (a futex on Linux, a named event on
//! Windows); a send or receive makes no system call when the peer is not asleep.
//! [`WaitMode::BusyPoll`] never sleeps, for the lowest latency.
//!
//! The death of the peer is noticed without polling process ids: each endpoint holds a
//! lock that the kernel releases when its process dies, and a waiting endpoint tests it
//! whenever its timed sleep (at most 50 ms) ends. A blocked `recv` returns every message
//! committed before the sender died, then [`Error::Disconnected`]; a blocked send to a dead
//! receiver returns `Disconnected` likewise. A new endpoint can take the place of a dead
//! one. Nothing committed is lost, and no message is handed out twice: a message a
//! receiver was given is not given again to the receiver that replaces it, even if the
//! first died holding it (unless the receiver left it in the channel on purpose,
//! [`RecvSlot::leave`]).
//!
//! An endpoint belongs to the process that opened it. A child made by `fork` without
//! `exec` (as Python's `multiprocessing` makes its workers with its fork start method, the
//! default on Linux before Python 3.14) gets [`Error::Unsupported`] from every call on its
//! copy that sends, receives or waits, and from the copies out of a message its parent
//! held; dropping the copy (or a slot) changes nothing its parent sees, and
//! `set_wait_mode` changes the copy alone. Getters of what the endpoint keeps answer. The
//! child opens endpoints of its own. Its copies hold nothing of the parent's endpoint
//! locks, so the role is free, and the peers are told, once the parent closes or dies,
//! whatever children it made with the C library's `fork`. The same holds for the
//! endpoints of topics, inboxes and services.
//!
//! Soundness: a message is written into the ring once and read from it once, with no
//! copy in between. The ownership protocol of the ring module decides who may touch which
//! bytes: the sender owns the free part of the ring and publishes a frame by a release
//! store of the frame's commit tag, the receiver owns the committed part until it releases
//! it, and the endpoint locks make sure there is only one of each. Whatever bytes the
//! messages carry, they never pass for a commit. The slots copy through a routine that is
//! sound whatever another process writes meanwhile, so a process that writes the channel's
//! memory without following the protocol (it needs write access to the entry) can garble
//! messages but cannot cause undefined behaviour; filemap reports a corrupt ring as
//! [`Error::Corrupt`]. Reading or writing a slot in place, as a Rust slice, is `unsafe`
//! ([`RecvSlot::as_slice`], [`SendSlot::as_mut_slice`]): it is sound only when every
//! process that can write the channel is trusted to follow the protocol.

pub(crate) mod ring;

/// How the ring module reaches shared memory: atomics laid over the mapped bytes.
/// (tests/loom_ring.rs compiles ring.rs beside its own `shared`, over loom's atomics.)
pub(crate) mod shared {
    pub(crate) use crate::copy::prefetch;
    pub(crate) use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

    /// The 8-byte word at `offset` of the data area at `base`.
    ///
    /// # Safety
    /// `base + offset` must be 8-aligned and inside a mapping that outlives `'a`.
    #[inline]
    pub(crate) unsafe fn u64_at<'a>(base: *mut u8, offset: usize) -> &'a AtomicU64 {
        // SAFETY: the caller's contract; AtomicU64 has the layout of a u64.
        unsafe { &*base.add(offset).cast::<AtomicU64>() }
    }

    /// The 4-byte word at `offset` of the data area at `base`.
    ///
    /// # Safety
    /// `base + offset` must be 4-aligned and inside a mapping that outlives `'a`.
    #[inline]
    pub(crate) unsafe fn u32_at<'a>(base: *mut u8, offset: usize) -> &'a AtomicU32 {
        // SAFETY: the caller's contract; AtomicU32 has the layout of a u32.
        unsafe { &*base.add(offset).cast::<AtomicU32>() }
    }
}

pub(crate) mod endpoint;
mod holding;
mod mending;
mod receiver;
mod sender;

pub use holding::HoldingReceiver;
pub(crate) use mending::{Mending, connect_mending};
pub(crate) use receiver::{AtPosition, ReadyFrame, Waited};
pub use receiver::{Receiver, RecvSlot};
pub use sender::{SendSlot, Sender};

use std::time::Duration;

use crate::error::{Error, Result};

/// How a blocked endpoint waits. More modes may come (a `match` on it needs a wildcard
/// arm).
///
/// ```
/// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
/// use filemap::channel::{Receiver, WaitMode};
/// let mut rx = Receiver::create_or_open("wait-mode-demo", 4096)?;
/// rx.set_wait_mode(WaitMode::BusyPoll); // lowest latency, one busy core while waiting
/// assert!(rx.try_recv()?.is_none());
/// # Ok::<(), filemap::Error>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum WaitMode {
    /// Spin briefly, then sleep in the kernel (the default): low CPU use. An async
    /// future does not spin: it sleeps at once, leaving the executor's thread to its other
    /// tasks (and a message that comes costs a wake-up).
    #[default]
    Blocking,
    /// As `Blocking`, and an async future spins too: for up to 50 µs it asks the executor
    /// to poll it again at once (its other tasks run in between), then sleeps. A message
    /// that comes within that time, as a reply in a ping-pong does, costs no wake-up; each
    /// wait may cost up to 50 µs of a busy thread.
    Spin,
    /// Spin until the peer acts: the lowest latency, one busy core while waiting. The
    /// peer wakes a busy-polling end without a fence, and so, for a message committed just
    /// as the end leaves this mode (or a new endpoint takes over from one that used it),
    /// may not see that it has begun to sleep: that message then waits for the end's next
    /// look, at most 50 ms.
    BusyPoll,
}

/// How often a sleeping endpoint wakes up to check that its peer is alive.
pub(crate) const LIVENESS_INTERVAL: Duration = Duration::from_millis(50);
/// Spins before sleeping, in blocking mode.
pub(crate) const SPINS: u32 = 2000;
/// Messages at least this long are marked as being written when their slot is reserved
/// (`Ring::mark_writing`), so that a waiting receiver spins through their copy instead of
/// going to sleep in the middle of it and paying a wake-up at the end. Shorter copies end
/// within the spin anyway.
pub(crate) const WRITING_MARK_MIN: usize = 64 * 1024;
/// How long, at most, one wait spins on past `SPINS` for a message marked as being
/// written; then it sleeps as usual. (A mark is a hint another process could leave
/// standing: this bounds what that costs.)
pub(crate) const WRITING_SPIN_MAX: Duration = Duration::from_millis(20);
/// Spins after which a blocking waiter yields its core between rounds of spinning.
pub(crate) const YIELD_AFTER: u32 = 512;
/// Polls `recv` makes inline before it takes the general waiting path (they count towards
/// `SPINS`). A reply in a ping-pong arrives within a few polls (the `pause` between two
/// polls takes about 25 ns on the AMD EPYC that docs/benchmarks.md was measured on), and
/// the general path costs a few tens of instructions more to leave.
pub(crate) const FAST_SPINS: u32 = 64;

pub(crate) const SENDER_LOCK: u8 = 0;
pub(crate) const RECEIVER_LOCK: u8 = 1;

/// When something done at most once per liveness interval (a look at whether a peer is
/// gone, which may cost a system call) was last done, by the coarse clock
/// (`sys::coarse_millis`: a precise reading would cost more than a `try_` call that finds
/// nothing): [`due`](LivenessTimer::due) says whether it is due again.
#[derive(Debug, Default)]
pub(crate) struct LivenessTimer(std::sync::atomic::AtomicU64);

impl LivenessTimer {
    /// Whether it is due now: the first time, then once per liveness interval (give or
    /// take a tick of the coarse clock); if so, counted as done now.
    pub(crate) fn due(&self) -> bool {
        use std::sync::atomic::Ordering;
        // Milliseconds plus one: 0 is "never".
        let now = crate::sys::coarse_millis().wrapping_add(1);
        let last = self.0.load(Ordering::Relaxed);
        let due = last == 0 || now.wrapping_sub(last) >= LIVENESS_INTERVAL.as_millis() as u64;
        if due {
            self.0.store(now, Ordering::Relaxed);
        }
        due
    }
}

/// Why a slot's `copy_from_slice` refuses a message (`Error::InvalidSize`): not the
/// slot's length.
pub(crate) const COPY_LENGTH: &str = "a message for copy_from_slice must be exactly the slot's length (write_at writes part of a slot)";

/// Checks that `len` bytes at `offset` fit in a message of `size` bytes.
pub(crate) fn check_slot_range(offset: usize, len: usize, size: usize) -> Result<()> {
    match offset.checked_add(len) {
        Some(end) if end <= size => Ok(()),
        _ => Err(Error::OutOfRange {
            offset: offset as u64,
            len: len as u64,
            size: size as u64,
        }),
    }
}

/// The length of a message made of `parts` (saturating: a length no ring takes is refused
/// by the reserve as too large).
pub(crate) fn total_len(parts: &[&[u8]]) -> usize {
    parts.iter().fold(0usize, |n, p| n.saturating_add(p.len()))
}

/// Writes `parts` one after the other from offset 0 with `write_at` (a reserved slot's).
pub(crate) fn write_parts(
    parts: &[&[u8]],
    mut write_at: impl FnMut(usize, &[u8]) -> Result<()>,
) -> Result<()> {
    let mut at = 0;
    for part in parts {
        write_at(at, part)?;
        at += part.len();
    }
    Ok(())
}
