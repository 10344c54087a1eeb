//! Publish-subscribe between processes: a named topic with one [`Publisher`] at a time and
//! up to N [`Subscriber`]s, each receiving every message published while it is connected.
//!
//! The publisher writes a message once, in place, into a ring in shared memory (reserve,
//! write, commit, as with a channel); every subscriber reads the same bytes. Slow
//! subscribers are handled by a policy fixed when the topic is made ([`SlowSubscribers`]):
//! the publisher waits for the slowest live one, or never waits and the laggard is told how
//! many messages it missed ([`Error::Lagged`]). A subscriber that
//! joins late can first receive the last K messages still in the ring (the topic's
//! history, K fixed at creation).
//!
//! ```
//! # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
//! use filemap::topic::{Publisher, Subscriber, TopicOptions};
//! let mut camera = Publisher::create_or_open("frames", &TopicOptions::new())?;
//! let mut viewer = Subscriber::open("frames")?;
//! let mut recorder = Subscriber::open("frames")?;
//! camera.publish(b"frame 1")?;
//! assert_eq!(viewer.recv()?.to_vec()?, b"frame 1");
//! assert_eq!(recorder.recv()?.to_vec()?, b"frame 1");
//! # Ok::<(), filemap::Error>(())
//! ```
//!
//! **One publisher at a time.** A topic's messages form one sequence, numbered from 0,
//! which every subscriber sees in the same order; with one writer the ring needs no
//! agreement between writers, and a commit stays one release store. A second publisher
//! waits for the first to go ([`Error::EndpointTaken`]
//! until then); a publisher that dies (even by `kill -9`) leaves every message it
//! committed to the subscribers, which then see
//! [`Error::Disconnected`] until a new publisher takes the
//! topic over and continues the sequence. Many writers into one reader is what
//! [`crate::channel`]'s two-party channels, one per writer, are for.
//!
//! # Layout of the data area
//!
//! The channel's ring (`crate::channel::ring`, frame layout 3: 32-byte frame headers that
//! also carry the message's sequence number, at header offset 16; a wrap marker carries the
//! next message's) takes the first `4096 + capacity` bytes: of its control area the topic
//! uses `tail` (the publisher's committed position), the sender's doorbell (the publisher
//! sleeps there while a subscriber holds it up) and the sender's state and busy-poll word
//! (the publisher's). After the ring, the topic's own area:
//!
//! | offset | field | written by |
//! |---|---|---|
//! | 0 | topic layout (u32, 1), subscriber slots N (u32), history K (u32), policy (u32) | creator |
//! | 64 | `oldest`: where the oldest frame still in the ring starts (u64) | publisher |
//! | 128 | messages published so far (u64, for `filemap info`) | publisher |
//! | 192 | subscribers asleep, over all slots (u32); joins so far (u32, at 196) | subscribers |
//! | 256 + 64 i | slot i: state (u32: bit 0 connected, the rest a generation), asleep (u32), doorbell (u32), `head` (u64 at +16: bytes released), next sequence number (u64 at +24) | subscriber i (the publisher frees a dead one's) |
//!
//! # Protocol
//!
//! The publisher owns the bytes in `[tail, oldest + capacity)`. Before it writes a frame
//! that ends at `end`, it makes room: under [`SlowSubscribers::Block`] it waits until every
//! connected subscriber's `head` is at least `end - capacity`; then (both policies) it
//! moves `oldest` forward, frame by frame over its own earlier frames, to the first frame
//! boundary at or past `end - capacity`, and stores it (release) before writing. A
//! subscriber reads the frame at its position once the frame's tag is that position's
//! complement (acquire); under [`SlowSubscribers::DropOldest`] it then checks, after an
//! acquire fence, that `oldest` has not passed the frame's start: if it has, the bytes it
//! read may be a newer frame's, and it reports the lag instead (this is the check a sequence
//! lock makes, with `oldest` as the sequence). The missed count is the sequence number in
//! the header at `oldest` minus the one the subscriber expected next.
//!
//! Joining, a subscriber sets its `head` to `oldest`, issues a sequentially consistent fence,
//! and reads `oldest` again (the publisher stores `oldest` and fences before it reads the
//! heads): either the publisher sees the new head and waits for it, or the subscriber sees
//! the newer `oldest` and starts over from it. (The publisher keeps the lowest head it saw,
//! with the count of joins then: a changed count sends it to look at the heads again before
//! it moves `oldest`, and after a wait for a joiner that ran out, `oldest` alone is not
//! taken as room until the heads are past it.) It then walks the frames from there to
//! `tail` to find where its history starts. Under `DropOldest` the publisher waits for no
//! head, so none of that holds it back: the walk checks every 32 frames that `oldest` has
//! not passed what it read (or has stopped on a frame start the walk reached, from which
//! its chain is intact), and starts over otherwise; history frames written over by then
//! are reported by the first receive as a lag. The next message's number comes from the
//! last header the walk read (a wrap marker carries the number of the message after it),
//! which must still be at or after `oldest` at the end; after a walk that found no frame,
//! from the count published, read after `oldest` and taken only if the tail has not moved
//! since. (A walk that had to find `oldest` unmoved could never finish beside a publisher
//! in a loop.) The word where the next frame's tag goes is
//! disarmed before each commit, as in the channel, with `oldest` in place of the channel's
//! `head` (the frame at `oldest + capacity` is the oldest frame's own header).
//!
//! A slot's liveness is its endpoint lock (a lock on byte 2 + i of the entry, released by
//! the system when its process dies); the publisher frees a slot whose lock nobody holds
//! when that slot holds it up: it looks (a system call per subscriber behind) before each
//! sleep in a wait for room, once per liveness interval while it spins, and at most once
//! per liveness interval for waits too short to sleep (`try_publish`). Freeing compares the
//! whole state word, generation included, so a slot taken by a new subscriber meanwhile
//! is left alone.

