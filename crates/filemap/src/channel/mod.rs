//! A zero-copy message channel between processes: variable-length messages in a ring
//! buffer in a named entry of the one namespace, one [`Sender`] and one [`Receiver`] at a
//! time, opened by name from any process, in either order.
//!
//! ```
//! # let _dir = filemap::doctest_dir();
//! use filemap::channel::{Receiver, Sender};
//!
//! let mut tx = Sender::create_or_open("events", 1 << 20)?; // capacity in bytes
//! let mut rx = Receiver::create_or_open("events", 1 << 20)?; // usually another process
//!
//! // Write the message into the ring, then publish it.
//! let mut slot = tx.reserve(5)?;
//! slot.copy_from_slice(b"hello");
//! slot.commit();
//! tx.send(b"world")?; // the same in one call
//!
//! // The received slot borrows the ring until dropped; copy out what you need.
//! assert_eq!(rx.recv()?.to_vec(), b"hello");
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
//! first died holding it.
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

mod ring;

/// How the ring module reaches shared memory: atomics laid over the mapped bytes.
/// (tests/loom_ring.rs compiles ring.rs beside its own `shared`, over loom's atomics.)
mod shared {
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

use std::time::{Duration, Instant};

use ring::{Next, Ring};
use std::sync::atomic::Ordering;

use crate::copy::{copy_from_shared, copy_racy, copy_to_shared};
use crate::error::{Error, Result};
use crate::header::Layout;
use crate::name::{IntoName, Name};
use crate::sync::ObjectOptions;
use crate::sys::{self, CreateMode};
use crate::vocabulary::{Kind, Side};

/// How a blocked endpoint waits.
///
/// ```
/// # let _dir = filemap::doctest_dir();
/// use filemap::channel::{Receiver, WaitMode};
/// let mut rx = Receiver::create_or_open("wait-mode-demo", 4096)?;
/// rx.set_wait_mode(WaitMode::BusyPoll); // lowest latency, one busy core while waiting
/// assert!(rx.try_recv()?.is_none());
/// # Ok::<(), filemap::Error>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum WaitMode {
    /// Spin briefly, then sleep in the kernel (the default): low CPU use.
    #[default]
    Blocking,
    /// Spin until the peer acts: the lowest latency, one busy core while waiting.
    BusyPoll,
}

/// How often a sleeping endpoint wakes up to check that its peer is alive.
const LIVENESS_INTERVAL: Duration = Duration::from_millis(50);
/// Spins before sleeping, in blocking mode.
const SPINS: u32 = 2000;
/// Polls `recv` makes inline before it takes the general waiting path (they count towards
/// `SPINS`). A reply in a ping-pong arrives within a few polls (the `pause` between two
/// polls takes about 25 ns on the AMD EPYC that docs/benchmarks.md was measured on), and
/// the general path costs a few tens of instructions more to leave.
const FAST_SPINS: u32 = 64;

const SENDER_LOCK: u8 = 0;
const RECEIVER_LOCK: u8 = 1;

/// The shared part of both endpoints: the mapped entry, the ring, the name.
#[derive(Debug)]
struct Endpoint {
    name: Name,
    memory: sys::ChannelMemory,
    ring: Ring,
    _lock: sys::EndpointLock,
    mode: WaitMode,
}

fn round_capacity(capacity: u64) -> Result<u64> {
    if capacity == 0 || capacity > 1 << 40 {
        return Err(Error::InvalidSize {
            size: capacity,
            problem: "a channel's capacity is 1 byte to 1 TiB",
        });
    }
    Ok(capacity.max(4096).next_power_of_two())
}

impl Endpoint {
    fn open(
        name: Name,
        capacity: Option<u64>,
        options: &ObjectOptions,
        side: Side,
    ) -> Result<Endpoint> {
        let memory = match capacity {
            Some(capacity) => {
                let capacity = round_capacity(capacity)?;
                let mut header = options.header(Kind::Channel, 0, Layout::default())?;
                header.size = ring::RING_OFFSET as u64 + capacity;
                let init = |base: *mut u8| {
                    // SAFETY: the data area is RING_OFFSET + capacity fresh bytes of an entry
                    // nobody else can see yet.
                    unsafe { ring::init(base, capacity) };
                    Ok(())
                };
                let (memory, header, _) =
                    sys::create_sync(&name, &header, CreateMode::OrOpen, &init)?;
                crate::sync::check_kind(&name, &header, Kind::Channel)?;
                memory
            }
            None => {
                let (memory, header) = sys::open_sync(&name)?;
                crate::sync::check_kind(&name, &header, Kind::Channel)?;
                memory
            }
        };
        // SAFETY: the data area is mapped for as long as `memory` lives, and `ring` is
        // kept beside it; its length is the header's size, checked by `new`.
        let ring = unsafe { Ring::new(memory.base(), memory.len()) }.map_err(|problem| {
            Error::Corrupt {
                name: name.to_string(),
                problem: format!("the channel's ring: {problem}"),
            }
        })?;
        let byte = match side {
            Side::Sender => SENDER_LOCK,
            Side::Receiver => RECEIVER_LOCK,
        };
        let lock = memory
            .lock_endpoint(byte)?
            .ok_or_else(|| Error::EndpointTaken {
                name: name.to_string(),
                endpoint: match side {
                    Side::Sender => "sender",
                    Side::Receiver => "receiver",
                },
            })?;
        Ok(Endpoint {
            name,
            memory,
            ring,
            _lock: lock,
            mode: WaitMode::Blocking,
        })
    }

