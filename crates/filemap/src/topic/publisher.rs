//! The publishing end of a topic: reserve a message in the ring, write it, commit it.

use std::sync::atomic::{fence, Ordering};
use std::time::{Duration, Instant};

use super::{lock_byte, Area, SlowSubscribers, Topic, TopicOptions, CONNECTED};
use crate::channel::endpoint::Sleep;
use crate::channel::ring::{self, Next};
use crate::channel::{check_slot_range, WaitMode, WRITING_MARK_MIN};
use crate::copy::copy_to_shared;
use crate::error::{Error, Result};
use crate::name::{IntoName, Name};
use crate::sys;
use crate::vocabulary::Side;

/// The one publisher of a topic (see [`crate::topic`]).
#[derive(Debug)]
pub struct Publisher {
    topic: Topic,
    /// Where the next frame goes.
    tail: u64,
    /// The next message's sequence number.
    seq: u64,
    /// Where the oldest frame still in the ring starts (this publisher's own copy of the
    /// shared word, which only it writes).
    oldest: u64,
    /// Under `Block`, the lowest head of the connected subscribers when last looked at: a
    /// lower bound until a subscriber joins.
    lowest: u64,
    /// The topic's count of joins when `lowest` was computed.
    joins: u32,
    /// When this publisher last looked for dead subscribers outside a wait's own looks
    /// (see `dead_check_due`).
    last_dead_check: Option<Instant>,
}

impl Publisher {
    /// Opens the topic `name` as its publisher, making it with `options` if it does not
    /// exist (an existing topic keeps its own settings). A topic has one publisher at a
    /// time: [`Error::EndpointTaken`] while another lives.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); std::env::set_var("FILEMAP_DIR", _dir.path());
    /// use filemap::topic::{Publisher, TopicOptions};
    /// let mut p = Publisher::create_or_open("news", &TopicOptions::new().history(5))?;
    /// p.publish(b"first")?;
    /// assert!(matches!(Publisher::open("news"), Err(filemap::Error::EndpointTaken { .. })));
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn create_or_open(name: impl IntoName, options: &TopicOptions) -> Result<Publisher> {
        Publisher::take(name.into_name()?, Some(options))
    }

    /// Opens an existing topic as its publisher: a new publisher takes over from one that
    /// closed or died, and continues its sequence after the last message it committed.
    pub fn open(name: impl IntoName) -> Result<Publisher> {
        Publisher::take(name.into_name()?, None)
    }

    fn take(name: Name, options: Option<&TopicOptions>) -> Result<Publisher> {
        let (topic, role) = Topic::open(name, options, 0..1)?;
        if role.is_none() {
            return Err(Error::EndpointTaken {
                name: topic.end.name.to_string(),
                endpoint: "publisher",
            });
        }
        Publisher::connect(topic)
    }

    /// Picks up where the last publisher left off: its committed tail (one frame past the
    /// tail it recorded, if it died in between), the oldest frame, the next sequence number.
    fn connect(topic: Topic) -> Result<Publisher> {
        let (ring, area) = (topic.end.ring, topic.area);
        let recorded = ring.tail().load(Ordering::Acquire);
        if !ring::valid_position(recorded) {
            return Err(topic.corrupt(format!("publisher's position {recorded} is invalid")));
        }
        let tail = ring.committed_end(recorded).unwrap_or(recorded);
        let oldest = area.oldest().load(Ordering::Acquire);
        if !ring::valid_position(oldest) || oldest > tail || tail - oldest > ring.capacity() {
            return Err(topic.corrupt(format!(
                "oldest frame at {oldest} does not fit the publisher's position {tail}"
            )));
        }
        let seq = next_seq(&topic, oldest, tail)?;
        ring.disarm(tail, oldest);
        ring.tail().store(tail, Ordering::Release);
        area.published().store(seq, Ordering::Release);
        ring.u32_at(ring::SENDER_STATE)
            .store(ring::STATE_CONNECTED, Ordering::Release);
        topic.end.take_doorbell(Side::Sender);
        let mut publisher = Publisher {
            joins: area.u32_at(super::JOINS).load(Ordering::SeqCst),
            // Nothing known of the heads yet (a publisher before this one may have left a
            // joiner below `oldest`): the first wait for room looks at them.
            lowest: 0,
            last_dead_check: None,
            topic,
            tail,
            seq,
            oldest,
        };
        publisher.set_wait_mode(WaitMode::Blocking);
        publisher.wake_subscribers();
        publisher.topic.end.intact()?;
        Ok(publisher)
    }