mod publisher;
mod subscriber;

pub use publisher::{PublishSlot, Publisher};
pub use subscriber::{Sample, Subscriber};

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use crate::channel::endpoint::Endpoint;
use crate::channel::ring::{self, RING_OFFSET, Ring};
use crate::channel::shared;
use crate::error::{Error, Result};
use crate::header::Layout;
use crate::name::Name;
use crate::sync::ObjectOptions;
use crate::sys::{self, CreateMode};
use crate::vocabulary::Kind;

/// What the publisher does about a subscriber that falls behind.
///
/// ```
/// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
/// use filemap::topic::{Publisher, SlowSubscribers, Subscriber, TopicOptions};
/// let options = TopicOptions::new().capacity(4096).slow_subscribers(SlowSubscribers::DropOldest);
/// let mut publisher = Publisher::create_or_open("doc-topic-policy", &options)?;
/// let mut laggard = Subscriber::open("doc-topic-policy")?;
/// for i in 0..100u64 {
///     publisher.publish(&i.to_le_bytes())?; // never waits: 100 frames do not fit in 4 KiB
/// }
/// let missed = match laggard.recv() {
///     Err(filemap::Error::Lagged { missed, .. }) => missed,
///     other => panic!("expected a lag, got {other:?}"),
/// };
/// let oldest = laggard.recv()?; // goes on at the oldest message still there
/// assert_eq!(oldest.seq(), missed);
/// assert_eq!(oldest.to_vec()?, missed.to_le_bytes());
/// # Ok::<(), filemap::Error>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum SlowSubscribers {
    /// The publisher waits for the slowest live subscriber (the default): nothing is lost.
    /// A subscriber that dies stops holding it up within the liveness interval (50 ms).
    #[default]
    Block,
    /// The publisher never waits; a subscriber that fell more than the ring behind is told
    /// how many messages it missed ([`Error::Lagged`]) and goes on at
    /// the oldest message still there.
    DropOldest,
}

