//! The classic main / producer / consumer of the Win32 tutorials, done right.
//!
//! The tutorial shares an `int` under a named mutex and polls it with `Sleep(200)`. Here the
//! value is a `SharedMutex<i32>` (a dead holder is reported, never a stuck lock), and three
//! auto-reset events hand the turn around, so nobody polls:
//!
//! - `go`: main to producer, "make the next value" (set initially);
//! - `produced`: producer to consumer, "a new value is there";
//! - `seen`: consumer to main, "I reported it".
//!
//! Main stops everything at [`LIMIT`] by storing -1 and waking both. Every wait has a
//! timeout, so a peer that dies turns into an error, not a hang.
//!
//! This file is shared by the examples (`pc_main`, `pc_producer`, `pc_consumer`) and by
//! `filemap demo`.

use std::io::Write;
use std::time::Duration;

use filemap::sync::{EventReset, NamedEvent, SharedMutex};

/// Main stores -1 once the value reaches this.
pub const LIMIT: i32 = 500;

/// How long any party waits for another before giving up.
pub const PATIENCE: Duration = Duration::from_secs(10);

pub type BoxError = Box<dyn std::error::Error>;

/// The names of one run's objects.
pub struct Names {
    pub value: String,
    pub go: String,
    pub produced: String,
    pub seen: String,
}

impl Names {
    pub fn new(run: &str) -> Names {
        Names {
            value: format!("pc-{run}-value"),
            go: format!("pc-{run}-go"),
            produced: format!("pc-{run}-produced"),
            seen: format!("pc-{run}-seen"),
        }
    }
}

/// The objects, created by main before it starts the others.
pub struct Objects {
    value: SharedMutex<i32>,
    go: NamedEvent,
    produced: NamedEvent,
    seen: NamedEvent,
}

pub fn create(names: &Names) -> Result<Objects, BoxError> {
    Ok(Objects {
        value: SharedMutex::create_new(names.value.as_str(), 0)?,
        go: NamedEvent::create_new(names.go.as_str(), EventReset::Auto, true)?,
        produced: NamedEvent::create_new(names.produced.as_str(), EventReset::Auto, false)?,
        seen: NamedEvent::create_new(names.seen.as_str(), EventReset::Auto, false)?,
    })
}

fn open(names: &Names) -> Result<Objects, BoxError> {
    Ok(Objects {
        value: SharedMutex::open(names.value.as_str())?,
        go: NamedEvent::open(names.go.as_str())?,
        produced: NamedEvent::open(names.produced.as_str())?,
        seen: NamedEvent::open(names.seen.as_str())?,
    })
}

/// Main's part, once the producer and consumer run: waits for each report (the first
/// for up to `first_wait`), and at [`LIMIT`] stores -1 and wakes both. Returns the last
/// value reached.
pub fn run_main(objects: &Objects, first_wait: Duration) -> Result<i32, BoxError> {
    let mut patience = first_wait;
    loop {
        objects.seen.wait_timeout(patience)?;
        patience = PATIENCE;
        let mut value = objects.value.lock()?;
        if *value >= LIMIT {
            let last = *value;
            *value = -1;
            drop(value);
            objects.produced.set()?;
            objects.go.set()?;
            return Ok(last);
        }
        drop(value);
        objects.go.set()?;
    }
}

/// The producer: counts up, one value per turn, until it finds -1.
pub fn run_producer(names: &Names) -> Result<u32, BoxError> {
    let objects = open(names)?;
    let mut made = 0;
    loop {
        objects.go.wait_timeout(PATIENCE)?;
        let mut value = objects.value.lock()?;
        if *value == -1 {
            return Ok(made);
        }
        *value += 1;
        made += 1;
        drop(value);
        objects.produced.set()?;
    }
}

/// The consumer: reports each value it sees on `out`, until it finds -1.
pub fn run_consumer(names: &Names, out: &mut dyn Write) -> Result<u32, BoxError> {
    let objects = open(names)?;
    let mut seen = 0;
    loop {
        objects.produced.wait_timeout(PATIENCE)?;
        let value = *objects.value.lock()?;
        if value == -1 {
            return Ok(seen);
        }
        writeln!(out, "consumer: {value}")?;
        seen += 1;
        objects.seen.set()?;
    }
}
