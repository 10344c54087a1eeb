//! Request-response across hosts, over Zenoh queries.
//!
//! - An exported service: a Zenoh queryable on the service's key; the bridge is a client
//!   of the local service, sends each query's payload as a request, and replies to the
//!   query with each response (a stream's parts, then the last), in order; a failure
//!   (`Server::respond_failure`) as an error reply with its reason. If the local server is
//!   gone, the pending queries get an error reply, and so does a query the server has not
//!   answered in full within the query timeout (its request is given up).
//! - An imported service: the bridge is the local server of the service; each request
//!   becomes a Zenoh `get` with the request's payload, and each reply a response: every
//!   reply but the last as a part, the last (known when the query ends) as the last
//!   response. An error reply fails the request (`respond_failure`, its payload the
//!   reason, once the query ends, the replies before the end passed on as parts), and so
//!   does a query that gets no reply (no queryable on the far side, or none in time), a
//!   reply longer than a response can be, and a query that ends after replies an
//!   exporting bridge marked as parts ([`wire::reply_mark`]) without that bridge's last:
//!   the link, or that bridge, went away mid-stream.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use filemap::Error;
use filemap::service::{Client, RequestId, Server, ServiceOptions};
use zenoh::query::Query;
use zenoh::sample::Locality;
use zenoh::{Session, Wait};

use crate::export::STOP_CHECK;
use crate::replies::{EndGuard, Held, REPLY_COST, Reply, ReplyPart, ReplyQueue, reply_len};
use crate::{LastSent, Log, Settings, keys, wire};

/// How often an exported service looks for queries its local server left unanswered too
/// long.
const EXPIRY_LOOK: Duration = Duration::from_millis(50);
/// The most queries an exported service takes from Zenoh before it looks at responses.
const QUERIES_PER_LOOK: usize = 64;
/// The most responses an exported service reads before it looks at queries again.
const RESPONSES_PER_LOOK: usize = 1024;
/// The most queries an exported service holds waiting for room in its request ring.
const MAX_WAITING: usize = 4096;
/// How long an exported service waits for room in its request ring, and an imported one
/// for its client to take a response, before it fails that request (a local server or
/// client that stops reading must not hold the bridge, nor its stop, for ever).
pub(crate) const LOCAL_WAIT: Duration = Duration::from_secs(1);

/// A running service bridge (either direction): its thread ends when `stop` is set.
pub(crate) struct ServiceBridge {
    thread: JoinHandle<()>,
}

impl ServiceBridge {
    /// Whether its thread has ended (once the bridge's stop is set, within a loop's pass).
    pub(crate) fn ended(&self) -> bool {
        self.thread.is_finished()
    }

    pub(crate) fn join(self) {
        let _ = self.thread.join();
    }
}