impl SlowSubscribers {
    fn code(self) -> u32 {
        match self {
            SlowSubscribers::Block => 0,
            SlowSubscribers::DropOldest => 1,
        }
    }

    fn from_code(code: u32) -> Option<SlowSubscribers> {
        match code {
            0 => Some(SlowSubscribers::Block),
            1 => Some(SlowSubscribers::DropOldest),
            _ => None,
        }
    }

    /// The policy's name as the CLI shows it (`"block"`, `"drop-oldest"`).
    ///
    /// ```
    /// use filemap::topic::SlowSubscribers;
    /// assert_eq!(SlowSubscribers::default().as_str(), "block");
    /// assert_eq!(SlowSubscribers::DropOldest.as_str(), "drop-oldest");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            SlowSubscribers::Block => "block",
            SlowSubscribers::DropOldest => "drop-oldest",
        }
    }
}

/// How a new topic is made (an existing topic keeps its own).
///
/// ```
/// use filemap::topic::{SlowSubscribers, TopicOptions};
/// let options = TopicOptions::new()
///     .capacity(1 << 20)
///     .max_subscribers(64)
///     .history(10)
///     .slow_subscribers(SlowSubscribers::DropOldest);
/// assert_eq!(options.get_max_subscribers(), 64);
/// ```
#[derive(Clone, Copy, Debug)]
pub struct TopicOptions {
    capacity: u64,
    max_subscribers: u32,
    history: u32,
    slow: SlowSubscribers,
    object: ObjectOptions,
}

impl Default for TopicOptions {
    fn default() -> Self {
        TopicOptions::new()
    }
}

/// The largest ring a topic can have, in bytes ([`TopicOptions::capacity`]: 1 byte to
/// this, rounded up to a power of two, at least 4096).
///
/// ```
/// use filemap::topic::MAX_CAPACITY;
/// assert_eq!(MAX_CAPACITY, 1 << 40); // 1 TiB
/// ```
pub const MAX_CAPACITY: u64 = 1 << 40;

/// The most subscriber slots a topic can have.
///
/// ```
/// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
/// use filemap::topic::{Publisher, TopicOptions, MAX_SUBSCRIBERS};
/// let most = TopicOptions::new().max_subscribers(MAX_SUBSCRIBERS);
/// assert_eq!(Publisher::create_or_open("doc-topic-most", &most)?.max_subscribers(), 128);
/// let too_many = TopicOptions::new().max_subscribers(MAX_SUBSCRIBERS + 1);
/// assert!(matches!(
///     Publisher::create_or_open("doc-topic-too-many", &too_many),
///     Err(filemap::Error::InvalidSetting { .. })
/// ));
/// # Ok::<(), filemap::Error>(())
/// ```
pub const MAX_SUBSCRIBERS: u32 = 128;

/// The longest history a topic can keep for subscribers that join ([`TopicOptions::history`]):
/// a joining subscriber notes where each of the last `history` messages starts as it walks
/// the ring, 24 bytes each (24 MiB at most, and up to twice that for a moment as the list
/// grows). A longer history found in a topic (written by
/// another process, or by an earlier filemap, which had no limit) gives a joining
/// subscriber this many messages at most.
///
/// ```
/// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
/// use filemap::topic::{Publisher, TopicOptions, MAX_HISTORY};
/// let longest = TopicOptions::new().history(MAX_HISTORY);
/// assert!(Publisher::create_or_open("doc-topic-longest-history", &longest).is_ok());
/// let too_long = TopicOptions::new().history(MAX_HISTORY + 1);
/// assert!(matches!(
///     Publisher::create_or_open("doc-topic-too-long-history", &too_long),
///     Err(filemap::Error::InvalidSetting { .. })
/// ));
/// # Ok::<(), filemap::Error>(())
/// ```
pub const MAX_HISTORY: u32 = 1 << 20;

