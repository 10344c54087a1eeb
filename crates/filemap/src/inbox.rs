//! Many senders, one receiver: an [`Inbox`] that up to N [`InboxSender`]s (N fixed when it
//! is made) send messages to, each in its own order.
//!
//! ```
//! # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
//! use filemap::inbox::{Inbox, InboxOptions, InboxSender};
//! let mut collector = Inbox::create_or_open("results", &InboxOptions::new())?;
//! let mut worker_a = InboxSender::open("results")?;
//! let mut worker_b = InboxSender::open("results")?;
//! worker_a.send(b"a1")?;
//! worker_b.send(b"b1")?;
//! let (from, message) = collector.recv()?;
//! assert_eq!((from, message.to_vec()?), (worker_a.slot(), b"a1".to_vec()));
//! # drop(message);
//! let (from, message) = collector.recv()?;
//! assert_eq!((from, message.to_vec()?), (worker_b.slot(), b"b1".to_vec()));
//! # Ok::<(), filemap::Error>(())
//! ```
//!
//! **Design.** Each sender slot is a channel of its own (`crate::channel`'s ring and
//! protocol, unchanged), and all of them live in one entry with one doorbell for the
//! receiver: a sender keeps the two-party fast path (no agreement with other senders, a
//! commit is one release store), and the receiver takes from the rings in turn (round
//! robin, starting after the ring it served last), so no sender starves another. A sender
//! killed in the middle of a message leaves its frame uncommitted in its own ring, where
//! nobody else writes: the others go on, and a new sender that takes the slot continues
//! after the last message the dead one committed, which the receiver still gets.
//!
//! Layout: an entry of rings (`crate::rings`), one per sender slot; the receiver's doorbell
//! is the shared one of its control page. Endpoint locks: 1 is the receiver's (as a
//! channel receiver's), 2 + i sender slot i's.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::channel::endpoint::{BellWords, Bells, Endpoint, Watch};
use crate::channel::ring;
use crate::channel::{
    AtPosition, FAST_SPINS, RECEIVER_LOCK, ReadyFrame, Receiver, RecvSlot, Sender, WaitMode,
};
use crate::error::{Error, Result};
use crate::name::{IntoName, Name};
use crate::rings::{RingSet, Shape, slot_lock};
use crate::sync::ObjectOptions;
use crate::sys;
use crate::vocabulary::{Kind, Side};

/// The most sender slots an inbox can have.
///
/// ```
/// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
/// use filemap::inbox::{Inbox, InboxOptions, MAX_SENDERS};
/// let most = InboxOptions::new().senders(MAX_SENDERS).capacity(4096);
/// assert_eq!(Inbox::create_or_open("doc-inbox-max-senders", &most)?.slots(), MAX_SENDERS);
/// let too_many = InboxOptions::new().senders(MAX_SENDERS + 1);
/// let refused = Inbox::create_or_open("doc-inbox-too-many", &too_many);
/// assert!(matches!(refused, Err(filemap::Error::InvalidSetting { .. })));
/// # Ok::<(), filemap::Error>(())
/// ```
pub const MAX_SENDERS: u32 = crate::rings::MAX_SLOTS;

/// How a new inbox is made (an existing one keeps its own).
///
/// ```
/// use filemap::inbox::InboxOptions;
/// let options = InboxOptions::new().senders(16).capacity(1 << 20);
/// ```
#[derive(Clone, Copy, Debug)]
pub struct InboxOptions {
    senders: u32,
    capacity: u64,
    object: ObjectOptions,
}

impl Default for InboxOptions {
    fn default() -> Self {
        InboxOptions::new()
    }
}

impl InboxOptions {
    /// 8 sender slots, a 64 KiB ring each.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::inbox::{Inbox, InboxOptions, InboxSender};
    /// let inbox = Inbox::create_or_open("doc-inbox-options-new", &InboxOptions::new())?;
    /// let tx = InboxSender::open("doc-inbox-options-new")?;
    /// assert_eq!((inbox.slots(), tx.capacity()), (8, 64 << 10));
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn new() -> InboxOptions {
        InboxOptions {
            senders: 8,
            capacity: 64 << 10,
            object: ObjectOptions::new(),
        }
    }

    /// How many senders can be connected at once (1 to [`MAX_SENDERS`]).
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::inbox::{Inbox, InboxOptions, InboxSender};
    /// let options = InboxOptions::new().senders(1);
    /// let _inbox = Inbox::create_or_open("doc-inbox-options-senders", &options)?;
    /// let _only = InboxSender::open("doc-inbox-options-senders")?;
    /// let second = InboxSender::open("doc-inbox-options-senders");
    /// assert!(matches!(second, Err(filemap::Error::NoFreeSlot { slots: 1, .. })));
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn senders(mut self, n: u32) -> Self {
        self.senders = n;
        self
    }

