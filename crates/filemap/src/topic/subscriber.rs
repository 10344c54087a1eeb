//! The receiving ends of a topic: each subscriber holds a slot, reads every message from
//! where it joined, and releases what it read.

use std::sync::atomic::{Ordering, fence};
use std::time::{Duration, Instant};

use super::{CONNECTED, Slot, SlowSubscribers, Topic, TopicOptions};
use crate::channel::endpoint::{Sleep, Watch};
use crate::channel::ring::{self, Next};
use crate::channel::{WaitMode, check_slot_range};
use crate::copy::{copy_from_shared, copy_racy};
use crate::error::{Error, Result};
use crate::name::{IntoName, Name};
use crate::vocabulary::Side;

/// How many times a subscriber tries again to catch a consistent view of a ring that the
/// publisher keeps overwriting under it, before it reports that it cannot keep up.
const ATTEMPTS: u32 = 10_000;

/// How many frames a joining subscriber walks under `DropOldest` between two checks that
/// the publisher has not written over them.
const CHECK_EVERY: usize = 32;

/// How many rings' worth of bytes a joining subscriber walks in all its tries before it
/// gives up: a tail that another process keeps moving past the last frame would have each
/// of the [`ATTEMPTS`] walk a whole ring (hours, on a ring of a gigabyte).
const WALK_RINGS: u64 = 64;

/// One subscriber of a topic (see [`crate::topic`]): every message published while it is
/// connected, in order.
///
/// ```
/// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
/// use filemap::topic::{Publisher, Subscriber, TopicOptions};
/// let mut publisher = Publisher::create_or_open("doc-topic-subscriber", &TopicOptions::new())?;
/// let mut early = Subscriber::open("doc-topic-subscriber")?;
/// publisher.publish(b"one")?;
/// let mut late = Subscriber::open("doc-topic-subscriber")?; // no history: from now on
/// publisher.publish(b"two")?;
/// assert_eq!(early.recv()?.to_vec()?, b"one");
/// assert_eq!(early.recv()?.to_vec()?, b"two");
/// assert_eq!(late.recv()?.to_vec()?, b"two");
/// # Ok::<(), filemap::Error>(())
/// ```
#[derive(Debug)]
pub struct Subscriber {
    topic: Topic,
    slot: u32,
    /// Where the next frame (or wrap marker) is.
    pos: u64,
    /// The next message's sequence number.
    expected: u64,
    /// After a lag to an oldest frame not committed yet (the publisher is writing it): the
    /// sequence number expected before the lag, to count what was missed once it is.
    lag_from: Option<u64>,
}

/// What is at the subscriber's position.
enum Look {
    Empty,
    Wrap {
        next: u64,
    },
    Frame {
        payload: u64,
        len: usize,
        end: u64,
        seq: u64,
    },
}

/// A frame taken at the subscriber's position (which has moved past it): what a [`Sample`]
/// is built from. It borrows nothing, so a loop that may find nothing can return it.
pub(crate) struct TakenFrame {
    start: u64,
    payload: u64,
    len: usize,
    end: u64,
    seq: u64,
}

impl Subscriber {
    /// Joins the topic `name` in a free slot; receives the topic's history first (the last
    /// K messages still in the ring, K set when the topic was made), then every message
    /// published from now on. [`Error::NoFreeSlot`] if all slots are taken.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::topic::{Publisher, Subscriber, TopicOptions};
    /// let options = TopicOptions::new().max_subscribers(2).history(1);
    /// let mut publisher = Publisher::create_or_open("doc-topic-open", &options)?;
    /// publisher.publish(b"before")?;
    /// let mut first = Subscriber::open("doc-topic-open")?;
    /// assert_eq!(first.recv()?.to_vec()?, b"before"); // the history
    /// let _second = Subscriber::open("doc-topic-open")?;
    /// assert!(matches!(
    ///     Subscriber::open("doc-topic-open"),
    ///     Err(filemap::Error::NoFreeSlot { slots: 2, .. })
    /// ));
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn open(name: impl IntoName) -> Result<Subscriber> {
        Subscriber::join(name.into_name()?, None, true)
    }

    /// Like [`open`](Subscriber::open), without the history: only messages published from
    /// now on.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::topic::{Publisher, Subscriber, TopicOptions};
    /// let options = TopicOptions::new().history(5);
    /// let mut publisher = Publisher::create_or_open("doc-topic-latest", &options)?;
    /// publisher.publish(b"old")?;
    /// let mut latest = Subscriber::open_latest("doc-topic-latest")?;
    /// assert!(latest.try_recv()?.is_none()); // "old" is history, not for it
    /// publisher.publish(b"new")?;
    /// assert_eq!(latest.recv()?.to_vec()?, b"new");
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn open_latest(name: impl IntoName) -> Result<Subscriber> {
        Subscriber::join(name.into_name()?, None, false)
    }

    /// Joins the topic, making it with `options` if it does not exist yet (a subscriber
    /// may start before its publisher).
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::topic::{Publisher, Subscriber, TopicOptions};
    /// let options = TopicOptions::new();
    /// let mut subscriber = Subscriber::create_or_open("doc-topic-sub-first", &options)?;
    /// let mut publisher = Publisher::open("doc-topic-sub-first")?; // the topic exists now
    /// publisher.publish(b"welcome")?;
    /// assert_eq!(subscriber.recv()?.to_vec()?, b"welcome");
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn create_or_open(name: impl IntoName, options: &TopicOptions) -> Result<Subscriber> {
        Subscriber::join(name.into_name()?, Some(options), true)
    }

    fn join(name: Name, options: Option<&TopicOptions>, history: bool) -> Result<Subscriber> {
        let (topic, role) = Topic::open(name, options, 1..super::MAX_SUBSCRIBERS + 1)?;
        let Some(role) = role else {
            return Err(Error::NoFreeSlot {
                party: "subscriber",
                name: topic.end.name.to_string(),
                slots: topic.area.slots,
            });
        };
        let slot = role - 1;
        let mut subscriber = Subscriber {
            topic,
            slot,
            pos: 0,
            expected: 0,
            lag_from: None,
        };
        subscriber.take_place(history)?;
        subscriber.topic.end.intact()?;
        Ok(subscriber)
    }

