//! The receiving end of a channel: [`Receiver`] and the [`RecvSlot`] it borrows from the
//! ring.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::endpoint::{Endpoint, Watch};
use super::ring::{self, Next};
use super::{FAST_SPINS, WaitMode, check_slot_range};
use crate::copy::{Fault, copy_from_shared, copy_racy};
use crate::error::{Error, Result};
use crate::name::{IntoName, Name};
use crate::sync::ObjectOptions;
use crate::vocabulary::Side;

/// The receiving end of a channel. Only one may exist at a time.
///
/// ```
/// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
/// use filemap::channel::{Receiver, Sender};
/// let mut rx = Receiver::create_or_open("receiver-demo", 4096)?;
/// let mut tx = Sender::open("receiver-demo")?;
/// tx.send(b"one")?;
/// drop(tx); // the sender closes
/// assert_eq!(rx.recv()?.to_vec()?, b"one"); // what it sent still arrives
/// assert!(matches!(rx.recv(), Err(filemap::Error::Disconnected { .. })));
/// # Ok::<(), filemap::Error>(())
/// ```
#[derive(Debug)]
pub struct Receiver {
    end: Endpoint,
    /// Where the next frame to hand out starts (this receiver owns `head` and `claim`).
    claim: u64,
}

impl Receiver {
    /// Creates the channel with `capacity` bytes if it does not exist, and becomes its
    /// receiver.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::channel::{Receiver, Sender};
    /// let mut rx = Receiver::create_or_open("doc-receiver-create", 5000)?;
    /// let tx = Sender::open("doc-receiver-create")?; // the channel exists now
    /// assert_eq!(tx.capacity(), 8192); // rounded up to a power of two
    /// assert!(rx.try_recv()?.is_none());
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn create_or_open(name: impl IntoName, capacity: u64) -> Result<Receiver> {
        Receiver::create_or_open_with(name, capacity, &ObjectOptions::new())
    }

    /// [`create_or_open`](Receiver::create_or_open) with options.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::channel::Receiver;
    /// use filemap::sync::ObjectOptions;
    /// let options = ObjectOptions::new().permissions(0o640);
    /// let _rx = Receiver::create_or_open_with("doc-receiver-create-with", 4096, &options)?;
    /// let entry = filemap::namespace::info("doc-receiver-create-with")?;
    /// assert_eq!(entry.kind, Some(filemap::Kind::Channel));
    /// #[cfg(target_os = "linux")]
    /// assert_eq!(entry.mode, 0o640);
    /// # Ok::<(), filemap::Error>(())
    /// ```
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
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::channel::{Receiver, Sender};
    /// let missing = Receiver::open("doc-receiver-open");
    /// assert!(matches!(missing, Err(filemap::Error::NotFound { .. })));
    /// let mut tx = Sender::create_or_open("doc-receiver-open", 4096)?;
    /// tx.send(b"one")?;
    /// tx.send(b"two")?;
    /// let mut rx = Receiver::open("doc-receiver-open")?;
    /// assert_eq!(rx.recv()?.to_vec()?, b"one");
    /// drop(rx); // a new receiver goes on where this one left off
    /// let mut rx = Receiver::open("doc-receiver-open")?;
    /// assert_eq!(rx.recv()?.to_vec()?, b"two");
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn open(name: impl IntoName) -> Result<Receiver> {
        Receiver::connect(Endpoint::open(
            name.into_name()?,
            None,
            &ObjectOptions::new(),
            Side::Receiver,
        )?)
    }

    pub(crate) fn connect(end: Endpoint) -> Result<Receiver> {
        match position_left(&end) {
            Ok(claim) => Receiver::connect_at(end, Some(claim)),
            Err(problem) => Err(end.corrupt(problem)),
        }
    }

    /// Like [`connect`](Receiver::connect), for one ring of several (an inbox's), where one
    /// ring's damage must not stop the others: a receiver's position found invalid (only a
    /// process outside the protocol writes one) is mended to the sender's, and the damage
    /// returned, for the caller to report, with whether the position was mended. What was
    /// sent before that position is not received. If the sender's position is invalid too,
    /// the receiver is connected unmended (at 0, writing nothing: `false`), and must not be
    /// read before [`mend_to`](Receiver::mend_to) a valid sender position.
    pub(crate) fn connect_mending(end: Endpoint) -> Result<(Receiver, Option<(Error, bool)>)> {
        let problem = match position_left(&end) {
            Ok(claim) => return Ok((Receiver::connect_at(end, Some(claim))?, None)),
            Err(problem) => problem,
        };
        let tail = end.ring.tail().load(Ordering::Acquire);
        if !ring::valid_position(tail) {
            let damage = end.corrupt(format!(
                "{problem}; the receiver waits for a valid sender position to start at"
            ));
            return Ok((Receiver::connect_at(end, None)?, Some((damage, false))));
        }
        let mut receiver = Receiver::connect_at(end, None)?;
        let damage = receiver.mend_to(tail, &problem);
        Ok((receiver, Some((damage, true))))
    }