    /// Each sender's ring, in bytes (rounded up to a power of two, at least 4096; 0 or more
    /// than 1 TiB is [`Error::InvalidSize`] when the inbox is made).
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::inbox::{Inbox, InboxOptions, InboxSender};
    /// let options = InboxOptions::new().capacity(5000);
    /// let _inbox = Inbox::create_or_open("doc-inbox-options-capacity", &options)?;
    /// assert_eq!(InboxSender::open("doc-inbox-options-capacity")?.capacity(), 8192);
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn capacity(mut self, bytes: u64) -> Self {
        self.capacity = bytes;
        self
    }

    /// Permissions and persistence of the inbox's entry.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::inbox::{Inbox, InboxOptions};
    /// use filemap::sync::ObjectOptions;
    /// let group = InboxOptions::new().object_options(ObjectOptions::new().permissions(0o640));
    /// let _inbox = Inbox::create_or_open("doc-inbox-options-object", &group)?;
    /// #[cfg(target_os = "linux")]
    /// assert_eq!(filemap::namespace::info("doc-inbox-options-object")?.mode, 0o640);
    /// let owner_read_only = ObjectOptions::new().permissions(0o400); // the owner must write
    /// let refused = Inbox::create_or_open(
    ///     "doc-inbox-options-400",
    ///     &InboxOptions::new().object_options(owner_read_only),
    /// );
    /// assert!(matches!(refused, Err(filemap::Error::InvalidPermissions { mode: 0o400 })));
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn object_options(mut self, options: ObjectOptions) -> Self {
        self.object = options;
        self
    }
}

/// Opens (or makes) the inbox's entry: one ring per sender slot.
fn open_rings(name: Name, options: Option<&InboxOptions>) -> Result<RingSet> {
    let shape = options.map(|o| Shape {
        slots: o.senders,
        capacity: o.capacity,
        object: &o.object,
    });
    RingSet::open(
        name,
        Kind::Inbox,
        1,
        crate::channel::ring::LAYOUT,
        shape,
        "an inbox's sender slots",
    )
}

/// An endpoint over sender slot `i`'s ring: the receiver's doorbell is the shared one, the
/// sender's is its ring's own.
pub(crate) fn endpoint(rings: &RingSet, i: usize, lock: Option<sys::EndpointLock>) -> Endpoint {
    let bells = Bells {
        receiver: rings.shared_bell(RECEIVER_LOCK),
        sender: rings.ring_bell(i, Side::Sender, sys::Bell::Slot(i as u16), slot_lock(i)),
    };
    rings.endpoint(i, bells, lock)
}

/// A sender position no ring has (positions are multiples of 64): a ring set aside with
/// it as its reported position is looked at again at the next look.
const NEVER_A_POSITION: u64 = u64::MAX;

/// The receiving end of an inbox: one at a time.
///
/// ```
/// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
/// use filemap::inbox::{Inbox, InboxOptions, InboxSender};
/// let mut inbox = Inbox::create_or_open("doc-inbox", &InboxOptions::new())?;
/// assert!(matches!(Inbox::open("doc-inbox"), Err(filemap::Error::EndpointTaken { .. })));
/// let mut tx = InboxSender::open("doc-inbox")?;
/// tx.send(b"hi")?;
/// let (from, message) = inbox.recv()?;
/// assert_eq!((from, message.to_vec()?), (tx.slot(), b"hi".to_vec()));
/// # Ok::<(), filemap::Error>(())
/// ```
#[derive(Debug)]
pub struct Inbox {
    /// One per sender slot.
    receivers: Vec<Receiver>,
    /// The ring to look at first next time (the one after the last served).
    next: usize,
    /// The rings found damaged (bit `i` for slot `i`; at most 128 slots), reported and
    /// read no more by this receiver: only a ring's sender (or a process that scribbles on
    /// the entry) writes it, and nothing repairs it, so reading on would report it on
    /// every receive and wake every wait at once.
    set_aside: u128,
    /// For each ring set aside, its sender's position when it was last reported: once its
    /// sender commits more there (a new sender of the slot, say), the ring is looked at
    /// again, read on if it is whole by then, reported again if not (what is sent there
    /// is not received).
    reported_at: Vec<u64>,
    /// Damage found when this receiver connected (a ring's receiver position, mended),
    /// reported by the next receives, one each, before they look at the rings.
    unreported: Vec<Error>,
    /// The rings (bit `i` for slot `i`, each set aside too) whose receiver position was
    /// invalid when this receiver connected, and could not be mended then, the sender's
    /// being invalid too: read only once mended to a valid sender position.
    unmended: u128,
    /// The receiver's doorbell (in the memory the receivers hold).
    bell: BellWords,
    /// Whether receiving reports [`Error::Disconnected`] once every sender that came is
    /// gone: an inbox's does; a service's requests do not (clients come and go while the
    /// server serves).
    ends_with_senders: bool,
    /// The receiver's endpoint lock. Declared last, so dropped last: every ring is marked
    /// closed before a new receiver can take the lock and connect it (a mark written after
    /// would land on the new receiver's ring).
    _lock: sys::EndpointLock,
}