/// Exports the local service `name`: answers Zenoh queries on its key.
pub(crate) fn export(
    session: &Session,
    name: String,
    settings: &Settings,
    stop: Arc<AtomicBool>,
    log: Log,
) -> Result<ServiceBridge, crate::BridgeError> {
    let key = keys::key_for(&settings.prefix, &name);
    let query_timeout = settings.query_timeout;
    // (The bound of the backlog's payloads.)
    let backlog_bytes = settings.buffer_bytes;
    // The id in this bridge's reply marks: its namespace's and its session's (two bridges
    // of one namespace that export the service are two).
    let origin = format!("{}#{}", settings.origin_of(&name), session.zid());
    // A query from this namespace (an importing bridge of it, whose import is the server
    // here) is refused: it would come round again for ever.
    let namespace = settings.origin_of(&name).to_string();
    // (Only other sessions' queries: not this bridge's own imports'.)
    let queryable = session
        .declare_queryable(key.clone())
        .allowed_origin(Locality::Remote)
        .wait()
        .map_err(crate::zenoh_error)?;
    // Noted after every reply (a stopping bridge keeps its session open a while after).
    let sent = settings.sent.clone();
    let thread = std::thread::Builder::new()
        .name(format!("service export {name}"))
        .spawn(move || {
            let mut client: Option<Client> = None;
            // Each query taken, with when it is due.
            let mut pending = Pending::default();
            // Queries waiting for room in the request ring, oldest first, with when each
            // is due (bounded in count and in their payloads' bytes).
            let mut backlog = Backlog::default();
            let mut looked_for_expired = Instant::now();
            let mut said_absent = false;
            while !stop.load(Ordering::Relaxed) {
                if client.is_none() {
                    match Client::open(name.as_str()) {
                        Ok(c) => {
                            log(&format!("exporting the service {name} to {key}"));
                            client = Some(c);
                            said_absent = false;
                        }
                        Err(e) => {
                            if !said_absent {
                                log(&format!("the service {name} cannot be asked yet: {e}"));
                                said_absent = true;
                            }
                            // Not there yet (or no free client slot): refuse what comes,
                            // a bounded number per look (a flood of queries must not keep
                            // this loop from its stop flag).
                            let waiting = backlog.drain();
                            let new = std::iter::from_fn(|| queryable.try_recv().ok().flatten())
                                .take(REFUSED_PER_LOOK);
                            for query in waiting.chain(new) {
                                reply_err(
                                    &query,
                                    format!("the service {name} is not there"),
                                    &sent,
                                );
                            }
                            std::thread::sleep(STOP_CHECK);
                            continue;
                        }
                    }
                }
                let Some(c) = client.as_mut() else { continue };
                // Every query Zenoh holds comes into the backlog at once, due a query
                // timeout from now (Zenoh's queue is bounded, and a full one holds up the
                // link's receiving thread, every key of the link with it); past
                // `MAX_WAITING` or the bridge's buffer bytes, those the server is answering
                // counted in (a query holds its payload until it is answered, and a peer
                // chooses its length), a query
                // is answered with an error at once, as is one too long for the service.
                // (A bounded number per look, the stop flag looked at: a flood must not
                // keep this thread from the responses, nor the bridge from stopping.)
                for _ in 0..MAX_WAITING {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let Ok(Some(query)) = queryable.try_recv() else {
                        break;
                    };
                    let len = query.payload().map_or(0, |p| p.len());
                    // What the query holds while it waits: its payload, attachment and
                    // parameters (all the asker's to choose), and a cost of its own.
                    let held = len
                        .saturating_add(query.attachment().map_or(0, |a| a.len()))
                        .saturating_add(query.parameters().as_str().len())
                        .saturating_add(REPLY_COST);
                    let mark = query.attachment().map(|a| a.to_bytes());
                    let from_here = mark.as_deref().and_then(wire::decode_query_mark)
                        == Some(namespace.as_str());
                    // (Waiting for room, or being answered.)
                    let (queries, bytes) = (
                        backlog.queries.len() + pending.len(),
                        backlog.bytes.saturating_add(pending.bytes),
                    );
                    let refusal = if from_here {
                        Some(format!(
                            "a request for {name} comes from the namespace that serves it \
                             ({namespace}): a bridge of it imports the service this bridge \
                             exports, and the request would go round for ever"
                        ))
                    } else if len > c.max_request_len() {
                        Some(format!(
                            "a request of {len} bytes is longer than the service {name} \
                             carries ({} bytes at most)",
                            c.max_request_len()
                        ))
                    } else if queries >= MAX_WAITING {
                        Some(format!(
                            "the service {name} has {MAX_WAITING} queries waiting for its \
                             server or being served already"
                        ))
                    } else if queries > 0 && bytes.saturating_add(held) > backlog_bytes {
                        // (One query always waits, whatever the bound: a bound smaller
                        // than one request refuses no request for it.)
                        Some(format!(
                            "the service {name} has {bytes} bytes of queries waiting for its \
                             server or being served already"
                        ))
                    } else {
                        None
                    };
                    if let Some(refusal) = refusal {
                        reply_err(&query, refusal, &sent);
                        continue;
                    }
                    // (A timeout too long to reckon never ends.)
                    backlog.push_back(query, Instant::now().checked_add(query_timeout), held);
                }
                // The queries become requests, in turn, a few at a time: the responses are
                // read in between, so that a server that answers into a full response ring
                // is never waited on while this thread waits for it to take requests. A
                // query that finds the request ring full stays first in line, until there
                // is room or its time is up.
                for _ in 0..QUERIES_PER_LOOK {
                    let Some((query, due, len)) = backlog.pop_front() else {
                        break;
                    };
                    let payload = query.payload().map(|p| p.to_bytes().into_owned());
                    match c.send_request_timeout(&payload.unwrap_or_default(), Duration::ZERO) {
                        Ok(id) => {
                            pending.insert(id, query, due, len);
                        }
                        Err(Error::Timeout { .. }) => {
                            backlog.push_front(query, due, len);
                            break;
                        }
                        Err(e) => {
                            reply_err(&query, e.to_string(), &sent);
                        }
                    }
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                }
                backlog.expire(&name, query_timeout, &sent);
                let mut wait = if pending.is_empty() {
                    Duration::from_millis(5)
                } else {
                    Duration::from_millis(1)
                };
                // Every response there now (a server that answers into a full ring waits
                // for each to be read), a bounded number per look.
                let mut failed = None;
                for _ in 0..RESPONSES_PER_LOOK {
                    match c.recv_response_timeout(wait) {
                        Ok(response) => {
                            let (id, mut last) = (response.request(), response.is_last());
                            let mut failure = response.is_failure();
                            // A response that cannot be read (its memory lost, or damaged by
                            // another process) fails the query: sent on as empty, it would
                            // pass for the service's answer.
                            let bytes = response.to_vec().unwrap_or_else(|e| {
                                (failure, last) = (true, true);
                                format!("the bridge could not read the response: {e}").into_bytes()
                            });
                            if let Some(query) = pending.get(&id) {
                                let _ = if failure {
                                    query.reply_err(bytes).wait()
                                } else {
                                    // On the service's own key (a query's may be a
                                    // pattern), saying whether it is the last.
                                    let mark = wire::reply_mark(last, &origin);
                                    query.reply(key.clone(), bytes).attachment(mark).wait()
                                };
                                sent.now();
                            }
                            if last {
                                // Dropping the query ends it for the asker.
                                pending.remove(&id);
                            }
                            wait = Duration::ZERO;
                        }
                        Err(Error::Timeout { .. }) => break,
                        Err(e) => {
                            failed = Some(e);
                            break;
                        }
                    }
                }
                expire(
                    &mut pending,
                    c,
                    &mut looked_for_expired,
                    (&name, query_timeout),
                    &sent,
                );
                if let Some(e) = failed {
                    log(&format!("the service {name}: {e}"));
                    // A takeover fails only the requests the dead server had taken: the
                    // others stay pending, and the new server answers them.
                    let takeover = matches!(e, Error::Disconnected { .. });
                    pending.retain(|id, query, _| {
                        let keep = takeover && c.is_pending(*id);
                        if !keep {
                            reply_err(query, e.to_string(), &sent);
                        }
                        keep
                    });
                    if pending.is_empty() {
                        // A new client once a server is there (after a takeover too: a
                        // reconnect is cheap, and it never loops on a ring left closed).
                        client = None;
                        std::thread::sleep(STOP_CHECK);
                    }
                }
            }
            // The bridge stops (and closes its session only once this thread has ended):
            // each query still asked is told so, rather than ended with no reply: those
            // taken, those waiting for room, and those still in Zenoh's queue.
            let stopped = format!("the bridge exporting the service {name} stopped");
            let queued =
                std::iter::from_fn(|| queryable.try_recv().ok().flatten()).take(MAX_WAITING);
            for query in pending.into_queries().chain(backlog.drain()).chain(queued) {
                reply_err(&query, stopped.clone(), &sent);
            }
        })
        .map_err(|e| crate::BridgeError::System(format!("starting a service thread: {e}")))?;
    Ok(ServiceBridge { thread })
}

