//! The sending end of a channel: [`Sender`] and the [`SendSlot`] it reserves in the ring.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::endpoint::{Endpoint, Watch};
use super::receiver::RecvSlot;
use super::ring;
use super::{COPY_LENGTH, WRITING_MARK_MIN, WaitMode, check_slot_range};
use crate::copy::{copy_racy, copy_to_shared};
use crate::error::{Error, Result};
use crate::name::{IntoName, Name};
use crate::sync::ObjectOptions;
use crate::vocabulary::Side;

/// The sending end of a channel. Only one may exist at a time (a second is
/// [`Error::EndpointTaken`]); it can replace one whose process died.
///
/// ```
/// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
/// use filemap::channel::{Receiver, Sender};
/// let mut tx = Sender::create_or_open("sender-demo", 4096)?;
/// assert!(matches!(Sender::open("sender-demo"), Err(filemap::Error::EndpointTaken { .. })));
/// tx.send(b"queued until a receiver comes")?;
/// let mut rx = Receiver::open("sender-demo")?;
/// assert_eq!(rx.recv()?.to_vec()?, b"queued until a receiver comes");
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

impl Sender {
    /// Creates the channel with `capacity` bytes (rounded up to a power of two, at least
    /// 4 KiB) if it does not exist, and becomes its sender.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::channel::{Receiver, Sender};
    /// let tx = Sender::create_or_open("doc-sender-create", 4096)?;
    /// let _rx = Receiver::create_or_open("doc-sender-create", 1 << 20)?; // opens it: it exists
    /// drop(tx);
    /// let tx = Sender::create_or_open("doc-sender-create", 1 << 20)?;
    /// assert_eq!(tx.capacity(), 4096); // an existing channel keeps its capacity
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn create_or_open(name: impl IntoName, capacity: u64) -> Result<Sender> {
        Sender::create_or_open_with(name, capacity, &ObjectOptions::new())
    }

    /// [`create_or_open`](Sender::create_or_open) with options (persistence, permissions).
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::channel::Sender;
    /// use filemap::sync::ObjectOptions;
    /// let options = ObjectOptions::new().permissions(0o640);
    /// let tx = Sender::create_or_open_with("doc-sender-create-with", 4096, &options)?;
    /// assert_eq!(tx.capacity(), 4096);
    /// #[cfg(target_os = "linux")]
    /// assert_eq!(filemap::namespace::info("doc-sender-create-with")?.mode, 0o640);
    /// # Ok::<(), filemap::Error>(())
    /// ```
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
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::channel::{Receiver, Sender};
    /// let missing = Sender::open("doc-sender-open");
    /// assert!(matches!(missing, Err(filemap::Error::NotFound { .. })));
    /// let _rx = Receiver::create_or_open("doc-sender-open", 8192)?;
    /// let tx = Sender::open("doc-sender-open")?;
    /// assert_eq!(tx.capacity(), 8192); // the capacity its creator gave it
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn open(name: impl IntoName) -> Result<Sender> {
        Sender::connect(Endpoint::open(
            name.into_name()?,
            None,
            &ObjectOptions::new(),
            Side::Sender,
        )?)
    }

    pub(crate) fn connect(end: Endpoint) -> Result<Sender> {
        if end
            .ring
            .u32_at(ring::RECEIVER_STATE)
            .load(Ordering::Acquire)
            == ring::STATE_DAMAGED
        {
            return Err(end.corrupt(
                "its receiver set the ring aside as damaged, and reads it no more until a \
                 receiver connects it again"
                    .into(),
            ));
        }
        let tail = match recorded_position(&end) {
            Ok(tail) => tail,
            Err(problem) => return Err(end.corrupt(problem)),
        };
        let head = end.ring.head().load(Ordering::Acquire);
        if !end.ring.head_fits(head, tail) {
            return Err(end.corrupt(format!(
                "the receiver's position {head} does not fit the sender's {tail}"
            )));
        }
        Sender::connect_at(end, tail, head)
    }