impl TopicOptions {
    /// A 64 KiB ring, 8 subscriber slots, no history, [`SlowSubscribers::Block`].
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::topic::{info, Publisher, SlowSubscribers, TopicOptions};
    /// let _publisher = Publisher::create_or_open("doc-topic-defaults", &TopicOptions::new())?;
    /// let i = info("doc-topic-defaults")?;
    /// assert_eq!((i.capacity, i.max_subscribers, i.history), (64 << 10, 8, 0));
    /// assert_eq!(i.slow_subscribers, SlowSubscribers::Block);
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn new() -> TopicOptions {
        TopicOptions {
            capacity: 64 << 10,
            max_subscribers: 8,
            history: 0,
            slow: SlowSubscribers::Block,
            object: ObjectOptions::new(),
        }
    }

    /// The ring's size in bytes (rounded up to a power of two, at least 4096; at most
    /// 1 TiB). A message takes its length plus a 32-byte header, in 64-byte lines.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::topic::{Publisher, TopicOptions};
    /// let options = TopicOptions::new().capacity(5000);
    /// let publisher = Publisher::create_or_open("doc-topic-capacity", &options)?;
    /// assert_eq!(publisher.capacity(), 8192); // the next power of two
    /// let empty = TopicOptions::new().capacity(0);
    /// assert!(matches!(
    ///     Publisher::create_or_open("doc-topic-no-capacity", &empty),
    ///     Err(filemap::Error::InvalidSize { .. })
    /// ));
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn capacity(mut self, bytes: u64) -> Self {
        self.capacity = bytes;
        self
    }

    /// How many subscribers can be connected at once (1 to [`MAX_SUBSCRIBERS`]).
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::topic::{Subscriber, TopicOptions};
    /// let options = TopicOptions::new().max_subscribers(1);
    /// let _only = Subscriber::create_or_open("doc-topic-one-slot", &options)?;
    /// assert!(matches!(
    ///     Subscriber::open("doc-topic-one-slot"),
    ///     Err(filemap::Error::NoFreeSlot { slots: 1, .. })
    /// ));
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn max_subscribers(mut self, n: u32) -> Self {
        self.max_subscribers = n;
        self
    }

    /// The set number of subscriber slots.
    ///
    /// ```
    /// use filemap::topic::TopicOptions;
    /// assert_eq!(TopicOptions::new().get_max_subscribers(), 8);
    /// assert_eq!(TopicOptions::new().max_subscribers(2).get_max_subscribers(), 2);
    /// ```
    pub fn get_max_subscribers(&self) -> u32 {
        self.max_subscribers
    }

    /// How many of the last messages a subscriber that joins receives first (those still
    /// in the ring), 0 by default; at most [`MAX_HISTORY`].
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::topic::{Publisher, Subscriber, TopicOptions};
    /// let options = TopicOptions::new().history(2);
    /// let mut publisher = Publisher::create_or_open("doc-topic-history", &options)?;
    /// for message in [b"a", b"b", b"c"] {
    ///     publisher.publish(message)?;
    /// }
    /// let mut late = Subscriber::open("doc-topic-history")?; // joins after all three
    /// assert_eq!(late.recv()?.to_vec()?, b"b");
    /// assert_eq!(late.recv()?.to_vec()?, b"c");
    /// assert!(late.try_recv()?.is_none());
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn history(mut self, messages: u32) -> Self {
        self.history = messages;
        self
    }

    /// What the publisher does about slow subscribers.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::topic::{Publisher, SlowSubscribers, Subscriber, TopicOptions};
    /// let lossy = TopicOptions::new().slow_subscribers(SlowSubscribers::DropOldest);
    /// let _first = Subscriber::create_or_open("doc-topic-set-policy", &lossy)?;
    /// // The topic exists: the publisher's own options do not change its policy.
    /// let publisher = Publisher::create_or_open("doc-topic-set-policy", &TopicOptions::new())?;
    /// assert_eq!(publisher.slow_subscribers(), SlowSubscribers::DropOldest);
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn slow_subscribers(mut self, policy: SlowSubscribers) -> Self {
        self.slow = policy;
        self
    }

