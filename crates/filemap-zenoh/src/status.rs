//! A running bridge's counters, where `filemap ls` and `filemap info` find them: a named
//! mapping `filemap-bridge-PID` that the bridge holds while it runs (so it goes with the
//! bridge, even one killed) and rewrites twice a second.
//!
//! Layout: a sequence number (u64, odd while the bridge writes), the text's length (u64),
//! then the text: `id\tID\n`, then one line per topic,
//! `topic\tNAME\texport|export-ended|import\tMESSAGES\tDROPPED\tMISSED\n` (an export that
//! ended because the bridge imports into its topic now says `export-ended`; names hold no tabs: filemap
//! names have no control characters). A reader retries a read that overlapped a write.

use std::sync::atomic::Ordering;

use filemap::{Mapping, View};

use crate::TopicStats;

/// The start of every status mapping's name.
///
/// ```
/// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
/// use filemap_zenoh::{Bridge, STATUS_PREFIX};
/// let bridge = Bridge::builder()
///     .export("temperature")
///     .listen("tcp/127.0.0.1:0")
///     .start()?;
/// // The status of this process's bridge, where `filemap ls` finds it.
/// let name = format!("{STATUS_PREFIX}{}", std::process::id());
/// assert!(filemap::namespace::info(name.as_str()).is_ok());
/// bridge.stop();
/// assert!(filemap::namespace::info(name.as_str()).is_err()); // gone with the bridge
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub const STATUS_PREFIX: &str = "filemap-bridge-";

/// The status mapping's size: room for some hundreds of topics.
const SIZE: u64 = 64 << 10;
const TEXT: usize = 16;

/// What a running bridge publishes about itself.
///
/// ```
/// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
/// use std::time::Duration;
/// use filemap::topic::{Publisher, TopicOptions};
/// use filemap_zenoh::{read_status, Bridge, STATUS_PREFIX};
///
/// let _publisher = Publisher::create_or_open("status-demo", &TopicOptions::new())?;
/// let (lines, log) = std::sync::mpsc::channel();
/// let bridge = Bridge::builder()
///     .export("status-demo")
///     .listen("tcp/127.0.0.1:0")
///     .start_with_log(move |line| {
///         let _ = lines.send(line.to_string());
///     })?;
/// // What this process's bridge publishes, once it has written what it exports.
/// let name = format!("{STATUS_PREFIX}{}", std::process::id());
/// let mut status = None;
/// for _ in 0..600 {
///     status = read_status(&name).filter(|s| !s.topics.is_empty());
///     if status.is_some() {
///         break;
///     }
///     let _ = log.recv_timeout(Duration::from_millis(100)); // a line, or a moment
/// }
/// let status = status.expect("the bridge's status");
/// assert_eq!(status.id, bridge.id());
/// assert_eq!(status.topics, bridge.stats());
/// bridge.stop();
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BridgeStatus {
    /// The bridge's id (the origin in the attachments it exports).
    pub id: String,
    /// Each bridged topic's counters.
    pub topics: Vec<TopicStats>,
}

/// The status mapping a bridge holds, and its view.
pub(crate) struct StatusWriter {
    view: View,
    _mapping: Mapping,
}

impl StatusWriter {
    /// Makes this process's status mapping.
    pub(crate) fn create() -> filemap::Result<StatusWriter> {
        let name = format!("{STATUS_PREFIX}{}", std::process::id());
        let mapping = Mapping::create_new(name.as_str(), SIZE)?;
        let view = mapping.view().map()?;
        Ok(StatusWriter {
            view,
            _mapping: mapping,
        })
    }