    /// Connects the sender at `tail`, a valid position, with `head` the receiver's release
    /// position (checked to fit it).
    pub(super) fn connect_at(end: Endpoint, tail: u64, head: u64) -> Result<Sender> {
        let ring = end.ring;
        ring.disarm(tail, head);
        ring.tail().store(tail, Ordering::Release);
        ring.u32_at(ring::SENDER_STATE)
            .store(ring::STATE_CONNECTED, Ordering::Release);
        let mut end = end;
        end.take_doorbell(Side::Sender);
        end.set_mode(Side::Sender, WaitMode::Blocking);
        end.wake(Side::Receiver);
        end.intact()?;
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

    /// The position past the last frame this sender committed (a service's client notes
    /// where each request ends, to tell which ones a server had taken).
    pub(crate) fn position(&self) -> u64 {
        self.tail
    }

    /// The endpoint (for the async waits built over the sender).
    pub(crate) fn endpoint(&self) -> &Endpoint {
        &self.end
    }

    /// How a wait on many objects sees this sender.
    pub(crate) fn watch(&self) -> Watch<'_> {
        Watch {
            end: &self.end,
            sleep: self.end.bells.sender.sleep(),
            peer: Side::Receiver,
        }
    }

    /// Whether `reserve`'s fast path applies: room for `len` bytes before the ring's end by
    /// the head last read (which only moves on), found without touching shared memory.
    #[inline]
    pub(crate) fn room_cached(&self, len: usize) -> bool {
        self.fits_now(len).is_some()
    }

    /// Whether `reserve` can take its next step for a message of `len` bytes now, without
    /// waiting: room for the frame; or, for a frame that must go to the ring's start, room
    /// for the wrap marker before it (the receiver frees the start only once it has passed
    /// the marker, so a wait for both at once could wait for ever: see
    /// [`room_after_wrap`](Sender::room_after_wrap)); or `reserve` would fail at once (too
    /// long, an endpoint inherited by `fork`, or a ring another process broke).
    pub(crate) fn room_now(&self, len: usize) -> bool {
        let ring = self.end.ring;
        if len as u64 > ring.max_message() || self.end.inherited() {
            return true;
        }
        let head = ring.head().load(Ordering::Acquire);
        !ring.head_fits(head, self.tail) || self.step_end(len) - head <= ring.capacity()
    }

    /// Says again where this sender is, for a wait for room (the async send's looks; the
    /// blocking one's sleeps do so themselves): see [`restate_tail`].
    pub(crate) fn restate_position(&self) {
        if !self.end.inherited() {
            restate_tail(&self.end, self.tail);
        }
    }

    /// Where the bytes of `reserve`'s next step for `len` bytes end: the frame's end, or
    /// the ring's end for the wrap marker of a frame that does not fit before it.
    fn step_end(&self, len: usize) -> u64 {
        let ring = self.end.ring;
        let size = ring::frame_size(ring.payload_offset(len as u64), len as u64);
        let to_end = ring.bytes_to_end(self.tail);
        self.tail + if size > to_end { to_end } else { size }
    }

    /// [`room_now`](Sender::room_now) for the frame itself: first publishes the wrap marker
    /// a frame of `len` bytes needs at the ring's end if its bytes are free now (as
    /// `reserve` does; a marker is no message, and the receiver passes it to free the
    /// ring's start). The async sends' look, which never waits.
    pub(crate) fn room_after_wrap(&mut self, len: usize) -> bool {
        let ring = self.end.ring;
        if len as u64 <= ring.max_message() && !self.end.inherited() {
            let size = ring::frame_size(ring.payload_offset(len as u64), len as u64);
            let tail = self.tail;
            let to_end = ring.bytes_to_end(tail);
            let head = ring.head().load(Ordering::Acquire);
            if size > to_end
                && ring.head_fits(head, tail)
                && tail + to_end - head <= ring.capacity()
            {
                self.head = head;
                ring.write_wrap(tail);
                self.publish(tail, tail + to_end);
            }
        }
        self.room_now(len)
    }

    /// The channel's name.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::channel::Sender;
    /// let tx = Sender::create_or_open("doc-sender-name", 4096)?;
    /// assert_eq!(tx.name().base(), "doc-sender-name");
    /// assert_eq!(tx.name().to_string(), "Local\\doc-sender-name");
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
    /// use filemap::channel::Sender;
    /// let tx = Sender::create_or_open("doc-sender-removed", 4096)?;
    /// assert!(!tx.name_removed());
    /// #[cfg(unix)]
    /// {
    ///     filemap::namespace::remove("doc-sender-removed")?;
    ///     assert!(tx.name_removed()); // made again, the name would be another object's
    /// }
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn name_removed(&self) -> bool {
        self.end.memory.name_removed()
    }