    /// Whether the peer is gone: it closed, or its process died holding its lock.
    fn peer_gone(&self, peer: Side) -> bool {
        let (state, byte) = match peer {
            Side::Sender => (ring::SENDER_STATE, SENDER_LOCK),
            Side::Receiver => (ring::RECEIVER_STATE, RECEIVER_LOCK),
        };
        match self.ring.u32_at(state).load(Ordering::Acquire) {
            ring::STATE_CLOSED => true,
            ring::STATE_CONNECTED => !self.memory.endpoint_alive(byte),
            // Not connected yet (ring::STATE_NONE): either side may start first.
            _ => false,
        }
    }

    /// Waits until `ready()` or the peer is gone or `deadline` passes. `Ok(true)`: ready.
    /// `spun`: how many times the caller polled already.
    fn wait(
        &self,
        me: Side,
        deadline: Option<Instant>,
        spun: u32,
        ready: impl Fn() -> bool,
    ) -> Result<bool> {
        let (seq, sleepers, peer) = match me {
            Side::Receiver => (ring::RX_SEQ, ring::RX_SLEEPERS, Side::Sender),
            Side::Sender => (ring::TX_SEQ, ring::TX_SLEEPERS, Side::Receiver),
        };
        let seq = self.ring.u32_at(seq);
        let sleepers = self.ring.u32_at(sleepers);
        if ready() {
            return Ok(true);
        }
        let mut spins = spun;
        // The clock is read only once the wait is more than a few spins long.
        let mut last_check: Option<Instant> = None;
        loop {
            // The clock is read every 64 spins only: reading it costs more than a check.
            for _ in 0..64 {
                if ready() {
                    return Ok(true);
                }
                std::hint::spin_loop();
            }
            spins = spins.saturating_add(64);
            let now = Instant::now();
            let last_check = last_check.get_or_insert(now);
            if deadline.is_some_and(|d| now >= d) {
                return Ok(ready());
            }
            if self.mode == WaitMode::BusyPoll || spins < SPINS {
                if now.duration_since(*last_check) >= LIVENESS_INTERVAL {
                    *last_check = now;
                    if self.peer_gone(peer) {
                        return if ready() {
                            Ok(true)
                        } else {
                            Err(self.disconnected())
                        };
                    }
                }
                continue;
            }
            if self.peer_gone(peer) {
                return if ready() {
                    Ok(true)
                } else {
                    Err(self.disconnected())
                };
            }
            let expected = seq.load(Ordering::Acquire);
            sleepers.fetch_add(1, Ordering::SeqCst);
            // Pairs with the fence in `wake`: either the peer sees this sleeper, or this
            // check sees the peer's progress.
            std::sync::atomic::fence(Ordering::SeqCst);
            if ready() {
                sleepers.fetch_sub(1, Ordering::SeqCst);
                return Ok(true);
            }
            let mut nap = LIVENESS_INTERVAL;
            if let Some(d) = deadline {
                nap = nap.min(d.saturating_duration_since(now));
            }
            self.memory.wait_word(me, seq, expected, nap);
            sleepers.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// Records this endpoint's wait mode where its peer can see it.
    fn set_mode(&mut self, me: Side, mode: WaitMode) {
        self.mode = mode;
        let word = match me {
            Side::Sender => ring::SENDER_BUSY_POLLS,
            Side::Receiver => ring::RECEIVER_BUSY_POLLS,
        };
        self.ring
            .u32_at(word)
            .store((mode == WaitMode::BusyPoll) as u32, Ordering::SeqCst);
    }

    /// Wakes `whom` if it sleeps (no system call otherwise; not even a fence when it
    /// busy-polls and so never sleeps).
    #[inline]
    fn wake(&self, whom: Side) {
        let busy = match whom {
            Side::Receiver => ring::RECEIVER_BUSY_POLLS,
            Side::Sender => ring::SENDER_BUSY_POLLS,
        };
        if self.ring.u32_at(busy).load(Ordering::Relaxed) != 1 {
            self.wake_if_asleep(whom);
        }
    }

    /// `wake` for a peer that may sleep.
    #[inline(never)]
    fn wake_if_asleep(&self, whom: Side) {
        let (seq, sleepers) = match whom {
            Side::Receiver => (ring::RX_SEQ, ring::RX_SLEEPERS),
            Side::Sender => (ring::TX_SEQ, ring::TX_SLEEPERS),
        };
        std::sync::atomic::fence(Ordering::SeqCst);
        if self.ring.u32_at(sleepers).load(Ordering::Relaxed) > 0 {
            let seq = self.ring.u32_at(seq);
            seq.fetch_add(1, Ordering::Release);
            self.memory.wake_word(whom, seq);
        }
    }

    fn timeout(&self, after: Duration) -> Error {
        Error::Timeout {
            what: self.name.to_string(),
            after,
        }
    }

    fn disconnected(&self) -> Error {
        Error::Disconnected {
            name: self.name.to_string(),
        }
    }

    fn corrupt(&self, problem: String) -> Error {
        Error::Corrupt {
            name: self.name.to_string(),
            problem: format!("the channel's ring: {problem}"),
        }
    }
}

/// The sending end of a channel. Only one may exist at a time (a second is
/// [`Error::EndpointTaken`]); it can replace one whose process died.
///
/// ```
/// # let _dir = filemap::doctest_dir();
/// use filemap::channel::{Receiver, Sender};
/// let mut tx = Sender::create_or_open("sender-demo", 4096)?;
/// assert!(matches!(Sender::open("sender-demo"), Err(filemap::Error::EndpointTaken { .. })));
/// tx.send(b"queued until a receiver comes")?;
/// let mut rx = Receiver::open("sender-demo")?;
/// assert_eq!(rx.recv()?.to_vec(), b"queued until a receiver comes");
/// # Ok::<(), filemap::Error>(())
/// ```
#[derive(Debug)]
pub struct Sender {
    end: Endpoint,
    /// The next free position (this sender owns `tail`).
    tail: u64,
    /// The receiver's `head` when last read: reloaded only when the ring looks full, so
    /// that the sender does not pull the receiver's cache line on every message.
    head: u64,
}

/// The receiving end of a channel. Only one may exist at a time.
///
/// ```
/// # let _dir = filemap::doctest_dir();
/// use filemap::channel::{Receiver, Sender};
/// let mut rx = Receiver::create_or_open("receiver-demo", 4096)?;
/// let mut tx = Sender::open("receiver-demo")?;
/// tx.send(b"one")?;
/// drop(tx); // the sender closes
/// assert_eq!(rx.recv()?.to_vec(), b"one"); // what it sent still arrives
/// assert!(matches!(rx.recv(), Err(filemap::Error::Disconnected { .. })));
/// # Ok::<(), filemap::Error>(())
/// ```
#[derive(Debug)]
pub struct Receiver {
    end: Endpoint,
    /// Where the next frame to hand out starts (this receiver owns `head` and `claim`).
    claim: u64,
}

impl Sender {
    /// Creates the channel with `capacity` bytes (rounded up to a power of two, at least
    /// 4 KiB) if it does not exist, and becomes its sender.
    pub fn create_or_open(name: impl IntoName, capacity: u64) -> Result<Sender> {
        Sender::create_or_open_with(name, capacity, &ObjectOptions::new())
    }

    /// [`create_or_open`](Sender::create_or_open) with options (persistence, permissions).
    pub fn create_or_open_with(
        name: impl IntoName,
        capacity: u64,
        options: &ObjectOptions,
    ) -> Result<Sender> {
        Sender::connect(Endpoint::open(
            name.into_name()?,
            Some(capacity),
            options,
            Side::Sender,
        )?)
    }

    /// Becomes the sender of an existing channel.
    pub fn open(name: impl IntoName) -> Result<Sender> {
        Sender::connect(Endpoint::open(
            name.into_name()?,
            None,
            &ObjectOptions::new(),
            Side::Sender,
        )?)
    }

    fn connect(end: Endpoint) -> Result<Sender> {
        let ring = end.ring;
        // A sender that died between committing a frame (or wrap marker) and recording the
        // new tail left one item past the tail it recorded; never two (each commit is
        // followed by its tail, and the word after a commit is disarmed).
        let recorded = ring.tail().load(Ordering::Acquire);
        if !ring::valid_position(recorded) {
            return Err(end.corrupt(format!("the sender's position {recorded} is invalid")));
        }
        let tail = ring.committed_end(recorded).unwrap_or(recorded);
        if tail != recorded && ring.committed_end(tail).is_some() {
            return Err(end.corrupt(format!(
                "more than one frame is committed past the sender's recorded position {recorded}"
            )));
        }
        let head = ring.head().load(Ordering::Acquire);
        if !ring.head_fits(head, tail) {
            return Err(end.corrupt(format!(
                "the receiver's position {head} does not fit the sender's {tail}"
            )));
        }
        ring.disarm(tail, head);
        ring.tail().store(tail, Ordering::Release);
        ring.u32_at(ring::SENDER_STATE)
            .store(ring::STATE_CONNECTED, Ordering::Release);
        let mut end = end;
        end.set_mode(Side::Sender, WaitMode::Blocking);
        end.wake(Side::Receiver);
        Ok(Sender { end, tail, head })
    }

    /// The receiver's `head`, checked: a receiver that released bytes the sender never
    /// committed is corrupt.
    fn load_head(&self) -> Result<u64> {
        let ring = self.end.ring;
        let head = ring.head().load(Ordering::Acquire);
        if ring.head_fits(head, self.tail) {
            Ok(head)
        } else {
            Err(self.end.corrupt(format!(
                "the receiver's position {head} does not fit the sender's {}",
                self.tail
            )))
        }
    }

    /// Whether `[.., end)` is free: checks the cached head first, reloads it if not.
    fn has_room(&mut self, end: u64) -> Result<bool> {
        let capacity = self.end.ring.capacity();
        if end - self.head <= capacity {
            return Ok(true);
        }
        self.head = self.load_head()?;
        Ok(end - self.head <= capacity)
    }

    /// The channel's name.
    pub fn name(&self) -> &Name {
        &self.end.name
    }

    /// The ring's capacity in bytes.
    pub fn capacity(&self) -> u64 {
        self.end.ring.capacity()
    }

    /// The largest message the channel carries.
    pub fn max_message_len(&self) -> usize {
        self.end.ring.max_message() as usize
    }

    /// How this sender waits when the ring is full. (A peer that is waking this sender
    /// at the moment of a switch to blocking may leave it asleep for up to 50 ms once.)
    pub fn set_wait_mode(&mut self, mode: WaitMode) {
        self.end.set_mode(Side::Sender, mode);
    }

    /// Where the payload of a frame for `len` bytes goes, if that frame fits at the tail
    /// now without waiting, wrapping or reloading the receiver's head (the slow path
    /// handles those, and errors).
    #[inline]
    fn fits_now(&self, len: usize) -> Option<u64> {
        let ring = self.end.ring;
        if len as u64 > ring.max_message() {
            return None;
        }
        let offset = ring.payload_offset(len as u64);
        let size = ring::frame_size(offset, len as u64);
        (size <= ring.bytes_to_end(self.tail) && self.tail + size - self.head <= ring.capacity())
            .then_some(offset)
    }

    fn check_len(&self, len: usize) -> Result<()> {
        let max = self.max_message_len();
        if len > max {
            return Err(Error::MessageTooLarge {
                name: self.end.name.to_string(),
                len,
                max,
            });
        }
        Ok(())
    }

    /// A slot, waiting until `deadline`; past it, `Ok(None)`, or `Error::Timeout` if
    /// `timeout` says how long the caller waited (so that the fast path builds no error
    /// text).
    fn reserve_until(
        &mut self,
        len: usize,
        deadline: Option<Instant>,
        timeout: Option<Duration>,
    ) -> Result<Option<SendSlot<'_>>> {
        self.check_len(len)?;
        let ring = self.end.ring;
        let offset = ring.payload_offset(len as u64);
        let size = ring::frame_size(offset, len as u64);
        let to_end = ring.bytes_to_end(self.tail);
        if size > to_end {
            // The frame does not fit before the ring's end: publish a wrap marker there
            // first (once its bytes are free), and continue at the ring's start.
            let tail = self.tail;
            if !self.wait_for_room(tail + to_end, deadline)? {
                return self.nothing(timeout);
            }
            ring.write_wrap(tail);
            self.publish(tail, tail + to_end);
        }
        let start = self.tail;
        if !self.wait_for_room(start + size, deadline)? {
            return self.nothing(timeout);
        }
        Ok(Some(SendSlot {
            sender: self,
            start,
            offset,
            len,
        }))
    }

    fn nothing<T>(&self, timeout: Option<Duration>) -> Result<Option<T>> {
        match timeout {
            Some(after) => Err(self.end.timeout(after)),
            None => Ok(None),
        }
    }

    /// Waits until the ring is free up to `end`.
    fn wait_for_room(&mut self, end: u64, deadline: Option<Instant>) -> Result<bool> {
        if self.has_room(end)? {
            return Ok(true);
        }
        let ring = self.end.ring;
        let tail = self.tail;
        // (A head that does not fit ends the wait too: `load_head` then reports it.)
        let room = || {
            let head = ring.head().load(Ordering::Acquire);
            !ring.head_fits(head, tail) || end - head <= ring.capacity()
        };
        let ok = self.end.wait(Side::Sender, deadline, 0, room)?;
        self.head = self.load_head()?;
        Ok(ok && end - self.head <= ring.capacity())
    }

    /// Commits the frame or wrap marker at `at`, records the new `tail`, and wakes the
    /// receiver if it sleeps.
    #[inline]
    fn publish(&mut self, at: u64, tail: u64) {
        let ring = self.end.ring;
        ring.disarm(tail, self.head);
        ring.commit(at);
        ring.tail().store(tail, Ordering::Release);
        self.tail = tail;
        self.end.wake(Side::Receiver);
    }

    /// A slot of `len` bytes in the ring, waiting while the ring is full; write the message
    /// into it, then [`commit`](SendSlot::commit). Dropping it uncommitted sends nothing.
    #[inline]
    pub fn reserve(&mut self, len: usize) -> Result<SendSlot<'_>> {
        match self.fits_now(len) {
            // The fast path: room at the tail, before the ring's end, by the cached head.
            Some(offset) => Ok(SendSlot {
                start: self.tail,
                sender: self,
                offset,
                len,
            }),
            None => self.reserve_waiting(len),
        }
    }

