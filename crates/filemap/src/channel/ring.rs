//! The ring protocol of a channel, over a data area shared by two processes.
//!
//! Layout of the data area (each counter on a cache line of its own):
//!
//! | offset | field | written by |
//! |---|---|---|
//! | 0 | capacity (u64, a power of two) | creator |
//! | 8 | ring layout (u32, [`LAYOUT`]) | creator |
//! | 64 | `head`: bytes released (u64) | receiver |
//! | 128 | `tail`: bytes committed (u64) | sender |
//! | 192 | `claim`: bytes handed out by `recv` (u64) | receiver |
//! | 256 | receiver's wake-up sequence (u32), sleeping receivers (u32) | both |
//! | 320 | sender's wake-up sequence (u32), sleeping senders (u32) | both |
//! | 384 | sender state (u32: 0 none yet, 1 connected, 2 closed, 3 damaged: see `mending`), sender busy-polls (u32) | sender |
//! | 448 | receiver state (u32), receiver busy-polls (u32) | receiver |
//! | 4096 | the ring: `capacity` bytes of frames | |
//!
//! Positions only grow (but for the receiver's claim, which `RecvSlot::leave` moves back to
//! the start of the message it leaves, never behind the head); a position's place in the
//! ring is `position % capacity`. A frame
//! starts on a cache line with a 16-byte header: its shape (u64: the payload length in the
//! low 32 bits, the payload's offset from the frame's start in the high 32 bits) and the
//! commit tag (u64: the bitwise complement of the frame's own position). A payload of up to
//! 48 bytes follows the header in the same line, so that a small message costs one
//! cache-line transfer; a larger one starts on the next line, so that it is copied with
//! aligned stores and loads that never straddle two lines (a 64-byte message right after
//! the header took 1.4 times as long to pass between processes). The frame is padded to
//! whole 64-byte lines, always contiguous. A frame is committed when its tag matches its
//! position: the receiver polls that word, and `tail`, which the sender also keeps up to
//! date, stays off the receiver's path. When a frame does not fit before the ring's end,
//! the sender publishes a wrap marker (length `u32::MAX`) there, which the receiver skips
//! (releasing the bytes up to the ring's end), and writes the frame at the ring's start.
//!
//! What the receiver polls at the sender's tail is whatever an earlier lap left there:
//! usually an old header, but it can be payload bytes, and a payload is the user's data
//! (which may come from anyone). So before committing a frame the sender makes sure the
//! word where the next frame's tag will go does not already hold that frame's tag (see
//! `Ring::disarm`): data never passes for a commit.
//!
//! Before it copies a long message in, the sender may mark its frame as being written
//! (`Ring::mark_writing`: a tag no commit stores), so that a waiting receiver spins through
//! the copy rather than fall asleep in it. The mark is a hint for the wait alone.
//!
//! Ownership protocol (what keeps the two ends off each other's bytes): the bytes in
//! `[tail, head + capacity)` belong to the one sender, which writes a frame there and then
//! publishes it by storing its tag (release); the bytes in `[head, tail)` belong to the one
//! receiver, which reads a frame after loading its tag (acquire), records it as handed out in
//! `claim` (so a message is never delivered twice, even if the receiver dies holding it), and
//! gives its bytes back by storing `head` (release) when the slot is dropped. Two words are
//! also read by the side that does not own them, always atomically and never inside a
//! slot's slice (payloads start 16 or 64 bytes into their frame): the receiver polls the
//! tag at `tail`, and the sender's `disarm` reads the tag at its next tail only while that
//! is less than a capacity past `head` (bytes the sender owns). One
//! sender and one receiver at a time are enforced by the endpoint locks (see `sys`).

// Shared memory is reached only through `super::shared` (plain casts in the library), so
// that tests/loom_ring.rs can model-check this very file over loom's atomics.
use super::shared::{self, AtomicU32, AtomicU64, Ordering};

/// The tag of a frame being written at `position` (`Ring::mark_writing`): bit 62 set and
/// bit 63 clear, never a commit's tag (the complement of a position, which stays below
/// 2^63, has bit 63 set) nor the zero of fresh memory.
#[inline]
fn writing_mark(position: u64) -> u64 {
    position | 1 << 62
}

