//! Request and response: a [`Server`] and up to N [`Client`]s (N fixed when the service
//! is made). A client sends requests and receives exactly the responses to its own; a
//! server may answer one request with several responses (a stream), marking the last.
//!
//! ```
//! # let _dir = tempfile::tempdir().unwrap(); std::env::set_var("FILEMAP_DIR", _dir.path());
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
//! request's id and its flags (1 = last); the payloads are the user's bytes alone, so a
//! 64-byte request takes as many cache lines as a 64-byte channel message. A client keeps the ids it is waiting on and drops any other response: those to
//! requests it gave up on, and those a server sent to an earlier client of its slot (each
//! new client takes the next generation). A dead client's pending responses are dropped
//! (the server's response to it is discarded once its ring is full); a dead server fails
//! the pending requests of every waiting client with
//! [`Error::Disconnected`], and a new server takes over the
//! requests still queued. A server is never told that clients left: it serves until it is
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
//! and will never be answered: they fail with [`Error::Disconnected`], once, and the
//! others stay pending for the new server. (A server of an older filemap records no
//! takeovers: its clients fall back to seeing a dead server dead.)
//!
//! So after `Disconnected`, [`Client::is_pending`] says which requests are still to be
//! answered, and [`Client::server_alive`] whether a server is there to answer them:
//!
//! ```
//! # let _dir = tempfile::tempdir().unwrap(); std::env::set_var("FILEMAP_DIR", _dir.path());
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

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::time::{Duration, Instant};

use crate::channel::endpoint::{Bells, Endpoint};
use crate::channel::{
    AtPosition, ReadyFrame, Receiver, RecvSlot, Sender, WaitMode, Waited, FAST_SPINS, RECEIVER_LOCK,
};
use crate::error::{Error, Result};
use crate::inbox::{self, Inbox};
use crate::name::{IntoName, Name};
use crate::rings::{slot_lock, RingSet, Shape, MAX_SLOTS};
use crate::sync::ObjectOptions;
use crate::sys;
use crate::vocabulary::{Kind, Side};
use std::sync::atomic::{fence, Ordering};

/// A frame's extra header words: the request's id, and (in a response) the flags.
const ID: u64 = 0;
const FLAGS: u64 = 1;
const LAST: u64 = 1;

/// The most client slots a service can have.
pub const MAX_CLIENTS: u32 = MAX_SLOTS;

/// How a new service is made (an existing one keeps its own).
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
    pub fn new() -> ServiceOptions {
        ServiceOptions {
            clients: 8,
            capacity: 64 << 10,
            object: ObjectOptions::new(),
        }
    }

    /// How many clients can be connected at once (1 to [`MAX_CLIENTS`]).
    pub fn clients(mut self, n: u32) -> Self {
        self.clients = n;
        self
    }

    /// The size of each client's request ring and response ring, in bytes.
    pub fn capacity(mut self, bytes: u64) -> Self {
        self.capacity = bytes;
        self
    }

    /// Permissions and persistence of the service's entry.
    pub fn object_options(mut self, options: ObjectOptions) -> Self {
        self.object = options;
        self
    }
}

/// Which request: its client's slot and the id the client gave it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RequestId {
    client: u32,
    id: u64,
}

impl RequestId {
    /// The client's slot.
    pub fn client(&self) -> u32 {
        self.client
    }

    /// The number the client gave the request (unique among its client's requests).
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); std::env::set_var("FILEMAP_DIR", _dir.path());
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
    /// # let _dir = tempfile::tempdir().unwrap(); std::env::set_var("FILEMAP_DIR", _dir.path());
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

