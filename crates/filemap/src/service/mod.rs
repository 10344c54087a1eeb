//! Request and response: a [`Server`] and up to N [`Client`]s (N fixed when the service
//! is made). A client sends requests and receives exactly the responses to its own; a
//! server may answer one request with several responses (a stream), marking the last.
//!
//! ```
//! # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
//! use filemap::service::{Client, Server, ServiceOptions};
//! let mut server = Server::create_or_open("upper", &ServiceOptions::new())?;
//! let mut client = Client::open("upper")?;
//! let asked = client.send_request(b"hello")?;
//! let (id, text) = {
//!     let request = server.recv_request()?;
//!     (request.id(), request.to_vec()?)
//! };
//! server.respond(id, &text.to_ascii_uppercase())?;
//! let response = client.recv_response()?;
//! assert_eq!((response.request(), response.is_last()), (asked, true));
//! assert_eq!(response.to_vec()?, b"HELLO");
//! # Ok::<(), filemap::Error>(())
//! ```
//!
//! **Design.** Each client slot has two channel rings in one entry (`crate::rings`): its
//! requests, which the server receives as an inbox does (in turn over the clients, one
//! doorbell), and its responses, a channel from the server to that client. The rings'
//! frames have two extra header words (frame layout 3): a request's carry its id (the
//! slot's client generation in the high half, a counter in the low), a response's the
//! request's id and its flags (1 = last, 2 = with 1, a failure); the payloads are the user's bytes alone, so a
//! 64-byte request takes as many cache lines as a 64-byte channel message. A client keeps
//! the ids it is waiting on and drops any other response: those to requests it gave up
//! on, and those a server sent to an earlier client of its slot (each new client takes the
//! next generation). A dead client's pending responses are dropped (the server discards
//! a response to it that would have to wait for room: once its ring is full, or at once if
//! another client has taken its slot; one that finds room by the ring's head as the server
//! last read it is written, and the new client of the slot drops it);
//! a client that sees its server dead (no server, or one that died without a successor)
//! fails its pending requests with [`Error::Disconnected`](crate::Error::Disconnected),
//! and a new server takes over the requests still queued: one such request may then be
//! served though its client was told `Disconnected`, so a client that asks again after
//! `Disconnected` must expect a request to be served twice (a server that takes over at
//! once is told apart exactly: see below). A server is never told that clients left: it serves until it is
//! closed, as clients come and go. Endpoint locks: 1 the server's, 2 + i client slot i's.
//!
//! **Takeovers.** A server that dies (or closes) holding requests it took, and is replaced
//! before its clients notice it gone, leaves those requests unanswered: the new server
//! never sees them, as a receiver is never handed a message again. So each server that
//! takes over records, for every slot, how far into the slot's request ring the servers
//! before it had taken (the ring's claim position) and bumps a takeover count, both in
//! the control page (`crate::rings`), as a seqlock: the count is odd while the positions
//! are written. It then rings every client's response doorbell. A client notes where each
//! of its requests ends in its ring; when its wait finds the count changed and its
//! response ring empty (every response of the servers before is then received: they were
//! gone before the count changed, and the count is read first), the pending requests that
//! end at or before its slot's recorded position were taken by a server that is gone
//! and will never be answered: they fail with
//! [`Error::Disconnected`](crate::Error::Disconnected), once, and the others stay pending
//! for the new server. (A server of an older filemap records no
//! takeovers: its clients fall back to seeing a dead server dead.)
//!
//! So after `Disconnected`, [`Client::is_pending`] says which requests are still to be
//! answered, and [`Client::server_alive`] whether a server is there to answer them:
//!
//! ```
//! # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
//! use filemap::service::{Client, Server, ServiceOptions};
//! use filemap::Error;
//! let mut first = Server::create_or_open("takeover-demo", &ServiceOptions::new())?;
//! let mut client = Client::open("takeover-demo")?;
//! let taken = client.send_request(b"one")?;
//! let queued = client.send_request(b"two")?;
//! drop(first.recv_request()?); // the first server takes "one"...
//! drop(first); // ...and goes without answering it
//! let mut second = Server::open("takeover-demo")?; // at once
//! let failed = match client.recv_response() {
//!     Ok(_) => unreachable!("nobody answered yet"),
//!     Err(e) => e,
//! };
//! assert!(matches!(failed, Error::Disconnected { .. }));
//! assert!(!client.is_pending(taken) && client.is_pending(queued));
//! assert!(client.server_alive());
//! let request = second.recv_request()?.id(); // "two", taken over
//! second.respond(request, b"TWO")?;
//! assert_eq!(client.recv_response()?.to_vec()?, b"TWO");
//! # Ok::<(), filemap::Error>(())
//! ```

