//! The publishing end of a topic: reserve a message in the ring, write it, commit it.

use std::sync::atomic::{Ordering, fence};
use std::time::{Duration, Instant};

use super::{Area, CONNECTED, SlowSubscribers, Topic, TopicOptions, lock_byte};
use crate::channel::endpoint::Sleep;
use crate::channel::ring::{self, Next};
use crate::channel::{COPY_LENGTH, LivenessTimer, WRITING_MARK_MIN, WaitMode, check_slot_range};
use crate::copy::copy_to_shared;
use crate::error::{Error, Result};
use crate::name::{IntoName, Name};
use crate::sys;
use crate::vocabulary::Side;

/// The one publisher of a topic (see [`crate::topic`]).
///
/// ```
/// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
/// use filemap::topic::{Publisher, Subscriber, TopicOptions};
/// let mut publisher = Publisher::create_or_open("doc-topic-publisher", &TopicOptions::new())?;
/// let mut subscriber = Subscriber::open("doc-topic-publisher")?;
/// publisher.publish(b"first")?;
/// publisher.publish(b"second")?;
/// // Every message has the next number of the topic's one sequence.
/// assert_eq!(subscriber.recv()?.seq(), 0);
/// assert_eq!(subscriber.recv()?.seq(), 1);
/// # Ok::<(), filemap::Error>(())
/// ```
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
    last_dead_check: LivenessTimer,
}

impl Publisher {
    /// Opens the topic `name` as its publisher, making it with `options` if it does not
    /// exist (an existing topic keeps its own settings). A topic has one publisher at a
    /// time: [`Error::EndpointTaken`] while another lives.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
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
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::topic::{Publisher, Subscriber, TopicOptions};
    /// assert!(matches!(
    ///     Publisher::open("doc-topic-absent"),
    ///     Err(filemap::Error::NotFound { .. })
    /// ));
    /// let mut first = Publisher::create_or_open("doc-topic-takeover", &TopicOptions::new())?;
    /// let mut subscriber = Subscriber::open("doc-topic-takeover")?; // keeps the topic
    /// first.publish(b"a")?;
    /// first.publish(b"b")?;
    /// drop(first);
    /// let mut second = Publisher::open("doc-topic-takeover")?;
    /// assert_eq!(second.next_sequence(), 2);
    /// second.publish(b"c")?;
    /// for (seq, message) in [b"a", b"b", b"c"].iter().enumerate() {
    ///     let sample = subscriber.recv()?;
    ///     assert_eq!((sample.seq(), sample.to_vec()?), (seq as u64, message.to_vec()));
    /// }
    /// # Ok::<(), filemap::Error>(())
    /// ```
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
            last_dead_check: LivenessTimer::default(),
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
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::topic::{Publisher, TopicOptions};
    /// let publisher = Publisher::create_or_open("doc-topic-pub-name", &TopicOptions::new())?;
    /// assert_eq!(publisher.name().to_string(), "Local\\doc-topic-pub-name");
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn name(&self) -> &Name {
        &self.topic.end.name
    }

    /// Whether the object has lost its name while this endpoint has it open: removed
    /// ([`namespace::remove`](crate::namespace::remove), `filemap rm`), so that the name
    /// may now be another object's, which this endpoint does not reach. Never on Windows,
    /// where a name goes only with its object's last handle. One system call.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::topic::{Publisher, TopicOptions};
    /// let publisher = Publisher::create_or_open("doc-topic-pub-removed", &TopicOptions::new())?;
    /// assert!(!publisher.name_removed());
    /// #[cfg(unix)]
    /// {
    ///     filemap::namespace::remove("doc-topic-pub-removed")?;
    ///     assert!(publisher.name_removed()); // made again, the name would be another object's
    /// }
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn name_removed(&self) -> bool {
        self.topic.end.memory.name_removed()
    }

