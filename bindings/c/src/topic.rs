//! Topics: `filemap_publisher` and `filemap_subscriber`, one publisher to many subscriber
//! processes, every message to every subscriber. A subscriber's receive copies the message
//! into the subscriber's own buffer (a message in a topic's ring may be overwritten under
//! `drop_oldest` while a slow reader reads it, so it is not handed out in place). A
//! publisher or subscriber handle is used by one thread at a time.

use std::ffi::{c_char, c_void};

use filemap_core::topic::{Publisher, SlowSubscribers, Subscriber, TopicOptions};

use crate::error::{Failure, put_optional, run, str_arg, timeout_arg};
use crate::error::{bytes_arg, check_data, check_out, data_out, filemap_status, put};
use crate::handle::{free, handle, handle_type, new_handle};

/// A topic's settings when a call makes it (an existing topic keeps its own); 0 in a field
/// means its default. Pass NULL for all the defaults, or set every field (start from
/// `filemap_topic_config config = {0};`): each is read.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct filemap_topic_config {
    /// The ring's size in bytes (default 64 KiB; rounded up to a power of two, at least
    /// 4096; at most 1 TiB): it holds messages of up to its size less a 32-byte frame
    /// header.
    pub capacity: u64,
    /// How many subscribers may be connected at once (default 8; at most 128).
    pub max_subscribers: u32,
    /// How many of the last messages a subscriber that joins late receives first (0; at
    /// most 2^20). A setting past a limit is `FILEMAP_INVALID_ARGUMENT`.
    pub history: u32,
    /// Nonzero: the publisher never waits; a subscriber that falls behind misses the
    /// oldest messages and is told how many (`FILEMAP_LAGGED`). Zero (the default): the
    /// publisher waits for the slowest live subscriber.
    pub drop_oldest: i32,
}

/// The topic options of a config (NULL: the defaults).
///
/// # Safety
/// `config` is NULL or points to a `filemap_topic_config`.
unsafe fn options(config: *const filemap_topic_config) -> TopicOptions {
    let c = if config.is_null() {
        filemap_topic_config::default()
    } else {
        // SAFETY: the caller's contract (read byte-wise: it may be misaligned).
        unsafe { config.read_unaligned() }
    };
    let mut o = TopicOptions::new();
    if c.capacity != 0 {
        o = o.capacity(c.capacity);
    }
    if c.max_subscribers != 0 {
        o = o.max_subscribers(c.max_subscribers);
    }
    if c.drop_oldest != 0 {
        o = o.slow_subscribers(SlowSubscribers::DropOldest);
    }
    o.history(c.history)
}

/// The publishing end of a topic (opaque). One thread at a time (it may pass between
/// threads).
pub struct filemap_publisher(Publisher);
handle_type!(filemap_publisher, movable);

/// A subscriber of a topic (opaque), with the buffer its last received message was copied
/// into. One thread at a time (it may pass between threads).
pub struct filemap_subscriber {
    pub(crate) subscriber: Subscriber,
    message: Vec<u8>,
}
handle_type!(filemap_subscriber, movable);

/// Makes the topic (with `config`, NULL for the defaults) or opens it, as its publisher.
/// `FILEMAP_BUSY` while another publisher lives (a new one takes over from one that closed
/// or died).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn filemap_publisher_create_or_open(
    name: *const c_char,
    config: *const filemap_topic_config,
    out: *mut *mut filemap_publisher,
) -> filemap_status {
    run(|| {
        // SAFETY: the caller's contract for `name`, `config` and `out`.
        let name = unsafe { str_arg(name, "name") }?;
        check_out(out, "out")?;
        let publisher = Publisher::create_or_open(name, &unsafe { options(config) })?;
        let handle = new_handle(filemap_publisher(publisher));
        unsafe { put(out, handle, "out") }
    })
}

