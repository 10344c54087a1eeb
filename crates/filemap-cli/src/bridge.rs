//! `filemap bridge`: runs a Zenoh bridge until interrupted, then prints each bridged
//! topic's counters.

use std::process::ExitCode;

use filemap_zenoh::{BridgeBuilder, BridgeError};
use serde_json::json;

use crate::outcome::{Failure, Outcome};

/// Starts the bridge, waits for SIGINT or SIGTERM (Ctrl-C on Windows), stops it, and
/// prints the counters.
pub fn run(builder: BridgeBuilder, json: bool) -> Outcome {
    // Before the bridge says anything: a signal sent as soon as it does is not lost.
    let termination = crate::signals::Termination::catch()?;
    let bridge = builder.start().map_err(|e| match e {
        BridgeError::Setting(problem) => Failure::Usage(problem),
        e => Failure::Error(e.to_string()),
    })?;
    eprintln!(
        "filemap bridge: running as {} until interrupted",
        bridge.id()
    );
    termination.wait()?;
    let stats = bridge.stats();
    bridge.stop();
    if json {
        let topics: Vec<serde_json::Value> = stats
            .iter()
            .map(|t| {
                json!({
                    "name": t.name,
                    "direction": if t.exported { "export" } else { "import" },
                    "messages": t.messages,
                    "dropped": t.dropped,
                    "missed": t.missed,
                })
            })
            .collect();
        println!("{}", json!({ "topics": topics }));
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
                if t.exported { "export" } else { "import" }.into(),
                t.messages.to_string(),
                t.dropped.to_string(),
                t.missed.to_string(),
            ]
        }));
        crate::output::table(&mut std::io::stdout(), &rows)?;
    }
    Ok(ExitCode::SUCCESS)
}