    /// The ring's capacity in bytes.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::channel::Sender;
    /// assert_eq!(Sender::create_or_open("doc-sender-capacity", 5000)?.capacity(), 8192);
    /// assert_eq!(Sender::create_or_open("doc-sender-capacity-min", 1)?.capacity(), 4096);
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn capacity(&self) -> u64 {
        self.end.ring.capacity()
    }

    /// The largest message the channel carries.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::channel::Sender;
    /// let mut tx = Sender::create_or_open("doc-sender-max-len", 4096)?;
    /// let max = tx.max_message_len();
    /// assert!(max > 0 && (max as u64) < tx.capacity()); // a frame has a header too
    /// let too_long = vec![0u8; max + 1];
    /// assert!(matches!(tx.send(&too_long), Err(filemap::Error::MessageTooLarge { .. })));
    /// tx.send(&too_long[..max])?; // the largest message fits
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn max_message_len(&self) -> usize {
        self.end.ring.max_message() as usize
    }

    /// How this sender waits when the ring is full. (A peer that is waking this sender
    /// at the moment of a switch to blocking may leave it asleep for up to 50 ms once.)
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::channel::{Receiver, Sender, WaitMode};
    /// let mut tx = Sender::create_or_open("doc-sender-wait-mode", 4096)?;
    /// let mut rx = Receiver::open("doc-sender-wait-mode")?;
    /// tx.set_wait_mode(WaitMode::BusyPoll); // a full ring: spin, never sleep
    /// tx.send(b"polled")?;
    /// assert_eq!(rx.recv()?.to_vec()?, b"polled");
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn set_wait_mode(&mut self, mode: WaitMode) {
        self.end.set_mode(Side::Sender, mode);
    }

    /// Where the payload of a frame for `len` bytes goes, if that frame fits at the tail
    /// now without waiting, wrapping or reloading the receiver's head (the slow path
    /// handles those, and errors).
    #[inline]
    fn fits_now(&self, len: usize) -> Option<u64> {
        let ring = self.end.ring;
        if len as u64 > ring.max_message() || self.end.inherited() {
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
        self.end.usable_here()?;
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
        Ok(Some(self.slot_at(start, offset, len)))
    }

    /// The slot of `len` bytes at `start` (room made): a long message's frame is marked as
    /// being written, for a receiver that waits for it.
    #[inline]
    fn slot_at(&mut self, start: u64, offset: u64, len: usize) -> SendSlot<'_> {
        let marked = len >= WRITING_MARK_MIN;
        if marked {
            self.end.ring.mark_writing(start);
        }
        SendSlot {
            sender: self,
            start,
            offset,
            len,
            marked,
        }
    }

    fn nothing<T>(&self, timeout: Option<Duration>) -> Result<Option<T>> {
        match timeout {
            Some(after) => Err(self.end.timeout(after)),
            None => Ok(None),
        }
    }

