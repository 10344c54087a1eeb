//! A poll that finds nothing (section 8): what a non-blocking look costs when there is
//! nothing to take, as an event loop that polls many sources pays it on every pass.
//! filemap's `try_` calls (a channel's `try_recv`, a topic subscriber's `try_recv`, a
//! `NamedEvent`'s `try_wait`) against iceoryx2's subscriber `receive` (its only receive: it
//! polls), a Unix socket's `recv` with `MSG_DONTWAIT`, and the floor: one acquire load of a
//! word in shared memory, the least any look at another process's progress can do. All in
//! one process, taking turns in blocks.

use std::os::fd::AsFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use filemap::Mapping;
use filemap::channel::{Receiver, Sender};
use filemap::sync::{EventReset, NamedEvent};
use filemap::topic::{Publisher, Subscriber, TopicOptions};
use filemap_harness::{quick, unique};

use crate::messages::{node, service};
use crate::{Result, err};

/// The rows, in the order [`empty_polls`] measures them.
pub const FLOOR: &str = "floor: one acquire load of a word in shared memory";
pub const CHANNEL: &str = "filemap channel try_recv";
pub const TOPIC: &str = "filemap topic Subscriber::try_recv";
pub const EVENT: &str = "filemap NamedEvent::try_wait";
pub const ICEORYX2: &str = "iceoryx2 Subscriber::receive";
pub const SOCKET: &str = "Unix socket recv (MSG_DONTWAIT)";
pub const SYSTEMS: [&str; 6] = [FLOOR, CHANNEL, TOPIC, EVENT, ICEORYX2, SOCKET];

/// Looks per system: in blocks of a twentieth, the systems taking turns.
pub fn looks() -> u64 {
    if quick() { 20_000 } else { 2_000_000 }
}

/// ns per look that finds nothing, for each of [`SYSTEMS`] in order. Every look's answer
/// is checked: a look that found something would be a broken measurement.
pub fn empty_polls() -> Result<Vec<f64>> {
    const BLOCKS: u64 = 20;
    let per_block = looks() / BLOCKS;
    let words = Mapping::unnamed(4096)?;
    let view = words.view().map()?;
    // SAFETY: bytes 0..8 of this process's own unnamed mapping are reached only as this
    // word, and the mapping is not cut short while the reference lives.
    let word: &AtomicU64 = unsafe { view.atomic_u64(0)? };
    let channel = unique("poll-channel");
    let mut receiver = Receiver::create_or_open(channel.as_str(), 1 << 16)?;
    let _sender = Sender::open(channel.as_str())?;
    let topic = unique("poll-topic");
    let _publisher = Publisher::create_or_open(topic.as_str(), &TopicOptions::new())?;
    let mut subscriber = Subscriber::open(topic.as_str())?;
    let event = NamedEvent::create_new(unique("poll-event").as_str(), EventReset::Auto, false)?;
    let node = node()?;
    let iceoryx2 = service(&node, &unique("iox-poll"), false)?;
    let _iox_publisher = crate::messages::publisher(&iceoryx2, 64, false)?;
    let iox_subscriber = iceoryx2.subscriber_builder().create().map_err(err)?;
    let (socket, _other_end) = std::os::unix::net::UnixStream::pair()?;
    let mut buf = [0u8; 64];
    let mut look = |system: usize| -> Result<bool> {
        Ok(match system {
            0 => word.load(Ordering::Acquire) != 0,
            1 => receiver.try_recv()?.is_some(),
            2 => subscriber.try_recv()?.is_some(),
            3 => event.try_wait()?,
            4 => iox_subscriber.receive().map_err(err)?.is_some(),
            _ => {
                match rustix::net::recv(socket.as_fd(), &mut buf, rustix::net::RecvFlags::DONTWAIT)
                {
                    Err(rustix::io::Errno::AGAIN) => false,
                    Ok(_) => true,
                    Err(e) => return Err(err(format!("recv: {e}"))),
                }
            }
        })
    };
    let mut elapsed = vec![Duration::ZERO; SYSTEMS.len()];
    for _ in 0..BLOCKS {
        for (system, total) in elapsed.iter_mut().enumerate() {
            let start = Instant::now();
            let mut found = false;
            for _ in 0..per_block {
                found |= look(system)?;
            }
            *total += start.elapsed();
            if found {
                return Err(err(format!("{} found something", SYSTEMS[system])));
            }
        }
    }
    Ok(elapsed
        .iter()
        .map(|t| t.as_nanos() as f64 / (per_block * BLOCKS) as f64)
        .collect())
}