/// Publishes `len` bytes at `data` to every connected subscriber, waiting up to
/// `timeout_ms` for room (`FILEMAP_INFINITE`: for ever; a `drop_oldest` topic never
/// waits). As with `memcpy`, nobody may write `data` during the call.
/// Every byte of `data` must have been written: `memset` a struct before filling it in, or
/// its padding reaches the library uninitialised (see "Buffers" in docs/c.md).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn filemap_publish(
    publisher: *mut filemap_publisher,
    data: *const c_void,
    len: usize,
    timeout_ms: i64,
) -> filemap_status {
    run(|| {
        // SAFETY: the caller's contract for `publisher`.
        let p = unsafe { handle(publisher, "publisher") }?;
        // SAFETY: the caller's contract for `data` and `len`.
        let message = unsafe { bytes_arg(data, len, "data") }?;
        match timeout_arg(timeout_ms)? {
            None => Ok(p.0.publish(message)?),
            Some(t) => Ok(p.0.publish_timeout(message, t)?),
        }
    })
}

/// Closes a publisher (NULL: nothing): subscribers receive what it published, then
/// `FILEMAP_DISCONNECTED`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn filemap_publisher_close(publisher: *mut filemap_publisher) {
    // SAFETY: NULL or a handle from this library, closed once (the caller's contract).
    unsafe { free(publisher) }
}

/// Makes the topic (with `config`, NULL for the defaults) or opens it, as a new
/// subscriber, which receives the messages published from now on (after the topic's
/// history). `FILEMAP_BUSY` if every subscriber slot is taken by a live subscriber.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn filemap_subscriber_create_or_open(
    name: *const c_char,
    config: *const filemap_topic_config,
    out: *mut *mut filemap_subscriber,
) -> filemap_status {
    run(|| {
        // SAFETY: the caller's contract for `name`, `config` and `out`.
        let name = unsafe { str_arg(name, "name") }?;
        check_out(out, "out")?;
        let subscriber = Subscriber::create_or_open(name, &unsafe { options(config) })?;
        let handle = new_handle(filemap_subscriber {
            subscriber,
            message: Vec::new(),
        });
        unsafe { put(out, handle, "out") }
    })
}

/// Receives the next message, waiting up to `timeout_ms` (`FILEMAP_INFINITE`: for ever):
/// `*data` and `*len` give a copy of it, valid until the next receive or
/// `filemap_subscriber_close` on this subscriber; `*seq` (if not NULL) its sequence number
/// in the topic. `FILEMAP_LAGGED` (only on `drop_oldest` topics) when messages were
/// overwritten before this subscriber read them: `*missed` (if not NULL; 0 after a message,
/// left alone on other failures) says how many,
/// and the next receive goes on at the oldest one still there. `FILEMAP_DISCONNECTED` once
/// the publisher is gone and every message it published was received.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn filemap_subscriber_recv(
    subscriber: *mut filemap_subscriber,
    timeout_ms: i64,
    data: *mut *const c_void,
    len: *mut usize,
    seq: *mut u64,
    missed: *mut u64,
) -> filemap_status {
    run(|| {
        // SAFETY: the caller's contract for `subscriber`.
        let s = unsafe { handle(subscriber, "subscriber") }?;
        check_data(data, len)?;
        let received = match timeout_arg(timeout_ms)? {
            None => s.subscriber.recv(),
            Some(t) => s.subscriber.recv_timeout(t),
        };
        let lagged = |e: filemap_core::Error| {
            if let filemap_core::Error::Lagged { missed: n, .. } = &e {
                // SAFETY: NULL or valid for a write (the caller's contract).
                unsafe { put_optional(missed, *n) };
            }
            Failure::from(e)
        };
        let sample = received.map_err(lagged)?;
        s.message.clear();
        // The copy too reports a lag: the publisher may write over the message meanwhile.
        sample.append_to(&mut s.message).map_err(lagged)?;
        let number = sample.seq();
        // SAFETY: `data` and `len` checked non-NULL; all valid for writes by the caller's
        // contract.
        unsafe {
            put_optional(seq, number);
            put_optional(missed, 0);
            put(data, data_out(&s.message), "data")?;
            put(len, s.message.len(), "len")
        }
    })
}

/// Closes a subscriber (NULL: nothing); its slot is free for another.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn filemap_subscriber_close(subscriber: *mut filemap_subscriber) {
    // SAFETY: NULL or a handle from this library, closed once (the caller's contract).
    unsafe { free(subscriber) }
}