    fn my_slot(&self) -> Slot<'_> {
        self.topic.area.slot(self.slot)
    }

    /// Connects the slot (a new generation) with its head where the ring's oldest frame
    /// is, so that the publisher keeps what follows (under `Block`); then finds where this
    /// subscriber starts.
    fn take_place(&mut self, history: bool) -> Result<()> {
        let area = self.topic.area;
        let slot = self.my_slot();
        // A subscriber killed asleep in this slot left itself counted: not any more. (Never
        // below 0: a total lower than the slot's count, which another process wrote, must
        // not stay wrapped round to look like four billion sleepers. One subtraction and
        // at most one compare-and-swap, as `Sleep::add_sleeper`: no loop another process's
        // writes could keep going.)
        let stale = slot.asleep().swap(0, Ordering::AcqRel);
        if stale > 0 {
            let all = area.all_asleep();
            let before = all.fetch_sub(stale, Ordering::AcqRel);
            if before < stale {
                let _ = all.compare_exchange(
                    before.wrapping_sub(stale),
                    0,
                    Ordering::AcqRel,
                    Ordering::Relaxed,
                );
            }
        }
        let state = slot.state().load(Ordering::Acquire);
        slot.state()
            .store((state | CONNECTED).wrapping_add(2), Ordering::Release);
        let first_oldest = area.oldest().load(Ordering::Acquire);
        let mut moved = false;
        let mut walk_left = self.topic.end.ring.capacity().saturating_mul(WALK_RINGS);
        let mut attempts = 0;
        while attempts < ATTEMPTS && walk_left > 0 {
            attempts += 1;
            let oldest = area.oldest().load(Ordering::Acquire);
            moved |= oldest != first_oldest;
            // After `oldest`, which the publisher stores after the count (release): the
            // count of messages published, for when the walk finds none.
            let published = area.published().load(Ordering::Acquire);
            slot.head().store(oldest, Ordering::Release);
            area.u32_at(super::JOINS).fetch_add(1, Ordering::SeqCst);
            // Pairs with the publisher's fence after it moves `oldest`: either it sees
            // this join (and this head), or this load sees where `oldest` went.
            fence(Ordering::SeqCst);
            // (Under `DropOldest` the publisher never waits for a head, so it need not see
            // this one.)
            if area.policy == SlowSubscribers::Block
                && area.oldest().load(Ordering::Acquire) != oldest
            {
                continue;
            }
            let tail = self.topic.end.ring.tail().load(Ordering::Acquire);
            if let Some((pos, expected)) =
                self.start_after(oldest, history, published, &mut walk_left)?
            {
                self.pos = pos;
                self.expected = expected;
                let slot = self.my_slot();
                slot.next().store(expected, Ordering::Release);
                slot.head().store(pos, Ordering::Release);
                // The publisher may be waiting on the head this join set first.
                self.topic.end.wake(Side::Sender);
                return Ok(());
            }
            if walk_left == 0 {
                // Stopped for want of budget, not by damage (it may have begun with little
                // left, after walks the publisher outran): said below.
                break;
            }
            // A walk that failed while neither end of the ring moved raced nobody: the
            // frames between them are damaged, and walking them again would find the same
            // (up to `ATTEMPTS` walks of a whole ring, on a ring of a gigabyte hours). The
            // fence orders the walk's relaxed reads before these loads: a frame it read
            // half rewritten means `oldest` had moved, which they then see.
            fence(Ordering::Acquire);
            if area.oldest().load(Ordering::Acquire) == oldest
                && self.topic.end.ring.tail().load(Ordering::Acquire) == tail
            {
                return Err(self.topic.corrupt(format!(
                    "ring: no walk from the oldest frame at {oldest} reaches the tail at \
                     {tail}, and neither moved"
                )));
            }
        }
        // (Moved during the last walk counts too.)
        moved |= area.oldest().load(Ordering::Acquire) != first_oldest;
        if !moved || area.policy == SlowSubscribers::Block {
            // Nobody wrote over the ring (or under `Block`, past this join's head), yet no
            // walk over it reached the tail.
            return Err(self.topic.corrupt(format!(
                "ring: no walk from the oldest frame at {first_oldest} reaches the tail"
            )));
        }
        Err(Error::Outpaced {
            name: self.name().to_string(),
            attempts,
        })
    }

    /// Where to start, walking the frames from `oldest` to the tail: the K-th last frame
    /// (with `history`) or the tail, and that message's sequence number. `None` if the
    /// publisher overwrote frames during the walk (try again), or the walk used up
    /// `walk_left`, the bytes the join may still walk (then 0).
    fn start_after(
        &self,
        oldest: u64,
        history: bool,
        published: u64,
        walk_left: &mut u64,
    ) -> Result<Option<(u64, u64)>> {
        let (ring, area) = (self.topic.end.ring, self.topic.area);
        if !ring::valid_position(oldest) {
            return Err(self
                .topic
                .corrupt(format!("oldest frame at {oldest} is invalid")));
        }
        let drop_oldest = area.policy == SlowSubscribers::DropOldest;
        let tail = ring.tail().load(Ordering::Acquire);
        // Under `DropOldest` the publisher may have moved on since `oldest` was read (it
        // moves `oldest` with about every message when the ring is full): read it again
        // after the tail, so that they are at most a ring apart.
        let oldest = if drop_oldest {
            area.oldest().load(Ordering::Acquire)
        } else {
            oldest
        };
        if !ring::valid_position(oldest) || tail < oldest || tail - oldest > ring.capacity() {
            return Ok(None);
        }
        // (At most `MAX_HISTORY`, whatever the topic says: the walk notes each one kept.)
        let keep = if history {
            area.history.min(super::MAX_HISTORY) as usize
        } else {
            0
        };
        // Under `DropOldest` the publisher does not wait for this walk and may move
        // `oldest` all along (checking that it had not moved at all kept a publisher in a
        // loop from ever letting a subscriber join). What was read is checked every few
        // frames instead, with the sequence-lock check of the module's protocol: `oldest`
        // only grows, and the publisher moves it past a frame before it writes over the
        // frame, so every frame at or after where `oldest` is now was intact when it was
        // read. The walk goes on if `oldest` now is one of the frame starts it reached
        // (a true boundary, from which its chain of frames is intact), and starts over
        // otherwise. Under `Block` it cannot move past this join's head, at the walk's
        // start.
        let mut walked = [0u64; CHECK_EVERY];
        let mut unchecked = 0;
        // The last `keep` frames seen, and the sequence number after the last one (from the
        // last frame's header, or the wrap marker's after it), read at `seq_from`.
        // Each with whether it is intact still (false: written over since it was read).
        let mut recent = std::collections::VecDeque::with_capacity(keep.min(1024));
        let (mut next_seq, mut seq_from) = (published, None);
        let mut at = oldest;
        while at < tail {
            if *walk_left == 0 {
                return Ok(None);
            }
            if drop_oldest {
                walked[unchecked] = at;
                unchecked += 1;
            }
            let Ok(found) = ring.next_frame(at) else {
                return Ok(None);
            };
            let from = at;
            at = match found {
                Next::Frame { end, .. } => {
                    let seq = ring.frame_seq(at).load(Ordering::Relaxed);
                    if keep > 0 {
                        if recent.len() == keep {
                            recent.pop_front();
                        }
                        recent.push_back((at, seq, true));
                    }
                    (next_seq, seq_from) = (seq.wrapping_add(1), Some(at));
                    end
                }
                Next::Wrap { next } => {
                    // (A wrap marker carries the number of the message after it.)
                    let seq = ring.frame_seq(at).load(Ordering::Relaxed);
                    (next_seq, seq_from) = (seq, Some(at));
                    next
                }
                Next::Empty => return Ok(None),
            };
            *walk_left = walk_left.saturating_sub(at.saturating_sub(from).max(1));
            if drop_oldest && (unchecked == CHECK_EVERY || at >= tail) {
                fence(Ordering::Acquire);
                let now = area.oldest().load(Ordering::Relaxed);
                if now > walked[0] {
                    if now != at && !walked[..unchecked].contains(&now) {
                        return Ok(None);
                    }
                    // History written over since (what was read of it may be the new
                    // bytes): kept, as written over, so that the join starts at the first
                    // such frame still in the history and the first receive, finding
                    // `oldest` past it, reports them as a lag (it reads nothing at a
                    // position `oldest` has passed).
                    for frame in recent.iter_mut().take_while(|f| f.0 < now) {
                        frame.2 = false;
                    }
                }
                unchecked = 0;
            }
        }
        if at != tail {
            return Ok(None);
        }
        fence(Ordering::Acquire);
        let now = area.oldest().load(Ordering::Relaxed);
        if !drop_oldest {
            if now != oldest {
                return Ok(None);
            }
        } else if let Some(start) = seq_from {
            // The number after the tail came from a header written over since: it may be
            // the new message's bytes.
            if now > start {
                return Ok(None);
            }
        } else {
            // Nothing between `oldest` and the tail: the count published is the number of
            // the message at the tail if the tail has not moved since. (`oldest`, loaded
            // above with acquire, is stored after the count of the tail's last message;
            // a later count is stored after a later tail.)
            next_seq = area.published().load(Ordering::Acquire);
            if ring.tail().load(Ordering::Acquire) != tail {
                return Ok(None);
            }
        }
        // Frames written over come first (`oldest` passes them in order): the number of the
        // first is counted back from the first intact one's (or the tail's), the messages
        // between being consecutive.
        let written_over = recent.iter().take_while(|f| !f.2).count() as u64;
        let (_, seq, _) = (recent.iter().find(|f| f.2).copied()).unwrap_or((tail, next_seq, true));
        let start = recent.front().map_or(tail, |f| f.0);
        Ok(Some((start, seq.wrapping_sub(written_over))))
    }

    /// Overwrites the topic's shared memory as a hostile writer could, for the fuzz
    /// targets (not part of the API): `data` gives, in order and as far as it goes, the
    /// topic's area (its settings, `oldest`, the counts, the slots), the ring's control area
    /// and the ring's bytes. What `data` does not reach keeps its value.
    ///
    /// # Safety
    /// No other process may use the topic meanwhile, and no sample may be borrowed.
    #[cfg(feature = "fuzzing")]
    #[doc(hidden)]
    pub unsafe fn overwrite_shared_memory(&self, data: &[u8]) {
        let (ring, area) = (self.topic.end.ring, self.topic.area);
        let places = [
            (area.base, super::area_len(area.slots) as usize),
            (
                self.topic.end.memory.base(),
                crate::channel::ring::RING_OFFSET,
            ),
            (ring.at(0), ring.capacity() as usize),
        ];
        let mut data = data;
        for (at, len) in places {
            let n = len.min(data.len());
            // SAFETY: each place lies inside the mapped data area (checked when the topic
            // was opened). A fault (the entry truncated meanwhile) leaves the rest as it
            // was, which the fuzz targets accept.
            let _ = unsafe { crate::copy::copy_to_shared(at, &data[..n]) };
            data = &data[n..];
        }
    }

    /// The topic's name.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::topic::{Subscriber, TopicOptions};
    /// let subscriber = Subscriber::create_or_open("doc-topic-sub-name", &TopicOptions::new())?;
    /// assert_eq!(subscriber.name().to_string(), "Local\\doc-topic-sub-name");
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
    /// use filemap::topic::{Subscriber, TopicOptions};
    /// let subscriber = Subscriber::create_or_open("doc-topic-sub-removed", &TopicOptions::new())?;
    /// assert!(!subscriber.name_removed());
    /// #[cfg(unix)]
    /// {
    ///     filemap::namespace::remove("doc-topic-sub-removed")?;
    ///     assert!(subscriber.name_removed()); // made again, the name would be another object's
    /// }
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn name_removed(&self) -> bool {
        self.topic.end.memory.name_removed()
    }

    /// This subscriber's slot.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::topic::{Subscriber, TopicOptions};
    /// let first = Subscriber::create_or_open("doc-topic-slot", &TopicOptions::new())?;
    /// let second = Subscriber::open("doc-topic-slot")?;
    /// assert_eq!((first.slot(), second.slot()), (0, 1));
    /// drop(first);
    /// assert_eq!(Subscriber::open("doc-topic-slot")?.slot(), 0); // a free slot again
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn slot(&self) -> u32 {
        self.slot
    }

    /// The sequence number of the next message this subscriber will receive.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::topic::{Publisher, Subscriber, TopicOptions};
    /// let mut publisher = Publisher::create_or_open("doc-topic-sub-next", &TopicOptions::new())?;
    /// publisher.publish(b"before")?;
    /// let mut subscriber = Subscriber::open("doc-topic-sub-next")?; // no history
    /// assert_eq!(subscriber.next_sequence(), 1);
    /// publisher.publish(b"after")?;
    /// drop(subscriber.recv()?);
    /// assert_eq!(subscriber.next_sequence(), 2);
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn next_sequence(&self) -> u64 {
        self.expected
    }

    /// The topic's policy for slow subscribers.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::topic::{SlowSubscribers, Subscriber, TopicOptions};
    /// let options = TopicOptions::new().slow_subscribers(SlowSubscribers::DropOldest);
    /// let subscriber = Subscriber::create_or_open("doc-topic-sub-policy", &options)?;
    /// assert_eq!(subscriber.slow_subscribers(), SlowSubscribers::DropOldest);
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn slow_subscribers(&self) -> SlowSubscribers {
        self.topic.area.policy
    }

    /// How this subscriber waits for messages.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::channel::WaitMode;
    /// use filemap::topic::{Publisher, Subscriber, TopicOptions};
    /// use std::time::Duration;
    /// let mut publisher = Publisher::create_or_open("doc-topic-sub-mode", &TopicOptions::new())?;
    /// let mut subscriber = Subscriber::open("doc-topic-sub-mode")?;
    /// subscriber.set_wait_mode(WaitMode::BusyPoll); // spins instead of sleeping
    /// assert!(matches!( // timeouts hold all the same
    ///     subscriber.recv_timeout(Duration::from_millis(10)),
    ///     Err(filemap::Error::Timeout { .. })
    /// ));
    /// publisher.publish(b"ping")?;
    /// assert_eq!(subscriber.recv()?.to_vec()?, b"ping");
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn set_wait_mode(&mut self, mode: WaitMode) {
        self.topic.end.mode = mode;
    }

    /// The next message, waiting for one. [`Error::Disconnected`] once the publisher is
    /// gone and every message it committed was received, and again on each call (each
    /// after a brief spin) until a new publisher takes the topic over; [`Error::Lagged`] (under `DropOldest`) when messages
    /// were overwritten before this subscriber read them: the next call goes on at the
    /// oldest message still there ([`Error::Outpaced`] if the publisher kept writing over
    /// that too, 10,000 times over, while this subscriber looked for it: the next call
    /// tries again).
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::topic::{Publisher, Subscriber, TopicOptions};
    /// let mut publisher = Publisher::create_or_open("doc-topic-recv", &TopicOptions::new())?;
    /// let mut subscriber = Subscriber::open("doc-topic-recv")?;
    /// publisher.publish(b"last words")?;
    /// drop(publisher);
    /// assert_eq!(subscriber.recv()?.to_vec()?, b"last words"); // committed: still delivered
    /// assert!(matches!(subscriber.recv(), Err(filemap::Error::Disconnected { .. })));
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn recv(&mut self) -> Result<Sample<'_>> {
        self.recv_until(None, None)?
            .ok_or_else(|| unreachable!("a wait without a deadline only ends with a message"))
    }

    /// The next message if there is one now; [`Error::Disconnected`](crate::Error::Disconnected)
    /// once the publisher is gone and everything it published was received (a loop of calls
    /// learns of a publisher that closed or died within a liveness interval, 50 ms).
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::topic::{Publisher, Subscriber, TopicOptions};
    /// let mut publisher = Publisher::create_or_open("doc-topic-try-recv", &TopicOptions::new())?;
    /// let mut subscriber = Subscriber::open("doc-topic-try-recv")?;
    /// assert!(subscriber.try_recv()?.is_none());
    /// publisher.publish(b"now")?;
    /// let sample = subscriber.try_recv()?.expect("published before");
    /// assert_eq!(sample.to_vec()?, b"now");
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn try_recv(&mut self) -> Result<Option<Sample<'_>>> {
        self.recv_until(Some(crate::sys::passed_deadline()), None)
    }

    /// Like [`recv`](Subscriber::recv), giving up with [`Error::Timeout`].
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::topic::{Publisher, Subscriber, TopicOptions};
    /// use std::time::Duration;
    /// let mut publisher = Publisher::create_or_open("doc-topic-recv-wait", &TopicOptions::new())?;
    /// let mut subscriber = Subscriber::open("doc-topic-recv-wait")?;
    /// assert!(matches!(
    ///     subscriber.recv_timeout(Duration::from_millis(10)),
    ///     Err(filemap::Error::Timeout { .. })
    /// ));
    /// publisher.publish(b"here")?;
    /// assert_eq!(subscriber.recv_timeout(Duration::from_secs(10))?.to_vec()?, b"here");
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn recv_timeout(&mut self, timeout: Duration) -> Result<Sample<'_>> {
        self.recv_until(crate::sys::deadline_after(timeout), Some(timeout))?
            .ok_or_else(|| unreachable!("a timed wait ends with a message or Error::Timeout"))
    }

    /// Receives the next message into `buf` (replacing its contents); its sequence number.
    /// If the copy fails (the topic's entry was truncated, or the publisher wrote over the
    /// message meanwhile: [`Error::PageFault`], [`Error::Lagged`]), `buf` is left empty.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::topic::{Publisher, Subscriber, TopicOptions};
    /// let mut publisher = Publisher::create_or_open("doc-topic-recv-into", &TopicOptions::new())?;
    /// let mut subscriber = Subscriber::open("doc-topic-recv-into")?;
    /// publisher.publish(b"first")?;
    /// publisher.publish(b"2nd")?;
    /// let mut buf = Vec::new();
    /// assert_eq!(subscriber.recv_into(&mut buf)?, 0);
    /// assert_eq!(buf, b"first");
    /// assert_eq!(subscriber.recv_into(&mut buf)?, 1); // the same buffer, its contents replaced
    /// assert_eq!(buf, b"2nd");
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn recv_into(&mut self, buf: &mut Vec<u8>) -> Result<u64> {
        let sample = self.recv()?;
        buf.clear();
        sample.append_to(buf)?;
        Ok(sample.seq())
    }

    fn recv_until(
        &mut self,
        deadline: Option<Instant>,
        timeout: Option<Duration>,
    ) -> Result<Option<Sample<'_>>> {
        // A blocking receive (not `try_recv`, nor one about to time out) that finds nothing
        // first offers this core to a subscriber that has yet to read what this one has.
        let mut offer_core = self.topic.end.mode != WaitMode::BusyPoll
            && timeout.map_or(deadline.is_none(), |t| t >= OFFER_CORE_BEFORE);
        loop {
            // (An honest ring has at most one wrap marker before a frame.)
            if let Some(taken) = self.take_now(2)? {
                return Ok(Some(self.sample(taken)));
            }
            if std::mem::take(&mut offer_core) && self.others_behind() {
                std::thread::yield_now();
                continue;
            }
            let ready = self.wait(deadline)?;
            // A writer that commits only wrap markers makes every wait end at once: the
            // deadline holds all the same (after one more look).
            let passed = deadline.is_some_and(crate::sys::has_passed);
            if ready && passed {
                if let Some(taken) = self.take_now(2)? {
                    return Ok(Some(self.sample(taken)));
                }
            }
            if !ready || passed {
                self.topic.end.intact()?;
                return match timeout {
                    Some(after) => Err(self.topic.end.timeout(after)),
                    None => Ok(None),
                };
            }
        }
    }

    /// Takes the frame at the position if one is committed there now, skipping up to
    /// `wraps` wrap markers before it (their bytes go back to the publisher, which may be
    /// waiting for them); never waits. `None`: nothing there yet (or more wrap markers
    /// than `wraps`); the lag or error a receive returns, if any.
    fn take_now(&mut self, wraps: u32) -> Result<Option<TakenFrame>> {
        self.topic.end.usable_here()?;
        let mut skipped = 0;
        loop {
            match self.look()? {
                Look::Frame {
                    payload,
                    len,
                    end,
                    seq,
                } => {
                    let start = self.pos;
                    self.pos = end;
                    self.expected = seq.wrapping_add(1);
                    return Ok(Some(TakenFrame {
                        start,
                        payload,
                        len,
                        end,
                        seq,
                    }));
                }
                Look::Wrap { next } if skipped < wraps => {
                    skipped += 1;
                    self.pos = next;
                    self.release(next);
                }
                Look::Wrap { .. } | Look::Empty => return Ok(None),
            }
        }
    }

    /// The sample of a frame [`take_now`](Subscriber::take_now) took.
    pub(crate) fn sample(&mut self, taken: TakenFrame) -> Sample<'_> {
        Sample {
            subscriber: self,
            overwritten: std::cell::Cell::new(false),
            start: taken.start,
            payload: taken.payload,
            len: taken.len,
            end: taken.end,
            seq: taken.seq,
        }
    }

    /// What is at this subscriber's position now; `Err(Lagged)` if the publisher wrote
    /// over it (the position then moves to the oldest frame).
    fn look(&mut self) -> Result<Look> {
        // A lag that missed no message (the publisher wrote over a wrap marker alone)
        // moves the position without an error: look again there. A few times at most: a
        // publisher that keeps moving `oldest` meanwhile is waited for as any other.
        for _ in 0..3 {
            if let Some(look) = self.look_once()? {
                return Ok(look);
            }
        }
        Ok(Look::Empty)
    }

    /// [`look`](Subscriber::look) once: `None` if the position moved to the oldest frame
    /// with no message missed, or to a frame being written (look again).
    fn look_once(&mut self) -> Result<Option<Look>> {
        let (ring, area) = (self.topic.end.ring, self.topic.area);
        let pos = self.pos;
        if !ring.committed(pos) {
            if area.oldest().load(Ordering::Acquire) > pos {
                return self.lagged().map_or(Ok(None), Err);
            }
            return Ok(Some(Look::Empty));
        }
        let found = ring.next_frame(pos);
        let seq = ring.frame_seq(pos).load(Ordering::Relaxed);
        if area.policy == SlowSubscribers::DropOldest {
            // Was it overwritten while read? (The sequence-lock check.)
            fence(Ordering::Acquire);
            if area.oldest().load(Ordering::Relaxed) > pos {
                return self.lagged().map_or(Ok(None), Err);
            }
        }
        let look = match found.map_err(|p| self.topic.corrupt(format!("ring: {p}")))? {
            Next::Empty => Look::Empty,
            Next::Wrap { next } => Look::Wrap { next },
            Next::Frame { payload, len, end } => {
                if let Some(from) = self.lag_from.take() {
                    // The lag found the oldest frame being written: now it is, count.
                    self.expected = seq;
                    self.release(pos);
                    let missed = seq.wrapping_sub(from);
                    if missed > 0 {
                        return Err(Error::Lagged {
                            name: self.name().to_string(),
                            missed,
                        });
                    }
                }
                Look::Frame {
                    payload,
                    len,
                    end,
                    seq,
                }
            }
        };
        Ok(Some(look))
    }

    /// Moves to the oldest frame still in the ring; the error that says how many messages
    /// were missed on the way. `None` when that frame is still being written (the count
    /// comes when it is), or when no message was missed (only a wrap marker was written
    /// over): then look at the new position.
    fn lagged(&mut self) -> Option<Error> {
        let (ring, area) = (self.topic.end.ring, self.topic.area);
        for _ in 0..ATTEMPTS {
            // `oldest` between two looks at the tail: an honest one is at most the later
            // tail, and at most a ring behind the earlier one (the publisher keeps them a
            // ring apart, and both only grow). One past that is no frame the publisher
            // wrote, and adopting it would leave this subscriber waiting where nothing will
            // ever be committed.
            let tail_before = ring.tail().load(Ordering::Acquire);
            let oldest = area.oldest().load(Ordering::Acquire);
            let tail = ring.tail().load(Ordering::Acquire);
            if !ring::valid_position(oldest)
                || oldest < self.pos
                || oldest > tail
                || tail_before.saturating_sub(oldest) > ring.capacity()
            {
                return Some(self.topic.corrupt(format!(
                    "oldest frame at {oldest} is invalid (the tail is at {tail}, this \
                     subscriber at {})",
                    self.pos
                )));
            }
            if !ring.committed(oldest) {
                // The publisher is writing the oldest frame now (its message did not fit
                // beside the one before): wait for it there, and count once it is in.
                self.pos = oldest;
                self.lag_from = Some(self.lag_from.unwrap_or(self.expected));
                self.release(oldest);
                return None;
            }
            let seq = ring.frame_seq(oldest).load(Ordering::Relaxed);
            fence(Ordering::Acquire);
            if area.oldest().load(Ordering::Relaxed) != oldest {
                continue;
            }
            let missed = seq.wrapping_sub(self.lag_from.take().unwrap_or(self.expected));
            self.pos = oldest;
            self.expected = seq;
            self.release(oldest);
            if let Err(lost) = self.topic.end.intact() {
                return Some(lost);
            }
            if missed == 0 {
                return None;
            }
            return Some(Error::Lagged {
                name: self.name().to_string(),
                missed,
            });
        }
        // (Nothing is wrong with the topic: an honest publisher publishing flat out moves
        // the oldest frame between every two looks of a subscriber that keeps losing its
        // core. The next receive tries again.)
        Some(Error::Outpaced {
            name: self.name().to_string(),
            attempts: ATTEMPTS,
        })
    }

    /// Waits until a frame is committed at the position (or the publisher wrote past it),
    /// the publisher is gone, or the deadline passes. `Ok(false)`: the deadline passed.
    fn wait(&self, deadline: Option<Instant>) -> Result<bool> {
        let end = &self.topic.end;
        end.wait_on(
            &self.sleep(),
            deadline,
            0,
            || self.ready_now(),
            || end.ring.marked_at(self.pos),
            || {
                // Looked at before every sleep: a publisher never waits for room that a
                // damaged release position holds back while this subscriber waits.
                self.restate_position();
                end.peer_gone(Side::Sender)
            },
        )
    }

    /// Says again where this subscriber is, holding no message (a `Sample` borrows it): if
    /// its slot's release position or expected sequence say otherwise (only a process
    /// outside the protocol writes them), they are stored again and a waiting publisher
    /// woken. Two loads, and no write, when they are right. (A sample forgotten with
    /// `mem::forget` is taken as released.)
    pub(crate) fn restate_position(&self) {
        if self.topic.end.inherited() {
            return;
        }
        let slot = self.my_slot();
        if slot.head().load(Ordering::Relaxed) != self.pos
            || slot.next().load(Ordering::Relaxed) != self.expected
        {
            self.release(self.pos);
        }
    }

    /// Whether another connected subscriber has yet to finish a message this one has read
    /// (its head is behind this one's position), and the topic's processes (its
    /// subscribers and publisher) outnumber the cores this process may run on. That
    /// subscriber may then be waiting for this one's core, which a `sched_yield` gives it:
    /// without it, this subscriber would spin out its time slice first. Any value another
    /// process wrote there only costs a yield.
    fn others_behind(&self) -> bool {
        let area = self.topic.area;
        let (mut connected, mut behind) = (1, false);
        for i in (0..area.slots).filter(|&i| i != self.slot) {
            let slot = area.slot(i);
            if slot.state().load(Ordering::Acquire) & CONNECTED != 0 {
                connected += 1;
                behind |= slot.head().load(Ordering::Acquire) < self.pos;
            }
        }
        behind && connected + 1 > cores()
    }

    /// Where this subscriber sleeps: its slot's doorbell.
    fn sleep(&self) -> Sleep<'_> {
        let slot = self.my_slot();
        Sleep {
            bell: super::slot_bell(self.slot),
            seq: slot.bell(),
            sleepers: slot.asleep(),
            all_sleepers: Some(self.topic.area.all_asleep()),
        }
    }

    /// Whether something is committed at the position (a frame, or a wrap marker that
    /// `recv` skips), or the publisher wrote past it.
    pub(crate) fn ready_now(&self) -> bool {
        let (ring, area) = (self.topic.end.ring, self.topic.area);
        ring.committed(self.pos) || area.oldest().load(Ordering::Acquire) > self.pos
    }

    /// Whether `ready_now` says so within `polls` looks, a pause apart (`recv_async`'s
    /// first polls, inline).
    pub(crate) fn ready_within(&self, polls: u32) -> bool {
        (0..polls).any(|_| {
            let ready = self.ready_now();
            if !ready {
                std::hint::spin_loop();
            }
            ready
        })
    }

    /// Takes the next message if one is there now, skipping at most two wrap markers
    /// before it (a ring has at most one before a frame; a second is another process's
    /// doing, and waits for the next look); the lag or error `recv` would return, if any.
    /// For the async receive, which must never wait in `recv`: what it checks is what it
    /// takes, so a publisher that laps this subscriber between a look and a take (under
    /// `DropOldest`) cannot leave it waiting. [`sample`](Subscriber::sample) makes the
    /// message of what it took.
    pub(crate) fn take_ready(&mut self) -> Result<Option<TakenFrame>> {
        self.take_now(2)
    }

    /// The endpoint (for the async waits built over the subscriber).
    pub(crate) fn endpoint(&self) -> &crate::channel::endpoint::Endpoint {
        &self.topic.end
    }

    /// How a wait on many objects sees this subscriber.
    pub(crate) fn watch(&self) -> Watch<'_> {
        Watch {
            end: &self.topic.end,
            sleep: self.sleep(),
            peer: Side::Sender,
        }
    }

    /// Gives the bytes before `to` back (under `Block` the publisher may be waiting for
    /// them) and records how far this subscriber got.
    fn release(&self, to: u64) {
        // (A message taken before a `fork` is its parent's to give back.)
        if self.topic.end.inherited() {
            return;
        }
        let slot = self.my_slot();
        slot.next().store(self.expected, Ordering::Relaxed);
        slot.head().store(to, Ordering::Release);
        if self.topic.area.policy == SlowSubscribers::Block {
            self.topic.end.wake(Side::Sender);
        }
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        // A copy in a child made by `fork` leaves the slot to its parent's subscriber.
        if self.topic.end.inherited() {
            return;
        }
        let slot = self.my_slot();
        slot.state().fetch_and(!CONNECTED, Ordering::AcqRel);
        // The publisher may be waiting for this subscriber.
        self.topic.end.wake(Side::Sender);
    }
}