/// Records a takeover by the server that now holds the server's lock: for every slot, how
/// far into its request ring the servers before had taken, between two bumps of the
/// takeover count (odd while the positions are written: a seqlock with one writer, the
/// lock's holder). Then wakes every client that sleeps for a response, to look.
fn record_takeover(rings: &RingSet, responses: &[Sender]) {
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
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceInfo {
    /// Client slots.
    pub slots: u32,
    /// Whether a live server is connected.
    pub server_alive: bool,
    /// The slots of the live clients.
    pub clients: Vec<u32>,
}

/// Reads what a service looks like now, without taking a role in it.
///
/// ```
/// # let _dir = tempfile::tempdir().unwrap(); std::env::set_var("FILEMAP_DIR", _dir.path());
/// use filemap::service::{info, Client, ServiceOptions};
/// let _c = Client::create_or_open("watched-service", &ServiceOptions::new())?;
/// let i = info("watched-service")?;
/// assert_eq!((i.slots, i.server_alive, i.clients), (8, false, vec![0]));
/// # Ok::<(), filemap::Error>(())
/// ```
pub fn info(name: impl IntoName) -> Result<ServiceInfo> {
    let rings = open_rings(name.into_name()?, None)?;
    let (server_alive, clients) = rings.live_endpoints(RECEIVER_LOCK);
    Ok(ServiceInfo {
        slots: rings.slots,
        server_alive,
        clients,
    })
}

/// The serving end of a service: one at a time.
#[derive(Debug)]
pub struct Server {
    /// Declared first, so dropped first: every response ring is marked closed while the
    /// server's lock (in `requests`, dropped last there too) is still held, never on a new
    /// server's.
    responses: Vec<Sender>,
    requests: Inbox,
}

impl Server {
    /// Opens the service `name` as its server, making it with `options` if it does not
    /// exist. One server at a time: [`Error::EndpointTaken`] while another lives.
    pub fn create_or_open(name: impl IntoName, options: &ServiceOptions) -> Result<Server> {
        Server::take(name.into_name()?, Some(options))
    }

    /// Opens an existing service as its server: a new server takes over from one that
    /// closed or died, with the requests still queued.
    pub fn open(name: impl IntoName) -> Result<Server> {
        Server::take(name.into_name()?, None)
    }

    fn take(name: Name, options: Option<&ServiceOptions>) -> Result<Server> {
        let rings = open_rings(name, options)?;
        let Some(lock) = rings.memory.lock_endpoint(RECEIVER_LOCK)? else {
            return Err(Error::EndpointTaken {
                name: rings.name.to_string(),
                endpoint: "server",
            });
        };
        // Clients come and go: the server waits for the next request whatever they do.
        let requests = Inbox::over(&rings, rings.slots, lock, false)?;
        // (If a response ring fails to connect, those connected before are closed before
        // `requests`, which holds the lock, goes.)
        let responses = (0..rings.slots as usize)
            .map(|i| Sender::connect(response_endpoint(&rings, i, None)))
            .collect::<Result<Vec<_>>>()?;
        record_takeover(&rings, &responses);
        Ok(Server {
            requests,
            responses,
        })
    }

    /// The service's name.
    pub fn name(&self) -> &Name {
        self.requests.name()
    }

    /// How many clients are connected and alive now.
    pub fn clients(&self) -> usize {
        self.requests.senders()
    }

    /// Whether a client is connected in the slot of the client that sent request `id`, and
    /// alive (a system call): a response to a client that is gone is dropped, so a server
    /// can stop working on its request. (A new client that took the slot since counts as
    /// connected; it drops the responses meant for its predecessor.)
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); std::env::set_var("FILEMAP_DIR", _dir.path());
    /// use filemap::service::{Client, Server, ServiceOptions};
    /// let mut server = Server::create_or_open("client-alive-demo", &ServiceOptions::new())?;
    /// let mut client = Client::open("client-alive-demo")?;
    /// let id = client.send_request(b"long job")?;
    /// assert!(server.client_alive(id));
    /// drop(client);
    /// assert!(!server.client_alive(id)); // no need to finish the job
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn client_alive(&self, id: RequestId) -> bool {
        self.responses
            .get(id.client as usize)
            .is_some_and(|r| !r.endpoint().peer_gone(Side::Receiver))
    }

    /// The largest response one message carries (a longer answer is streamed in parts).
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); std::env::set_var("FILEMAP_DIR", _dir.path());
    /// use filemap::service::{Server, ServiceOptions};
    /// let server = Server::create_or_open("max-response-demo", &ServiceOptions::new())?;
    /// assert!(server.max_response_len() > 60_000); // a 64 KiB ring by default
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn max_response_len(&self) -> usize {
        self.responses.first().map_or(0, Sender::max_message_len)
    }

    /// How this server waits for requests, and for room in a client's response ring.
    pub fn set_wait_mode(&mut self, mode: WaitMode) {
        self.requests.set_wait_mode(mode);
        for sender in &mut self.responses {
            sender.set_wait_mode(mode);
        }
    }

    /// The next request from any client, waiting for one, however many clients come and
    /// go meanwhile (none may be connected: the wait goes on until one comes and asks).
    pub fn recv_request(&mut self) -> Result<Request<'_>> {
        let (client, slot) = self.requests.recv()?;
        Request::new(client, slot)
    }

    /// The requests' inbox (for a wait on many objects).
    pub(crate) fn requests(&self) -> &Inbox {
        &self.requests
    }

    /// The requests' inbox, to receive from (for the async receive).
    pub(crate) fn requests_mut(&mut self) -> &mut Inbox {
        &mut self.requests
    }

    /// The next request if there is one now.
    pub fn try_recv_request(&mut self) -> Result<Option<Request<'_>>> {
        match self.requests.try_recv()? {
            Some((client, slot)) => Request::new(client, slot).map(Some),
            None => Ok(None),
        }
    }

    /// Like [`recv_request`](Server::recv_request), giving up with [`Error::Timeout`].
    pub fn recv_request_timeout(&mut self, timeout: Duration) -> Result<Request<'_>> {
        let (client, slot) = self.requests.recv_timeout(timeout)?;
        Request::new(client, slot)
    }

    /// Sends the (last) response to `to`. A client that is gone does not get it: the
    /// response is dropped, and this returns `Ok`.
    pub fn respond(&mut self, to: RequestId, payload: &[u8]) -> Result<()> {
        self.send_response(to, payload, LAST)
    }

    /// Sends one response of a stream to `to`: more follow, the last with
    /// [`respond`](Server::respond).
    pub fn respond_part(&mut self, to: RequestId, payload: &[u8]) -> Result<()> {
        self.send_response(to, payload, 0)
    }

    fn send_response(&mut self, to: RequestId, payload: &[u8], flags: u64) -> Result<()> {
        let Some(sender) = self.responses.get_mut(to.client as usize) else {
            return Err(Error::InvalidSetting {
                setting: "a request's client slot",
                value: to.client.into(),
                allowed: "a slot of this service",
            });
        };
        // A client that is gone (its ring full, nobody reading it) does not get it.
        let mut slot = match sender.reserve(payload.len()) {
            Ok(slot) => slot,
            Err(Error::Disconnected { .. }) => return Ok(()),
            Err(e) => return Err(e),
        };
        slot.copy_from_slice(payload)?;
        slot.set_extra(ID, to.id);
        slot.set_extra(FLAGS, flags);
        slot.commit();
        Ok(())
    }
}

