//! Many senders, one receiver: an [`Inbox`] that up to N [`InboxSender`]s (N fixed when it
//! is made) send messages to, each in its own order.
//!
//! ```
//! # let _dir = tempfile::tempdir().unwrap(); std::env::set_var("FILEMAP_DIR", _dir.path());
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
//! Layout of the data area: a control page (layout (u32, 1), sender slots N (u32), each
//! ring's size (u64); at 64 the receiver's doorbell: sequence (u32), sleepers (u32),
//! busy-polls (u32)), then N rings, each a channel's control area and ring. Endpoint locks:
//! 1 is the receiver's (as a channel receiver's), 2 + i sender slot i's.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::channel::endpoint::{BellWords, Bells, Endpoint, Sleep};
use crate::channel::ring::{self, Ring, RING_OFFSET};
use crate::channel::{shared, Receiver, RecvSlot, Sender, WaitMode, RECEIVER_LOCK};
use crate::error::{Error, Result};
use crate::header::Layout;
use crate::name::{IntoName, Name};
use crate::sync::ObjectOptions;
use crate::sys::{self, CreateMode};
use crate::vocabulary::{Kind, Side};

/// The most sender slots an inbox can have.
pub const MAX_SENDERS: u32 = 128;

const CONTROL: usize = 4096;
const LAYOUT_AT: usize = 0;
const SENDERS_AT: usize = 4;
const RING_SIZE_AT: usize = 8;
const RX_SEQ: usize = 64;
const RX_SLEEPERS: usize = 68;
const RX_BUSY: usize = 72;
const INBOX_LAYOUT: u32 = 1;
/// Sender slot 0's endpoint lock.
const FIRST_SENDER_LOCK: u8 = 2;

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
    pub fn new() -> InboxOptions {
        InboxOptions {
            senders: 8,
            capacity: 64 << 10,
            object: ObjectOptions::new(),
        }
    }

    /// How many senders can be connected at once (1 to [`MAX_SENDERS`]).
    pub fn senders(mut self, n: u32) -> Self {
        self.senders = n;
        self
    }

    /// Each sender's ring, in bytes (rounded up to a power of two, at least 4096).
    pub fn capacity(mut self, bytes: u64) -> Self {
        self.capacity = bytes;
        self
    }

    /// Permissions and persistence of the inbox's entry.
    pub fn object_options(mut self, options: ObjectOptions) -> Self {
        self.object = options;
        self
    }
}

/// An inbox entry, opened or made: its mapping, its rings, its control words.
struct Opened {
    name: Name,
    memory: Arc<sys::ChannelMemory>,
    rings: Vec<Ring>,
    control: *mut u8,
}