    /// Waits until the ring is free up to `end`; `false` only if `deadline` passed first.
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
        let end_point = &self.end;
        let restate = || restate_tail(end_point, tail);
        loop {
            let ok = end_point.wait(Side::Sender, deadline, 0, room, || None, restate)?;
            self.head = self.load_head()?;
            if end - self.head <= ring.capacity() {
                return Ok(true);
            }
            // Without a deadline the wait only ends with room, unless another process
            // changed the head meanwhile (not the protocol's doing): wait again.
            if !ok || deadline.is_some() {
                return Ok(false);
            }
        }
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
    ///
    /// Room is what the receiver has given back, and a frame is never split: one that
    /// does not fit before the ring's end leaves a wrap marker there and waits for the
    /// receiver to pass it, even if the receiver has taken every message. So a thread
    /// that is also the channel's receiver must not wait here (it would wait for itself):
    /// it uses [`try_reserve`](Sender::try_reserve) or [`try_send`](Sender::try_send),
    /// and receives when they find no room.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::channel::{Receiver, Sender};
    /// let mut tx = Sender::create_or_open("doc-sender-reserve", 4096)?;
    /// let mut rx = Receiver::open("doc-sender-reserve")?;
    /// let mut slot = tx.reserve(5)?;
    /// slot.copy_from_slice(b"draft")?;
    /// drop(slot); // uncommitted: sends nothing
    /// assert!(rx.try_recv()?.is_none());
    /// let mut slot = tx.reserve(5)?;
    /// slot.copy_from_slice(b"final")?;
    /// slot.commit();
    /// assert_eq!(rx.recv()?.to_vec()?, b"final");
    /// # Ok::<(), filemap::Error>(())
    /// ```
    #[inline]
    pub fn reserve(&mut self, len: usize) -> Result<SendSlot<'_>> {
        match self.fits_now(len) {
            // The fast path: room at the tail, before the ring's end, by the cached head.
            Some(offset) => Ok(self.slot_at(self.tail, offset, len)),
            None => self.reserve_waiting(len),
        }
    }

    /// `reserve` when the fast path does not apply.
    #[inline(never)]
    fn reserve_waiting(&mut self, len: usize) -> Result<SendSlot<'_>> {
        self.reserve_until(len, None, None)?
            .ok_or_else(|| unreachable!("a wait without a deadline only ends with room"))
    }

    /// A slot if there is room now; `Ok(None)` if the ring is full;
    /// [`Error::Disconnected`](crate::Error::Disconnected) if it is full and the receiver
    /// is gone (a loop of calls learns of a receiver that closed or died within a liveness
    /// interval, 50 ms).
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::channel::{Receiver, Sender};
    /// let mut tx = Sender::create_or_open("doc-sender-try-reserve", 4096)?;
    /// let max = tx.max_message_len();
    /// tx.try_reserve(max)?.unwrap().commit(); // an empty ring has room: now it is full
    /// assert!(tx.try_reserve(1)?.is_none());
    /// let mut rx = Receiver::open("doc-sender-try-reserve")?;
    /// assert_eq!(rx.recv()?.len(), max); // the message, dropped, gives its room back
    /// assert!(tx.try_reserve(1)?.is_some());
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn try_reserve(&mut self, len: usize) -> Result<Option<SendSlot<'_>>> {
        self.reserve_until(len, Some(crate::sys::passed_deadline()), None)
    }

    /// Like [`reserve`](Sender::reserve), giving up with [`Error::Timeout`].
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::channel::Sender;
    /// use std::time::Duration;
    /// let mut tx = Sender::create_or_open("doc-sender-reserve-timeout", 4096)?;
    /// let max = tx.max_message_len();
    /// tx.reserve_timeout(max, Duration::from_millis(10))?.commit(); // room: no wait
    /// let full = tx.reserve_timeout(1, Duration::from_millis(10)); // no receiver empties it
    /// assert!(matches!(full, Err(filemap::Error::Timeout { .. })));
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn reserve_timeout(&mut self, len: usize, timeout: Duration) -> Result<SendSlot<'_>> {
        self.reserve_until(len, crate::sys::deadline_after(timeout), Some(timeout))?
            .ok_or_else(|| unreachable!("a timed wait ends with room or Error::Timeout"))
    }

    /// Copies `message` in and sends it, waiting while the ring is full.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::channel::{Receiver, Sender};
    /// let mut tx = Sender::create_or_open("doc-sender-send", 4096)?;
    /// let mut rx = Receiver::open("doc-sender-send")?;
    /// tx.send(b"first")?;
    /// tx.send(b"")?; // an empty message is a message too
    /// tx.send(b"third")?;
    /// assert_eq!(rx.recv()?.to_vec()?, b"first");
    /// assert!(rx.recv()?.is_empty());
    /// assert_eq!(rx.recv()?.to_vec()?, b"third");
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn send(&mut self, message: &[u8]) -> Result<()> {
        let mut slot = self.reserve(message.len())?;
        slot.copy_from_slice(message)?;
        slot.commit();
        // The commit touches the next frame's header too, which may be what finds the
        // ring's memory lost.
        self.end.intact()
    }

    /// Sends one message made of `parts`, in order, waiting while the ring is full: each
    /// is copied straight into the message's slot, with no buffer to join them first (a
    /// gather write). All or nothing, unlike `Write::write_vectored`: parts that add up to
    /// more than [`max_message_len`](Sender::max_message_len) are refused with
    /// [`Error::MessageTooLarge`] before anything is written.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::channel::{Receiver, Sender};
    /// let mut rx = Receiver::create_or_open("send-vectored-demo", 4096)?;
    /// let mut tx = Sender::open("send-vectored-demo")?;
    /// tx.send_vectored(&[b"head ", b"and ", b"body"])?;
    /// assert_eq!(rx.recv()?.to_vec()?, b"head and body");
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn send_vectored(&mut self, parts: &[&[u8]]) -> Result<()> {
        let mut slot = self.reserve(super::total_len(parts))?;
        super::write_parts(parts, |at, part| slot.write_at(at, part))?;
        slot.commit();
        self.end.intact()
    }

    /// Sends `message` if there is room now; `Ok(false)` if the ring is full;
    /// [`Error::Disconnected`](crate::Error::Disconnected) if it is full and the receiver
    /// is gone (a loop of calls learns of a receiver that closed or died within a liveness
    /// interval, 50 ms).
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::channel::{Receiver, Sender};
    /// let mut tx = Sender::create_or_open("doc-sender-try-send", 4096)?;
    /// let mut rx = Receiver::open("doc-sender-try-send")?;
    /// let big = vec![1u8; tx.max_message_len()];
    /// assert!(tx.try_send(&big)?); // fills the ring
    /// assert!(!tx.try_send(b"no room")?); // not sent
    /// assert_eq!(rx.recv()?.len(), big.len());
    /// assert!(tx.try_send(b"room again")?);
    /// assert_eq!(rx.recv()?.to_vec()?, b"room again");
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn try_send(&mut self, message: &[u8]) -> Result<bool> {
        let Some(mut slot) = self.try_reserve(message.len())? else {
            return Ok(false);
        };
        slot.copy_from_slice(message)?;
        slot.commit();
        self.end.intact()?;
        Ok(true)
    }

    /// Sends a copy of a message received from another channel, waiting while the ring is
    /// full: a relay's forwarding step, one copy from ring to ring.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::channel::{Receiver, Sender};
    /// let (mut a_tx, mut a_rx) = (Sender::create_or_open("a", 4096)?, Receiver::open("a")?);
    /// let (mut b_tx, mut b_rx) = (Sender::create_or_open("b", 4096)?, Receiver::open("b")?);
    /// a_tx.send(b"relayed")?;
    /// b_tx.forward(&a_rx.recv()?)?;
    /// assert_eq!(b_rx.recv()?.to_vec()?, b"relayed");
    /// # Ok::<(), filemap::Error>(())
    /// ```
    ///
    /// A message received from this same channel holds its bytes in the ring until it is
    /// dropped, so when the ring has no room for its copy, waiting would never end:
    /// [`Error::Unsupported`] then.
    pub fn forward(&mut self, message: &RecvSlot<'_>) -> Result<()> {
        // A message a child made by `fork` holds is its parent's, as for every other copy
        // out of it.
        message.usable_here()?;
        let mut slot = if message.channel_identity() == self.end.memory.identity() {
            self.try_reserve(message.len())?.ok_or(Error::Unsupported {
                what: "forwarding a message into the full channel it was received from: \
                       the message holds the room its copy would wait for",
            })?
        } else {
            self.reserve(message.len())?
        };
        let (at, len) = (slot.as_mut_ptr(), message.len());
        // SAFETY: the slot's `len` bytes and the message's lie inside their rings' mapped
        // data areas (each checked against its ring's capacity when the slot and the
        // message were made), mapped while the endpoints they borrow live. Nothing here
        // rests on other processes keeping to the protocol: the copy routine is sound
        // whatever they write into either ring meanwhile, and turns a fault (a ring
        // another process shrank) into an error.
        let copied = unsafe { copy_racy(at, message.as_ptr(), len, 0..usize::MAX) };
        match copied {
            Ok(()) => {
                // Either ring's memory may have been lost (replaced by zeros) meanwhile.
                message.intact()?;
                slot.sender.end.intact()?;
                slot.commit();
                self.end.intact()
            }
            // In the message's ring or in this one; the slot is dropped uncommitted.
            Err(f) if message.holds(f.address) => Err(message.fault_error(f, 0)),
            Err(f) => Err(slot.sender.end.fault(f, at, len, 0)),
        }
    }

    /// Like [`send`](Sender::send), giving up with [`Error::Timeout`].
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::channel::Sender;
    /// use std::time::Duration;
    /// let mut tx = Sender::create_or_open("doc-sender-send-timeout", 4096)?;
    /// let big = vec![0u8; tx.max_message_len()];
    /// tx.send_timeout(&big, Duration::from_millis(10))?; // room: sent at once
    /// let err = tx.send_timeout(b"more", Duration::from_millis(10)).unwrap_err();
    /// assert!(matches!(err, filemap::Error::Timeout { .. })); // no receiver empties the ring
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn send_timeout(&mut self, message: &[u8], timeout: Duration) -> Result<()> {
        let mut slot = self.reserve_timeout(message.len(), timeout)?;
        slot.copy_from_slice(message)?;
        slot.commit();
        self.end.intact()
    }
}

