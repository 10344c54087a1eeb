//! Model check, with loom, of the three orderings a topic's protocol stands on
//! (`src/topic/mod.rs` describes it; `publisher.rs` and `subscriber.rs` do it). Each model
//! is the protocol's handful of atomic operations, with the orderings the code uses, in two
//! threads; loom runs them through every interleaving and lets every load see every value
//! the memory model allows.
//!
//! 1. Overwrite check (`DropOldest`): the publisher moves `oldest` past a frame (a relaxed
//!    store and a release fence) before it writes over the frame; a subscriber reads the
//!    frame, issues an acquire fence and loads `oldest`. Whenever the subscriber keeps what
//!    it read (it saw `oldest` not past the frame), it read the old frame, never the new.
//! 2. Joining (`Block`): a joining subscriber stores its head, counts the join and fences
//!    (sequentially consistent) before it looks at `oldest` again; the publisher stores
//!    `oldest`, fences and looks at the join count. They never both miss each other: the
//!    publisher never writes over a joiner's frame without the joiner having seen `oldest`
//!    move past it.
//! 3. Wake-ups: a subscriber counts itself asleep and fences before its last look at the
//!    frame's tag; the publisher commits the tag and fences before it looks at the count.
//!    A subscriber never sleeps through a commit that nobody wakes it for.
//!
//! Run with `RUSTFLAGS="--cfg loom" cargo test -p filemap --release --test loom_topic`
//! (scripts/test does); without `--cfg loom` this file is empty.

#![cfg(loom)]

use loom::sync::Arc;
use loom::sync::atomic::{AtomicU32, AtomicU64, Ordering, fence};
use loom::thread;

#[test]
fn a_kept_read_is_never_of_an_overwritten_frame() {
    loom::model(|| {
        // The frame at position 0 holds 1; the publisher writes a new frame (2) over it.
        let oldest = Arc::new(AtomicU64::new(0));
        let word = Arc::new(AtomicU64::new(1));
        let publisher = {
            let (oldest, word) = (oldest.clone(), word.clone());
            thread::spawn(move || {
                oldest.store(64, Ordering::Release);
                fence(Ordering::Release);
                word.store(2, Ordering::Relaxed);
            })
        };
        // A subscriber at position 0 reads the frame, then checks.
        let read = word.load(Ordering::Relaxed);
        fence(Ordering::Acquire);
        let kept = oldest.load(Ordering::Relaxed) == 0;
        if kept {
            assert_eq!(read, 1, "kept a frame the publisher was writing over");
        }
        publisher.join().unwrap();
    });
}

#[test]
fn a_joiner_and_the_publisher_never_miss_each_other() {
    loom::model(|| {
        let oldest = Arc::new(AtomicU64::new(0));
        let joins = Arc::new(AtomicU32::new(0));
        let head = Arc::new(AtomicU64::new(u64::MAX)); // no subscriber yet
        let publisher = {
            let (oldest, joins, head) = (oldest.clone(), joins.clone(), head.clone());
            thread::spawn(move || {
                // Moves `oldest` past the frame at 0, then (under Block) looks whether a
                // subscriber joined since it last looked at the heads.
                oldest.store(64, Ordering::Release);
                fence(Ordering::Release);
                fence(Ordering::SeqCst);
                if joins.load(Ordering::SeqCst) != 0 {
                    // It looks at the heads again, and waits for any below 64.
                    head.load(Ordering::Acquire) >= 64
                } else {
                    true // writes over the frame at 0
                }
            })
        };
        // A subscriber joins at the oldest frame it saw (0).
        let start = oldest.load(Ordering::Acquire);
        head.store(start, Ordering::Release);
        joins.fetch_add(1, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        let moved = oldest.load(Ordering::Acquire) != start;
        let overwrote = publisher.join().unwrap();
        assert!(
            !(overwrote && !moved && start < 64),
            "the publisher wrote over the frame a joiner kept its head at, unseen by both"
        );
    });
}

#[test]
fn no_wake_up_is_lost() {
    loom::model(|| {
        let tag = Arc::new(AtomicU64::new(0));
        let asleep = Arc::new(AtomicU32::new(0));
        let publisher = {
            let (tag, asleep) = (tag.clone(), asleep.clone());
            thread::spawn(move || {
                tag.store(1, Ordering::Release); // the commit
                fence(Ordering::SeqCst);
                asleep.load(Ordering::Relaxed) > 0 // then it rings the doorbell
            })
        };
        asleep.fetch_add(1, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        let sees_commit = tag.load(Ordering::Acquire) == 1;
        let rings = publisher.join().unwrap();
        assert!(
            sees_commit || rings,
            "asleep through a commit nobody rings for"
        );
    });
}
