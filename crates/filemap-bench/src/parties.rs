//! Many parties, the peers' side, measured the way the harness measures filemap's inboxes
//! ([`filemap_harness::inbox_throughput`]) and services
//! ([`filemap_harness::interleaved::service_and_channel`]):
//!
//! - many senders to one receiver: iceoryx2 publish-subscribe with several publishers and
//!   one subscriber, and a Unix datagram socket that several sockets send to; messages of
//!   64 B per second, counted by [`message_rate`] until a [`StopFlag`];
//! - request and response: iceoryx2 request-response (ipc service, zero-copy loans) and a
//!   Unix stream socket, one client (this process) and a server process that echoes each
//!   request, timed by [`request_round_trips`].

use std::io::{Read, Write};
use std::os::unix::net::{UnixDatagram, UnixListener};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Instant;

use filemap_harness::{
    Latency, MANY_PARTIES_MESSAGE, StopFlag, message_rate, partner, pin_to, request_round_trips,
    stop_senders, subscriber_cpu_arg, unique,
};
use iceoryx2::port::client::Client;
use iceoryx2::port::publisher::Publisher;
use iceoryx2::prelude::*;
use iceoryx2::service::port_factory::publish_subscribe::PortFactory as PubSub;
use iceoryx2::service::port_factory::request_response::PortFactory as ReqRes;

use crate::messages::{Ipc, SILENCE, next_sample, node};
use crate::{Result, arg, err, finish, read_line, say};

/// Samples an iceoryx2 subscriber keeps per publisher in the many-to-one rows: about what
/// filemap's 64 KiB ring per sender holds of 64 B messages.
pub const ICEORYX2_BUFFER: usize = 1024;

/// The many-to-one service: byte slices from `publishers` publishers to one subscriber,
/// lossless (a publisher waits for room, as filemap's senders and the socket's do); every
/// process opens it with the same settings.
fn many_to_one(node: &Node<Ipc>, name: &str, publishers: usize) -> Result<PubSub<Ipc, [u8], ()>> {
    node.service_builder(&name.try_into().map_err(err)?)
        .publish_subscribe::<[u8]>()
        .max_publishers(publishers)
        .max_subscribers(1)
        .max_nodes(publishers + 1)
        .history_size(0)
        .subscriber_max_buffer_size(ICEORYX2_BUFFER)
        .enable_safe_overflow(false)
        .open_or_create()
        .map_err(err)
}

/// Starts `senders` sender processes in `role` (their arguments: `args`, the stop flag's
/// name and their CPU) and waits until each has said it is ready.
fn start_senders(
    role: &str,
    args: &[&str],
    stop: &StopFlag,
    senders: usize,
) -> Result<Vec<std::process::Child>> {
    let mut children = Vec::with_capacity(senders);
    for k in 0..senders {
        let cpu = subscriber_cpu_arg(k);
        let mut all = vec![role];
        all.extend_from_slice(args);
        all.extend_from_slice(&[stop.name(), &cpu]);
        children.push(partner(&all)?);
    }
    for child in &mut children {
        read_line(child)?; // its port or socket exists
    }
    Ok(children)
}

/// iceoryx2, `senders` publisher processes to one subscriber (this process): messages of
/// [`MANY_PARTIES_MESSAGE`] bytes per second. Each publisher loans a sample, copies the
/// message in and sends it, as fast as it can, waiting for room when the subscriber's
/// buffer is full (`RetryUntilDelivered`: it yields, then sleeps); the subscriber polls and
/// copies each payload out.
pub fn iceoryx2_many_to_one(senders: usize) -> Result<f64> {
    static ROW: AtomicU32 = AtomicU32::new(0);
    let node = node()?;
    let name = unique(&format!(
        "iox-many{}-{senders}",
        ROW.fetch_add(1, Ordering::Relaxed)
    ));
    let service = many_to_one(&node, &name, senders)?;
    let subscriber = service.subscriber_builder().create().map_err(err)?;
    let stop = StopFlag::create(&format!("{name}-stop"))?;
    let children = start_senders(
        "iceoryx2-sender",
        &[&name, &senders.to_string()],
        &stop,
        senders,
    )?;
    let mut buf = [0u8; MANY_PARTIES_MESSAGE];
    let r = message_rate(|| {
        let sample = next_sample(&subscriber)?;
        buf.copy_from_slice(sample.payload());
        Ok(())
    });
    stop_senders(&stop, children, || {
        subscriber.receive().map_err(err)?;
        Ok(())
    })?;
    r
}

/// A Unix datagram socket bound in a directory of its own, for `senders` sender processes
/// that connect to it.
struct DatagramReceiver {
    socket: UnixDatagram,
    dir: std::path::PathBuf,
}