    /// The topic's name.
    pub fn name(&self) -> &Name {
        &self.topic.end.name
    }

    /// The ring's capacity in bytes.
    pub fn capacity(&self) -> u64 {
        self.topic.end.ring.capacity()
    }

    /// The largest message the topic carries.
    pub fn max_message_len(&self) -> usize {
        self.topic.end.ring.max_message() as usize
    }

    /// The sequence number the next message will have (messages are numbered from 0).
    pub fn next_sequence(&self) -> u64 {
        self.seq
    }

    /// The topic's policy for slow subscribers.
    pub fn slow_subscribers(&self) -> SlowSubscribers {
        self.topic.area.policy
    }

    /// How many subscribers can be connected at once (the topic's slots, set when it was
    /// made).
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); std::env::set_var("FILEMAP_DIR", _dir.path());
    /// use filemap::topic::{Publisher, TopicOptions};
    /// let publisher = Publisher::create_or_open("news", &TopicOptions::new().max_subscribers(3))?;
    /// assert_eq!(publisher.max_subscribers(), 3);
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn max_subscribers(&self) -> u32 {
        self.topic.area.slots
    }

    /// How many subscribers are connected (live or not yet found dead).
    pub fn subscribers(&self) -> usize {
        let area = &self.topic.area;
        (0..area.slots)
            .filter(|&i| area.slot(i).state().load(Ordering::Acquire) & CONNECTED != 0)
            .count()
    }

    /// How this publisher waits for a slow subscriber (under [`SlowSubscribers::Block`]).
    pub fn set_wait_mode(&mut self, mode: WaitMode) {
        self.topic.end.set_mode(Side::Sender, mode);
    }

    /// A slot of `len` bytes for the next message, waiting (under `Block`) while a
    /// subscriber holds the ring up; write it, then [`commit`](PublishSlot::commit).
    pub fn reserve(&mut self, len: usize) -> Result<PublishSlot<'_>> {
        self.reserve_until(len, None, None)?
            .ok_or_else(|| unreachable!("a wait without a deadline only ends with room"))
    }

    /// A slot if there is room now; `Ok(None)` if a subscriber holds the ring up.
    pub fn try_reserve(&mut self, len: usize) -> Result<Option<PublishSlot<'_>>> {
        self.reserve_until(len, Some(Instant::now()), None)
    }

    /// Like [`reserve`](Publisher::reserve), giving up with [`Error::Timeout`].
    pub fn reserve_timeout(&mut self, len: usize, timeout: Duration) -> Result<PublishSlot<'_>> {
        self.reserve_until(len, sys::deadline_after(timeout), Some(timeout))?
            .ok_or_else(|| unreachable!("a timed wait ends with room or Error::Timeout"))
    }

    /// Copies `message` in and publishes it.
    pub fn publish(&mut self, message: &[u8]) -> Result<()> {
        let mut slot = self.reserve(message.len())?;
        slot.copy_from_slice(message)?;
        slot.commit();
        self.topic.end.intact()
    }

    /// Publishes one message made of `parts`, in order: each is copied straight into the
    /// message's slot, with no buffer to join them first (a gather write). All or nothing,
    /// unlike `Write::write_vectored`: parts that add up to more than
    /// [`max_message_len`](Publisher::max_message_len) are refused with
    /// [`Error::MessageTooLarge`] before anything is written.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); std::env::set_var("FILEMAP_DIR", _dir.path());
    /// use filemap::topic::{Publisher, Subscriber, TopicOptions};
    /// let mut publisher = Publisher::create_or_open("vectored-demo", &TopicOptions::new())?;
    /// let mut subscriber = Subscriber::open("vectored-demo")?;
    /// publisher.publish_vectored(&[b"head ", b"and ", b"body"])?;
    /// assert_eq!(subscriber.recv()?.to_vec()?, b"head and body");
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn publish_vectored(&mut self, parts: &[&[u8]]) -> Result<()> {
        let mut slot = self.reserve(crate::channel::total_len(parts))?;
        crate::channel::write_parts(parts, |at, part| slot.write_at(at, part))?;
        slot.commit();
        self.topic.end.intact()
    }

    /// Publishes `message` if there is room now; `Ok(false)` if a subscriber holds the ring
    /// up.
    pub fn try_publish(&mut self, message: &[u8]) -> Result<bool> {
        let Some(mut slot) = self.try_reserve(message.len())? else {
            return Ok(false);
        };
        slot.copy_from_slice(message)?;
        slot.commit();
        self.topic.end.intact()?;
        Ok(true)
    }

    /// Like [`publish`](Publisher::publish), giving up with [`Error::Timeout`].
    pub fn publish_timeout(&mut self, message: &[u8], timeout: Duration) -> Result<()> {
        let mut slot = self.reserve_timeout(message.len(), timeout)?;
        slot.copy_from_slice(message)?;
        slot.commit();
        self.topic.end.intact()
    }

    fn reserve_until(
        &mut self,
        len: usize,
        deadline: Option<Instant>,
        timeout: Option<Duration>,
    ) -> Result<Option<PublishSlot<'_>>> {
        self.topic.end.usable_here()?;
        let ring = self.topic.end.ring;
        let max = self.max_message_len();
        if len > max {
            return Err(Error::MessageTooLarge {
                name: self.name().to_string(),
                len,
                max,
            });
        }
        let offset = ring.payload_offset(len as u64);
        let size = ring::frame_size(offset, len as u64);
        let to_end = ring.bytes_to_end(self.tail);
        if size > to_end {
            // Continue at the ring's start, after a wrap marker (once its bytes are free).
            let tail = self.tail;
            if !self.make_room(tail + to_end, deadline)? {
                return self.nothing(timeout);
            }
            ring.write_wrap(tail);
            ring.frame_seq(tail).store(self.seq, Ordering::Relaxed);
            self.publish_frame(tail, tail + to_end, false);
        }
        let start = self.tail;
        if !self.make_room(start + size, deadline)? {
            return self.nothing(timeout);
        }
        let marked = len >= WRITING_MARK_MIN;
        if marked {
            // For subscribers that wait for it (see `channel::Sender`'s reserve).
            ring.mark_writing(start);
        }
        Ok(Some(PublishSlot {
            publisher: self,
            start,
            offset,
            len,
            marked,
        }))
    }

    fn nothing<T>(&self, timeout: Option<Duration>) -> Result<Option<T>> {
        match timeout {
            Some(after) => Err(self.topic.end.timeout(after)),
            None => Ok(None),
        }
    }

    /// Frees the ring up to `end`: under `Block`, waits (until `deadline`) until every
    /// connected subscriber has released the bytes before `end - capacity`; then moves
    /// `oldest` past them. `false` if the deadline passed first.
    fn make_room(&mut self, end: u64, deadline: Option<Instant>) -> Result<bool> {
        let need = end.saturating_sub(self.capacity());
        let block = self.topic.area.policy == SlowSubscribers::Block;
        // Under `Block` the bytes below `oldest` are free only if the subscribers' heads
        // are past them too: a wait that ran out after `oldest` moved (below, when a
        // subscriber joined) leaves `oldest` ahead of that subscriber's head. Otherwise
        // the cached lowest head is at or past `oldest` (heads are frame starts, and
        // `oldest` the first frame start at or past what was needed), so this costs one
        // comparison.
        if need <= self.oldest && (!block || self.lowest >= need) {
            return Ok(true);
        }
        if block && !self.wait_for_heads(need, deadline)? {
            return Ok(false);
        }
        // Past the frames that go, in this publisher's own earlier frames.
        let ring = self.topic.end.ring;
        let mut oldest = self.oldest;
        while oldest < need {
            oldest = match ring.next_frame(oldest) {
                Ok(Next::Frame { end, .. }) => end,
                Ok(Next::Wrap { next }) => next,
                _ => {
                    return Err(self.topic.corrupt(format!(
                        "ring: no frame where one was published, at {oldest}"
                    )))
                }
            };
            if oldest > self.tail {
                return Err(self
                    .topic
                    .corrupt(format!("ring: a frame ends past {}", self.tail)));
            }
        }
        self.oldest = oldest;
        // Release: what was written before (the tail) is seen with it by a joiner.
        self.topic.area.oldest().store(oldest, Ordering::Release);
        // And the writes that follow (the new frame over the old ones) must not be seen
        // before it: the writer's side of the sequence-lock check.
        fence(Ordering::Release);
        if self.topic.area.policy == SlowSubscribers::Block {
            // A subscriber that joined with a head below `oldest` before seeing it: wait
            // for it to move up (it will, having seen the store above: see the module's
            // protocol).
            fence(Ordering::SeqCst);
            if self.topic.area.u32_at(super::JOINS).load(Ordering::SeqCst) != self.joins {
                // The cached lowest head does not know the new subscriber's.
                self.refresh_lowest();
                return self.wait_for_heads(need, deadline);
            }
        }
        Ok(true)
    }

    /// Under `Block`: waits until every connected subscriber's head is at least `need`,
    /// freeing the slots of dead subscribers that hold it up. `false` if the deadline
    /// passed first.
    fn wait_for_heads(&mut self, need: u64, deadline: Option<Instant>) -> Result<bool> {
        // The cached lowest head holds only while nobody joined since it was looked at: a
        // subscriber that joined meanwhile (its head at the oldest frame, or at the first
        // of its history) may be below it. (The joins count shares its line with the count
        // of sleeping subscribers, which every publish reads.)
        let joins = self.topic.area.u32_at(super::JOINS).load(Ordering::SeqCst);
        if self.lowest >= need && joins == self.joins {
            return Ok(true);
        }
        self.refresh_lowest();
        if self.lowest >= need {
            return Ok(true);
        }
        loop {
            let (end, area, tail) = (&self.topic.end, self.topic.area, self.tail);
            let ring = end.ring;
            let sleep = Sleep {
                bell: sys::Bell::Sender,
                seq: ring.u32_at(ring::TX_SEQ),
                sleepers: ring.u32_at(ring::TX_SLEEPERS),
                all_sleepers: None,
            };
            let ready = || lowest_head(&area, tail, ring.capacity()) >= need;
            let free_dead = || {
                free_dead_slots(end, &area, need);
                false
            };
            let ok = end.wait_on(&sleep, deadline, 0, ready, || None, free_dead)?;
            self.refresh_lowest();
            if self.lowest >= need {
                return Ok(true);
            }
            if !ok {
                // A short wait (`try_publish`, a small timeout) ends before the wait's own
                // looks for dead subscribers: one that was killed must not hold the ring
                // up for such a publisher for ever. Looked for at most once a liveness
                // interval (a system call per subscriber behind).
                if self.dead_check_due() {
                    free_dead_slots(&self.topic.end, &self.topic.area, need);
                    self.refresh_lowest();
                    return Ok(self.lowest >= need);
                }
                return Ok(false);
            }
            // A subscriber joined (its head at `oldest`, below `need`) between the wait's
            // last look and this one: wait for it too.
        }
    }

    /// Whether a look for dead subscribers is due now (the first time, then once a
    /// liveness interval); if so, the next is due an interval from now.
    fn dead_check_due(&mut self) -> bool {
        let now = Instant::now();
        let due = self
            .last_dead_check
            .is_none_or(|last| now.duration_since(last) >= crate::channel::LIVENESS_INTERVAL);
        if due {
            self.last_dead_check = Some(now);
        }
        due
    }

    fn refresh_lowest(&mut self) {
        let area = &self.topic.area;
        self.joins = area.u32_at(super::JOINS).load(Ordering::SeqCst);
        self.lowest = lowest_head(area, self.tail, self.capacity());
    }

    /// Commits the frame (or wrap marker) at `at`, ending at `end`, records the new tail,
    /// and wakes subscribers that sleep.
    #[inline]
    fn publish_frame(&mut self, at: u64, end: u64, message: bool) {
        let ring = self.topic.end.ring;
        ring.disarm(end, self.oldest);
        ring.commit(at);
        ring.tail().store(end, Ordering::Release);
        self.tail = end;
        if message {
            // (Wrapping: a number read back from shared memory may be anything.)
            self.seq = self.seq.wrapping_add(1);
            self.topic
                .area
                .published()
                .store(self.seq, Ordering::Release);
        }
        self.wake_subscribers();
    }

    /// Rings the doorbell of every subscriber that sleeps (no system call when none does).
    #[inline]
    fn wake_subscribers(&mut self) {
        // Pairs with the fence a subscriber makes after counting itself asleep.
        fence(Ordering::SeqCst);
        if self.topic.area.all_asleep().load(Ordering::Relaxed) == 0 {
            return;
        }
        self.wake_sleepers();
    }

    /// `wake_subscribers` past its first look. A subscriber killed asleep stays counted
    /// asleep (only the next subscriber of its slot can take its count back: a publisher
    /// that did could take a new subscriber's), so once a liveness interval the sleepers'
    /// slots are looked at, and a dead subscriber's slot freed; a slot that is not
    /// connected is not rung (a subscriber sleeps only once it has joined).
    #[inline(never)]
    fn wake_sleepers(&mut self) {
        let check = self.dead_check_due();
        let (area, end) = (&self.topic.area, &self.topic.end);
        for i in 0..area.slots {
            let slot = area.slot(i);
            if slot.asleep().load(Ordering::Relaxed) > 0 {
                let state = slot.state().load(Ordering::Acquire);
                if state & CONNECTED == 0 || (check && free_if_dead(end, area, i, state)) {
                    continue;
                }
                slot.bell().fetch_add(1, Ordering::Release);
                self.topic.end.memory.wake_word(&sys::Doorbell {
                    bell: super::slot_bell(i),
                    word: slot.bell(),
                });
            }
        }
    }
}