impl Opened {
    fn open(name: Name, options: Option<&InboxOptions>) -> Result<Opened> {
        let memory = match options {
            Some(options) => {
                if options.senders == 0 || options.senders > MAX_SENDERS {
                    return Err(Error::InvalidSetting {
                        setting: "an inbox's sender slots",
                        value: options.senders.into(),
                        allowed: "1 to 128",
                    });
                }
                if options.capacity == 0 || options.capacity > 1 << 40 {
                    return Err(Error::InvalidSize {
                        size: options.capacity,
                        problem: "an inbox's rings hold 1 byte to 1 TiB each",
                    });
                }
                let capacity = options.capacity.max(4096).next_power_of_two();
                let ring_size = RING_OFFSET as u64 + capacity;
                let mut header = options.object.header(Kind::Inbox, 0, Layout::default())?;
                header.size = CONTROL as u64 + options.senders as u64 * ring_size;
                let init = |base: *mut u8| {
                    // SAFETY: the data area is the control page and N rings of fresh bytes
                    // in an entry nobody else can see yet, page-aligned.
                    unsafe {
                        for i in 0..options.senders as usize {
                            let at = base.add(CONTROL + i * ring_size as usize);
                            ring::init(at, capacity);
                        }
                        shared::u32_at(base, SENDERS_AT).store(options.senders, Ordering::Relaxed);
                        shared::u64_at(base, RING_SIZE_AT).store(ring_size, Ordering::Relaxed);
                        shared::u32_at(base, LAYOUT_AT).store(INBOX_LAYOUT, Ordering::Release);
                    }
                    Ok(())
                };
                let (memory, header, _) =
                    sys::create_sync(&name, &header, CreateMode::OrOpen, &init)?;
                crate::sync::check_kind(&name, &header, Kind::Inbox)?;
                memory
            }
            None => {
                let (memory, header) = sys::open_sync(&name)?;
                crate::sync::check_kind(&name, &header, Kind::Inbox)?;
                memory
            }
        };
        let corrupt = |problem: String| match memory.lost() {
            Some(offset) => Error::PageFault {
                name: name.to_string(),
                offset,
                truncated: memory.truncated(),
            },
            None => Error::Corrupt {
                name: name.to_string(),
                problem: format!("the inbox's {problem}"),
            },
        };
        let (base, len) = (memory.base(), memory.len());
        if len < CONTROL as u64 {
            return Err(corrupt(format!(
                "area of {len} bytes has no room for its control page"
            )));
        }
        // SAFETY: the control page is inside the data area (checked above), page-aligned.
        let (layout, senders, ring_size) = unsafe {
            (
                shared::u32_at(base, LAYOUT_AT).load(Ordering::Acquire),
                shared::u32_at(base, SENDERS_AT).load(Ordering::Relaxed),
                shared::u64_at(base, RING_SIZE_AT).load(Ordering::Relaxed),
            )
        };
        if layout != INBOX_LAYOUT {
            return Err(corrupt(format!(
                "layout is {layout}, but this filemap reads {INBOX_LAYOUT}"
            )));
        }
        let fits = (senders as u64)
            .checked_mul(ring_size)
            .and_then(|rings| rings.checked_add(CONTROL as u64))
            .is_some_and(|end| end <= len);
        if senders == 0 || senders > MAX_SENDERS || ring_size % 4096 != 0 || !fits {
            return Err(corrupt(format!(
                "{senders} rings of {ring_size} bytes do not fit its area of {len} bytes"
            )));
        }
        let rings = (0..senders as u64)
            .map(|i| {
                // SAFETY: ring i's `ring_size` bytes lie inside the data area (checked
                // above), 4096-aligned, mapped while `memory` lives, which every endpoint
                // over these rings holds.
                unsafe { Ring::new(base.add(CONTROL + (i * ring_size) as usize), ring_size) }
                    .and_then(|ring| match ring.layout() {
                        ring::LAYOUT => Ok(ring),
                        other => Err(format!("frame layout is {other}, not a channel's")),
                    })
                    .map_err(|p| corrupt(format!("ring {i}: {p}")))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Opened {
            name,
            memory: Arc::new(memory),
            rings,
            control: base,
        })
    }

    fn word(&self, offset: usize) -> &AtomicU32 {
        // SAFETY: a word of the control page, mapped while `memory` lives.
        unsafe { shared::u32_at(self.control, offset) }
    }

    /// The doorbells of the endpoints over ring `i`: the receiver's shared one, and
    /// sender slot i's, in the ring's control area.
    fn bells(&self, i: usize) -> Bells {
        let ring = &self.rings[i];
        // SAFETY: words of the control page and of ring i's control area, in the memory
        // every endpoint over these rings holds.
        unsafe {
            Bells {
                receiver: BellWords::new(
                    sys::Bell::Receiver,
                    RECEIVER_LOCK,
                    self.word(RX_SEQ),
                    self.word(RX_SLEEPERS),
                    self.word(RX_BUSY),
                ),
                sender: BellWords::new(
                    sys::Bell::Slot(i as u16),
                    sender_lock(i),
                    ring.u32_at(ring::TX_SEQ),
                    ring.u32_at(ring::TX_SLEEPERS),
                    ring.u32_at(ring::SENDER_BUSY_POLLS),
                ),
            }
        }
    }

    fn endpoint(&self, i: usize, lock: Option<sys::EndpointLock>) -> Endpoint {
        Endpoint::from_parts(self.name.clone(), self.memory.clone(), self.rings[i], lock)
            .with_bells(self.bells(i))
    }
}

fn sender_lock(slot: usize) -> u8 {
    FIRST_SENDER_LOCK + slot as u8
}

/// The receiving end of an inbox: one at a time.
#[derive(Debug)]
pub struct Inbox {
    receivers: Vec<Receiver>,
    /// The ring to look at first next time (the one after the last served).
    next: usize,
    control: ControlWords,
}

/// The receiver's doorbell words (in the memory the receivers hold).
#[derive(Debug)]
struct ControlWords {
    seq: *const AtomicU32,
    sleepers: *const AtomicU32,
}

// SAFETY: addresses of words in shared memory, used through atomics only.
unsafe impl Send for ControlWords {}
// SAFETY: as above.
unsafe impl Sync for ControlWords {}

impl Inbox {
    /// Opens the inbox `name` as its receiver, making it with `options` if it does not
    /// exist. One receiver at a time: [`Error::EndpointTaken`] while another lives.
    pub fn create_or_open(name: impl IntoName, options: &InboxOptions) -> Result<Inbox> {
        Inbox::take(name.into_name()?, Some(options))
    }

    /// Opens an existing inbox as its receiver (taking over from one that closed or died:
    /// a message handed out to it is not handed out again).
    pub fn open(name: impl IntoName) -> Result<Inbox> {
        Inbox::take(name.into_name()?, None)
    }

    fn take(name: Name, options: Option<&InboxOptions>) -> Result<Inbox> {
        let opened = Opened::open(name, options)?;
        let Some(lock) = opened.memory.lock_endpoint(RECEIVER_LOCK)? else {
            return Err(Error::EndpointTaken {
                name: opened.name.to_string(),
                endpoint: "receiver",
            });
        };
        let mut lock = Some(lock);
        let receivers = (0..opened.rings.len())
            .map(|i| Receiver::connect(opened.endpoint(i, lock.take())))
            .collect::<Result<Vec<_>>>()?;
        Ok(Inbox {
            receivers,
            next: 0,
            control: ControlWords {
                seq: opened.word(RX_SEQ),
                sleepers: opened.word(RX_SLEEPERS),
            },
        })
    }