    /// Moves the receiver's position to the sender's, `tail` (a valid position), for a
    /// ring whose receiver position was found invalid (`problem`); the damage to report.
    pub(crate) fn mend_to(&mut self, tail: u64, problem: &str) -> Error {
        let ring = self.end.ring;
        ring.claim().store(tail, Ordering::Release);
        ring.head().store(tail, Ordering::Release);
        self.claim = tail;
        self.end.wake(Side::Sender);
        self.end.corrupt(format!(
            "{problem}; the receiver starts at the sender's, {tail}: what was sent before is \
             not received"
        ))
    }

    /// Connects the receiver at position `claim`, where the last receiver left off (`None`:
    /// nowhere yet, writing no position, see `connect_mending`).
    fn connect_at(end: Endpoint, claim: Option<u64>) -> Result<Receiver> {
        if let Some(claim) = claim {
            end.ring.head().store(claim, Ordering::Release);
        }
        end.ring
            .u32_at(ring::RECEIVER_STATE)
            .store(ring::STATE_CONNECTED, Ordering::Release);
        let mut end = end;
        end.take_doorbell(Side::Receiver);
        end.set_mode(Side::Receiver, WaitMode::Blocking);
        end.wake(Side::Sender);
        end.intact()?;
        Ok(Receiver {
            end,
            claim: claim.unwrap_or(0),
        })
    }

    /// The channel's name.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::channel::Receiver;
    /// let rx = Receiver::create_or_open("Local\\doc-receiver-name", 4096)?;
    /// assert_eq!(rx.name().base(), "doc-receiver-name");
    /// assert_eq!(rx.name().scope(), filemap::Scope::Local);
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn name(&self) -> &Name {
        &self.end.name
    }