/// Where the ring starts in the data area.
pub(crate) const RING_OFFSET: usize = 4096;
/// A channel frame header's size.
pub(crate) const FRAME_HEADER: u64 = 16;
/// The size of a frame header with two more words after the channel's two: a topic's
/// message sequence number (a wrap marker carries the next message's) and a word left
/// zero; a service's request id and response flags.
pub(crate) const TOPIC_FRAME_HEADER: u64 = 32;
/// A cache line: frames start on one, and large payloads too.
pub(crate) const LINE: u64 = 64;
/// The frame layout this build reads and writes, recorded at [`LAYOUT_AT`] by the creator.
/// (1: payloads always right after the header, no offset in the shape.)
pub(crate) const LAYOUT: u32 = 2;
/// The frame layout of topics (`crate::topic`) and services (`crate::service`): layout 2
/// with [`TOPIC_FRAME_HEADER`]-byte headers.
pub(crate) const TOPIC_LAYOUT: u32 = 3;
/// The length that marks "continue at the ring's start".
pub(crate) const WRAP: u32 = u32::MAX;

pub(crate) const CAPACITY: usize = 0;
pub(crate) const LAYOUT_AT: usize = 8;
pub(crate) const HEAD: usize = 64;
pub(crate) const TAIL: usize = 128;
pub(crate) const CLAIM: usize = 192;
pub(crate) const RX_SEQ: usize = 256;
pub(crate) const RX_SLEEPERS: usize = 260;
pub(crate) const TX_SEQ: usize = 320;
pub(crate) const TX_SLEEPERS: usize = 324;
pub(crate) const SENDER_STATE: usize = 384;
pub(crate) const SENDER_BUSY_POLLS: usize = 388;
pub(crate) const RECEIVER_STATE: usize = 448;
pub(crate) const RECEIVER_BUSY_POLLS: usize = 452;

/// The largest position an endpoint accepts from shared memory when it connects: more
/// than any channel moves (2^62 bytes is over a year at 100 GB/s), and far enough below
/// `u64::MAX` that the position arithmetic cannot overflow afterwards.
pub(crate) const MAX_POSITION: u64 = 1 << 62;

/// Whether `position`, read from shared memory, can be where a frame starts: frames are
/// whole cache lines, so every such position is a multiple of 64.
pub(crate) fn valid_position(position: u64) -> bool {
    position <= MAX_POSITION && position % 64 == 0
}

/// No endpoint of that side has connected yet (the zero-filled initial state).
#[allow(dead_code)]
pub(crate) const STATE_NONE: u32 = 0;
pub(crate) const STATE_CONNECTED: u32 = 1;
pub(crate) const STATE_CLOSED: u32 = 2;
/// As a sender state: a service's server found the ring damaged with nothing to mend it
/// from (`mending`), and did not connect it; its receiver takes the sender as gone, and a
/// new receiver sets it back to connected (the server looks at the ring again before it
/// sends there). As a receiver state: an inbox set the ring aside, damaged behind its
/// sender's position; its sender takes the receiver as gone, a new sender passes the slot
/// over, and a receiver connecting the ring (or finding it whole again) sets it back.
pub(crate) const STATE_DAMAGED: u32 = 3;

/// A frame's size in the ring for a payload of `len` bytes at `offset` from its start:
/// whole cache lines, so that a frame never shares a line with the next one (the sender
/// writing frame n + 1 does not take the line the receiver is reading frame n from).
pub(crate) fn frame_size(offset: u64, len: u64) -> u64 {
    (offset + len).next_multiple_of(LINE)
}

/// Initialises the control area of a new channel's data area.
///
/// # Safety
/// `base` must point to at least `RING_OFFSET` writable bytes nobody else uses yet.
pub(crate) unsafe fn init(base: *mut u8, capacity: u64) {
    // SAFETY: the caller's contract.
    unsafe { init_with_layout(base, capacity, LAYOUT) }
}

/// Initialises the control area of a new ring of frame layout `layout` ([`LAYOUT`] or
/// [`TOPIC_LAYOUT`]).
///
/// # Safety
/// As for [`init`].
pub(crate) unsafe fn init_with_layout(base: *mut u8, capacity: u64, layout: u32) {
    // SAFETY: the caller's contract; both fields are aligned inside the control area.
    unsafe {
        shared::u64_at(base, CAPACITY).store(capacity, Ordering::Relaxed);
        shared::u32_at(base, LAYOUT_AT).store(layout, Ordering::Relaxed);
    }
}

/// What `Ring::next_frame` found at the receiver's position.
pub(crate) enum Next {
    /// Nothing committed yet.
    Empty,
    /// A wrap marker: continue at `next`, the ring's start.
    Wrap { next: u64 },
    /// A frame: payload at `payload` (a position) of `len` bytes; the frame ends at `end`.
    Frame { payload: u64, len: usize, end: u64 },
}

