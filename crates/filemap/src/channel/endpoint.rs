//! The part both ends of a channel share: the mapped entry, the ring, the endpoint lock,
//! and waiting (spin, then sleep with liveness checks) and waking.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use super::ring::{self, Ring};
use super::{
    LIVENESS_INTERVAL, RECEIVER_LOCK, SENDER_LOCK, SPINS, WRITING_SPIN_MAX, WaitMode, YIELD_AFTER,
};
use crate::copy::Fault;
use crate::error::{Error, Result};
use crate::header::Layout;
use crate::name::Name;
use crate::sync::ObjectOptions;
use crate::sys::{self, CreateMode};
use crate::vocabulary::{Kind, Side};

/// Where a waiter sleeps: its doorbell (which bell, and the sequence word a waker bumps),
/// the count of its sleepers that a waker checks first, and for a topic's subscriber slot
/// the count of sleepers over all slots as well.
pub(crate) struct Sleep<'a> {
    pub(crate) bell: sys::Bell,
    pub(crate) seq: &'a AtomicU32,
    pub(crate) sleepers: &'a AtomicU32,
    pub(crate) all_sleepers: Option<&'a AtomicU32>,
}

impl Sleep<'_> {
    /// Counts `n` sleepers in (or, negative, out). A topic subscriber's count over all
    /// slots is raised before its slot's own and lowered after it, so that a subscriber
    /// killed between the two leaves the total too high (a wake-up rung for nobody), never
    /// too low (a sleeper the publisher would not ring): the next subscriber of the slot
    /// takes what the slot's count says back from the total.
    ///
    /// A count taken below 0 is set back to 0: one another process set to 0 under a
    /// sleeper (only a process outside the protocol writes them) would otherwise wrap to
    /// `u32::MAX` when the sleeper counts itself out, and back to 0 when it next counts
    /// itself in, asleep uncounted for good (every wake-up then waited out the timed
    /// sleep). One add and at most one compare-and-swap: no loop another process's writes
    /// could keep going.
    pub(crate) fn add_sleeper(&self, n: i32) {
        let (first, second) = match self.all_sleepers {
            Some(all) if n > 0 => (all, Some(self.sleepers)),
            all => (self.sleepers, all),
        };
        for counter in std::iter::once(first).chain(second) {
            let before = counter.fetch_add(n as u32, Ordering::SeqCst);
            if n < 0 && before < n.unsigned_abs() {
                // Wrapped: back to 0, unless the count changed again meanwhile.
                let _ = counter.compare_exchange(
                    before.wrapping_add(n as u32),
                    0,
                    Ordering::SeqCst,
                    Ordering::Relaxed,
                );
            }
        }
    }
}

/// An endpoint as a wait on many objects (`crate::wait`) sees it: the endpoint, where it
/// sleeps, and the peer whose departure ends its wait.
pub(crate) struct Watch<'a> {
    pub(crate) end: &'a Endpoint,
    pub(crate) sleep: Sleep<'a>,
    pub(crate) peer: Side,
}

/// One side's doorbell: which bell, and its words in the mapping (the sequence a waker
/// bumps, the count of sleepers a waker checks first, and whether that side busy-polls, in
/// which case it never sleeps); and the endpoint lock that side holds while it lives.
#[derive(Clone, Copy, Debug)]
pub(crate) struct BellWords {
    pub(crate) bell: sys::Bell,
    pub(crate) lock: u8,
    seq: *const AtomicU32,
    sleepers: *const AtomicU32,
    busy: *const AtomicU32,
}

impl BellWords {
    /// A doorbell whose three words are at the given places.
    ///
    /// # Safety
    /// The words must be aligned and stay mapped while the endpoint that holds them lives
    /// (they are in the memory it holds).
    pub(crate) unsafe fn new(
        bell: sys::Bell,
        lock: u8,
        seq: &AtomicU32,
        sleepers: &AtomicU32,
        busy: &AtomicU32,
    ) -> BellWords {
        BellWords {
            bell,
            lock,
            seq,
            sleepers,
            busy,
        }
    }