    /// `reserve` when the fast path does not apply.
    #[inline(never)]
    fn reserve_waiting(&mut self, len: usize) -> Result<SendSlot<'_>> {
        self.reserve_until(len, None, None)?
            .ok_or_else(|| Error::Corrupt {
                name: "this channel".into(),
                problem: "a wait without a deadline ended without room".into(),
            })
    }

    /// A slot if there is room now; `Ok(None)` if the ring is full.
    pub fn try_reserve(&mut self, len: usize) -> Result<Option<SendSlot<'_>>> {
        self.reserve_until(len, Some(Instant::now()), None)
    }

    /// Like [`reserve`](Sender::reserve), giving up with [`Error::Timeout`].
    pub fn reserve_timeout(&mut self, len: usize, timeout: Duration) -> Result<SendSlot<'_>> {
        self.reserve_until(len, Some(Instant::now() + timeout), Some(timeout))?
            .ok_or_else(|| Error::Corrupt {
                name: "this channel".into(),
                problem: "a timed wait ended without room or timeout".into(),
            })
    }

    /// Copies `message` in and sends it, waiting while the ring is full.
    pub fn send(&mut self, message: &[u8]) -> Result<()> {
        let mut slot = self.reserve(message.len())?;
        slot.copy_from_slice(message);
        slot.commit();
        Ok(())
    }

    /// Sends `message` if there is room now; `Ok(false)` if the ring is full.
    pub fn try_send(&mut self, message: &[u8]) -> Result<bool> {
        match self.try_reserve(message.len())? {
            Some(mut slot) => {
                slot.copy_from_slice(message);
                slot.commit();
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Sends a copy of a message received from another channel, waiting while the ring is
    /// full: a relay's forwarding step, one copy from ring to ring.
    ///
    /// ```
    /// # let _dir = filemap::doctest_dir();
    /// use filemap::channel::{Receiver, Sender};
    /// let (mut a_tx, mut a_rx) = (Sender::create_or_open("a", 4096)?, Receiver::open("a")?);
    /// let (mut b_tx, mut b_rx) = (Sender::create_or_open("b", 4096)?, Receiver::open("b")?);
    /// a_tx.send(b"relayed")?;
    /// b_tx.forward(&a_rx.recv()?)?;
    /// assert_eq!(b_rx.recv()?.to_vec(), b"relayed");
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn forward(&mut self, message: &RecvSlot<'_>) -> Result<()> {
        let mut slot = self.reserve(message.len())?;
        let at = slot.as_mut_ptr();
        // SAFETY: the slot's `len` bytes belong to this sender and the message's to its
        // receiver (each ring's ownership protocol), both mapped while their endpoints
        // live; the copy routine is sound against other writers of either ring.
        unsafe { copy_racy(at, message.as_ptr(), message.len()) };
        slot.commit();
        Ok(())
    }

    /// Like [`send`](Sender::send), giving up with [`Error::Timeout`].
    pub fn send_timeout(&mut self, message: &[u8], timeout: Duration) -> Result<()> {
        let mut slot = self.reserve_timeout(message.len(), timeout)?;
        slot.copy_from_slice(message);
        slot.commit();
        Ok(())
    }
}

impl Drop for Sender {
    fn drop(&mut self) {
        self.end
            .ring
            .u32_at(ring::SENDER_STATE)
            .store(ring::STATE_CLOSED, Ordering::Release);
        self.end.wake(Side::Receiver);
    }
}

/// A reserved message in the ring: write it with [`copy_from_slice`](SendSlot::copy_from_slice)
/// or [`write_at`](SendSlot::write_at), then [`commit`](SendSlot::commit). Dropped
/// uncommitted, it sends nothing.
///
/// The copies are sound whatever another process writes into the channel meanwhile. For
/// writing in place, [`as_mut_slice`](SendSlot::as_mut_slice) lends the slot as a
/// `&mut [u8]`: `unsafe`, because it is sound only while no other process writes the
/// channel's memory outside its protocol (a trusted peer).
///
/// Alignment: a slot's first byte is 16-byte aligned, and 64-byte aligned (a cache line)
/// for a message of more than 48 bytes, up to [`Sender::max_message_len`] − 48; the
/// receiver's [`RecvSlot`] starts at the same alignment. So a message can hold aligned
/// plain data to be cast in place (with `bytemuck`, say) on both sides.
///
/// ```
/// # let _dir = filemap::doctest_dir();
/// use filemap::channel::{Receiver, Sender};
/// let mut tx = Sender::create_or_open("send-slot-demo", 4096)?;
/// let mut rx = Receiver::open("send-slot-demo")?;
/// let mut slot = tx.reserve(16)?;
/// slot.write_at(0, b"short")?;
/// slot.commit_len(5); // publish only what was written
/// assert_eq!(rx.recv()?.to_vec(), b"short");
/// # Ok::<(), filemap::Error>(())
/// ```
#[derive(Debug)]
#[must_use = "a reserved slot sends nothing until it is committed"]
pub struct SendSlot<'a> {
    sender: &'a mut Sender,
    /// The frame's position, and where its payload starts in it.
    start: u64,
    offset: u64,
    len: usize,
}

impl SendSlot<'_> {
    /// Publishes the message.
    #[inline]
    pub fn commit(self) {
        let len = self.len;
        self.commit_len(len);
    }

    /// Publishes the first `len` bytes only (at most the reserved length).
    #[inline]
    pub fn commit_len(self, len: usize) {
        let len = len.min(self.len);
        self.sender
            .end
            .ring
            .write_header(self.start, len as u32, self.offset);
        let end = self.start + ring::frame_size(self.offset, len as u64);
        self.sender.publish(self.start, end);
    }

    /// The reserved length in bytes.
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the slot holds no bytes (a zero-length message).
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The slot's first byte. Writing through it is up to the caller, as with
    /// [`as_mut_slice`](SendSlot::as_mut_slice).
    #[inline]
    pub fn as_mut_ptr(&mut self) -> *mut u8 {
        self.sender.end.ring.at(self.start + self.offset)
    }

    /// Copies `message` into the slot, which must have its length.
    ///
    /// # Panics
    /// If `message.len()` is not the slot's length, like `<[u8]>::copy_from_slice`.
    #[inline]
    pub fn copy_from_slice(&mut self, message: &[u8]) {
        assert_eq!(
            message.len(),
            self.len,
            "SendSlot::copy_from_slice: a message of {} bytes into a slot of {}",
            message.len(),
            self.len
        );
        let at = self.as_mut_ptr();
        // SAFETY: the slot's `len` bytes belong to this sender (the ownership protocol:
        // free ring space between tail and head + capacity), are contiguous and mapped
        // while the sender lives; the copy routine is sound against other writers.
        unsafe { copy_to_shared(at, message) };
    }

    /// Copies `data` into the slot at `offset`; [`Error::OutOfRange`] if it does not fit.
    pub fn write_at(&mut self, offset: usize, data: &[u8]) -> Result<()> {
        check_slot_range(offset, data.len(), self.len)?;
        let at = self.as_mut_ptr();
        // SAFETY: inside the slot (checked above), which this sender owns as in
        // `copy_from_slice`.
        unsafe { copy_to_shared(at.add(offset), data) };
        Ok(())
    }

    /// The slot as a mutable slice, for writing a message in place.
    ///
    /// # Safety
    /// Rust assumes nothing else writes memory behind a `&mut [u8]` while it lives. The
    /// channel's protocol keeps cooperating processes out of a reserved slot, but a process
    /// with write access to the channel that ignores the protocol (a bug or a hostile
    /// peer) could write it meanwhile, which would be a data race. Call this only when
    /// every process that can write the channel is trusted to follow its protocol.
    #[inline]
    pub unsafe fn as_mut_slice(&mut self) -> &mut [u8] {
        let (at, len) = (self.as_mut_ptr(), self.len);
        // SAFETY: the slot is `len` contiguous bytes this sender owns, mapped while it
        // lives; `&mut self` makes this the only reference in this process, and the caller
        // vouches for the other processes.
        unsafe { std::slice::from_raw_parts_mut(at, len) }
    }
}

