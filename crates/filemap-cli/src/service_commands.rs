//! `filemap serve` and `filemap request`: a service from the shell. The server gives each
//! request to a command on its standard input and streams the command's standard output
//! back as the response; the client sends its standard input as one request and prints
//! the response as it arrives.

use std::ffi::{OsStr, OsString};
use std::io::{self, Read, Write};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use clap::Args;
use filemap::service::{self, Client, RequestId, Server, ServiceOptions};
use filemap::{Error, HumanDuration};

use crate::names::scoped_name;
use crate::outcome::{Failure, Outcome};
use crate::output::errln;
use crate::signals::{Termination, interrupted, stop_child, wait_sliced};
use crate::units::{parse_nonzero_size, told_size};

/// The settings `filemap serve` makes a service with (an existing one keeps its own).
#[derive(Args, Debug)]
pub struct CreateService {
    /// Each client's ring, for its requests and for its responses (e.g. 64KiB, 1MiB).
    #[arg(long, value_parser = parse_nonzero_size, default_value = "64KiB")]
    capacity: u64,
    /// How many clients can be connected at once (1 to 128).
    #[arg(long, default_value_t = 8)]
    clients: u32,
    /// Use the Global scope for a name without prefix.
    #[arg(long)]
    global: bool,
}

/// `filemap serve NAME [--count N] -- COMMAND...`: serves requests one at a time, each by
/// a run of COMMAND, until `count` requests (for ever by default).
pub fn serve(
    name: &str,
    create: &CreateService,
    count: Option<u64>,
    command: &[OsString],
) -> Outcome {
    let name = scoped_name(name, create.global)?;
    // A command that cannot run would fail every request.
    if let Some(why) = not_runnable(&command[0]) {
        let program = command[0].to_string_lossy();
        return Err(Failure::Error(format!("cannot run {program}: {why}")));
    }
    // Before the service is made: a signal is not lost, and it closes the service.
    let termination = Termination::catch_sliced()?;
    let options = ServiceOptions::new()
        .capacity(create.capacity)
        .clients(create.clients);
    let mut server = Server::create_or_open(&name, &options).map_err(Failure::size_given)?;
    let mut served = 0u64;
    // The commands that answered and run on: their requests' last parts wait for their ends.
    let mut running: Vec<Running> = Vec::new();
    while count.is_none_or(|c| served < c) {
        // While commands run on, the wait for the next request is cut short to look at them.
        let deadline = (!running.is_empty()).then(|| Instant::now() + RUNNING_LOOK);
        let got = wait_sliced(&termination, deadline, |slice| {
            let r = server.recv_request_timeout(slice)?;
            Ok((r.id(), r.to_vec()))
        });
        let Some(got) = got else {
            // Their clients are told the server is gone; the commands are left to run.
            return Ok(interrupted());
        };
        running = finish_ended(&mut server, running, command, &termination)?;
        if termination.caught() {
            return Ok(interrupted());
        }
        let (id, request) = match got {
            Err(Error::Timeout { .. }) if deadline.is_some() => continue,
            // A client's ring found damaged (only a process outside the protocol does
            // that) is said once and set aside; the other clients are served on.
            Err(e @ Error::Corrupt { .. }) => {
                errln!("filemap: {}", crate::output::printable(&e.to_string()));
                continue;
            }
            got => got?,
        };
        let request = match request {
            Ok(request) => request,
            // A request that cannot be read (its ring cut short or scribbled on by a
            // process outside the protocol) is failed, saying why: its client would wait
            // for ever. The other clients are served on.
            Err(e) => {
                let reason = format!("the server could not read the request: {e}");
                errln!("filemap: {}", crate::output::printable(&reason));
                let _ = server.respond_failure_timeout(id, reason.as_bytes(), Duration::ZERO);
                continue;
            }
        };
        served += 1;
        match answer(&mut server, id, served, request, command, &termination)? {
            Answered::Done => {}
            Answered::RunsOn(runs_on) => running.push(runs_on),
            // Its client is told the server is gone; the others' commands are left to run.
            Answered::Interrupted => return Ok(interrupted()),
        }
    }
    // The last answers wait for their commands' ends (a signal meanwhile leaves them to
    // run, as when the server is interrupted serving).
    while !running.is_empty() {
        if termination.caught() {
            return Ok(interrupted());
        }
        running = finish_ended(&mut server, running, command, &termination)?;
        if !running.is_empty() {
            std::thread::sleep(RUNNING_LOOK);
        }
    }
    if termination.caught() {
        return Ok(interrupted());
    }
    Ok(ExitCode::SUCCESS)
}