/// A request received by the server: its id (for the responses) and its payload, read from
/// the client's ring (through [`RecvSlot`]'s methods). Drop it before responding.
#[derive(Debug)]
pub struct Request<'a> {
    id: RequestId,
    slot: RecvSlot<'a>,
}

impl<'a> Request<'a> {
    pub(crate) fn new(client: u32, slot: RecvSlot<'a>) -> Result<Request<'a>> {
        Ok(Request {
            id: RequestId {
                client,
                id: slot.extra(ID),
            },
            slot,
        })
    }

    /// The request's id, to respond to.
    pub fn id(&self) -> RequestId {
        self.id
    }
}

impl<'a> std::ops::Deref for Request<'a> {
    type Target = RecvSlot<'a>;

    /// The payload, as a received message (`len`, `read_at`, `to_vec`, `append_to`).
    fn deref(&self) -> &RecvSlot<'a> {
        &self.slot
    }
}

/// A client of a service, in a slot of its own.
#[derive(Debug)]
pub struct Client {
    slot: u32,
    /// This client's generation of its slot, the high half of its request ids.
    generation: u64,
    /// Declared before `requests`, so dropped first: the response ring is marked closed
    /// while the slot's lock (in `requests`) is still held, never on a new client's.
    responses: Receiver,
    requests: Sender,
    /// The low half of the next request id.
    counter: u32,
    /// The ids of the requests whose last response has not come yet.
    pending: Pending,
    /// The service's rings (for the takeover record in their control page).
    rings: RingSet,
    /// The takeover count when this client last settled what a takeover failed.
    server_seen: u64,
}

