//! Publish-subscribe from one publisher to several subscriber processes, the peer's side:
//! iceoryx2 publish-subscribe (ipc service, zero-copy loans), measured the way the harness
//! measures filemap's topics ([`filemap_harness::topic_latency`]): the one-way latency of a
//! message until the last subscriber has copied it out, on a clock all processes share
//! ([`clock_ns`]), one message at a time ([`one_way_rounds`]).

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Instant;

use filemap_harness::{
    ack_bytes, clock_ns, message_round, one_way_rounds, parse_ack, partner, pin_to,
    subscriber_cpu_arg, unique, Latency,
};
use iceoryx2::port::subscriber::Subscriber;
use iceoryx2::prelude::*;
use iceoryx2::service::port_factory::publish_subscribe::PortFactory as PubSub;

use crate::messages::{
    next_sample, node, publish, publish_delivered, publisher, service, Ipc, SILENCE,
};
use crate::{arg, err, finish, read_line, say, Result};

/// The topic: a publish-subscribe service of byte slices for one publisher and
/// `subscribers` subscribers; every process opens it with the same settings. One message
/// is in flight at a time, so the subscribers' buffers (4 samples) never overflow once the
/// measurement runs.
fn topic(node: &Node<Ipc>, name: &str, subscribers: usize) -> Result<PubSub<Ipc, [u8], ()>> {
    node.service_builder(&name.try_into().map_err(err)?)
        .publish_subscribe::<[u8]>()
        .max_publishers(1)
        .max_subscribers(subscribers)
        .history_size(0)
        .subscriber_max_buffer_size(4)
        .enable_safe_overflow(true)
        .open_or_create()
        .map_err(err)
}

/// Polls `acks` until the acknowledgement of `round` arrives (skipping older ones: the
/// connecting round may be acknowledged more than once); the time it carries.
fn ack_of(acks: &Subscriber<Ipc, [u8], ()>, round: u64) -> Result<u64> {
    loop {
        let sample = next_sample(acks)?;
        let (acked, at) = parse_ack(sample.payload())?;
        if acked == round {
            return Ok(at);
        }
        if acked > round {
            return Err(err("iceoryx2: a subscriber acknowledged a later message"));
        }
    }
}

/// Publishes `message` until it reaches `subscribers` subscribers: the publisher connects
/// to subscribers when it sends, and a busy machine can delay a connection.
fn publish_to_all(
    publisher: &iceoryx2::port::publisher::Publisher<Ipc, [u8], ()>,
    message: &[u8],
    subscribers: usize,
) -> Result<()> {
    let deadline = Instant::now() + SILENCE;
    while publish(publisher, message)? < subscribers {
        if Instant::now() > deadline {
            return Err(err("iceoryx2: not every subscriber connected"));
        }
        std::thread::yield_now();
    }
    Ok(())
}

/// iceoryx2, one publisher (this process) to `subscribers` subscriber processes: the
/// one-way latency of a message of `size` bytes (at least 8) until the last subscriber has
/// copied it out. The publisher reads the clock, loans a sample, copies the message in and
/// sends it; each subscriber polls, copies the payload into its own buffer, releases the
/// sample, reads the clock, and publishes that time back on an iceoryx2 service of its own.
/// Subscriber `k` pins itself to [`filemap_harness::subscriber_cpu`]`(k)`.
pub fn iceoryx2_topic_latency(size: usize, subscribers: usize) -> Result<Latency> {
    static ROW: AtomicU32 = AtomicU32::new(0);
    if size < 8 {
        return Err(err("topic rows carry their round number: 8 bytes at least"));
    }
    let node = node()?;
    let name = unique(&format!(
        "iox-topic{}-{subscribers}",
        ROW.fetch_add(1, Ordering::Relaxed)
    ));
    let topic = topic(&node, &name, subscribers)?;
    let publisher = publisher(&topic, size, false)?;
    let mut backs = Vec::with_capacity(subscribers);
    let mut acks = Vec::with_capacity(subscribers);
    let mut children = Vec::with_capacity(subscribers);
    for k in 0..subscribers {
        let back = format!("{name}-ack{k}");
        let service = service(&node, &back, false)?;
        acks.push(service.subscriber_builder().create().map_err(err)?);
        backs.push(service);
        children.push(partner(&[
            "iceoryx2-subscriber",
            &name,
            &back,
            &subscribers.to_string(),
            &subscriber_cpu_arg(k),
        ])?);
    }
    for child in &mut children {
        read_line(child)?; // its ports exist
    }
    let mut message = vec![7u8; size];
    message[..8].copy_from_slice(&0u64.to_le_bytes());
    publish_to_all(&publisher, &message, subscribers)?;
    for a in &acks {
        ack_of(a, 0)?;
    }
    let mut round = 0u64;
    let r = one_way_rounds(size, || {
        round += 1;
        message[..8].copy_from_slice(&round.to_le_bytes());
        let start = clock_ns();
        if publish(&publisher, &message)? != subscribers {
            return Err(err("iceoryx2: a message did not reach every subscriber"));
        }
        let mut last = start;
        for a in &acks {
            last = last.max(ack_of(a, round)?);
        }
        Ok(last - start)
    });
    publish_to_all(&publisher, &[], subscribers)?; // the end
    for child in children {
        finish(child)?;
    }
    r
}

/// The partner roles of this module.
pub fn partner_role(role: &str, args: &[String]) -> Option<Result<()>> {
    match role {
        "iceoryx2-subscriber" => Some(iceoryx2_subscriber(args)),
        _ => None,
    }
}

/// A subscriber of [`iceoryx2_topic_latency`]: pins itself to its core, opens its ports,
/// says so, then acknowledges each message with the time it had copied it out, until an
/// empty message.
fn iceoryx2_subscriber(args: &[String]) -> Result<()> {
    if let Ok(cpu) = arg(args, 4)?.parse() {
        pin_to(cpu);
    }
    let subscribers: usize = arg(args, 3)?.parse().map_err(err)?;
    let node = node()?;
    let topic = topic(&node, arg(args, 1)?, subscribers)?;
    let back = service(&node, arg(args, 2)?, false)?;
    let subscriber = topic.subscriber_builder().create().map_err(err)?;
    let acks = publisher(&back, 16, false)?;
    say("ready")?;
    let mut message = Vec::new();
    loop {
        let sample = next_sample(&subscriber)?;
        if sample.payload().is_empty() {
            return Ok(());
        }
        message.clear();
        message.extend_from_slice(sample.payload());
        drop(sample);
        let at = clock_ns();
        publish_delivered(&acks, &ack_bytes(message_round(&message)?, at))?;
    }
}
