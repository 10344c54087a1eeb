//! `filemap pub`, `filemap sub`, `filemap hz`: topics from the shell, and what `filemap
//! info` adds for objects with endpoints (topics, inboxes, services).

use crate::output::{errln, outln};
use std::io::{self, BufRead, Write};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Args;
use filemap::topic::{self, Publisher, SlowSubscribers, Subscriber, TopicOptions};
use filemap::{Error, Kind, Name, inbox, service};
use serde_json::json;

use crate::names::scoped_name;
use crate::outcome::{Failure, Outcome};
use crate::output::base64;
use crate::signals::{SLICE, Termination, interrupted, wait_sliced};
use crate::units::{format_rounded, format_size, parse_duration, parse_nonzero_size, told_size};
use std::sync::mpsc::RecvTimeoutError;

/// How `--create` makes a topic.
#[derive(Args, Debug)]
pub struct CreateTopic {
    /// Create the topic if it does not exist (an existing one keeps its settings).
    #[arg(long)]
    create: bool,
    /// With --create: the ring's size (e.g. 64KiB, 1MiB).
    #[arg(long, requires = "create", value_parser = parse_nonzero_size, default_value = "64KiB")]
    capacity: u64,
    /// With --create: how many subscribers can be connected at once (1 to 128).
    #[arg(long, requires = "create", default_value_t = 8)]
    subscribers: u32,
    /// With --create: how many of the last messages a late subscriber receives first.
    #[arg(long, requires = "create", default_value_t = 0)]
    history: u32,
    /// With --create: never wait for slow subscribers (they are told what they missed).
    #[arg(long, requires = "create")]
    drop_oldest: bool,
    /// Use the Global scope for a name without prefix.
    #[arg(long)]
    global: bool,
}

impl CreateTopic {
    fn options(&self) -> Option<TopicOptions> {
        self.create.then(|| {
            TopicOptions::new()
                .capacity(self.capacity)
                .max_subscribers(self.subscribers)
                .history(self.history)
                .slow_subscribers(if self.drop_oldest {
                    SlowSubscribers::DropOldest
                } else {
                    SlowSubscribers::Block
                })
        })
    }

    fn name(&self, name: &str) -> Result<Name, Failure> {
        scoped_name(name, self.global)
    }
}

/// `filemap pub NAME`: each line of standard input is one message (without its newline,
/// `\n` or `\r\n`).
pub fn publish(name: &str, create: &CreateTopic, wait_for: Option<u32>) -> Outcome {
    // Before anything is made: a signal is not lost, and it closes what was made.
    let termination = Termination::catch_sliced()?;
    let name = create.name(name)?;
    let mut publisher = match create.options() {
        Some(options) => Publisher::create_or_open(&name, &options).map_err(Failure::size_given)?,
        None => Publisher::open(&name)?,
    };
    if let Some(n) = wait_for {
        let slots = publisher.max_subscribers();
        if n > slots {
            return Err(Failure::Usage(format!(
                "--wait-for {n}: {name} has room for {slots} subscribers"
            )));
        }
    }
    let mut count = 0u64;
    let result = publish_lines(&mut publisher, &termination, wait_for, &mut count);
    let messages = if count == 1 { "message" } else { "messages" };
    match result {
        // One line on stderr either way: the error says how far it got.
        Err(Failure::Error(e)) => Err(Failure::Error(format!(
            "{e} (after {count} {messages} published to {name})"
        ))),
        result => {
            errln!("filemap: published {count} {messages} to {name}");
            result
        }
    }
}