/// A client's pending requests: each id with where its request ends in the request ring.
/// Most clients have one request in flight at a time: it is kept in a field of its own, so
/// a round trip does no hashing at all; the others go in a map.
#[derive(Debug, Default)]
struct Pending {
    one: Option<(u64, u64)>,
    more: HashMap<u64, u64, BuildHasherDefault<IdHasher>>,
}

impl Pending {
    #[inline]
    fn insert(&mut self, id: u64, end: u64) {
        match self.one {
            None if self.more.is_empty() || !self.more.contains_key(&id) => {
                self.one = Some((id, end))
            }
            Some((one, _)) if one == id => self.one = Some((id, end)),
            _ => {
                self.more.insert(id, end);
            }
        }
    }

    #[inline]
    fn contains(&self, id: u64) -> bool {
        self.one.is_some_and(|(one, _)| one == id)
            || (!self.more.is_empty() && self.more.contains_key(&id))
    }

    #[inline]
    fn remove(&mut self, id: u64) {
        if self.one.is_some_and(|(one, _)| one == id) {
            self.one = None;
        } else if !self.more.is_empty() {
            self.more.remove(&id);
        }
    }

    /// Removes the requests that end at or before `position` in the request ring; how
    /// many.
    fn remove_taken(&mut self, position: u64) -> usize {
        let before = self.len();
        if self.one.is_some_and(|(_, end)| end <= position) {
            self.one = None;
        }
        self.more.retain(|_, end| *end > position);
        before - self.len()
    }

    fn len(&self) -> usize {
        usize::from(self.one.is_some()) + self.more.len()
    }

    fn clear(&mut self) {
        self.one = None;
        self.more.clear();
    }
}