    /// The ring's capacity in bytes.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::topic::{Publisher, TopicOptions};
    /// let options = TopicOptions::new().capacity(100_000);
    /// let publisher = Publisher::create_or_open("doc-topic-pub-capacity", &options)?;
    /// assert_eq!(publisher.capacity(), 128 << 10); // rounded up to a power of two
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn capacity(&self) -> u64 {
        self.topic.end.ring.capacity()
    }

    /// The largest message the topic carries.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::topic::{Publisher, Subscriber, TopicOptions};
    /// let options = TopicOptions::new().capacity(4096);
    /// let mut publisher = Publisher::create_or_open("doc-topic-max-message", &options)?;
    /// let mut subscriber = Subscriber::open("doc-topic-max-message")?;
    /// let max = publisher.max_message_len();
    /// assert!(max < 4096);
    /// assert!(matches!(
    ///     publisher.publish(&vec![0; max + 1]),
    ///     Err(filemap::Error::MessageTooLarge { .. })
    /// ));
    /// publisher.publish(&vec![7; max])?;
    /// assert_eq!(subscriber.recv()?.len(), max);
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn max_message_len(&self) -> usize {
        self.topic.end.ring.max_message() as usize
    }

    /// The sequence number the next message will have (messages are numbered from 0).
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::topic::{Publisher, Subscriber, TopicOptions};
    /// let mut publisher = Publisher::create_or_open("doc-topic-pub-next", &TopicOptions::new())?;
    /// let mut subscriber = Subscriber::open("doc-topic-pub-next")?;
    /// assert_eq!(publisher.next_sequence(), 0);
    /// publisher.publish(b"zero")?;
    /// assert_eq!(publisher.next_sequence(), 1);
    /// assert_eq!(subscriber.recv()?.seq(), 0);
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn next_sequence(&self) -> u64 {
        self.seq
    }

    /// The topic's policy for slow subscribers.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::topic::{Publisher, SlowSubscribers, TopicOptions};
    /// let publisher = Publisher::create_or_open("doc-topic-pub-policy", &TopicOptions::new())?;
    /// assert_eq!(publisher.slow_subscribers(), SlowSubscribers::Block); // the default
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn slow_subscribers(&self) -> SlowSubscribers {
        self.topic.area.policy
    }

    /// How many subscribers can be connected at once (the topic's slots, set when it was
    /// made).
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::topic::{Publisher, TopicOptions};
    /// let publisher = Publisher::create_or_open("news", &TopicOptions::new().max_subscribers(3))?;
    /// assert_eq!(publisher.max_subscribers(), 3);
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn max_subscribers(&self) -> u32 {
        self.topic.area.slots
    }

    /// How many subscribers are connected (live or not yet found dead).
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::topic::{Publisher, Subscriber, TopicOptions};
    /// let publisher = Publisher::create_or_open("doc-topic-count", &TopicOptions::new())?;
    /// assert_eq!(publisher.subscribers(), 0);
    /// let first = Subscriber::open("doc-topic-count")?;
    /// let _second = Subscriber::open("doc-topic-count")?;
    /// assert_eq!(publisher.subscribers(), 2);
    /// drop(first);
    /// assert_eq!(publisher.subscribers(), 1);
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn subscribers(&self) -> usize {
        let area = &self.topic.area;
        (0..area.slots)
            .filter(|&i| area.slot(i).state().load(Ordering::Acquire) & CONNECTED != 0)
            .count()
    }

    /// How this publisher waits for a slow subscriber (under [`SlowSubscribers::Block`]).
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::channel::WaitMode;
    /// use filemap::topic::{Publisher, Subscriber, TopicOptions};
    /// use std::time::Duration;
    /// let options = TopicOptions::new().capacity(4096);
    /// let mut publisher = Publisher::create_or_open("doc-topic-pub-mode", &options)?;
    /// let _idle = Subscriber::open("doc-topic-pub-mode")?;
    /// publisher.set_wait_mode(WaitMode::BusyPoll); // spins instead of sleeping
    /// while publisher.try_publish(b"tick")? {}
    /// // A busy-polling wait keeps its timeout all the same.
    /// let waited = publisher.publish_timeout(b"tock", Duration::from_millis(10));
    /// assert!(matches!(waited, Err(filemap::Error::Timeout { .. })));
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn set_wait_mode(&mut self, mode: WaitMode) {
        self.topic.end.set_mode(Side::Sender, mode);
    }