impl Inbox {
    /// Opens the inbox `name` as its receiver, making it with `options` if it does not
    /// exist. One receiver at a time: [`Error::EndpointTaken`] while another lives.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::inbox::{Inbox, InboxOptions};
    /// let options = InboxOptions::new().senders(2);
    /// let inbox = Inbox::create_or_open("doc-inbox-create", &options)?;
    /// assert_eq!(inbox.slots(), 2);
    /// let second = Inbox::create_or_open("doc-inbox-create", &options);
    /// assert!(matches!(second, Err(filemap::Error::EndpointTaken { .. })));
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn create_or_open(name: impl IntoName, options: &InboxOptions) -> Result<Inbox> {
        Inbox::take(name.into_name()?, Some(options))
    }

    /// Opens an existing inbox as its receiver (taking over from one that closed or died:
    /// a message handed out to it is not handed out again).
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::inbox::{Inbox, InboxOptions, InboxSender};
    /// assert!(matches!(Inbox::open("doc-inbox-open"), Err(filemap::Error::NotFound { .. })));
    /// let mut tx = InboxSender::create_or_open("doc-inbox-open", &InboxOptions::new())?;
    /// tx.send(b"one")?;
    /// tx.send(b"two")?;
    /// let mut inbox = Inbox::open("doc-inbox-open")?;
    /// assert_eq!(inbox.recv()?.1.to_vec()?, b"one");
    /// drop(inbox); // the next receiver goes on after what this one was given
    /// let mut inbox = Inbox::open("doc-inbox-open")?;
    /// assert_eq!(inbox.recv()?.1.to_vec()?, b"two");
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn open(name: impl IntoName) -> Result<Inbox> {
        Inbox::take(name.into_name()?, None)
    }

    fn take(name: Name, options: Option<&InboxOptions>) -> Result<Inbox> {
        let rings = open_rings(name, options)?;
        let Some(lock) = rings.memory.lock_endpoint(RECEIVER_LOCK)? else {
            return Err(Error::EndpointTaken {
                name: rings.name.to_string(),
                endpoint: "receiver",
            });
        };
        Inbox::over(&rings, rings.slots, lock, true)
    }

    /// The receiver of the first `slots` rings of `rings` (one per sender slot), holding
    /// the receiver's endpoint lock: an inbox's (`ends_with_senders`), or a service's
    /// requests.
    pub(crate) fn over(
        rings: &RingSet,
        slots: u32,
        lock: sys::EndpointLock,
        ends_with_senders: bool,
    ) -> Result<Inbox> {
        // (If a ring fails to connect, those connected before are closed here, and `lock`
        // is let go after them, on the way out.)
        let mut receivers = Vec::with_capacity(slots as usize);
        let mut damaged = Vec::new();
        let mut unmended = 0u128;
        for i in 0..slots as usize {
            let (receiver, damage) = Receiver::connect_mending(endpoint(rings, i, None))?;
            receivers.push(receiver);
            if let Some((e, mended)) = damage {
                if !mended {
                    unmended |= 1 << i;
                }
                damaged.push((i, e));
            }
        }
        let mut inbox = Inbox {
            reported_at: vec![0; receivers.len()],
            receivers,
            next: 0,
            set_aside: 0,
            unmended,
            unreported: Vec::new(),
            bell: rings.shared_bell(RECEIVER_LOCK),
            ends_with_senders,
            _lock: lock,
        };
        for (i, damage) in damaged {
            // Set aside until the damage is reported, then looked at again at once: read
            // on (its position is mended), or, if it could not be mended, mended once its
            // sender's position is valid (see `ready_ring`).
            inbox.set_aside |= 1 << i;
            inbox.reported_at[i] = NEVER_A_POSITION;
            inbox.unreported.push(inbox.slot_damage(i, damage));
        }
        Ok(inbox)
    }

    /// Has a receive report `damage` (found by the caller, a server, in a ring of its own),
    /// as it reports what this receiver found when it connected: one each, before the rings.
    pub(crate) fn report_later(&mut self, damage: Error) {
        self.unreported.insert(0, damage);
    }

    /// The first ring's endpoint (the name, the memory, errors).
    pub(crate) fn first(&self) -> &Endpoint {
        self.receivers[0].endpoint()
    }

    /// The inbox's name.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::inbox::{Inbox, InboxOptions};
    /// let inbox = Inbox::create_or_open("doc-inbox-name", &InboxOptions::new())?;
    /// assert_eq!(inbox.name().to_string(), "Local\\doc-inbox-name");
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn name(&self) -> &Name {
        &self.first().name
    }

    /// How many sender slots it has.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::inbox::{Inbox, InboxOptions, InboxSender};
    /// let _tx = InboxSender::create_or_open("doc-inbox-slots", &InboxOptions::new().senders(3))?;
    /// let inbox = Inbox::open("doc-inbox-slots")?;
    /// assert_eq!(inbox.slots(), 3); // as its maker said
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn slots(&self) -> u32 {
        self.receivers.len() as u32
    }