    /// Permissions and persistence of the topic's entry.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::sync::ObjectOptions;
    /// use filemap::topic::{Publisher, TopicOptions};
    /// let shared = TopicOptions::new().object_options(ObjectOptions::new().permissions(0o640));
    /// let _publisher = Publisher::create_or_open("doc-topic-640", &shared)?;
    /// #[cfg(target_os = "linux")]
    /// assert_eq!(filemap::namespace::info("doc-topic-640")?.mode, 0o640);
    /// let unusable = TopicOptions::new().object_options(ObjectOptions::new().permissions(0o400));
    /// assert!(matches!(
    ///     Publisher::create_or_open("doc-topic-400", &unusable),
    ///     Err(filemap::Error::InvalidPermissions { mode: 0o400 })
    /// ));
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn object_options(mut self, options: ObjectOptions) -> Self {
        self.object = options;
        self
    }
}

/// The topic area's layout version.
pub(crate) const TOPIC_AREA_LAYOUT: u32 = 1;
const LAYOUT_AT: usize = 0;
const SLOTS_AT: usize = 4;
const HISTORY_AT: usize = 8;
const POLICY_AT: usize = 12;
const OLDEST: usize = 64;
const PUBLISHED: usize = 128;
const ALL_ASLEEP: usize = 192;
/// Joins so far (u32, wrapping): the publisher looks again at the heads when it changes.
const JOINS: usize = 196;
const SLOT_TABLE: usize = 256;
const SLOT_SIZE: usize = 64;
// A slot's fields.
const SLOT_STATE: usize = 0;
const SLOT_ASLEEP: usize = 4;
const SLOT_BELL: usize = 8;
const SLOT_HEAD: usize = 16;
const SLOT_NEXT: usize = 24;
/// A slot's state bit for "connected" (the rest of the word is a generation).
const CONNECTED: u32 = 1;
/// The endpoint lock byte of subscriber slot 0 (0 is the publisher's, as a channel
/// sender's; 1 stays unused).
const FIRST_SLOT_LOCK: u8 = 2;

/// The topic's area after the ring: its settings (read once, checked) and its words.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Area {
    base: *mut u8,
    slots: u32,
    history: u32,
    policy: SlowSubscribers,
}

// SAFETY: shared memory used through atomics, as the ring is.
unsafe impl Send for Area {}
// SAFETY: as above.
unsafe impl Sync for Area {}

impl Area {
    /// The area at `base`, `len` bytes to the data area's end; `Err` says what does not fit.
    ///
    /// # Safety
    /// `base` must point to `len` bytes of shared memory, 64-aligned, mapped while used.
    unsafe fn new(base: *mut u8, len: u64) -> std::result::Result<Area, String> {
        if len < SLOT_TABLE as u64 {
            return Err(format!("its topic area ({len} bytes) is too small"));
        }
        // SAFETY: the caller's contract; aligned words inside the area.
        let (layout, slots, history, policy) = unsafe {
            (
                shared::u32_at(base, LAYOUT_AT).load(Ordering::Acquire),
                shared::u32_at(base, SLOTS_AT).load(Ordering::Relaxed),
                shared::u32_at(base, HISTORY_AT).load(Ordering::Relaxed),
                shared::u32_at(base, POLICY_AT).load(Ordering::Relaxed),
            )
        };
        if layout != TOPIC_AREA_LAYOUT {
            return Err(format!(
                "its topic layout is {layout}, but this filemap reads layout {TOPIC_AREA_LAYOUT}"
            ));
        }
        if slots == 0 || slots > MAX_SUBSCRIBERS || area_len(slots) > len {
            return Err(format!(
                "its {slots} subscriber slots do not fit its area of {len} bytes"
            ));
        }
        let policy = SlowSubscribers::from_code(policy)
            .ok_or_else(|| format!("its slow-subscriber policy {policy} is unknown"))?;
        Ok(Area {
            base,
            slots,
            history,
            policy,
        })
    }

