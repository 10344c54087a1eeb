//! Entry points for the fuzz targets in `fuzz/` and for the regression tests that replay
//! their corpora: each takes arbitrary bytes and must return without panicking, hanging or
//! touching memory outside what it was given. Not part of the API (hidden, unstable).
//!
//! What each one stands for is untrusted input filemap reads: a header another process (or
//! a corrupted file) wrote, a name a user typed, a channel's or a topic's shared memory after a
//! process with write access scribbled on it, and a whole entry of any kind made by
//! someone else.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

#[cfg(unix)]
use crate::Scope;
use crate::channel::{Receiver, Sender};
use crate::header::{HEADER_AREA, Header};
#[cfg(target_os = "linux")]
use crate::sync::{NamedEvent, NamedMutex, NamedSemaphore, SharedMutex};
#[cfg(target_os = "linux")]
use crate::{Access, Mapping};
use crate::{Error, Name};

/// Decodes `data[8..]` as a header of an entry whose length is `data[..8]` (little-endian),
/// and checks what a successful decode promises: the data fits in the entry, and encoding
/// the header gives bytes that decode to the same header.
pub fn header(data: &[u8]) {
    let Some((len, bytes)) = data.split_first_chunk::<8>() else {
        return;
    };
    let entry_len = u64::from_le_bytes(*len);
    let bytes = &bytes[..bytes.len().min(HEADER_AREA)];
    for granule in [4096, 65536] {
        let Ok(h) = Header::decode(bytes, entry_len, granule) else {
            continue;
        };
        if let Some(file) = &h.file {
            assert!(!file.path.is_empty() && file.path.len() <= bytes.len());
            assert_eq!(h.data_offset, 0);
        } else {
            assert!(h.data_offset >= HEADER_AREA as u64 && h.data_offset % granule == 0);
            assert!(h.data_offset + h.size <= entry_len);
        }
        let again =
            Header::decode(&h.encode(), entry_len, granule).expect("an encoded header decodes");
        assert_eq!(again, h);
    }
}

/// Parses `data` (if UTF-8) as a name, and checks that a valid name survives the trip to
/// an entry file name and back, and that the file name stays inside the directory.
pub fn name(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(name) = Name::new(text) else {
        return;
    };
    let again = Name::new(&name.to_string()).expect("a name's own text parses");
    assert_eq!(again, name);
    #[cfg(unix)]
    {
        let file_name = name.entry_file_name(1000);
        assert!(!file_name.contains(['/', '\0']) && file_name != "." && file_name != "..");
        let (back, uid) = Name::from_entry_file_name(&file_name).expect("file name parses");
        assert_eq!(back, name);
        assert_eq!(uid.is_some(), name.scope() == Scope::Local);
    }
}

