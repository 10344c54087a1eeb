//! The serving end of a service: [`Server`] takes requests from every client slot's ring
//! (as an inbox does) and answers each on that client's response ring.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::{
    FAILED, FLAGS, ID, LAST, RequestId, ServiceOptions, open_rings, record_takeover,
    response_endpoint,
};
use crate::channel::endpoint::Endpoint;
use crate::channel::ring;
use crate::channel::{
    LIVENESS_INTERVAL, Mending, RECEIVER_LOCK, RecvSlot, SendSlot, Sender, WaitMode,
    connect_mending,
};
use crate::error::{Error, Result};
use crate::inbox::Inbox;
use crate::name::{IntoName, Name};
use crate::rings::{RingSet, slot_lock};
use crate::vocabulary::Side;

/// The serving end of a service: one at a time.
///
/// ```
/// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
/// use filemap::service::{Client, Server, ServiceOptions};
/// let mut server = Server::create_or_open("doc-service-server", &ServiceOptions::new())?;
/// let mut first = Client::open("doc-service-server")?;
/// let mut second = Client::open("doc-service-server")?;
/// first.send_request(b"1")?;
/// second.send_request(b"2")?;
/// // One server takes the requests of every client.
/// let mut asked = Vec::new();
/// for _ in 0..2 {
///     asked.extend(server.recv_request()?.to_vec()?);
/// }
/// asked.sort();
/// assert_eq!(asked, b"12");
/// # Ok::<(), filemap::Error>(())
/// ```
#[derive(Debug)]
pub struct Server {
    /// Declared first, so dropped first: every response ring connected is marked closed
    /// while the server's lock (in `requests`, dropped last there too) is still held,
    /// never on a new server's. Per client slot: its response ring's sender, or why that
    /// ring could not be connected (marked damaged, which its client takes as the server
    /// gone; a new client that set the mark back learns it within a liveness interval
    /// from the server's lock).
    responses: Vec<Responses>,
    requests: Inbox,
    /// The entry's rings and control page, where each slot's client generation is.
    rings: RingSet,
    /// How the server waits (for a response ring connected later too).
    wait_mode: WaitMode,
}

impl Server {
    /// Opens the service `name` as its server, making it with `options` if it does not
    /// exist. One server at a time: [`Error::EndpointTaken`] while another lives.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::service::{Server, ServiceOptions};
    /// let options = ServiceOptions::new();
    /// let server = Server::create_or_open("doc-service-create", &options)?;
    /// assert!(matches!(
    ///     Server::create_or_open("doc-service-create", &options),
    ///     Err(filemap::Error::EndpointTaken { endpoint: "server", .. })
    /// ));
    /// drop(server);
    /// Server::create_or_open("doc-service-create", &options)?; // free again
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn create_or_open(name: impl IntoName, options: &ServiceOptions) -> Result<Server> {
        Server::take(name.into_name()?, Some(options))
    }