/// An exported service's queries waiting for room in its request ring, oldest first, each
/// with when it is due and the bytes it holds (see where they are counted); and their sum.
#[derive(Default)]
struct Backlog {
    queries: std::collections::VecDeque<(Query, Option<Instant>, usize)>,
    bytes: usize,
}

impl Backlog {
    fn push_back(&mut self, query: Query, due: Option<Instant>, len: usize) {
        self.bytes += len;
        self.queries.push_back((query, due, len));
    }

    /// Puts back first in line the query `pop_front` took.
    fn push_front(&mut self, query: Query, due: Option<Instant>, len: usize) {
        self.bytes += len;
        self.queries.push_front((query, due, len));
    }

    fn pop_front(&mut self) -> Option<(Query, Option<Instant>, usize)> {
        let taken = self.queries.pop_front()?;
        self.bytes -= taken.2;
        Some(taken)
    }

    /// Every query, oldest first, taken out.
    fn drain(&mut self) -> impl Iterator<Item = Query> + '_ {
        self.bytes = 0;
        self.queries.drain(..).map(|(query, _, _)| query)
    }

    /// Answers the queries that are past due with an error reply.
    fn expire(&mut self, name: &str, query_timeout: Duration, sent: &LastSent) {
        let now = Instant::now();
        let bytes = &mut self.bytes;
        self.queries.retain(|(query, due, len)| {
            let late = due.is_some_and(|due| now >= due);
            if late {
                *bytes -= len;
                let why = format!(
                    "the service {name} took no request for {} (its request ring stayed full)",
                    filemap::HumanDuration(query_timeout)
                );
                reply_err(query, why, sent);
            }
            !late
        });
    }
}