use crate::channel::endpoint::{Bells, Endpoint};
use crate::channel::ring;
use crate::channel::{RECEIVER_LOCK, Sender};
use crate::error::Result;
use crate::name::{IntoName, Name};
use crate::rings::{MAX_SLOTS, RingSet, Shape, slot_lock};
use crate::sync::ObjectOptions;
use crate::sys;
use crate::vocabulary::{Kind, Side};
use std::sync::atomic::{Ordering, fence};

/// A frame's extra header words: the request's id, and (in a response) the flags.
const ID: u64 = 0;
const FLAGS: u64 = 1;
const LAST: u64 = 1;
/// With `LAST`: the server failed the request, and the payload says why.
const FAILED: u64 = 2;

/// The most client slots a service can have.
///
/// ```
/// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
/// use filemap::service::{Server, ServiceOptions, MAX_CLIENTS};
/// let most = ServiceOptions::new().clients(MAX_CLIENTS).capacity(4096);
/// let _server = Server::create_or_open("doc-service-most", &most)?;
/// assert_eq!(filemap::service::info("doc-service-most")?.slots, 128);
/// let too_many = ServiceOptions::new().clients(MAX_CLIENTS + 1);
/// assert!(matches!(
///     Server::create_or_open("doc-service-too-many", &too_many),
///     Err(filemap::Error::InvalidSetting { .. })
/// ));
/// # Ok::<(), filemap::Error>(())
/// ```
pub const MAX_CLIENTS: u32 = MAX_SLOTS;

/// How a new service is made (an existing one keeps its own).
///
/// ```
/// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
/// use filemap::service::{info, Client, Server, ServiceOptions};
/// let small = ServiceOptions::new().clients(2).capacity(4096);
/// let _server = Server::create_or_open("doc-service-options", &small)?;
/// // The service exists: a client's own options do not change it.
/// let client = Client::create_or_open("doc-service-options", &ServiceOptions::new())?;
/// assert_eq!(info("doc-service-options")?.slots, 2);
/// assert!(client.max_request_len() < 4096);
/// # Ok::<(), filemap::Error>(())
/// ```
#[derive(Clone, Copy, Debug)]
pub struct ServiceOptions {
    clients: u32,
    capacity: u64,
    object: ObjectOptions,
}

impl Default for ServiceOptions {
    fn default() -> Self {
        ServiceOptions::new()
    }
}

impl ServiceOptions {
    /// 8 client slots; 64 KiB rings for each client's requests and responses.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::service::{info, Server, ServiceOptions};
    /// let server = Server::create_or_open("doc-service-defaults", &ServiceOptions::new())?;
    /// assert_eq!(info("doc-service-defaults")?.slots, 8);
    /// assert!(server.max_response_len() > 60_000 && server.max_response_len() < 64 << 10);
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn new() -> ServiceOptions {
        ServiceOptions {
            clients: 8,
            capacity: 64 << 10,
            object: ObjectOptions::new(),
        }
    }

    /// How many clients can be connected at once (1 to [`MAX_CLIENTS`]).
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::service::{Client, ServiceOptions};
    /// let options = ServiceOptions::new().clients(1);
    /// let _only = Client::create_or_open("doc-service-one-client", &options)?;
    /// assert!(matches!(
    ///     Client::open("doc-service-one-client"),
    ///     Err(filemap::Error::NoFreeSlot { slots: 1, .. })
    /// ));
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn clients(mut self, n: u32) -> Self {
        self.clients = n;
        self
    }

    /// The size of each client's request ring and response ring, in bytes (rounded up to a
    /// power of two, at least 4096; 0 or more than 1 TiB is [`Error::InvalidSize`](crate::Error::InvalidSize) when the
    /// service is made).
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::service::{Client, Server, ServiceOptions};
    /// let options = ServiceOptions::new().capacity(8192);
    /// let server = Server::create_or_open("doc-service-capacity", &options)?;
    /// let client = Client::open("doc-service-capacity")?;
    /// assert!(client.max_request_len() < 8192 && client.max_request_len() > 4096);
    /// assert_eq!(server.max_response_len(), client.max_request_len());
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn capacity(mut self, bytes: u64) -> Self {
        self.capacity = bytes;
        self
    }

