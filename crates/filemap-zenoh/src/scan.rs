//! The export scan: every `SCAN_INTERVAL` the bridge looks for the local topics (and
//! channels) its export names and patterns match, and starts exporting those it does not
//! export yet, nor import into; and ends the exports whose topic's name was removed.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use filemap::{Kind, Name, Scope};

use crate::{Log, Settings, export, import, keys, lock};

/// What a scan works with: the bridge's session, settings, exports and imports.
pub(crate) struct Scanning<'a> {
    pub(crate) session: &'a zenoh::Session,
    pub(crate) settings: &'a Settings,
    pub(crate) exports: &'a Mutex<HashMap<String, export::Export>>,
    pub(crate) imported: &'a import::Imported,
    pub(crate) stop: &'a Arc<AtomicBool>,
    pub(crate) log: &'a Log,
}

/// How many names' refusals a scanner remembers (so as to say each once).
const MAX_REFUSED_EXPORTS: usize = 1024;

/// What the scanner keeps from one scan to the next.
#[derive(Default)]
pub(crate) struct ScanMemory {
    /// The names whose export was refused, and why (said once per reason).
    refused: HashMap<String, String>,
    /// Whether the first scan has run.
    scanned: bool,
    /// The names whose topic was there at the first scan (and has not been removed since):
    /// exported from the messages published after the export began. A topic made while
    /// the bridge runs is exported from the start of its history (what its publisher
    /// published before a scan found it, as much as the history keeps).
    there_at_start: HashSet<String>,
}

/// Starts exporting every local topic the patterns name that is not exported yet, and
/// not one this bridge imports into.
pub(crate) fn scan(patterns: &[String], scanning: &Scanning<'_>, memory: &mut ScanMemory) {
    let Scanning {
        session,
        settings,
        exports,
        imported,
        stop,
        log,
    } = *scanning;
    // Exports whose topic's name was removed end once their buffers are sent; a topic
    // made again under the name is then exported anew below.
    let orphans: Vec<(String, export::Export)> = {
        let mut all = lock(exports);
        let names: Vec<String> = all
            .iter()
            .filter(|(_, e)| e.orphaned_and_sent())
            .map(|(name, _)| name.clone())
            .collect();
        names
            .into_iter()
            .filter_map(|n| all.remove(&n).map(|e| (n, e)))
            .collect()
    };
    for (name, mut orphan) in orphans {
        orphan.join();
        // A topic made again under the name is a new one.
        memory.there_at_start.remove(&name);
    }
    let mut candidates: Vec<String> = patterns
        .iter()
        .filter(|p| !keys::is_pattern(p))
        .cloned()
        .collect();
    // Whether the patterns' topics were listed (a scan whose listing failed saw none of
    // them: the next is the first scan again).
    let mut listed = true;
    if patterns.iter().any(|p| keys::is_pattern(p)) {
        match filemap::namespace::list() {
            Ok(entries) => candidates.extend(
                entries
                    .into_iter()
                    .filter(|e| matches!(e.kind, Some(Kind::Topic | Kind::Channel)))
                    .filter_map(|e| Name::new(e.name.as_str()).ok())
                    // A pattern matches this session's topics only (a `Global\` one is
                    // exported by its full name), written without their scope.
                    .filter(|n| n.scope() == Scope::Local)
                    .map(|n| n.base().to_string())
                    .filter(|base| patterns.iter().any(|p| keys::matches(p, base))),
            ),
            Err(e) => {
                listed = false;
                log(&format!(
                    "listing the namespace for the export patterns: {e}"
                ))
            }
        }
    }
    for base in candidates {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        if lock(exports).contains_key(&base) || lock(imported).contains_key(&base) {
            continue;
        }
        let Ok(name) = Name::new(base.as_str()) else {
            continue;
        };
        // A topic that does not exist yet is looked for again at the next scan; one that
        // cannot be exported is too, and why is said once (until the reason changes).
        let made_since_start = memory.scanned && !memory.there_at_start.contains(&base);
        let subscribed = export::subscribe(&name, made_since_start);
        // (Neither nothing nor an object of another kind is a topic there at the start: a
        // topic made under the name later is a new one.)
        let a_topic = !matches!(
            subscribed,
            Err(filemap::Error::NotFound { .. } | filemap::Error::KindMismatch { .. })
        );
        if !memory.scanned && a_topic {
            memory.there_at_start.insert(base.clone());
        }
        let refused = &mut memory.refused;
        let subscriber = match subscribed {
            Ok(subscriber) => {
                refused.remove(&base);
                subscriber
            }
            Err(filemap::Error::NotFound { .. }) => continue,
            Err(e) => {
                let why = e.to_string();
                if refused.get(&base) != Some(&why) {
                    log(&format!(
                        "cannot export {base} (tried again as it goes): {why}"
                    ));
                    if refused.len() >= MAX_REFUSED_EXPORTS {
                        refused.clear();
                    }
                    refused.insert(base, why);
                }
                continue;
            }
        };
        let key = keys::key_for(&settings.prefix, &base);
        let started = export::start(
            session,
            subscriber,
            key.clone(),
            settings,
            stop,
            log.clone(),
        );
        match started {
            Ok(export) => {
                // Under both locks (exports, then imported, as everywhere): an import that
                // took the name meanwhile keeps it, and this export ends.
                let mut all = lock(exports);
                if lock(imported).contains_key(&base) || stop.load(Ordering::Relaxed) {
                    drop(all);
                    let mut export = export;
                    export.join();
                    continue;
                }
                log(&format!("exporting {base} to {key}"));
                all.insert(base, export);
            }
            Err(e) => log(&format!("cannot export {base}: {e}")),
        }
    }
    if listed {
        memory.scanned = true;
    }
}
