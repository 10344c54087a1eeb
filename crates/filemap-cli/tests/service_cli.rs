//! `filemap serve` and `filemap request`, run as a user would, each test in a namespace
//! directory of its own. The served command is `filemap` itself (so that the test runs
//! the same under Wine): the benchmarks' hidden echo partner as a `cat`, or an event wait
//! as a command that takes its time.

mod common;

use common::*;
use std::process::Stdio;
use std::time::Instant;

const ME: &str = env!("CARGO_BIN_EXE_filemap");

/// A `filemap serve` the test started (killed if the test fails before it exits).
struct Serving(Reaped);

impl Serving {
    /// Waits for it to exit (after its --count requests); its stderr.
    fn finish(mut self) -> (std::process::ExitStatus, String) {
        let status = wait_within(&mut self.0, "filemap serve --count");
        let mut said = String::new();
        std::io::Read::read_to_string(self.0.stderr.as_mut().unwrap(), &mut said).unwrap();
        (status, said)
    }
}

/// Starts `filemap serve NAME --count N -- COMMAND...` and waits until it serves.
fn start_server(ns: &Ns, name: &str, count: u32, command: &[&str]) -> Serving {
    start_server_with(ns, name, &[], count, command)
}

/// [`start_server`] with more of `serve`'s options.
fn start_server_with(
    ns: &Ns,
    name: &str,
    options: &[&str],
    count: u32,
    command: &[&str],
) -> Serving {
    let count = count.to_string();
    let mut args = vec!["serve", name, "--count", &count];
    args.extend_from_slice(options);
    args.push("--");
    args.extend_from_slice(command);
    let mut child = ns
        .cmd(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn_retrying();
    if !served_within(ns, name) {
        let _ = child.kill();
        let _ = child.wait();
        panic!("{name} was never served");
    }
    Serving(Reaped::new(child))
}

/// Polls `filemap info NAME --json` until a live server serves the service.
fn served_within(ns: &Ns, name: &str) -> bool {
    let deadline = Instant::now() + PATIENCE;
    while Instant::now() < deadline {
        let out = ns.run(&["info", name, "--json"]);
        if out.status.success() {
            let info = json(&String::from_utf8_lossy(&out.stdout));
            if info["service"]["server_alive"] == true {
                return true;
            }
        }
        std::thread::sleep(POLL);
    }
    false
}

fn stderr_of(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Each request is the command's standard input and its standard output the response,
/// streamed back whole (a response far larger than one part included); the server stops
/// after --count requests, and the service goes with it.
#[test]
fn requests_are_answered_by_the_command() {
    let ns = Ns::new();
    let cat = [ME, "bench-partner", "stream-echo", "1"];
    let server = start_server(&ns, "echo", 2, &cat);
    let out = ns.with_stdin(&["request", "echo", "--timeout", "1m"], b"hello\nworld");
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_eq!(out.stdout, b"hello\nworld");
    // 20,000 bytes in, 20,000 bytes out, in as many parts as the pipe gives.
    let big: Vec<u8> = (0..20_000u32).map(|i| b'a' + (i * 7 % 26) as u8).collect();
    let out = ns.with_stdin(&["request", "echo", "--timeout", "1m"], &big);
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_eq!(out.stdout.len(), big.len());
    assert!(out.stdout == big, "the response is not the request");
    assert!(server.finish().0.success());
    let out = ns.with_stdin(&["request", "echo"], b"late");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr_of(&out).contains("no object named"),
        "{}",
        stderr_of(&out)
    );
    #[cfg(unix)]
    assert_eq!(ns.entries(), 0);
}

/// A server is not told when its clients go: it serves the next one that comes.
#[test]
fn a_server_outlives_its_clients() {
    let ns = Ns::new();
    let cat = [ME, "bench-partner", "stream-echo", "1"];
    let server = start_server(&ns, "steady", 3, &cat);
    for word in ["one", "two", "three"] {
        let out = ns.with_stdin(&["request", "steady", "--timeout", "1m"], word.as_bytes());
        assert!(out.status.success(), "{}", stderr_of(&out));
        assert_eq!(out.stdout, word.as_bytes());
        std::thread::sleep(std::time::Duration::from_millis(150)); // past a liveness check
    }
    assert!(server.finish().0.success());
}

/// A command that answers, closes its output and keeps running: its client has the answer
/// at once, and the server serves the next request meanwhile (it once waited for the
/// command's end first); each request ends when its command does, and a command that
/// failed (exit 3 here) fails its request: `filemap request` says so and exits 3.
#[test]
fn a_command_that_answers_and_runs_on_holds_up_no_request() {
    let ns = Ns::new();
    // Set when the test ends, however it ends: the commands that run on end with it.
    let _release = Release(ns.cmd(&["event", "set", "linger"]));
    let lingering = [ME, "bench-partner", "echo-then-linger", "linger"];
    let server = start_server(&ns, "lingering", 2, &lingering);
    let mut clients = Vec::new();
    for word in ["first", "second"] {
        // The commands run on for minutes, until the event is set: a server that waited
        // for the first one's end would leave the second request unanswered.
        let mut client = ns.start(&["request", "lingering", "--timeout", "1m"], Stdio::piped);
        let mut stdin = client.stdin.take().unwrap();
        std::io::Write::write_all(&mut stdin, word.as_bytes()).unwrap();
        drop(stdin);
        let mut answer = vec![0u8; word.len()];
        std::io::Read::read_exact(client.stdout.as_mut().unwrap(), &mut answer).unwrap();
        assert_eq!(answer, word.as_bytes());
        clients.push(client);
    }
    // Both commands still run, waiting for the event: it lets them end (with exit code 3).
    let out = ns.run(&["event", "set", "linger"]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    for mut client in clients {
        let status = wait_within(&mut client, "filemap request");
        let mut said = String::new();
        std::io::Read::read_to_string(client.stderr.as_mut().unwrap(), &mut said).unwrap();
        assert_eq!(status.code(), Some(3), "{said}");
        assert_eq!(
            said.trim_end(),
            "filemap: Local\\lingering failed the request: exit 3"
        );
    }
    let (status, said) = server.finish();
    assert!(status.success());
    assert_eq!(said.matches("ended with").count(), 2, "{said}");
}

/// A command that has answered and closed its output, but runs on, is stopped once its
/// client leaves (its server waited for it as long as it ran, minutes here).
#[test]
fn a_command_that_runs_on_after_its_client_left_is_stopped() {
    let ns = Ns::new();
    // (An event of its own: on Windows the names are the session's, and the test above
    // sets its "linger" while this one runs.)
    let _release = Release(ns.cmd(&["event", "set", "linger-left-behind"]));
    let lingering = [
        ME,
        "bench-partner",
        "echo-then-linger",
        "linger-left-behind",
    ];
    let server = start_server(&ns, "left-behind", 1, &lingering);
    // (Long enough for the command to start and answer under Wine while the other tests
    // run: with a second, the answer too came late there.)
    let out = ns.with_stdin(&["request", "left-behind", "--timeout", "10s"], b"word");
    // The answer came; its end (the command's exit) did not, within the timeout.
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    assert_eq!(out.stdout, b"word");
    let (status, said) = server.finish();
    assert!(status.success(), "{said}");
    assert_eq!(said.matches("left; its").count(), 1, "{said}");
}

/// A command stopped for a client that left is asked first (SIGTERM), so that it can close
/// what it holds: here `filemap hold`, whose object goes with it (SIGKILL left it stale).
#[cfg(unix)]
#[test]
fn a_command_stopped_for_a_client_that_left_closes_what_it_holds() {
    let ns = Ns::new();
    let holding = [ME, "hold", "held-by-command", "--create", "--size", "1"];
    let server = start_server(&ns, "holder", 1, &holding);
    let out = ns.with_stdin(&["request", "holder", "--timeout", "1s"], b"");
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    let (status, said) = server.finish();
    assert!(status.success(), "{said}");
    assert_eq!(said.matches("left; its").count(), 1, "{said}");
    assert_eq!(ns.entries(), 0, "the command's object went with it");
}

/// Runs its command (`filemap event set ...`) when dropped.
struct Release(std::process::Command);

impl Drop for Release {
    fn drop(&mut self) {
        let _ = self.0.output();
    }
}

/// Exit 1 with one line for what went wrong, 2 for bad usage.
#[test]
fn service_errors_exit_1_usage_exits_2() {
    let ns = Ns::new();
    let out = ns.with_stdin(&["request", "nobody"], b"x");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stderr_of(&out).lines().count(), 1, "{}", stderr_of(&out));
    // Usage: no command to serve with; a timeout that is no duration; a capacity the
    // library refuses (past 1 TiB).
    assert_eq!(ns.run(&["serve", "svc"]).status.code(), Some(2));
    let huge = ns.run(&["serve", "svc", "--capacity", "2TiB", "--", ME]);
    assert_eq!(huge.status.code(), Some(2), "{}", stderr_of(&huge));
    // A server that would take no request, a subscriber that would print no message.
    let none = ns.run(&["serve", "svc", "--count", "0", "--", ME]);
    assert_eq!(none.status.code(), Some(2), "{}", stderr_of(&none));
    assert!(
        stderr_of(&none).contains("at least 1"),
        "{}",
        stderr_of(&none)
    );
    let none = ns.run(&["sub", "svc", "--count", "0"]);
    assert_eq!(none.status.code(), Some(2), "{}", stderr_of(&none));
    assert_eq!(
        ns.run(&["request", "svc", "--timeout", "soon"])
            .status
            .code(),
        Some(2)
    );
    // A command that takes its time: the request gives up at its timeout.
    let slow = [ME, "event", "wait", "never-set", "--timeout", "3s"];
    let server = start_server(&ns, "slow", 1, &slow);
    let out = ns.with_stdin(&["request", "slow", "--timeout", "300ms"], b"x");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr_of(&out).trim_end(),
        "filemap: error: no answer from Local\\slow within 300ms"
    );
    // The client gave up: the server stops the command at once (it let it run its 3 s),
    // says so, and goes on.
    let (status, said) = server.finish();
    assert!(status.success());
    assert!(said.contains("left; its"), "{said}");
    // A request larger than the service carries.
    let server = start_server(&ns, "small", 1, &[ME, "bench-partner", "stream-echo", "1"]);
    let out = ns.with_stdin(&["request", "small"], &vec![b'x'; 100_000]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr_of(&out).contains("small carries, "),
        "{}",
        stderr_of(&out)
    );
    let out = ns.with_stdin(&["request", "small", "--timeout", "1m"], b"fits");
    assert_eq!(out.stdout, b"fits");
    assert!(server.finish().0.success());
    // A command that cannot run is said before anything is served (and nothing is made).
    let out = ns.run(&["serve", "broken", "--", "no-such-command-anywhere"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr_of(&out),
        "filemap: error: cannot run no-such-command-anywhere: no such program in PATH\n"
    );
    assert!(!ns.run(&["info", "broken"]).status.success());
    #[cfg(unix)]
    for (path, why) in [
        ("/etc/passwd", "it is not executable"),
        ("/", "it is a directory"),
    ] {
        let out = ns.run(&["serve", "broken", "--", path]);
        assert_eq!(
            stderr_of(&out),
            format!("filemap: error: cannot run {path}: {why}\n")
        );
    }
}

/// A command that goes away after the server started fails each request it cannot
/// answer, with 127 as a shell's command that cannot run, and the server goes on (it
/// stopped, and its clients were told it went away).
#[cfg(unix)]
#[test]
fn a_command_that_goes_away_fails_its_requests() {
    use std::os::unix::fs::PermissionsExt;
    let ns = Ns::new();
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("answer.sh");
    std::fs::write(&script, "#!/bin/sh\ncat\n").unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let server = start_server(&ns, "gone", 3, &[script.to_str().unwrap()]);
    let out = ns.with_stdin(&["request", "gone", "--timeout", "20s"], b"here");
    assert_eq!(
        (out.status.code(), out.stdout.as_slice()),
        (Some(0), &b"here"[..])
    );
    std::fs::remove_file(&script).unwrap();
    for _ in 0..2 {
        let out = ns.with_stdin(&["request", "gone", "--timeout", "20s"], b"there?");
        assert_eq!(out.status.code(), Some(127), "{}", stderr_of(&out));
        assert!(
            stderr_of(&out).contains("cannot run"),
            "{}",
            stderr_of(&out)
        );
    }
    let (status, said) = server.finish();
    assert!(status.success(), "{said}");
}

/// A client that gives up while its command still writes: the server stops the command
/// and serves the next request. (`yes` writes for ever; Unix only, as Wine has no `yes`.)
#[cfg(unix)]
#[test]
fn a_command_whose_client_left_is_stopped() {
    let ns = Ns::new();
    let server = start_server(&ns, "endless", 2, &["yes"]);
    for _ in 0..2 {
        let out = ns.with_stdin(&["request", "endless", "--timeout", "300ms"], b"");
        assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
        assert!(
            out.stdout.starts_with(b"y\ny\n"),
            "the answer streams as it comes"
        );
    }
    let (status, said) = server.finish();
    assert!(status.success());
    assert_eq!(
        said.matches("left; its yes was stopped").count(),
        2,
        "{said}"
    );
}

/// More clients at once than the service has slots: each `request` waits for a free slot
/// (as `WaitNamedPipe` waits for a pipe instance) and is answered; with a timeout that
/// runs out first, it says so in one line.
#[test]
fn requests_wait_for_a_free_client_slot() {
    let ns = Ns::new();
    // Set when the test ends, however it ends: a command waiting for it ends with it.
    let _release = Release(ns.cmd(&["event", "set", "gate"]));
    let gated = [ME, "event", "wait", "gate", "--timeout", "1m"];
    let server = start_server_with(&ns, "narrow", &["--clients", "1"], 3, &gated);
    let request = |stdin: Stdio| {
        ns.cmd(&["request", "narrow", "--timeout", "1m"])
            .stdin(stdin)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn_retrying()
    };
    // The one slot, held by a client whose command waits for the gate.
    let holder = request(Stdio::null());
    let deadline = Instant::now() + PATIENCE;
    loop {
        let info = json(&ns.ok(&["info", "narrow", "--json"]));
        if info["service"]["clients"]
            .as_array()
            .is_some_and(|c| !c.is_empty())
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the first client never connected: {info}"
        );
        std::thread::sleep(POLL);
    }
    let out = ns.with_stdin(&["request", "narrow", "--timeout", "200ms"], b"squeezed");
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    assert!(
        stderr_of(&out).contains("client slots of Local\\narrow stayed taken"),
        "{}",
        stderr_of(&out)
    );
    assert_eq!(stderr_of(&out).lines().count(), 1);
    // Two more wait for the slot; the gate opens, again and again (each command makes it
    // anew if it went with the one before), and all three are answered in turn.
    let mut clients = vec![holder, request(Stdio::null()), request(Stdio::null())];
    let deadline = Instant::now() + PATIENCE;
    while clients.iter_mut().any(|c| c.try_wait().unwrap().is_none()) {
        assert!(Instant::now() < deadline, "requests left unanswered");
        let _ = ns.run(&["event", "set", "gate"]);
        std::thread::sleep(POLL);
    }
    for client in clients {
        let out = client.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", stderr_of(&out));
    }
    assert!(server.finish().0.success());
}