/// A view of the control area and ring at `base`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Ring {
    base: *mut u8,
    capacity: u64,
    /// Derived once, for the message path: the ring's first byte, `capacity - 1`, and the
    /// largest payload.
    frames: *mut u8,
    mask: u64,
    max_message: u64,
    /// The frame header's size ([`FRAME_HEADER`] or [`TOPIC_FRAME_HEADER`], by layout).
    header: u64,
    layout: u32,
}

// SAFETY: the ring is shared memory used through atomics and the ownership protocol above.
unsafe impl Send for Ring {}
// SAFETY: as above.
unsafe impl Sync for Ring {}

impl Ring {
    /// The ring at `base`, whose data area is `area_len` bytes; `Err` says why it cannot
    /// be used: its recorded capacity does not fit (a corrupt channel), or it was made with
    /// another frame layout.
    ///
    /// # Safety
    /// `base` must point to `area_len` bytes of shared memory, 8-aligned, mapped for as
    /// long as the ring is used.
    pub(crate) unsafe fn new(base: *mut u8, area_len: u64) -> Result<Ring, String> {
        if area_len < RING_OFFSET as u64 {
            return Err(format!(
                "its entry ({area_len} bytes) is smaller than a channel's control area"
            ));
        }
        // SAFETY: the caller's contract; aligned atomic loads inside the control area.
        let (capacity, layout) = unsafe {
            (
                shared::u64_at(base, CAPACITY).load(Ordering::Acquire),
                shared::u32_at(base, LAYOUT_AT).load(Ordering::Acquire),
            )
        };
        let fits = capacity
            .checked_add(RING_OFFSET as u64)
            .is_some_and(|end| end <= area_len);
        if !(capacity.is_power_of_two() && capacity >= 4096 && fits) {
            return Err(format!(
                "its capacity ({capacity} bytes) does not fit its entry ({area_len} bytes)"
            ));
        }
        let header = match layout {
            LAYOUT => FRAME_HEADER,
            TOPIC_LAYOUT => TOPIC_FRAME_HEADER,
            _ => {
                return Err(format!(
                    "its frame layout is {layout}, but this filemap reads layouts {LAYOUT} \
                     and {TOPIC_LAYOUT} (made by another version of filemap)"
                ));
            }
        };
        Ok(Ring {
            base,
            capacity,
            // SAFETY: RING_OFFSET is inside the area (checked by `fits`).
            frames: unsafe { base.add(RING_OFFSET) },
            mask: capacity - 1,
            max_message: (capacity - header).min(u32::MAX as u64 - 1),
            header,
            layout,
        })
    }

    /// The frame layout recorded by the ring's creator ([`LAYOUT`] or [`TOPIC_LAYOUT`]).
    pub(crate) fn layout(&self) -> u32 {
        self.layout
    }

    #[inline]
    pub(crate) fn capacity(&self) -> u64 {
        self.capacity
    }

    /// The largest payload a frame can carry.
    #[inline]
    pub(crate) fn max_message(&self) -> u64 {
        self.max_message
    }

    /// A u64 field of the control area (one of the offsets above; the check folds away
    /// for a constant).
    #[inline]
    pub(crate) fn u64_at(&self, offset: usize) -> &AtomicU64 {
        assert!(
            offset % 8 == 0 && offset + 8 <= RING_OFFSET,
            "control field {offset}"
        );
        // SAFETY: an aligned word inside the control area, which the constructor's
        // contract maps for as long as the ring is used.
        unsafe { shared::u64_at(self.base, offset) }
    }

    /// A u32 field of the control area (one of the offsets above).
    #[inline]
    pub(crate) fn u32_at(&self, offset: usize) -> &AtomicU32 {
        assert!(
            offset % 4 == 0 && offset + 4 <= RING_OFFSET,
            "control field {offset}"
        );
        // SAFETY: as in `u64_at`.
        unsafe { shared::u32_at(self.base, offset) }
    }

    /// The 8-byte word of the ring at `position` (rounded down to a multiple of 8, which
    /// every position used is), always inside the ring.
    #[inline]
    pub(crate) fn ring_word(&self, position: u64) -> &AtomicU64 {
        let index = (position & self.mask & !7) as usize;
        // SAFETY: an aligned word below `capacity` bytes into the ring, which the
        // constructor checked lies inside the mapped area.
        unsafe { shared::u64_at(self.base, RING_OFFSET + index) }
    }

    #[inline]
    pub(crate) fn head(&self) -> &AtomicU64 {
        self.u64_at(HEAD)
    }

    #[inline]
    pub(crate) fn tail(&self) -> &AtomicU64 {
        self.u64_at(TAIL)
    }

    #[inline]
    pub(crate) fn claim(&self) -> &AtomicU64 {
        self.u64_at(CLAIM)
    }

