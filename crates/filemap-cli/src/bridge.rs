//! `filemap bridge`: runs a Zenoh bridge until interrupted, then prints each bridged
//! topic's counters; and what `filemap ls` and `filemap info` show of a running bridge
//! (the counters it publishes in its status mapping, `filemap-bridge-PID`).

use crate::output::{errln, outln};
use std::process::ExitCode;

use filemap_zenoh::{BridgeBuilder, BridgeError, TopicStats, read_status};
use serde_json::json;

use crate::outcome::{Failure, Outcome};

/// Starts the bridge, waits for SIGINT, SIGTERM or SIGHUP (Ctrl-C on Windows), stops it, and
/// prints the counters.
pub fn run(builder: BridgeBuilder, json: bool) -> Outcome {
    // Before the bridge says anything: a signal sent as soon as it does is not lost.
    let termination = crate::signals::Termination::catch()?;
    let bridge = builder.start().map_err(|e| match e {
        BridgeError::Setting(problem) => Failure::Usage(problem),
        // (A configuration file that cannot be read or used is no mistake of the command
        // line's: an error.)
        // (A bad name is usage, as in every other command.)
        BridgeError::Filemap(e) => Failure::from(e),
        e => Failure::Error(e.to_string()),
    })?;
    errln!(
        "filemap bridge: running as {} until interrupted",
        bridge.id()
    );
    termination.wait()?;
    let stats = bridge.stop();
    if json {
        let topics: Vec<serde_json::Value> = stats.iter().map(topic_json).collect();
        outln!("{}", json!({ "topics": topics }));
    } else {
        let mut rows = vec![vec![
            "TOPIC".to_string(),
            "DIRECTION".into(),
            "MESSAGES".into(),
            "DROPPED".into(),
            "MISSED".into(),
        ]];
        rows.extend(stats.iter().map(|t| {
            vec![
                t.name.clone(),
                direction(t).into(),
                t.messages.to_string(),
                t.dropped.to_string(),
                t.missed.to_string(),
            ]
        }));
        crate::output::table(&mut std::io::stdout(), &rows).map_err(Failure::stdout)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// One topic's counters, as `--json` prints them.
fn topic_json(t: &TopicStats) -> serde_json::Value {
    json!({
        "name": t.name,
        "direction": if t.exported { "export" } else { "import" },
        "ended": t.ended,
        "messages": t.messages,
        "dropped": t.dropped,
        "missed": t.missed,
    })
}

/// How a topic is bridged, for people: an export that ended because the bridge imports
/// into its topic now says so.
fn direction(t: &TopicStats) -> &'static str {
    match (t.exported, t.ended) {
        (true, false) => "export",
        (true, true) => "export (ended: imported now)",
        (false, _) => "import",
    }
}

/// `filemap ls`'s summary of a bridge's status mapping.
pub fn status_summary(name: &str) -> Option<String> {
    let status = read_status(name)?;
    let exports = status
        .topics
        .iter()
        .filter(|t| t.exported && !t.ended)
        .count();
    let imports = status.topics.iter().filter(|t| !t.exported).count();
    // (Saturating: the counts come from a mapping any process that may open it can write.)
    let sum =
        |f: fn(&TopicStats) -> u64| status.topics.iter().map(f).fold(0u64, u64::saturating_add);
    Some(format!(
        "bridge: {exports} exported, {imports} imported, {} dropped, {} missed",
        sum(|t| t.dropped),
        sum(|t| t.missed)
    ))
}

/// The rows `filemap info` adds for a bridge's status mapping: one per topic.
pub fn status_rows(name: &str) -> Vec<Vec<String>> {
    let Some(status) = read_status(name) else {
        return Vec::new();
    };
    let mut rows = vec![vec!["bridge".to_string(), status.id]];
    rows.extend(status.topics.iter().map(|t| {
        vec![
            format!("{} {}", direction(t), t.name),
            format!(
                "{} messages, {} dropped, {} missed",
                t.messages, t.dropped, t.missed
            ),
        ]
    }));
    rows
}

/// The field `filemap info --json` adds for a bridge's status mapping.
pub fn status_json(name: &str) -> Option<serde_json::Value> {
    let status = read_status(name)?;
    let topics: Vec<serde_json::Value> = status.topics.iter().map(topic_json).collect();
    Some(json!({"id": status.id, "topics": topics}))
}