    /// Opens an existing service as its server: a new server takes over from one that
    /// closed or died, with the requests still queued.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::service::{Client, Server, ServiceOptions};
    /// assert!(matches!(Server::open("doc-service-absent"), Err(filemap::Error::NotFound { .. })));
    /// let first = Server::create_or_open("doc-service-successor", &ServiceOptions::new())?;
    /// let mut client = Client::open("doc-service-successor")?;
    /// let asked = client.send_request(b"queued")?;
    /// drop(first); // closes without taking the request
    /// let mut second = Server::open("doc-service-successor")?;
    /// assert_eq!(second.recv_request()?.id(), asked);
    /// # Ok::<(), filemap::Error>(())
    /// ```
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
        // (If connecting fails, the rings connected before are closed before `requests`,
        // which holds the lock, goes.) A ring found damaged is mended if it can be, and
        // reported by the first receives; one that cannot be is looked at again before
        // each response to its slot, and the others are served.
        let mut requests = requests;
        let mut responses = Vec::with_capacity(rings.slots as usize);
        for i in 0..rings.slots as usize {
            let (ring, damage) = connect_responses(&rings, i, WaitMode::Blocking, false)?;
            if let Some(damage) = damage {
                requests.report_later(damage);
            }
            responses.push(ring);
        }
        let server = Server {
            requests,
            responses,
            rings,
            wait_mode: WaitMode::Blocking,
        };
        record_takeover(&server.rings, server.senders());
        Ok(server)
    }

    /// The service's name.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::service::{Server, ServiceOptions};
    /// let server = Server::create_or_open("doc-service-name", &ServiceOptions::new())?;
    /// assert_eq!(server.name().to_string(), "Local\\doc-service-name");
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn name(&self) -> &Name {
        self.requests.name()
    }

    /// How many clients are connected and alive now.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::service::{Client, Server, ServiceOptions};
    /// let server = Server::create_or_open("doc-service-clients", &ServiceOptions::new())?;
    /// assert_eq!(server.clients(), 0);
    /// let first = Client::open("doc-service-clients")?;
    /// let _second = Client::open("doc-service-clients")?;
    /// assert_eq!(server.clients(), 2);
    /// drop(first);
    /// assert_eq!(server.clients(), 1);
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn clients(&self) -> usize {
        self.requests.senders()
    }

    /// Whether the client that sent request `id` is still connected, and alive (a system
    /// call): a response to a client that is gone is dropped, so a server can stop working
    /// on its request. (A new client that took the slot since is another client: its
    /// predecessor is gone.)
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
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
        let alive = |end: &Endpoint| {
            asked_by_slots_client(self.rings.slot_word(id.client), id)
                && !end.peer_gone(Side::Receiver)
        };
        match self.responses.get(id.client as usize) {
            Some(Responses::Connected(r)) => alive(r.endpoint()),
            // (Looked at again when a response goes there.)
            Some(Responses::Damaged(_)) => {
                alive(&response_endpoint(&self.rings, id.client as usize, None))
            }
            None => false,
        }
    }

    /// The largest response one message carries (a longer answer is streamed in parts).
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::service::{Server, ServiceOptions};
    /// let server = Server::create_or_open("max-response-demo", &ServiceOptions::new())?;
    /// assert!(server.max_response_len() > 60_000); // a 64 KiB ring by default
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn max_response_len(&self) -> usize {
        self.senders().next().map_or(0, Sender::max_message_len)
    }

    /// How this server waits for requests, and for room in a client's response ring.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::channel::WaitMode;
    /// use filemap::service::{Client, Server, ServiceOptions};
    /// use std::time::Duration;
    /// let mut server = Server::create_or_open("doc-service-server-mode", &ServiceOptions::new())?;
    /// server.set_wait_mode(WaitMode::BusyPoll); // spins instead of sleeping
    /// assert!(matches!( // timeouts hold all the same
    ///     server.recv_request_timeout(Duration::from_millis(10)),
    ///     Err(filemap::Error::Timeout { .. })
    /// ));
    /// let mut client = Client::open("doc-service-server-mode")?;
    /// let asked = client.send_request(b"quick")?;
    /// assert_eq!(server.recv_request()?.id(), asked);
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn set_wait_mode(&mut self, mode: WaitMode) {
        self.wait_mode = mode;
        self.requests.set_wait_mode(mode);
        for ring in &mut self.responses {
            if let Responses::Connected(sender) = ring {
                sender.set_wait_mode(mode);
            }
        }
    }

    /// The next request from any client, waiting for one, however many clients come and
    /// go meanwhile (none may be connected: the wait goes on until one comes and asks).
    ///
    /// Damage this server found in a client slot's rings when it opened the service (only
    /// a process outside the protocol damages one) is reported first, one
    /// [`Error::Corrupt`] naming the slot per receive, and the next receives go on. A
    /// response ring whose positions were mended is served on; one set aside (its client
    /// connected, with its own positions damaged, or nothing valid left to mend from) is
    /// looked at again before each response to its slot, which fails with that error
    /// while the ring stays so (one mended then is reported here too).
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::service::{Client, Server, ServiceOptions};
    /// let mut server = Server::create_or_open("doc-service-receive", &ServiceOptions::new())?;
    /// let mut client = Client::open("doc-service-receive")?;
    /// let asked = client.send_request(b"what time is it?")?;
    /// let request = server.recv_request()?;
    /// assert_eq!(request.id(), asked);
    /// assert_eq!(request.to_vec()?, b"what time is it?");
    /// # Ok::<(), filemap::Error>(())
    /// ```
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
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::service::{Client, Server, ServiceOptions};
    /// let mut server = Server::create_or_open("doc-service-try-recv", &ServiceOptions::new())?;
    /// let mut client = Client::open("doc-service-try-recv")?;
    /// assert!(server.try_recv_request()?.is_none());
    /// let asked = client.send_request(b"now")?;
    /// assert_eq!(server.try_recv_request()?.map(|r| r.id()), Some(asked));
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn try_recv_request(&mut self) -> Result<Option<Request<'_>>> {
        match self.requests.try_recv()? {
            Some((client, slot)) => Request::new(client, slot).map(Some),
            None => Ok(None),
        }
    }

    /// Like [`recv_request`](Server::recv_request), giving up with [`Error::Timeout`].
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::service::{Client, Server, ServiceOptions};
    /// use std::time::Duration;
    /// let mut server = Server::create_or_open("doc-service-no-request", &ServiceOptions::new())?;
    /// let mut client = Client::open("doc-service-no-request")?;
    /// assert!(matches!(
    ///     server.recv_request_timeout(Duration::from_millis(10)),
    ///     Err(filemap::Error::Timeout { .. })
    /// ));
    /// client.send_request(b"here")?;
    /// assert_eq!(server.recv_request_timeout(Duration::from_secs(10))?.to_vec()?, b"here");
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn recv_request_timeout(&mut self, timeout: Duration) -> Result<Request<'_>> {
        let (client, slot) = self.requests.recv_timeout(timeout)?;
        Request::new(client, slot)
    }

    /// Sends the (last) response to `to`, waiting while the client's response ring is full
    /// (for ever: see [`respond_timeout`](Server::respond_timeout); a thread that is also
    /// that client uses a timeout, for the reason [`Sender::reserve`](crate::channel::Sender::reserve)
    /// gives). A client that is gone does not get it: the response is dropped, and this
    /// returns `Ok`.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::service::{Client, Server, ServiceOptions};
    /// let mut server = Server::create_or_open("doc-service-respond", &ServiceOptions::new())?;
    /// let mut client = Client::open("doc-service-respond")?;
    /// let asked = client.send_request(b"2+2")?;
    /// let id = server.recv_request()?.id();
    /// server.respond(id, b"4")?;
    /// let response = client.recv_response()?;
    /// assert_eq!((response.request(), response.is_last()), (asked, true));
    /// assert_eq!(response.to_vec()?, b"4");
    /// drop(response);
    /// client.send_request(b"3+3")?;
    /// let id = server.recv_request()?.id();
    /// drop(client);
    /// server.respond(id, b"6")?; // nobody to get it: dropped, and no error
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn respond(&mut self, to: RequestId, payload: &[u8]) -> Result<()> {
        self.send_response(to, payload, LAST, None)
    }

    /// Sends one response of a stream to `to`: more follow, the last with
    /// [`respond`](Server::respond).
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::service::{Client, Server, ServiceOptions};
    /// let mut server = Server::create_or_open("doc-service-stream", &ServiceOptions::new())?;
    /// let mut client = Client::open("doc-service-stream")?;
    /// client.send_request(b"count to 3")?;
    /// let id = server.recv_request()?.id();
    /// for part in [b"1", b"2"] {
    ///     server.respond_part(id, part)?;
    /// }
    /// server.respond(id, b"3")?;
    /// let mut parts = Vec::new();
    /// loop {
    ///     let response = client.recv_response()?;
    ///     parts.extend(response.to_vec()?);
    ///     if response.is_last() {
    ///         break;
    ///     }
    /// }
    /// assert_eq!(parts, b"123");
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn respond_part(&mut self, to: RequestId, payload: &[u8]) -> Result<()> {
        self.send_response(to, payload, 0, None)
    }

    /// Fails request `to`: its last response, marked as a failure ([`Response::is_failure`]),
    /// whose payload says why (its client's [`Client::call`] returns
    /// [`Error::RequestFailed`] with it). Parts sent before it stay delivered. A reason
    /// longer than a response can be ([`max_response_len`](Server::max_response_len)) is
    /// cut to fit: the request fails all the same. A client that is gone does not get it,
    /// and this returns `Ok`.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::service::{Client, Server, ServiceOptions};
    /// use std::time::Duration;
    ///
    /// let mut server = Server::create_or_open("divider", &ServiceOptions::new())?;
    /// let mut client = Client::open("divider")?;
    /// let serving = std::thread::spawn(move || -> filemap::Result<()> {
    ///     let id = server.recv_request()?.id();
    ///     server.respond_failure(id, b"division by zero")
    /// });
    /// let err = client.call(b"1/0", Duration::from_secs(10)).unwrap_err();
    /// assert!(matches!(err, filemap::Error::RequestFailed { .. }));
    /// assert_eq!(err.to_string(), "Local\\divider failed the request: division by zero");
    /// serving.join().unwrap()?;
    /// # Ok::<(), filemap::Error>(())
    /// ```
    ///
    /// [`Response::is_failure`]: crate::service::Response::is_failure
    /// [`Client::call`]: crate::service::Client::call
    /// [`Error::RequestFailed`]: crate::Error::RequestFailed
    pub fn respond_failure(&mut self, to: RequestId, reason: &[u8]) -> Result<()> {
        let reason = self.cut_to_fit(to, reason);
        self.send_response(to, reason, LAST | FAILED, None)
    }

    /// [`respond`](Server::respond), giving up with [`Error::Timeout`] if the client's
    /// response ring stays full for `timeout` (a live client that does not read its
    /// responses would hold `respond` up for ever).
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::service::{Client, Server, ServiceOptions};
    /// use std::time::Duration;
    ///
    /// let mut server = Server::create_or_open("patient", &ServiceOptions::new())?;
    /// let mut client = Client::open("patient")?;
    /// let asked = client.send_request(b"hi")?;
    /// let id = server.recv_request()?.id();
    /// server.respond_timeout(id, b"HI", Duration::from_secs(1))?;
    /// let response = client.recv_response()?;
    /// assert_eq!((response.request(), response.to_vec()?), (asked, b"HI".to_vec()));
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn respond_timeout(
        &mut self,
        to: RequestId,
        payload: &[u8],
        timeout: Duration,
    ) -> Result<()> {
        self.send_response(to, payload, LAST, Some(timeout))
    }

    /// [`respond_part`](Server::respond_part), giving up as
    /// [`respond_timeout`](Server::respond_timeout) does.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::service::{Client, Server, ServiceOptions};
    /// use std::time::Duration;
    ///
    /// let mut server = Server::create_or_open("parts", &ServiceOptions::new())?;
    /// let mut client = Client::open("parts")?;
    /// client.send_request(b"count")?;
    /// let id = server.recv_request()?.id();
    /// server.respond_part_timeout(id, b"one", Duration::from_secs(1))?;
    /// server.respond_timeout(id, b"two", Duration::from_secs(1))?;
    /// assert!(!client.recv_response()?.is_last());
    /// assert!(client.recv_response()?.is_last());
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn respond_part_timeout(
        &mut self,
        to: RequestId,
        payload: &[u8],
        timeout: Duration,
    ) -> Result<()> {
        self.send_response(to, payload, 0, Some(timeout))
    }

    /// [`respond_failure`](Server::respond_failure), giving up as
    /// [`respond_timeout`](Server::respond_timeout) does.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::service::{Client, Server, ServiceOptions};
    /// use std::time::Duration;
    ///
    /// let mut server = Server::create_or_open("refusing", &ServiceOptions::new())?;
    /// let mut client = Client::open("refusing")?;
    /// client.send_request(b"?")?;
    /// let id = server.recv_request()?.id();
    /// server.respond_failure_timeout(id, b"no", Duration::from_secs(1))?;
    /// assert!(client.recv_response()?.is_failure());
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn respond_failure_timeout(
        &mut self,
        to: RequestId,
        reason: &[u8],
        timeout: Duration,
    ) -> Result<()> {
        let reason = self.cut_to_fit(to, reason);
        self.send_response(to, reason, LAST | FAILED, Some(timeout))
    }

    /// `reason` cut to the longest response the ring of `to`'s client carries (each ring
    /// says its own size).
    fn cut_to_fit<'r>(&self, to: RequestId, reason: &'r [u8]) -> &'r [u8] {
        // (The ring's own size, connected or not: a damaged one may be mended first.)
        // (A client number past the slots, which `send_response` refuses, is checked
        // before the index is made: it could overflow it.)
        let max = (to.client < self.rings.slots)
            .then(|| {
                self.rings
                    .rings
                    .get(self.rings.slots as usize + to.client as usize)
            })
            .flatten()
            .map_or(reason.len(), |ring| ring.max_message() as usize);
        &reason[..reason.len().min(max)]
    }

    /// Sends one response, waiting for room for ever, or for `timeout`.
    fn send_response(
        &mut self,
        to: RequestId,
        payload: &[u8],
        flags: u64,
        timeout: Option<Duration>,
    ) -> Result<()> {
        let slot = to.client as usize;
        if slot >= self.responses.len() {
            return Err(Error::InvalidSetting {
                setting: "a request's client slot",
                value: to.client.into(),
                allowed: "a slot of this service",
            });
        }
        let responses_ring = &self.rings.rings[self.rings.slots as usize + slot];
        // Too long is an error whoever the client is, and whatever state its ring is in.
        let max = responses_ring.max_message() as usize;
        if payload.len() > max {
            return Err(Error::MessageTooLarge {
                name: self.requests.name().to_string(),
                len: payload.len(),
                max,
            });
        }
        let state = responses_ring.u32_at(ring::SENDER_STATE);
        // Looked at again once its client has been told the server was gone (its
        // requests answered meanwhile were lost: it must learn of it before any response
        // comes again) and set the mark back, vouching for its positions, said again; or
        // once no client holds the slot (a new one sets the mark back as it comes).
        // (A response to a client that is gone from the slot is dropped, as always.)
        if matches!(self.responses[slot], Responses::Damaged(_))
            && !asked_by_slots_client(self.rings.slot_word(to.client), to)
        {
            return Ok(());
        }
        let looked_at_again = matches!(self.responses[slot], Responses::Damaged(_))
            && (state.load(Ordering::Acquire) != ring::STATE_DAMAGED
                || !self.rings.memory.endpoint_alive(slot_lock(slot)));
        if looked_at_again {
            self.requests.first().usable_here()?;
            let vouched = state.load(Ordering::Acquire) == ring::STATE_CONNECTED;
            let (ring, damage) = connect_responses(&self.rings, slot, self.wait_mode, vouched)?;
            // (Mended: the next receive reports what was; still damaged: this says so.)
            if let (Responses::Connected(_), Some(damage)) = (&ring, damage) {
                self.requests.report_later(damage);
            }
            self.responses[slot] = ring;
        }
        let sender = match &mut self.responses[slot] {
            Responses::Connected(sender) => sender,
            Responses::Damaged(problem) => {
                return Err(Error::Corrupt {
                    name: self.requests.name().to_string(),
                    problem: problem.clone(),
                });
            }
        };
        // A copy of the server in a child made by `fork` answers nothing.
        sender.endpoint().usable_here()?;
        // A client that is gone does not get it, nor does a new client that took its slot
        // since (see `reserve_for`).
        let word = self.rings.slot_word(to.client);
        let mut slot = if sender.room_cached(payload.len()) {
            // The fast path: room by the head last read (a stale response there is the
            // new client's to drop, as it drops what came before it).
            sender.reserve(payload.len())?
        } else {
            match reserve_for(sender, word, to, payload.len(), timeout)? {
                Some(slot) => slot,
                None => return Ok(()),
            }
        };
        slot.copy_from_slice(payload)?;
        slot.set_extra(ID, to.id);
        slot.set_extra(FLAGS, flags);
        slot.commit();
        Ok(())
    }
}

