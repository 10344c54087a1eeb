//! Importing Zenoh keys into local topics: one Zenoh subscriber per `--import` pattern,
//! whose callback publishes each sample it gets on the local topic its key names (the
//! bridge becomes that topic's publisher). Samples a bridge published carry their topic's
//! sequence number: a jump in it is a gap (messages the exporting side dropped, or its
//! topic overwrote), reported and counted, never hidden.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use filemap::channel::Sender;
use filemap::topic::{Publisher, TopicOptions};
use zenoh::sample::{Locality, Sample};
use zenoh::{Session, Wait};

use crate::{keys, wire, Log, Settings};

/// One imported topic's counters.
#[derive(Debug, Default)]
pub(crate) struct ImportCounters {
    /// Messages published on the local topic.
    pub(crate) published: AtomicU64,
    /// Messages missing between the samples received (by their sequence numbers).
    pub(crate) gaps: AtomicU64,
    /// Samples that could not be published locally (the topic has a publisher of its own,
    /// or the message did not fit).
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
    /// one arrives in several), copied straight into the message's slot.
    fn publish(&mut self, parts: &[&[u8]]) -> filemap::Result<()> {
        match self {
            Sink::Topic(publisher) => publisher.publish_vectored(parts),
            Sink::Channel(sender) => sender.send_vectored(parts),
        }
    }
}

/// The local topics this bridge imports into, with their counters (the exports skip them,
/// so that a bridge never sends back what it brought in).
pub(crate) type Imported = Arc<Mutex<HashMap<String, Arc<ImportCounters>>>>;

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
/// a local topic whose subscribers are slow holds the link up, as a reliable link should).
pub(crate) fn start(
    session: &Session,
    pattern: String,
    settings: &Settings,
    imported: Imported,
    log: Log,
) -> Result<Import, zenoh::Error> {
    let expr = keys::key_expr_for(&settings.prefix, &pattern);
    let importer = Mutex::new(Importer {
        pattern,
        settings: settings.clone(),
        imported,
        publishers: HashMap::new(),
        next_seq: HashMap::new(),
        refused_names: HashSet::new(),
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
    imported: Imported,
    publishers: HashMap<String, (Sink, Arc<ImportCounters>)>,
    /// The next sequence number expected from each (publishing bridge, topic).
    next_seq: HashMap<(String, String), u64>,
    /// Names already reported as refused (reported once).
    refused_names: HashSet<String>,
    log: Log,
}

impl Importer {
    /// Publishes one sample on its local topic.
    fn take(&mut self, sample: &Sample) {
        let Some(name) = keys::name_for(&self.settings.prefix, sample.key_expr().as_str()) else {
            return;
        };
        if !keys::matches(&self.pattern, &name) {
            return;
        }
        let Some(counters) = self.ensure_publisher(&name) else {
            return;
        };
        let attachment = sample.attachment().map(|a| a.to_bytes());
        if let Some((seq, origin)) = attachment.as_deref().and_then(wire::decode) {
            if origin == self.settings.origin {
                return;
            }
            let next = self
                .next_seq
                .entry((origin.to_string(), name.clone()))
                .or_insert(seq);
            if seq > *next {
                let missed = seq - *next;
                counters.gaps.fetch_add(missed, Ordering::Relaxed);
                (self.log)(&format!(
                    "gap: {missed} message(s) of {name} from {origin} missing before \
                     message {seq} (dropped or overwritten on the exporting side)"
                ));
            }
            // A number lower than expected: the exporting side's topic was made anew.
            *next = seq + 1;
        }
        let Some((publisher, _)) = self.publishers.get_mut(&name) else {
            return;
        };
        let payload = sample.payload();
        let mut slices = payload.slices();
        let published = match (slices.next(), slices.next()) {
            (Some(only), None) => publisher.publish(&[only]),
            _ => publisher.publish(&payload.slices().collect::<Vec<_>>()),
        };
        match published {
            Ok(()) => {
                counters.published.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => {
                counters.refused.fetch_add(1, Ordering::Relaxed);
                (self.log)(&format!("publishing a message on {name}: {e}"));
            }
        }
    }

    /// Makes the local publisher of `name` (and the topic with it) if there is none yet;
    /// its counters, or `None` if it cannot be made.
    fn ensure_publisher(&mut self, name: &str) -> Option<Arc<ImportCounters>> {
        if !self.publishers.contains_key(name) {
            let options = TopicOptions::new().capacity(self.settings.topic_capacity);
            match Sink::open(name, &options) {
                Ok(publisher) => {
                    let counters = Arc::new(ImportCounters::default());
                    self.imported
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .insert(name.to_string(), counters.clone());
                    (self.log)(&format!(
                        "importing {} into {name}",
                        keys::key_for(&self.settings.prefix, name)
                    ));
                    self.publishers
                        .insert(name.to_string(), (publisher, counters));
                }
                Err(e) => {
                    if self.refused_names.insert(name.to_string()) {
                        (self.log)(&format!("cannot import into {name}: {e}"));
                    }
                    return None;
                }
            }
        }
        self.publishers
            .get(name)
            .map(|(_, counters)| counters.clone())
    }
}
