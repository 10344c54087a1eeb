//! The asking end of a service: [`Client`] sends requests into its slot's ring and
//! receives the responses to its own, settling the requests a replaced server took.

use std::time::{Duration, Instant};

use super::pending::Pending;
use super::{
    FAILED, ID, LAST, RequestId, ServiceOptions, expect_server_again, last_takeover, open_rings,
    replaced_since, response_endpoint,
};
use crate::channel::{
    AtPosition, FAST_SPINS, RECEIVER_LOCK, ReadyFrame, Receiver, RecvSlot, Sender, WaitMode, Waited,
};
use crate::error::{Error, Result};
use crate::inbox;
use crate::name::{IntoName, Name};
use crate::rings::{RingSet, slot_lock};
use crate::sys;
use std::sync::atomic::Ordering;

/// Responses dropped at most in one look for a response to a pending request
/// ([`Client::pending_response_ready`]).
const DROPS_PER_LOOK: usize = 256;

/// A client of a service, in a slot of its own.
///
/// ```
/// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
/// use filemap::service::{Client, Server, ServiceOptions};
/// let mut server = Server::create_or_open("doc-service-client", &ServiceOptions::new())?;
/// let mut alice = Client::open("doc-service-client")?;
/// let mut bob = Client::open("doc-service-client")?;
/// alice.send_request(b"alice")?;
/// bob.send_request(b"bob")?;
/// for _ in 0..2 {
///     let (id, name) = {
///         let request = server.recv_request()?;
///         (request.id(), request.to_vec()?)
///     };
///     server.respond(id, &[b"hi ", &name[..]].concat())?;
/// }
/// // Each client receives the responses to its own requests only.
/// assert_eq!(alice.recv_response()?.to_vec()?, b"hi alice");
/// assert_eq!(bob.recv_response()?.to_vec()?, b"hi bob");
/// # Ok::<(), filemap::Error>(())
/// ```
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

impl Client {
    /// Takes a free client slot of the service `name`; [`Error::NoFreeSlot`] if every slot
    /// has a live client. A free slot whose ring another process damaged is passed over
    /// ([`Error::Corrupt`], naming it, if no other slot is free).
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::service::{Client, Server, ServiceOptions};
    /// assert!(matches!(Client::open("doc-service-nobody"), Err(filemap::Error::NotFound { .. })));
    /// let options = ServiceOptions::new().clients(1);
    /// let _server = Server::create_or_open("doc-service-open", &options)?;
    /// let client = Client::open("doc-service-open")?;
    /// assert!(matches!(
    ///     Client::open("doc-service-open"),
    ///     Err(filemap::Error::NoFreeSlot { slots: 1, .. })
    /// ));
    /// drop(client);
    /// Client::open("doc-service-open")?; // the slot is free again
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn open(name: impl IntoName) -> Result<Client> {
        Client::take(name.into_name()?, None)
    }

    /// Like [`open`](Client::open), making the service with `options` if it does not exist
    /// (a client may start before its server).
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::service::{Client, Server, ServiceOptions};
    /// let mut client = Client::create_or_open("doc-service-early", &ServiceOptions::new())?;
    /// let asked = client.send_request(b"queued")?; // waits in the ring for a server
    /// let mut server = Server::open("doc-service-early")?;
    /// let request = server.recv_request()?;
    /// assert_eq!((request.id(), request.to_vec()?), (asked, b"queued".to_vec()));
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn create_or_open(name: impl IntoName, options: &ServiceOptions) -> Result<Client> {
        Client::take(name.into_name()?, Some(options))
    }

