//! A service's round trip and the channel's ping-pong measured together: one partner process
//! serves both, and the measuring process alternates between them in blocks, so that both
//! are measured at the same moments, on the same two cores. On a virtual machine whose two
//! cores are sometimes hyperthreads of one physical core and sometimes not, two rows
//! measured one after the other can see different machines, and their ratio says more about
//! that than about the two systems.
//!
//! The channel is measured two ways: as section 1 of the report measures it (the partner
//! copies each message into its echo, the measuring side only receives the echo), and with
//! the measuring side also copying the echo out, which is what the service's client does
//! with each response: then both round trips copy the same bytes across the same cores.

use std::time::{Duration, Instant};

use filemap::channel::{Receiver, Sender, WaitMode};
use filemap::service::{Client, Server, ServiceOptions};

use crate::measure::{Latency, round_trip_counts, scaled_percentiles as percentiles};
use crate::process::{partner, unique};
use crate::{Result, err};

/// How many round trips of one system are made before switching to the other.
pub const BLOCK: usize = 500;

/// The partner role of [`service_and_channel`].
pub const ROLE: &str = "service-and-channel-echo";

/// What [`service_and_channel`] measured: the service's round trip and the channel's
/// one-way latency (half its round trip), two ways.
#[derive(Clone, Copy, Debug)]
pub struct Measured {
    /// A request and its response, until the client has copied the response out.
    pub service: Latency,
    /// Section 1's one-way latency: the partner copies each message into its echo; the
    /// echo is received and not read.
    pub channel: Latency,
    /// The same, the echo also copied out (as the client copies each response out).
    pub channel_copied_out: Latency,
}

/// A service's round trip (a request of `size` bytes and its response, until the client
/// has copied the response out) and the channel's one-way latency (half a ping-pong's
/// round trip in blocking mode, both ways of [`Measured`]), measured in alternating blocks
/// of [`BLOCK`] round trips against one partner process that serves both.
///
/// Both systems wait in the channel's default mode (spin briefly, then sleep). A block
/// switches over with an empty request (answered with an empty response) or an empty
/// message (echoed), which are not timed.
pub fn service_and_channel(size: usize) -> Result<Measured> {
    let (service, there, back) = (
        unique("interleaved-service"),
        unique("interleaved-there"),
        unique("interleaved-back"),
    );
    let client = Client::create_or_open(service.as_str(), &ServiceOptions::new().clients(1))?;
    let capacity = (size as u64 * 4).max(1 << 16);
    let mut tx = Sender::create_or_open(there.as_str(), capacity)?;
    let mut rx = Receiver::create_or_open(back.as_str(), capacity)?;
    tx.set_wait_mode(WaitMode::Blocking);
    rx.set_wait_mode(WaitMode::Blocking);
    let mut child = partner(&[ROLE, &service, &there, &back])?;
    let mut ends = Ends {
        client,
        tx,
        rx,
        message: vec![7u8; size],
        reply: vec![0u8; size],
    };
    let r = ends.measure(size);
    // The partner is serving the channel now: it sees it disconnected, and exits.
    drop(ends);
    let status = child.wait()?;
    if r.is_ok() && !status.success() {
        return Err(err(format!("the partner process failed ({status})")));
    }
    r
}

/// The measuring process's ends of both systems, and its buffers.
struct Ends {
    client: Client,
    tx: Sender,
    rx: Receiver,
    message: Vec<u8>,
    reply: Vec<u8>,
}

impl Ends {
    /// Warm-up trips of both, then blocks of each in turn (the channel's two ways
    /// alternating within its blocks); ends with the partner serving the channel.
    fn measure(&mut self, size: usize) -> Result<Measured> {
        let (untimed, timed) = round_trip_counts(size);
        let mut service = Vec::with_capacity(timed);
        let mut channel = [Vec::with_capacity(timed), Vec::with_capacity(timed)];
        for _ in 0..untimed {
            self.service_trip()?;
        }
        self.switch_to_channel()?;
        for _ in 0..untimed {
            self.channel_trip(false)?;
        }
        while service.len() < timed {
            self.switch_to_service()?;
            let block = BLOCK.min(timed - service.len());
            for _ in 0..block {
                service.push(self.service_trip()?);
            }
            self.switch_to_channel()?;
            for trip in 0..2 * block {
                let copy_out = trip % 2 == 1;
                channel[usize::from(copy_out)].push(self.channel_trip(copy_out)?);
            }
        }
        let [channel, channel_copied_out] = channel;
        Ok(Measured {
            service: percentiles(service, 1.0),
            channel: percentiles(channel, 0.5),
            channel_copied_out: percentiles(channel_copied_out, 0.5),
        })
    }

    fn service_trip(&mut self) -> Result<Duration> {
        let start = Instant::now();
        self.client.send_request(&self.message)?;
        let response = self.client.recv_response()?;
        if response.len() != self.message.len() {
            return Err(err("the server returned a response of another size"));
        }
        response.read_at(0, &mut self.reply)?;
        Ok(start.elapsed())
    }

    /// One ping-pong; `copy_out`: the echo is copied out too.
    fn channel_trip(&mut self, copy_out: bool) -> Result<Duration> {
        let start = Instant::now();
        let mut slot = self.tx.reserve(self.message.len())?;
        slot.copy_from_slice(&self.message)?;
        slot.commit();
        let reply = self.rx.recv()?;
        if reply.len() != self.message.len() {
            return Err(err("the echo returned a message of another size"));
        }
        if copy_out {
            reply.read_at(0, &mut self.reply)?;
        }
        Ok(start.elapsed())
    }

    /// Tells the partner (serving the service) to serve the channel next.
    fn switch_to_channel(&mut self) -> Result<()> {
        self.client.send_request(&[])?;
        match self.client.recv_response()?.len() {
            0 => Ok(()),
            _ => Err(err("the server answered the switch with a payload")),
        }
    }

    /// Tells the partner (serving the channel) to serve the service next.
    fn switch_to_service(&mut self) -> Result<()> {
        self.tx.send(&[])?;
        match self.rx.recv()?.len() {
            0 => Ok(()),
            _ => Err(err("the echo answered the switch with a payload")),
        }
    }
}

/// The partner's side: serves the service (`args[1]`: each request's payload is its
/// response) until an empty request, then echoes the channel (`args[2]` in, `args[3]`
/// back) until an empty message, and so on, until the channel's sender is gone.
pub(crate) fn serve_both(args: &[String]) -> Result<()> {
    let arg = |i: usize| -> Result<&str> {
        args.get(i)
            .map(String::as_str)
            .ok_or_else(|| err("missing partner argument"))
    };
    let mut server = Server::open(arg(1)?)?;
    let mut rx = Receiver::open(arg(2)?)?;
    let mut tx = Sender::open(arg(3)?)?;
    let mut payload = Vec::new();
    loop {
        loop {
            let id = {
                let request = server.recv_request()?;
                payload.resize(request.len(), 0);
                request.read_at(0, &mut payload)?;
                request.id()
            };
            server.respond(id, &payload)?;
            if payload.is_empty() {
                break;
            }
        }
        loop {
            let message = match rx.recv() {
                Ok(m) => m,
                Err(filemap::Error::Disconnected { .. }) => return Ok(()),
                Err(e) => return Err(e.into()),
            };
            let switch = message.is_empty();
            tx.forward(&message)?;
            if switch {
                break;
            }
        }
    }
}
