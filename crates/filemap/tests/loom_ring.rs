//! Model check of the channel's ring protocol with loom: the very code of
//! `src/channel/ring.rs`, compiled here over loom's atomics, driven by one sender thread and
//! one receiver thread doing what `Sender::reserve`/`SendSlot::commit` and
//! `Receiver::recv`/`RecvSlot::drop` do. loom runs the two threads through every
//! interleaving (up to a bound on preemptions) and lets every load see any value the memory
//! model allows it to, so a missing release or acquire shows up as a receiver reading a
//! payload word the sender had not written yet; a forged header in a payload shows
//! whether the sender disarms it in every interleaving. (loom does not model loads that
//! see stores from later in the other thread's program, so a release missing on the
//! receiver's `head` would go unseen here; tests/channel.rs covers that path between real
//! processes.)
//!
//! Run it with `RUSTFLAGS="--cfg loom" cargo test -p filemap --release --test loom_ring`
//! (scripts/test does, in a target directory of its own); without `--cfg loom` this file
//! is empty.

#![cfg(loom)]

#[allow(dead_code)]
#[path = "../src/channel/ring.rs"]
mod ring;

/// What ring.rs reaches shared memory through: here, one loom atomic per word of a
/// simulated data area (ring.rs never reads the same bytes as both a u32 and a u64).
mod shared {
    pub(crate) use loom::sync::atomic::{AtomicU32, AtomicU64, Ordering};

    /// A cache hint, which the model has no use for.
    pub(crate) fn prefetch(_: *const u8) {}

    pub(crate) struct Memory {
        pub(crate) words: Vec<AtomicU64>,
        pub(crate) halves: Vec<AtomicU32>,
    }

    /// # Safety
    /// `base` points to a live `Memory`.
    pub(crate) unsafe fn u64_at<'a>(base: *mut u8, offset: usize) -> &'a AtomicU64 {
        assert_eq!(offset % 8, 0, "unaligned u64 at {offset}");
        // SAFETY: the caller's contract.
        let memory: &'a Memory = unsafe { &*base.cast::<Memory>() };
        &memory.words[offset / 8]
    }

    /// # Safety
    /// `base` points to a live `Memory`.
    pub(crate) unsafe fn u32_at<'a>(base: *mut u8, offset: usize) -> &'a AtomicU32 {
        assert_eq!(offset % 4, 0, "unaligned u32 at {offset}");
        // SAFETY: the caller's contract.
        let memory: &'a Memory = unsafe { &*base.cast::<Memory>() };
        &memory.halves[offset / 4]
    }
}

use loom::sync::Arc;
use loom::sync::atomic::Ordering;
use ring::{Next, Ring};
use shared::Memory;

const CAPACITY: u64 = 4096;

/// A simulated data area (control area and ring), initialised as a creator would.
struct Area(Box<Memory>);

// SAFETY: only loom atomics inside, shared between the model's threads.
unsafe impl Send for Area {}
// SAFETY: as above.
unsafe impl Sync for Area {}

impl Area {
    fn new() -> Area {
        let len = ring::RING_OFFSET + CAPACITY as usize;
        let memory = Box::new(Memory {
            words: (0..len / 8).map(|_| shared::AtomicU64::new(0)).collect(),
            // u32 fields live in the control area only.
            halves: (0..512 / 4).map(|_| shared::AtomicU32::new(0)).collect(),
        });
        let area = Area(memory);
        // SAFETY: `base` points to the Memory just made, which nobody else uses yet.
        unsafe { ring::init(area.base(), CAPACITY) };
        area
    }

    fn base(&self) -> *mut u8 {
        (&*self.0 as *const Memory).cast_mut().cast()
    }

    fn ring(&self) -> Ring {
        let len = ring::RING_OFFSET as u64 + CAPACITY;
        // SAFETY: the Memory lives as long as this Area, which outlives the model's threads.
        unsafe { Ring::new(self.base(), len) }.expect("a valid ring")
    }
}

/// The payload word of message `seq` at byte `at` of its payload.
fn word(seq: u64, at: u64) -> u64 {
    (seq << 32) | (at + 1)
}

/// The payload words the model writes and checks: the first and the last (fewer loom
/// operations than every word, and enough to see a frame read too early or overwritten).
fn checked_words(len: u64) -> [u64; 2] {
    [0, len - 8]
}

fn payload_word(ring: &Ring, position: u64) -> &shared::AtomicU64 {
    ring.ring_word(position)
}

/// The sender's side: `Sender::reserve` + writing + `SendSlot::commit`.
struct Sending {
    ring: Ring,
    tail: u64,
    head: u64,
}

impl Sending {
    /// Waits until the ring is free up to `end` (the sender's `wait_for_room`).
    fn room(&mut self, end: u64) {
        while end - self.head > CAPACITY {
            self.head = self.ring.head().load(Ordering::Acquire);
            assert!(self.ring.head_fits(self.head, self.tail), "head ran ahead");
            loom::thread::yield_now();
        }
    }

