//! `filemap lock`, `filemap wait`, `filemap event`, `filemap sem`: the named
//! synchronisation objects from the shell.

use crate::output::{errln, outln};
use std::ffi::OsString;
use std::process::{Command, ExitCode};
use std::time::Duration;

use clap::Subcommand;
use filemap::sync::{EventReset, NamedEvent, NamedMutex, NamedSemaphore, ObjectOptions};
use filemap::wait::{Waitable, wait_all, wait_any};
use filemap::{Error, HumanDuration, Name};
use serde_json::json;

use crate::names::{scoped, scoped_name};
use crate::outcome::{Failure, Outcome};
use crate::signals::{Termination, interrupted, wait_interruptibly, wait_passing_signals};

/// `filemap lock NAME [--timeout DUR] -- COMMAND...`
pub fn lock(name: Name, timeout: Option<Duration>, command: &[OsString]) -> Outcome {
    // Before the mutex is made: a signal while it waits is not lost, and it closes the
    // mutex; one while the command runs is passed on to the command, waited for.
    let termination = Termination::catch()?;
    let (mutex, _) = NamedMutex::create_or_open(&name)?;
    let Some(guard) = wait_interruptibly(&termination, timeout, |slice| mutex.lock_timeout(slice))?
    else {
        return Ok(interrupted());
    };
    if guard.abandoned() {
        errln!(
            "filemap: warning: {name} was abandoned by a process that died holding it; proceeding"
        );
    }
    let mut cmd = Command::new(&command[0]);
    cmd.args(&command[1..]);
    // The command keeps the mutex object alive, so that if this process dies while it
    // runs, the next locker learns the lock was abandoned.
    let shared = mutex.share_lifetime_with(&mut cmd)?;
    let status = match cmd.spawn() {
        Ok(mut child) => {
            drop(shared);
            wait_passing_signals(&termination, &mut child)?
        }
        Err(e) => {
            let code = if e.kind() == std::io::ErrorKind::NotFound {
                127
            } else {
                126
            };
            errln!(
                "filemap: error: cannot run {}: {e}",
                command[0].to_string_lossy()
            );
            return Ok(ExitCode::from(code));
        }
    };
    drop(guard);
    Ok(exit_code_of(status))
}

fn exit_code_of(status: std::process::ExitStatus) -> ExitCode {
    if let Some(code) = status.code() {
        // A code no exit status holds (a Windows program's crash, 0xC0000005 and the
        // like, is negative as an i32; a code past 255 is cut on Unix): a failure, never 0.
        return ExitCode::from(u8::try_from(code).unwrap_or(1));
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(signal) = status.signal() {
            return ExitCode::from((128 + signal).clamp(0, 255) as u8);
        }
    }
    ExitCode::from(1)
}

#[derive(Subcommand, Debug)]
pub enum EventAction {
    /// Create a named event that outlives this command, until `filemap rm` (needs
    /// --persistent; Linux only).
    Create {
        /// The name.
        name: String,
        /// Auto reset (a set releases one waiter) instead of manual reset.
        #[arg(long)]
        auto: bool,
        /// Create it set.
        #[arg(long)]
        set: bool,
        /// Keep it after filemap exits, until `filemap rm`. Required: an event without it
        /// would vanish as filemap exits (`filemap event wait` creates one while it waits).
        #[arg(long)]
        persistent: bool,
        /// Use the Global scope for a name without prefix.
        #[arg(long)]
        global: bool,
    },
    /// Set an existing event: wakes its waiters.
    Set {
        /// The name.
        name: String,
        /// Use the Global scope for a name without prefix.
        #[arg(long)]
        global: bool,
    },
    /// Reset an existing event.
    Reset {
        /// The name.
        name: String,
        /// Use the Global scope for a name without prefix.
        #[arg(long)]
        global: bool,
    },
    /// Wait until an event is set (creating a manual-reset event if none exists, held
    /// while waiting). Exits 1 on timeout.
    #[command(after_help = crate::signals::INTERRUPTED_HELP)]
    Wait {
        /// The name.
        name: String,
        /// Use the Global scope for a name without prefix.
        #[arg(long)]
        global: bool,
        /// Give up after this long.
        #[arg(long, value_parser = crate::units::parse_duration)]
        timeout: Option<Duration>,
        /// If it must be created: auto reset instead of manual.
        #[arg(long)]
        auto: bool,
    },
}

