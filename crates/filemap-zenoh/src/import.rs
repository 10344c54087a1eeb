//! Importing Zenoh keys into local topics: one Zenoh subscriber per `--import` pattern,
//! whose callback publishes each sample it gets on the local topic its key names (the
//! bridge becomes that topic's publisher). Samples a bridge published carry their topic's
//! sequence number: a jump in it is a gap (messages the exporting side dropped, or its
//! topic overwrote), reported and counted, never hidden.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use filemap::channel::Sender;
use filemap::topic::{Publisher, TopicOptions};
use zenoh::sample::{Locality, Sample, SampleKind};
use zenoh::{Session, Wait};

use crate::export::{Export, STOP_CHECK};
use crate::{Log, Settings, keys, wire};

/// The most names an import keeps per-name state for besides its topics (when each was
/// looked at, refused, said): bounded, as a far side may put to ever new keys.
const MAX_NAMES: usize = 1024;
/// The most (exporting bridge, topic) pairs whose sequence numbers are followed; past
/// them, the quarter seen least recently is forgotten at once (a far side that sends ever
/// new ids must not grow it, and a scan per sample would cost it more than the rest).
const MAX_SEQUENCES: usize = 4096;
/// How often a line about one topic's samples (a gap, a message refused) is written at
/// most: a far side that sends samples refused one by one must not flood the log; the
/// lines left out are counted in the next.
pub(crate) const SAMPLE_LINES: Duration = Duration::from_secs(1);
/// The key under which lines about names that could not be imported into are counted (no
/// name: names have no NUL).
const REFUSALS: &str = "\0refused";
/// How long a name that could not be imported into is left alone before the next try
/// (not a filesystem call per sample).
const RETRY_REFUSED: Duration = Duration::from_secs(1);
/// How often an import looks whether a local topic's name was removed.
const NAME_LOOK: Duration = Duration::from_millis(500);
/// A jump in a sequence larger than this is a restarted numbering, not a gap.
const MAX_GAP: u64 = 1 << 40;
/// How long a sample waits for room in its local topic (its subscribers are slow) before
/// it is dropped, and its topic's samples after it too until one finds room: the wait
/// holds up Zenoh's receiving thread, and with it every key of the link and the link's
/// own keep-alive messages.
const IMPORT_WAIT: Duration = Duration::from_secs(1);

/// One imported topic's counters.
#[derive(Debug, Default)]
pub(crate) struct ImportCounters {
    /// Messages published on the local topic.
    pub(crate) published: AtomicU64,
    /// Messages missing between the samples received (by their sequence numbers).
    pub(crate) gaps: AtomicU64,
    /// Samples of the topic, once imported into, that could not be published locally (no
    /// room within the import's wait, or an error such as a message that did not fit).
    /// Those of a name the import could not take at all (its topic has a publisher of its
    /// own, or the imports hold their most topics open) have no counters: the log says
    /// so, once per name.
    pub(crate) refused: AtomicU64,
}

/// What an import publishes on: a topic (made if needed), or an existing channel, as its
/// sender.
enum Sink {
    Topic(Publisher),
    Channel(Sender),
}

impl Sink {
    /// Opens the publisher of topic `name` (making the topic with `options` if nothing has
    /// that name), or the sender of the channel `name`.
    fn name_removed(&self) -> bool {
        match self {
            Sink::Topic(publisher) => publisher.name_removed(),
            Sink::Channel(sender) => sender.name_removed(),
        }
    }

    fn open(name: &str, options: &TopicOptions) -> filemap::Result<Sink> {
        match Publisher::create_or_open(name, options) {
            Ok(publisher) => Ok(Sink::Topic(publisher)),
            Err(filemap::Error::KindMismatch {
                found: filemap::Kind::Channel,
                ..
            }) => Ok(Sink::Channel(Sender::open(name)?)),
            Err(e) => Err(e),
        }
    }