/// Checks that `len` bytes at `offset` fit in a message of `size` bytes.
fn check_slot_range(offset: usize, len: usize, size: usize) -> Result<()> {
    match offset.checked_add(len) {
        Some(end) if end <= size => Ok(()),
        _ => Err(Error::OutOfRange {
            offset: offset as u64,
            len: len as u64,
            size: size as u64,
        }),
    }
}

impl Receiver {
    /// Creates the channel with `capacity` bytes if it does not exist, and becomes its
    /// receiver.
    pub fn create_or_open(name: impl IntoName, capacity: u64) -> Result<Receiver> {
        Receiver::create_or_open_with(name, capacity, &ObjectOptions::new())
    }

    /// [`create_or_open`](Receiver::create_or_open) with options.
    pub fn create_or_open_with(
        name: impl IntoName,
        capacity: u64,
        options: &ObjectOptions,
    ) -> Result<Receiver> {
        Receiver::connect(Endpoint::open(
            name.into_name()?,
            Some(capacity),
            options,
            Side::Receiver,
        )?)
    }

    /// Becomes the receiver of an existing channel.
    pub fn open(name: impl IntoName) -> Result<Receiver> {
        Receiver::connect(Endpoint::open(
            name.into_name()?,
            None,
            &ObjectOptions::new(),
            Side::Receiver,
        )?)
    }