    /// How many senders are connected and alive now.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::inbox::{Inbox, InboxOptions, InboxSender};
    /// let inbox = Inbox::create_or_open("doc-inbox-senders", &InboxOptions::new())?;
    /// assert_eq!(inbox.senders(), 0);
    /// let a = InboxSender::open("doc-inbox-senders")?;
    /// let _b = InboxSender::open("doc-inbox-senders")?;
    /// assert_eq!(inbox.senders(), 2);
    /// drop(a);
    /// assert_eq!(inbox.senders(), 1);
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn senders(&self) -> usize {
        self.receivers
            .iter()
            .filter(|r| {
                let end = r.endpoint();
                end.ring.u32_at(ring::SENDER_STATE).load(Ordering::Acquire) == ring::STATE_CONNECTED
                    && !end.peer_gone(Side::Sender)
            })
            .count()
    }

    /// How the receiver waits for messages.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::channel::WaitMode;
    /// use filemap::inbox::{Inbox, InboxOptions, InboxSender};
    /// let mut inbox = Inbox::create_or_open("doc-inbox-wait-mode", &InboxOptions::new())?;
    /// let mut tx = InboxSender::open("doc-inbox-wait-mode")?;
    /// inbox.set_wait_mode(WaitMode::BusyPoll); // spin, never sleep, while waiting
    /// tx.send(b"polled")?;
    /// assert_eq!(inbox.recv()?.1.to_vec()?, b"polled");
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn set_wait_mode(&mut self, mode: WaitMode) {
        for r in &mut self.receivers {
            r.set_wait_mode(mode);
        }
    }

    /// The next message from any sender, and its sender's slot; waiting for one.
    /// [`Error::Disconnected`] once every sender that connected is gone and everything
    /// they committed was received (and again on each call until a new sender comes).
    ///
    /// A slot whose ring is found damaged (by its sender, or by a process that wrote into
    /// the entry) is reported, as [`Error::Corrupt`] naming the slot, and this receiver
    /// reads that slot no more: the next receive goes on with the other slots' messages.
    /// When that slot's sender commits more, the ring is looked at again: read on if it is
    /// whole by then, reported again if not. (A receiver that opens the inbox later finds
    /// the damage again.) A slot whose receiver position this receiver found damaged when
    /// it opened the inbox (only a process outside the protocol writes one) does not stop
    /// it opening: the position is mended to the slot's sender's, and the next receive
    /// reports the damage, naming the slot (what was sent there before is lost).
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::inbox::{Inbox, InboxOptions, InboxSender};
    /// let mut inbox = Inbox::create_or_open("doc-inbox-recv", &InboxOptions::new())?;
    /// let mut a = InboxSender::open("doc-inbox-recv")?;
    /// let mut b = InboxSender::open("doc-inbox-recv")?;
    /// a.send(b"a1")?;
    /// a.send(b"a2")?;
    /// b.send(b"b1")?;
    /// let mut got = Vec::new();
    /// for _ in 0..3 {
    ///     let (from, message) = inbox.recv()?;
    ///     got.push((from, message.to_vec()?));
    /// }
    /// // The senders in turn: a busy one does not starve the others.
    /// let (a_slot, b_slot) = (a.slot(), b.slot());
    /// let want = [(a_slot, b"a1".to_vec()), (b_slot, b"b1".to_vec()), (a_slot, b"a2".to_vec())];
    /// assert_eq!(got, want);
    /// drop((a, b));
    /// assert!(matches!(inbox.recv(), Err(filemap::Error::Disconnected { .. })));
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn recv(&mut self) -> Result<(u32, RecvSlot<'_>)> {
        match self.message_now() {
            Some((i, frame)) => Ok((i as u32, self.receivers[i].take_frame(frame))),
            None => self.recv_waiting(),
        }
    }

    /// `recv`'s fast path: a few looks over the rings, in turn from `next`, for a message at
    /// a ring's position; the ring and the message, with `next` moved past the ring.
    /// Anything else there (a wrap marker, a frame that does not fit, damage to report, a
    /// ring set aside whose sender has committed since) is left to the slow path, which
    /// starts at the same ring, so no ring is passed over for it.
    #[inline]
    fn message_now(&mut self) -> Option<(usize, ReadyFrame)> {
        if !self.unreported.is_empty() {
            return None;
        }
        let n = self.receivers.len();
        for _ in 0..(FAST_SPINS as usize / n).max(1) {
            let mut i = self.next;
            for _ in 0..n {
                if self.set_aside != 0 && self.is_set_aside(i) {
                    if self.sent_to_set_aside(i) {
                        return None;
                    }
                    i = after(i, n);
                    continue;
                }
                match self.receivers[i].at_position() {
                    AtPosition::Nothing => {}
                    AtPosition::Message(frame) => {
                        self.next = after(i, n);
                        return Some((i, frame));
                    }
                    AtPosition::Other => return None,
                }
                i = after(i, n);
            }
            std::hint::spin_loop();
        }
        None
    }

    /// `recv`'s fast path alone (for the fuzz targets, which must not wait).
    #[cfg(all(feature = "fuzzing", target_os = "linux"))]
    pub(crate) fn recv_now(&mut self) -> Option<(u32, RecvSlot<'_>)> {
        let (i, frame) = self.message_now()?;
        Some((i as u32, self.receivers[i].take_frame(frame)))
    }

