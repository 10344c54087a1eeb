//! `filemap demo`: the classic main / producer / consumer of the Win32 tutorials as three
//! real processes (this binary, the other two in the hidden `demo-child` roles).
//!
//! The tutorial shares an `int` under a named mutex and polls it with `Sleep(200)`. Here
//! the int is a `SharedMutex<i32>` (a holder that dies is reported, never a stuck lock),
//! and three auto-reset events hand the turn around, so nobody polls: main sets `go` (make
//! the next value), the producer sets `produced` (a new value is there), the consumer
//! prints it and sets `seen`. At [`LIMIT`] main stores -1 and wakes both, and they exit.
//! Every wait has a timeout, so a peer that dies is an error, not a hang.

use crate::output::outln;
use std::io::{BufRead, BufReader};
use std::process::{Command, ExitCode, Stdio};
use std::time::Duration;

use filemap::sync::{EventReset, NamedEvent, SharedMutex};

use crate::outcome::{Failure, Outcome};

/// Main stores -1 once the value reaches this.
const LIMIT: i32 = 500;
/// How long anyone waits for another process before giving up.
const PATIENCE: Duration = Duration::from_secs(10);

/// One run's objects, named after the run.
struct Shared {
    value: SharedMutex<i32>,
    go: NamedEvent,
    produced: NamedEvent,
    seen: NamedEvent,
}

impl Shared {
    /// Main's part: creates them, `go` already set (the producer goes first).
    fn create(run: &str) -> filemap::Result<Shared> {
        let event =
            |what, set| NamedEvent::create_new(format!("{run}-{what}"), EventReset::Auto, set);
        Ok(Shared {
            value: SharedMutex::create_new(format!("{run}-value"), 0)?,
            go: event("go", true)?,
            produced: event("produced", false)?,
            seen: event("seen", false)?,
        })
    }

    /// The producer's and the consumer's part.
    fn open(run: &str) -> filemap::Result<Shared> {
        let event = |what| NamedEvent::open(format!("{run}-{what}"));
        Ok(Shared {
            value: SharedMutex::open(format!("{run}-value"))?,
            go: event("go")?,
            produced: event("produced")?,
            seen: event("seen")?,
        })
    }
}

/// One line of the transcript: who said it, and what.
macro_rules! say {
    ($who:expr, $pid:expr, $($what:tt)*) => {
        outln!("[{:<8} pid {:>6}] {}", $who, $pid, format_args!($($what)*))
    };
}

/// Runs the three processes and prints a short transcript of what happened.
pub fn run() -> Outcome {
    let pid = std::process::id();
    let run = format!("demo{pid}");
    let shared = Shared::create(&run)?;
    say!(
        "main",
        pid,
        "created Local\\{run}-value (SharedMutex<i32> = 0) and three auto-reset events"
    );
    let exe = std::env::current_exe()
        .map_err(|e| Failure::Error(format!("cannot find filemap's own program: {e}")))?;
    let start = |role: &str| {
        Command::new(&exe)
            .args(["demo-child", role, &run])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| Failure::Error(format!("cannot start the demo's {role}: {e}")))
    };
    let mut producer = start("producer")?;
    let mut consumer = start("consumer")?;
    let (producer_pid, consumer_pid) = (producer.id(), consumer.id());
    say!(
        "main",
        pid,
        "started producer (pid {producer_pid}) and consumer (pid {consumer_pid})"
    );
    let out = consumer.stdout.take().expect("piped");
    let reader = std::thread::spawn(move || {
        BufReader::new(out)
            .lines()
            .map_while(Result::ok)
            .collect::<Vec<_>>()
    });

    // Main's turns: each time the consumer has reported a value, let the producer go on.
    let last = loop {
        shared.seen.wait_timeout(PATIENCE)?;
        let mut value = shared.value.lock()?;
        if *value >= LIMIT {
            let last = *value;
            *value = -1;
            drop(value);
            shared.produced.set()?;
            shared.go.set()?;
            break last;
        }
        drop(value);
        shared.go.set()?;
    };

    let seen = reader
        .join()
        .map_err(|_| Failure::Error("reading the consumer's output failed".into()))?;
    for (who, child) in [("producer", &mut producer), ("consumer", &mut consumer)] {
        let status = child
            .wait()
            .map_err(|e| Failure::Error(format!("waiting for the {who}: {e}")))?;
        if !status.success() {
            return Err(Failure::Error(format!("the {who} failed: {status}")));
        }
    }
    let mut made = String::new();
    if let Some(out) = producer.stdout.take() {
        BufReader::new(out).read_line(&mut made)?;
    }
    // The first and last three values the consumer saw.
    let shown = 3;
    for (i, value) in seen.iter().enumerate() {
        if i < shown || i + shown >= seen.len() {
            say!("consumer", consumer_pid, "saw {value}");
        } else if i == shown {
            say!(
                "consumer",
                consumer_pid,
                "... {} more ...",
                seen.len() - 2 * shown
            );
        }
    }
    say!("producer", producer_pid, "{}", made.trim());
    let in_order = seen
        .iter()
        .map(|v| v.parse().ok())
        .eq((1..=LIMIT).map(Some));
    let order = if in_order {
        "each exactly once, in order"
    } else {
        "NOT each once in order"
    };
    say!(
        "main",
        pid,
        "value reached {last}: stored -1, both exited; the consumer saw {} values, {order}",
        seen.len()
    );
    drop(shared);
    let gone = matches!(
        SharedMutex::<i32>::open(format!("{run}-value")),
        Err(filemap::Error::NotFound { .. })
    );
    let objects = if gone { "gone" } else { "STILL THERE" };
    say!(
        "main",
        pid,
        "closed the last handles: the objects are {objects}"
    );
    match (in_order, gone) {
        (true, true) => Ok(ExitCode::SUCCESS),
        (false, _) => Err(Failure::Error(
            "the consumer did not see every value in order (see above)".into(),
        )),
        (true, false) => Err(Failure::Error(
            "the objects were still there after their last handles closed".into(),
        )),
    }
}

/// A child's part in run `run`: the `producer` counts up, one value per turn; the
/// `consumer` prints each value it is told of. Both stop when the value is -1.
pub fn child(role: &str, run: &str) -> Outcome {
    let producer = match role {
        "producer" => true,
        "consumer" => false,
        _ => return Err(Failure::Usage(format!("unknown demo role {role:?}"))),
    };
    let shared = Shared::open(run)?;
    let (turn, done) = if producer {
        (&shared.go, &shared.produced)
    } else {
        (&shared.produced, &shared.seen)
    };
    let mut count = 0;
    loop {
        turn.wait_timeout(PATIENCE)?;
        let mut value = shared.value.lock()?;
        if *value == -1 {
            break;
        }
        if producer {
            // (Any process of this user may write the value: no overflow panic.)
            *value = value.wrapping_add(1);
        }
        let now = *value;
        drop(value);
        if !producer {
            outln!("{now}");
        }
        count += 1;
        done.set()?;
    }
    if producer {
        outln!("made {count} values, then found -1 and exited");
    }
    Ok(ExitCode::SUCCESS)
}