/// Connects client slot `i`'s response ring (waiting as `mode` says), mending it if it is
/// damaged: the slot's state, and the damage found, to report (as `Error::Corrupt` naming
/// the slot).
fn connect_responses(
    rings: &RingSet,
    i: usize,
    mode: WaitMode,
    client_vouched: bool,
) -> Result<(Responses, Option<Error>)> {
    let end = response_endpoint(rings, i, None);
    let name = end.name.to_string();
    let problem = |problem: &str| format!("client slot {i}: the response ring: {problem}");
    let damaged = |found: &str| Error::Corrupt {
        name: name.clone(),
        problem: problem(found),
    };
    // (The slot's client lock, if no client holds it, for a damaged ring: none connects
    // while it is looked at again.)
    let lock_client = || rings.memory.lock_endpoint(slot_lock(i));
    Ok(match connect_mending(end, lock_client, client_vouched)? {
        Mending::Whole(mut sender) => {
            sender.set_wait_mode(mode);
            (Responses::Connected(sender), None)
        }
        Mending::Mended(mut sender, found) => {
            sender.set_wait_mode(mode);
            (Responses::Connected(sender), Some(damaged(&found)))
        }
        Mending::Unmendable(found) => (Responses::Damaged(problem(&found)), Some(damaged(&found))),
    })
}