    /// Publishes one message made of `parts` in order (a Zenoh payload's slices: a large
    /// one arrives in several), copied straight into the message's slot; waiting for room
    /// (a slow local subscriber holds the link up, as a reliable link should) for at most
    /// `wait`, and not once `stop` is set: `Error::Timeout` then.
    fn publish(
        &mut self,
        parts: &[&[u8]],
        stop: &AtomicBool,
        wait: Duration,
    ) -> filemap::Result<()> {
        let len = parts.iter().map(|p| p.len()).sum();
        let deadline = Instant::now().checked_add(wait);
        loop {
            let slice = deadline.map_or(STOP_CHECK, |d| {
                d.saturating_duration_since(Instant::now()).min(STOP_CHECK)
            });
            let written = match self {
                Sink::Topic(publisher) => match publisher.reserve_timeout(len, slice) {
                    Ok(mut slot) => write_parts(parts, |at, part| slot.write_at(at, part))
                        .map(|()| slot.commit()),
                    Err(e) => Err(e),
                },
                Sink::Channel(sender) => match sender.reserve_timeout(len, slice) {
                    Ok(mut slot) => write_parts(parts, |at, part| slot.write_at(at, part))
                        .map(|()| slot.commit()),
                    Err(e) => Err(e),
                },
            };
            match written {
                Err(filemap::Error::Timeout { .. })
                    if !stop.load(Ordering::Relaxed)
                        && deadline.is_none_or(|d| Instant::now() < d) => {}
                other => return other,
            }
        }
    }
}

/// Writes `parts` one after the other with `write_at` (offset, bytes).
fn write_parts(
    parts: &[&[u8]],
    mut write_at: impl FnMut(usize, &[u8]) -> filemap::Result<()>,
) -> filemap::Result<()> {
    let mut at = 0;
    for part in parts {
        write_at(at, part)?;
        at += part.len();
    }
    Ok(())
}

/// The local topics this bridge imports into, with their counters (the exports skip them,
/// so that a bridge never sends back what it brought in).
pub(crate) type Imported = Arc<Mutex<HashMap<String, Arc<ImportCounters>>>>;

/// The bridge's exports by name (an import that takes a name ends its export).
pub(crate) type Exports = Arc<Mutex<HashMap<String, Export>>>;

/// What a bridge's imports share with it and with each other.
#[derive(Clone)]
pub(crate) struct Shared {
    pub(crate) exports: Exports,
    pub(crate) imported: Imported,
    /// How many topics the imports hold open, all together.
    pub(crate) open: Arc<AtomicUsize>,
    /// The bridge's stop flag.
    pub(crate) stop: Arc<AtomicBool>,
}

/// A running import: its Zenoh subscriber, whose callback publishes each sample locally.
pub(crate) struct Import {
    subscriber: zenoh::pubsub::Subscriber<()>,
}

impl Import {
    /// Ends the import (the subscriber is undeclared: no callback runs after this).
    pub(crate) fn join(self) {
        let _ = self.subscriber.undeclare().wait();
    }
}

/// Starts importing the keys of the names `pattern` matches. Each sample is published
/// from Zenoh's callback, on the thread that received it (no hand-off to another thread:
/// a local topic whose subscribers are slow holds the link up, as a reliable link should,
/// for at most `IMPORT_WAIT`: past it, that topic's samples are dropped until one finds
/// room, so that one stuck subscriber never stops the link).
pub(crate) fn start(
    session: &Session,
    pattern: String,
    settings: &Settings,
    shared: Shared,
    log: Log,
) -> Result<Import, zenoh::Error> {
    let expr = keys::key_expr_for(&settings.prefix, &pattern);
    let importer = Mutex::new(Importer {
        pattern,
        settings: settings.clone(),
        exports: shared.exports,
        imported: shared.imported,
        open: shared.open,
        stop: shared.stop,
        publishers: HashMap::new(),
        next_seq: HashMap::new(),
        samples_taken: 0,
        sample_lines: HashMap::new(),
        refused_names: HashMap::new(),
        refusals_said: HashSet::new(),
        said_same_id: false,
        names_looked_at: HashMap::new(),
        log,
    });
    // Only other sessions' samples: this bridge's own exports never come back in.
    let subscriber = session
        .declare_subscriber(expr)
        .allowed_origin(Locality::Remote)
        .callback(move |sample| {
            importer
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .take(&sample)
        })
        .wait()?;
    Ok(Import { subscriber })
}