/// A received message, read from the ring where the publisher wrote it. Copy it out with
/// [`read_at`](Sample::read_at), [`to_vec`](Sample::to_vec) or
/// [`append_to`](Sample::append_to); dropping it releases its bytes (under `Block` the
/// publisher may be waiting for them).
///
/// Under `DropOldest` the publisher may write over a message while it is read: the copies
/// check afterwards and return [`Error::Lagged`] (one message missed) instead of what they
/// read.
///
/// ```
/// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
/// use filemap::topic::{Publisher, Subscriber, TopicOptions};
/// let mut publisher = Publisher::create_or_open("doc-topic-sample", &TopicOptions::new())?;
/// let mut subscriber = Subscriber::open("doc-topic-sample")?;
/// publisher.publish(b"sample")?;
/// let sample = subscriber.recv()?;
/// assert_eq!((sample.seq(), sample.len()), (0, 6));
/// assert_eq!(sample.to_vec()?, b"sample");
/// # Ok::<(), filemap::Error>(())
/// ```
#[derive(Debug)]
pub struct Sample<'a> {
    subscriber: &'a mut Subscriber,
    /// Whether a copy already reported the message overwritten (it is missed once).
    overwritten: std::cell::Cell<bool>,
    start: u64,
    payload: u64,
    len: usize,
    end: u64,
    seq: u64,
}