    /// A channel side's doorbell, in its ring's control area.
    fn of_ring(ring: &Ring, side: Side) -> BellWords {
        let lock = match side {
            Side::Receiver => RECEIVER_LOCK,
            Side::Sender => SENDER_LOCK,
        };
        BellWords::in_ring(ring, side, side.into(), lock)
    }

    /// One side's doorbell words in `ring`'s control area, rung as `bell`, for the endpoint
    /// that holds `lock` (an inbox's or a service's rings name their bells and locks).
    pub(crate) fn in_ring(ring: &Ring, side: Side, bell: sys::Bell, lock: u8) -> BellWords {
        let (seq, sleepers, busy) = match side {
            Side::Receiver => (ring::RX_SEQ, ring::RX_SLEEPERS, ring::RECEIVER_BUSY_POLLS),
            Side::Sender => (ring::TX_SEQ, ring::TX_SLEEPERS, ring::SENDER_BUSY_POLLS),
        };
        // SAFETY: words of the ring's control area, which every endpoint over the ring
        // keeps mapped.
        unsafe {
            BellWords::new(
                bell,
                lock,
                ring.u32_at(seq),
                ring.u32_at(sleepers),
                ring.u32_at(busy),
            )
        }
    }

    /// Where a waiter on this doorbell sleeps.
    pub(crate) fn sleep(&self) -> Sleep<'_> {
        Sleep {
            bell: self.bell,
            seq: self.seq(),
            sleepers: self.sleepers(),
            all_sleepers: None,
        }
    }

    fn seq(&self) -> &AtomicU32 {
        // SAFETY: `new`'s contract: mapped while the endpoint holding these words lives,
        // which outlives `&self` here.
        unsafe { &*self.seq }
    }

    fn sleepers(&self) -> &AtomicU32 {
        // SAFETY: as in `seq`.
        unsafe { &*self.sleepers }
    }

    fn busy(&self) -> &AtomicU32 {
        // SAFETY: as in `seq`.
        unsafe { &*self.busy }
    }
}

// SAFETY: addresses of words in shared memory, used through atomics only.
unsafe impl Send for BellWords {}
// SAFETY: as above.
unsafe impl Sync for BellWords {}

/// Where an endpoint's receiver and sender ring and sleep.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Bells {
    pub(crate) receiver: BellWords,
    pub(crate) sender: BellWords,
}

impl Bells {
    /// A channel's: both in its ring's control area.
    pub(crate) fn of_ring(ring: &Ring) -> Bells {
        Bells {
            receiver: BellWords::of_ring(ring, Side::Receiver),
            sender: BellWords::of_ring(ring, Side::Sender),
        }
    }

    fn of(&self, side: Side) -> &BellWords {
        match side {
            Side::Receiver => &self.receiver,
            Side::Sender => &self.sender,
        }
    }
}

/// The error for shared memory that fails a check when an object is opened: what was read
/// is zeros that replaced lost memory (`Error::PageFault`), or the object is corrupt.
pub(crate) fn check_failed(memory: &sys::ChannelMemory, name: &Name, problem: String) -> Error {
    match memory.lost() {
        Some(offset) => Error::PageFault {
            name: name.to_string(),
            offset,
            truncated: memory.truncated(),
        },
        None => Error::Corrupt {
            name: name.to_string(),
            problem,
        },
    }
}

