//! What each subcommand does: the dispatch, and the commands on mapping objects (the
//! others have modules of their own).

use crate::output::{errln, outln};
use std::io::{self, Read, Write};
use std::process::ExitCode;

use filemap::namespace::{self, EntryInfo};
use filemap::{Access, Disposition, Mapping};
use serde_json::json;

use crate::names::{maybe_scoped, scoped, scoped_name};
use crate::outcome::{Failure, Outcome};
use crate::output::{HexDump, printable, table, unix_millis};
use crate::units::format_size;
use crate::{BenchWhat, Command};

pub fn run(command: Command) -> Outcome {
    match command {
        Command::Create {
            foreign: true,
            name,
            size,
            json,
            ..
        } => create_foreign(&name, size, json),
        Command::Create {
            name,
            size,
            persistent,
            global,
            mode,
            file,
            json,
            foreign: false,
        } => create(&name, size, persistent, global, mode, file, json),
        Command::Info {
            name,
            json,
            foreign: true,
            ..
        } => info_foreign(&name, json),
        Command::Info {
            name, json, global, ..
        } => info(&scoped(&name, global)?, json),
        Command::Ls { json } => ls(json),
        Command::Write {
            name,
            offset,
            foreign,
            global,
        } => write(&maybe_scoped(&name, foreign, global)?, offset, foreign),
        Command::Dump {
            name,
            offset,
            len,
            raw,
            foreign,
            global,
        } => dump(
            &maybe_scoped(&name, foreign, global)?,
            offset,
            len,
            raw,
            foreign,
        ),
        Command::Rm {
            name,
            foreign,
            global,
        } => {
            if foreign {
                Mapping::remove_foreign(&name)?;
            } else {
                namespace::remove(&scoped_name(&name, global)?)?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Gc { dry_run, json } => gc(dry_run, json),
        Command::Hold {
            name,
            create,
            size,
            global,
        } => hold(&name, create, size, global),
        Command::Scan { file, window, json } => crate::scan::scan(&file, window, json),
        Command::Lock {
            name,
            timeout,
            global,
            command,
        } => crate::sync_commands::lock(scoped_name(&name, global)?, timeout, &command),
        Command::Pub {
            name,
            create,
            wait_for,
        } => crate::topic_commands::publish(&name, &create, wait_for),
        Command::Sub {
            name,
            create,
            count,
            json,
        } => crate::topic_commands::subscribe(&name, &create, count, json),
        Command::Serve {
            name,
            create,
            count,
            command,
        } => crate::service_commands::serve(&name, &create, count, &command),
        Command::Request {
            name,
            timeout,
            global,
        } => crate::service_commands::request(&name, global, timeout),
        Command::Hz {
            name,
            seconds,
            global,
            json,
        } => crate::topic_commands::hz(&name, global, seconds, json),
        Command::Wait {
            names,
            global,
            all,
            timeout,
            json,
        } => crate::sync_commands::wait(&names, global, all, timeout, json),
        Command::Bridge {
            export,
            import,
            export_service,
            import_service,
            prefix,
            listen,
            connect,
            config,
            multicast,
            best_effort,
            buffer,
            buffer_bytes,
            max_message,
            max_imported,
            query_timeout,
            json,
        } => {
            let mut builder = filemap_zenoh::Bridge::builder()
                .prefix(prefix)
                .multicast_scouting(multicast)
                .best_effort(best_effort)
                .buffer(buffer, buffer_bytes)
                .max_message(max_message)
                .max_imported_topics(max_imported)
                .query_timeout(query_timeout);
            for name in export {
                builder = builder.export(name);
            }
            for name in import {
                builder = builder.import(name);
            }
            for name in export_service {
                builder = builder.export_service(name);
            }
            for name in import_service {
                builder = builder.import_service(name);
            }
            for endpoint in listen {
                builder = builder.listen(endpoint);
            }
            for endpoint in connect {
                builder = builder.connect(endpoint);
            }
            if let Some(file) = config {
                builder = builder.config_file(file);
            }
            crate::bridge::run(builder, json)
        }
        Command::Event { action } => crate::sync_commands::event(action),
        Command::Sem { action } => crate::sync_commands::sem(action),
        Command::Bench {
            what: BenchWhat::Channel { json },
        } => bench("channel", move || filemap_harness::channel(json)),
        Command::Bench {
            what: BenchWhat::Pubsub { json },
        } => bench("pubsub", move || filemap_harness::pubsub(json)),
        Command::BenchPartner { args } => {
            filemap_harness::partner_main(&args)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Demo => crate::demo::run(),
        Command::DemoChild { role, run } => crate::demo::child(&role, &run),
    }
}

/// Runs a `bench` measurement on a thread of its own, with a spinner and the time so far
/// on standard error when that is a terminal (it ticks once a second, so as not to disturb
/// what it waits for). A signal (Ctrl-C in the minute it takes) stops it cleanly: the
/// benchmark's namespace directory goes, its partner processes are killed with it (Linux;
/// elsewhere they end as their peers go, or within 10 s) and the command exits 130.
fn bench(
    what: &str,
    measure: impl FnOnce() -> filemap_harness::Result<String> + Send + 'static,
) -> Outcome {
    use std::io::IsTerminal;
    use std::sync::mpsc::RecvTimeoutError;
    let termination = crate::signals::Termination::catch()?;
    filemap_harness::process::die_with_this_process();
    let spinner = if io::stderr().is_terminal() {
        let spinner = indicatif::ProgressBar::new_spinner();
        spinner.set_style(
            indicatif::ProgressStyle::with_template("{spinner} {msg} {elapsed}")
                .expect("a valid template"),
        );
        spinner.set_message(format!("measuring {what} (about a minute)"));
        spinner.enable_steady_tick(std::time::Duration::from_secs(1));
        spinner
    } else {
        indicatif::ProgressBar::hidden()
    };
    let (done, measured) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(measure());
    });
    let result = loop {
        match measured.recv_timeout(std::time::Duration::from_millis(50)) {
            Ok(result) => break result,
            Err(RecvTimeoutError::Timeout) if termination.caught() => {
                spinner.finish_and_clear();
                filemap_harness::process::remove_namespace();
                return Ok(crate::signals::interrupted());
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => {
                spinner.finish_and_clear();
                return Err(Failure::Error(format!(
                    "the {what} measurement stopped without a result"
                )));
            }
        }
    };
    spinner.finish_and_clear();
    print_report(result?)
}

/// Prints what a `bench` command measured (`main` reports a failed write).
fn print_report(text: String) -> Outcome {
    outln!("{}", text.trim_end_matches('\n'));
    Ok(ExitCode::SUCCESS)
}

fn create(
    name: &str,
    size: Option<u64>,
    persistent: bool,
    global: bool,
    mode: Option<u32>,
    file: Option<std::path::PathBuf>,
    json: bool,
) -> Outcome {
    let name = scoped_name(name, global)?;
    if !persistent {
        return Err(Failure::Usage(
            "without --persistent the object would vanish as soon as filemap exits; \
             add --persistent, or use `filemap hold NAME --create --size SIZE`"
                .into(),
        ));
    }
    let mode = mode.unwrap_or(0o600);
    let mapping = match file {
        Some(path) => {
            // CreateFile's OPEN_ALWAYS: a file that is not there yet is made, at --size.
            // (A symbolic link counts as there, even one to nothing: the object's open
            // then says what is missing.)
            let made = match std::fs::symlink_metadata(&path) {
                Ok(_) => false,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => true,
                Err(e) => {
                    return Err(Failure::Error(format!(
                        "cannot look at {}: {e}",
                        path.display()
                    )));
                }
            };
            if made {
                if size.is_none() {
                    return Err(Failure::Usage(format!(
                        "{} does not exist: give --size to make it",
                        path.display()
                    )));
                }
                required_size(size)?;
                make_backing_file(&path, mode)?;
            }
            let created = Mapping::from_path(&path)
                .size(size.unwrap_or(0))
                .name(name.to_string())
                .persistent(true)
                .permissions(mode)
                .create();
            match created {
                Ok(mapping) => mapping,
                Err(e) => {
                    if made {
                        let _ = std::fs::remove_file(&path);
                    }
                    // (Without --size, the file's own length was used: no usage of it.)
                    return Err(match size {
                        Some(_) => Failure::size_given(e),
                        None => e.into(),
                    });
                }
            }
        }
        None => {
            let size = required_size(size)?;
            Mapping::options()
                .size(size)
                .persistent(true)
                .permissions(mode)
                .create_new(&name)
                .map_err(Failure::size_given)?
        }
    };
    if json {
        outln!(
            "{}",
            json!({"name": name.to_string(), "kind": "mapping", "size": mapping.len(),
                   "persistent": true, "foreign": false,
                   "file": mapping.path().map(|p| p.display().to_string())})
        );
    } else {
        outln!(
            "created {name} ({}{})",
            format_size(mapping.len()),
            mapping
                .path()
                .map(|p| format!(", backed by {}", p.display()))
                .unwrap_or_default()
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn entry_json(e: &EntryInfo) -> serde_json::Value {
    json!({
        "name": e.name,
        "kind": e.kind.map(|k| k.as_str()),
        "size": e.size,
        // (Not known of an entry this process may not read.)
        "persistent": if persistence_known(e) { json!(e.persistent) } else { json!(null) },
        // (The keys `info --foreign --json` prints too.)
        "foreign": false,
        "file": e.file.as_ref().map(|p| p.display().to_string()),
        // (A holder whose process this one cannot see: null, as `?` in the table.)
        "holders": e.holders.as_ref().map(|pids| {
            pids.iter()
                .map(|&pid| if pid == 0 { json!(null) } else { json!(pid) })
                .collect::<Vec<_>>()
        }),
        "stale": e.stale,
        "owner": e.owner_sid.clone().map_or_else(|| json!(e.owner), |sid| json!(sid)),
        "mode": format!("{:03o}", e.mode),
        "security": e.security,
        "creator_pid": e.creator_pid,
        "created_unix_ms": e.created.map(unix_millis),
        "problem": e.problem,
        "unreadable": e.unreadable,
    })
}

/// An entry as `info --json` and `ls --json` print it alike: its fields, then what its kind
/// adds (a topic's, inbox's, service's or bridge's endpoints; an event's or semaphore's
/// state). `ls` lists on past an entry whose endpoints cannot be read (`strict` off).
fn entry_json_with_state(e: &EntryInfo, strict: bool) -> Result<serde_json::Value, Failure> {
    let mut entry = entry_json(e);
    match crate::topic_commands::endpoints_json(&e.name, live_kind(e)) {
        Ok(Some((key, endpoints))) => entry[key] = endpoints,
        Ok(None) => {}
        Err(failure) if strict => return Err(failure),
        Err(_) => {}
    }
    for (field, value) in crate::sync_commands::state_fields(&e.name, e.kind, e.stale) {
        entry[field] = value;
    }
    if let Some(summary) = crate::topic_commands::endpoint_summary(&e.name, live_kind(e)) {
        entry["endpoints"] = json!(summary);
    }
    Ok(entry)
}

/// The kind of an entry whose endpoints can be looked at: none for a stale entry (every
/// holder died), as opening it to look would reclaim its name, and `ls` and `info` only
/// read (`gc` removes stale entries).
fn live_kind(e: &EntryInfo) -> Option<filemap::Kind> {
    if e.stale { None } else { e.kind }
}

/// Whether the entry outlives its handles: "yes", "no", or "?" for one this process may
/// not read or whose header is not a filemap object's.
fn persistence(e: &EntryInfo) -> &'static str {
    match (persistence_known(e), e.persistent) {
        (false, _) => "?",
        (true, true) => "yes",
        (true, false) => "no",
    }
}

/// Whether the entry's header was read (its kind is known): a corrupt one's, or another
/// user's unreadable one's, says nothing of its persistence.
fn persistence_known(e: &EntryInfo) -> bool {
    e.unreadable.is_none() && e.kind.is_some()
}

fn state(e: &EntryInfo) -> String {
    if let Some(why) = &e.unreadable {
        return format!("not readable: {why}");
    }
    match (&e.problem, &e.holders) {
        // A whole entry (its kind is known) whose backing file is gone, replaced or cut
        // short: not corrupt, and not collected (its holders, or a persistent entry's
        // owner, decide).
        (Some(p), _) if e.kind.is_some() => format!("backing file: {p}"),
        (Some(p), _) => format!("corrupt: {p}"),
        (None, _) if e.stale => "stale".into(),
        (None, Some(h)) if h.is_empty() => "persistent, unheld".into(),
        (None, Some(_)) => "live".into(),
        (None, None) => "open".into(),
    }
}

fn holders(e: &EntryInfo) -> String {
    match &e.holders {
        None => "(not known)".into(),
        Some(h) if h.is_empty() => "-".into(),
        Some(h) => h
            .iter()
            .map(|p| match p {
                0 => "?".to_string(),
                p => p.to_string(),
            })
            .collect::<Vec<_>>()
            .join(","),
    }
}

fn info(name: &str, as_json: bool) -> Outcome {
    let e = namespace::info(name)?;
    if as_json {
        outln!("{}", entry_json_with_state(&e, true)?);
        return Ok(ExitCode::SUCCESS);
    }
    let mut rows = vec![
        vec!["name".into(), e.name.clone()],
        vec![
            "kind".into(),
            e.kind.map(|k| k.to_string()).unwrap_or_else(|| "?".into()),
        ],
        vec![
            "size".into(),
            e.size
                .map(|s| format!("{s} ({})", format_size(s)))
                .unwrap_or_else(|| "?".into()),
        ],
        vec!["persistent".into(), persistence(&e).into()],
        vec!["holders".into(), holders(&e)],
        vec!["state".into(), state(&e)],
        vec![
            "owner".into(),
            e.owner_sid.clone().unwrap_or_else(|| e.owner.to_string()),
        ],
        vec!["mode".into(), format!("{:03o}", e.mode)],
    ];
    if let Some(sddl) = &e.security {
        rows.push(vec!["security".into(), sddl.clone()]);
    }
    if let Some(f) = &e.file {
        rows.insert(3, vec!["file".into(), f.display().to_string()]);
    }
    if let Some(pid) = e.creator_pid {
        rows.push(vec!["creator pid".into(), pid.to_string()]);
    }
    rows.extend(crate::topic_commands::endpoint_rows(name, live_kind(&e))?);
    for (field, value) in crate::sync_commands::state_fields(name, e.kind, e.stale) {
        let text = value
            .as_str()
            .map_or_else(|| value.to_string(), str::to_string);
        rows.push(vec![field.into(), text]);
    }
    table(&mut io::stdout().lock(), &rows).map_err(Failure::stdout)?;
    Ok(ExitCode::SUCCESS)
}

fn ls(as_json: bool) -> Outcome {
    let entries = namespace::list()?;
    if as_json {
        let all = entries
            .iter()
            .map(|e| entry_json_with_state(e, false))
            .collect::<Result<Vec<_>, Failure>>()?;
        outln!("{}", serde_json::Value::Array(all));
        return Ok(ExitCode::SUCCESS);
    }
    let endpoints: Vec<Option<String>> = entries
        .iter()
        .map(|e| crate::topic_commands::endpoint_summary(&e.name, live_kind(e)))
        .collect();
    let mut rows = vec![vec![
        "NAME".to_string(),
        "KIND".into(),
        "SIZE".into(),
        "PERSISTENT".into(),
        "HOLDERS".into(),
        "STATE".into(),
        "ENDPOINTS".into(),
    ]];
    for (e, endpoints) in entries.iter().zip(endpoints) {
        rows.push(vec![
            e.name.clone(),
            e.kind.map(|k| k.to_string()).unwrap_or_else(|| "?".into()),
            e.size.map(format_size).unwrap_or_else(|| "?".into()),
            persistence(e).into(),
            holders(e),
            state(e),
            endpoints.unwrap_or_else(|| "-".into()),
        ]);
    }
    table(&mut io::stdout().lock(), &rows).map_err(Failure::stdout)?;
    Ok(ExitCode::SUCCESS)
}

/// Opens a filemap object, or with `foreign` a foreign segment.
fn open(name: &str, foreign: bool, access: Access) -> Result<Mapping, Failure> {
    Ok(if foreign {
        Mapping::open_foreign_with(name, access)?
    } else {
        Mapping::open_with(name, access)?
    })
}

/// The size a new object of memory (not of a file) is given: required, at least a byte.
/// Makes the file `create --file` names when it is not there yet: empty (the object sizes
/// it), with the object's permissions (`mode`, whatever the umask) rather than the umask's
/// default, so that its data is no more widely readable than the object says.
fn make_backing_file(path: &std::path::Path, mode: u32) -> Result<(), Failure> {
    let failed = |e: std::io::Error| Failure::Error(format!("create {}: {e}", path.display()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        let file = options.mode(mode).open(path).map_err(failed)?;
        // The umask may have taken bits the object's permissions give. (A file system that
        // keeps no permissions refuses: the file made is removed again.)
        if let Err(e) = file.set_permissions(std::fs::Permissions::from_mode(mode)) {
            drop(file);
            let _ = std::fs::remove_file(path);
            return Err(Failure::Error(format!(
                "set the permissions of {} to {mode:o}: {e}",
                path.display()
            )));
        }
    }
    #[cfg(windows)]
    {
        // (A file's security on Windows is its directory's inherited one.)
        let _ = mode;
        options.open(path).map_err(failed)?;
    }
    Ok(())
}

fn required_size(size: Option<u64>) -> Result<u64, Failure> {
    match size {
        None => Err(Failure::Usage(
            "--size is required (e.g. --size 1MiB)".into(),
        )),
        Some(0) => Err(Failure::Usage(
            "--size 0: an object has at least 1 byte (e.g. --size 1MiB)".into(),
        )),
        Some(size) => Ok(size),
    }
}

fn create_foreign(name: &str, size: Option<u64>, json: bool) -> Outcome {
    if cfg!(windows) {
        // (Exit 1, as for a persistent object there: the command line is good, the
        // system cannot keep what it asks for.)
        return Err(Failure::Error(
            "on Windows a segment vanishes with its last handle, so one made by filemap \
             would vanish as filemap exits; use `filemap hold NAME --create --size SIZE`"
                .into(),
        ));
    }
    let m = Mapping::create_foreign(name, required_size(size)?).map_err(Failure::size_given)?;
    if json {
        // (The keys of `create --json`: a segment stays until it is removed.)
        outln!(
            "{}",
            json!({"name": name, "kind": "foreign", "size": m.len(), "persistent": true,
                   "foreign": true, "file": null})
        );
    } else {
        outln!(
            "created the foreign segment {name} ({})",
            format_size(m.len())
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn info_foreign(name: &str, as_json: bool) -> Outcome {
    let m = Mapping::open_foreign_with(name, Access::Read)?;
    if as_json {
        outln!(
            "{}",
            // (The keys an object's `info --json` starts with: a segment stays until it
            // is removed, on Unix; on Windows it goes with its last handle. It has no file.)
            json!({"name": name, "kind": "foreign", "size": m.len(), "persistent": cfg!(unix),
                   "foreign": true, "file": null})
        );
    } else {
        let rows = vec![
            vec!["name".to_string(), name.to_string()],
            vec!["kind".into(), "foreign segment (no filemap header)".into()],
            vec![
                "size".into(),
                format!("{} ({})", m.len(), format_size(m.len())),
            ],
        ];
        table(&mut io::stdout().lock(), &rows).map_err(Failure::stdout)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// How much of standard input `write` reads, and writes, at a time.
const WRITE_CHUNK: usize = 1 << 20;

/// How long a write runs before it shows its progress (on a terminal).
const WRITE_PROGRESS_AFTER: std::time::Duration = std::time::Duration::from_secs(1);

fn write(name: &str, offset: u64, foreign: bool) -> Outcome {
    // The object and the offset first: a mistake there is said at once, before standard
    // input is read (it may not end: `< /dev/zero`), and no more of it is read than fits.
    let mapping = open(name, foreign, Access::Write)?;
    check_offset(&mapping, name, offset)?;
    let room = mapping.len() - offset;
    let too_much = |written: u64| {
        let mut problem = format!(
            "standard input holds more than the {} from offset {offset} to the end of {}, \
             which is {} long",
            crate::units::told_size(room),
            called(&mapping, name),
            crate::units::told_size(mapping.len())
        );
        if written > 0 {
            problem.push_str(&format!(
                ": the first {} were written",
                crate::units::told_size(written)
            ));
        }
        Failure::Error(problem)
    };
    // Written a chunk at a time (memory stays bounded, whatever the object's size); input
    // that fits in one chunk is written whole or not at all.
    let mut input = io::stdin().lock();
    let mut buf = vec![
        0u8;
        WRITE_CHUNK.min(
            usize::try_from(room)
                .unwrap_or(usize::MAX)
                .saturating_add(1)
        )
    ];
    let mut view = None;
    let mut written = 0u64;
    let started = std::time::Instant::now();
    // (Cleared however the write ends: an error's line stands alone.)
    let mut progress = Progress(None);
    loop {
        // At most one byte past the room: enough to know the input does not fit.
        let want = buf
            .len()
            .min(usize::try_from(room - written + 1).unwrap_or(usize::MAX));
        let n = read_full(&mut input, &mut buf[..want]).map_err(Failure::stdin)?;
        if n == 0 {
            break;
        }
        if n as u64 > room - written {
            return Err(too_much(written));
        }
        if view.is_none() {
            view = Some(
                mapping
                    .view()
                    .access(Access::Write)
                    .offset(offset)
                    .len(room)
                    .map()?,
            );
        }
        let target = view.as_ref().expect("mapped above");
        target.write_at(written as usize, &buf[..n])?;
        written += n as u64;
        if progress.0.is_none() && started.elapsed() >= WRITE_PROGRESS_AFTER {
            progress.0 = write_progress();
        }
        if let Some(p) = &progress.0 {
            p.set_message(format!("{} written", crate::units::format_rounded(written)));
        }
    }
    drop(progress);
    if let Some(view) = view {
        view.flush()?;
    }
    Ok(ExitCode::SUCCESS)
}

/// A progress line, cleared when it is dropped.
struct Progress(Option<indicatif::ProgressBar>);

impl Drop for Progress {
    fn drop(&mut self) {
        if let Some(p) = &self.0 {
            p.finish_and_clear();
        }
    }
}

/// What the messages call the object `name` opened as `mapping`: its full name, or the
/// foreign segment's name as given.
fn called(mapping: &Mapping, name: &str) -> String {
    mapping
        .name()
        .map_or_else(|| format!("segment {name}"), |n| n.to_string())
}

/// A spinner with the bytes written so far, on standard error if it is a terminal.
fn write_progress() -> Option<indicatif::ProgressBar> {
    use std::io::IsTerminal;
    if !io::stderr().is_terminal() {
        return None;
    }
    let spinner = indicatif::ProgressBar::new_spinner();
    spinner.set_style(
        indicatif::ProgressStyle::with_template("{spinner} {msg} {elapsed}")
            .expect("a valid template"),
    );
    spinner.enable_steady_tick(std::time::Duration::from_millis(200));
    Some(spinner)
}

/// A progress bar for a dump of `len` bytes: for a long one (at least
/// [`PROGRESS_FROM`](crate::output::PROGRESS_FROM)) whose output goes elsewhere than the terminal its progress is
/// shown on (standard error).
fn dump_progress(len: u64) -> Option<indicatif::ProgressBar> {
    use std::io::IsTerminal;
    (len >= crate::output::PROGRESS_FROM
        && io::stderr().is_terminal()
        && !io::stdout().is_terminal())
    .then(|| crate::output::byte_progress(len))
}

/// Reads until `buf` is full or the input ends; how much was read.
fn read_full(input: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match input.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// An offset at most the object's end (a write or dump of nothing there is nothing to
/// do, one past it a mistake).
fn check_offset(mapping: &Mapping, name: &str, offset: u64) -> Result<(), Failure> {
    if offset > mapping.len() {
        return Err(Failure::Error(format!(
            "offset {} is past the end of {}, which is {} long",
            crate::units::told_size(offset),
            called(mapping, name),
            crate::units::told_size(mapping.len())
        )));
    }
    Ok(())
}

fn dump(name: &str, offset: u64, len: Option<u64>, raw: bool, foreign: bool) -> Outcome {
    let mapping = open(name, foreign, Access::Read)?;
    check_offset(&mapping, name, offset)?;
    if let Some(len) = len.filter(|&len| len > mapping.len() - offset) {
        return Err(Failure::Error(format!(
            "--len {} from offset {} runs past the end of {}, which is {} long",
            crate::units::told_size(len),
            crate::units::told_size(offset),
            called(&mapping, name),
            crate::units::told_size(mapping.len())
        )));
    }
    if len == Some(0) || (len.is_none() && offset == mapping.len()) {
        // Nothing asked for, or nothing left (a view of length 0 would be the rest of the
        // object).
        return Ok(ExitCode::SUCCESS);
    }
    let view = mapping
        .view()
        .access(Access::Read)
        .offset(offset)
        .len(len.unwrap_or(0))
        .map()?;
    // (Cleared however the dump ends: an error's line stands alone.)
    let progress = Progress(dump_progress(view.len() as u64));
    let mut out = io::BufWriter::new(io::stdout().lock());
    let mut buf = vec![0u8; 64 * 1024];
    let mut hex = HexDump::default();
    let mut done = 0usize;
    while done < view.len() {
        let n = buf.len().min(view.len() - done);
        view.read_at(done, &mut buf[..n])?;
        let written = if raw {
            out.write_all(&buf[..n])
        } else {
            hex.write(&mut out, offset + done as u64, &buf[..n])
        };
        match written {
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => return Ok(ExitCode::SUCCESS),
            Err(e) => return Err(Failure::stdout(e)),
            Ok(()) => {}
        }
        done += n;
        if let Some(p) = &progress.0 {
            p.inc(n as u64);
        }
    }
    drop(progress);
    let ended = hex
        .finish(&mut out, offset + view.len() as u64)
        .and_then(|()| out.flush());
    match ended {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(ExitCode::SUCCESS),
        Err(e) => Err(Failure::stdout(e)),
        Ok(()) => Ok(ExitCode::SUCCESS),
    }
}

fn gc(dry_run: bool, as_json: bool) -> Outcome {
    let collected = namespace::collect_garbage(dry_run)?;
    if as_json {
        let all: Vec<_> = collected
            .iter()
            .map(|c| json!({"name": c.name, "reason": c.reason, "removed": c.removed, "error": c.error}))
            .collect();
        outln!("{}", serde_json::Value::Array(all));
    } else {
        for c in &collected {
            let what = match (&c.error, c.removed, dry_run) {
                (Some(e), _, _) => format!("could not remove: {}", printable(&e.to_string())),
                (None, true, _) => "removed".into(),
                (None, false, true) => "would remove".into(),
                (None, false, false) => "already gone".into(),
            };
            // Entry names are any other process's to choose: shown escaped.
            let (name, reason) = (printable(&c.name), printable(&c.reason));
            outln!("{what} {name}: {reason}");
        }
        if collected.is_empty() {
            outln!("nothing to collect");
        }
    }
    let failed = collected.iter().filter(|c| c.error.is_some()).count();
    if failed > 0 {
        return Err(Failure::Error(format!(
            "could not remove {failed} of the {} stale entries (each said why above)",
            collected.len()
        )));
    }
    Ok(ExitCode::SUCCESS)
}

fn hold(name: &str, create: bool, size: Option<u64>, global: bool) -> Outcome {
    // Before anything is held or said: a signal sent as soon as we say so is not lost.
    let termination = crate::signals::Termination::catch()?;
    let name = scoped_name(name, global)?;
    let (mapping, how) = if create {
        let size = size.expect("clap requires --size with --create");
        let (m, d) = Mapping::create_or_open(&name, size).map_err(Failure::size_given)?;
        (
            m,
            if d == Disposition::Created {
                "created"
            } else {
                "opened"
            },
        )
    } else {
        (Mapping::open_with(&name, Access::Read)?, "opened")
    };
    errln!(
        "{how} {name} ({}); holding it as pid {} until interrupted",
        format_size(mapping.len()),
        std::process::id()
    );
    termination.wait()?;
    drop(mapping);
    Ok(ExitCode::SUCCESS)
}