/// The next message's sequence number for a publisher taking over at `tail`: one past the
/// last message in the ring (the frames from `oldest` on carry their numbers), or the count
/// published if the ring holds none.
fn next_seq(topic: &Topic, oldest: u64, tail: u64) -> Result<u64> {
    let ring = topic.end.ring;
    let mut seq = topic.area.published().load(Ordering::Acquire);
    let mut at = oldest;
    while at < tail {
        let found = ring
            .next_frame(at)
            .map_err(|p| topic.corrupt(format!("ring: {p}")))?;
        at = match found {
            Next::Frame { end, .. } => {
                seq = ring.frame_seq(at).load(Ordering::Relaxed).wrapping_add(1);
                end
            }
            Next::Wrap { next } => next,
            Next::Empty => {
                return Err(topic.corrupt(format!("ring: no frame at {at}, before {tail}")))
            }
        };
    }
    if at != tail {
        return Err(topic.corrupt(format!("ring: frames end at {at}, not at {tail}")));
    }
    Ok(seq)
}

/// The lowest head of the connected subscribers (`tail` if none); a head that does not fit
/// (ahead of the tail, or more than a ring behind: written by a process outside the
/// protocol) holds nothing up.
fn lowest_head(area: &Area, tail: u64, capacity: u64) -> u64 {
    (0..area.slots)
        .map(|i| area.slot(i))
        .filter(|slot| slot.state().load(Ordering::Acquire) & CONNECTED != 0)
        .map(|slot| slot.head().load(Ordering::Acquire))
        .filter(|&head| head <= tail && tail - head <= capacity)
        .min()
        .unwrap_or(tail)
}