    fn connect(end: Endpoint) -> Result<Receiver> {
        // Messages handed out to a receiver that died are not handed out again.
        let claim = end.ring.claim().load(Ordering::Acquire);
        if !ring::valid_position(claim) {
            return Err(end.corrupt(format!("the receiver's position {claim} is invalid")));
        }
        end.ring.head().store(claim, Ordering::Release);
        end.ring
            .u32_at(ring::RECEIVER_STATE)
            .store(ring::STATE_CONNECTED, Ordering::Release);
        let mut end = end;
        end.set_mode(Side::Receiver, WaitMode::Blocking);
        end.wake(Side::Sender);
        Ok(Receiver { end, claim })
    }

    /// The channel's name.
    pub fn name(&self) -> &Name {
        &self.end.name
    }

    /// Overwrites the channel's shared memory as a hostile writer could, for the fuzz
    /// targets (not part of the API): `data` gives, in order and as far as it goes, the
    /// control words `head`, `tail`, `claim` (u64 each), the eight u32 wake-up and state
    /// words (receiver sequence and sleepers, sender sequence and sleepers, sender state and
    /// busy-poll flag, receiver state and busy-poll flag), the capacity (u64), then the
    /// ring's bytes. What `data` does not reach keeps its value.
    ///
    /// # Safety
    /// No other process may use the channel meanwhile, and no slot may be borrowed.
    #[doc(hidden)]
    pub unsafe fn overwrite_shared_memory(&self, data: &[u8]) {
        let ring = self.end.ring;
        let places = [
            (ring::HEAD, 8),
            (ring::TAIL, 8),
            (ring::CLAIM, 8),
            (ring::RX_SEQ, 4),
            (ring::RX_SLEEPERS, 4),
            (ring::TX_SEQ, 4),
            (ring::TX_SLEEPERS, 4),
            (ring::SENDER_STATE, 4),
            (ring::SENDER_BUSY_POLLS, 4),
            (ring::RECEIVER_STATE, 4),
            (ring::RECEIVER_BUSY_POLLS, 4),
            (ring::CAPACITY, 8),
            (ring::RING_OFFSET, ring.capacity() as usize),
        ];
        let mut data = data;
        for (offset, len) in places {
            let n = len.min(data.len());
            // SAFETY: every place lies inside the mapped data area (RING_OFFSET plus the
            // capacity checked when the ring was opened).
            unsafe { copy_to_shared(self.end.memory.base().add(offset), &data[..n]) };
            data = &data[n..];
        }
    }