    /// `recv` past its first look.
    #[inline(never)]
    fn recv_waiting(&mut self) -> Result<(u32, RecvSlot<'_>)> {
        self.recv_until(None, None)?
            .ok_or_else(|| unreachable!("a wait without a deadline only ends with a message"))
    }

    /// The next message if there is one now; [`Error::Disconnected`]
    /// as [`recv`](Inbox::recv) says (a loop of calls learns of senders that closed or died
    /// within a liveness interval, 50 ms).
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::inbox::{Inbox, InboxOptions, InboxSender};
    /// let mut inbox = Inbox::create_or_open("doc-inbox-try-recv", &InboxOptions::new())?;
    /// let mut tx = InboxSender::open("doc-inbox-try-recv")?;
    /// assert!(inbox.try_recv()?.is_none()); // nothing yet: no wait
    /// tx.send(b"now")?;
    /// let (from, message) = inbox.try_recv()?.expect("sent before the call");
    /// assert_eq!((from, message.to_vec()?), (tx.slot(), b"now".to_vec()));
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn try_recv(&mut self) -> Result<Option<(u32, RecvSlot<'_>)>> {
        self.recv_until(Some(crate::sys::passed_deadline()), None)
    }

    /// Like [`recv`](Inbox::recv), giving up with [`Error::Timeout`].
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::inbox::{Inbox, InboxOptions, InboxSender};
    /// use std::time::Duration;
    /// let mut inbox = Inbox::create_or_open("doc-inbox-recv-timeout", &InboxOptions::new())?;
    /// let mut tx = InboxSender::open("doc-inbox-recv-timeout")?;
    /// let err = inbox.recv_timeout(Duration::from_millis(10)).unwrap_err();
    /// assert!(matches!(err, filemap::Error::Timeout { .. }));
    /// tx.send(b"in time")?;
    /// assert_eq!(inbox.recv_timeout(Duration::from_secs(1))?.1.to_vec()?, b"in time");
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn recv_timeout(&mut self, timeout: Duration) -> Result<(u32, RecvSlot<'_>)> {
        // The same first look as `recv` (a server that waits with a timeout is as fast).
        match self.message_now() {
            Some((i, frame)) => Ok((i as u32, self.receivers[i].take_frame(frame))),
            None => self
                .recv_until(sys::deadline_after(timeout), Some(timeout))?
                .ok_or_else(|| unreachable!("a timed wait ends with a message or Error::Timeout")),
        }
    }

    /// Receives the next message into `buf` (replacing its contents); its sender's slot.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::inbox::{Inbox, InboxOptions, InboxSender};
    /// let mut inbox = Inbox::create_or_open("doc-inbox-recv-into", &InboxOptions::new())?;
    /// let mut tx = InboxSender::open("doc-inbox-recv-into")?;
    /// let mut buf = b"old contents".to_vec();
    /// tx.send(b"new")?;
    /// let from = inbox.recv_into(&mut buf)?;
    /// assert_eq!((from, buf), (tx.slot(), b"new".to_vec())); // replaced, not appended
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn recv_into(&mut self, buf: &mut Vec<u8>) -> Result<u32> {
        let (from, slot) = self.recv()?;
        buf.clear();
        slot.append_to(buf)?;
        Ok(from)
    }

    fn recv_until(
        &mut self,
        deadline: Option<Instant>,
        timeout: Option<Duration>,
    ) -> Result<Option<(u32, RecvSlot<'_>)>> {
        // (Its rings' receivers ask too, but a ring set aside is not asked.)
        self.first().usable_here()?;
        let mut looked = false;
        let i = loop {
            if let Some(i) = self.ready_ring()? {
                break i;
            }
            // A wait returns at once while something is committed at a position, and a
            // process outside the protocol can keep committing wrap markers there: from
            // the second look on, the deadline is looked at here too.
            let past = looked && deadline.is_some_and(crate::sys::has_passed);
            looked = true;
            if past || !self.wait(deadline)? {
                self.first().intact()?;
                return match timeout {
                    Some(after) => Err(self.first().timeout(after)),
                    None => Ok(None),
                };
            }
        };
        self.take_from(i).map(Some)
    }

    /// The message `ready_ring` found in ring `i`, taken, without waiting: only this
    /// receiver moves its position, so it is still there unless another process changed
    /// the ring, which sets the ring aside (reported as damage).
    pub(crate) fn take_from(&mut self, i: usize) -> Result<(u32, RecvSlot<'_>)> {
        self.next = after(i, self.receivers.len());
        let tail = self.sender_position(i);
        let frame = match self.receivers[i].ready_frame() {
            Ok(frame) => frame,
            Err(e) => return Err(self.set_aside(i, e, tail)),
        };
        Ok((i as u32, self.receivers[i].take_frame(frame)))
    }

