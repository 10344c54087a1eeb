//! `filemap demo`: the classic main / producer / consumer of the Win32 tutorials as three
//! real processes (this binary, the other two in the hidden `demo-child` roles).
//!
//! The tutorial shares an `int` under a named mutex and polls it with `Sleep(200)`. Here
//! the int is a `SharedMutex<i32>` (a holder that dies is reported, never a stuck lock),
//! and three auto-reset events hand the turn around, so nobody polls: main sets `go` (make
//! the next value), the producer sets `produced` (a new value is there), the consumer
//! prints it and sets `seen`. At [`LIMIT`] main stores -1 and wakes both, and they exit.
//! Every wait has a timeout, so a peer that dies is an error, not a hang; main looks at its
//! children as it waits, and says the first failure in one line (a child's own error line
//! is read by main, not printed beside main's).

use crate::output::outln;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, ExitCode, ExitStatus, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use filemap::sync::{EventReset, NamedEvent, SharedMutex};

use crate::outcome::{Failure, Outcome};

/// Main stores -1 once the value reaches this.
const LIMIT: i32 = 500;
/// How long anyone waits for another process before giving up.
const PATIENCE: Duration = Duration::from_secs(10);
/// How often main, waiting for its turn, looks whether a child ended.
const LOOK: Duration = Duration::from_millis(100);

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
    ($who:expr_2021, $pid:expr_2021, $($what:tt)*) => {
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
    let mut producer = Part::start(&exe, "producer", &run)?;
    let mut consumer = Part::start(&exe, "consumer", &run)?;
    let (producer_pid, consumer_pid) = (producer.child.id(), consumer.child.id());
    say!(
        "main",
        pid,
        "started producer (pid {producer_pid}) and consumer (pid {consumer_pid})"
    );
    let out = consumer.child.stdout.take().expect("piped");
    let reader = std::thread::spawn(move || {
        BufReader::new(out)
            .lines()
            .map_while(Result::ok)
            .collect::<Vec<_>>()
    });

    // Main's turns: each time the consumer has reported a value, let the producer go on.
    // A failure here is said once: as the child's that caused it, if one ended first.
    let last = main_turns(&shared, [&mut producer, &mut consumer])
        .map_err(|e| first_failure(e, [&mut producer, &mut consumer]))?;

    let seen = reader
        .join()
        .map_err(|_| Failure::Error("reading the consumer's output failed".into()))?;
    for part in [&mut producer, &mut consumer] {
        let status = part
            .child
            .wait()
            .map_err(|e| Failure::Error(format!("waiting for the {}: {e}", part.who)))?;
        if !status.success() {
            return Err(part.failure(status));
        }
    }
    let mut made = String::new();
    if let Some(out) = producer.child.stdout.take() {
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

/// Main's side of the turns, until the value reaches [`LIMIT`]: the last value.
fn main_turns(shared: &Shared, mut parts: [&mut Part; 2]) -> Result<i32, Failure> {
    loop {
        wait_turn(&shared.seen, &mut parts)?;
        let mut value = shared.value.lock()?;
        if *value >= LIMIT {
            let last = *value;
            *value = -1;
            drop(value);
            shared.produced.set()?;
            shared.go.set()?;
            return Ok(last);
        }
        drop(value);
        shared.go.set()?;
    }
}

/// Waits up to [`PATIENCE`] for `turn`, looking every [`LOOK`] whether a child ended (it
/// would never set it): then that child's failure is the error.
fn wait_turn(turn: &NamedEvent, parts: &mut [&mut Part; 2]) -> Result<(), Failure> {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match turn.wait_timeout(left.min(LOOK)) {
            Err(filemap::Error::Timeout { .. }) if left > LOOK => {}
            done => return done.map_err(Failure::from),
        }
        for part in parts.iter_mut() {
            if let Some(status) = part.child.try_wait()? {
                return Err(part.failure(status));
            }
        }
    }
}

/// The failure to report when main's part failed with `mine`: the failure of a child that
/// ended on its own meanwhile (the cause; its own error line goes to main, not to the
/// terminal, so that the run says one line), else `mine`. Both children are ended.
fn first_failure(mine: Failure, parts: [&mut Part; 2]) -> Failure {
    let mut first = None;
    for part in parts {
        let ended = part.child.try_wait().ok().flatten();
        part.stop();
        if let (None, Some(status)) = (&first, ended) {
            if !status.success() {
                first = Some(part.failure(status));
            }
        }
    }
    first.unwrap_or(mine)
}

/// A child process of the demo: its role, and a thread reading its standard error (so that
/// a full pipe never stalls it), whose last line says why it failed.
struct Part {
    who: &'static str,
    child: Child,
    errors: Option<JoinHandle<String>>,
}

impl Part {
    fn start(exe: &Path, who: &'static str, run: &str) -> Result<Part, Failure> {
        let mut child = Command::new(exe)
            .args(["demo-child", who, run])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| Failure::Error(format!("cannot start the demo's {who}: {e}")))?;
        let mut stderr = child.stderr.take().expect("piped");
        let errors = std::thread::spawn(move || {
            let mut text = String::new();
            // (Whatever it wrote before a failure to read is what there is to say.)
            let _ = stderr.read_to_string(&mut text);
            text
        });
        Ok(Part {
            who,
            child,
            errors: Some(errors),
        })
    }

    /// The child's failure, now that it ended with `status`: its own last line on standard
    /// error, or else how it ended (killed by a signal, say).
    fn failure(&mut self, status: ExitStatus) -> Failure {
        let said = self
            .errors
            .take()
            .and_then(|reader| reader.join().ok())
            .unwrap_or_default();
        let line = said.lines().rev().find(|l| !l.trim().is_empty());
        match line {
            Some(line) => {
                let why = line.trim().trim_start_matches("filemap: error: ");
                Failure::Error(format!("the {} failed: {why}", self.who))
            }
            None if status.success() => Failure::Error(format!("the {} exited early", self.who)),
            None => Failure::Error(format!("the {} failed: {}", self.who, how_it_ended(status))),
        }
    }

    /// Ends the child if it still runs, and waits for it.
    fn stop(&mut self) {
        // (Either fails only for a child already waited for, which is what is wanted.)
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Part {
    /// A child is never left running when main returns early.
    fn drop(&mut self) {
        self.stop();
    }
}

/// How a child ended, in words.
fn how_it_ended(status: ExitStatus) -> String {
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(signal) = status.signal() {
            return format!("killed by signal {signal}");
        }
    }
    status.to_string()
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
