//! What an imported service's serving thread holds for each request it asked the far side
//! (`service::import`): the replies on their way from Zenoh's callback (bounded, per query
//! and in all), and the responses on their way to the local client, each request's in its
//! own queue. A response is given to the client only when its ring has room now: a client
//! that does not take its responses holds up no other client's, and fails its own request
//! after [`LOCAL_WAIT`] without room.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use filemap::Error;
use filemap::service::{RequestId, Server};

use crate::Log;
use crate::service::LOCAL_WAIT;

/// What a query's callback tells the serving thread.
pub(crate) enum Reply {
    /// A reply's payload, or an error reply's, counted in its query's queue.
    Part(RequestId, ReplyPart, Arc<ReplyQueue>),
    /// Replies came faster than the local client takes them, past the bridge's buffer:
    /// the rest of this query's are dropped, and the request fails.
    Overflow(RequestId),
    /// A reply (of this many bytes) longer than a response can be: the rest of this
    /// query's are dropped, and the request fails.
    TooLong(RequestId, usize),
    /// The query ended: no more replies.
    End(RequestId),
}

/// The bytes of one query's replies on their way from Zenoh's callback to the serving
/// thread, at most a bound (the bridge's buffer), past which the request fails: a far side
/// that replies faster than the local client takes the responses must not fill this
/// host's memory. Each query has its own (one slow client does not fail another's
/// requests), and a reply is always let in while none of its query's waits (a reply
/// larger than the bound still goes); all the queries' together are held to
/// `TOTAL_REPLY_BUFFERS` bounds.
pub(crate) struct ReplyQueue {
    bytes: AtomicUsize,
    bound: usize,
    /// All the service's queries' bytes on their way (shared).
    total: Arc<AtomicUsize>,
}

/// How many queries' worth of replies (bounds) an imported service holds at most.
pub(crate) const TOTAL_REPLY_BUFFERS: usize = 4;

/// What a reply held costs besides its payload (its buffer, its place in the queue), as
/// the bounds count it: a far side that streams empty replies fills them too.
pub(crate) const REPLY_COST: usize = 128;

/// Adds `len` to `count` if the sum stays within `bound` (or `count` is 0 and
/// `one_always` lets a first one in whatever its size).
fn add_within(count: &AtomicUsize, len: usize, bound: usize, one_always: bool) -> bool {
    count
        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |now| {
            let sum = now.saturating_add(len);
            (sum <= bound || (one_always && now == 0)).then_some(sum)
        })
        .is_ok()
}

impl ReplyQueue {
    pub(crate) fn new(bound: usize, total: Arc<AtomicUsize>) -> ReplyQueue {
        ReplyQueue {
            bytes: AtomicUsize::new(0),
            bound,
            total,
        }
    }

    /// Counts a reply of `len` bytes in, if it fits (Zenoh may call a query's callback
    /// from more than one thread at once: each count is changed in one step).
    pub(crate) fn admit(&self, len: usize) -> bool {
        let len = len.saturating_add(REPLY_COST);
        if !add_within(&self.bytes, len, self.bound, true) {
            return false;
        }
        let total_bound = self.bound.saturating_mul(TOTAL_REPLY_BUFFERS);
        if !add_within(&self.total, len, total_bound, true) {
            self.bytes.fetch_sub(len, Ordering::AcqRel);
            return false;
        }
        true
    }

    /// Counts a reply of `len` bytes out (passed on to the client, or dropped).
    fn taken(&self, len: usize) {
        let len = len.saturating_add(REPLY_COST);
        self.bytes.fetch_sub(len, Ordering::AcqRel);
        self.total.fetch_sub(len, Ordering::AcqRel);
    }
}

/// Sends `End` when the query's reply callback is dropped (Zenoh drops it when the query
/// ends).
pub(crate) struct EndGuard(pub(crate) RequestId, pub(crate) mpsc::Sender<Reply>);

impl Drop for EndGuard {
    fn drop(&mut self) {
        let _ = self.1.send(Reply::End(self.0));
    }
}