/// Why `program` cannot be run, if it cannot: where `Command` looks for it, a path as it
/// is; a bare name in PATH's directories (Unix: `/bin:/usr/bin` without PATH, as `execvp`),
/// or on Windows, with `.exe` added when it has no extension, in this program's directory,
/// the system directory, the Windows directory, then PATH's.
fn not_runnable(program: &OsStr) -> Option<&'static str> {
    let path = std::path::Path::new(program);
    if path.components().count() > 1 || path.is_absolute() {
        return match path.metadata() {
            Err(_) => Some("no such file"),
            Ok(m) if m.is_dir() => Some("it is a directory"),
            Ok(_) if !is_program(path) => Some("it is not executable"),
            Ok(_) => None,
        };
    }
    let path_dirs = std::env::var_os("PATH")
        .map(|dirs| std::env::split_paths(&dirs).collect::<Vec<_>>())
        .unwrap_or_else(|| {
            if cfg!(unix) {
                vec!["/bin".into(), "/usr/bin".into()]
            } else {
                Vec::new()
            }
        });
    #[cfg(unix)]
    let (dirs, name) = (path_dirs, path.to_path_buf());
    #[cfg(windows)]
    let (dirs, name) = {
        let mut dirs: Vec<std::path::PathBuf> = std::env::current_exe()
            .ok()
            .and_then(|exe| exe.parent().map(std::path::Path::to_path_buf))
            .into_iter()
            .collect();
        if let Some(root) = std::env::var_os("SystemRoot") {
            let root = std::path::PathBuf::from(root);
            dirs.extend([root.join("System32"), root]);
        }
        dirs.extend(path_dirs);
        let name = if path.extension().is_some() {
            path.to_path_buf()
        } else {
            path.with_extension("exe")
        };
        (dirs, name)
    };
    if dirs.iter().any(|dir| is_program(&dir.join(&name))) {
        None
    } else {
        Some("no such program in PATH")
    }
}

/// Whether `path` is a file this program could run (Unix: with an execute bit).
fn is_program(path: &std::path::Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        path.metadata()
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    }
    #[cfg(windows)]
    {
        path.is_file()
    }
}