    fn take(name: Name, options: Option<&ServiceOptions>) -> Result<Client> {
        let rings = open_rings(name, options)?;
        let mut damaged = None;
        // Twice over the slots, a moment apart, if none was free the first time: a server
        // holds a free slot's lock for a moment while it looks at the slot's ring, found
        // damaged (see `channel::mending`).
        for (round, i) in (0..2).flat_map(|round| (0..rings.slots).map(move |i| (round, i))) {
            if round == 1 && i == 0 {
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
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
            let connected = Sender::connect(inbox::endpoint(&rings, i as usize, Some(lock)))
                .and_then(|requests| {
                    let responses = Receiver::connect(response_endpoint(&rings, i as usize, None))?;
                    expect_server_again(responses.endpoint());
                    Ok((requests, responses))
                });
            let (requests, responses) = match connected {
                Ok(ends) => ends,
                Err(e) => {
                    damaged = Some(inbox::skip_damaged_slot(e, "client", i as usize, damaged)?);
                    continue;
                }
            };
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
        Err(damaged.unwrap_or(Error::NoFreeSlot {
            party: "client",
            name: rings.name.to_string(),
            slots: rings.slots,
        }))
    }

    /// The service's name.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::service::{Client, ServiceOptions};
    ///
    /// let client = Client::create_or_open("named", &ServiceOptions::new())?;
    /// assert_eq!(client.name().to_string(), "Local\\named");
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn name(&self) -> &Name {
        self.responses.name()
    }

    /// This client's slot.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::service::{Client, ServiceOptions};
    /// let first = Client::create_or_open("doc-service-slot", &ServiceOptions::new())?;
    /// let second = Client::open("doc-service-slot")?;
    /// assert_eq!((first.slot(), second.slot()), (0, 1));
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn slot(&self) -> u32 {
        self.slot
    }

    /// How this client waits for responses, and for room in its request ring:
    /// [`WaitMode::BusyPoll`] for the lowest latency (with the server busy-polling too),
    /// at the cost of a busy core while it waits.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
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
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
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
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::service::{Client, Server, ServiceOptions};
    /// let mut server = Server::create_or_open("doc-service-pending", &ServiceOptions::new())?;
    /// let mut client = Client::open("doc-service-pending")?;
    /// client.send_request(b"one")?;
    /// client.send_request(b"two")?;
    /// assert_eq!(client.pending(), 2);
    /// let id = server.recv_request()?.id();
    /// server.respond_part(id, b"a part")?;
    /// drop(client.recv_response()?);
    /// assert_eq!(client.pending(), 2); // not its last response yet
    /// server.respond(id, b"the rest")?;
    /// drop(client.recv_response()?);
    /// assert_eq!(client.pending(), 1);
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Whether request `id` of this client waits for its last response: not answered in
    /// full, not failed (after a receive returned [`Error::Disconnected`], the requests
    /// still pending are those a new server will answer).
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
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
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
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
    /// [`Error::Disconnected`] if the server is gone, or if it set this client's request
    /// ring aside as damaged (a process outside the protocol wrote it; the server may be
    /// alive: a new client takes another slot).
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::service::{Client, Server, ServiceOptions};
    /// let mut server = Server::create_or_open("doc-service-send", &ServiceOptions::new())?;
    /// let mut client = Client::open("doc-service-send")?;
    /// let first = client.send_request(b"first")?;
    /// let second = client.send_request(b"second")?;
    /// assert_ne!(first, second);
    /// // The server receives a client's requests in the order sent.
    /// assert_eq!(server.recv_request()?.to_vec()?, b"first");
    /// assert_eq!(server.recv_request()?.id(), second);
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn send_request(&mut self, payload: &[u8]) -> Result<RequestId> {
        self.send_request_within(payload, ForRoom::Wait)
    }

    /// Like [`send_request`](Client::send_request), giving up with [`Error::Timeout`] if
    /// the request ring stays full for `timeout`.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
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
        self.send_request_within(payload, ForRoom::Within(timeout))
    }

    pub(crate) fn send_request_within(
        &mut self,
        payload: &[u8],
        for_room: ForRoom,
    ) -> Result<RequestId> {
        let id = self.generation << 32 | u64::from(self.counter);
        // A response ring the server set aside (damaged) is put right by this client's
        // positions, said again: the server looks at it again before it responds.
        self.responses.restate_positions();
        let mut slot = match for_room {
            ForRoom::Wait => self.requests.reserve(payload.len())?,
            ForRoom::Within(t) => self.requests.reserve_timeout(payload.len(), t)?,
            ForRoom::Seen => {
                let tried = self.requests.try_reserve(payload.len())?;
                match tried {
                    Some(slot) => slot,
                    None => {
                        drop(tried);
                        return Err(self.requests.room_went_away());
                    }
                }
            }
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
    /// [`Error::Unsupported`] if no request is pending: it would wait for ever
    /// ([`recv_response_timeout`](Client::recv_response_timeout) waits out its timeout).
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::service::{Client, Server, ServiceOptions};
    /// let mut server = Server::create_or_open("doc-service-recv", &ServiceOptions::new())?;
    /// let mut client = Client::open("doc-service-recv")?;
    /// let asked = client.send_request(b"ping")?;
    /// let id = server.recv_request()?.id();
    /// server.respond(id, b"pong")?;
    /// let response = client.recv_response()?;
    /// assert_eq!((response.request(), response.to_vec()?), (asked, b"pong".to_vec()));
    /// drop(response);
    /// client.send_request(b"anyone?")?;
    /// drop(server); // gone without answering
    /// assert!(matches!(client.recv_response(), Err(filemap::Error::Disconnected { .. })));
    /// assert_eq!(client.pending(), 0); // every pending request has failed
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn recv_response(&mut self) -> Result<Response<'_>> {
        match self.response_now() {
            Some((id, flags, frame)) => Ok(self.hand_out(id, flags, frame)),
            None => {
                self.ensure_something_pending()?;
                self.recv_until(None, None)
            }
        }
    }

    /// [`Error::Unsupported`] if no request of this client waits for responses: a receive
    /// without a timeout would wait for ever (every response that came would be dropped).
    pub(crate) fn ensure_something_pending(&self) -> Result<()> {
        if self.pending() > 0 {
            return Ok(());
        }
        Err(Error::Unsupported {
            what: "waiting without a timeout for a response while no request of the client \
                   is pending (it would wait for ever): send a request first",
        })
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
            failure: flags & (LAST | FAILED) == LAST | FAILED,
            slot: self.responses.take_frame(frame),
        }
    }

    /// The ring this client's requests go into.
    pub(crate) fn request_sender_mut(&mut self) -> &mut Sender {
        &mut self.requests
    }

    /// The ring this client's responses come from.
    pub(crate) fn responses(&self) -> &Receiver {
        &self.responses
    }

    /// Forgets every pending request: the server is gone, and they have failed. A response
    /// ring the server set aside (damaged) has now been taken as the server gone: its mark
    /// is set back, so that the next requests wait for the server, which looks at the ring
    /// again before it responds (this client's positions were said again before it was
    /// found gone). Until then a request sent is not answered, and the mark stays.
    pub(crate) fn fail_pending(&mut self) {
        self.pending.clear();
        expect_server_again(self.responses.endpoint());
    }

    /// The id and flags of a response to a pending request if one is ready, dropping those
    /// before it that are not for one (an earlier client's, or given up on).
    /// At most [`DROPS_PER_LOOK`] are dropped: a server that keeps sending responses nobody
    /// waits for (faster than they are dropped) must not keep the look from returning, and
    /// the async receive from giving the executor back (`Ok(None)`, as for nothing ready).
    pub(crate) fn pending_response_ready(&mut self) -> Result<Option<(u64, u64)>> {
        for _ in 0..DROPS_PER_LOOK {
            if !self.responses.message_ready()? {
                break;
            }
            let (id, flags) = self.responses.ready_extras();
            if self.pending.contains(id) {
                return Ok(Some((id, flags)));
            }
            drop(self.responses.take_ready()?);
        }
        // About to wait (the async receive): where this client is, said again if damaged.
        self.responses.restate_positions();
        Ok(None)
    }

    /// Takes the response to pending request `id` that a look found ready (with its
    /// `flags`), without waiting: only this client moves its position, so it is still
    /// there unless another process changed the ring (then an error says so).
    pub(crate) fn take_response(&mut self, id: u64, flags: u64) -> Result<Response<'_>> {
        let frame = self.responses.ready_frame()?;
        Ok(self.hand_out(id, flags, frame))
    }