/// Frees the slots of subscribers that hold the ring up below `need` and whose processes
/// are gone. The state is compared whole (generation included): a slot a new subscriber
/// took meanwhile stays.
fn free_dead_slots(end: &crate::channel::endpoint::Endpoint, area: &Area, need: u64) {
    for i in 0..area.slots {
        let slot = area.slot(i);
        let state = slot.state().load(Ordering::Acquire);
        if state & CONNECTED == 0 || slot.head().load(Ordering::Acquire) >= need {
            continue;
        }
        free_if_dead(end, area, i, state);
    }
}

/// Frees slot `i`, connected in `state`, if its subscriber's process is gone; whether it
/// did. The state is compared whole (generation included): a slot a new subscriber took
/// meanwhile stays.
fn free_if_dead(end: &crate::channel::endpoint::Endpoint, area: &Area, i: u32, state: u32) -> bool {
    !end.memory.endpoint_alive(lock_byte(i + 1))
        && area
            .slot(i)
            .state()
            .compare_exchange(
                state,
                state & !CONNECTED,
                Ordering::AcqRel,
                Ordering::Relaxed,
            )
            .is_ok()
}

impl Drop for Publisher {
    fn drop(&mut self) {
        // A copy in a child made by `fork` leaves the topic to its parent's publisher.
        if self.topic.end.inherited() {
            return;
        }
        self.topic
            .end
            .ring
            .u32_at(ring::SENDER_STATE)
            .store(ring::STATE_CLOSED, Ordering::Release);
        self.wake_subscribers();
    }
}