/// The shared part of both endpoints: the mapped entry, the ring, the name.
#[derive(Debug)]
pub(crate) struct Endpoint {
    pub(crate) name: Name,
    /// The mapped entry (shared by the endpoints over the rings of one inbox).
    pub(crate) memory: std::sync::Arc<sys::ChannelMemory>,
    pub(crate) ring: Ring,
    /// Where each side rings and sleeps.
    pub(crate) bells: Bells,
    /// The endpoint's role (none for a look that takes no role, as `filemap info`'s).
    pub(crate) _lock: Option<sys::EndpointLock>,
    pub(crate) mode: WaitMode,
    /// Set when a wait on many objects found the peer dead, so that the call it made
    /// ready reports `Disconnected` too (looking again: a new peer may have come).
    peer_seen_gone: std::sync::atomic::AtomicBool,
    /// When a call past its deadline last looked whether the peer is gone (see
    /// `liveness_due`).
    deadline_looked: super::LivenessTimer,
    /// The marks of messages being written that this endpoint's waits spun on lately
    /// (`MARKS_REMEMBERED` of them), and since when: the spin on one mark is bounded by
    /// `WRITING_SPIN_MAX` in all, across waits, also while another ring's marks come
    /// between two looks at it (an inbox). A mark left standing (by a sender that died, or one writing slowly, or
    /// another process), with waits that end early for other reasons (a timeout, another
    /// ring's message), costs that spin once, not at every wait.
    mark_spin: std::sync::Mutex<MarkSpin>,
    /// The fork generation of the process that opened the endpoint
    /// (`sys::fork_generation`). A child made by `fork` (without `exec`) has a copy of
    /// it, but the role is its parent's: see [`Endpoint::inherited`].
    opened_in: u64,
}

/// How many marks [`MarkSpin`] remembers at once (an inbox's rings each have one: a mark a
/// dead sender left in one ring stays while others come and go in another).
const MARKS_REMEMBERED: usize = 4;

/// See [`Endpoint`]'s `mark_spin`.
#[derive(Debug, Default)]
struct MarkSpin {
    /// The marked positions seen, each with when a wait first spun on it and when a wait
    /// last saw it; the one least recently seen makes room for a new one.
    marks: Vec<SeenMark>,
}

#[derive(Debug, Clone, Copy)]
struct SeenMark {
    at: u64,
    since: Instant,
    last: Instant,
}