    /// Like [`recv_response`](Client::recv_response), giving up with [`Error::Timeout`].
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::service::{Client, Server, ServiceOptions};
    /// use std::time::Duration;
    /// let _server = Server::create_or_open("doc-service-recv-timeout", &ServiceOptions::new())?;
    /// let mut client = Client::open("doc-service-recv-timeout")?;
    /// let asked = client.send_request(b"slow question")?;
    /// assert!(matches!(
    ///     client.recv_response_timeout(Duration::from_millis(10)),
    ///     Err(filemap::Error::Timeout { .. })
    /// ));
    /// assert!(client.is_pending(asked)); // still waiting for its answer
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn recv_response_timeout(&mut self, timeout: Duration) -> Result<Response<'_>> {
        self.recv_until(sys::deadline_after(timeout), Some(timeout))
    }

    /// `Ok` if no request of this client waits for responses; [`Error::Unsupported`] if
    /// some do, as [`call`](Client::call) then refuses to run: their responses would
    /// arrive during the call with nowhere to go.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::service::{Client, Server, ServiceOptions};
    /// let _server = Server::create_or_open("ask", &ServiceOptions::new())?;
    /// let mut client = Client::open("ask")?;
    /// client.ensure_nothing_pending()?;
    /// client.send_request(b"first")?;
    /// assert!(client.ensure_nothing_pending().is_err());
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn ensure_nothing_pending(&self) -> Result<()> {
        if self.pending() == 0 {
            return Ok(());
        }
        Err(Error::Unsupported {
            what: "a call while other requests of the client wait for responses (they would \
                   be lost): receive those first",
        })
    }

    /// Sends a request and waits for all of its responses: their payloads, joined, or
    /// [`Error::RequestFailed`] if the server failed it ([`Server::respond_failure`]). The
    /// timeout covers it all, the wait for room to send included. Only for a client with
    /// no other request pending ([`Error::Unsupported`] otherwise, see
    /// [`ensure_nothing_pending`](Client::ensure_nothing_pending)). A call that fails
    /// after sending (a timeout, say) gives its request up: its late responses are
    /// dropped, and the next call may go.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::service::{Client, Server, ServiceOptions};
    /// use std::time::Duration;
    /// let mut server = Server::create_or_open("doc-service-call", &ServiceOptions::new())?;
    /// let mut client = Client::open("doc-service-call")?;
    /// let serving = std::thread::spawn(move || -> filemap::Result<()> {
    ///     let id = server.recv_request()?.id();
    ///     server.respond_part(id, b"Hello, ")?;
    ///     server.respond(id, b"world")
    /// });
    /// assert_eq!(client.call(b"greet", Duration::from_secs(10))?, b"Hello, world");
    /// serving.join().unwrap()?;
    /// # Ok::<(), filemap::Error>(())
    /// ```
    ///
    /// [`Server::respond_failure`]: crate::service::Server::respond_failure
    pub fn call(&mut self, payload: &[u8], timeout: Duration) -> Result<Vec<u8>> {
        self.ensure_nothing_pending()?;
        // One deadline for both waits: a request that waited long for room has only the
        // rest of the timeout for its responses.
        let deadline = sys::deadline_after(timeout);
        let asked = self.send_request_timeout(payload, timeout)?;
        let answered = self.answer_of(asked, deadline, timeout);
        if answered.is_err() {
            // Given up (a timeout, a failure while the parts came): its late responses
            // are dropped, and the next call may go.
            self.give_up(asked);
        }
        // A timeout is said with the call's whole timeout, not its last wait's rest.
        answered.map_err(|e| match e {
            Error::Timeout { what, .. } => Error::Timeout {
                what,
                after: timeout,
            },
            e => e,
        })
    }

    /// Stops waiting for `request`: its responses still to come are dropped when they
    /// arrive, and it is no longer pending (for a `call` that gave up on its request).
    #[doc(hidden)]
    pub fn give_up(&mut self, request: RequestId) {
        // (Another client's request, whose number may be one of this client's too: not
        // this client's to give up.)
        if request.client != self.slot {
            return;
        }
        self.pending.remove(request.id);
    }

    /// `call`'s wait for every response to `asked`, joined, until `deadline` (`None`: the
    /// call's `timeout` is too long to have one, and each wait may take all of it).
    fn answer_of(
        &mut self,
        asked: RequestId,
        deadline: Option<Instant>,
        timeout: Duration,
    ) -> Result<Vec<u8>> {
        let service = self.name().to_string();
        let mut answer = Vec::new();
        loop {
            let left = deadline.map_or(timeout, |d| d.saturating_duration_since(Instant::now()));
            let failed = match self.recv_response_timeout(left) {
                Ok(response) => {
                    // Nothing else was pending: a response to another request is one
                    // given up on before (an earlier client's, in this slot).
                    if response.request() == asked {
                        if response.is_failure() {
                            return Err(Error::RequestFailed {
                                service,
                                reason: String::from_utf8_lossy(&response.to_vec()?).into_owned(),
                            });
                        }
                        let last = response.is_last();
                        // However many parts a server streams: an error, not an abort,
                        // when this process cannot hold them all.
                        let len = response.len();
                        answer.try_reserve(len).map_err(|_| Error::NoSpace {
                            place: "this process's memory (the parts of a call's answer)".into(),
                            size: (answer.len() as u64).saturating_add(len as u64),
                        })?;
                        response.append_to(&mut answer)?;
                        if last {
                            return Ok(answer);
                        }
                    }
                    None
                }
                Err(e) => Some(e),
            };
            let Some(failed) = failed else {
                // The timeout covers it all: a server that streams parts as fast as they
                // are read (each wait then finds one ready) does not keep the call past it.
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    return Err(self.timed_out(Some(timeout)));
                }
                continue;
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
        // Responses dropped past the deadline (those before it do not count against it).
        let mut dropped_late = 0u64;
        // The sender's position when the deadline had passed, once a drop found it so.
        let mut sent_at_deadline: Option<u64> = None;
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
                    self.fail_pending();
                    return Err(e);
                }
                Err(e) => return Err(e),
            }
            let (id, flags) = self.responses.ready_extras();
            if self.pending.contains(id) {
                break (id, flags);
            }
            // Not for a pending request of this client (an earlier client's, or one given
            // up on): dropped. A server that keeps sending such responses must not keep
            // this call past its deadline: past it, the call gets through what was sent by
            // then (a backlog a try may have to get through), and no further; nor, however
            // the ring's positions read, through more than a ring holds.
            drop(self.responses.take_ready()?);
            if deadline.is_some_and(|d| Instant::now() >= d) {
                dropped_late += 1;
                let ring = self.responses.endpoint().ring;
                let sent_by_then =
                    *sent_at_deadline.get_or_insert_with(|| ring.tail().load(Ordering::Acquire));
                if self.responses.claim_position() >= sent_by_then
                    || dropped_late > ring.capacity() / 64
                {
                    return Err(self.timed_out(timeout));
                }
            }
        };
        self.take_response(id, flags)
    }
}