    fn u32_at(&self, offset: usize) -> &AtomicU32 {
        debug_assert!(offset < area_len(self.slots) as usize);
        // SAFETY: an aligned word inside the area, whose size `new` checked.
        unsafe { shared::u32_at(self.base, offset) }
    }

    fn u64_at(&self, offset: usize) -> &AtomicU64 {
        debug_assert!(offset < area_len(self.slots) as usize);
        // SAFETY: as in `u32_at`.
        unsafe { shared::u64_at(self.base, offset) }
    }

    pub(crate) fn oldest(&self) -> &AtomicU64 {
        self.u64_at(OLDEST)
    }

    fn published(&self) -> &AtomicU64 {
        self.u64_at(PUBLISHED)
    }

    fn all_asleep(&self) -> &AtomicU32 {
        self.u32_at(ALL_ASLEEP)
    }

    fn slot(&self, i: u32) -> Slot<'_> {
        debug_assert!(i < self.slots);
        Slot {
            area: self,
            at: SLOT_TABLE + i as usize * SLOT_SIZE,
        }
    }
}

/// The area's size for `slots` subscriber slots.
fn area_len(slots: u32) -> u64 {
    (SLOT_TABLE + slots as usize * SLOT_SIZE) as u64
}

/// One subscriber slot's words.
struct Slot<'a> {
    area: &'a Area,
    at: usize,
}

impl<'a> Slot<'a> {
    fn state(&self) -> &AtomicU32 {
        self.area.u32_at(self.at + SLOT_STATE)
    }
    fn asleep(&self) -> &'a AtomicU32 {
        self.area.u32_at(self.at + SLOT_ASLEEP)
    }
    fn bell(&self) -> &'a AtomicU32 {
        self.area.u32_at(self.at + SLOT_BELL)
    }
    fn head(&self) -> &AtomicU64 {
        self.area.u64_at(self.at + SLOT_HEAD)
    }
    fn next(&self) -> &AtomicU64 {
        self.area.u64_at(self.at + SLOT_NEXT)
    }
}

/// A topic entry, opened or made: the channel machinery (mapped entry, ring, waits) and the
/// topic's area.
pub(crate) struct Topic {
    pub(crate) end: Endpoint,
    pub(crate) area: Area,
}

impl std::fmt::Debug for Topic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Topic")
            .field("name", &self.end.name)
            .finish_non_exhaustive()
    }
}

fn round_capacity(capacity: u64) -> Result<u64> {
    if capacity == 0 || capacity > MAX_CAPACITY {
        return Err(Error::InvalidSize {
            size: capacity,
            problem: "a topic's capacity is 1 byte to 1 TiB",
        });
    }
    Ok(capacity.max(4096).next_power_of_two())
}