/// A reply's bytes as the serving thread gets them: a response (with the exporting
/// bridge's mark, if any: whether it is that bridge's last, and its id) or an error
/// reply's reason.
pub(crate) type ReplyPart = Result<(Vec<u8>, Option<(bool, String)>), Vec<u8>>;

/// What a reply of `payload` bytes with `mark` counts against the buffers (the same before
/// it is copied out of Zenoh's sample as after, in its [`Charge`]).
pub(crate) fn reply_len(payload: usize, mark: Option<&(bool, String)>) -> usize {
    payload.saturating_add(mark.map_or(0, |(_, id)| id.len()))
}

/// The most exporting bridges whose streams one request follows: replies marked by more
/// fail it (a far side must not grow the set for the query's whole time).
const MAX_STREAMS: usize = 16;

/// A reply's bytes, counted in its query's bounds until they are given to the client or
/// dropped (then the count goes with this).
struct Charge {
    len: usize,
    queue: Arc<ReplyQueue>,
}

impl Drop for Charge {
    fn drop(&mut self) {
        self.queue.taken(self.len);
    }
}

/// A response on its way to the client, in order.
enum Outgoing {
    /// A part of a stream (more follow), counted in its query's bounds until it goes.
    Part { bytes: Vec<u8>, _charge: Charge },
    /// The last response, counted so too.
    Last { bytes: Vec<u8>, _charge: Charge },
    /// A failure, with its reason: the last response too.
    Failure(Vec<u8>),
}

/// What a request of an imported service has had so far: the reply held back (the last
/// one is known only when the query ends), and the first error reply; the exporting
/// bridges whose marked parts came but not their last ([`crate::wire::reply_mark`]: a
/// stream cut short, if any is left when the query ends); and the responses waiting for
/// room in the client's ring.
#[derive(Default)]
pub(crate) struct Held {
    reply: Option<(Vec<u8>, Charge)>,
    error: Option<Vec<u8>>,
    streaming: HashSet<String>,
    outgoing: VecDeque<Outgoing>,
    /// Its last response is queued (the query ended, or the request failed): later
    /// replies are dropped, and the request is done once the queue is empty.
    closed: bool,
    /// Since when its client has taken no response while this one waited for room.
    stalled_since: Option<Instant>,
    /// When it was failed for a client that took nothing (its failure queued alone).
    given_up: Option<Instant>,
    /// The order requests came in (a client's are given room in that order).
    order: u64,
}

impl Held {
    /// A request that fails now with `reason` (after the responses queued before it); the
    /// reply held back, and every reply after, is dropped.
    pub(crate) fn failed(reason: impl Into<Vec<u8>>) -> Held {
        let mut held = Held::default();
        held.close_with(reason.into());
        held
    }

    fn close_with(&mut self, reason: Vec<u8>) {
        self.reply = None;
        self.error = None;
        self.outgoing.push_back(Outgoing::Failure(reason));
        self.closed = true;
    }
}

/// The most requests of one client an imported service holds at once (asked of the far
/// side, or with responses waiting for the client): past it, a request fails at once.
pub(crate) const MAX_PER_CLIENT: usize = 1024;

/// What the serving thread knows of the requests it asked the far side, by request.
#[derive(Default)]
pub(crate) struct Requests {
    held: HashMap<RequestId, Held>,
    /// The order of the next request.
    next: u64,
}

impl Requests {
    /// Notes request `id`, asked of the far side (or failed at once: `held`).
    pub(crate) fn insert(&mut self, id: RequestId, mut held: Held) {
        held.order = self.next;
        self.next += 1;
        self.held.insert(id, held);
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.held.is_empty()
    }

    /// How many requests of client `client` are not done.
    pub(crate) fn outstanding(&self, client: u32) -> usize {
        self.held.keys().filter(|id| id.client() == client).count()
    }

    /// The requests not yet done (to fail as the bridge stops).
    pub(crate) fn into_ids(self) -> impl Iterator<Item = RequestId> {
        self.held.into_keys()
    }

    fn open(&mut self, id: &RequestId) -> Option<&mut Held> {
        self.held.get_mut(id).filter(|held| !held.closed)
    }
}