/// A reserved message in the topic's ring: write it with
/// [`copy_from_slice`](PublishSlot::copy_from_slice) or [`write_at`](PublishSlot::write_at),
/// then [`commit`](PublishSlot::commit). Dropped uncommitted, it publishes nothing.
///
/// ```
/// # let _dir = tempfile::tempdir().unwrap(); std::env::set_var("FILEMAP_DIR", _dir.path());
/// use filemap::topic::{Publisher, Subscriber, TopicOptions};
/// let mut p = Publisher::create_or_open("slot-demo", &TopicOptions::new())?;
/// let mut s = Subscriber::open("slot-demo")?;
/// let mut slot = p.reserve(8)?;
/// slot.write_at(0, &42u64.to_le_bytes())?;
/// slot.commit();
/// assert_eq!(s.recv()?.to_vec()?, 42u64.to_le_bytes());
/// # Ok::<(), filemap::Error>(())
/// ```
#[derive(Debug)]
#[must_use = "a reserved slot publishes nothing until it is committed"]
pub struct PublishSlot<'a> {
    publisher: &'a mut Publisher,
    start: u64,
    offset: u64,
    len: usize,
    /// The frame is marked as being written (a long message), until it is committed.
    marked: bool,
}

impl Drop for PublishSlot<'_> {
    /// An uncommitted slot publishes nothing; its frame's mark of being written goes.
    fn drop(&mut self) {
        if self.marked && !self.publisher.topic.end.inherited() {
            self.publisher.topic.end.ring.unmark_writing(self.start);
        }
    }
}