    /// How this receiver waits when the ring is empty. (A peer that is waking this
    /// receiver at the moment of a switch to blocking may leave it asleep for up to 50 ms
    /// once.)
    pub fn set_wait_mode(&mut self, mode: WaitMode) {
        self.end.set_mode(Side::Receiver, mode);
    }

    /// The next message, waiting until `deadline`; past it, `Ok(None)`, or
    /// `Error::Timeout` if `timeout` says how long the caller waited. `spun`: how many
    /// times the caller polled already.
    fn recv_until(
        &mut self,
        deadline: Option<Instant>,
        timeout: Option<Duration>,
        spun: u32,
    ) -> Result<Option<RecvSlot<'_>>> {
        let ring = self.end.ring;
        let mut spun = spun;
        loop {
            let claim = self.claim;
            let ready = || ring.committed(claim);
            if !self.end.wait(Side::Receiver, deadline, spun, ready)? {
                return match timeout {
                    Some(after) => Err(self.end.timeout(after)),
                    None => Ok(None),
                };
            }
            spun = 0;
            match ring.next_frame(claim).map_err(|p| self.end.corrupt(p))? {
                // Only after a deadline passed (a wait without one ends with a frame).
                Next::Empty => {
                    return match timeout {
                        Some(after) => Err(self.end.timeout(after)),
                        None => Ok(None),
                    }
                }
                Next::Wrap { next } => {
                    // Give the bytes up to the ring's end back, and go on from its start.
                    ring.claim().store(next, Ordering::Release);
                    ring.head().store(next, Ordering::Release);
                    self.claim = next;
                    self.end.wake(Side::Sender);
                }
                Next::Frame { payload, len, end } => {
                    return Ok(Some(self.hand_out(payload, len, end)))
                }
            }
        }
    }

    /// Records the frame ending at `end` as handed out and lends its payload.
    #[inline]
    fn hand_out(&mut self, payload: u64, len: usize, end: u64) -> RecvSlot<'_> {
        self.end.ring.claim().store(end, Ordering::Release);
        self.claim = end;
        RecvSlot {
            receiver: self,
            payload,
            len,
            end,
        }
    }

    /// The next message, waiting for one; [`Error::Disconnected`] once the sender is gone
    /// and every message it committed was received.
    ///
    /// The common case, a message that is there or arrives within a few polls, is inlined
    /// into the caller and makes no call at all.
    #[inline]
    pub fn recv(&mut self) -> Result<RecvSlot<'_>> {
        let ring = self.end.ring;
        let claim = self.claim;
        let mut polls = 1;
        while !ring.committed(claim) {
            if polls == FAST_SPINS {
                return self.recv_waiting();
            }
            polls += 1;
            std::hint::spin_loop();
        }
        match ring.frame_now(claim) {
            Some(Next::Frame { payload, len, end }) => Ok(self.hand_out(payload, len, end)),
            // A wrap marker, or a corrupt frame.
            _ => self.recv_waiting(),
        }
    }

    /// `recv` past its first polls.
    #[inline(never)]
    fn recv_waiting(&mut self) -> Result<RecvSlot<'_>> {
        // Without a deadline the wait only ends with a committed frame (the sender
        // publishes a wrap marker together with the frame after it).
        self.recv_until(None, None, FAST_SPINS)?
            .ok_or_else(|| Error::Corrupt {
                name: "this channel".into(),
                problem: "a wait without a deadline ended without a message".into(),
            })
    }

    /// The next message if there is one now.
    pub fn try_recv(&mut self) -> Result<Option<RecvSlot<'_>>> {
        self.recv_until(Some(Instant::now()), None, 0)
    }

    /// Like [`recv`](Receiver::recv), giving up with [`Error::Timeout`].
    pub fn recv_timeout(&mut self, timeout: Duration) -> Result<RecvSlot<'_>> {
        self.recv_until(Some(Instant::now() + timeout), Some(timeout), 0)?
            .ok_or_else(|| Error::Corrupt {
                name: "this channel".into(),
                problem: "a timed wait ended without a message or timeout".into(),
            })
    }

    /// Receives the next message into `buf` (replacing its contents).
    pub fn recv_into(&mut self, buf: &mut Vec<u8>) -> Result<()> {
        let slot = self.recv()?;
        buf.clear();
        slot.append_to(buf);
        Ok(())
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.end
            .ring
            .u32_at(ring::RECEIVER_STATE)
            .store(ring::STATE_CLOSED, Ordering::Release);
        self.end.wake(Side::Sender);
    }
}