struct Importer {
    pattern: String,
    settings: crate::Settings,
    exports: Exports,
    imported: Imported,
    /// How many topics the bridge's imports hold open, all patterns together (at most
    /// `Settings::max_imported`).
    open: Arc<AtomicUsize>,
    /// The bridge's stop flag: a publish waiting for room gives up when it is set.
    stop: Arc<AtomicBool>,
    /// Each local topic's publisher, counters, and whether its samples are being dropped
    /// (one waited `IMPORT_WAIT` for room in vain, and none found room since).
    publishers: HashMap<String, (Sink, Arc<ImportCounters>, bool)>,
    /// The next sequence number expected from each (publishing bridge, topic), and when
    /// (by `samples_taken`) one of theirs was last seen.
    next_seq: HashMap<(String, String), (u64, u64)>,
    /// How many samples this import has taken: its clock for `next_seq`.
    samples_taken: u64,
    /// Per topic, when a line about its samples was last written, and how many were left
    /// out since.
    sample_lines: HashMap<String, (Instant, u64)>,
    /// Names that could not be imported into, and when they were last tried.
    refused_names: HashMap<String, Instant>,
    /// The names and keys whose refusal was said (once each; at most `MAX_NAMES`, then
    /// said again).
    refusals_said: HashSet<String>,
    /// Whether a sample with this bridge's own id was reported (another bridge has it).
    said_same_id: bool,
    /// When each local topic's name was last looked at (whether it was removed: see
    /// `ensure_publisher`).
    names_looked_at: HashMap<String, Instant>,
    log: Log,
}