impl Sample<'_> {
    /// The message's sequence number: its place in the topic's sequence, from 0.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::topic::{Publisher, Subscriber, TopicOptions};
    /// let mut publisher = Publisher::create_or_open("doc-topic-seq", &TopicOptions::new())?;
    /// publisher.publish(b"missed")?; // before the subscriber joined
    /// let mut subscriber = Subscriber::open("doc-topic-seq")?;
    /// publisher.publish(b"seen")?;
    /// assert_eq!(subscriber.recv()?.seq(), 1);
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// The message's length in bytes.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::topic::{Publisher, Subscriber, TopicOptions};
    /// let mut publisher = Publisher::create_or_open("doc-topic-length", &TopicOptions::new())?;
    /// let mut subscriber = Subscriber::open("doc-topic-length")?;
    /// publisher.publish(&[0; 1000])?;
    /// assert_eq!(subscriber.recv()?.len(), 1000);
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the message is empty.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::topic::{Publisher, Subscriber, TopicOptions};
    /// let mut publisher = Publisher::create_or_open("doc-topic-empty", &TopicOptions::new())?;
    /// let mut subscriber = Subscriber::open("doc-topic-empty")?;
    /// publisher.publish(b"")?;
    /// publisher.publish(b"x")?;
    /// assert!(subscriber.recv()?.is_empty());
    /// assert!(!subscriber.recv()?.is_empty());
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The message's first byte. Reading through it is up to the caller, as with
    /// [`as_slice`](Sample::as_slice).
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::topic::{Publisher, Subscriber, TopicOptions};
    /// let mut publisher = Publisher::create_or_open("doc-topic-as-ptr", &TopicOptions::new())?;
    /// let mut subscriber = Subscriber::open("doc-topic-as-ptr")?;
    /// publisher.publish(b"A-Z")?;
    /// let sample = subscriber.recv()?;
    /// // SAFETY: a byte of the message; under `Block`, nobody writes it while the sample lives.
    /// assert_eq!(unsafe { sample.as_ptr().add(2).read() }, b'Z');
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn as_ptr(&self) -> *const u8 {
        self.subscriber.topic.end.ring.at(self.payload)
    }

    /// Copies `buf.len()` bytes of the message at `offset` into `buf`.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::topic::{Publisher, Subscriber, TopicOptions};
    /// let mut publisher = Publisher::create_or_open("doc-topic-read-at", &TopicOptions::new())?;
    /// let mut subscriber = Subscriber::open("doc-topic-read-at")?;
    /// publisher.publish(b"header:body")?;
    /// let sample = subscriber.recv()?;
    /// let mut body = [0; 4];
    /// sample.read_at(7, &mut body)?;
    /// assert_eq!(&body, b"body");
    /// assert!(matches!(sample.read_at(8, &mut body), Err(filemap::Error::OutOfRange { .. })));
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn read_at(&self, offset: usize, buf: &mut [u8]) -> Result<()> {
        check_slot_range(offset, buf.len(), self.len)?;
        // (A message taken before a `fork` is its parent's, which may have given it back.)
        self.subscriber.topic.end.usable_here()?;
        // SAFETY: inside the frame (checked above), which lies in the ring, mapped while
        // the subscriber lives; the copy routine is sound against the publisher writing
        // meanwhile (which `still_there` then reports).
        unsafe { copy_from_shared(self.as_ptr().add(offset), buf) }
            .map_err(|f| self.fault_error(f, offset))?;
        self.still_there()
    }

    /// Copies the message into a new vector.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::topic::{Publisher, Subscriber, TopicOptions};
    /// let mut publisher = Publisher::create_or_open("doc-topic-to-vec", &TopicOptions::new())?;
    /// let mut subscriber = Subscriber::open("doc-topic-to-vec")?;
    /// publisher.publish(b"copied out")?;
    /// let copy = subscriber.recv()?.to_vec()?; // the sample is gone, the copy stays
    /// assert_eq!(copy, b"copied out");
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn to_vec(&self) -> Result<Vec<u8>> {
        let mut v = Vec::new();
        self.append_to(&mut v)?;
        Ok(v)
    }

    /// Appends the message to `buf` (left as it was if the copy fails).
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::topic::{Publisher, Subscriber, TopicOptions};
    /// let mut publisher = Publisher::create_or_open("doc-topic-append", &TopicOptions::new())?;
    /// let mut subscriber = Subscriber::open("doc-topic-append")?;
    /// publisher.publish(b"Hello, ")?;
    /// publisher.publish(b"world")?;
    /// let mut text = Vec::new();
    /// subscriber.recv()?.append_to(&mut text)?;
    /// subscriber.recv()?.append_to(&mut text)?;
    /// assert_eq!(text, b"Hello, world");
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn append_to(&self, buf: &mut Vec<u8>) -> Result<()> {
        self.subscriber.topic.end.usable_here()?;
        let at = buf.len();
        crate::copy::reserve_for_copy(buf, self.len, "a message")?;
        let from = self.as_ptr();
        let shared = from as usize..from as usize + self.len;
        // SAFETY: `buf` has room for `len` more bytes (reserved above); the frame is
        // readable as in `read_at`.
        unsafe { copy_racy(buf.as_mut_ptr().add(at), from, self.len, shared) }
            .map_err(|f| self.fault_error(f, 0))?;
        self.still_there()?;
        // SAFETY: the copy filled all `len` bytes past `at`.
        unsafe { buf.set_len(at + self.len) };
        Ok(())
    }

    /// The message in place.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::topic::{Publisher, Subscriber, TopicOptions};
    /// let mut publisher = Publisher::create_or_open("doc-topic-in-place", &TopicOptions::new())?;
    /// let mut subscriber = Subscriber::open("doc-topic-in-place")?;
    /// publisher.publish(b"no copy")?;
    /// let sample = subscriber.recv()?;
    /// // SAFETY: the policy is `Block`, and every process that writes the topic is trusted.
    /// assert_eq!(unsafe { sample.as_slice() }, b"no copy");
    /// # Ok::<(), filemap::Error>(())
    /// ```
    ///
    /// # Safety
    /// Rust assumes the bytes behind a `&[u8]` do not change while it lives. Under
    /// `Block` the protocol keeps the publisher off them until the sample is dropped, so
    /// this holds when every process that can write the topic follows it; under
    /// `DropOldest` the publisher overwrites a message a subscriber is too slow for, so
    /// never use this there; nor in a child made by `fork` on a message its parent
    /// received (the parent may give it back meanwhile).
    pub unsafe fn as_slice(&self) -> &[u8] {
        // SAFETY: the frame is `len` contiguous bytes of the ring, mapped while the
        // subscriber lives; the caller vouches that nobody writes them meanwhile.
        unsafe { std::slice::from_raw_parts(self.as_ptr(), self.len) }
    }

    /// After a copy: `Error::Lagged` if the publisher may have written over the message
    /// meanwhile (under `DropOldest`), `Error::PageFault` if the memory was lost. Under
    /// `Block` the publisher never writes past a connected subscriber's head, though its
    /// `oldest` may pass a message a subscriber that just joined holds (it had moved
    /// `oldest` before it saw the join, and waits for that subscriber since): no check.
    fn still_there(&self) -> Result<()> {
        let topic = &self.subscriber.topic;
        // Orders the copy's loads before the check (the sequence-lock check).
        fence(Ordering::Acquire);
        if topic.area.policy == SlowSubscribers::DropOldest
            && topic.area.oldest().load(Ordering::Relaxed) > self.start
        {
            // Counted once, however many copies of it fail.
            let missed = u64::from(!self.overwritten.replace(true));
            return Err(Error::Lagged {
                name: topic.end.name.to_string(),
                missed,
            });
        }
        topic.end.intact()
    }

    fn fault_error(&self, fault: crate::copy::Fault, at: usize) -> Error {
        self.subscriber
            .topic
            .end
            .fault(fault, self.as_ptr(), self.len, at)
    }
}

impl Drop for Sample<'_> {
    fn drop(&mut self) {
        self.subscriber.release(self.end);
    }
}

/// A receive with a timeout shorter than this does not give its core away first.
const OFFER_CORE_BEFORE: Duration = Duration::from_millis(1);

/// How many cores this process may run on (asked once).
fn cores() -> usize {
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}