/// A received message, borrowed from the ring: read it with
/// [`read_at`](RecvSlot::read_at) or [`to_vec`](RecvSlot::to_vec); dropping it gives its
/// space back to the sender.
///
/// The copies are sound whatever another process writes into the channel meanwhile. For
/// reading in place, [`as_slice`](RecvSlot::as_slice) lends the message as a `&[u8]`:
/// `unsafe`, because it is sound only while no other process writes the channel's memory
/// outside its protocol (a trusted peer).
///
/// ```
/// # let _dir = filemap::doctest_dir();
/// use filemap::channel::{Receiver, Sender};
/// let mut tx = Sender::create_or_open("recv-slot-demo", 4096)?;
/// let mut rx = Receiver::open("recv-slot-demo")?;
/// tx.send(&[1, 2, 3])?;
/// let slot = rx.recv()?;            // borrowed from the ring
/// let mut first = [0u8; 2];
/// slot.read_at(0, &mut first)?;     // copies two bytes out
/// // Zero-copy, for a trusted peer: nobody writes the channel outside its protocol.
/// let sum: u32 = unsafe { slot.as_slice() }.iter().map(|b| *b as u32).sum();
/// drop(slot);                       // gives the space back to the sender
/// assert_eq!((first, sum), ([1, 2], 6));
/// # Ok::<(), filemap::Error>(())
/// ```
#[derive(Debug)]
pub struct RecvSlot<'a> {
    receiver: &'a mut Receiver,
    payload: u64,
    len: usize,
    end: u64,
}