impl Drop for DatagramReceiver {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A Unix datagram socket, `senders` sender processes to one bound receiver socket (this
/// process): messages of [`MANY_PARTIES_MESSAGE`] bytes per second. Each sender `send`s on
/// its socket connected to the receiver's path (blocking while the receiver's queue is
/// full); the receiver `recv`s each into its buffer.
pub fn unix_datagram_many_to_one(senders: usize) -> Result<f64> {
    let dir = std::env::temp_dir().join(unique(&format!("dgram-{senders}")));
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("r");
    let receiver = DatagramReceiver {
        socket: UnixDatagram::bind(&path)?,
        dir,
    };
    receiver.socket.set_read_timeout(Some(SILENCE))?;
    let stop = StopFlag::create(&unique(&format!("dgram-{senders}-stop")))?;
    let path = path.to_str().ok_or_else(|| err("temp dir not UTF-8"))?;
    let children = start_senders("datagram-sender", &[path], &stop, senders)?;
    let mut buf = [0u8; MANY_PARTIES_MESSAGE];
    let r = message_rate(|| {
        if receiver.socket.recv(&mut buf)? != MANY_PARTIES_MESSAGE {
            return Err(err("a datagram of another size"));
        }
        Ok(())
    });
    receiver.socket.set_nonblocking(true)?;
    stop_senders(&stop, children, || match receiver.socket.recv(&mut buf) {
        Err(e) if e.kind() != std::io::ErrorKind::WouldBlock => Err(e.into()),
        _ => Ok(()),
    })?;
    r
}

/// A request-response service of byte slices each way.
type BytesService = ReqRes<Ipc, [u8], (), [u8], ()>;

/// The request-response service: byte slices each way, one client and one server, one
/// request in flight; both processes open it with the same settings.
fn request_response(node: &Node<Ipc>, name: &str) -> Result<BytesService> {
    node.service_builder(&name.try_into().map_err(err)?)
        .request_response::<[u8], [u8]>()
        .max_clients(1)
        .max_servers(1)
        .max_nodes(2)
        .open_or_create()
        .map_err(err)
}

/// Sends a request of `message`'s bytes (copied into a loaned request) and busy-polls for
/// its response, for at most `patience`; copies the response's payload into `reply`, or
/// returns `false` if none came (the server was not connected yet).
fn call(
    client: &Client<Ipc, [u8], (), [u8], ()>,
    message: &[u8],
    reply: &mut [u8],
    patience: std::time::Duration,
) -> Result<bool> {
    let request = client.loan_slice_uninit(message.len()).map_err(err)?;
    let pending = request.write_from_slice(message).send().map_err(err)?;
    let mut polls = 0u32;
    let mut since: Option<Instant> = None;
    loop {
        if let Some(response) = pending.receive().map_err(err)? {
            let payload = response.payload();
            if payload.len() != reply.len() {
                return Err(err("the server returned a response of another size"));
            }
            reply.copy_from_slice(payload);
            return Ok(true);
        }
        std::hint::spin_loop();
        polls = polls.wrapping_add(1);
        if polls & 0xfff == 0 && since.get_or_insert_with(Instant::now).elapsed() > patience {
            return Ok(false);
        }
    }
}

/// iceoryx2 request-response, one client (this process) and a server process that echoes
/// each request: the round trip of a request of `size` bytes until the client has copied
/// the response out. The client loans a request, copies the message in and sends it, then
/// polls its pending response; the server polls for requests and copies each request's
/// payload into a loaned response. Both poll (iceoryx2 has no blocking receive).
pub fn iceoryx2_round_trip(size: usize) -> Result<Latency> {
    let node = node()?;
    let name = unique("iox-rr");
    let service = request_response(&node, &name)?;
    let client = service
        .client_builder()
        .initial_max_slice_len(size.max(1))
        .allocation_strategy(AllocationStrategy::Static)
        .create()
        .map_err(err)?;
    let mut child = partner(&["iceoryx2-server", &name, &size.to_string()])?;
    read_line(&mut child)?; // its server port exists
    let message = vec![7u8; size];
    let mut reply = vec![0u8; size];
    // Until the ports have connected, a request can reach no server, or its response no
    // client: ask again.
    let deadline = Instant::now() + SILENCE;
    while !call(
        &client,
        &message,
        &mut reply,
        std::time::Duration::from_millis(20),
    )? {
        if Instant::now() > deadline {
            return Err(err("iceoryx2: the server never answered"));
        }
    }
    let r = request_round_trips(size, || {
        if call(&client, &message, &mut reply, SILENCE)? {
            Ok(())
        } else {
            Err(err("iceoryx2: no response for 30 s"))
        }
    });
    // The end: an empty request, which the server does not answer.
    let request = client.loan_slice_uninit(0).map_err(err)?;
    drop(request.write_from_slice(&[]).send().map_err(err)?);
    finish(child)?;
    r
}

/// A Unix stream socket, one client (this process) and a server process (the harness's
/// `socket-echo` role, section 1's partner): the round trip of a request of `size` bytes
/// (`write_all`) until the client has read the response (`read_exact`); the server reads
/// each request into its buffer and writes it back.
pub fn unix_socket_round_trip(size: usize) -> Result<Latency> {
    let dir = std::env::temp_dir().join(unique("stream"));
    std::fs::create_dir_all(&dir)?;
    let r = (|| {
        let path = dir.join("s");
        let listener = UnixListener::bind(&path)?;
        let path = path.to_str().ok_or_else(|| err("temp dir not UTF-8"))?;
        let mut child = partner(&["socket-echo", path, &size.to_string()])?;
        let (mut stream, _) = listener.accept()?;
        stream.set_read_timeout(Some(SILENCE))?;
        let message = vec![7u8; size];
        let mut reply = vec![0u8; size];
        let r = request_round_trips(size, || {
            stream.write_all(&message)?;
            stream.read_exact(&mut reply)?;
            Ok(())
        });
        drop(stream); // the server's read fails and it exits
        child.wait()?;
        r
    })();
    let _ = std::fs::remove_dir_all(&dir);
    r
}

/// The partner roles of this module.
pub fn partner_role(role: &str, args: &[String]) -> Option<Result<()>> {
    let r = match role {
        "iceoryx2-sender" => iceoryx2_sender(args),
        "datagram-sender" => datagram_sender(args),
        "iceoryx2-server" => iceoryx2_server(args),
        _ => return None,
    };
    Some(r)
}

/// Pins a sender process to the CPU its last argument names (`-`: not pinned).
fn pin_sender(args: &[String]) -> Result<()> {
    if let Ok(cpu) = args.last().map(String::as_str).unwrap_or("-").parse() {
        pin_to(cpu);
    }
    Ok(())
}

/// A publisher of [`iceoryx2_many_to_one`]: `<service> <publishers> <stop> <cpu>`.
fn iceoryx2_sender(args: &[String]) -> Result<()> {
    pin_sender(args)?;
    let publishers: usize = arg(args, 2)?.parse().map_err(err)?;
    let stop = StopFlag::open(arg(args, 3)?)?;
    let node = node()?;
    let service = many_to_one(&node, arg(args, 1)?, publishers)?;
    let publisher: Publisher<Ipc, [u8], ()> = service
        .publisher_builder()
        .initial_max_slice_len(MANY_PARTIES_MESSAGE)
        .allocation_strategy(AllocationStrategy::Static)
        .backpressure_strategy(BackpressureStrategy::RetryUntilDelivered)
        .create()
        .map_err(err)?;
    say("ready")?;
    let message = [5u8; MANY_PARTIES_MESSAGE];
    while !stop.raised() {
        let sample = publisher
            .loan_slice_uninit(MANY_PARTIES_MESSAGE)
            .map_err(err)?;
        sample.write_from_slice(&message).send().map_err(err)?;
    }
    Ok(())
}

/// A sender of [`unix_datagram_many_to_one`]: `<path> <stop> <cpu>`.
fn datagram_sender(args: &[String]) -> Result<()> {
    pin_sender(args)?;
    let stop = StopFlag::open(arg(args, 2)?)?;
    let socket = UnixDatagram::unbound()?;
    socket.connect(arg(args, 1)?)?;
    say("ready")?;
    let message = [5u8; MANY_PARTIES_MESSAGE];
    while !stop.raised() {
        socket.send(&message)?;
    }
    Ok(())
}

/// The server of [`iceoryx2_round_trip`]: `<service> <size>`; answers each request with its
/// payload until an empty request.
fn iceoryx2_server(args: &[String]) -> Result<()> {
    let size: usize = arg(args, 2)?.parse().map_err(err)?;
    let node = node()?;
    let service = request_response(&node, arg(args, 1)?)?;
    let server = service
        .server_builder()
        .initial_max_slice_len(size.max(1))
        .allocation_strategy(AllocationStrategy::Static)
        .create()
        .map_err(err)?;
    say("ready")?;
    let mut polls = 0u32;
    let mut since: Option<Instant> = None;
    loop {
        let Some(request) = server.receive().map_err(err)? else {
            std::hint::spin_loop();
            polls = polls.wrapping_add(1);
            if polls & 0xfff == 0 && since.get_or_insert_with(Instant::now).elapsed() > SILENCE {
                return Err(err("iceoryx2: no request for 30 s (the client is gone)"));
            }
            continue;
        };
        since = None;
        let payload = request.payload();
        if payload.is_empty() {
            return Ok(());
        }
        let response = request.loan_slice_uninit(payload.len()).map_err(err)?;
        response.write_from_slice(payload).send().map_err(err)?;
    }
}