impl Topic {
    /// Opens the topic `name` (making it with `options` if given and it does not exist),
    /// and takes the first free endpoint lock of `roles` (0: the publisher's; 1 + i:
    /// subscriber slot i's): `Ok((topic, Some(role)))`, or `Ok((topic, None))` if every
    /// one is held by a live process (the topic then holds no role, as for [`info`]).
    fn open(
        name: Name,
        options: Option<&TopicOptions>,
        roles: std::ops::Range<u32>,
    ) -> Result<(Topic, Option<u32>)> {
        let memory = match options {
            Some(options) => {
                let capacity = round_capacity(options.capacity)?;
                if options.max_subscribers == 0 || options.max_subscribers > MAX_SUBSCRIBERS {
                    return Err(Error::InvalidSetting {
                        setting: "a topic's subscriber slots",
                        value: options.max_subscribers.into(),
                        allowed: "1 to 128",
                    });
                }
                if options.history > MAX_HISTORY {
                    return Err(Error::InvalidSetting {
                        setting: "a topic's history",
                        value: options.history.into(),
                        allowed: "0 to 1048576 messages",
                    });
                }
                let mut header = options.object.header(Kind::Topic, 0, Layout::default())?;
                let area = area_len(options.max_subscribers).next_multiple_of(4096);
                header.size = RING_OFFSET as u64 + capacity + area;
                let init = |base: *mut u8| {
                    // SAFETY: the data area is RING_OFFSET + capacity + area fresh bytes of
                    // an entry nobody else can see yet, page-aligned.
                    unsafe {
                        ring::init_with_layout(base, capacity, ring::TOPIC_LAYOUT);
                        let at = base.add(RING_OFFSET + capacity as usize);
                        let word = |offset| shared::u32_at(at, offset);
                        word(SLOTS_AT).store(options.max_subscribers, Ordering::Relaxed);
                        word(HISTORY_AT).store(options.history, Ordering::Relaxed);
                        word(POLICY_AT).store(options.slow.code(), Ordering::Relaxed);
                        word(LAYOUT_AT).store(TOPIC_AREA_LAYOUT, Ordering::Release);
                    }
                    Ok(())
                };
                let (memory, _, _) = sys::create_sync(&name, &header, CreateMode::OrOpen, &init)?;
                memory
            }
            None => {
                let (memory, _) = sys::open_sync(&name, Kind::Topic)?;
                memory
            }
        };
        let corrupt = |problem: String| {
            crate::channel::endpoint::check_failed(&memory, &name, format!("the topic's {problem}"))
        };
        // SAFETY: the data area is mapped for as long as `memory` lives, which the
        // endpoint keeps beside the ring and the area; `new` checks the sizes.
        let ring = unsafe { Ring::new(memory.base(), memory.len()) }
            .and_then(|ring| match ring.layout() {
                ring::TOPIC_LAYOUT => Ok(ring),
                other => Err(format!("frame layout is {other}, not a topic's")),
            })
            .map_err(|p| corrupt(format!("ring: {p}")))?;
        let area_at = RING_OFFSET as u64 + ring.capacity();
        // SAFETY: the area starts past the ring, inside the data area (Ring::new checked
        // that the ring fits), 64-aligned (the ring's capacity is a power of two >= 4096).
        let area =
            unsafe { Area::new(memory.base().add(area_at as usize), memory.len() - area_at) }
                .map_err(corrupt)?;
        let mut taken = None;
        for role in roles {
            if role > area.slots {
                break;
            }
            if let Some(lock) = memory.lock_endpoint(lock_byte(role))? {
                taken = Some((lock, role));
                break;
            }
        }
        let (lock, role) = taken.unzip();
        let end = Endpoint::from_parts(name, std::sync::Arc::new(memory), ring, lock);
        Ok((Topic { end, area }, role))
    }

    fn corrupt(&self, problem: String) -> Error {
        self.end.corrupt(problem)
    }
}

/// Endpoint locks: 0 is the publisher's, 1 + i subscriber slot i's.
fn lock_byte(i: u32) -> u8 {
    if i == 0 {
        crate::channel::SENDER_LOCK
    } else {
        FIRST_SLOT_LOCK + (i - 1) as u8
    }
}

/// The doorbell a subscriber slot sleeps on.
fn slot_bell(slot: u32) -> sys::Bell {
    sys::Bell::Slot(slot as u16)
}