impl RecvSlot<'_> {
    /// The message's length in bytes.
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the message is empty.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The message's first byte. Reading through it is up to the caller, as with
    /// [`as_slice`](RecvSlot::as_slice).
    #[inline]
    pub fn as_ptr(&self) -> *const u8 {
        self.receiver.end.ring.at(self.payload)
    }

    /// Copies `buf.len()` bytes of the message at `offset` into `buf`;
    /// [`Error::OutOfRange`] if the message is shorter.
    #[inline]
    pub fn read_at(&self, offset: usize, buf: &mut [u8]) -> Result<()> {
        check_slot_range(offset, buf.len(), self.len)?;
        // SAFETY: inside the frame (checked above), which lies in `[head, tail)`: mapped
        // while the receiver lives and left alone by the sender until this slot releases it
        // (the ownership protocol); the copy routine is sound against other writers.
        unsafe { copy_from_shared(self.as_ptr().add(offset), buf) };
        Ok(())
    }

    /// Copies the message into a new vector.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut v = Vec::new();
        self.append_to(&mut v);
        v
    }

    /// Appends the message to `buf`.
    #[inline]
    pub fn append_to(&self, buf: &mut Vec<u8>) {
        let at = buf.len();
        buf.reserve(self.len);
        // SAFETY: `buf` has room for `len` more bytes (reserved above); the copy fills them
        // all before `set_len` makes them part of the vector; the frame is readable as in
        // `read_at`.
        unsafe {
            copy_racy(buf.as_mut_ptr().add(at), self.as_ptr(), self.len);
            buf.set_len(at + self.len);
        }
    }

    /// The message as a slice, read in place.
    ///
    /// # Safety
    /// Rust assumes the bytes behind a `&[u8]` do not change while it lives. The channel's
    /// protocol keeps cooperating senders off a message until it is released, but a
    /// process with write access to the channel that ignores the protocol (a bug or a
    /// hostile peer) could write it meanwhile, which would be a data race. Call this only
    /// when every process that can write the channel is trusted to follow its protocol.
    #[inline]
    pub unsafe fn as_slice(&self) -> &[u8] {
        // SAFETY: the frame is `len` contiguous bytes in `[head, tail)`, mapped while the
        // receiver lives; the caller vouches that nobody writes it meanwhile.
        unsafe { std::slice::from_raw_parts(self.as_ptr(), self.len) }
    }
}

impl Drop for RecvSlot<'_> {
    #[inline]
    fn drop(&mut self) {
        let end = &self.receiver.end;
        end.ring.head().store(self.end, Ordering::Release);
        end.wake(Side::Sender);
    }
}