    /// Commits what was written at `at`, the new tail being `end` (the sender's `publish`).
    fn publish(&mut self, at: u64, end: u64) {
        self.ring.disarm(end, self.head);
        self.ring.commit(at);
        self.ring.tail().store(end, Ordering::Release);
        self.tail = end;
    }

    /// Sends message `seq` of `len` bytes; `forged`: other payload words to write first,
    /// as (byte in the payload, value).
    fn send(&mut self, seq: u64, len: u64, forged: &[(u64, u64)]) {
        let offset = self.ring.payload_offset(len);
        let size = ring::frame_size(offset, len);
        let to_end = self.ring.bytes_to_end(self.tail);
        if size > to_end {
            let tail = self.tail;
            self.room(tail + to_end);
            self.ring.write_wrap(tail);
            self.publish(tail, tail + to_end);
        }
        let start = self.tail;
        self.room(start + size);
        // Every other frame is marked as being written, as a long message's is
        // (`Sender::reserve`): the mark must never pass for a commit, whatever the
        // receiver sees when; the unmarked ones leave `disarm` alone to keep a forged
        // tag from passing for one.
        if seq % 2 == 1 {
            self.ring.mark_writing(start);
        }
        for &(at, value) in forged {
            payload_word(&self.ring, start + offset + at).store(value, Ordering::Relaxed);
        }
        for at in checked_words(len) {
            payload_word(&self.ring, start + offset + at).store(word(seq, at), Ordering::Relaxed);
        }
        self.ring.write_header(start, len as u32, offset);
        self.publish(start, start + size);
    }
}

/// The receiver's side: `Receiver::recv` (skipping wrap markers) + reading + dropping
/// the slot, for `count` messages; returns the lengths received.
fn receive(ring: Ring, lens: &[u64]) {
    let mut claim = 0;
    let mut seq = 0;
    while seq < lens.len() as u64 {
        match ring.next_frame(claim).expect("a well-formed ring") {
            Next::Empty => loom::thread::yield_now(),
            Next::Wrap { next } => {
                ring.claim().store(next, Ordering::Release);
                ring.head().store(next, Ordering::Release);
                claim = next;
            }
            Next::Frame { payload, len, end } => {
                ring.claim().store(end, Ordering::Release);
                assert_eq!(len as u64, lens[seq as usize], "message {seq}'s length");
                for at in checked_words(len as u64) {
                    let got = payload_word(&ring, payload + at).load(Ordering::Relaxed);
                    assert_eq!(got, word(seq, at), "message {seq}, payload byte {at}");
                }
                ring.head().store(end, Ordering::Release);
                claim = end;
                seq += 1;
            }
        }
    }
}

/// Checks every execution of sending messages of `lens` bytes; `forged`: payload words the
/// sender writes besides the checked ones, as (message, byte in the payload, value).
fn model(lens: &'static [u64], forged: &'static [(usize, u64, u64)], preemptions: usize) {
    let runs = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = runs.clone();
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(preemptions);
    builder.check(move || {
        counted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let area = Arc::new(Area::new());
        let sender_area = area.clone();
        let sender = loom::thread::spawn(move || {
            let mut s = Sending {
                ring: sender_area.ring(),
                tail: 0,
                head: 0,
            };
            for (seq, &len) in lens.iter().enumerate() {
                let words: Vec<(u64, u64)> = forged
                    .iter()
                    .filter(|f| f.0 == seq)
                    .map(|f| (f.1, f.2))
                    .collect();
                s.send(seq as u64, len, &words);
            }
        });
        receive(area.ring(), lens);
        sender.join().unwrap();
    });
    println!(
        "{} executions explored for messages of {lens:?} bytes",
        runs.load(std::sync::atomic::Ordering::Relaxed)
    );
}

/// Small messages (one line each), the ring never full.
#[test]
fn small_messages() {
    model(&[8, 48, 16, 24, 40], &[], 5);
}

/// Large messages: the ring fills (the sender waits for the receiver's head), a frame does
/// not fit before the ring's end (a wrap marker), and payloads start on their own line.
/// Message 0 (frame at 0, payload at ring byte 64) also carries, at ring byte 1280, a
/// forged header for position 5376 = 4096 + 1280: where the receiver looks once it has
/// message 2 (wrap marker at 3584, message 2 at 4096 to 5376). The sender must disarm it
/// before committing message 2, or the receiver takes it for a frame.
#[test]
fn full_ring_wrap_and_forged_header() {
    const SHAPE_8_BYTES: u64 = 8 | 16 << 32;
    model(
        &[1800, 1600, 1200, 64],
        &[(0, 1280 - 64, SHAPE_8_BYTES), (0, 1288 - 64, !5376)],
        4,
    );
}