/// What `filemap info` shows of a topic: its settings, its publisher, its subscribers.
///
/// ```
/// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
/// use filemap::topic::{info, SlowSubscribers, Subscriber, TopicOptions};
/// let options = TopicOptions::new().capacity(4096).max_subscribers(2).history(3);
/// let _early = Subscriber::create_or_open("doc-topic-info", &options)?;
/// let i = info("doc-topic-info")?;
/// assert_eq!((i.capacity, i.max_subscribers, i.history), (4096, 2, 3));
/// assert_eq!(i.slow_subscribers, SlowSubscribers::Block);
/// assert!(!i.publisher_alive); // the subscriber came first
/// assert_eq!((i.published, i.subscribers.len()), (0, 1));
/// # Ok::<(), filemap::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopicInfo {
    /// The ring's capacity in bytes.
    pub capacity: u64,
    /// Subscriber slots.
    pub max_subscribers: u32,
    /// History kept for late joiners, as the topic says (a joiner gets at most
    /// [`MAX_HISTORY`] of it).
    pub history: u32,
    /// The slow-subscriber policy.
    pub slow_subscribers: SlowSubscribers,
    /// Whether a live publisher is connected.
    pub publisher_alive: bool,
    /// Messages published so far.
    pub published: u64,
    /// The connected, live subscribers: slot and how many messages each has yet to read.
    pub subscribers: Vec<SubscriberInfo>,
}

/// One subscriber in [`TopicInfo`].
///
/// ```
/// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
/// use filemap::topic::{info, Publisher, Subscriber, SubscriberInfo, TopicOptions};
/// let mut publisher = Publisher::create_or_open("doc-topic-behind", &TopicOptions::new())?;
/// let mut quick = Subscriber::open("doc-topic-behind")?;
/// let _slow = Subscriber::open("doc-topic-behind")?;
/// publisher.publish(b"one")?;
/// publisher.publish(b"two")?;
/// drop(quick.recv()?);
/// assert_eq!(
///     info("doc-topic-behind")?.subscribers,
///     [SubscriberInfo { slot: 0, behind: 1 }, SubscriberInfo { slot: 1, behind: 2 }]
/// );
/// # Ok::<(), filemap::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SubscriberInfo {
    /// Its slot.
    pub slot: u32,
    /// Messages published that it has not received yet.
    pub behind: u64,
}

/// Reads what a topic looks like now, without joining it.
///
/// ```
/// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
/// use filemap::topic::{info, Publisher, Subscriber, TopicOptions};
/// let mut p = Publisher::create_or_open("watched", &TopicOptions::new())?;
/// let _s = Subscriber::open("watched")?;
/// p.publish(b"one")?;
/// let i = info("watched")?;
/// assert!(i.publisher_alive);
/// assert_eq!((i.published, i.subscribers.len(), i.subscribers[0].behind), (1, 1, 1));
/// # Ok::<(), filemap::Error>(())
/// ```
pub fn info(name: impl crate::IntoName) -> Result<TopicInfo> {
    let name = name.into_name()?;
    // No role taken: a look from outside.
    let (topic, _) = Topic::open(name, None, 0..0)?;
    let area = topic.area;
    let published = area.published().load(Ordering::Acquire);
    let memory = &topic.end.memory;
    let subscribers = (0..area.slots)
        .filter_map(|i| {
            let slot = area.slot(i);
            let connected = slot.state().load(Ordering::Acquire) & CONNECTED != 0;
            (connected && memory.endpoint_alive(lock_byte(i + 1))).then(|| SubscriberInfo {
                slot: i,
                behind: published.saturating_sub(slot.next().load(Ordering::Acquire)),
            })
        })
        .collect();
    Ok(TopicInfo {
        capacity: topic.end.ring.capacity(),
        max_subscribers: area.slots,
        history: area.history,
        slow_subscribers: area.policy,
        publisher_alive: topic
            .end
            .ring
            .u32_at(ring::SENDER_STATE)
            .load(Ordering::Acquire)
            == ring::STATE_CONNECTED
            && memory.endpoint_alive(crate::channel::SENDER_LOCK),
        published,
        subscribers,
    })
}