impl PublishSlot<'_> {
    /// Publishes the message.
    pub fn commit(self) {
        let len = self.len;
        self.commit_len(len);
    }

    /// Publishes the first `len` bytes only (at most the reserved length).
    pub fn commit_len(mut self, len: usize) {
        // The commit replaces the mark.
        self.marked = false;
        // (A slot reserved before a `fork` publishes nothing in the child.)
        if self.publisher.topic.end.inherited() {
            return;
        }
        let len = len.min(self.len);
        let ring = self.publisher.topic.end.ring;
        ring.write_header(self.start, len as u32, self.offset);
        ring.frame_seq(self.start)
            .store(self.publisher.seq, Ordering::Relaxed);
        let end = self.start + ring::frame_size(self.offset, len as u64);
        self.publisher.publish_frame(self.start, end, true);
    }

    /// The reserved length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the slot holds no bytes.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The slot's first byte. Writing through it is up to the caller, as with
    /// [`as_mut_slice`](PublishSlot::as_mut_slice).
    pub fn as_mut_ptr(&mut self) -> *mut u8 {
        self.publisher.topic.end.ring.at(self.start + self.offset)
    }

    /// Copies `message` into the slot, which must have its length.
    ///
    /// # Panics
    /// If `message.len()` is not the slot's length, like `<[u8]>::copy_from_slice`.
    pub fn copy_from_slice(&mut self, message: &[u8]) -> Result<()> {
        assert_eq!(
            message.len(),
            self.len,
            "PublishSlot::copy_from_slice: a message of {} bytes into a slot of {}",
            message.len(),
            self.len
        );
        self.write_at(0, message)
    }

    /// Copies `data` into the slot at `offset`; [`Error::OutOfRange`] if it does not fit.
    pub fn write_at(&mut self, offset: usize, data: &[u8]) -> Result<()> {
        check_slot_range(offset, data.len(), self.len)?;
        self.publisher.topic.end.usable_here()?;
        let at = self.as_mut_ptr();
        // SAFETY: inside the slot (checked above), whose bytes are contiguous and inside
        // the ring's mapped data area (the reservation checked them against the
        // capacity), mapped while the publisher this slot borrows lives. That nobody else
        // writes them is the protocol, not a condition of soundness: the copy routine is
        // sound whatever another process writes there meanwhile.
        unsafe { copy_to_shared(at.add(offset), data) }
            .map_err(|f| self.publisher.topic.end.fault(f, at, self.len, offset))?;
        self.publisher.topic.end.intact()
    }

    /// The slot as a mutable slice, for writing a message in place.
    ///
    /// # Safety
    /// Rust assumes nothing else writes memory behind a `&mut [u8]` while it lives, nor
    /// reads it in this process. The topic's protocol keeps cooperating processes from
    /// writing to a reserved slot, but a process with write access to the topic that
    /// ignores it could write there meanwhile: call this only when every such process is
    /// trusted. Under [`SlowSubscribers::DropOldest`] a subscriber that lags behind reads
    /// the frames it had yet to read while the publisher writes over them (and throws away
    /// what it read): there, also make sure no subscriber of this topic lives in this
    /// process (another thread's reads would race with this slice's writes).
    pub unsafe fn as_mut_slice(&mut self) -> &mut [u8] {
        let (at, len) = (self.as_mut_ptr(), self.len);
        // SAFETY: the slot's `len` contiguous bytes belong to this publisher for writing,
        // mapped while it lives; `&mut self` makes this the only reference here, and the
        // caller vouches for the other processes and for this process's subscribers.
        unsafe { std::slice::from_raw_parts_mut(at, len) }
    }
}