/// How a request waits for room in the request ring.
pub(crate) enum ForRoom {
    /// For as long as it takes.
    Wait,
    /// For at most this long.
    Within(Duration),
    /// Not at all: the room was seen (the async send), and only a process outside the
    /// protocol can take it away.
    Seen,
}

/// A response received by a client: which request it answers, whether it is the last, and
/// its payload (through [`RecvSlot`]'s methods).
///
/// ```
/// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
/// use filemap::service::{Client, Server, ServiceOptions};
/// let mut server = Server::create_or_open("doc-service-response", &ServiceOptions::new())?;
/// let mut client = Client::open("doc-service-response")?;
/// let asked = client.send_request(b"size?")?;
/// let id = server.recv_request()?.id();
/// server.respond(id, &42u32.to_le_bytes())?;
/// let response = client.recv_response()?;
/// assert_eq!((response.request(), response.is_last(), response.len()), (asked, true, 4));
/// let mut number = [0; 4];
/// response.read_at(0, &mut number)?;
/// assert_eq!(u32::from_le_bytes(number), 42);
/// # Ok::<(), filemap::Error>(())
/// ```
#[derive(Debug)]
pub struct Response<'a> {
    request: RequestId,
    last: bool,
    failure: bool,
    slot: RecvSlot<'a>,
}