impl MarkSpin {
    /// Whether a wait that sees `mark` now (where a peer is writing, if anywhere) spins
    /// on: for a new mark, yes; for one seen before, while it is younger than
    /// `WRITING_SPIN_MAX`. No mark forgets them all (a new sender's first long message
    /// may be marked at the same position as a dead one's).
    fn spin_on(&mut self, mark: Option<u64>, now: Instant) -> bool {
        let Some(at) = mark else {
            self.marks.clear();
            return false;
        };
        if let Some(seen) = self.marks.iter_mut().find(|seen| seen.at == at) {
            seen.last = now;
            return now.duration_since(seen.since) < WRITING_SPIN_MAX;
        }
        if self.marks.len() == MARKS_REMEMBERED {
            if let Some(least_recent) = (0..self.marks.len()).min_by_key(|&i| self.marks[i].last) {
                self.marks.swap_remove(least_recent);
            }
        }
        self.marks.push(SeenMark {
            at,
            since: now,
            last: now,
        });
        true
    }
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
    pub(crate) fn open(
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
                let (memory, _, _) = sys::create_sync(&name, &header, CreateMode::OrOpen, &init)?;
                memory
            }
            None => {
                let (memory, _) = sys::open_sync(&name, Kind::Channel)?;
                memory
            }
        };
        // SAFETY: the data area is mapped for as long as `memory` lives, and `ring` is
        // kept beside it; its length is the header's size, checked by `new`.
        let ring = unsafe { Ring::new(memory.base(), memory.len()) }
            .and_then(|ring| match ring.layout() {
                ring::LAYOUT => Ok(ring),
                other => Err(format!("its frame layout is {other}, not a channel's")),
            })
            .map_err(|problem| {
                check_failed(&memory, &name, format!("the channel's ring: {problem}"))
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
            memory: std::sync::Arc::new(memory),
            bells: Bells::of_ring(&ring),
            ring,
            _lock: Some(lock),
            mode: WaitMode::Blocking,
            peer_seen_gone: Default::default(),
            deadline_looked: Default::default(),
            mark_spin: Default::default(),
            opened_in: sys::watched_fork_generation(),
        })
    }

    /// An endpoint over an opened entry's ring, holding `lock` (if any) as its role.
    /// Its doorbells are the ring's, as a channel's; `with_bells` changes them.
    pub(crate) fn from_parts(
        name: Name,
        memory: std::sync::Arc<sys::ChannelMemory>,
        ring: Ring,
        lock: Option<sys::EndpointLock>,
    ) -> Endpoint {
        Endpoint {
            name,
            memory,
            bells: Bells::of_ring(&ring),
            ring,
            _lock: lock,
            mode: WaitMode::Blocking,
            peer_seen_gone: Default::default(),
            deadline_looked: Default::default(),
            mark_spin: Default::default(),
            opened_in: sys::watched_fork_generation(),
        }
    }

    /// The endpoint with doorbells elsewhere than its ring's control area (words in the
    /// memory it holds).
    pub(crate) fn with_bells(mut self, bells: Bells) -> Endpoint {
        self.bells = bells;
        self
    }

    /// Whether this is a copy of the endpoint in a child made by `fork` (without `exec`):
    /// the role (and the lock that holds it, shared by the copy) stays its parent's, which
    /// goes on using the endpoint. The copy must neither take part (two receivers of one
    /// ring, or two senders, would take each other's messages or write over them) nor,
    /// dropped, mark the endpoint closed or give back what its parent holds. One load and
    /// a comparison on Linux (a count of forks, which a child bumps as `fork` returns in
    /// it); always `false` on Windows, which has no `fork`.
    #[inline(always)]
    pub(crate) fn inherited(&self) -> bool {
        self.opened_in != sys::fork_generation()
    }

    /// `Err(Unsupported)` if [`inherited`](Endpoint::inherited): every call that would use
    /// the endpoint asks this first.
    #[inline]
    pub(crate) fn usable_here(&self) -> Result<()> {
        if self.inherited() {
            return Err(Error::Unsupported {
                what: "using an endpoint inherited from the parent process by fork: it stays \
                       the parent's; the child opens one of its own",
            });
        }
        Ok(())
    }

    /// Whether the peer is gone: it closed, or its process died holding its lock.
    pub(crate) fn peer_gone(&self, peer: Side) -> bool {
        let state = match peer {
            Side::Sender => ring::SENDER_STATE,
            Side::Receiver => ring::RECEIVER_STATE,
        };
        let byte = self.bells.of(peer).lock;
        match self.ring.u32_at(state).load(Ordering::Acquire) {
            ring::STATE_CLOSED | ring::STATE_DAMAGED => true,
            // Not connected yet: either side may start first.
            ring::STATE_NONE => false,
            // Connected, or a value no endpoint writes (another process scribbled it): the
            // peer's lock says whether it lives.
            _ => !self.memory.endpoint_alive(byte),
        }
    }

    /// Waits until `ready()` or the peer is gone or `deadline` passes. `Ok(true)`: ready.
    /// `spun`: how many times the caller polled already; `marked()`: as in `wait_on`;
    /// `restate()`, called before every sleep and at every look for the peer (once per
    /// liveness interval): where the waiter says its position again.
    pub(crate) fn wait(
        &self,
        me: Side,
        deadline: Option<Instant>,
        spun: u32,
        ready: impl Fn() -> bool,
        marked: impl Fn() -> Option<u64>,
        restate: impl Fn(),
    ) -> Result<bool> {
        let peer = match me {
            Side::Receiver => Side::Sender,
            Side::Sender => Side::Receiver,
        };
        let words = self.bells.of(me);
        let sleep = Sleep {
            bell: words.bell,
            seq: words.seq(),
            sleepers: words.sleepers(),
            all_sleepers: None,
        };
        self.wait_on(&sleep, deadline, spun, ready, marked, || {
            restate();
            self.peer_gone(peer)
        })
    }

    /// Waits until `ready()` or `gone()` (checked once per liveness interval, and before
    /// every sleep) or `deadline` passes, sleeping on `sleep`'s doorbell once spinning is
    /// over. `marked()`: where the peer is writing what the wait waits for (a long message,
    /// marked as being written), if it is: the wait spins on rather than sleep, for at
    /// most `WRITING_SPIN_MAX` from when a wait of this endpoint first saw that mark (so
    /// at most that long in all, however many waits see it). `Ok(true)`: ready;
    /// `Err(Disconnected)` if gone and not ready.
    pub(crate) fn wait_on(
        &self,
        sleep: &Sleep<'_>,
        deadline: Option<Instant>,
        spun: u32,
        ready: impl Fn() -> bool,
        marked: impl Fn() -> Option<u64>,
        mut gone: impl FnMut() -> bool,
    ) -> Result<bool> {
        if ready() {
            return Ok(true);
        }
        let mut spins = spun;
        // A wait that may not wait (a `try_` call, a zero timeout: its deadline has passed
        // as it begins) looks once more, and does not spin first.
        if deadline.is_some_and(crate::sys::has_passed) {
            return self.at_deadline(ready, gone);
        }
        // The clock is read only once the wait is more than a few spins long.
        let mut last_check: Option<Instant> = None;
        // When this wait first saw a mark.
        let mut first_mark: Option<Instant> = None;
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
                return self.at_deadline(ready, gone);
            }
            // Past its spins, a blocking wait spins on while the peer writes a long message
            // for it: for at most `WRITING_SPIN_MAX` from when a wait of this endpoint
            // first saw that mark (see `MarkSpin`), and from when this wait first saw one
            // (a mark that another process keeps raising and lowering is new each time it
            // comes back).
            let spin_on = spins >= SPINS && self.mode != WaitMode::BusyPoll && {
                let mark = marked();
                let first = mark.map(|_| *first_mark.get_or_insert(now));
                first.is_none_or(|first| now.duration_since(first) < WRITING_SPIN_MAX)
                    && self
                        .mark_spin
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .spin_on(mark, now)
            };
            if self.mode == WaitMode::BusyPoll || spins < SPINS || spin_on {
                if self.mode != WaitMode::BusyPoll && spins >= YIELD_AFTER {
                    // Past the first spins, give the core to a process that is ready to run
                    // (another subscriber woken with this one, on a machine with fewer
                    // cores than processes); with none, this returns at once.
                    std::thread::yield_now();
                }
                if now.duration_since(*last_check) >= LIVENESS_INTERVAL {
                    *last_check = now;
                    self.whole()?;
                    if gone() {
                        return if ready() {
                            Ok(true)
                        } else {
                            Err(self.disconnected())
                        };
                    }
                }
                continue;
            }
            self.whole()?;
            let expected = sleep.seq.load(Ordering::Acquire);
            sleep.add_sleeper(1);
            // Pairs with the fence in `wake`: either the peer sees this sleeper, or this
            // check sees the peer's progress (or its departure: a closing peer rings too).
            std::sync::atomic::fence(Ordering::SeqCst);
            if ready() {
                sleep.add_sleeper(-1);
                return Ok(true);
            }
            if gone() {
                sleep.add_sleeper(-1);
                return if ready() {
                    Ok(true)
                } else {
                    Err(self.disconnected())
                };
            }
            // `gone` may have freed what this waits for (a topic's publisher frees a dead
            // subscriber's slot there): no nap then.
            if ready() {
                sleep.add_sleeper(-1);
                return Ok(true);
            }
            let mut nap = LIVENESS_INTERVAL;
            if let Some(d) = deadline {
                nap = nap.min(d.saturating_duration_since(now));
            }
            self.memory.wait_word(
                &sys::Doorbell {
                    bell: sleep.bell,
                    word: sleep.seq,
                },
                expected,
                nap,
            );
            sleep.add_sleeper(-1);
        }
    }

    /// What a wait past its deadline returns (`wait_on`'s `Ok(false)`, or `Ok(true)` if
    /// this last look finds `ready()`, or `Err(Disconnected)` if the peer is gone): the
    /// look comes first, as it may be what finds the memory lost.
    fn at_deadline(
        &self,
        ready: impl Fn() -> bool,
        mut gone: impl FnMut() -> bool,
    ) -> Result<bool> {
        let found = ready();
        self.intact()?;
        if found {
            return Ok(true);
        }
        if self.peer_seen_gone.load(Ordering::Relaxed) || self.liveness_due() {
            if gone() {
                // What the peer committed before it went is still taken first.
                if ready() {
                    return Ok(true);
                }
                // Said again by the calls after this one (each looks again: a new peer may
                // come).
                self.peer_seen_gone.store(true, Ordering::Relaxed);
                return Err(self.disconnected());
            }
            self.peer_seen_gone.store(false, Ordering::Relaxed);
        }
        Ok(false)
    }

    /// Whether a call past its deadline with nothing ready looks whether the peer is gone
    /// (which may cost a system call): the first time, then once per liveness interval
    /// ([`LivenessTimer`]). A loop of calls that never wait (`try_recv`, or timeouts of
    /// zero) thus learns of a peer that closed or died within that interval and a tick of
    /// the coarse clock, at the cost of one look per interval.
    fn liveness_due(&self) -> bool {
        self.deadline_looked.due()
    }

    /// Readies a sleep on `sleep`'s doorbell for a wait on many objects (`crate::wait`):
    /// notes the doorbell's sequence, then counts itself a sleeper, as `wait_on` does
    /// before it sleeps. The caller looks at the object again before it sleeps, and calls
    /// [`Sleep::add_sleeper`]`(-1)` after.
    pub(crate) fn arm(&self, sleep: &Sleep<'_>) -> sys::WaitTarget {
        let expected = sleep.seq.load(Ordering::Acquire);
        sleep.add_sleeper(1);
        // Pairs with the fence in `wake`, as in `wait_on`.
        std::sync::atomic::fence(Ordering::SeqCst);
        self.memory.bell_target(
            &sys::Doorbell {
                bell: sleep.bell,
                word: sleep.seq,
            },
            expected,
        )
    }

    /// Whether `peer` is gone: closed (one load), or, with `check` (a system call, once
    /// per liveness interval), dead.
    pub(crate) fn peer_left(&self, peer: Side, check: bool) -> bool {
        let state = match peer {
            Side::Sender => ring::SENDER_STATE,
            Side::Receiver => ring::RECEIVER_STATE,
        };
        if check {
            let gone = self.peer_gone(peer);
            if gone {
                self.saw_peer_gone();
            }
            gone
        } else {
            let closed = matches!(
                self.ring.u32_at(state).load(Ordering::Acquire),
                ring::STATE_CLOSED | ring::STATE_DAMAGED
            );
            if closed {
                // So that the next call that does not wait says so too (it checks again).
                self.saw_peer_gone();
            }
            closed
        }
    }

    /// Notes that a wait on many objects found the peer gone, so that this endpoint's next
    /// call that does not wait reports it too (as `peer_left` with `check` does).
    pub(crate) fn saw_peer_gone(&self) {
        self.peer_seen_gone.store(true, Ordering::Relaxed);
    }

    /// Records this endpoint's wait mode where its peer can see it (a copy inherited by
    /// `fork` keeps it to itself: the word is its parent's to set).
    pub(crate) fn set_mode(&mut self, me: Side, mode: WaitMode) {
        self.mode = mode;
        if self.inherited() {
            return;
        }
        self.bells
            .of(me)
            .busy()
            .store((mode == WaitMode::BusyPoll) as u32, Ordering::SeqCst);
    }

    /// Takes side `me`'s doorbell over, as the endpoint connects: nobody sleeps on it now
    /// (its role's lock is this endpoint's alone, and this endpoint has not waited yet), so
    /// a count of sleepers above zero is what a predecessor killed asleep left, and would
    /// make every wake-up from the peer a system call for good. It is set back to zero.
    pub(crate) fn take_doorbell(&self, me: Side) {
        if self.inherited() {
            return;
        }
        self.bells.of(me).sleepers().store(0, Ordering::SeqCst);
    }

    /// Wakes `whom` if it sleeps (no system call otherwise; not even a fence when it
    /// busy-polls and so never sleeps).
    #[inline]
    pub(crate) fn wake(&self, whom: Side) {
        if self.bells.of(whom).busy().load(Ordering::Relaxed) != 1 {
            self.wake_if_asleep(whom);
        }
    }

    /// `wake` for a peer that may sleep.
    #[inline(never)]
    pub(crate) fn wake_if_asleep(&self, whom: Side) {
        let words = self.bells.of(whom);
        std::sync::atomic::fence(Ordering::SeqCst);
        if words.sleepers().load(Ordering::Relaxed) > 0 {
            words.seq().fetch_add(1, Ordering::Release);
            self.memory.wake_word(&sys::Doorbell {
                bell: words.bell,
                word: words.seq(),
            });
        }
    }

    pub(crate) fn timeout(&self, after: Duration) -> Error {
        Error::Timeout {
            what: self.name.to_string(),
            after,
        }
    }

    pub(crate) fn disconnected(&self) -> Error {
        self.lost_error().unwrap_or_else(|| Error::Disconnected {
            name: self.name.to_string(),
        })
    }

    /// `Error::PageFault` if the ring's memory was lost: another process cut the entry
    /// short, and what this endpoint read since is zeros (see `sys`). Checked after every
    /// copy and while waiting, and it takes the place of any other error.
    #[inline]
    pub(crate) fn intact(&self) -> Result<()> {
        match self.lost_error() {
            None => Ok(()),
            Some(e) => Err(e),
        }
    }

    /// Like `intact`, and also `Error::PageFault` if the entry is now shorter than the
    /// ring (a system call: for waits, where the peer may be stuck on a cut-off page).
    pub(crate) fn whole(&self) -> Result<()> {
        self.intact()?;
        match self.memory.cut_at() {
            None => Ok(()),
            Some(offset) => Err(Error::PageFault {
                name: self.name.to_string(),
                offset,
                truncated: true,
            }),
        }
    }

    #[inline]
    fn lost_error(&self) -> Option<Error> {
        let offset = self.memory.lost()?;
        Some(Error::PageFault {
            name: self.name.to_string(),
            offset,
            truncated: self.memory.truncated(),
        })
    }

    /// The error for a copy into or out of a message that faulted; `message` is the
    /// message's first byte and `at` where the copy started in it.
    pub(crate) fn fault(&self, fault: Fault, message: *const u8, len: usize, at: usize) -> Error {
        let offset = fault
            .address
            .checked_sub(message as usize)
            .filter(|o| *o < len)
            .unwrap_or(at);
        Error::PageFault {
            name: self.name.to_string(),
            offset: offset as u64,
            truncated: self.memory.truncated(),
        }
    }

    pub(crate) fn corrupt(&self, problem: String) -> Error {
        self.lost_error().unwrap_or_else(|| Error::Corrupt {
            name: self.name.to_string(),
            problem: format!("the channel's ring: {problem}"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A mark a dead writer left (an inbox's ring whose sender was killed writing a long
    /// message) is spun on for `WRITING_SPIN_MAX` in all, however often a live writer's
    /// marks in another ring come between two looks at it; each of those is spun on anew.
    #[test]
    fn a_stale_mark_between_live_ones_is_spun_on_once() {
        let mut spin = MarkSpin::default();
        let start = Instant::now();
        let stale = 1 << 20;
        assert!(spin.spin_on(Some(stale), start));
        let mut now = start + WRITING_SPIN_MAX;
        for message in 0..10u64 {
            assert!(
                spin.spin_on(Some(message * 4096), now),
                "live mark {message}"
            );
            now += Duration::from_millis(1);
            assert!(
                !spin.spin_on(Some(stale), now),
                "the stale mark spun on again after live mark {message}"
            );
            now += Duration::from_millis(1);
        }
        // No mark at all: a new writer at the stale mark's position is spun on again.
        assert!(!spin.spin_on(None, now));
        assert!(spin.spin_on(Some(stale), now));
    }
}