/// The position past the last item a sender committed, from its recorded `tail`: a sender
/// that died between committing a frame (or wrap marker) and recording the new tail left
/// one item past the tail it recorded; never two (each commit is followed by its tail, and
/// the word after a commit is disarmed). Why not, if the recorded position is damaged.
pub(super) fn recorded_position(end: &Endpoint) -> std::result::Result<u64, String> {
    let ring = end.ring;
    let recorded = ring.tail().load(Ordering::Acquire);
    if !ring::valid_position(recorded) {
        return Err(format!("the sender's position {recorded} is invalid"));
    }
    let tail = ring.committed_end(recorded).unwrap_or(recorded);
    if tail != recorded && ring.committed_end(tail).is_some() {
        return Err(format!(
            "more than one frame is committed past the sender's recorded position {recorded}"
        ));
    }
    Ok(tail)
}

impl Drop for Sender {
    fn drop(&mut self) {
        // A copy in a child made by `fork` leaves the channel to its parent's sender.
        if self.end.inherited() {
            return;
        }
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
/// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
/// use filemap::channel::{Receiver, Sender};
/// let mut tx = Sender::create_or_open("send-slot-demo", 4096)?;
/// let mut rx = Receiver::open("send-slot-demo")?;
/// let mut slot = tx.reserve(16)?;
/// slot.write_at(0, b"short")?;
/// slot.commit_len(5); // publish only what was written
/// assert_eq!(rx.recv()?.to_vec()?, b"short");
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
    /// The frame is marked as being written (a long message), until it is committed.
    marked: bool,
}

impl Drop for SendSlot<'_> {
    /// An uncommitted slot sends nothing; its frame's mark of being written goes.
    fn drop(&mut self) {
        if self.marked && !self.sender.end.inherited() {
            self.sender.end.ring.unmark_writing(self.start);
        }
    }
}