/// Creates a channel, overwrites its shared memory with `data` the way a hostile writer
/// could, then connects a sender and a new receiver and runs a script of non-blocking sends
/// and receives. Every call must end with a message, nothing, or a typed error.
///
/// `data`: a script length `n` (one byte), `n` script bytes (even: send `byte * 16` bytes,
/// odd: receive), then the control words and the ring's bytes as
/// [`Receiver::overwrite_shared_memory`] takes them. Needs a namespace (`FILEMAP_DIR`).
pub fn channel(data: &[u8]) {
    static N: AtomicU64 = AtomicU64::new(0);
    let Some((&n, rest)) = data.split_first() else {
        return;
    };
    let (script, memory) = rest.split_at((n as usize).min(rest.len()));
    let name = format!(
        "fuzz-channel-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    );
    let first = Receiver::create_or_open(name.as_str(), 4096).expect("create a channel");
    // SAFETY: nobody else knows the name, and no slot is borrowed.
    unsafe { first.overwrite_shared_memory(memory) };
    let sender = Sender::open(name.as_str());
    drop(first);
    let receiver = Receiver::open(name.as_str());
    let (Ok(mut tx), Ok(mut rx)) = (sender, receiver) else {
        return; // refused as corrupt (or its peer was): fine
    };
    let mut buf = Vec::new();
    for &op in script {
        let outcome = if op & 1 == 0 {
            let message = vec![op; ((op as usize) << 4).min(tx.max_message_len())];
            tx.try_send(&message).map(drop)
        } else {
            match rx.try_recv() {
                Ok(Some(slot)) => {
                    buf.clear();
                    slot.append_to(&mut buf)
                }
                other => other.map(drop),
            }
        };
        match outcome {
            Ok(()) => {}
            Err(Error::Corrupt { .. } | Error::Disconnected { .. }) => return,
            Err(e) => panic!("unexpected error from a corrupt channel: {e:?}"),
        }
    }
    // The waiting calls give up too.
    let _ = rx.recv_timeout(Duration::from_millis(1));
    let _ = tx.send_timeout(&[1; 100], Duration::from_millis(1));
}

/// Creates a topic (`data[0]` picks the slow-subscriber policy), publishes a few messages,
/// overwrites its shared memory with `data[2 + n..]` the way a hostile writer could (see
/// [`Subscriber::overwrite_shared_memory`](crate::topic::Subscriber)), then opens a
/// publisher and two subscribers and runs the script `data[2..2 + n]` (`n = data[1]`): each
/// byte publishes, receives on one subscriber or the other, or makes the second join
/// again. Every call must end with a message, nothing, or a typed error. Needs a namespace
/// (`FILEMAP_DIR`).
pub fn topic(data: &[u8]) {
    use crate::topic::{Publisher, SlowSubscribers, Subscriber, TopicOptions};
    static N: AtomicU64 = AtomicU64::new(0);
    let [policy, n, rest @ ..] = data else {
        return;
    };
    let (script, memory) = rest.split_at((*n as usize).min(rest.len()));
    let name = format!(
        "fuzz-topic-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    );
    let options = TopicOptions::new()
        .capacity(4096)
        .max_subscribers(3)
        .history(2)
        .slow_subscribers(if policy & 1 == 0 {
            SlowSubscribers::Block
        } else {
            SlowSubscribers::DropOldest
        });
    let first = Subscriber::create_or_open(name.as_str(), &options).expect("create a topic");
    if let Ok(mut p) = Publisher::open(name.as_str()) {
        for i in 0..3u8 {
            let _ = p.try_publish(&[i; 40]);
        }
    }
    // SAFETY: nobody else knows the name, and no sample is borrowed.
    unsafe { first.overwrite_shared_memory(memory) };
    let opened = (
        Publisher::open(name.as_str()),
        Subscriber::open(name.as_str()),
        Subscriber::open(name.as_str()),
    );
    drop(first);
    let (Ok(mut publisher), Ok(mut a), Ok(mut b)) = opened else {
        return; // refused as corrupt: fine
    };
    let acceptable = |e: &Error| {
        matches!(
            e,
            Error::Corrupt { .. }
                | Error::Disconnected { .. }
                | Error::Lagged { .. }
                | Error::Timeout { .. }
                | Error::NoFreeSlot { .. }
        )
    };
    let mut buf = Vec::new();
    for &op in script {
        let outcome = match op % 4 {
            0 => {
                let len = ((op as usize) >> 2).min(publisher.max_message_len());
                publisher.try_publish(&vec![op; len]).map(drop)
            }
            1 | 2 => {
                let sub = if op % 4 == 1 { &mut a } else { &mut b };
                match sub.try_recv() {
                    Ok(Some(sample)) => {
                        buf.clear();
                        sample.append_to(&mut buf)
                    }
                    other => other.map(drop),
                }
            }
            _ => Subscriber::open_latest(name.as_str()).map(|s| b = s),
        };
        match outcome {
            Ok(()) => {}
            Err(e) if acceptable(&e) => {}
            Err(e) => panic!("unexpected error from a corrupt topic: {e:?}"),
        }
    }
    // The waiting calls give up too.
    for result in [
        a.recv_timeout(Duration::from_millis(1)).map(drop),
        publisher
            .publish_timeout(&[1; 100], Duration::from_millis(1))
            .map(drop),
    ] {
        if let Err(e) = result {
            assert!(
                acceptable(&e),
                "unexpected error from a corrupt topic: {e:?}"
            );
        }
    }
}

/// Writes `data` as a namespace entry (Linux: a file in `FILEMAP_DIR`), then opens it as
/// every kind of object and uses what opens: a mapping is read through a view, a mutex and
/// a shared value are locked (the value read and written), an event and a semaphore are
/// tried and signalled, a channel's, a topic's, an inbox's and a service's ends try to
/// receive and send. Every call must end with
/// a result or a typed error: never a panic, a crash, a hang or an access outside what is
/// mapped. Needs a namespace (`FILEMAP_DIR`).
#[cfg(target_os = "linux")]
pub fn open_entry(data: &[u8]) {
    use std::os::unix::fs::PermissionsExt;
    static N: AtomicU64 = AtomicU64::new(0);
    let base = format!(
        "fuzz-entry-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    );
    let name = Name::new(&base).expect("a valid name");
    let path =
        crate::sys::namespace_dir_path().join(name.entry_file_name(crate::sys::current_uid()));
    std::fs::write(&path, data).expect("write the entry");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
        .expect("set the entry's permissions");
    let n = base.as_str();
    if let Ok(m) = Mapping::open_with(n, Access::Read) {
        if let Ok(v) = m.view().map() {
            let mut buf = vec![0u8; v.len().min(1 << 16)];
            v.read_at(0, &mut buf).expect("a view reads its own bytes");
        }
    }
    if let Ok(m) = NamedMutex::open(n) {
        let _ = m.try_lock().map(drop);
    }
    if let Ok(e) = NamedEvent::open(n) {
        let _ = e.try_wait();
        let _ = e.set();
        let _ = e.reset();
    }
    if let Ok(s) = NamedSemaphore::open(n) {
        let _ = s.try_acquire();
        let _ = s.release(1);
    }
    if let Ok(v) = SharedMutex::<u64>::open(n) {
        if let Ok(Some(mut g)) = v.try_lock() {
            *g = g.wrapping_add(1);
        }
    }
    if let Ok(v) = SharedMutex::<[u8; 4000]>::open(n) {
        if let Ok(Some(mut g)) = v.try_lock() {
            g[3999] ^= 1;
        }
    }
    if let Ok(mut rx) = Receiver::open(n) {
        let _ = rx.try_recv().map(|slot| slot.map(|s| s.to_vec()));
    }
    if let Ok(mut tx) = Sender::open(n) {
        let _ = tx.try_send(&[7; 100]);
    }
    if let Ok(mut s) = crate::topic::Subscriber::open(n) {
        let _ = s.try_recv().map(|sample| sample.map(|s| s.to_vec()));
    }
    if let Ok(mut p) = crate::topic::Publisher::open(n) {
        let _ = p.try_publish(&[7; 100]);
    }
    if let Ok(mut rx) = crate::inbox::Inbox::open(n) {
        let _ = rx.recv_now().map(|(_, slot)| slot.to_vec());
        let _ = rx.try_recv().map(|m| m.map(|(_, slot)| slot.to_vec()));
    }
    if let Ok(mut tx) = crate::inbox::InboxSender::open(n) {
        let _ = tx.try_send(&[7; 100]);
    }
    if let Ok(mut client) = crate::service::Client::open(n) {
        // (Sending could wait for room that a server never connected to frees.)
        let _ = client.recv_response_now().map(|r| r.to_vec());
        let _ = client.recv_response_timeout(Duration::from_millis(1));
        // A takeover whose recorded position is whatever the entry holds: the client
        // settles it against a pending request.
        let _ = client.send_request_timeout(&[7; 100], Duration::ZERO);
        client.announce_takeover();
        let _ = client.recv_response_timeout(Duration::from_millis(1));
    }
    // (After the client: a server records real takeover positions over the entry's.)
    if let Ok(mut server) = crate::service::Server::open(n) {
        let _ = server.try_recv_request().map(|r| r.map(|r| r.to_vec()));
    }
    let _ = std::fs::remove_file(&path);
}