/// Takes in one reply from a query's callback: queued for its request's client (the
/// request's end, its failure, a part held back until the next shows it was no last).
/// `key` names the far side's service, `name` the local one, in the reasons given.
pub(crate) fn take_in(
    requests: &mut Requests,
    reply: Reply,
    (key, name, longest): (&str, &str, usize),
    (reply_bound, query_timeout): (usize, Duration),
    log: &Log,
) {
    match reply {
        Reply::Overflow(id) => {
            let Some(held) = requests.open(&id) else {
                return;
            };
            log(&format!(
                "{key}: replies to a request came faster than its client takes them, past \
                 the bridge's buffer"
            ));
            let reason = format!(
                "the replies from {key} came faster than the bridge could pass them on, past \
                 its buffer of {reply_bound} bytes for a request ({} for all of them)",
                reply_bound.saturating_mul(TOTAL_REPLY_BUFFERS)
            );
            held.close_with(reason.into_bytes());
        }
        Reply::TooLong(id, len) => {
            let Some(held) = requests.open(&id) else {
                return;
            };
            let reason = format!(
                "a reply of {len} bytes from {key} is longer than a response of {name} can be \
                 ({longest} bytes at most)"
            );
            held.close_with(reason.into_bytes());
        }
        Reply::Part(id, Ok((bytes, mark)), queue) => {
            let charge = Charge {
                len: reply_len(bytes.len(), mark.as_ref()),
                queue,
            };
            let Some(held) = requests.open(&id) else {
                return;
            };
            let too_many = match mark {
                Some((false, origin)) => {
                    held.streaming.insert(origin);
                    held.streaming.len() > MAX_STREAMS
                }
                Some((true, origin)) => {
                    held.streaming.remove(&origin);
                    false
                }
                None => false,
            };
            if too_many {
                let reason =
                    format!("replies from {key} came marked by more than {MAX_STREAMS} bridges");
                held.close_with(reason.into_bytes());
                return;
            }
            if let Some((part, charge)) = held.reply.replace((bytes, charge)) {
                held.outgoing.push_back(Outgoing::Part {
                    bytes: part,
                    _charge: charge,
                });
            }
        }
        Reply::Part(id, Err(reason), queue) => {
            drop(Charge {
                len: reason.len(),
                queue,
            });
            if let Some(held) = requests.open(&id) {
                held.error.get_or_insert(reason);
            }
        }
        Reply::End(id) => {
            let Some(held) = requests.open(&id) else {
                return;
            };
            held.closed = true;
            let (reply, error) = (held.reply.take(), held.error.take());
            match (reply, error) {
                // Replies of an exporting bridge that never said which was the last: the
                // stream was cut short, and its last reply is no last response.
                (Some((part, charge)), None) if !held.streaming.is_empty() => {
                    log(&format!("{key}: a stream of replies was cut short"));
                    let reason = format!(
                        "the replies from {key} were cut short (the link, or the bridge \
                         exporting the service, went away)"
                    );
                    held.outgoing.push_back(Outgoing::Part {
                        bytes: part,
                        _charge: charge,
                    });
                    held.outgoing
                        .push_back(Outgoing::Failure(reason.into_bytes()));
                }
                (Some((last, charge)), None) => {
                    held.outgoing.push_back(Outgoing::Last {
                        bytes: last,
                        _charge: charge,
                    });
                }
                (reply, Some(reason)) => {
                    if let Some((part, charge)) = reply {
                        held.outgoing.push_back(Outgoing::Part {
                            bytes: part,
                            _charge: charge,
                        });
                    }
                    held.outgoing.push_back(Outgoing::Failure(reason));
                }
                (None, None) => {
                    log(&format!("{key}: no reply to a request"));
                    let reason = format!(
                        "no reply from {key} (no queryable on the far side, or none within {})",
                        filemap::HumanDuration(query_timeout)
                    );
                    held.outgoing
                        .push_back(Outgoing::Failure(reason.into_bytes()));
                }
            }
        }
    }
}