pub fn event(action: EventAction) -> Outcome {
    match action {
        EventAction::Create {
            name,
            auto,
            set,
            persistent,
            global,
        } => {
            if !persistent {
                return Err(Failure::Usage(
                    "without --persistent the event would vanish as soon as filemap exits; \
                     add --persistent, or let `filemap event wait` create it"
                        .into(),
                ));
            }
            let reset = if auto {
                EventReset::Auto
            } else {
                EventReset::Manual
            };
            let options = ObjectOptions::new().persistent(true);
            NamedEvent::create_new_with(&scoped_name(&name, global)?, reset, set, &options)?;
        }
        EventAction::Set { name, global } => {
            NamedEvent::open(&scoped_name(&name, global)?)?.set()?
        }
        EventAction::Reset { name, global } => {
            NamedEvent::open(&scoped_name(&name, global)?)?.reset()?
        }
        EventAction::Wait {
            name,
            global,
            timeout,
            auto,
        } => {
            let reset = if auto {
                EventReset::Auto
            } else {
                EventReset::Manual
            };
            // Before the event is made: a signal is not lost, and it closes the event.
            let termination = Termination::catch_sliced()?;
            let (event, _) =
                NamedEvent::create_or_open(&scoped_name(&name, global)?, reset, false)?;
            if wait_interruptibly(&termination, timeout, |slice| event.wait_timeout(slice))?
                .is_none()
            {
                return Ok(interrupted());
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Subcommand, Debug)]
pub enum SemAction {
    /// Create a named semaphore that outlives this command, until `filemap rm` (needs
    /// --persistent; Linux only).
    Create {
        /// The name.
        name: String,
        /// The maximum count (1 to 2147483647, the most a semaphore holds).
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=i32::MAX as i64))]
        max: u32,
        /// The initial count (0 to the maximum).
        #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=i32::MAX as i64))]
        initial: u32,
        /// Keep it after filemap exits, until `filemap rm`. Required: a semaphore without
        /// it would vanish as filemap exits.
        #[arg(long)]
        persistent: bool,
        /// Use the Global scope for a name without prefix.
        #[arg(long)]
        global: bool,
    },
    /// Return units to a semaphore, and print its count after; fails past its maximum.
    Release {
        /// The name.
        name: String,
        /// Use the Global scope for a name without prefix.
        #[arg(long)]
        global: bool,
        /// Print the count as JSON (`{"count": N}`).
        #[arg(long)]
        json: bool,
        /// How many units (1 to 2147483647, the most a semaphore holds).
        #[arg(default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=i32::MAX as i64))]
        count: u32,
    },
    /// Take a unit, waiting while there is none. Exits 1 on timeout.
    #[command(after_help = crate::signals::INTERRUPTED_HELP)]
    Acquire {
        /// The name.
        name: String,
        /// Use the Global scope for a name without prefix.
        #[arg(long)]
        global: bool,
        /// Give up after this long.
        #[arg(long, value_parser = crate::units::parse_duration)]
        timeout: Option<Duration>,
    },
}