    /// Whether the object has lost its name while this endpoint has it open: removed
    /// ([`namespace::remove`](crate::namespace::remove), `filemap rm`), so that the name
    /// may now be another object's, which this endpoint does not reach. Never on Windows,
    /// where a name goes only with its object's last handle. One system call.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::channel::Receiver;
    /// let rx = Receiver::create_or_open("doc-receiver-removed", 4096)?;
    /// assert!(!rx.name_removed());
    /// #[cfg(unix)]
    /// {
    ///     filemap::namespace::remove("doc-receiver-removed")?;
    ///     assert!(rx.name_removed()); // made again, the name would be another object's
    /// }
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn name_removed(&self) -> bool {
        self.end.memory.name_removed()
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
    #[cfg(feature = "fuzzing")]
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
            // capacity checked when the ring was opened). A fault (the entry truncated
            // meanwhile) leaves the rest as it was, which the fuzz targets accept.
            let _ = unsafe {
                crate::copy::copy_to_shared(self.end.memory.base().add(offset), &data[..n])
            };
            data = &data[n..];
        }
    }

    /// How this receiver waits when the ring is empty. (A peer that is waking this
    /// receiver at the moment of a switch to blocking may leave it asleep for up to 50 ms
    /// once.)
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::channel::{Receiver, Sender, WaitMode};
    /// let mut rx = Receiver::create_or_open("doc-receiver-wait-mode", 4096)?;
    /// let mut tx = Sender::open("doc-receiver-wait-mode")?;
    /// rx.set_wait_mode(WaitMode::Spin);
    /// tx.send(b"spun")?;
    /// assert_eq!(rx.recv()?.to_vec()?, b"spun");
    /// # Ok::<(), filemap::Error>(())
    /// ```
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
        self.end.usable_here()?;
        let ring = self.end.ring;
        let mut spun = spun;
        let mut wraps = 0u32;
        loop {
            let claim = self.claim;
            let ready = || ring.committed(claim);
            let marked = || ring.marked_at(claim);
            let sleep = self.end.bells.receiver.sleep();
            let gone = || self.restated_and_sender_gone();
            if !self
                .end
                .wait_on(&sleep, deadline, spun, ready, marked, gone)?
            {
                return match timeout {
                    Some(after) => Err(self.end.timeout(after)),
                    None => Ok(None),
                };
            }
            spun = 0;
            match ring.next_frame(claim).map_err(|p| self.end.corrupt(p))? {
                // After a deadline passed; without one, only if another process changed the
                // ring between the wait and this look (it is not the protocol's doing): wait
                // again, unless the sender has gone (a process flipping the word there must
                // not keep this call from saying so, nor keep it looping on a core).
                Next::Empty if deadline.is_none() => {
                    if self.restated_and_sender_gone() {
                        self.end.intact()?;
                        self.end.saw_peer_gone();
                        return Err(self.end.disconnected());
                    }
                    std::thread::yield_now();
                    continue;
                }
                Next::Empty => {
                    self.end.intact()?;
                    return match timeout {
                        Some(after) => Err(self.end.timeout(after)),
                        None => Ok(None),
                    };
                }
                Next::Wrap { next } => {
                    self.skip_wrap(next);
                    // A sender commits one wrap marker per lap of the ring, so an honest
                    // ring has a frame (or nothing) after it; one that keeps committing
                    // only markers must not keep this call past its deadline.
                    wraps = wraps.saturating_add(1);
                    if wraps > 1 && deadline.is_some_and(crate::sys::has_passed) {
                        return match timeout {
                            Some(after) => Err(self.end.timeout(after)),
                            None => Ok(None),
                        };
                    }
                }
                Next::Frame { payload, len, end } => {
                    return Ok(Some(self.hand_out(payload, len, end)));
                }
            }
        }
    }

    /// Gives the bytes up to the ring's end back (a wrap marker was there), and goes on
    /// from the ring's start, at `next`.
    fn skip_wrap(&mut self, next: u64) {
        let ring = self.end.ring;
        ring.claim().store(next, Ordering::Release);
        ring.head().store(next, Ordering::Release);
        self.claim = next;
        self.end.wake(Side::Sender);
    }

    /// The endpoint (for an inbox, which holds one receiver per ring).
    pub(crate) fn endpoint(&self) -> &Endpoint {
        &self.end
    }

    /// Where the next frame to hand out starts.
    pub(crate) fn claim_position(&self) -> u64 {
        self.claim
    }

    /// Tells the sender that this receiver reads the ring no more (an inbox set it aside,
    /// damaged where the sender will not write again): its waits for room end with
    /// `Disconnected`, and a new sender passes the slot over, until a receiver connects
    /// the ring again.
    pub(crate) fn mark_damaged(&self) {
        if self.end.inherited() {
            return;
        }
        self.end
            .ring
            .u32_at(ring::RECEIVER_STATE)
            .store(ring::STATE_DAMAGED, Ordering::Release);
        self.end.wake(Side::Sender);
    }

    /// Takes back [`mark_damaged`](Receiver::mark_damaged): the ring was found whole again
    /// (only a process outside the protocol can have mended it), and is read on.
    pub(crate) fn unmark_damaged(&self) {
        if self.end.inherited() {
            return;
        }
        let _ = self.end.ring.u32_at(ring::RECEIVER_STATE).compare_exchange(
            ring::STATE_DAMAGED,
            ring::STATE_CONNECTED,
            Ordering::AcqRel,
            Ordering::Relaxed,
        );
    }

    /// What is committed at the receiver's position now, in one look: the fast path of an
    /// inbox's and a client's receive, which fall back to `message_ready` for anything but
    /// a message or nothing.
    #[inline]
    pub(crate) fn at_position(&self) -> AtPosition {
        let ring = self.end.ring;
        if !ring.committed(self.claim) {
            return AtPosition::Nothing;
        }
        match ring.frame_now(self.claim) {
            // (A copy inherited by `fork` takes nothing: the slow path says why.)
            Some(Next::Frame { payload, len, end }) if !self.end.inherited() => {
                AtPosition::Message(ReadyFrame { payload, len, end })
            }
            _ => AtPosition::Other,
        }
    }

    /// Takes the message `at_position` found (only this receiver moves its position, so it
    /// is still there, and its bounds were checked against the ring when it was found).
    #[inline]
    pub(crate) fn take_frame(&mut self, frame: ReadyFrame) -> RecvSlot<'_> {
        self.hand_out(frame.payload, frame.len, frame.end)
    }

    /// Whether a frame or wrap marker is committed at the receiver's position (one load).
    pub(crate) fn committed_now(&self) -> bool {
        self.end.ring.committed(self.claim)
    }

    /// The position of a long message its sender is writing at this receiver's position
    /// (or after a wrap marker there), by the sender's mark; `None` if unmarked.
    pub(crate) fn marked_now(&self) -> Option<u64> {
        self.end.ring.marked_at(self.claim)
    }

    /// How a wait on many objects sees this receiver.
    pub(crate) fn watch(&self) -> Watch<'_> {
        Watch {
            end: &self.end,
            sleep: self.end.bells.receiver.sleep(),
            peer: Side::Sender,
        }
    }

    /// Whether a message is committed at the receiver's position within `polls` looks, a
    /// pause apart: `recv`'s first polls, the cheapest looks (`false` for a wrap marker or
    /// a frame that does not fit, which `message_ready` tells apart).
    #[inline]
    pub(crate) fn frame_within(&self, polls: u32) -> bool {
        let ring = self.end.ring;
        for _ in 0..polls {
            if ring.committed(self.claim) {
                return ring.frame_now(self.claim).is_some();
            }
            std::hint::spin_loop();
        }
        false
    }

    /// Whether a message is committed at the receiver's position now (past a wrap marker,
    /// which it skips): for an inbox, which looks at its rings before it takes from one.
    pub(crate) fn message_ready(&mut self) -> Result<bool> {
        self.end.usable_here()?;
        // A ring has at most one wrap marker before a frame; a second is another process's
        // doing, and waits for the next look.
        for _ in 0..2 {
            match self
                .end
                .ring
                .next_frame(self.claim)
                .map_err(|p| self.end.corrupt(p))?
            {
                Next::Empty => return Ok(false),
                Next::Frame { .. } => return Ok(true),
                Next::Wrap { next } => self.skip_wrap(next),
            }
        }
        Ok(false)
    }

    /// Waits until a message is ready at the receiver's position, without taking it (for a
    /// service's client, which looks at a response before it takes it; its positions in
    /// the ring are stored again before each sleep if they were damaged), or the deadline
    /// passes, or `stop()` (one load: looked at with the ring, at every poll and before
    /// every sleep, and at the deadline) says to. [`Disconnected`](crate::Error::Disconnected)
    /// if the sender is gone and no message is ready.
    pub(crate) fn wait_message(
        &mut self,
        deadline: Option<Instant>,
        stop: impl Fn() -> bool,
    ) -> Result<Waited> {
        let mut looked = false;
        loop {
            if self.message_ready()? {
                return Ok(Waited::Ready);
            }
            if stop() {
                return Ok(Waited::Stopped);
            }
            // As in `Inbox::recv_until`: wrap markers committed again and again (by a
            // process outside the protocol) must not outrun the deadline.
            if looked && deadline.is_some_and(crate::sys::has_passed) {
                self.end.intact()?;
                return Ok(Waited::TimedOut);
            }
            looked = true;
            let (ring, claim) = (self.end.ring, self.claim);
            let sleep = self.end.bells.receiver.sleep();
            let ready = || ring.committed(claim) || stop();
            let marked = || ring.marked_at(claim);
            let gone = || self.restated_and_sender_gone();
            if !self.end.wait_on(&sleep, deadline, 0, ready, marked, gone)? {
                self.end.intact()?;
                return Ok(Waited::TimedOut);
            }
        }
    }

    /// A wait's look before every sleep (and once per liveness interval): says this
    /// receiver's positions again, so that a sender never waits for room that a damaged
    /// position holds back while this receiver waits (see `mending`); then whether the
    /// sender is gone.
    fn restated_and_sender_gone(&self) -> bool {
        self.restate_positions();
        self.end.peer_gone(Side::Sender)
    }

    /// Says again where this receiver is, holding no message (its caller's borrow rules a
    /// held one out: a `RecvSlot` borrows the receiver): if its positions in the ring say
    /// otherwise (only a process outside the protocol writes them), they are stored again
    /// and the sender woken, so that a sender never waits for room a damaged word holds
    /// back (see `mending`). Two loads, and no write, when they are right. (A message
    /// lent out and forgotten with `mem::forget` is taken as released.)
    pub(crate) fn restate_positions(&self) {
        let (ring, claim) = (self.end.ring, self.claim);
        if self.end.inherited() {
            return;
        }
        if ring.head().load(Ordering::Relaxed) != claim
            || ring.claim().load(Ordering::Relaxed) != claim
        {
            ring.claim().store(claim, Ordering::Release);
            ring.head().store(claim, Ordering::Release);
            self.end.wake(Side::Sender);
        }
    }

    /// The extra header words of the frame at the receiver's position (which
    /// `message_ready` found), without taking it: (0, 0) in a ring whose frames have none.
    pub(crate) fn ready_extras(&self) -> (u64, u64) {
        let ring = self.end.ring;
        let word = |k| {
            ring.extra(self.claim, k)
                .map_or(0, |w| w.load(Ordering::Relaxed))
        };
        (word(0), word(1))
    }

    /// The message at the receiver's position, which `message_ready` found there (only
    /// this receiver moves its position: if it is gone, another process changed the ring).
    pub(crate) fn take_ready(&mut self) -> Result<RecvSlot<'_>> {
        let frame = self.ready_frame()?;
        Ok(self.take_frame(frame))
    }

    /// The message at the receiver's position, which `message_ready` found there, to take
    /// with `take_frame`.
    pub(crate) fn ready_frame(&self) -> Result<ReadyFrame> {
        self.end.usable_here()?;
        match self
            .end
            .ring
            .next_frame(self.claim)
            .map_err(|p| self.end.corrupt(p))?
        {
            Next::Frame { payload, len, end } => Ok(ReadyFrame { payload, len, end }),
            Next::Empty | Next::Wrap { .. } => Err(self
                .end
                .corrupt("the message found at the receiver's position went away".into())),
        }
    }

    /// Records the frame ending at `end` as handed out and lends its payload.
    #[inline]
    fn hand_out(&mut self, payload: u64, len: usize, end: u64) -> RecvSlot<'_> {
        let frame = self.claim;
        self.end.ring.claim().store(end, Ordering::Release);
        self.claim = end;
        RecvSlot {
            receiver: self,
            frame,
            payload,
            len,
            end,
        }
    }

    /// The next message, waiting for one; [`Error::Disconnected`](crate::Error::Disconnected) once the sender is gone
    /// and every message it committed was received.
    ///
    /// The common case, a message that is there or arrives within a few polls, is inlined
    /// into the caller and makes no call at all.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::channel::{Receiver, Sender};
    /// let mut rx = Receiver::create_or_open("doc-receiver-recv", 4096)?;
    /// let mut tx = Sender::open("doc-receiver-recv")?;
    /// tx.send(b"a")?;
    /// tx.send(b"b")?;
    /// drop(tx);
    /// assert_eq!(rx.recv()?.to_vec()?, b"a"); // in the order sent, sender gone or not
    /// assert_eq!(rx.recv()?.to_vec()?, b"b");
    /// assert!(matches!(rx.recv(), Err(filemap::Error::Disconnected { .. })));
    /// # Ok::<(), filemap::Error>(())
    /// ```
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
            Some(Next::Frame { payload, len, end }) if !self.end.inherited() => {
                Ok(self.hand_out(payload, len, end))
            }
            // A wrap marker, a corrupt frame, or a receiver inherited by `fork`.
            _ => self.recv_waiting(),
        }
    }

    /// `recv` past its first polls.
    #[inline(never)]
    fn recv_waiting(&mut self) -> Result<RecvSlot<'_>> {
        // Without a deadline the wait only ends with something committed: a frame, or a
        // wrap marker, which `recv_until` skips before it waits again for the frame after
        // it.
        self.recv_until(None, None, FAST_SPINS)?
            .ok_or_else(|| unreachable!("a wait without a deadline only ends with a message"))
    }

    /// The next message if there is one now; [`Error::Disconnected`](crate::Error::Disconnected)
    /// once the sender is gone and everything it sent was received (a loop of calls learns
    /// of a sender that closed or died within a liveness interval, 50 ms).
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::channel::{Receiver, Sender};
    /// let mut rx = Receiver::create_or_open("doc-receiver-try-recv", 4096)?;
    /// let mut tx = Sender::open("doc-receiver-try-recv")?;
    /// assert!(rx.try_recv()?.is_none()); // nothing yet: no wait
    /// tx.send(b"now")?;
    /// let message = rx.try_recv()?.expect("sent before the call");
    /// assert_eq!(message.to_vec()?, b"now");
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn try_recv(&mut self) -> Result<Option<RecvSlot<'_>>> {
        self.recv_until(Some(crate::sys::passed_deadline()), None, 0)
    }

    /// Like [`recv`](Receiver::recv), giving up with [`Error::Timeout`](crate::Error::Timeout).
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::channel::{Receiver, Sender};
    /// use std::time::Duration;
    /// let mut rx = Receiver::create_or_open("doc-receiver-recv-timeout", 4096)?;
    /// let mut tx = Sender::open("doc-receiver-recv-timeout")?;
    /// let err = rx.recv_timeout(Duration::from_millis(10)).unwrap_err();
    /// assert!(matches!(err, filemap::Error::Timeout { .. }));
    /// tx.send(b"in time")?;
    /// assert_eq!(rx.recv_timeout(Duration::from_secs(1))?.to_vec()?, b"in time");
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn recv_timeout(&mut self, timeout: Duration) -> Result<RecvSlot<'_>> {
        self.recv_until(crate::sys::deadline_after(timeout), Some(timeout), 0)?
            .ok_or_else(|| unreachable!("a timed wait ends with a message or Error::Timeout"))
    }

    /// Receives the next message into `buf` (replacing its contents). If the copy faults
    /// (the channel's entry was truncated), `buf` is left empty and the message is gone.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::channel::{Receiver, Sender};
    /// let mut rx = Receiver::create_or_open("doc-receiver-recv-into", 4096)?;
    /// let mut tx = Sender::open("doc-receiver-recv-into")?;
    /// let mut buf = b"old contents".to_vec();
    /// tx.send(b"new")?;
    /// rx.recv_into(&mut buf)?;
    /// assert_eq!(buf, b"new"); // replaced, not appended
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn recv_into(&mut self, buf: &mut Vec<u8>) -> Result<()> {
        let slot = self.recv()?;
        buf.clear();
        slot.append_to(buf)
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        // A copy in a child made by `fork` leaves the channel to its parent's receiver.
        if self.end.inherited() {
            return;
        }
        self.end
            .ring
            .u32_at(ring::RECEIVER_STATE)
            .store(ring::STATE_CLOSED, Ordering::Release);
        self.end.wake(Side::Sender);
    }
}