    /// Permissions and persistence of the service's entry.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::service::{Server, ServiceOptions};
    /// use filemap::sync::ObjectOptions;
    /// let shared = ServiceOptions::new().object_options(ObjectOptions::new().permissions(0o660));
    /// let _server = Server::create_or_open("doc-service-660", &shared)?;
    /// #[cfg(target_os = "linux")]
    /// assert_eq!(filemap::namespace::info("doc-service-660")?.mode, 0o660);
    /// let read_only = ObjectOptions::new().permissions(0o400);
    /// let unusable = ServiceOptions::new().object_options(read_only);
    /// assert!(matches!(
    ///     Server::create_or_open("doc-service-400", &unusable),
    ///     Err(filemap::Error::InvalidPermissions { mode: 0o400 })
    /// ));
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn object_options(mut self, options: ObjectOptions) -> Self {
        self.object = options;
        self
    }
}

/// Which request: its client's slot and the id the client gave it.
///
/// ```
/// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
/// use filemap::service::{Client, Server, ServiceOptions};
/// let mut server = Server::create_or_open("doc-service-request-id", &ServiceOptions::new())?;
/// let mut client = Client::open("doc-service-request-id")?;
/// let asked = client.send_request(b"?")?;
/// let received = server.recv_request()?.id();
/// assert_eq!(received, asked); // the server answers by the id the client holds
/// # Ok::<(), filemap::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RequestId {
    client: u32,
    id: u64,
}

impl RequestId {
    /// The client's slot.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::service::{Client, Server, ServiceOptions};
    /// let mut server = Server::create_or_open("doc-service-id-client", &ServiceOptions::new())?;
    /// let _first = Client::open("doc-service-id-client")?;
    /// let mut second = Client::open("doc-service-id-client")?;
    /// let asked = second.send_request(b"from the second")?;
    /// assert_eq!((asked.client(), second.slot()), (1, 1));
    /// assert_eq!(server.recv_request()?.id().client(), 1); // where to send the response
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn client(&self) -> u32 {
        self.client
    }

    /// The number the client gave the request: unique among its client's last 2^32
    /// requests (the count starts again after that, so a response to a request given up
    /// 2^32 requests earlier, if its server still sends one, is taken for the new one's).
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::service::{Client, ServiceOptions};
    /// let mut client = Client::create_or_open("request-number-demo", &ServiceOptions::new())?;
    /// let first = client.send_request(b"a")?;
    /// let second = client.send_request(b"b")?;
    /// assert_eq!(first.client(), second.client());
    /// assert_ne!(first.number(), second.number());
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn number(&self) -> u64 {
        self.id
    }

    /// The id of client `client`'s request `number`, as [`client`](RequestId::client) and
    /// [`number`](RequestId::number) gave them: for a program that keeps ids outside Rust
    /// (the C library). A response to an id no client is waiting for is dropped by the
    /// client; [`Server::respond`] refuses a slot the service does not have.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::service::{Client, RequestId, ServiceOptions};
    /// let mut client = Client::create_or_open("request-id-demo", &ServiceOptions::new())?;
    /// let id = client.send_request(b"ping")?;
    /// assert_eq!(RequestId::from_parts(id.client(), id.number()), id);
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn from_parts(client: u32, number: u64) -> RequestId {
        RequestId { client, id: number }
    }
}

fn open_rings(name: Name, options: Option<&ServiceOptions>) -> Result<RingSet> {
    let shape = options.map(|o| Shape {
        slots: o.clients,
        capacity: o.capacity,
        object: &o.object,
    });
    // Frames with two extra header words: the request id, and the response flags.
    RingSet::open(
        name,
        Kind::Service,
        2,
        crate::channel::ring::TOPIC_LAYOUT,
        shape,
        "a service's client slots",
    )
}

/// An endpoint over client `i`'s response ring: the server sends (holding lock 1, waiting
/// for room on its own bell), the client receives (lock 2 + i).
fn response_endpoint(rings: &RingSet, i: usize, lock: Option<sys::EndpointLock>) -> Endpoint {
    let index = rings.slots as usize + i;
    let bells = Bells {
        receiver: rings.ring_bell(
            index,
            Side::Receiver,
            sys::Bell::Slot((MAX_SLOTS as usize + i) as u16),
            slot_lock(i),
        ),
        sender: rings.ring_bell(
            index,
            Side::Sender,
            sys::Bell::Slot((2 * MAX_SLOTS as usize + i) as u16),
            RECEIVER_LOCK,
        ),
    };
    rings.endpoint(index, bells, lock)
}