impl Importer {
    /// Publishes one sample on its local topic.
    fn take(&mut self, sample: &Sample) {
        // A delete (a peer's, or a Zenoh storage tool's) is no message.
        if sample.kind() == SampleKind::Delete {
            return;
        }
        let key = sample.key_expr().as_str();
        let Some(name) = keys::name_for(&self.settings.prefix, key) else {
            // (A key the subscription matched: under the prefix, but a wildcard a peer put
            // on, or a reserved character unescaped. Said as refusals are, shortened.)
            let shown: String = key.chars().take(100).collect();
            let line = format!("a sample on {shown:?} is not imported: no topic's key is so");
            self.say_refusal(&shown, line);
            return;
        };
        if !keys::matches(&self.pattern, &name) {
            return;
        }
        let attachment = sample.attachment().map(|a| a.to_bytes());
        let numbered = attachment.as_deref().and_then(wire::decode);
        // This bridge's own samples never come in (its session's are filtered out); another
        // bridge's of this id exports from this namespace (or from a host of the same name
        // with a namespace of the same path): imported again here (before the topic is
        // even taken), each would go round for ever between the two bridges.
        let own = self.settings.origin_of(&name);
        if let Some((_, origin)) = numbered.filter(|(_, o)| *o == own) {
            if !std::mem::replace(&mut self.said_same_id, true) {
                (self.log)(&format!(
                    "a sample from another bridge with this bridge's id {origin} is not \
                     imported: it comes from this namespace (on another host, give the hosts \
                     distinct names)"
                ));
            }
            return;
        }
        let Some(counters) = self.ensure_publisher(&name) else {
            return;
        };
        if let Some((seq, origin)) = numbered {
            self.samples_taken += 1;
            let key = (origin.to_string(), name.clone());
            if self.next_seq.len() >= MAX_SEQUENCES && !self.next_seq.contains_key(&key) {
                self.forget_least_recent_sequence();
            }
            let (next, seen) = self.next_seq.entry(key).or_insert((seq, 0));
            *seen = self.samples_taken;
            let expected = *next;
            // A number lower than expected (or far higher): the exporting side's topic
            // was made anew.
            *next = seq.wrapping_add(1);
            if seq > expected && seq - expected <= MAX_GAP {
                let missed = seq - expected;
                let _ = counters
                    .gaps
                    .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |g| {
                        Some(g.saturating_add(missed))
                    });
                self.say_of_samples(
                    &name,
                    format!(
                        "gap: {missed} message(s) of {name} from {origin} missing before \
                         message {seq} (dropped or overwritten on the exporting side)"
                    ),
                );
            }
        }
        let Some((publisher, _, congested)) = self.publishers.get_mut(&name) else {
            return;
        };
        let wait = if *congested {
            Duration::ZERO
        } else {
            IMPORT_WAIT
        };
        let payload = sample.payload();
        let mut slices = payload.slices();
        let published = match (slices.next(), slices.next()) {
            (Some(only), None) => publisher.publish(&[only], &self.stop, wait),
            _ => publisher.publish(&payload.slices().collect::<Vec<_>>(), &self.stop, wait),
        };
        match published {
            Ok(()) => {
                counters.published.fetch_add(1, Ordering::Relaxed);
                if std::mem::replace(congested, false) {
                    (self.log)(&format!("{name} has room again: its samples are published"));
                }
            }
            Err(filemap::Error::Timeout { .. }) if !self.stop.load(Ordering::Relaxed) => {
                counters.refused.fetch_add(1, Ordering::Relaxed);
                if !std::mem::replace(congested, true) {
                    (self.log)(&format!(
                        "{name}'s subscribers took no message for {IMPORT_WAIT:?}: its \
                         samples are dropped until one finds room (the link goes on)"
                    ));
                }
            }
            Err(e) => {
                counters.refused.fetch_add(1, Ordering::Relaxed);
                self.say_of_samples(&name, format!("publishing a message on {name}: {e}"));
            }
        }
    }

    /// Forgets the quarter of the (bridge, topic) pairs whose samples were seen least
    /// recently (one pass, once per that many new pairs).
    fn forget_least_recent_sequence(&mut self) {
        let mut seen: Vec<u64> = self.next_seq.values().map(|(_, seen)| *seen).collect();
        let quarter = seen.len() / 4;
        if quarter == 0 {
            self.next_seq.clear();
            return;
        }
        let (_, &mut cut, _) = seen.select_nth_unstable(quarter);
        self.next_seq.retain(|_, (_, seen)| *seen > cut);
    }

    /// Writes `line` about `name`'s samples (or, under [`REFUSALS`], about a name that
    /// could not be imported into), unless one was written less than `SAMPLE_LINES` ago:
    /// then it is counted, and the next line says how many were not.
    fn say_of_samples(&mut self, name: &str, line: String) {
        if self.sample_lines.len() >= MAX_NAMES && !self.sample_lines.contains_key(name) {
            self.sample_lines
                .retain(|_, (at, left_out)| at.elapsed() < SAMPLE_LINES || *left_out > 0);
            if self.sample_lines.len() >= MAX_NAMES {
                self.say_left_out();
                self.sample_lines.clear();
            }
        }
        let now = Instant::now();
        match self.sample_lines.get_mut(name) {
            Some((at, left_out)) if now.duration_since(*at) < SAMPLE_LINES => {
                *left_out += 1;
            }
            Some((at, left_out)) => {
                let before = std::mem::take(left_out);
                *at = now;
                (self.log)(&match before {
                    0 => line,
                    n => format!("{line} ({n} such line(s) left out before it)"),
                });
            }
            None => {
                self.sample_lines.insert(name.to_string(), (now, 0));
                (self.log)(&line);
            }
        }
    }

    /// Makes the local publisher of `name` (and the topic with it) if there is none yet;
    /// its counters, or `None` if it cannot be made.
    fn ensure_publisher(&mut self, name: &str) -> Option<Arc<ImportCounters>> {
        // A topic whose name was removed (`filemap rm`: the name may be another topic's
        // now) is let go, and the name's topic (made anew if there is none) taken instead:
        // looked at once per `NAME_LOOK` at most (a system call).
        if let Some((sink, _, _)) = self.publishers.get(name) {
            let due = self
                .names_looked_at
                .get(name)
                .is_none_or(|at| at.elapsed() >= NAME_LOOK);
            if due {
                if self.names_looked_at.len() >= MAX_NAMES {
                    self.names_looked_at.clear();
                }
                self.names_looked_at
                    .insert(name.to_string(), Instant::now());
                if sink.name_removed() {
                    self.publishers.remove(name);
                    self.open.fetch_sub(1, Ordering::AcqRel);
                    (self.log)(&format!(
                        "{name} was removed: importing into the topic of that name now"
                    ));
                }
            }
        }
        if !self.publishers.contains_key(name) {
            if let Some(tried) = self.refused_names.get(name) {
                if tried.elapsed() < RETRY_REFUSED {
                    return None;
                }
            }
            // A place among the topics the bridge's imports hold open, all patterns
            // together, taken before the topic is (given back if it cannot be).
            let most = self.settings.max_imported;
            let placed = self
                .open
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                    (n < most).then_some(n + 1)
                })
                .is_ok();
            if !placed {
                self.refuse(
                    name,
                    format!(
                        "this bridge's imports hold {most} topics open, the most it was \
                         given (BridgeBuilder::max_imported_topics, --max-imported)"
                    ),
                );
                return None;
            }
            let options = TopicOptions::new().capacity(self.settings.topic_capacity);
            match Sink::open(name, &options) {
                Ok(publisher) => {
                    // Under both locks (exports, then imported, as everywhere): an export
                    // of this name, made before this import took it, ends, so that what
                    // comes in is never sent back out.
                    let (counters, ended) = {
                        let mut exports = lock(&self.exports);
                        // (A name taken again, after its topic was removed, keeps its
                        // counters: they count all that came in under the name.)
                        let counters: Arc<ImportCounters> = lock(&self.imported)
                            .entry(name.to_string())
                            .or_default()
                            .clone();
                        // (One that ended already, for another import pattern that names
                        // the topic too, stays as it is.)
                        let ended = match exports.get(name) {
                            Some(export) if !export.ended_by_import => exports.remove(name),
                            _ => None,
                        };
                        (counters, ended)
                    };
                    if let Some(mut export) = ended {
                        // (Its sender, in a put that congestion may hold up, is joined
                        // with the others as the bridge stops: this runs on Zenoh's
                        // receiving thread.)
                        export.stop_reading();
                        (self.log)(&format!(
                            "no longer exporting {name}: this bridge imports into it now"
                        ));
                        // Back among the exports, ended, for its final counters.
                        export.ended_by_import = true;
                        lock(&self.exports).insert(name.to_string(), export);
                    }
                    self.refused_names.remove(name);
                    // (Refused again later, it is said again.)
                    self.refusals_said.remove(name);
                    (self.log)(&format!(
                        "importing {} into {name}",
                        keys::key_for(&self.settings.prefix, name)
                    ));
                    self.publishers
                        .insert(name.to_string(), (publisher, counters, false));
                }
                Err(e) => {
                    self.open.fetch_sub(1, Ordering::AcqRel);
                    self.refuse(name, e.to_string());
                    return None;
                }
            }
        }
        self.publishers
            .get(name)
            .map(|(_, counters, _)| counters.clone())
    }

    /// Notes that `name` could not be imported into, not to be tried again for
    /// `RETRY_REFUSED`, and says so once per name, at most one such line a second for all
    /// names (a peer's keys may name ever new ones, and each might be refused).
    fn refuse(&mut self, name: &str, why: String) {
        if self.refused_names.len() >= MAX_NAMES {
            self.refused_names
                .retain(|_, tried| tried.elapsed() < RETRY_REFUSED);
            if self.refused_names.len() >= MAX_NAMES {
                // (Names tried again sooner, rather than a map without bound.)
                self.refused_names.clear();
            }
        }
        self.refused_names.insert(name.to_string(), Instant::now());
        self.say_refusal(name, format!("cannot import into {name}: {why}"));
    }

    /// Says `line`, a refusal of `what` (a name, a key), once per `what`, and at most one
    /// such line a second.
    fn say_refusal(&mut self, what: &str, line: String) {
        if self.refusals_said.len() >= MAX_NAMES {
            self.refusals_said.clear();
        }
        if self.refusals_said.insert(what.to_string()) {
            self.say_of_samples(REFUSALS, line);
        }
    }

    /// Says how many lines were left out that no later line has said yet (at the end, or
    /// before the limiter forgets them).
    fn say_left_out(&self) {
        for (name, (_, left_out)) in &self.sample_lines {
            if *left_out > 0 {
                let about = if name == REFUSALS {
                    "refused names and keys".to_string()
                } else {
                    format!("{name}'s samples")
                };
                (self.log)(&format!("{left_out} line(s) about {about} were left out"));
            }
        }
    }
}

impl Drop for Importer {
    /// The import ends (the bridge stops): its topics are let go, and the lines its log
    /// limiter held back are counted.
    fn drop(&mut self) {
        self.open.fetch_sub(self.publishers.len(), Ordering::AcqRel);
        self.say_left_out();
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