impl Response<'_> {
    /// The request it answers.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::service::{Client, Server, ServiceOptions};
    /// let mut server = Server::create_or_open("doc-service-answers", &ServiceOptions::new())?;
    /// let mut client = Client::open("doc-service-answers")?;
    /// let first = client.send_request(b"first")?;
    /// let second = client.send_request(b"second")?;
    /// drop(server.recv_request()?);
    /// drop(server.recv_request()?);
    /// server.respond(second, b"second's")?; // answered out of order
    /// server.respond(first, b"first's")?;
    /// assert_eq!(client.recv_response()?.request(), second);
    /// assert_eq!(client.recv_response()?.request(), first);
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn request(&self) -> RequestId {
        self.request
    }

    /// Whether it is the request's last response.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::service::{Client, Server, ServiceOptions};
    /// let mut server = Server::create_or_open("doc-service-is-last", &ServiceOptions::new())?;
    /// let mut client = Client::open("doc-service-is-last")?;
    /// client.send_request(b"stream")?;
    /// let id = server.recv_request()?.id();
    /// server.respond_part(id, b"1")?;
    /// server.respond(id, b"2")?;
    /// assert!(!client.recv_response()?.is_last());
    /// assert!(client.recv_response()?.is_last());
    /// # Ok::<(), filemap::Error>(())
    /// ```
    pub fn is_last(&self) -> bool {
        self.last
    }

    /// Whether the server failed the request with it ([`Server::respond_failure`]): the
    /// last response, whose payload says why.
    ///
    /// ```
    /// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
    /// use filemap::service::{Client, Server, ServiceOptions};
    ///
    /// let mut server = Server::create_or_open("judged", &ServiceOptions::new())?;
    /// let mut client = Client::open("judged")?;
    /// client.send_request(b"2+2=5")?;
    /// let id = server.recv_request()?.id();
    /// server.respond_failure(id, b"false")?;
    /// let response = client.recv_response()?;
    /// assert!(response.is_last() && response.is_failure());
    /// assert_eq!(response.to_vec()?, b"false");
    /// # Ok::<(), filemap::Error>(())
    /// ```
    ///
    /// [`Server::respond_failure`]: crate::service::Server::respond_failure
    pub fn is_failure(&self) -> bool {
        self.failure
    }
}

impl<'a> std::ops::Deref for Response<'a> {
    type Target = RecvSlot<'a>;

    /// The payload, as a received message (`len`, `read_at`, `to_vec`, `append_to`).
    fn deref(&self) -> &RecvSlot<'a> {
        &self.slot
    }
}