/// For a client of a slot whose response ring the server set aside as damaged, and marked
/// so (its client then takes the server as gone), new or told so already: sets the mark
/// back to connected, so that this client waits for the server, which looks at the ring
/// again before it responds there (and marks it again if it is damaged still). Only that
/// mark: a ring marked closed is a server's that is gone.
fn expect_server_again(responses: &Endpoint) {
    let state = responses.ring.u32_at(ring::SENDER_STATE);
    // (One load on the way of every request: the mark is rare.)
    if state.load(Ordering::Relaxed) != ring::STATE_DAMAGED || responses.inherited() {
        return;
    }
    let _ = state.compare_exchange(
        ring::STATE_DAMAGED,
        ring::STATE_CONNECTED,
        Ordering::AcqRel,
        Ordering::Relaxed,
    );
}

/// Records a takeover by the server that now holds the server's lock: for every slot, how
/// far into its request ring the servers before had taken, between two bumps of the
/// takeover count (odd while the positions are written: a seqlock with one writer, the
/// lock's holder). Then wakes every client that sleeps for a response, to look.
fn record_takeover<'s>(rings: &RingSet, responses: impl Iterator<Item = &'s Sender>) {
    let count = rings.takeovers();
    let writing = count.load(Ordering::Relaxed) | 1;
    count.store(writing, Ordering::Relaxed);
    // The odd count is seen before any position written next (pairs with the fence in
    // `last_takeover`).
    fence(Ordering::Release);
    for i in 0..rings.slots {
        let taken = rings.rings[i as usize].claim().load(Ordering::Acquire);
        rings.takeover_position(i).store(taken, Ordering::Relaxed);
    }
    count.store(writing.wrapping_add(1), Ordering::Release);
    for sender in responses {
        // The wake's fence orders the count's store before its look at the sleepers.
        sender.endpoint().wake(Side::Receiver);
    }
}

/// The takeover count and slot `slot`'s recorded position, if no takeover is being
/// recorded now (`None`: look again later; the writer wakes the clients when it is done).
fn last_takeover(rings: &RingSet, slot: u32) -> Option<(u64, u64)> {
    let count = rings.takeovers();
    let before = count.load(Ordering::Acquire);
    if before & 1 == 1 {
        return None;
    }
    let position = rings.takeover_position(slot).load(Ordering::Relaxed);
    // The position is read before the count is again (pairs with the fence in
    // `record_takeover`: a position written by a later takeover means a changed count).
    fence(Ordering::Acquire);
    (count.load(Ordering::Relaxed) == before).then_some((before, position))
}

/// Whether a server took over since a client last settled at takeover count `seen` (one
/// load, for the waits).
fn replaced_since(rings: &RingSet, seen: u64) -> bool {
    let count = rings.takeovers().load(Ordering::Relaxed);
    count & 1 == 0 && count != seen
}

/// What `filemap info` shows of a service.
///
/// ```
/// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
/// use filemap::service::{info, Client, Server, ServiceInfo, ServiceOptions};
/// let server = Server::create_or_open("doc-service-info", &ServiceOptions::new().clients(4))?;
/// let _first = Client::open("doc-service-info")?;
/// let second = Client::open("doc-service-info")?;
/// drop(second);
/// let expected = ServiceInfo {
///     slots: 4,
///     server_alive: true,
///     clients: vec![0],
///     max_request_len: server.max_response_len(),
/// };
/// assert_eq!(info("doc-service-info")?, expected);
/// # Ok::<(), filemap::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceInfo {
    /// Client slots.
    pub slots: u32,
    /// Whether a live server is connected.
    pub server_alive: bool,
    /// The slots of the live clients.
    pub clients: Vec<u32>,
    /// The longest request one message carries (what a client's
    /// [`max_request_len`](Client::max_request_len) says; slot 0's ring's).
    pub max_request_len: usize,
}

/// Reads what a service looks like now, without taking a role in it.
///
/// ```
/// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
/// use filemap::service::{info, Client, ServiceOptions};
/// let _c = Client::create_or_open("watched-service", &ServiceOptions::new())?;
/// let i = info("watched-service")?;
/// assert_eq!((i.slots, i.server_alive, i.clients), (8, false, vec![0]));
/// assert_eq!(i.max_request_len, _c.max_request_len());
/// # Ok::<(), filemap::Error>(())
/// ```
pub fn info(name: impl IntoName) -> Result<ServiceInfo> {
    let rings = open_rings(name.into_name()?, None)?;
    let (server_alive, clients) = rings.live_endpoints(RECEIVER_LOCK);
    let max_request_len = rings.rings.first().map_or(0, |r| r.max_message() as usize);
    Ok(ServiceInfo {
        slots: rings.slots,
        server_alive,
        clients,
        max_request_len,
    })
}

mod client;
mod pending;
mod server;

pub(crate) use client::ForRoom;
pub use client::{Client, Response};
pub use server::{Request, Server};