/// The queries an exported service has passed on as requests, with when each is due.
/// An exported service's queries sent to its server as requests, each with when it is due
/// and the bytes it holds (counted as in the backlog: a query holds its payload until it
/// is answered); and their sum.
#[derive(Default)]
struct Pending {
    queries: HashMap<RequestId, (Query, Option<Instant>, usize)>,
    bytes: usize,
}

impl Pending {
    fn insert(&mut self, id: RequestId, query: Query, due: Option<Instant>, held: usize) {
        self.bytes = self.bytes.saturating_add(held);
        if let Some((_, _, old)) = self.queries.insert(id, (query, due, held)) {
            self.bytes = self.bytes.saturating_sub(old);
        }
    }

    fn get(&self, id: &RequestId) -> Option<&Query> {
        self.queries.get(id).map(|(query, _, _)| query)
    }

    fn remove(&mut self, id: &RequestId) {
        if let Some((_, _, held)) = self.queries.remove(id) {
            self.bytes = self.bytes.saturating_sub(held);
        }
    }

    /// Keeps the queries `keep` says to keep.
    fn retain(&mut self, mut keep: impl FnMut(&RequestId, &Query, Option<Instant>) -> bool) {
        let mut bytes = 0usize;
        self.queries.retain(|id, (query, due, held)| {
            let kept = keep(id, query, *due);
            if kept {
                bytes = bytes.saturating_add(*held);
            }
            kept
        });
        self.bytes = bytes;
    }

    fn len(&self) -> usize {
        self.queries.len()
    }

    fn is_empty(&self) -> bool {
        self.queries.is_empty()
    }

    fn into_queries(self) -> impl Iterator<Item = Query> {
        self.queries.into_values().map(|(query, _, _)| query)
    }
}

/// Answers `query` with an error reply saying `why`, noted in `sent` (a stopping bridge
/// keeps its session open a while after its last reply).
fn reply_err(query: &Query, why: impl Into<zenoh::bytes::ZBytes>, sent: &LastSent) {
    let _ = query.reply_err(why).wait();
    sent.now();
}

/// Answers the queries of `pending` that are past due with an error reply, giving their
/// requests up (their late responses are dropped), at most once per `EXPIRY_LOOK`.
fn expire(
    pending: &mut Pending,
    client: &mut Client,
    looked: &mut Instant,
    (name, query_timeout): (&str, Duration),
    sent: &LastSent,
) {
    if looked.elapsed() < EXPIRY_LOOK {
        return;
    }
    *looked = Instant::now();
    let now = *looked;
    pending.retain(|id, query, due| {
        if due.is_none_or(|due| now < due) {
            return true;
        }
        client.give_up(*id);
        let why = format!(
            "the service {name} did not answer within {}",
            filemap::HumanDuration(query_timeout)
        );
        reply_err(query, why, sent);
        false
    });
}

/// The most queries a service's export refuses in one look while its service is not there.
const REFUSED_PER_LOOK: usize = 1024;