    #[inline]
    fn index(&self, position: u64) -> u64 {
        position & self.mask
    }

    /// A pointer to the ring byte at `position`.
    #[inline]
    pub(crate) fn at(&self, position: u64) -> *mut u8 {
        // SAFETY: the index is below the capacity, inside the ring (constructor contract).
        unsafe { self.frames.add(self.index(position) as usize) }
    }

    /// A frame's shape word: payload length (low half) and offset (high half).
    #[inline]
    fn frame_shape(&self, position: u64) -> &AtomicU64 {
        self.ring_word(position)
    }

    #[inline]
    fn frame_tag(&self, position: u64) -> &AtomicU64 {
        // The tag is the header's second 8 bytes.
        self.ring_word(position + 8)
    }

    /// A topic frame's sequence number (the header's third 8 bytes).
    #[inline]
    pub(crate) fn frame_seq(&self, position: u64) -> &AtomicU64 {
        self.extra_word(position, 0)
    }

    /// Extra header word `k` (0 or 1) of the frame at `position`, in layout
    /// [`TOPIC_LAYOUT`] (`None` in a channel's layout, whose headers have none).
    #[inline]
    pub(crate) fn extra(&self, position: u64, k: u64) -> Option<&AtomicU64> {
        (self.layout == TOPIC_LAYOUT && k < 2).then(|| self.extra_word(position, k))
    }

    #[inline]
    fn extra_word(&self, position: u64, k: u64) -> &AtomicU64 {
        self.ring_word(position + 16 + 8 * k)
    }

    /// Whether a frame (or wrap marker) is committed at `position`: its tag is the
    /// position's complement (never the zero of fresh memory).
    #[inline]
    pub(crate) fn committed(&self, position: u64) -> bool {
        self.frame_tag(position).load(Ordering::Acquire) == !position
    }

    /// Commits the frame (or wrap marker) written at `position`.
    #[inline]
    pub(crate) fn commit(&self, position: u64) {
        self.frame_tag(position).store(!position, Ordering::Release);
    }

    /// The position after the committed frame or wrap marker at `position`, or `None` if
    /// nothing (valid) is committed there. Used to find what a sender that died had
    /// committed beyond the `tail` it recorded.
    pub(crate) fn committed_end(&self, position: u64) -> Option<u64> {
        match self.next_frame(position) {
            Ok(Next::Wrap { next }) => Some(next),
            Ok(Next::Frame { end, .. }) => Some(end),
            Ok(Next::Empty) | Err(_) => None,
        }
    }

    /// The end of the items (frames, wrap markers) committed one after another from
    /// `from`, a valid position, up to a ring's capacity past it (`from` itself if nothing
    /// is committed there): where a sender whose recorded position was lost goes on.
    /// Each item is at least a cache line, so the walk takes at most capacity / 64 steps.
    pub(crate) fn committed_run_end(&self, from: u64) -> u64 {
        let mut end = from;
        while let Some(next) = self.committed_end(end) {
            if next - from > self.capacity {
                break;
            }
            end = next;
        }
        end
    }

    /// Where the payload of a `len`-byte message goes in its frame: right after the header
    /// when both fit one cache line, else on the next line (when that still fits the ring).
    #[inline]
    pub(crate) fn payload_offset(&self, len: u64) -> u64 {
        if self.header + len <= LINE || len > self.capacity - LINE {
            self.header
        } else {
            LINE
        }
    }

    /// Makes sure the tag word of a frame at `next` (the sender's tail once the frame it is
    /// about to commit is published) does not already read as committed, if the sender owns
    /// those bytes (`next` is below `head + capacity`, for the sender's last view of
    /// `head`): an earlier lap's payload may hold any bytes there. Where the sender does not
    /// own them, they are the header of the frame at `next - capacity`, whose tag differs.
    /// Call it before the commit that publishes `next` as the receiver's next position.
    /// A mark of a frame being written there (`mark_writing`), left by a slot never
    /// committed or a sender that died, goes too: nothing is being written there yet.
    #[inline]
    pub(crate) fn disarm(&self, next: u64, head: u64) {
        let tag = self.frame_tag(next);
        if next - head < self.capacity {
            let found = tag.load(Ordering::Relaxed);
            if found == !next || found == writing_mark(next) {
                tag.store(0, Ordering::Relaxed);
            }
        }
    }

    /// Takes back the mark of `mark_writing` from the frame at `start` (the sender's own
    /// bytes), whose slot is dropped uncommitted: nothing is being written there now. A
    /// zero is no commit's tag.
    #[inline]
    pub(crate) fn unmark_writing(&self, start: u64) {
        self.frame_tag(start).store(0, Ordering::Relaxed);
    }

