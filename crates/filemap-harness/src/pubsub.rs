//! `filemap bench pubsub`: one-way latency of filemap's topics from one publisher to 1, 2
//! and 4 subscriber processes, at 64 B and 1 MiB, busy-poll and blocking, printed as a table
//! or as JSON rows (those of `filemap bench channel`, with a `subscribers` field).
//!
//! A message's latency is until the **last** subscriber has it: from the publisher's clock
//! reading before it reserves the message to the latest of the subscribers' readings after
//! each copied it out ([`topic_latency`]), on a clock all processes share. This is a
//! one-way time measured directly, not half a round trip as in `filemap bench channel`.

use std::fmt::Write as _;

use filemap::channel::WaitMode;
use serde_json::json;

use crate::Result;
use crate::drivers::{PUBSUB_SIZES, SUBSCRIBERS, mode_arg, topic_latency};
use crate::measure::{Latency, ONE_WAY_BUDGET, cores, oversubscribed, pin_measuring_process};
use crate::process::Namespace;

/// What the rows marked `*` (`"oversubscribed": true` in JSON) measure.
const SHARED_CORES: &str =
    "* the publisher and its subscribers outnumber this machine's {cores} cores, so
  subscribers share a core and take turns on it. Busy-poll rows then measure the scheduler
  (a subscriber waits for a time slice while another spins), not the topic; blocking rows
  include the brief spin of the subscriber ahead of it on the core before that one sleeps.";

/// One result row of `filemap bench pubsub`.
struct Row {
    mode: WaitMode,
    size: usize,
    subscribers: usize,
    latency: Latency,
}

impl Row {
    /// Whether the publisher and its subscribers outnumber the cores, so that subscribers
    /// share a core and take turns on it.
    fn oversubscribed(&self) -> bool {
        oversubscribed(self.subscribers + 1)
    }
}

/// `filemap bench pubsub [--json]`.
pub fn pubsub(as_json: bool) -> Result<String> {
    let mut text = String::new();
    let _namespace = Namespace::new()?;
    let pinned = pin_measuring_process();
    let mut rows = Vec::new();
    for size in PUBSUB_SIZES {
        for subscribers in SUBSCRIBERS {
            for mode in [WaitMode::BusyPoll, WaitMode::Blocking] {
                rows.push(Row {
                    mode,
                    size,
                    subscribers,
                    latency: topic_latency(size, subscribers, mode)?,
                });
            }
        }
    }
    if as_json {
        let out: Vec<_> = rows
            .iter()
            .map(|r| {
                json!({"scenario": "latency", "system": "filemap", "mode": mode_arg(r.mode),
                       "size": r.size, "subscribers": r.subscribers,
                       "p50_ns": r.latency.p50_ns, "p99_ns": r.latency.p99_ns,
                       "oversubscribed": r.oversubscribed()})
            })
            .collect();
        return Ok(serde_json::Value::Array(out).to_string());
    }
    say!(
        text,
        "{}\n",
        if pinned {
            "processes pinned: the publisher to CPU 0, the subscribers to the other cores in turn"
        } else {
            "processes not pinned (one core, or the system does not allow it)"
        }
    );
    say!(
        text,
        "one-way latency from one publisher until the last subscriber process has copied the \
message out, ns\n(up to {} ms of timed messages per row):",
        ONE_WAY_BUDGET.as_millis()
    );
    say!(
        text,
        "{:<10} {:>9} {:>11} {:>10} {:>10} {:>14}",
        "mode",
        "size",
        "subscribers",
        "p50",
        "p99",
        "p50/1 sub."
    );
    for r in &rows {
        let one = rows
            .iter()
            .find(|o| o.mode == r.mode && o.size == r.size && o.subscribers == 1)
            .map_or(f64::NAN, |o| o.latency.p50_ns);
        say!(
            text,
            "{:<10} {:>9} {:>11} {:>10.0} {:>10.0} {:>13.1}x{}",
            mode_arg(r.mode),
            r.size,
            r.subscribers,
            r.latency.p50_ns,
            r.latency.p99_ns,
            r.latency.p50_ns / one,
            if r.oversubscribed() { "  *" } else { "" }
        );
    }
    if rows.iter().any(Row::oversubscribed) {
        say!(
            text,
            "\n{}",
            SHARED_CORES.replace("{cores}", &cores().to_string())
        );
    }
    Ok(text)
}