/// Hashes a request id (this client's own counter, so no adversary picks the values) with
/// one multiplication: a round trip costs a few hundred nanoseconds, and SipHash's share of
/// that showed.
#[derive(Debug, Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
        }
    }

    fn write_u64(&mut self, id: u64) {
        self.0 = id.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

impl Client {
    /// Takes a free client slot of the service `name`; [`Error::NoFreeSlot`] if every slot
    /// has a live client.
    pub fn open(name: impl IntoName) -> Result<Client> {
        Client::take(name.into_name()?, None)
    }

    /// Like [`open`](Client::open), making the service with `options` if it does not exist
    /// (a client may start before its server).
    pub fn create_or_open(name: impl IntoName, options: &ServiceOptions) -> Result<Client> {
        Client::take(name.into_name()?, Some(options))
    }

    fn take(name: Name, options: Option<&ServiceOptions>) -> Result<Client> {
        let rings = open_rings(name, options)?;
        for i in 0..rings.slots {
            let Some(lock) = rings.memory.lock_endpoint(slot_lock(i as usize))? else {
                continue;
            };
            // A new generation: responses meant for an earlier client of the slot are not
            // this one's.
            let generation = rings
                .slot_word(i)
                .fetch_add(1, std::sync::atomic::Ordering::AcqRel)
                .wrapping_add(1)
                & 0xffff_ffff;
            let requests = Sender::connect(inbox::endpoint(&rings, i as usize, Some(lock)))?;
            let responses = Receiver::connect(response_endpoint(&rings, i as usize, None))?;
            // Takeovers before this client sent anything fail none of its requests.
            let server_seen = rings.takeovers().load(Ordering::Acquire);
            return Ok(Client {
                slot: i,
                generation,
                requests,
                responses,
                counter: 0,
                pending: Pending::default(),
                rings,
                server_seen,
            });
        }
        Err(Error::NoFreeSlot {
            name: rings.name.to_string(),
            slots: rings.slots,
        })
    }

    /// This client's slot.
    pub fn slot(&self) -> u32 {
        self.slot
    }

    /// How this client waits for responses, and for room in its request ring:
    /// [`WaitMode::BusyPoll`] for the lowest latency (with the server busy-polling too),
    /// at the cost of a busy core while it waits.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); std::env::set_var("FILEMAP_DIR", _dir.path());
    /// use filemap::channel::WaitMode;
    /// use filemap::service::{Client, Server, ServiceOptions};
    /// let mut server = Server::create_or_open("fast", &ServiceOptions::new())?;
    /// server.set_wait_mode(WaitMode::BusyPoll);
    /// let mut client = Client::open("fast")?;
    /// client.set_wait_mode(WaitMode::BusyPoll);
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn set_wait_mode(&mut self, mode: WaitMode) {
        self.requests.set_wait_mode(mode);
        self.responses.set_wait_mode(mode);
    }

    /// The largest request the service carries.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); std::env::set_var("FILEMAP_DIR", _dir.path());
    /// use filemap::service::{Client, ServiceOptions};
    /// let mut client = Client::create_or_open("max-request-demo", &ServiceOptions::new())?;
    /// let too_long = vec![0u8; client.max_request_len() + 1];
    /// assert!(matches!(
    ///     client.send_request(&too_long),
    ///     Err(filemap::Error::MessageTooLarge { .. })
    /// ));
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn max_request_len(&self) -> usize {
        self.requests.max_message_len()
    }

    /// How many requests wait for their last response.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Whether request `id` of this client waits for its last response: not answered in
    /// full, not failed (after a receive returned [`Error::Disconnected`], the requests
    /// still pending are those a new server will answer).
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); std::env::set_var("FILEMAP_DIR", _dir.path());
    /// use filemap::service::{Client, Server, ServiceOptions};
    /// let mut server = Server::create_or_open("is-pending-demo", &ServiceOptions::new())?;
    /// let mut client = Client::open("is-pending-demo")?;
    /// let id = client.send_request(b"ping")?;
    /// assert!(client.is_pending(id));
    /// let request = server.recv_request()?.id();
    /// server.respond(request, b"pong")?;
    /// client.recv_response()?;
    /// assert!(!client.is_pending(id));
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn is_pending(&self, id: RequestId) -> bool {
        id.client == self.slot && self.pending.contains(id.id)
    }

    /// Whether a server is connected and alive now (a system call): after
    /// [`Error::Disconnected`], tells a server that is gone from one that took over.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); std::env::set_var("FILEMAP_DIR", _dir.path());
    /// use filemap::service::{Client, Server, ServiceOptions};
    /// let client = Client::create_or_open("server-alive-demo", &ServiceOptions::new())?;
    /// assert!(!client.server_alive());
    /// let server = Server::open("server-alive-demo")?;
    /// assert!(client.server_alive());
    /// drop(server);
    /// assert!(!client.server_alive());
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn server_alive(&self) -> bool {
        self.rings.receiver_alive(RECEIVER_LOCK)
    }

    /// Whether a server took over since this client last settled a takeover (one load).
    pub(crate) fn server_replaced(&self) -> bool {
        replaced_since(&self.rings, self.server_seen)
    }

    /// After a takeover, once every response of the servers before it is received (the
    /// response ring is empty, looked at after the takeover count): fails the pending
    /// requests those servers had taken, which nobody will answer.
    /// [`Error::Disconnected`] if there were any; `Ok` if none, or if responses are still
    /// to be received first, or the takeover is still being recorded (the caller waits
    /// and looks again).
    pub(crate) fn settle_takeover(&mut self) -> Result<()> {
        let Some((count, taken)) = last_takeover(&self.rings, self.slot) else {
            return Ok(());
        };
        if count == self.server_seen || self.responses.message_ready()? {
            return Ok(());
        }
        self.server_seen = count;
        if self.pending.remove_taken(taken) == 0 {
            return Ok(());
        }
        Err(self.responses.endpoint().disconnected())
    }

    /// Sends a request, waiting while the request ring is full; its id.
    pub fn send_request(&mut self, payload: &[u8]) -> Result<RequestId> {
        self.send_request_within(payload, None)
    }

    /// Like [`send_request`](Client::send_request), giving up with [`Error::Timeout`] if
    /// the request ring stays full for `timeout`.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); std::env::set_var("FILEMAP_DIR", _dir.path());
    /// use filemap::service::{Client, ServiceOptions};
    /// use std::time::Duration;
    /// let options = ServiceOptions::new().capacity(4096);
    /// let mut client = Client::create_or_open("send-timeout-demo", &options)?;
    /// let wait = Duration::from_millis(10);
    /// // Nobody serves: the ring fills, and then a request waits in vain.
    /// while client.send_request_timeout(&[0; 1000], wait).is_ok() {}
    /// assert!(matches!(
    ///     client.send_request_timeout(&[0; 1000], wait),
    ///     Err(filemap::Error::Timeout { .. })
    /// ));
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn send_request_timeout(&mut self, payload: &[u8], timeout: Duration) -> Result<RequestId> {
        self.send_request_within(payload, Some(timeout))
    }

    fn send_request_within(
        &mut self,
        payload: &[u8],
        timeout: Option<Duration>,
    ) -> Result<RequestId> {
        let id = self.generation << 32 | u64::from(self.counter);
        let mut slot = match timeout {
            None => self.requests.reserve(payload.len())?,
            Some(t) => self.requests.reserve_timeout(payload.len(), t)?,
        };
        slot.copy_from_slice(payload)?;
        slot.set_extra(ID, id);
        slot.commit();
        self.counter = self.counter.wrapping_add(1);
        self.pending.insert(id, self.requests.position());
        Ok(RequestId {
            client: self.slot,
            id,
        })
    }

    /// The next response to one of this client's pending requests, waiting for it.
    /// [`Error::Disconnected`] if the server is gone: every pending request has failed; or
    /// if a server died (or closed) holding some of them, and a new one took over: those
    /// have failed, and the others stay pending ([`is_pending`](Client::is_pending)).
    pub fn recv_response(&mut self) -> Result<Response<'_>> {
        match self.response_now() {
            Some((id, flags, frame)) => Ok(self.hand_out(id, flags, frame)),
            None => self.recv_until(None, None),
        }
    }

    /// `recv_response`'s fast path: a few looks for a response to a pending request at the
    /// position of the responses' ring; its id, flags and frame. Anything else (a response
    /// to drop, a wrap marker, a frame that does not fit) is left to the slow path.
    #[inline]
    fn response_now(&mut self) -> Option<(u64, u64, ReadyFrame)> {
        for _ in 0..FAST_SPINS {
            match self.responses.at_position() {
                AtPosition::Nothing => std::hint::spin_loop(),
                AtPosition::Message(frame) => {
                    let (id, flags) = self.responses.ready_extras();
                    return self.pending.contains(id).then_some((id, flags, frame));
                }
                AtPosition::Other => return None,
            }
        }
        None
    }

    /// `recv_response`'s fast path alone (for the fuzz targets, which must not wait).
    #[cfg(all(feature = "fuzzing", target_os = "linux"))]
    pub(crate) fn recv_response_now(&mut self) -> Option<Response<'_>> {
        let (id, flags, frame) = self.response_now()?;
        Some(self.hand_out(id, flags, frame))
    }

    /// Bumps the takeover count as a server taking over does, leaving the recorded
    /// positions as they are (for the fuzz targets: a takeover record of arbitrary bytes).
    #[cfg(all(feature = "fuzzing", target_os = "linux"))]
    pub(crate) fn announce_takeover(&self) {
        let count = self.rings.takeovers();
        count.store(
            (count.load(Ordering::Relaxed) | 1).wrapping_add(1),
            Ordering::Release,
        );
    }

    /// Takes the response to pending request `id` that is at the position of the
    /// responses' ring.
    #[inline]
    fn hand_out(&mut self, id: u64, flags: u64, frame: ReadyFrame) -> Response<'_> {
        if flags & LAST != 0 {
            self.pending.remove(id);
        }
        Response {
            request: RequestId {
                client: self.slot,
                id,
            },
            last: flags & LAST != 0,
            slot: self.responses.take_frame(frame),
        }
    }

    /// The ring this client's requests go into.
    pub(crate) fn request_sender(&self) -> &Sender {
        &self.requests
    }

    /// The ring this client's responses come from.
    pub(crate) fn responses(&self) -> &Receiver {
        &self.responses
    }

    /// Forgets every pending request: the server is gone, and they have failed.
    pub(crate) fn fail_pending(&mut self) {
        self.pending.clear();
    }

    /// Whether a response to a pending request is ready, dropping those before it that
    /// are not for one (an earlier client's, or given up on).
    pub(crate) fn pending_response_ready(&mut self) -> Result<bool> {
        while self.responses.message_ready()? {
            let (id, _) = self.responses.ready_extras();
            if self.pending.contains(id) {
                return Ok(true);
            }
            drop(self.responses.take_ready()?);
        }
        Ok(false)
    }

    /// Like [`recv_response`](Client::recv_response), giving up with [`Error::Timeout`].
    pub fn recv_response_timeout(&mut self, timeout: Duration) -> Result<Response<'_>> {
        self.recv_until(sys::deadline_after(timeout), Some(timeout))
    }

    /// Sends a request and waits for all of its responses: their payloads, joined. The
    /// timeout covers it all, the wait for room to send included.
    pub fn call(&mut self, payload: &[u8], timeout: Duration) -> Result<Vec<u8>> {
        let deadline = sys::deadline_after(timeout);
        let asked = self.send_request_timeout(payload, timeout)?;
        let mut answer = Vec::new();
        loop {
            let left = deadline.map_or(timeout, |d| d.saturating_duration_since(Instant::now()));
            let failed = match self.recv_response_timeout(left) {
                Ok(response) => {
                    // A response to an earlier request still pending is not this call's.
                    if response.request() == asked {
                        let last = response.is_last();
                        response.append_to(&mut answer)?;
                        if last {
                            return Ok(answer);
                        }
                    }
                    continue;
                }
                Err(e) => e,
            };
            match failed {
                // Other requests failed in a takeover; this one is still queued.
                Error::Disconnected { .. } if self.pending.contains(asked.id) => {}
                e => return Err(e),
            }
        }
    }

    fn timed_out(&self, timeout: Option<Duration>) -> Error {
        Error::Timeout {
            what: self.responses.endpoint().name.to_string(),
            after: timeout.unwrap_or_default(),
        }
    }

    pub(crate) fn recv_until(
        &mut self,
        deadline: Option<Instant>,
        timeout: Option<Duration>,
    ) -> Result<Response<'_>> {
        let (id, flags) = loop {
            let (rings, seen) = (&self.rings, self.server_seen);
            match self
                .responses
                .wait_message(deadline, || replaced_since(rings, seen))
            {
                Ok(Waited::Ready) => {}
                Ok(Waited::TimedOut) => return Err(self.timed_out(timeout)),
                Ok(Waited::Stopped) => {
                    // A new server: fail what the ones before took, and wait on. (Takeovers
                    // are rare; one that comes again at once is being recorded, or another
                    // process keeps changing the record: the core is given away between
                    // looks, and the deadline kept.)
                    self.settle_takeover()?;
                    if deadline.is_some_and(|d| Instant::now() >= d) {
                        return Err(self.timed_out(timeout));
                    }
                    std::thread::yield_now();
                    continue;
                }
                Err(e @ Error::Disconnected { .. }) => {
                    // The server is gone: every pending request has failed.
                    self.pending.clear();
                    return Err(e);
                }
                Err(e) => return Err(e),
            }
            let (id, flags) = self.responses.ready_extras();
            if self.pending.contains(id) {
                break (id, flags);
            }
            // Not for a pending request of this client (an earlier client's, or one given
            // up on): dropped.
            drop(self.responses.take_ready()?);
        };
        let frame = self.responses.ready_frame()?;
        Ok(self.hand_out(id, flags, frame))
    }
}