/// Where the last receiver of `end`'s ring left off (messages handed out to a receiver that
/// died are not handed out again), or what is wrong with it.
fn position_left(end: &Endpoint) -> std::result::Result<u64, String> {
    let claim = end.ring.claim().load(Ordering::Acquire);
    // Within a ring of the tail either way (a frame handed out may be committed a moment
    // before its tail is recorded): a claim far past it would have this receiver wait
    // where nothing is ever committed.
    let tail = end.ring.tail().load(Ordering::Acquire);
    if !ring::valid_position(claim) || claim.abs_diff(tail) > end.ring.capacity() {
        return Err(format!(
            "the receiver's position {claim} is invalid (the tail is at {tail})"
        ));
    }
    Ok(claim)
}

/// How [`Receiver::wait_message`] ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Waited {
    /// A message is ready at the receiver's position.
    Ready,
    /// The deadline passed.
    TimedOut,
    /// The caller's `stop()` said to.
    Stopped,
}

/// What [`Receiver::at_position`] found at the receiver's position.
pub(crate) enum AtPosition {
    /// Nothing committed yet.
    Nothing,
    /// A message, to take with [`Receiver::take_frame`].
    Message(ReadyFrame),
    /// A wrap marker, or a frame that does not fit the ring: `message_ready` deals with it.
    Other,
}