    /// Whether the receiver's `head`, read from shared memory, fits a sender whose tail is
    /// `tail`: never ahead of it, at most one capacity behind.
    pub(crate) fn head_fits(&self, head: u64, tail: u64) -> bool {
        head <= tail && tail - head <= self.capacity
    }

    /// Bytes from `position` to the ring's end.
    #[inline]
    pub(crate) fn bytes_to_end(&self, position: u64) -> u64 {
        self.capacity - self.index(position)
    }

    /// Marks the frame at `start` (the sender's own bytes) as being written, before a long
    /// message is copied in: its tag word holds `writing_mark(start)`, which no commit
    /// stores. A hint, and nothing more: a receiver that waits at `start` sees it and
    /// keeps spinning through the copy rather than falling asleep in the middle of it (see
    /// `Endpoint::wait_on`). Whatever another process writes there decides no more than
    /// how long a receiver spins.
    #[inline]
    pub(crate) fn mark_writing(&self, start: u64) {
        self.frame_tag(start)
            .store(writing_mark(start), Ordering::Relaxed);
    }

    /// The position of the frame being written (by the mark of `mark_writing`) at
    /// `position`, or after a wrap marker committed there; `None` if neither is marked.
    pub(crate) fn marked_at(&self, position: u64) -> Option<u64> {
        let tag = self.frame_tag(position).load(Ordering::Relaxed);
        if tag == writing_mark(position) {
            return Some(position);
        }
        if tag == !position && self.frame_shape(position).load(Ordering::Relaxed) == WRAP as u64 {
            let next = position + self.bytes_to_end(position);
            return (self.frame_tag(next).load(Ordering::Relaxed) == writing_mark(next))
                .then_some(next);
        }
        None
    }

    /// Writes a wrap marker at `tail` (the sender's own bytes); `commit` publishes it.
    pub(crate) fn write_wrap(&self, tail: u64) {
        self.frame_shape(tail).store(WRAP as u64, Ordering::Relaxed);
    }

    /// Writes the header of a frame at `start` (the sender's own bytes) whose payload of
    /// `len` bytes is at `offset` from the start.
    #[inline]
    pub(crate) fn write_header(&self, start: u64, len: u32, offset: u64) {
        self.frame_shape(start)
            .store(len as u64 | offset << 32, Ordering::Relaxed);
    }

    /// The frame or wrap marker committed at the receiver's position `claim`. `Err`
    /// describes a corrupt ring.
    pub(crate) fn next_frame(&self, claim: u64) -> Result<Next, String> {
        if !self.committed(claim) {
            return Ok(Next::Empty);
        }
        let shape = self.frame_shape(claim).load(Ordering::Relaxed);
        if claim > MAX_POSITION {
            // Only a process that commits frames and markers outside the protocol, lap
            // after lap, takes a position this far (the arithmetic stays far from overflow).
            return Err(format!(
                "position {claim} is past the largest a channel reaches"
            ));
        }
        if shape == WRAP as u64 {
            return Ok(Next::Wrap {
                next: claim + self.bytes_to_end(claim),
            });
        }
        self.frame(claim, shape).ok_or_else(|| {
            format!(
                "a frame of {} bytes at offset {} at position {claim} does not fit the ring",
                shape as u32,
                shape >> 32
            )
        })
    }

    /// The frame at `claim`, which the caller has just seen `committed` (whose acquire load
    /// orders these reads), if it is one (not a wrap marker, not a corrupt frame): the
    /// receivers' fast paths; `next_frame` tells the other cases apart.
    #[inline]
    pub(crate) fn frame_now(&self, claim: u64) -> Option<Next> {
        self.frame(claim, self.frame_shape(claim).load(Ordering::Relaxed))
    }

    /// The frame of the given shape at `claim`, if it is one (a valid payload offset, not a
    /// wrap marker) that fits the ring.
    #[inline]
    fn frame(&self, claim: u64, shape: u64) -> Option<Next> {
        let (len, offset) = (shape as u32 as u64, shape >> 32);
        let size = frame_size(offset, len);
        let fits = (offset == self.header || offset == LINE)
            && len <= self.max_message()
            && size <= self.bytes_to_end(claim)
            && claim <= MAX_POSITION;
        if fits && offset == LINE && len > 0 {
            // The payload's first line, which the caller reads next, on its way meanwhile.
            shared::prefetch(self.at(claim + LINE));
        }
        fits.then_some(Next::Frame {
            payload: claim + offset,
            len: len as usize,
            end: claim + size,
        })
    }
}