    /// The first ring, in turn from `next`, with a message ready. A ring found damaged is
    /// reported once and set aside: one sender's broken ring (its sender writes it) must
    /// not stop the others' messages.
    fn ready_ring(&mut self) -> Result<Option<usize>> {
        if let Some(damage) = self.unreported.pop() {
            return Err(damage);
        }
        let n = self.receivers.len();
        let mut i = self.next;
        for _ in 0..n {
            // Read before the look: a commit after it is one the look may not have seen.
            let tail = self.sender_position(i);
            if !self.is_set_aside(i) {
                match self.receivers[i].message_ready() {
                    Ok(true) => return Ok(Some(i)),
                    Ok(false) => {}
                    Err(e) => return Err(self.set_aside(i, e, tail)),
                }
            } else if tail != self.reported_at[i] {
                // Looked at again: read on if it is whole now, reported again if not. One
                // whose receiver position could not be mended is mended to its sender's,
                // once that is valid, and that reported.
                if self.unmended & (1 << i) != 0 {
                    if !ring::valid_position(tail) {
                        self.reported_at[i] = tail;
                        i = after(i, n);
                        continue;
                    }
                    let problem = "the receiver's position was invalid";
                    let damage = self.receivers[i].mend_to(tail, problem);
                    self.unmended &= !(1 << i);
                    self.set_aside &= !(1 << i);
                    return Err(self.slot_damage(i, damage));
                }
                match self.receivers[i].message_ready() {
                    Ok(ready) => {
                        self.set_aside &= !(1 << i);
                        self.receivers[i].unmark_damaged();
                        if ready {
                            return Ok(Some(i));
                        }
                    }
                    Err(e) => return Err(self.set_aside(i, e, tail)),
                }
            }
            i = after(i, n);
        }
        Ok(None)
    }

    /// Whether the sender of a ring set aside has committed more since it was reported
    /// (a new sender of the slot may even have written over the damage).
    fn sent_to_set_aside(&self, i: usize) -> bool {
        self.sender_position(i) != self.reported_at[i]
    }

    /// Where ring `i`'s sender has committed up to (its tail).
    fn sender_position(&self, i: usize) -> u64 {
        self.receivers[i]
            .endpoint()
            .ring
            .tail()
            .load(Ordering::Acquire)
    }

    /// Whether ring `i` was found damaged and set aside.
    #[inline]
    fn is_set_aside(&self, i: usize) -> bool {
        self.set_aside & (1 << i) != 0
    }

    /// Sets ring `i`, found damaged with `error` by a look that began when its sender's
    /// position was `tail`, aside (if the error says its ring is corrupt: an error of the
    /// whole entry, such as lost memory, is not one ring's), and the error to report,
    /// naming the slot. A commit since `tail` has the ring looked at again.
    fn set_aside(&mut self, i: usize, error: Error, tail: u64) -> Error {
        let Error::Corrupt { name, problem } = error else {
            return error;
        };
        self.set_aside |= 1 << i;
        self.reported_at[i] = tail;
        self.next = after(i, self.receivers.len());
        // Damage behind the sender's position stays (the sender writes on at its tail, and
        // the ring fills: it would wait for room for ever), so the sender is told; damage
        // at it may be written over by the sender's next message, which has the ring
        // looked at again. A sender position that is none (written by a process outside
        // the protocol) cannot say which: the sender is told too, since a sender already
        // waiting for room publishes nothing that would have the ring looked at again (a
        // look that finds the ring whole takes the mark back).
        let claim = self.receivers[i].claim_position();
        let at_the_tail = ring::valid_position(tail) && claim >= tail;
        if ring::valid_position(claim) && !at_the_tail {
            self.receivers[i].mark_damaged();
        }
        self.slot_damage(
            i,
            Error::Corrupt {
                name,
                problem: format!(
                    "{problem} (this receiver reads that slot no more; the other slots go on)"
                ),
            },
        )
    }

    /// `damage`, found in slot `i`'s ring, naming the slot.
    fn slot_damage(&self, i: usize, damage: Error) -> Error {
        let Error::Corrupt { name, problem } = damage else {
            return damage;
        };
        let party = if self.ends_with_senders {
            "sender"
        } else {
            "client"
        };
        Error::Corrupt {
            name,
            problem: format!("{party} slot {i}: {problem}"),
        }
    }

    /// The receivers of the rings not set aside.
    fn live_receivers(&self) -> impl Iterator<Item = &Receiver> {
        self.live_rings().map(|(_, r)| r)
    }

    /// The rings not set aside: each one's index and receiver.
    fn live_rings(&self) -> impl Iterator<Item = (usize, &Receiver)> {
        let set_aside = self.set_aside;
        (self.receivers.iter().enumerate()).filter(move |(i, _)| set_aside & (1 << i) == 0)
    }

    /// Waits until some ring has a frame (or wrap marker) committed at its receiver's
    /// position, or every sender that came is gone, or the deadline passes. Past its
    /// spins it spins on while a sender writes a long message at its receiver's position
    /// (as a channel receiver does).
    fn wait(&self, deadline: Option<Instant>) -> Result<bool> {
        let sleep = self.bell.sleep();
        let ready = || self.committed_now();
        // A mark names its ring too: the rings count their positions apart, and a live
        // ring's mark at the position where a dead sender left one in another ring is a
        // new mark (the waits remember marks they spun on: `MarkSpin`). The ring's index
        // goes in the bits above 2^56, which positions reach only 64 PiB into a ring;
        // two marks taken for one there cost a spin, nothing more.
        let marked = || {
            self.live_rings()
                .find_map(|(i, r)| r.marked_now().map(|at| at ^ ((i as u64) << 56)))
        };
        let gone = || {
            // Looked at before every sleep: a sender never waits for room that a damaged
            // position holds back while the inbox waits (see `channel::mending`).
            self.restate_positions();
            self.all_senders_gone()
        };
        self.first()
            .wait_on(&sleep, deadline, 0, ready, marked, gone)
    }