impl SendSlot<'_> {
    /// Publishes the message.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::channel::{Receiver, Sender};
    /// let mut tx = Sender::create_or_open("doc-slot-commit", 4096)?;
    /// let mut rx = Receiver::open("doc-slot-commit")?;
    /// let mut slot = tx.reserve(4)?;
    /// slot.copy_from_slice(b"ping")?;
    /// assert!(rx.try_recv()?.is_none()); // written, not yet published
    /// slot.commit();
    /// assert_eq!(rx.recv()?.to_vec()?, b"ping");
    /// # Ok::<(), filemap::Error>(())
    /// ```
    #[inline]
    pub fn commit(self) {
        let len = self.len;
        self.commit_len(len);
    }

    /// Publishes the first `len` bytes only (at most the reserved length).
    ///
    /// A slot reserved before a `fork` publishes nothing in the child, whose copy of the
    /// sender is its parent's (see [`Sender`]).
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::channel::{Receiver, Sender};
    /// let mut tx = Sender::create_or_open("doc-slot-commit-len", 4096)?;
    /// let mut rx = Receiver::open("doc-slot-commit-len")?;
    /// let mut slot = tx.reserve(64)?; // room for the longest answer
    /// slot.write_at(0, b"yes")?;
    /// slot.commit_len(3);
    /// assert_eq!(rx.recv()?.to_vec()?, b"yes");
    /// let mut slot = tx.reserve(2)?;
    /// slot.copy_from_slice(b"ok")?;
    /// slot.commit_len(100); // more than reserved: the reserved length
    /// assert_eq!(rx.recv()?.to_vec()?, b"ok");
    /// # Ok::<(), filemap::Error>(())
    /// ```
    #[inline]
    pub fn commit_len(mut self, len: usize) {
        // The commit replaces the mark.
        self.marked = false;
        if self.sender.end.inherited() {
            return;
        }
        let len = len.min(self.len);
        self.sender
            .end
            .ring
            .write_header(self.start, len as u32, self.offset);
        let end = self.start + ring::frame_size(self.offset, len as u64);
        self.sender.publish(self.start, end);
    }

    /// Sets extra header word `k` (0 or 1) of the frame, in a ring whose frames have them
    /// (a service's); nothing otherwise. Published by the commit, as the payload is.
    #[inline]
    pub(crate) fn set_extra(&mut self, k: u64, value: u64) {
        if let Some(word) = self.sender.end.ring.extra(self.start, k) {
            word.store(value, Ordering::Relaxed);
        }
    }

    /// The reserved length in bytes.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::channel::Sender;
    /// let mut tx = Sender::create_or_open("doc-slot-len", 4096)?;
    /// let slot = tx.reserve(10)?;
    /// assert_eq!(slot.len(), 10);
    /// drop(slot); // sends nothing
    /// # Ok::<(), filemap::Error>(())
    /// ```
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the slot holds no bytes (a zero-length message).
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::channel::Sender;
    /// let mut tx = Sender::create_or_open("doc-slot-is-empty", 4096)?;
    /// assert!(tx.reserve(0)?.is_empty());
    /// assert!(!tx.reserve(1)?.is_empty());
    /// # Ok::<(), filemap::Error>(())
    /// ```
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The slot's first byte. Writing through it is up to the caller, as with
    /// [`as_mut_slice`](SendSlot::as_mut_slice).
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::channel::{Receiver, Sender};
    /// let mut tx = Sender::create_or_open("doc-slot-as-mut-ptr", 4096)?;
    /// let mut rx = Receiver::open("doc-slot-as-mut-ptr")?;
    /// let mut slot = tx.reserve(64)?;
    /// let at = slot.as_mut_ptr();
    /// assert_eq!(at as usize % 64, 0); // more than 48 bytes: cache-line aligned
    /// // SAFETY: 4 bytes inside the slot; nobody writes the channel outside its protocol.
    /// unsafe { at.copy_from_nonoverlapping(b"raw!".as_ptr(), 4) };
    /// slot.commit_len(4);
    /// assert_eq!(rx.recv()?.to_vec()?, b"raw!");
    /// # Ok::<(), filemap::Error>(())
    /// ```
    #[inline]
    pub fn as_mut_ptr(&mut self) -> *mut u8 {
        self.sender.end.ring.at(self.start + self.offset)
    }

    /// Copies `message` into the slot, which must have its length;
    /// [`Error::PageFault`] if the ring's memory could not be written (its entry was
    /// truncated by another process).
    ///
    /// [`Error::InvalidSize`] if `message.len()` is not the slot's length (where
    /// `<[u8]>::copy_from_slice` panics), the slot left as it was.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::channel::{Receiver, Sender};
    /// let mut tx = Sender::create_or_open("doc-slot-copy-from-slice", 4096)?;
    /// let mut rx = Receiver::open("doc-slot-copy-from-slice")?;
    /// let message = b"exactly this";
    /// let mut slot = tx.reserve(message.len())?;
    /// slot.copy_from_slice(message)?;
    /// slot.commit();
    /// assert_eq!(rx.recv()?.to_vec()?, message);
    /// # Ok::<(), filemap::Error>(())
    /// ```
    #[inline]
    pub fn copy_from_slice(&mut self, message: &[u8]) -> Result<()> {
        if message.len() != self.len {
            return Err(Error::InvalidSize {
                size: message.len() as u64,
                problem: COPY_LENGTH,
            });
        }
        self.sender.end.usable_here()?;
        let at = self.as_mut_ptr();
        // SAFETY: the slot's `len` bytes are contiguous and inside the ring's mapped data
        // area (the reservation checked them against the capacity), mapped while the
        // sender this slot borrows lives. That no other process writes them is the
        // protocol, not a condition of soundness: the copy routine is sound whatever
        // another process writes there meanwhile, and turns a fault into an error.
        unsafe { copy_to_shared(at, message) }
            .map_err(|f| self.sender.end.fault(f, at, self.len, 0))?;
        self.sender.end.intact()
    }

    /// Copies `data` into the slot at `offset`; [`Error::OutOfRange`] if it does not fit.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::channel::{Receiver, Sender};
    /// let mut tx = Sender::create_or_open("doc-slot-write-at", 4096)?;
    /// let mut rx = Receiver::open("doc-slot-write-at")?;
    /// let mut slot = tx.reserve(8)?;
    /// slot.write_at(4, b"tail")?; // in any order
    /// slot.write_at(0, b"head")?;
    /// assert!(matches!(slot.write_at(6, b"past"), Err(filemap::Error::OutOfRange { .. })));
    /// slot.commit();
    /// assert_eq!(rx.recv()?.to_vec()?, b"headtail");
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn write_at(&mut self, offset: usize, data: &[u8]) -> Result<()> {
        check_slot_range(offset, data.len(), self.len)?;
        self.sender.end.usable_here()?;
        let at = self.as_mut_ptr();
        // SAFETY: inside the slot (checked above), which this sender owns as in
        // `copy_from_slice`.
        unsafe { copy_to_shared(at.add(offset), data) }
            .map_err(|f| self.sender.end.fault(f, at, self.len, offset))?;
        self.sender.end.intact()
    }

    /// The slot as a mutable slice, for writing a message in place.
    ///
    /// # Safety
    /// Rust assumes nothing else writes memory behind a `&mut [u8]` while it lives. The
    /// channel's protocol keeps cooperating processes out of a reserved slot, but a process
    /// with write access to the channel that ignores the protocol (a bug or a hostile
    /// peer) could write it meanwhile, which would be a data race. Call this only when
    /// every process that can write the channel is trusted to follow its protocol.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::channel::{Receiver, Sender};
    /// let mut tx = Sender::create_or_open("doc-slot-as-mut-slice", 4096)?;
    /// let mut rx = Receiver::open("doc-slot-as-mut-slice")?;
    /// let mut slot = tx.reserve(4)?;
    /// // SAFETY: a trusted peer: nobody writes the channel outside its protocol.
    /// unsafe { slot.as_mut_slice() }.copy_from_slice(&42u32.to_le_bytes());
    /// slot.commit();
    /// let mut word = [0u8; 4];
    /// rx.recv()?.read_at(0, &mut word)?;
    /// assert_eq!(u32::from_le_bytes(word), 42);
    /// # Ok::<(), filemap::Error>(())
    /// ```
    #[inline]
    pub unsafe fn as_mut_slice(&mut self) -> &mut [u8] {
        let (at, len) = (self.as_mut_ptr(), self.len);
        // SAFETY: the slot is `len` contiguous bytes this sender owns, mapped while it
        // lives; `&mut self` makes this the only reference in this process, and the caller
        // vouches for the other processes.
        unsafe { std::slice::from_raw_parts_mut(at, len) }
    }
}

/// Stores the sender's position `tail` again if the ring's word says otherwise, and wakes
/// the receiver: said before every sleep of a wait for room. Such a sender publishes
/// nothing, so its position changed by a process outside the protocol would stay wrong,
/// and the receiver would not look at the ring again (an inbox tells whether damage lies
/// behind the sender by it). One load, and no write, when it is right.
fn restate_tail(end: &Endpoint, tail: u64) {
    let ring = end.ring;
    if ring.tail().load(Ordering::Relaxed) != tail {
        ring.tail().store(tail, Ordering::Release);
        end.wake(Side::Receiver);
    }
}