    /// A slot of `len` bytes for the next message, waiting (under `Block`) while a
    /// subscriber holds the ring up; write it, then [`commit`](PublishSlot::commit).
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::topic::{Publisher, Subscriber, TopicOptions};
    /// let mut publisher = Publisher::create_or_open("doc-topic-reserve", &TopicOptions::new())?;
    /// let mut subscriber = Subscriber::open("doc-topic-reserve")?;
    /// let mut slot = publisher.reserve(5)?;
    /// assert_eq!(slot.len(), 5);
    /// slot.copy_from_slice(b"hello")?;
    /// slot.commit();
    /// assert_eq!(subscriber.recv()?.to_vec()?, b"hello");
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn reserve(&mut self, len: usize) -> Result<PublishSlot<'_>> {
        self.reserve_until(len, None, None)?
            .ok_or_else(|| unreachable!("a wait without a deadline only ends with room"))
    }

    /// A slot if there is room now; `Ok(None)` if a subscriber holds the ring up.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::topic::{Publisher, Subscriber, TopicOptions};
    /// let options = TopicOptions::new().capacity(4096);
    /// let mut publisher = Publisher::create_or_open("doc-topic-try-reserve", &options)?;
    /// let mut subscriber = Subscriber::open("doc-topic-try-reserve")?;
    /// while publisher.try_publish(b"fill")? {}
    /// assert!(publisher.try_reserve(4)?.is_none()); // the subscriber holds the ring up
    /// drop(subscriber.recv()?); // reads one message, and gives its bytes back
    /// let slot = publisher.try_reserve(4)?;
    /// assert!(slot.is_some());
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn try_reserve(&mut self, len: usize) -> Result<Option<PublishSlot<'_>>> {
        self.reserve_until(len, Some(crate::sys::passed_deadline()), None)
    }

    /// Like [`reserve`](Publisher::reserve), giving up with [`Error::Timeout`].
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::topic::{Publisher, Subscriber, TopicOptions};
    /// use std::time::Duration;
    /// let options = TopicOptions::new().capacity(4096);
    /// let mut publisher = Publisher::create_or_open("doc-topic-reserve-timeout", &options)?;
    /// let _idle = Subscriber::open("doc-topic-reserve-timeout")?; // never reads
    /// while publisher.try_publish(b"fill")? {}
    /// let waited = publisher.reserve_timeout(4, Duration::from_millis(10));
    /// assert!(matches!(waited, Err(filemap::Error::Timeout { .. })));
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn reserve_timeout(&mut self, len: usize, timeout: Duration) -> Result<PublishSlot<'_>> {
        self.reserve_until(len, sys::deadline_after(timeout), Some(timeout))?
            .ok_or_else(|| unreachable!("a timed wait ends with room or Error::Timeout"))
    }

    /// Copies `message` in and publishes it.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::topic::{Publisher, Subscriber, TopicOptions};
    /// let mut publisher = Publisher::create_or_open("doc-topic-publish", &TopicOptions::new())?;
    /// let mut subscriber = Subscriber::open("doc-topic-publish")?;
    /// publisher.publish(b"news")?;
    /// let sample = subscriber.recv()?;
    /// assert_eq!((sample.seq(), sample.to_vec()?), (0, b"news".to_vec()));
    /// # Ok::<(), filemap::Error>(())
    /// ```
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
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
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
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::topic::{Publisher, Subscriber, TopicOptions};
    /// let options = TopicOptions::new().capacity(4096);
    /// let mut publisher = Publisher::create_or_open("doc-topic-try-publish", &options)?;
    /// let mut subscriber = Subscriber::open("doc-topic-try-publish")?;
    /// let mut sent = 0;
    /// while publisher.try_publish(&[1, 2, 3, 4])? {
    ///     sent += 1;
    /// }
    /// assert_eq!(sent, 64); // 4096 bytes of 64-byte frames: the subscriber has read none
    /// drop(subscriber.recv()?);
    /// assert!(publisher.try_publish(&[5])?); // one frame's room again
    /// # Ok::<(), filemap::Error>(())
    /// ```
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
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::topic::{Publisher, Subscriber, TopicOptions};
    /// use std::time::Duration;
    /// let options = TopicOptions::new().capacity(4096);
    /// let mut publisher = Publisher::create_or_open("doc-topic-publish-timeout", &options)?;
    /// let mut subscriber = Subscriber::open("doc-topic-publish-timeout")?;
    /// publisher.publish_timeout(b"on time", Duration::from_millis(10))?; // room: no wait
    /// assert_eq!(subscriber.recv()?.to_vec()?, b"on time");
    /// while publisher.try_publish(b"fill")? {}
    /// let waited = publisher.publish_timeout(b"late", Duration::from_millis(10));
    /// assert!(matches!(waited, Err(filemap::Error::Timeout { .. })));
    /// # Ok::<(), filemap::Error>(())
    /// ```
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
                    )));
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
            // last look and this one: wait for it too, until the deadline (a wait that
            // finds its condition met returns without looking at the clock, and heads
            // another process keeps moving could otherwise keep this loop going past it).
            if deadline.is_some_and(crate::sys::has_passed) {
                return Ok(false);
            }
        }
    }

    /// Whether a look for dead subscribers is due now: the first time, then once a
    /// liveness interval ([`LivenessTimer`]).
    fn dead_check_due(&mut self) -> bool {
        self.last_dead_check.due()
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
                return Err(topic.corrupt(format!("ring: no frame at {at}, before {tail}")));
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
/// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
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
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::topic::{Publisher, Subscriber, TopicOptions};
    /// let mut publisher = Publisher::create_or_open("doc-topic-commit", &TopicOptions::new())?;
    /// let mut subscriber = Subscriber::open("doc-topic-commit")?;
    /// let mut slot = publisher.reserve(5)?;
    /// slot.copy_from_slice(b"draft")?;
    /// drop(slot); // not committed: nothing is published
    /// assert!(subscriber.try_recv()?.is_none());
    /// let mut slot = publisher.reserve(5)?;
    /// slot.copy_from_slice(b"final")?;
    /// slot.commit();
    /// assert_eq!(subscriber.recv()?.to_vec()?, b"final");
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn commit(self) {
        let len = self.len;
        self.commit_len(len);
    }

    /// Publishes the first `len` bytes only (at most the reserved length).
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::topic::{Publisher, Subscriber, TopicOptions};
    /// let mut publisher = Publisher::create_or_open("doc-topic-len-cut", &TopicOptions::new())?;
    /// let mut subscriber = Subscriber::open("doc-topic-len-cut")?;
    /// let mut slot = publisher.reserve(64)?; // room for the longest answer
    /// slot.write_at(0, b"short")?;
    /// slot.commit_len(5);
    /// assert_eq!(subscriber.recv()?.to_vec()?, b"short");
    /// let mut slot = publisher.reserve(3)?;
    /// slot.write_at(0, b"abc")?;
    /// slot.commit_len(100); // no more than was reserved
    /// assert_eq!(subscriber.recv()?.len(), 3);
    /// # Ok::<(), filemap::Error>(())
    /// ```
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
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::topic::{Publisher, TopicOptions};
    /// let mut publisher = Publisher::create_or_open("doc-topic-slot-len", &TopicOptions::new())?;
    /// let slot = publisher.reserve(12)?;
    /// assert_eq!(slot.len(), 12);
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the slot holds no bytes.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::topic::{Publisher, Subscriber, TopicOptions};
    /// let mut publisher = Publisher::create_or_open("doc-topic-no-bytes", &TopicOptions::new())?;
    /// let mut subscriber = Subscriber::open("doc-topic-no-bytes")?;
    /// let slot = publisher.reserve(0)?;
    /// assert!(slot.is_empty());
    /// slot.commit(); // an empty message is a message too
    /// assert!(subscriber.recv()?.is_empty());
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The slot's first byte. Writing through it is up to the caller, as with
    /// [`as_mut_slice`](PublishSlot::as_mut_slice).
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::topic::{Publisher, Subscriber, TopicOptions};
    /// let mut publisher = Publisher::create_or_open("doc-topic-slot-ptr", &TopicOptions::new())?;
    /// let mut subscriber = Subscriber::open("doc-topic-slot-ptr")?;
    /// let mut slot = publisher.reserve(3)?;
    /// // SAFETY: 3 bytes, inside the slot; no untrusted process writes this topic.
    /// unsafe { slot.as_mut_ptr().copy_from_nonoverlapping(b"raw".as_ptr(), 3) };
    /// slot.commit();
    /// assert_eq!(subscriber.recv()?.to_vec()?, b"raw");
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn as_mut_ptr(&mut self) -> *mut u8 {
        self.publisher.topic.end.ring.at(self.start + self.offset)
    }

    /// Copies `message` into the slot, which must have its length.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::topic::{Publisher, Subscriber, TopicOptions};
    /// let mut publisher = Publisher::create_or_open("doc-topic-slot-copy", &TopicOptions::new())?;
    /// let mut subscriber = Subscriber::open("doc-topic-slot-copy")?;
    /// let mut slot = publisher.reserve(4)?;
    /// slot.copy_from_slice(b"copy")?;
    /// slot.commit();
    /// assert_eq!(subscriber.recv()?.to_vec()?, b"copy");
    /// # Ok::<(), filemap::Error>(())
    /// ```
    ///
    /// [`Error::InvalidSize`] if `message.len()` is not the slot's length (where
    /// `<[u8]>::copy_from_slice` panics), the slot left as it was.
    pub fn copy_from_slice(&mut self, message: &[u8]) -> Result<()> {
        if message.len() != self.len {
            return Err(Error::InvalidSize {
                size: message.len() as u64,
                problem: COPY_LENGTH,
            });
        }
        self.write_at(0, message)
    }

    /// Copies `data` into the slot at `offset`; [`Error::OutOfRange`] if it does not fit.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::topic::{Publisher, Subscriber, TopicOptions};
    /// let mut publisher = Publisher::create_or_open("doc-topic-write-at", &TopicOptions::new())?;
    /// let mut subscriber = Subscriber::open("doc-topic-write-at")?;
    /// let mut slot = publisher.reserve(8)?;
    /// slot.write_at(4, b"tail")?; // in any order
    /// slot.write_at(0, b"head")?;
    /// assert!(matches!(slot.write_at(6, b"xyz"), Err(filemap::Error::OutOfRange { .. })));
    /// slot.commit();
    /// assert_eq!(subscriber.recv()?.to_vec()?, b"headtail");
    /// # Ok::<(), filemap::Error>(())
    /// ```
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
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::topic::{Publisher, Subscriber, TopicOptions};
    /// let mut publisher = Publisher::create_or_open("doc-topic-mut-slice", &TopicOptions::new())?;
    /// let mut subscriber = Subscriber::open("doc-topic-mut-slice")?;
    /// let mut slot = publisher.reserve(4)?;
    /// // SAFETY: every process that writes this topic is trusted, and the policy is `Block`.
    /// let bytes = unsafe { slot.as_mut_slice() };
    /// bytes.copy_from_slice(&0xfeed_u32.to_le_bytes());
    /// slot.commit();
    /// assert_eq!(subscriber.recv()?.to_vec()?, 0xfeed_u32.to_le_bytes());
    /// # Ok::<(), filemap::Error>(())
    /// ```
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