    /// Says again where each ring's receiver is (it holds no message: a `RecvSlot`
    /// borrows the inbox), storing positions a process outside the protocol changed: a
    /// ring set aside too (its sender may write over the damage at the receiver's position,
    /// and must not wait for room a moved position holds back meanwhile), but not one whose
    /// receiver position could not be mended (it says nothing yet).
    pub(crate) fn restate_positions(&self) {
        for (i, receiver) in self.receivers.iter().enumerate() {
            if self.unmended & (1 << i) == 0 {
                receiver.restate_positions();
            }
        }
    }

    /// Whether something is committed at the position of some ring (a message, or a wrap
    /// marker that the next look skips), without taking it; or the sender of a ring set
    /// aside has committed more since, which the next look looks at again (a new sender
    /// of a damaged slot rings the doorbell as any does, and a receiver asleep must wake
    /// for it).
    pub(crate) fn committed_now(&self) -> bool {
        !self.unreported.is_empty()
            || self.live_receivers().any(Receiver::committed_now)
            || (self.set_aside != 0
                && (0..self.receivers.len())
                    .any(|i| self.is_set_aside(i) && self.sent_to_set_aside(i)))
    }

    /// The ring with a message there, skipping the wrap markers before it (their bytes go
    /// back to their senders), without waiting: for the async receive, which takes the
    /// message with [`take_from`](Inbox::take_from) (never a blocking receive: nothing
    /// may block an executor's thread).
    pub(crate) fn ready_index(&mut self) -> Result<Option<usize>> {
        self.first().usable_here()?;
        self.ready_ring()
    }

    /// How a wait on many objects sees this inbox: it sleeps on the receiver's doorbell.
    pub(crate) fn watch(&self) -> Watch<'_> {
        Watch {
            end: self.first(),
            sleep: self.bell.sleep(),
            peer: Side::Sender,
        }
    }

    /// Whether every sender that connected is gone (and one did), for a wait on many
    /// objects: if so, the next receive reports it even if it does not wait, as that wait
    /// promised.
    pub(crate) fn senders_left(&self) -> bool {
        let gone = self.all_senders_gone();
        if gone {
            self.first().saw_peer_gone();
        }
        gone
    }

    /// Whether every sender that connected is gone (and one did), for an inbox that ends
    /// then (never for a service's requests).
    pub(crate) fn all_senders_gone(&self) -> bool {
        if !self.ends_with_senders {
            return false;
        }
        let mut came = false;
        for r in &self.receivers {
            let end = r.endpoint();
            let state = end.ring.u32_at(ring::SENDER_STATE).load(Ordering::Acquire);
            if state == ring::STATE_NONE {
                continue;
            }
            came = true;
            if !end.peer_gone(Side::Sender) {
                return false;
            }
        }
        came
    }
}

/// The ring after ring `i` of `n`, in turn (without a division).
#[inline]
fn after(i: usize, n: usize) -> usize {
    if i + 1 == n { 0 } else { i + 1 }
}

/// What `filemap info` shows of an inbox.
///
/// ```
/// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
/// use filemap::inbox::{info, InboxInfo, InboxOptions, InboxSender};
/// let options = InboxOptions::new().senders(2);
/// let _tx = InboxSender::create_or_open("doc-inbox-info-struct", &options)?;
/// let expected = InboxInfo { slots: 2, receiver_alive: false, senders: vec![0] };
/// assert_eq!(info("doc-inbox-info-struct")?, expected);
/// # Ok::<(), filemap::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InboxInfo {
    /// Sender slots.
    pub slots: u32,
    /// Whether a live receiver is connected.
    pub receiver_alive: bool,
    /// The slots of the live senders.
    pub senders: Vec<u32>,
}

/// Reads what an inbox looks like now, without taking a role in it.
///
/// ```
/// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
/// use filemap::inbox::{info, Inbox, InboxOptions, InboxSender};
/// let _rx = Inbox::create_or_open("watched-inbox", &InboxOptions::new().senders(4))?;
/// let _tx = InboxSender::open("watched-inbox")?;
/// let i = info("watched-inbox")?;
/// assert_eq!((i.slots, i.receiver_alive, i.senders), (4, true, vec![0]));
/// # Ok::<(), filemap::Error>(())
/// ```
pub fn info(name: impl IntoName) -> Result<InboxInfo> {
    let rings = open_rings(name.into_name()?, None)?;
    let (receiver_alive, senders) = rings.live_endpoints(RECEIVER_LOCK);
    Ok(InboxInfo {
        slots: rings.slots,
        receiver_alive,
        senders,
    })
}