/// A command's end, waited for on a thread of its own: a command may close its output
/// (which ends its answer) and keep running, and the next request must not wait for it.
/// Runs `command` with `request` on its standard input and streams its standard output to
/// the request's client, in parts as it comes; once the command has closed its output and
/// ended, the last part: empty if it succeeded, or a failure
/// ([`Server::respond_failure`]) saying how it ended ([`exit_text`]), which
/// `filemap request` turns into its own exit status. A command that runs on after it
/// closed its output is returned, for the server to finish its request when it ends
/// while it serves others. `served`: how many requests this
/// server has taken, this one included (what its messages call the request: a request
/// id's number is for programs). A command that cannot be started fails the request.
fn answer(
    server: &mut Server,
    id: RequestId,
    served: u64,
    request: Vec<u8>,
    command: &[OsString],
    termination: &Termination,
) -> Result<Answered, Failure> {
    // A client that gave up while its request waited (behind a slow one) wants no answer.
    if !server.client_alive(id) {
        errln!(
            "filemap: client {} left before its request {served} was served",
            id.client()
        );
        return Ok(Answered::Done);
    }
    let mut child = match Command::new(&command[0])
        .args(&command[1..])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
    {
        Ok(child) => child,
        // (It could when the server started: it was removed since, say.) The request
        // fails, as a shell's command that cannot run does (127), and the server goes on.
        Err(e) => {
            let reason = format!("cannot run {}: {e}", command[0].to_string_lossy());
            errln!(
                "filemap: {reason} (request {served}, client {})",
                id.client()
            );
            respond_sliced(server, id, termination, |s, wait| {
                s.respond_failure_timeout(id, reason.as_bytes(), wait)
            })?;
            return Ok(Answered::Done);
        }
    };
    let (Some(mut stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
        stop_child(&mut child);
        return Err(Failure::Error("the command's pipes were not made".into()));
    };
    // Fed on a thread of its own: a command may write more than a pipe holds before it
    // reads all its input. (A command that exits without reading it all is not the
    // server's error; closing stdin at the end is its end of input.) The feeder is left to
    // end on its own: when the command has read all its input, or when the last process
    // holding the command's input (the command, or a process it started) ends.
    let feeder = std::thread::spawn(move || {
        let _ = stdin.write_all(&request);
    });
    drop(feeder);
    let streamed = stream(server, id, stdout, termination);
    if !matches!(streamed, Ok(Streamed::Whole)) {
        // Nobody reads its output any more: it must not wait for that (nor the feeder for
        // it).
        stop_child(&mut child);
        if matches!(streamed, Ok(Streamed::ClientLeft)) {
            errln!(
                "filemap: client {} left; its {} was stopped",
                id.client(),
                command[0].to_string_lossy()
            );
        }
        return Ok(match streamed? {
            Streamed::Interrupted => Answered::Interrupted,
            _ => Answered::Done,
        });
    }
    // A command ends as it closes its output, most often: its end is waited for a moment.
    let since = Instant::now();
    let mut running = vec![Running { id, served, child }];
    loop {
        running = finish_ended(server, running, command, termination)?;
        let Some(runs_on) = running.pop() else {
            return Ok(Answered::Done);
        };
        if since.elapsed() >= RUNNING_LOOK {
            return Ok(Answered::RunsOn(runs_on));
        }
        running.push(runs_on);
        std::thread::sleep(Duration::from_micros(100));
    }
}

/// How long `serve` waits for a command that closed its output to end before it serves
/// the next request meanwhile, and how often it looks at such commands then.
const RUNNING_LOOK: Duration = Duration::from_millis(10);

/// A command that answered (closed its output) and runs on: its request's last part waits
/// for its end.
struct Running {
    id: RequestId,
    served: u64,
    child: std::process::Child,
}

impl Running {
    /// Sends the request's last part for the command's end: empty for a success, a failure
    /// saying how it ended otherwise (and said on stderr too).
    /// (A signal that comes while the response waits for room leaves it unsent: the
    /// caller's next look at the signal ends the server.)
    fn finish(
        &mut self,
        server: &mut Server,
        status: io::Result<std::process::ExitStatus>,
        command: &[OsString],
        termination: &Termination,
    ) -> Result<(), Failure> {
        let program = command[0].to_string_lossy();
        let status = status
            .map_err(|e| Failure::Error(format!("the end of {program} was not seen: {e}")))?;
        let id = self.id;
        match exit_text(status) {
            None => respond_sliced(server, id, termination, |s, wait| {
                s.respond_timeout(id, b"", wait)
            })?,
            Some(how) => {
                errln!(
                    "filemap: {program} ended with {status} for request {} (client {})",
                    self.served,
                    self.id.client()
                );
                respond_sliced(server, id, termination, |s, wait| {
                    s.respond_failure_timeout(id, how.as_bytes(), wait)
                })?
            }
        };
        Ok(())
    }
}

/// How [`respond_sliced`] ended.
enum Sent {
    /// The response went.
    Delivered,
    /// The client left: the response was not sent.
    ClientLeft,
    /// A signal came: the response was not sent.
    Interrupted,
}

/// Sends a response to `id` with `send` (one of the server's timed responds), waiting for
/// room in the client's ring (a client that does not read its responses) in slices, so
/// that a signal is acted on meanwhile (it ended the process after a grace period, without
/// the commands' end) and a client that leaves lets the server go.
fn respond_sliced(
    server: &mut Server,
    id: RequestId,
    termination: &Termination,
    mut send: impl FnMut(&mut Server, Duration) -> filemap::Result<()>,
) -> Result<Sent, Failure> {
    loop {
        match send(server, CLIENT_LOOK) {
            Ok(()) => return Ok(Sent::Delivered),
            Err(filemap::Error::Timeout { .. }) => {
                if termination.caught() {
                    return Ok(Sent::Interrupted);
                }
                if !server.client_alive(id) {
                    return Ok(Sent::ClientLeft);
                }
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// Finishes the requests of the commands in `running` that have ended, and stops those
/// whose clients have left (as a command still writing its response is stopped); the
/// others.
fn finish_ended(
    server: &mut Server,
    running: Vec<Running>,
    command: &[OsString],
    termination: &Termination,
) -> Result<Vec<Running>, Failure> {
    let mut still = Vec::with_capacity(running.len());
    for mut r in running {
        match r.child.try_wait().transpose() {
            Some(status) => r.finish(server, status, command, termination)?,
            None if !server.client_alive(r.id) => {
                stop_child(&mut r.child);
                errln!(
                    "filemap: client {} left; its {} was stopped",
                    r.id.client(),
                    command[0].to_string_lossy()
                );
            }
            None => still.push(r),
        }
    }
    Ok(still)
}

/// How a command that failed ended, as a failed request says it to `filemap request`:
/// `exit N` for an exit status N other than 0, `signal N` for a process killed by signal
/// N (Unix); `None` for a success.
fn exit_text(status: std::process::ExitStatus) -> Option<String> {
    if status.success() {
        return None;
    }
    #[cfg(unix)]
    if let Some(signal) = std::os::unix::process::ExitStatusExt::signal(&status) {
        return Some(format!("signal {signal}"));
    }
    Some(match status.code() {
        Some(code) => format!("exit {code}"),
        None => format!("{status}"),
    })
}

/// The exit status `filemap request` passes on for a failed request's reason: the
/// command's own for `exit N` (1 if N is not one a process can exit with here), 128 + N
/// for `signal N` (as shells say a killed command ended); 127 for a command that could
/// not be run (as shells say); 1 for any other reason (a server of another program's).
fn exit_status_of(reason: &str) -> u8 {
    let number = |prefix: &str| {
        reason
            .strip_prefix(prefix)
            .and_then(|n| n.parse::<u32>().ok())
    };
    if let Some(code) = number("exit ") {
        return u8::try_from(code).ok().filter(|&c| c != 0).unwrap_or(1);
    }
    if let Some(signal) = number("signal ") {
        return u8::try_from(128 + signal.min(127)).unwrap_or(1);
    }
    if reason.starts_with("cannot run ") {
        return 127;
    }
    1
}

/// What became of a request [`answer`] took.
enum Answered {
    /// Answered to its end (or failed, or its client left).
    Done,
    /// Answered, and its command runs on: its last part waits for the command's end.
    RunsOn(Running),
    /// A signal came meanwhile: the server stops.
    Interrupted,
}

/// How a command's answer went.
#[derive(Debug, PartialEq, Eq)]
enum Streamed {
    /// All of it, to its end.
    Whole,
    /// Its client went away: the rest would be dropped.
    ClientLeft,
    /// A signal came while the command ran.
    Interrupted,
}

/// How often `stream` looks at the client and for a signal while the command writes
/// nothing.
const CLIENT_LOOK: Duration = Duration::from_millis(50);

/// Sends what the command writes, each read of its output as one part of the response,
/// until it closes its output (the last part is [`answer`]'s); stops early if the client
/// goes or a signal comes, also while the command writes nothing: its output is read on a
/// thread of its own (left to end when the command's output closes).
fn stream(
    server: &mut Server,
    id: RequestId,
    mut stdout: std::process::ChildStdout,
    termination: &Termination,
) -> Result<Streamed, Failure> {
    let size = server.max_response_len().clamp(1, 1 << 20);
    // (Two parts ahead at most: the command waits while its client does.)
    let (send, parts) = std::sync::mpsc::sync_channel::<io::Result<Vec<u8>>>(2);
    std::thread::spawn(move || {
        loop {
            let mut part = vec![0u8; size];
            match stdout.read(&mut part) {
                Ok(0) => return,
                Ok(n) => {
                    part.truncate(n);
                    if send.send(Ok(part)).is_err() {
                        return;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    let _ = send.send(Err(e));
                    return;
                }
            }
        }
    });
    loop {
        match parts.recv_timeout(CLIENT_LOOK) {
            Ok(Ok(part)) => {
                // Looked at here too: a command that writes all the time never lets the
                // wait run out.
                if termination.caught() {
                    return Ok(Streamed::Interrupted);
                }
                if !server.client_alive(id) {
                    return Ok(Streamed::ClientLeft);
                }
                match respond_sliced(server, id, termination, |s, wait| {
                    s.respond_part_timeout(id, &part, wait)
                })? {
                    Sent::Delivered => {}
                    Sent::ClientLeft => return Ok(Streamed::ClientLeft),
                    Sent::Interrupted => return Ok(Streamed::Interrupted),
                }
            }
            Ok(Err(e)) => return Err(e.into()),
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return Ok(Streamed::Whole),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                if termination.caught() {
                    return Ok(Streamed::Interrupted);
                }
                if !server.client_alive(id) {
                    return Ok(Streamed::ClientLeft);
                }
            }
        }
    }
}

/// `filemap request NAME`: standard input, whole, as one request; the response on standard
/// output as it arrives.
pub fn request(name: &str, global: bool, timeout: Option<Duration>) -> Outcome {
    let name = scoped_name(name, global)?;
    let info = service::info(&name)?;
    if !info.server_alive {
        return Err(Failure::Error(format!("no server serves {name}")));
    }
    // At most one byte past the longest request: a longer input is refused below without
    // being read whole (it may not end: `< /dev/zero`).
    let mut payload = Vec::new();
    let most = info.max_request_len as u64;
    io::stdin()
        .lock()
        .take(most.saturating_add(1))
        .read_to_end(&mut payload)
        .map_err(Failure::stdin)?;
    if payload.len() as u64 > most {
        return Err(Failure::Error(format!(
            "the request is longer than the most {name} carries, {}",
            told_size(most)
        )));
    }
    // From here on a signal closes the client (a signal while the input is read ends the
    // command at once, as it did not make anything yet).
    let termination = Termination::catch_sliced()?;
    // One deadline for all of it, counted from here: a free client slot, room to send,
    // and every part of the answer.
    let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
    let Some(mut client) = open_client(&name, deadline, timeout, &termination)? else {
        return Ok(interrupted());
    };
    if payload.len() > client.max_request_len() {
        return Err(Failure::Error(format!(
            "the request is {}; {name} carries at most {}",
            told_size(payload.len() as u64),
            told_size(client.max_request_len() as u64)
        )));
    }
    let failed = |e: Error| match e {
        Error::Disconnected { .. } => {
            Failure::Error(format!("the server of {name} went away before it answered"))
        }
        Error::Timeout { .. } => Failure::Error(format!(
            "no answer from {name} within {}",
            HumanDuration(timeout.unwrap_or_default())
        )),
        e => e.into(),
    };
    let sent = wait_sliced(&termination, deadline, |slice| {
        client.send_request_timeout(&payload, slice)
    });
    let Some(sent) = sent else {
        return Ok(interrupted());
    };
    let asked = sent.map_err(failed)?;
    let out = io::stdout();
    let mut out = out.lock();
    loop {
        let got = wait_sliced(&termination, deadline, |slice| {
            let response = client.recv_response_timeout(slice)?;
            let failure = response.is_failure();
            Ok((
                response.request(),
                response.is_last(),
                failure,
                response.to_vec()?,
            ))
        });
        let Some(got) = got else {
            return Ok(interrupted());
        };
        let (request, last, failure, part) = got.map_err(failed)?;
        if request != asked {
            continue; // not this request's (cannot happen with one request in flight)
        }
        if failure {
            // What was printed stays; the reason is said, and its status passed on.
            let _ = out.flush();
            let reason = String::from_utf8_lossy(&part);
            // Control characters shown escaped: a server's bytes never steer the terminal.
            let shown = crate::output::printable(&reason);
            errln!("filemap: {name} failed the request: {shown}");
            return Ok(ExitCode::from(exit_status_of(&reason)));
        }
        match out.write_all(&part).and_then(|()| out.flush()) {
            Ok(()) => {}
            // The reader went away (`filemap request NAME | head`): done.
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => return Ok(ExitCode::SUCCESS),
            Err(e) => return Err(Failure::stdout(e)),
        }
        if last {
            return Ok(ExitCode::SUCCESS);
        }
    }
}

/// A client of the service `name`, waiting (until `deadline`) while every client slot is
/// taken, as `WaitNamedPipe` waits for a pipe instance.
fn open_client(
    name: &filemap::Name,
    deadline: Option<Instant>,
    timeout: Option<Duration>,
    termination: &Termination,
) -> Result<Option<Client>, Failure> {
    loop {
        if termination.caught() {
            return Ok(None);
        }
        match Client::open(name) {
            Err(Error::NoFreeSlot { slots, .. }) => {
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    return Err(Failure::Error(format!(
                        "all {slots} client slots of {name} stayed taken for {}",
                        HumanDuration(timeout.unwrap_or_default())
                    )));
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            opened => return Ok(Some(opened?)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::exit_status_of;

    #[test]
    fn a_failed_requests_reason_becomes_an_exit_status() {
        for (reason, status) in [
            ("exit 3", 3),
            ("exit 255", 255),
            ("exit 0", 1),
            ("exit 300", 1),
            ("exit -1", 1),
            ("signal 9", 137),
            ("signal 999", 255),
            ("division by zero", 1),
            (
                "cannot run ghost: No such file or directory (os error 2)",
                127,
            ),
        ] {
            assert_eq!(exit_status_of(reason), status, "{reason}");
        }
    }
}