/// A server interrupted while it waits for room in the ring of a client that reads no
/// response stops its command and exits 130, as any interrupted `serve` does (it waited on
/// for ever where no signal was looked at, and after a grace period the process ended
/// without its clean-up, the command running on). Unix only: the command is `sh`.
#[cfg(unix)]
#[test]
fn a_server_waiting_on_a_client_that_reads_nothing_is_interrupted_cleanly() {
    let ns = Ns::new();
    let scratch = tempfile::tempdir().unwrap();
    let pid_file = scratch.path().join("command.pid");
    let script = format!(
        "echo $$ > {}; head -c 4000000 /dev/zero; sleep 60",
        pid_file.display()
    );
    let mut server = start_server(&ns, "stuck-client", 1, &["sh", "-c", &script]);
    // A client whose output nobody reads: it stops taking responses once its pipe is full.
    let mut client = ns
        .cmd(&["request", "stuck-client"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn_retrying();
    let deadline = Instant::now() + PATIENCE;
    let pid = loop {
        if let Some(pid) = std::fs::read_to_string(&pid_file)
            .ok()
            .and_then(|s| s.trim().parse::<u32>().ok())
        {
            break pid;
        }
        assert!(Instant::now() < deadline, "the command never started");
        std::thread::sleep(POLL);
    };
    // Time for the pipe and the client's ring to fill, and the server to wait for room.
    std::thread::sleep(std::time::Duration::from_millis(500));
    let sent = std::process::Command::new("kill")
        .args(["-INT", &server.0.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let status = wait_within(&mut server.0, "filemap serve after kill -INT");
    assert_eq!(status.code(), Some(130));
    // Its command was stopped, not left running.
    let proc_dir = std::path::PathBuf::from(format!("/proc/{pid}"));
    let deadline = Instant::now() + PATIENCE;
    while proc_dir.exists() {
        assert!(
            Instant::now() < deadline,
            "the command (pid {pid}) runs on after its server was interrupted"
        );
        std::thread::sleep(POLL);
    }
    let _ = client.kill();
    let _ = client.wait();
}