pub fn sem(action: SemAction) -> Outcome {
    match action {
        SemAction::Create {
            name,
            max,
            initial,
            persistent,
            global,
        } => {
            if !persistent {
                return Err(Failure::Usage(
                    "without --persistent the semaphore would vanish as soon as filemap exits; \
                     add --persistent"
                        .into(),
                ));
            }
            let options = ObjectOptions::new().persistent(true);
            NamedSemaphore::create_new_with(&scoped_name(&name, global)?, initial, max, &options)?;
        }
        SemAction::Release {
            name,
            global,
            json,
            count,
        } => {
            let previous = NamedSemaphore::open(&scoped_name(&name, global)?)?.release(count)?;
            let now = u64::from(previous) + u64::from(count);
            if json {
                outln!("{}", json!({ "count": now }));
            } else {
                outln!("{now}");
            }
        }
        SemAction::Acquire {
            name,
            global,
            timeout,
        } => {
            // Before the semaphore is opened: a signal is not lost, and it closes the handle.
            let termination = Termination::catch_sliced()?;
            let sem = NamedSemaphore::open(&scoped_name(&name, global)?)?;
            if wait_interruptibly(&termination, timeout, |slice| sem.acquire_timeout(slice))?
                .is_none()
            {
                return Ok(interrupted());
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A named synchronisation object of any kind, opened by name.
enum Object {
    Event(NamedEvent),
    Semaphore(NamedSemaphore),
    Mutex(NamedMutex),
}

impl Object {
    /// Opens `name` as whichever of an event, a semaphore or a mutex it is.
    fn open(name: &str) -> Result<Object, Failure> {
        let mismatch = |e: &Error| matches!(e, Error::KindMismatch { .. });
        match NamedEvent::open(name) {
            Ok(e) => return Ok(Object::Event(e)),
            Err(e) if !mismatch(&e) => return Err(e.into()),
            Err(_) => {}
        }
        match NamedSemaphore::open(name) {
            Ok(s) => return Ok(Object::Semaphore(s)),
            Err(e) if !mismatch(&e) => return Err(e.into()),
            Err(_) => {}
        }
        match NamedMutex::open(name) {
            Ok(m) => Ok(Object::Mutex(m)),
            Err(filemap::Error::KindMismatch { found, .. }) => {
                let found = found.to_string();
                let article = if found.starts_with(['a', 'e', 'i', 'o', 'u']) {
                    "an"
                } else {
                    "a"
                };
                Err(Failure::Error(format!(
                    "{name} is {article} {found}, not an event, a semaphore or a mutex"
                )))
            }
            Err(e) => Err(e.into()),
        }
    }

    fn waitable(&self) -> &dyn Waitable {
        match self {
            Object::Event(e) => e,
            Object::Semaphore(s) => s,
            Object::Mutex(m) => m,
        }
    }
}

/// `filemap wait NAME... [--all] [--timeout DUR] [--json]`
/// `filemap wait NAMES...`: prints the ready objects' names as they were given.
pub fn wait(
    names: &[String],
    global: bool,
    all: bool,
    timeout: Option<Duration>,
    json: bool,
) -> Outcome {
    let scoped = names
        .iter()
        .map(|n| scoped(n, global))
        .collect::<Result<Vec<_>, _>>()?;
    if all {
        // (All of them at once: the same one twice could never be taken twice.)
        if let Some(i) = (1..scoped.len()).find(|&i| scoped[..i].contains(&scoped[i])) {
            return Err(Failure::Usage(format!(
                "{} is given twice: --all takes each object once",
                names[i]
            )));
        }
    }
    // Before the objects are opened: a signal is not lost, and it closes their handles.
    let termination = Termination::catch_sliced()?;
    let objects = scoped
        .iter()
        .map(|n| Object::open(n))
        .collect::<Result<Vec<Object>, Failure>>()?;
    let waitables: Vec<&dyn Waitable> = objects.iter().map(Object::waitable).collect();
    let timed_out = |e: Error| match e {
        Error::Timeout { after, .. } => Failure::Error(format!(
            "timed out after {}: {}",
            HumanDuration(after),
            match (all, names.len()) {
                (false, 1) => "the object was not ready".to_string(),
                (false, n) => format!("none of the {n} objects was ready"),
                (true, n) => format!("the {n} objects were not all ready together"),
            }
        )),
        e => e.into(),
    };
    // (index, abandoned) of each object taken.
    let taken: Option<Vec<(usize, bool)>> = if all {
        wait_interruptibly(&termination, timeout, |slice| {
            wait_all(&waitables, Some(slice))
        })
        .map_err(timed_out)?
        .map(|taken| {
            taken
                .iter()
                .enumerate()
                .map(|(i, t)| (i, t.abandoned()))
                .collect()
        })
    } else {
        wait_interruptibly(&termination, timeout, |slice| {
            wait_any(&waitables, Some(slice))
        })
        .map_err(timed_out)?
        .map(|ready| vec![(ready.index, ready.taken.abandoned())])
    };
    let Some(taken) = taken else {
        return Ok(interrupted());
    };
    for &(i, abandoned) in &taken {
        if abandoned {
            errln!(
                "filemap: warning: {} was abandoned by a process that died holding it",
                names[i]
            );
        }
    }
    if json {
        let ready: Vec<serde_json::Value> = taken
            .iter()
            .map(|&(i, abandoned)| json!({"index": i, "name": names[i], "abandoned": abandoned}))
            .collect();
        outln!("{}", json!({ "ready": ready }));
    } else {
        for &(i, _) in &taken {
            outln!("{}", names[i]);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// What `filemap info` adds for an event (its reset mode) or a semaphore (its count and
/// maximum, where the system tells them), as (field, value) pairs. Nothing for a stale
/// entry (opening it would reclaim its name) or one that cannot be opened now.
pub fn state_fields(
    name: &str,
    kind: Option<filemap::Kind>,
    stale: bool,
) -> Vec<(&'static str, serde_json::Value)> {
    use filemap::Kind;
    if stale {
        return Vec::new();
    }
    match kind {
        Some(Kind::Event) => NamedEvent::open(name)
            .ok()
            .and_then(|e| e.reset_mode())
            .map(|mode| {
                let mode = match mode {
                    EventReset::Manual => "manual",
                    EventReset::Auto => "auto",
                };
                vec![("reset", json!(mode))]
            })
            .unwrap_or_default(),
        Some(Kind::Semaphore) => match NamedSemaphore::open(name) {
            Ok(s) => [("count", s.count()), ("max", s.max())]
                .into_iter()
                .filter_map(|(field, value)| value.map(|v| (field, json!(v))))
                .collect(),
            Err(_) => Vec::new(),
        },
        _ => Vec::new(),
    }
}