/// A response received by a client: which request it answers, whether it is the last, and
/// its payload (through [`RecvSlot`]'s methods).
#[derive(Debug)]
pub struct Response<'a> {
    request: RequestId,
    last: bool,
    slot: RecvSlot<'a>,
}

impl Response<'_> {
    /// The request it answers.
    pub fn request(&self) -> RequestId {
        self.request
    }

    /// Whether it is the request's last response.
    pub fn is_last(&self) -> bool {
        self.last
    }
}

impl<'a> std::ops::Deref for Response<'a> {
    type Target = RecvSlot<'a>;

    /// The payload, as a received message (`len`, `read_at`, `to_vec`, `append_to`).
    fn deref(&self) -> &RecvSlot<'a> {
        &self.slot
    }
}

#[cfg(test)]
mod tests {
    use super::Pending;

    #[test]
    fn pending_ids_in_and_beyond_the_first_field() {
        let mut p = Pending::default();
        assert!(!p.contains(1));
        p.insert(1, 64);
        p.insert(2, 128);
        p.insert(3, 192);
        p.insert(2, 128);
        assert_eq!(p.len(), 3);
        assert!(p.contains(1) && p.contains(2) && p.contains(3) && !p.contains(4));
        p.remove(1);
        assert!(!p.contains(1) && p.contains(2) && p.contains(3));
        p.insert(4, 256); // goes to the free first field
        assert_eq!(p.len(), 3);
        p.remove(3);
        p.remove(3);
        assert!(p.contains(2) && p.contains(4) && !p.contains(3));
        p.clear();
        assert_eq!(p.len(), 0);
        assert!(!p.contains(2) && !p.contains(4));
        // An id already in the set, inserted again while the first field is free.
        p.insert(5, 320);
        p.insert(6, 384);
        p.remove(5);
        p.insert(6, 384);
        assert_eq!(p.len(), 1);
        p.remove(6);
        assert!(!p.contains(6));
        assert_eq!(p.len(), 0);
    }

    #[test]
    fn requests_taken_before_a_position_fail() {
        let mut p = Pending::default();
        for (id, end) in [(1, 64), (2, 128), (3, 192), (4, 256)] {
            p.insert(id, end);
        }
        p.remove(1);
        p.insert(5, 320); // in the first field
        assert_eq!(p.remove_taken(128), 1);
        assert!(!p.contains(2) && p.contains(3) && p.contains(4) && p.contains(5));
        assert_eq!(p.remove_taken(100), 0);
        assert_eq!(p.remove_taken(320), 3);
        assert_eq!(p.len(), 0);
    }
}