/// A client slot's response ring, as the server connected it.
// (Nearly every slot holds a sender, used on every response: not boxed.)
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
enum Responses {
    /// Its sender.
    Connected(Sender),
    /// Found damaged with nothing to mend it from (only a process outside the protocol
    /// damages one), and marked so (its client takes the server as gone): what
    /// `Error::Corrupt` says of it to a response to the slot, once the ring, looked at
    /// again first, is found so still.
    Damaged(String),
}

impl Server {
    /// The response rings' senders (those connected).
    fn senders(&self) -> impl Iterator<Item = &Sender> {
        self.responses.iter().filter_map(|r| match r {
            Responses::Connected(sender) => Some(sender),
            Responses::Damaged(_) => None,
        })
    }
}

/// Whether the client in request `id`'s slot (`word`: the slot's client generation) is
/// the one that sent it, the generation being the id's high half: a new client in a dead
/// one's slot is not, and takes none of its responses.
fn asked_by_slots_client(word: &AtomicU64, id: RequestId) -> bool {
    word.load(Ordering::Acquire) & 0xffff_ffff == id.id >> 32
}

/// A slot of `len` bytes in `sender`'s ring for a response to `to`, waiting for room for
/// ever or for `timeout`; `None` if the response is for nobody any more: its client is
/// gone, or another client took its slot (`word`). Looked at before the wait and every
/// liveness interval of it: a new client's ring may be full of its predecessor's responses,
/// which it drops only once it receives, while it waits for this server to take its own
/// request first.
fn reserve_for<'s>(
    sender: &'s mut Sender,
    word: &AtomicU64,
    to: RequestId,
    len: usize,
    timeout: Option<Duration>,
) -> Result<Option<SendSlot<'s>>> {
    let deadline = timeout.and_then(crate::sys::deadline_after);
    loop {
        if !asked_by_slots_client(word, to) {
            return Ok(None);
        }
        let slice = match deadline {
            None => LIVENESS_INTERVAL,
            Some(deadline) => deadline
                .saturating_duration_since(Instant::now())
                .min(LIVENESS_INTERVAL),
        };
        // Room (the slot, dropped unused, sends nothing): taken again below, at once, as
        // only this server fills the ring.
        let waited = sender.reserve_timeout(len, slice).map(drop);
        match waited {
            Ok(()) => break,
            Err(Error::Disconnected { .. }) => return Ok(None),
            Err(Error::Timeout { .. }) if deadline.is_none_or(|d| Instant::now() < d) => {}
            Err(Error::Timeout { .. }) => {
                return Err(sender.endpoint().timeout(timeout.unwrap_or(Duration::MAX)));
            }
            Err(e) => return Err(e),
        }
    }
    sender.reserve(len).map(Some)
}

/// A request received by the server: its id (for the responses) and its payload, read from
/// the client's ring (through [`RecvSlot`]'s methods). Drop it before responding.
///
/// ```
/// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
/// use filemap::service::{Client, Server, ServiceOptions};
/// let mut server = Server::create_or_open("doc-service-request", &ServiceOptions::new())?;
/// let mut client = Client::open("doc-service-request")?;
/// client.send_request(b"key=value")?;
/// let request = server.recv_request()?;
/// assert_eq!(request.len(), 9);
/// let mut key = [0; 3];
/// request.read_at(0, &mut key)?;
/// assert_eq!(&key, b"key");
/// # Ok::<(), filemap::Error>(())
/// ```
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
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::service::{Client, Server, ServiceOptions};
    /// let mut server = Server::create_or_open("doc-service-reply-to", &ServiceOptions::new())?;
    /// let mut client = Client::open("doc-service-reply-to")?;
    /// let asked = client.send_request(b"hello")?;
    /// let id = server.recv_request()?.id(); // the request is dropped: its id stays
    /// assert_eq!(id, asked);
    /// server.respond(id, b"hi")?;
    /// assert_eq!(client.recv_response()?.request(), asked);
    /// # Ok::<(), filemap::Error>(())
    /// ```
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