    fn first(&self) -> &Endpoint {
        self.receivers[0].endpoint()
    }

    /// The inbox's name.
    pub fn name(&self) -> &Name {
        &self.first().name
    }

    /// How many sender slots it has.
    pub fn slots(&self) -> u32 {
        self.receivers.len() as u32
    }

    /// How many senders are connected and alive now.
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
    pub fn set_wait_mode(&mut self, mode: WaitMode) {
        for r in &mut self.receivers {
            r.set_wait_mode(mode);
        }
    }

    /// The next message from any sender, and its sender's slot; waiting for one.
    /// [`Error::Disconnected`] once every sender that connected is gone and everything
    /// they committed was received (a later call waits for new senders).
    pub fn recv(&mut self) -> Result<(u32, RecvSlot<'_>)> {
        self.recv_until(None, None)?
            .ok_or_else(|| unreachable!("a wait without a deadline only ends with a message"))
    }

    /// The next message if there is one now.
    pub fn try_recv(&mut self) -> Result<Option<(u32, RecvSlot<'_>)>> {
        self.recv_until(Some(Instant::now()), None)
    }

    /// Like [`recv`](Inbox::recv), giving up with [`Error::Timeout`].
    pub fn recv_timeout(&mut self, timeout: Duration) -> Result<(u32, RecvSlot<'_>)> {
        self.recv_until(sys::deadline_after(timeout), Some(timeout))?
            .ok_or_else(|| unreachable!("a timed wait ends with a message or Error::Timeout"))
    }

    /// Receives the next message into `buf` (replacing its contents); its sender's slot.
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
        let i = loop {
            if let Some(i) = self.ready_ring()? {
                break i;
            }
            if !self.wait(deadline)? {
                self.first().intact()?;
                return match timeout {
                    Some(after) => Err(self.first().timeout(after)),
                    None => Ok(None),
                };
            }
        };
        self.next = (i + 1) % self.receivers.len();
        // `ready_ring` found a frame there, past any wrap marker, and only this receiver
        // moves its position: it is still there unless another process changed the ring.
        let slot = self.receivers[i].take_ready()?;
        Ok(Some((i as u32, slot)))
    }

    /// The first ring, in turn from `next`, with a message ready.
    fn ready_ring(&mut self) -> Result<Option<usize>> {
        let n = self.receivers.len();
        for k in 0..n {
            let i = (self.next + k) % n;
            if self.receivers[i].message_ready()? {
                return Ok(Some(i));
            }
        }
        Ok(None)
    }

    /// Waits until some ring has a frame (or wrap marker) committed at its receiver's
    /// position, or every sender that came is gone, or the deadline passes.
    fn wait(&self, deadline: Option<Instant>) -> Result<bool> {
        // SAFETY: words of the control page, mapped while the receivers live.
        let (seq, sleepers) = unsafe { (&*self.control.seq, &*self.control.sleepers) };
        let sleep = Sleep {
            bell: sys::Bell::Receiver,
            seq,
            sleepers,
            all_sleepers: None,
        };
        let ready = || self.receivers.iter().any(Receiver::committed_now);
        let gone = || self.all_senders_gone();
        self.first().wait_on(&sleep, deadline, 0, ready, gone)
    }

    /// Whether every sender that connected is gone (and one did).
    fn all_senders_gone(&self) -> bool {
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

/// One sender of an inbox, in a slot of its own: a channel [`Sender`] (all of its methods:
/// `send`, `reserve`, ...) whose receiver is the inbox.
#[derive(Debug)]
pub struct InboxSender {
    sender: Sender,
    slot: u32,
}

impl InboxSender {
    /// Takes a free sender slot of the inbox `name`; [`Error::NoFreeSlot`] if every slot
    /// has a live sender. A slot whose sender died is free, and its new sender continues
    /// after the last message the dead one committed.
    pub fn open(name: impl IntoName) -> Result<InboxSender> {
        InboxSender::take(name.into_name()?, None)
    }

    /// Like [`open`](InboxSender::open), making the inbox with `options` if it does not
    /// exist.
    pub fn create_or_open(name: impl IntoName, options: &InboxOptions) -> Result<InboxSender> {
        InboxSender::take(name.into_name()?, Some(options))
    }

    fn take(name: Name, options: Option<&InboxOptions>) -> Result<InboxSender> {
        let opened = Opened::open(name, options)?;
        for i in 0..opened.rings.len() {
            if let Some(lock) = opened.memory.lock_endpoint(sender_lock(i))? {
                let sender = Sender::connect(opened.endpoint(i, Some(lock)))?;
                return Ok(InboxSender {
                    sender,
                    slot: i as u32,
                });
            }
        }
        Err(Error::NoFreeSlot {
            name: opened.name.to_string(),
            slots: opened.rings.len() as u32,
        })
    }

    /// This sender's slot (what [`Inbox::recv`] says a message came from).
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