/// A committed message at a receiver's position: where its payload is, how long it is, and
/// where its frame ends (all checked to fit the ring). Not `Copy`: each one found is taken
/// once, so the position never moves back past it (only `RecvSlot::leave` moves it back,
/// to the start of the message taken).
#[derive(Debug)]
pub(crate) struct ReadyFrame {
    payload: u64,
    len: usize,
    end: u64,
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
/// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
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
    /// Where the frame starts (its header).
    frame: u64,
    payload: u64,
    len: usize,
    end: u64,
}

impl RecvSlot<'_> {
    /// The message's length in bytes.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::channel::{Receiver, Sender};
    /// let mut tx = Sender::create_or_open("doc-recv-slot-len", 4096)?;
    /// let mut rx = Receiver::open("doc-recv-slot-len")?;
    /// tx.send(b"four")?;
    /// assert_eq!(rx.recv()?.len(), 4);
    /// # Ok::<(), filemap::Error>(())
    /// ```
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the message is empty.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::channel::{Receiver, Sender};
    /// let mut tx = Sender::create_or_open("doc-recv-slot-is-empty", 4096)?;
    /// let mut rx = Receiver::open("doc-recv-slot-is-empty")?;
    /// tx.send(b"")?;
    /// tx.send(b"x")?;
    /// assert!(rx.recv()?.is_empty());
    /// assert!(!rx.recv()?.is_empty());
    /// # Ok::<(), filemap::Error>(())
    /// ```
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Extra header word `k` of the message's frame (0 in a ring whose frames have none).
    #[inline]
    pub(crate) fn extra(&self, k: u64) -> u64 {
        let ring = self.receiver.end.ring;
        ring.extra(self.frame, k)
            .map_or(0, |w| w.load(Ordering::Relaxed))
    }

    /// Identifies the channel the message is in within this process (its object, not its
    /// name: the name may be another channel's by now).
    pub(super) fn channel_identity(&self) -> u64 {
        self.receiver.end.memory.identity()
    }

    /// Whether `address` lies in this message.
    pub(super) fn holds(&self, address: usize) -> bool {
        (self.as_ptr() as usize..self.as_ptr() as usize + self.len).contains(&address)
    }

    /// `Error::Unsupported` in a child made by `fork`: the message is its parent's, which
    /// may let it go, and its bytes be written over, at any time (see `Endpoint::usable_here`).
    pub(super) fn usable_here(&self) -> Result<()> {
        self.receiver.end.usable_here()
    }

    /// `Error::PageFault` if the receiver's ring memory was lost (see `Endpoint::intact`).
    pub(super) fn intact(&self) -> Result<()> {
        self.receiver.end.intact()
    }

    /// The error for a copy out of this message, started at `at`, that faulted.
    pub(super) fn fault_error(&self, fault: Fault, at: usize) -> Error {
        self.receiver.end.fault(fault, self.as_ptr(), self.len, at)
    }

    /// The message's first byte. Reading through it is up to the caller, as with
    /// [`as_slice`](RecvSlot::as_slice).
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::channel::{Receiver, Sender};
    /// let mut tx = Sender::create_or_open("doc-recv-slot-as-ptr", 4096)?;
    /// let mut rx = Receiver::open("doc-recv-slot-as-ptr")?;
    /// tx.send(&[5u8; 100])?;
    /// let message = rx.recv()?;
    /// let at = message.as_ptr();
    /// assert_eq!(at as usize % 64, 0); // more than 48 bytes: cache-line aligned
    /// // SAFETY: inside the message; nobody writes the channel outside its protocol.
    /// assert_eq!(unsafe { at.add(99).read() }, 5);
    /// # Ok::<(), filemap::Error>(())
    /// ```
    #[inline]
    pub fn as_ptr(&self) -> *const u8 {
        self.receiver.end.ring.at(self.payload)
    }

    /// Copies `buf.len()` bytes of the message at `offset` into `buf`;
    /// [`Error::OutOfRange`](crate::Error::OutOfRange) if the message is shorter.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::channel::{Receiver, Sender};
    /// let mut tx = Sender::create_or_open("doc-recv-slot-read-at", 4096)?;
    /// let mut rx = Receiver::open("doc-recv-slot-read-at")?;
    /// tx.send(b"0123456789")?;
    /// let message = rx.recv()?;
    /// let mut buf = [0u8; 3];
    /// message.read_at(4, &mut buf)?;
    /// assert_eq!(&buf, b"456");
    /// assert!(matches!(message.read_at(8, &mut buf), Err(filemap::Error::OutOfRange { .. })));
    /// # Ok::<(), filemap::Error>(())
    /// ```
    #[inline]
    pub fn read_at(&self, offset: usize, buf: &mut [u8]) -> Result<()> {
        check_slot_range(offset, buf.len(), self.len)?;
        // (A message taken before a `fork` is its parent's, which may have given it back.)
        self.receiver.end.usable_here()?;
        // SAFETY: inside the message (checked above), whose bytes lie inside the ring's
        // mapped data area (`next_frame` checked the frame against the capacity before
        // this slot was made), mapped while the receiver this slot borrows lives. Nothing
        // here rests on the sender keeping to the protocol: the copy routine is sound
        // whatever another process writes there meanwhile, and turns a fault into an error.
        unsafe { copy_from_shared(self.as_ptr().add(offset), buf) }
            .map_err(|f| self.fault_error(f, offset))?;
        self.receiver.end.intact()
    }

    /// Copies the message into a new vector.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::channel::{Receiver, Sender};
    /// let mut tx = Sender::create_or_open("doc-recv-slot-to-vec", 4096)?;
    /// let mut rx = Receiver::open("doc-recv-slot-to-vec")?;
    /// tx.send(b"copied")?;
    /// let copy = rx.recv()?.to_vec()?; // the message is given back; the copy stays
    /// assert_eq!(copy, b"copied");
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn to_vec(&self) -> Result<Vec<u8>> {
        let mut v = Vec::new();
        self.append_to(&mut v)?;
        Ok(v)
    }

    /// Appends the message to `buf` (which is left as it was if the copy faults).
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::channel::{Receiver, Sender};
    /// let mut tx = Sender::create_or_open("doc-recv-slot-append-to", 4096)?;
    /// let mut rx = Receiver::open("doc-recv-slot-append-to")?;
    /// tx.send(b"one")?;
    /// tx.send(b", two")?;
    /// let mut log = b"log: ".to_vec();
    /// rx.recv()?.append_to(&mut log)?;
    /// rx.recv()?.append_to(&mut log)?;
    /// assert_eq!(log, b"log: one, two");
    /// # Ok::<(), filemap::Error>(())
    /// ```
    #[inline]
    pub fn append_to(&self, buf: &mut Vec<u8>) -> Result<()> {
        self.receiver.end.usable_here()?;
        let at = buf.len();
        crate::copy::reserve_for_copy(buf, self.len, "a message")?;
        let shared = self.as_ptr() as usize..self.as_ptr() as usize + self.len;
        // SAFETY: `buf` has room for `len` more bytes (reserved above); the frame is
        // readable as in `read_at`.
        unsafe { copy_racy(buf.as_mut_ptr().add(at), self.as_ptr(), self.len, shared) }
            .map_err(|f| self.fault_error(f, 0))?;
        self.receiver.end.intact()?;
        // SAFETY: the copy filled all `len` bytes past `at`.
        unsafe { buf.set_len(at + self.len) };
        Ok(())
    }

    /// Leaves the message in the channel, received by nobody: the next receive, by this
    /// receiver or by the channel's next one, gets it again (an inbox's, at its ring's next
    /// turn: the other senders' rings come first). A receiver that cannot pass a message on
    /// yet, say across a link that is down, keeps it queued so. Dropping the slot instead
    /// gives the message's space back to the sender: it is received.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::channel::{Receiver, Sender};
    /// let mut tx = Sender::create_or_open("doc-recv-slot-leave", 4096)?;
    /// let mut rx = Receiver::open("doc-recv-slot-leave")?;
    /// tx.send(b"not yet")?;
    /// rx.recv()?.leave();
    /// assert_eq!(rx.recv()?.to_vec()?, b"not yet"); // received again
    /// assert!(rx.try_recv()?.is_none());
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn leave(self) {
        // Not dropped: the head stays where it is.
        let mut slot = std::mem::ManuallyDrop::new(self);
        let frame = slot.frame;
        // (A message taken before a `fork` is its parent's: the child moves nothing.)
        if slot.receiver.end.inherited() {
            return;
        }
        // Only this receiver moves the claim, and the sender writes nothing from the head
        // (not moved since the message was handed out) on: the frame is there as it was.
        slot.receiver
            .end
            .ring
            .claim()
            .store(frame, Ordering::Release);
        slot.receiver.claim = frame;
    }

    /// The message as a slice, read in place.
    ///
    /// # Safety
    /// Rust assumes the bytes behind a `&[u8]` do not change while it lives. The channel's
    /// protocol keeps cooperating senders off a message until it is released, but a
    /// process with write access to the channel that ignores the protocol (a bug or a
    /// hostile peer) could write it meanwhile, which would be a data race. Call this only
    /// when every process that can write the channel is trusted to follow its protocol,
    /// and not in a child made by `fork` on a message its parent received (the parent may
    /// give it back meanwhile).
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::channel::{Receiver, Sender};
    /// let mut tx = Sender::create_or_open("doc-recv-slot-as-slice", 4096)?;
    /// let mut rx = Receiver::open("doc-recv-slot-as-slice")?;
    /// tx.send(b"read in place")?;
    /// let message = rx.recv()?;
    /// // SAFETY: a trusted peer: nobody writes the channel outside its protocol.
    /// let bytes = unsafe { message.as_slice() };
    /// assert_eq!(bytes.split(|b| *b == b' ').count(), 3);
    /// # Ok::<(), filemap::Error>(())
    /// ```
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
        // (A message taken before a `fork` is its parent's to give back.)
        if end.inherited() {
            return;
        }
        end.ring.head().store(self.end, Ordering::Release);
        end.wake(Side::Sender);
    }
}