/// Gives each request's client the responses its ring has room for now, without waiting,
/// a client's requests in the order they came (once one finds no room, the client's later
/// ones wait their turn). A request done (its last response given) is forgotten. While a
/// client takes no response, its requests with responses waiting stall: after
/// [`LOCAL_WAIT`] each is failed, its waiting responses dropped and its failure queued
/// alone, given when the client takes again; a failure not taken within `give_up_after`
/// (the query timeout) more is dropped too (the client is left to its own timeout).
pub(crate) fn deliver(
    requests: &mut Requests,
    server: &mut Server,
    log: &Log,
    give_up_after: Duration,
) {
    let mut waiting: Vec<(u64, RequestId)> = requests
        .held
        .iter()
        .filter(|(_, held)| !held.outgoing.is_empty())
        .map(|(id, held)| (held.order, *id))
        .collect();
    waiting.sort_unstable_by_key(|&(order, _)| order);
    let (mut full, mut took) = (HashSet::new(), HashSet::new());
    let mut done = Vec::new();
    for (_, id) in waiting {
        if full.contains(&id.client()) {
            continue;
        }
        let Some(held) = requests.held.get_mut(&id) else {
            continue;
        };
        while let Some(next) = held.outgoing.front() {
            let given = match next {
                Outgoing::Part { bytes, .. } => {
                    server.respond_part_timeout(id, bytes, Duration::ZERO)
                }
                Outgoing::Last { bytes, .. } => server.respond_timeout(id, bytes, Duration::ZERO),
                Outgoing::Failure(reason) => {
                    server.respond_failure_timeout(id, reason, Duration::ZERO)
                }
            };
            match given {
                Ok(()) => {
                    let last = !matches!(next, Outgoing::Part { .. });
                    held.outgoing.pop_front();
                    took.insert(id.client());
                    if last {
                        done.push(id);
                        break;
                    }
                }
                Err(Error::Timeout { .. }) => {
                    full.insert(id.client());
                    break;
                }
                Err(e) => {
                    log(&format!(
                        "a response to request {} of client {}: {e}",
                        id.number(),
                        id.client()
                    ));
                    if matches!(next, Outgoing::Failure(_)) {
                        // Not even the failure goes: the client is left to its timeout.
                        done.push(id);
                        break;
                    }
                    // The rest is dropped; the failure waits its turn as any response.
                    let reason = format!("the bridge could not pass the response on: {e}");
                    held.outgoing.clear();
                    held.close_with(reason.into_bytes());
                }
            }
        }
    }
    for id in done {
        requests.held.remove(&id);
    }
    let now = Instant::now();
    requests.held.retain(|id, held| {
        if held.outgoing.is_empty() {
            // Nothing queued: asked still, or (closed) done.
            held.stalled_since = None;
            return !held.closed;
        }
        if took.contains(&id.client()) {
            held.stalled_since = None;
            return true;
        }
        let since = *held.stalled_since.get_or_insert(now);
        match held.given_up {
            Some(at) if now.duration_since(at) >= give_up_after => false,
            Some(_) => true,
            None if now.duration_since(since) < LOCAL_WAIT => true,
            None => {
                log(&format!(
                    "a response to request {} of client {}: the client took none within {}: \
                     the request fails",
                    id.number(),
                    id.client(),
                    filemap::HumanDuration(LOCAL_WAIT)
                ));
                let reason = format!(
                    "the client took no response within {}: the bridge passed no more on",
                    filemap::HumanDuration(LOCAL_WAIT)
                );
                held.outgoing.clear();
                held.close_with(reason.into_bytes());
                held.given_up = Some(now);
                true
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Empty replies count against an imported service's bound too (each counted as its
    /// cost besides the payload): before, a far side that streamed them was never held back.
    #[test]
    fn empty_replies_fill_the_bound() {
        let total = Arc::new(AtomicUsize::new(0));
        let queue = ReplyQueue::new(64 * 1024, total.clone());
        let admitted = (0..100_000).take_while(|_| queue.admit(0)).count();
        assert_eq!(admitted, 64 * 1024 / REPLY_COST);
        queue.taken(0);
        assert!(queue.admit(0), "a reply taken out makes room for another");
        assert_eq!(total.load(Ordering::Relaxed), 64 * 1024);
    }
}