/// `filemap pub`'s work: waits for `wait_for` subscribers, then publishes each line of
/// standard input, counting them in `count`, until the input ends or a signal comes.
fn publish_lines(
    publisher: &mut Publisher,
    termination: &Termination,
    wait_for: Option<u32>,
    count: &mut u64,
) -> Outcome {
    // Lines published before a subscriber joins are not its: wait for them first.
    while wait_for.is_some_and(|n| publisher.subscribers() < n as usize) {
        if termination.caught() {
            return Ok(interrupted());
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let lines = read_lines_behind(publisher.max_message_len());
    loop {
        // The next line, or the end of the input (`None`).
        let next = wait_sliced(termination, None, |slice| match lines.recv_timeout(slice) {
            Ok(line) => Ok(Some(line)),
            Err(RecvTimeoutError::Timeout) => Err(Error::Timeout {
                what: "standard input".into(),
                after: slice,
            }),
            Err(RecvTimeoutError::Disconnected) => Ok(None),
        });
        let line = match next {
            None => return Ok(interrupted()),
            Some(Ok(Some(Ok(line)))) => line,
            Some(Ok(Some(Err(e)))) => return Err(Failure::stdin(e)),
            Some(Ok(None)) => return Ok(ExitCode::SUCCESS),
            Some(Err(e)) => return Err(e.into()),
        };
        match wait_sliced(termination, None, |slice| {
            publisher.publish_timeout(&line, slice)
        }) {
            Some(Ok(())) => *count += 1,
            Some(Err(e)) => return Err(e.into()),
            None => return Ok(interrupted()),
        }
    }
}

/// Standard input's lines (without their newlines, `\n` or `\r\n`), read on a thread of their own so that
/// a signal can stop the command while it waits for the next; the channel closes at the
/// end of the input.
fn read_lines_behind(most: usize) -> std::sync::mpsc::Receiver<io::Result<Vec<u8>>> {
    let (send, lines) = std::sync::mpsc::sync_channel(1024);
    std::thread::spawn(move || {
        let mut input = io::stdin().lock();
        loop {
            // At most one byte past the longest message and its newline: a longer line is
            // refused without being read whole (it may not end: `< /dev/zero`).
            let mut line = Vec::new();
            let read = io::Read::take(&mut input, most as u64 + 2).read_until(b'\n', &mut line);
            match read {
                Ok(0) => return,
                Ok(_) => {
                    // A newline is `\n` or `\r\n` (Windows' text files).
                    if line.last() == Some(&b'\n') {
                        line.pop();
                        if line.last() == Some(&b'\r') {
                            line.pop();
                        }
                    }
                    if line.len() > most {
                        let _ = send.send(Err(io::Error::other(format!(
                            "a line longer than {}, the most a message carries",
                            told_size(most as u64)
                        ))));
                        return;
                    }
                    if send.send(Ok(line)).is_err() {
                        return;
                    }
                }
                Err(e) => {
                    let _ = send.send(Err(e));
                    return;
                }
            }
        }
    });
    lines
}

/// `filemap sub NAME`: prints each message as a line, until `count` messages or the
/// publisher closes (or dies).
pub fn subscribe(name: &str, create: &CreateTopic, count: Option<u64>, json: bool) -> Outcome {
    // Before anything is made: a signal is not lost, and it closes what was made.
    let termination = Termination::catch_sliced()?;
    let name = create.name(name)?;
    let mut subscriber = match create.options() {
        Some(options) => {
            Subscriber::create_or_open(&name, &options).map_err(Failure::size_given)?
        }
        None => Subscriber::open(&name)?,
    };
    let mut out = Printer::start();
    let (mut received, mut missed) = (0u64, 0u64);
    let mut message = Vec::new();
    while count.is_none_or(|c| received < c) {
        let got = wait_sliced(&termination, None, |slice| {
            let sample = subscriber.recv_timeout(slice)?;
            message.clear();
            sample.append_to(&mut message)?;
            Ok(sample.seq())
        });
        let Some(got) = got else {
            return Ok(interrupted());
        };
        let seq = match got {
            Ok(seq) => seq,
            Err(Error::Lagged { missed: m, .. }) => {
                // (Saturating: how many were missed is the publisher's word.)
                missed = missed.saturating_add(m);
                if !json {
                    errln!("filemap: missed {m} messages (this subscriber fell behind)");
                }
                continue;
            }
            // Fell behind a publisher writing over the ring faster than it could look: the
            // next receive tries again.
            Err(Error::Outpaced { .. }) => continue,
            Err(Error::Disconnected { .. }) => break,
            Err(e) => return Err(e.into()),
        };
        received += 1;
        let line = if json {
            // A message that is not UTF-8 text is given whole, in base64.
            let mut row = match std::str::from_utf8(&message) {
                Ok(text) => json!({"seq": seq, "message": text}),
                Err(_) => json!({"seq": seq, "message_base64": base64(&message)}),
            };
            if missed > 0 {
                row["missed"] = json!(missed);
                missed = 0;
            }
            format!("{row}\n").into_bytes()
        } else {
            let mut line = Vec::with_capacity(message.len() + 1);
            line.extend_from_slice(&message);
            line.push(b'\n');
            line
        };
        match out.print(line, &termination) {
            Printed::Yes => {}
            Printed::Interrupted => return Ok(interrupted()),
            Printed::Failed => break,
        }
    }
    // Messages missed after the last one received (the publisher closed right after): a
    // row of their own, as human mode has said them on stderr.
    if json && missed > 0 {
        let row = json!({ "missed": missed });
        if let Printed::Interrupted = out.print(format!("{row}\n").into_bytes(), &termination) {
            return Ok(interrupted());
        }
    }
    if let Printed::Interrupted = out.finish(&termination) {
        return Ok(interrupted());
    }
    match out.failure() {
        // The reader went away (`filemap sub NAME | head`): done.
        Some(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(ExitCode::SUCCESS),
        Some(e) => Err(Failure::stdout(e)),
        None => Ok(ExitCode::SUCCESS),
    }
}

/// Standard output written on a thread of its own, so that a subscriber whose reader has
/// stopped reading (`filemap sub NAME | sleep 30`) still sees a signal, and closes what it
/// opened, instead of being stuck in a write.
struct Printer {
    lines: Option<std::sync::mpsc::SyncSender<Vec<u8>>>,
    writer: Option<std::thread::JoinHandle<io::Result<()>>>,
}

/// What became of a line given to the [`Printer`].
enum Printed {
    Yes,
    /// A signal came while it waited for standard output.
    Interrupted,
    /// Standard output failed (`finish` says how).
    Failed,
}

impl Printer {
    fn start() -> Printer {
        let (lines, to_write) = std::sync::mpsc::sync_channel::<Vec<u8>>(64);
        let writer = std::thread::spawn(move || {
            // Unix: a handle of its own on standard output, not std's locked one, so that a
            // write stuck here does not hold up the program's last flush of it. (Windows
            // keeps std's, which writes text to a console as the console expects; a stuck
            // write there holds the exit up to the grace period, after the clean-up.)
            #[cfg(unix)]
            let mut out =
                std::fs::File::from(std::os::fd::AsFd::as_fd(&io::stdout()).try_clone_to_owned()?);
            #[cfg(windows)]
            let mut out = io::stdout();
            for line in to_write {
                out.write_all(&line)?;
                out.flush()?;
            }
            Ok(())
        });
        Printer {
            lines: Some(lines),
            writer: Some(writer),
        }
    }

    /// Hands `line` to the writer, waiting (and looking for a signal) while it is behind.
    fn print(&self, line: Vec<u8>, termination: &Termination) -> Printed {
        let Some(lines) = &self.lines else {
            return Printed::Failed;
        };
        let mut line = line;
        loop {
            match lines.try_send(line) {
                Ok(()) => return Printed::Yes,
                Err(std::sync::mpsc::TrySendError::Full(back)) => {
                    if termination.caught() {
                        return Printed::Interrupted;
                    }
                    line = back;
                    std::thread::sleep(Duration::from_millis(1));
                }
                // The writer stopped: standard output failed.
                Err(std::sync::mpsc::TrySendError::Disconnected(_)) => return Printed::Failed,
            }
        }
    }

    /// Waits until everything is written (looking for a signal meanwhile).
    fn finish(&mut self, termination: &Termination) -> Printed {
        self.lines = None;
        while self.writer.as_ref().is_some_and(|w| !w.is_finished()) {
            if termination.caught() {
                return Printed::Interrupted;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        Printed::Yes
    }

    /// How standard output failed, if it did (after `finish`).
    fn failure(&mut self) -> Option<io::Error> {
        match self.writer.take()?.join() {
            Ok(Err(e)) => Some(e),
            _ => None,
        }
    }
}

/// `filemap hz NAME`: messages (and bytes) per second on a topic, once a second.
pub fn hz(name: &str, global: bool, seconds: Option<u64>, json: bool) -> Outcome {
    let name = scoped_name(name, global)?;
    // Before the subscriber is made: a signal is not lost, and it closes the subscriber.
    let termination = Termination::catch_sliced()?;
    let mut subscriber = Subscriber::open_latest(&name)?;
    let mut window = Instant::now();
    let (mut messages, mut bytes, mut missed) = (0u64, 0u64, 0u64);
    let mut reports = 0u64;
    loop {
        if termination.caught() {
            return Ok(interrupted());
        }
        let now = Instant::now();
        if now.duration_since(window) >= Duration::from_secs(1) {
            let secs = now.duration_since(window).as_secs_f64();
            let rate = messages as f64 / secs;
            let printed = if json {
                outln!(
                    "{}",
                    json!({"messages_per_second": rate, "bytes_per_second": bytes as f64 / secs,
                           "missed": missed})
                )
            } else {
                outln!(
                    "{rate:.1} msg/s, {}/s{}",
                    format_rounded((bytes as f64 / secs) as u64),
                    if missed > 0 {
                        format!(", {missed} missed")
                    } else {
                        String::new()
                    }
                )
            };
            if !printed {
                // Nobody reads any more (`filemap hz NAME | head -3`): done.
                return Ok(ExitCode::SUCCESS);
            }
            (messages, bytes, missed) = (0, 0, 0);
            window = now;
            reports += 1;
            if seconds.is_some_and(|s| reports >= s) {
                return Ok(ExitCode::SUCCESS);
            }
        }
        let left = Duration::from_secs(1)
            .saturating_sub(now.duration_since(window))
            .min(SLICE);
        match subscriber.recv_timeout(left.max(Duration::from_millis(1))) {
            Ok(sample) => {
                messages += 1;
                bytes += sample.len() as u64;
            }
            Err(Error::Timeout { .. }) => {}
            Err(Error::Lagged { missed: m, .. }) => missed = missed.saturating_add(m),
            // (The next receive tries again.)
            Err(Error::Outpaced { .. }) => {}
            // No publisher now: keep counting zero until one comes.
            Err(Error::Disconnected { .. }) => {
                std::thread::sleep(left.min(Duration::from_millis(50)));
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// The rows `filemap info` adds for an object with endpoints: a topic, an inbox, a service.
pub fn endpoint_rows(name: &str, kind: Option<Kind>) -> Result<Vec<Vec<String>>, Failure> {
    let slots = |live: &[u32], of: u32| {
        let list: Vec<String> = live.iter().map(u32::to_string).collect();
        format!(
            "{} of {of}{}",
            live.len(),
            if list.is_empty() {
                String::new()
            } else {
                format!(": slots {}", list.join(", "))
            }
        )
    };
    let alive = |yes: bool| if yes { "alive" } else { "none" }.to_string();
    Ok(match kind {
        Some(Kind::Topic) => topic_rows(name)?,
        Some(Kind::Inbox) => {
            let i = inbox::info(name)?;
            vec![
                vec!["receiver".into(), alive(i.receiver_alive)],
                vec!["senders".into(), slots(&i.senders, i.slots)],
            ]
        }
        Some(Kind::Service) => {
            let s = service::info(name)?;
            vec![
                vec!["server".into(), alive(s.server_alive)],
                vec!["clients".into(), slots(&s.clients, s.slots)],
            ]
        }
        Some(Kind::Mapping) => crate::bridge::status_rows(name),
        _ => Vec::new(),
    })
}

/// One line for `filemap ls` about an object's endpoints ("publisher, 2 of 8
/// subscribers"), if it has any; `None` for other kinds, or if it cannot be read.
pub fn endpoint_summary(name: &str, kind: Option<Kind>) -> Option<String> {
    let alive = |yes: bool, what: &str| {
        if yes {
            what.to_string()
        } else {
            format!("no {what}")
        }
    };
    match kind? {
        Kind::Topic => topic::info(name).ok().map(|t| {
            format!(
                "{}, {} of {} subscribers",
                alive(t.publisher_alive, "publisher"),
                t.subscribers.len(),
                t.max_subscribers
            )
        }),
        Kind::Inbox => inbox::info(name).ok().map(|i| {
            format!(
                "{}, {} of {} senders",
                alive(i.receiver_alive, "receiver"),
                i.senders.len(),
                i.slots
            )
        }),
        Kind::Service => service::info(name).ok().map(|s| {
            format!(
                "{}, {} of {} clients",
                alive(s.server_alive, "server"),
                s.clients.len(),
                s.slots
            )
        }),
        Kind::Mapping => crate::bridge::status_summary(name),
        _ => None,
    }
}

/// The field `filemap info --json` adds for an object with endpoints, and its key.
pub fn endpoints_json(
    name: &str,
    kind: Option<Kind>,
) -> Result<Option<(&'static str, serde_json::Value)>, Failure> {
    Ok(match kind {
        Some(Kind::Topic) => Some(("topic", info_json(name)?)),
        Some(Kind::Inbox) => {
            let i = inbox::info(name)?;
            Some((
                "inbox",
                json!({"slots": i.slots, "receiver_alive": i.receiver_alive,
                       "senders": i.senders}),
            ))
        }
        Some(Kind::Service) => {
            let s = service::info(name)?;
            Some((
                "service",
                json!({"slots": s.slots, "server_alive": s.server_alive, "clients": s.clients}),
            ))
        }
        Some(Kind::Mapping) => crate::bridge::status_json(name).map(|status| ("bridge", status)),
        _ => None,
    })
}

/// The rows `filemap info` adds for a topic.
fn topic_rows(name: &str) -> Result<Vec<Vec<String>>, Failure> {
    let t = topic::info(name)?;
    let subscribers = if t.subscribers.is_empty() {
        "-".to_string()
    } else {
        t.subscribers
            .iter()
            .map(|s| format!("slot {} ({} behind)", s.slot, s.behind))
            .collect::<Vec<_>>()
            .join(", ")
    };
    Ok(vec![
        vec!["capacity".into(), format_size(t.capacity)],
        vec![
            "publisher".into(),
            if t.publisher_alive { "alive" } else { "none" }.into(),
        ],
        vec!["published".into(), t.published.to_string()],
        vec![
            "subscribers".into(),
            format!(
                "{} of {}: {subscribers}",
                t.subscribers.len(),
                t.max_subscribers
            ),
        ],
        vec!["history".into(), t.history.to_string()],
        vec![
            "slow subscribers".into(),
            t.slow_subscribers.as_str().into(),
        ],
    ])
}

/// The fields `filemap info --json` adds for a topic.
fn info_json(name: &str) -> Result<serde_json::Value, Failure> {
    let t = topic::info(name)?;
    Ok(json!({
        "capacity": t.capacity,
        "publisher_alive": t.publisher_alive,
        "published": t.published,
        "max_subscribers": t.max_subscribers,
        "history": t.history,
        "slow_subscribers": t.slow_subscribers.as_str(),
        "subscribers": t.subscribers.iter()
            .map(|s| json!({"slot": s.slot, "behind": s.behind}))
            .collect::<Vec<_>>(),
    }))
}

/// `--for` of `filemap hz`: a duration, in whole seconds (at least 1).
pub fn parse_seconds(text: &str) -> Result<u64, String> {
    let d = parse_duration(text)?;
    match d.as_secs() {
        0 => Err(format!(
            "{text:?} is less than the one second hz counts over"
        )),
        _ if d.subsec_nanos() != 0 => Err(format!(
            "{text:?} is not a whole number of the seconds hz counts over"
        )),
        s => Ok(s),
    }
}