/// Imports the remote service `name`: the bridge serves it locally, asking the far side.
pub(crate) fn import(
    session: &Session,
    name: String,
    settings: &Settings,
    stop: Arc<AtomicBool>,
    log: Log,
) -> Result<ServiceBridge, crate::BridgeError> {
    let key = keys::key_for(&settings.prefix, &name);
    let query_timeout = settings.query_timeout;
    let reply_bound = settings.buffer_bytes;
    let replies_total = Arc::new(AtomicUsize::new(0));
    let mut server = Server::create_or_open(name.as_str(), &ServiceOptions::new())?;
    log(&format!("importing the service {key} into {name}"));
    let namespace = settings.origin_of(&name).to_string();
    let session = session.clone();
    let thread = std::thread::Builder::new()
        .name(format!("service import {name}"))
        .spawn(move || {
            let (tx, replies) = mpsc::channel::<Reply>();
            let mut held = crate::replies::Requests::default();
            while !stop.load(Ordering::Relaxed) {
                let wait = if held.is_empty() {
                    Duration::from_millis(5)
                } else {
                    Duration::from_millis(1)
                };
                let received = match server.recv_request_timeout(wait) {
                    Ok(request) => Some((request.id(), request.to_vec())),
                    Err(Error::Timeout { .. } | Error::Disconnected { .. }) => None,
                    Err(e) => {
                        log(&format!("serving {name}: {e}"));
                        std::thread::sleep(STOP_CHECK);
                        None
                    }
                };
                let asked = match received {
                    Some((id, Ok(payload))) => Some((id, payload)),
                    // (Its memory lost, or damaged by another process: the client is told,
                    // rather than its service asked something else.)
                    Some((id, Err(e))) => {
                        log(&format!("serving {name}: a request could not be read: {e}"));
                        let reason = format!("the bridge could not read the request: {e}");
                        held.insert(id, Held::failed(reason));
                        None
                    }
                    None => None,
                };
                // A client that keeps asking and takes no answer must not make queries
                // (and what the bridge holds for each) without end.
                let asked = asked.filter(|(id, _)| {
                    let most = crate::replies::MAX_PER_CLIENT;
                    if held.outstanding(id.client()) < most {
                        return true;
                    }
                    let reason = format!(
                        "this client has {most} requests waiting for their answers from \
                         {key} already"
                    );
                    held.insert(*id, Held::failed(reason));
                    false
                });
                if let Some((id, payload)) = asked {
                    let (tx, guard) = (tx.clone(), EndGuard(id, tx.clone()));
                    let queue = Arc::new(ReplyQueue::new(reply_bound, replies_total.clone()));
                    let overflowed = AtomicBool::new(false);
                    // (A reply no response can carry is refused as it comes: it is not
                    // held, past the queue's count, until its turn.)
                    let longest = server.max_response_len();
                    let asked = session
                        .get(key.clone())
                        // (Only other sessions' queryables; and marked, so that an
                        // exporting bridge of this namespace refuses it.)
                        .allowed_destination(Locality::Remote)
                        .attachment(wire::query_mark(&namespace))
                        .payload(payload)
                        .timeout(query_timeout)
                        // Every reply, in order (by default Zenoh keeps the latest per key).
                        .consolidation(zenoh::query::ConsolidationMode::None)
                        .callback(move |reply| {
                            let _keep = &guard;
                            if overflowed.load(Ordering::Relaxed) {
                                return;
                            }
                            // Measured before anything is copied: a far side's reply of any
                            // size costs no more than its length until it is admitted.
                            let result = reply.result();
                            let mark = result.as_ref().ok().and_then(|sample| {
                                let a = sample.attachment()?;
                                if a.len() > wire::MAX_REPLY_MARK {
                                    return None;
                                }
                                let bytes = a.to_bytes();
                                let (last, origin) = wire::decode_reply_mark(&bytes)?;
                                Some((last, origin.to_string()))
                            });
                            let payload = match &result {
                                Ok(sample) => sample.payload().len(),
                                Err(error) => error.payload().len(),
                            };
                            // (The payload alone is the response: the mark is not passed on,
                            // though the buffers count it.)
                            if payload > longest {
                                overflowed.store(true, Ordering::Relaxed);
                                let _ = tx.send(Reply::TooLong(id, payload));
                                return;
                            }
                            let len = match &result {
                                Ok(_) => reply_len(payload, mark.as_ref()),
                                Err(_) => payload,
                            };
                            if !queue.admit(len) {
                                overflowed.store(true, Ordering::Relaxed);
                                let _ = tx.send(Reply::Overflow(id));
                                return;
                            }
                            let part: ReplyPart = match result {
                                Ok(sample) => Ok((sample.payload().to_bytes().into_owned(), mark)),
                                Err(error) => Err(error.payload().to_bytes().into_owned()),
                            };
                            let _ = tx.send(Reply::Part(id, part, queue.clone()));
                        })
                        .wait();
                    match asked {
                        Ok(()) => {
                            held.insert(id, Held::default());
                        }
                        Err(e) => {
                            log(&format!("asking {key}: {e}"));
                            let reason = format!("the bridge could not ask {key}: {e}");
                            held.insert(id, Held::failed(reason));
                        }
                    }
                }
                // Until the bridge stops: then what is still held fails (below), rather than
                // end as the session's close ends the queries (a stream cut short would pass
                // for whole, its last part sent as the last response).
                while !stop.load(Ordering::Relaxed) {
                    let Ok(reply) = replies.try_recv() else {
                        break;
                    };
                    let longest = server.max_response_len();
                    crate::replies::take_in(
                        &mut held,
                        reply,
                        (&key, &name, longest),
                        (reply_bound, query_timeout),
                        &log,
                    );
                }
                // What each client has room for now, without waiting: a client that does
                // not take its responses holds up no other's.
                crate::replies::deliver(&mut held, &mut server, &log, query_timeout);
            }
            // The bridge stops: each request still asked fails with that said (without
            // waiting for room: a client that does not take it must not hold the stop up).
            let stopped = format!("the bridge importing {key} stopped");
            for id in held.into_ids() {
                let _ = server.respond_failure_timeout(id, stopped.as_bytes(), Duration::ZERO);
            }
        })
        .map_err(|e| crate::BridgeError::System(format!("starting a service thread: {e}")))?;
    Ok(ServiceBridge { thread })
}