    /// Writes the status.
    pub(crate) fn write(&self, status: &BridgeStatus) -> filemap::Result<()> {
        let mut text = format!("id\t{}\n", status.id);
        for t in &status.topics {
            text.push_str(&format!(
                "topic\t{}\t{}\t{}\t{}\t{}\n",
                t.name,
                match (t.exported, t.ended) {
                    (true, false) => "export",
                    (true, true) => "export-ended",
                    (false, _) => "import",
                },
                t.messages,
                t.dropped,
                t.missed
            ));
        }
        // Whole lines only: a topic cut in the middle would make the whole text unreadable.
        let room = SIZE as usize - TEXT;
        let end = if text.len() <= room {
            text.len()
        } else {
            text.as_bytes()[..room]
                .iter()
                .rposition(|&b| b == b'\n')
                .map_or(0, |newline| newline + 1)
        };
        let bytes = &text.as_bytes()[..end];
        // (Guarded words: another process cutting the mapping short makes this an error,
        // not the bridge's death.)
        self.view.fetch_add_u64(0, 1, Ordering::AcqRel)?;
        self.view.write_at(8, &(bytes.len() as u64).to_le_bytes())?;
        self.view.write_at(TEXT, bytes)?;
        self.view.fetch_add_u64(0, 1, Ordering::AcqRel)?;
        Ok(())
    }
}

/// Reads the status a bridge publishes in the mapping `name`; `None` if it is not one, or
/// could not be read whole.
///
/// ```
/// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
/// // No bridge runs as process 1 here.
/// assert_eq!(filemap_zenoh::read_status("filemap-bridge-1"), None);
/// assert_eq!(filemap_zenoh::read_status("not-a-bridge"), None);
/// ```
pub fn read_status(name: &str) -> Option<BridgeStatus> {
    let base = filemap::Name::new(name).ok()?;
    if !base.base().starts_with(STATUS_PREFIX) {
        return None;
    }
    let mapping = Mapping::open_with(name, filemap::Access::Read).ok()?;
    let view = mapping.view().access(filemap::Access::Read).map().ok()?;
    // The sequence number as an acquiring load (a guarded word: read-only views have them).
    let seq = || view.load_u64(0, Ordering::Acquire).ok();
    for _ in 0..100 {
        let before = seq()?;
        if before % 2 == 1 {
            std::thread::yield_now();
            continue;
        }
        let mut len = [0u8; 8];
        view.read_at(8, &mut len).ok()?;
        let len = (u64::from_le_bytes(len) as usize).min(SIZE as usize - TEXT);
        let text = view.read_vec(TEXT, len).ok()?;
        std::sync::atomic::fence(Ordering::Acquire);
        if seq()? == before {
            return parse(&String::from_utf8(text).ok()?);
        }
    }
    None
}

fn parse(text: &str) -> Option<BridgeStatus> {
    let mut status = BridgeStatus {
        id: String::new(),
        topics: Vec::new(),
    };
    for line in text.lines() {
        let fields: Vec<&str> = line.split('\t').collect();
        match fields[..] {
            ["id", id] => status.id = id.to_string(),
            ["topic", name, direction, messages, dropped, missed] => {
                let (exported, ended) = match direction {
                    "export" => (true, false),
                    "export-ended" => (true, true),
                    "import" => (false, false),
                    _ => return None,
                };
                status.topics.push(TopicStats {
                    name: name.to_string(),
                    exported,
                    ended,
                    messages: messages.parse().ok()?,
                    dropped: dropped.parse().ok()?,
                    missed: missed.parse().ok()?,
                })
            }
            _ => return None,
        }
    }
    Some(status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_text_parses_back() {
        let text = "id\thost:/dev/shm\ntopic\tt\texport\t10\t2\t0\ntopic\tu v\timport\t5\t0\t3\n\
                    topic\tu v\texport-ended\t7\t1\t0\n";
        let status = parse(text).unwrap();
        assert_eq!(status.id, "host:/dev/shm");
        assert_eq!(status.topics.len(), 3);
        assert!(status.topics[0].exported && !status.topics[0].ended);
        assert!(status.topics[2].exported && status.topics[2].ended);
        assert_eq!(status.topics[2].messages, 7);
        assert_eq!(status.topics[1].name, "u v");
        assert!(!status.topics[1].exported);
        assert_eq!(status.topics[1].missed, 3);
        assert_eq!(parse("garbage"), None);
        assert_eq!(parse("topic\tt\texport\tx\t0\t0"), None);
        assert_eq!(parse("topic\tt\tsideways\t1\t0\t0"), None);
    }
}