/// One sender of an inbox, in a slot of its own: a channel [`Sender`] (all of its methods:
/// `send`, `reserve`, ...) whose receiver is the inbox.
///
/// ```
/// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
/// use filemap::inbox::{Inbox, InboxOptions, InboxSender};
/// let mut inbox = Inbox::create_or_open("doc-inbox-sender", &InboxOptions::new())?;
/// let mut tx = InboxSender::open("doc-inbox-sender")?;
/// let mut slot = tx.reserve(2)?; // a channel sender's calls
/// slot.copy_from_slice(b"ok")?;
/// slot.commit();
/// assert_eq!(inbox.recv()?.1.to_vec()?, b"ok");
/// # Ok::<(), filemap::Error>(())
/// ```
#[derive(Debug)]
pub struct InboxSender {
    sender: Sender,
    slot: u32,
}

/// What a sender (or a client) taking a free slot does with the error of connecting to
/// slot `i`: a slot whose ring is damaged (written by a process outside the protocol) is
/// passed over for the next free one, and the first such error, naming its slot, is kept
/// to report if no slot is left (`Ok`); any other error ends the taking (`Err`).
pub(crate) fn skip_damaged_slot(
    error: Error,
    party: &str,
    i: usize,
    first: Option<Error>,
) -> Result<Error> {
    match error {
        Error::Corrupt { name, problem } => Ok(first.unwrap_or(Error::Corrupt {
            name,
            problem: format!("{party} slot {i}: {problem} (passed over for the next free slot)"),
        })),
        other => Err(other),
    }
}

impl InboxSender {
    /// Takes a free sender slot of the inbox `name`; [`Error::NoFreeSlot`] if every slot
    /// has a live sender. A slot whose sender died is free, and its new sender continues
    /// after the last message the dead one committed. A free slot whose ring another
    /// process damaged is passed over ([`Error::Corrupt`], naming it, if no other slot is
    /// free).
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::inbox::{Inbox, InboxOptions, InboxSender};
    /// let options = InboxOptions::new().senders(2);
    /// let _inbox = Inbox::create_or_open("doc-inbox-sender-open", &options)?;
    /// let a = InboxSender::open("doc-inbox-sender-open")?;
    /// let b = InboxSender::open("doc-inbox-sender-open")?;
    /// assert_ne!(a.slot(), b.slot());
    /// let third = InboxSender::open("doc-inbox-sender-open");
    /// assert!(matches!(third, Err(filemap::Error::NoFreeSlot { .. })));
    /// let freed = a.slot();
    /// drop(a); // its slot is free again
    /// assert_eq!(InboxSender::open("doc-inbox-sender-open")?.slot(), freed);
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn open(name: impl IntoName) -> Result<InboxSender> {
        InboxSender::take(name.into_name()?, None)
    }

    /// Like [`open`](InboxSender::open), making the inbox with `options` if it does not
    /// exist.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::inbox::{Inbox, InboxOptions, InboxSender};
    /// let options = InboxOptions::new().senders(4);
    /// let mut tx = InboxSender::create_or_open("doc-inbox-sender-create", &options)?;
    /// tx.send(b"early")?; // before any receiver
    /// let mut inbox = Inbox::open("doc-inbox-sender-create")?;
    /// assert_eq!(inbox.slots(), 4);
    /// assert_eq!(inbox.recv()?.1.to_vec()?, b"early");
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn create_or_open(name: impl IntoName, options: &InboxOptions) -> Result<InboxSender> {
        InboxSender::take(name.into_name()?, Some(options))
    }

    fn take(name: Name, options: Option<&InboxOptions>) -> Result<InboxSender> {
        let rings = open_rings(name, options)?;
        let mut damaged = None;
        for i in 0..rings.rings.len() {
            if let Some(lock) = rings.memory.lock_endpoint(slot_lock(i))? {
                match Sender::connect(endpoint(&rings, i, Some(lock))) {
                    Ok(sender) => {
                        return Ok(InboxSender {
                            sender,
                            slot: i as u32,
                        });
                    }
                    Err(e) => damaged = Some(skip_damaged_slot(e, "sender", i, damaged)?),
                }
            }
        }
        Err(damaged.unwrap_or(Error::NoFreeSlot {
            party: "sender",
            name: rings.name.to_string(),
            slots: rings.slots,
        }))
    }

    /// This sender's slot (what [`Inbox::recv`] says a message came from).
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::inbox::{Inbox, InboxOptions, InboxSender};
    /// let mut inbox = Inbox::create_or_open("doc-inbox-sender-slot", &InboxOptions::new())?;
    /// let _quiet = InboxSender::open("doc-inbox-sender-slot")?;
    /// let mut talker = InboxSender::open("doc-inbox-sender-slot")?;
    /// talker.send(b"hello")?;
    /// let (from, _message) = inbox.recv()?;
    /// assert_eq!(from, talker.slot());
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn slot(&self) -> u32 {
        self.slot
    }
}

impl std::ops::Deref for InboxSender {
    type Target = Sender;

    fn deref(&self) -> &Sender {
        &self.sender
    }
}

impl std::ops::DerefMut for InboxSender {
    fn deref_mut(&mut self) -> &mut Sender {
        &mut self.sender
    }
}
