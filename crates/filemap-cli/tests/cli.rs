//! The `filemap` binary, run as a user would: each test has its own namespace directory
//! (passed to the commands through `FILEMAP_DIR`) and checks that nothing is left in it.

mod common;

use common::*;
use std::process::{Command, Stdio};
use std::time::Instant;

#[test]
#[cfg(unix)]
fn create_write_dump_info_rm() {
    let ns = Ns::new();
    ns.ok(&["create", "demo1", "--size", "1MiB", "--persistent"]);
    let out = ns.with_stdin(&["write", "demo1"], b"hello");
    assert!(out.status.success());
    assert_eq!(ns.ok(&["dump", "demo1", "--len", "5", "--raw"]), "hello");
    let dump = ns.ok(&["dump", "demo1", "--len", "16"]);
    assert_eq!(
        dump,
        "00000000  68 65 6c 6c 6f 00 00 00  00 00 00 00 00 00 00 00  |hello...........|\n\
         00000010\n"
    );
    let info = json(&ns.ok(&["info", "demo1", "--json"]));
    assert_eq!(info["size"], 1048576);
    assert_eq!(info["kind"], "mapping");
    assert_eq!(info["persistent"], true);
    assert_eq!(info["name"], "Local\\demo1");
    let text = ns.ok(&["info", "demo1"]);
    assert!(text.contains("1048576 (1MiB)"), "{text}");
    let listed = json(&ns.ok(&["ls", "--json"]));
    assert_eq!(listed.as_array().unwrap().len(), 1);
    ns.ok(&["rm", "demo1"]);
    assert_eq!(ns.entries(), 0);
}

/// Every command that takes a name takes `--global` for a name without prefix, the same
/// as writing `Global\NAME`; a `Local\` name with `--global` is bad usage.
#[test]
#[cfg(unix)]
fn global_names_everywhere() {
    let ns = Ns::new();
    ns.ok(&["create", "g", "--global", "--size", "4KiB", "--persistent"]);
    assert!(
        ns.with_stdin(&["write", "g", "--global"], b"hi")
            .status
            .success()
    );
    assert_eq!(ns.ok(&["dump", "Global\\g", "--len", "2", "--raw"]), "hi");
    assert_eq!(
        ns.ok(&["dump", "g", "--global", "--len", "2", "--raw"]),
        "hi"
    );
    let info = json(&ns.ok(&["info", "g", "--global", "--json"]));
    assert_eq!(info["name"], "Global\\g");
    assert_eq!(
        ns.run(&["info", "g"]).status.code(),
        Some(1),
        "Local\\g is another name"
    );
    assert_eq!(
        ns.run(&["dump", "g", "--global", "--foreign"])
            .status
            .code(),
        Some(2)
    );
    ns.ok(&["rm", "g", "--global"]);
    ns.ok(&["event", "create", "e", "--global", "--persistent"]);
    ns.ok(&["event", "set", "e", "--global"]);
    let info = json(&ns.ok(&["info", "e", "--global", "--json"]));
    assert_eq!(info["reset"], "manual");
    let said = ns.ok(&["wait", "e", "--global", "--timeout", "1s"]);
    assert_eq!(said, "e\n", "the name as given");
    ns.ok(&["event", "reset", "e", "--global"]);
    ns.ok(&["event", "set", "Global\\e"]);
    ns.ok(&["event", "wait", "e", "--global", "--timeout", "1s"]);
    ns.ok(&["rm", "Global\\e"]);
    ns.ok(&[
        "sem",
        "create",
        "s",
        "--global",
        "--max",
        "2",
        "--persistent",
    ]);
    assert_eq!(ns.ok(&["sem", "release", "s", "--global", "2"]), "2\n");
    // `info` tells a semaphore's count and maximum.
    let info = json(&ns.ok(&["info", "s", "--global", "--json"]));
    assert_eq!(
        (&info["count"], &info["max"]),
        (&serde_json::json!(2), &serde_json::json!(2))
    );
    assert!(ns.ok(&["info", "s", "--global"]).contains("count        2"));
    ns.ok(&["sem", "acquire", "s", "--global", "--timeout", "1s"]);
    let released = json(&ns.ok(&["sem", "release", "s", "--global", "--json"]));
    assert_eq!(released, serde_json::json!({ "count": 2 }));
    ns.ok(&["sem", "acquire", "s", "--global", "--timeout", "1s"]);
    let out = ns.run(&["sem", "release", "Local\\s", "--global"]);
    assert_eq!(out.status.code(), Some(2));
    ns.ok(&["rm", "s", "--global"]);
    assert_eq!(ns.entries(), 0);
}

#[test]
#[cfg(unix)]
fn write_at_offset_and_out_of_range() {
    let ns = Ns::new();
    ns.ok(&["create", "w", "--size", "4KiB", "--persistent"]);
    assert!(
        ns.with_stdin(&["write", "w", "--offset", "4090"], b"abcdef")
            .status
            .success()
    );
    assert_eq!(ns.ok(&["dump", "w", "--offset", "4090", "--raw"]), "abcdef");
    let out = ns.with_stdin(&["write", "w", "--offset", "4090"], b"abcdefg");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        err.trim_end(),
        "filemap: error: standard input holds more than the 6 bytes from offset 4090 to the \
         end of Local\\w, which is 4KiB (4096 bytes) long"
    );
    assert_eq!(err.lines().count(), 1);
    // Input that does not end is read no further than what fits (it was all read into
    // memory first, until memory ran out), and a name that does not exist is said before
    // any input is read (it waited for the input's end first).
    let mut endless = ns
        .cmd(&["write", "w", "--offset", "4000"])
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = endless.stdin.take().unwrap();
    let feeding = std::thread::spawn(move || {
        let chunk = [b'z'; 4096];
        // Until the command stops reading (a broken pipe), at most 1 GiB.
        (0..1 << 18).find(|_| std::io::Write::write_all(&mut input, &chunk).is_err())
    });
    let out = endless.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("more than the 96 bytes"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        feeding.join().unwrap().is_some(),
        "the command read all 1 GiB"
    );
    let mut waiting = ns
        .cmd(&["write", "no-such-object"])
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let _input_left_open = waiting.stdin.take();
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(status) = waiting.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > std::time::Duration::from_secs(60) {
            waiting.kill().unwrap();
            panic!("write waited for its input before opening the object");
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    };
    assert_eq!(status.code(), Some(1));
    // At the end there is nothing to dump or write; past it, even nothing is a mistake.
    assert_eq!(ns.ok(&["dump", "w", "--offset", "4096"]), "");
    assert!(
        ns.with_stdin(&["write", "w", "--offset", "4096"], b"")
            .status
            .success()
    );
    for args in [
        &["dump", "w", "--offset", "4097", "--len", "0"][..],
        &["dump", "w", "--offset", "99TiB"],
    ] {
        let out = ns.run(args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr)
                .contains("is past the end of Local\\w, which is 4KiB (4096 bytes) long"),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let out = ns.with_stdin(&["write", "w", "--offset", "99TiB"], b"");
    assert_eq!(out.status.code(), Some(1));
    // A length past the end is said in sizes, naming the object.
    let out = ns.run(&["dump", "w", "--offset", "100", "--len", "1TiB"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "filemap: error: --len 1TiB (1099511627776 bytes) from offset 100 bytes runs past the \
         end of Local\\w, which is 4KiB (4096 bytes) long\n"
    );
    // The hex dump ends with the offset where it stops, as hexdump -C does.
    let dump = ns.ok(&["dump", "w", "--offset", "4090"]);
    assert_eq!(dump.lines().last(), Some("00001000"), "{dump}");
    ns.ok(&["rm", "w"]);
    assert_eq!(ns.entries(), 0);
}

/// `write` copies its input a chunk (1 MiB) at a time: more than a chunk arrives whole;
/// input that fits in one chunk is written whole or not at all; past the room, the chunks
/// before were written and the error says how much.
#[test]
#[cfg(unix)]
fn write_streams_in_chunks() {
    let ns = Ns::new();
    ns.ok(&["create", "big", "--size", "4MiB", "--persistent"]);
    let data: Vec<u8> = (0..3 * (1u32 << 20) + 5)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let out = ns.with_stdin(&["write", "big", "--offset", "7"], &data);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dumped = ns
        .cmd(&[
            "dump",
            "big",
            "--offset",
            "7",
            "--len",
            &data.len().to_string(),
            "--raw",
        ])
        .output()
        .unwrap();
    assert!(dumped.stdout == data, "the object holds what was written");
    // One byte too many for the room: four chunks fit, the error says they were written.
    let over = vec![b'q'; (4 << 20) + 1];
    let out = ns.with_stdin(&["write", "big"], &over);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.trim_end().ends_with(
            "standard input holds more than the 4MiB (4194304 bytes) from offset 0 to the end \
             of Local\\big, which is 4MiB (4194304 bytes) long: the first 4MiB (4194304 \
             bytes) were written"
        ),
        "{err}"
    );
    assert_eq!(ns.ok(&["dump", "big", "--offset", "4194303", "--raw"]), "q");
    ns.ok(&["rm", "big"]);
}

#[test]
fn errors_exit_1_usage_exits_2() {
    let ns = Ns::new();
    let out = ns.run(&["dump", "missing"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "filemap: error: no object named Local\\missing\n"
    );
    for args in [
        &["create", "x", "--size", "12QB", "--persistent"][..],
        &["create", "x", "--size", "1MiB"],
        &["create", "x", "--persistent"],
        &["no-such-command"],
        &["hold", "x", "--create"],
        // Values clap parses but filemap refuses are bad usage too.
        &["create", "x", "--size", "0", "--persistent"],
        &["hold", "x", "--create", "--size", "0"],
        &["scan", "Cargo.toml", "--window", "0"],
        &["sem", "release", "x", "0"],
        &["sem", "release", "x", "2147483648"],
        &["hold", "x", "--size", "4KiB"],
        &["bridge", "--buffer", "0"],
        &["bridge", "--export", "x", "--buffer-bytes", "0"],
        &["bridge", "--export", "x", "--buffer-bytes", "4XB"],
        &["bridge", "--import", "x", "--max-imported", "0"],
        &[
            "create",
            "x",
            "--size",
            "18446744073709551615",
            "--persistent",
        ],
        &[
            "create",
            "x",
            "--size",
            "1",
            "--mode",
            "400",
            "--persistent",
        ],
    ] {
        let out = ns.run(args);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // A size refused is said as typed, and exactly.
    let out = ns.run(&["create", "x", "--size", "16777215TiB", "--persistent"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .starts_with("filemap: error: invalid size 16777215TiB (18446742974197923840 bytes)"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A negative value is the value's parser's to refuse (clap took it for an unexpected
    // argument, with a tip that did not work for an option), and a semaphore's maximum is
    // held to what a semaphore holds.
    for (args, said) in [
        (
            &["create", "x", "--size", "-1", "--persistent"][..],
            "is not a size",
        ),
        (
            &["event", "wait", "x", "--timeout", "-1"],
            "is not a duration",
        ),
        (
            &["sem", "create", "s", "--max", "-1", "--persistent"],
            "1..=2147483647",
        ),
        (
            &["sem", "create", "s", "--max", "3000000000", "--persistent"],
            "1..=2147483647",
        ),
    ] {
        let out = ns.run(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(said), "{args:?}: {stderr}");
    }
    let out = ns.run(&["create", "a/b", "--size", "1", "--persistent"]);
    assert_eq!(out.status.code(), Some(2), "a bad name is bad usage");
    assert!(String::from_utf8_lossy(&out.stderr).contains("'/' at byte 1"));
    let out = ns.run(&[
        "create",
        "Local\\x",
        "--global",
        "--size",
        "1",
        "--persistent",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "filemap: error: Local\\x has a Local\\ prefix, which contradicts --global\n"
    );
    #[cfg(unix)]
    assert_eq!(ns.entries(), 0);
}

/// A size the namespace directory's file system cannot hold (4 EiB: past ext4's largest
/// file, 16 TiB, and past the space of any tmpfs) is a limit of where the object goes, as a
/// full file system is: an error (exit 1), not bad usage. The namespace is in the temporary
/// directory, on a disk where there is one (ext4 says `EFBIG`, tmpfs `ENOSPC`).
#[cfg(unix)]
#[test]
fn a_size_the_file_system_cannot_hold_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_filemap"))
        .args(["create", "x", "--size", "4194304TiB", "--persistent"])
        .env("FILEMAP_DIR", dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.starts_with("filemap: error: not enough space for "),
        "{stderr}"
    );
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

/// A holder whose pid cannot be seen (it is outside the reader's PID namespace) is `?` in
/// `info`'s table and null in its JSON (it was 0, a pid nobody has).
#[test]
#[cfg(target_os = "linux")]
fn a_holder_out_of_sight_is_unknown() {
    let ns = Ns::new();
    let mut holder = ns.hold(&["hold", "held", "--create", "--size", "4KiB"]);
    let in_own_pid_namespace = |program: &str, args: &[&str]| {
        Command::new("unshare")
            .args(["--pid", "--fork", "--mount-proc", program])
            .args(args)
            .env("FILEMAP_DIR", ns.0.path())
            .stdin(Stdio::null())
            .output()
            .ok()
    };
    let usable = in_own_pid_namespace("true", &[]).is_some_and(|out| out.status.success());
    let filemap = env!("CARGO_BIN_EXE_filemap");
    let out = usable.then(|| in_own_pid_namespace(filemap, &["info", "held", "--json"]));
    let table = usable.then(|| in_own_pid_namespace(filemap, &["info", "held"]));
    // (Ended before the assertions, so that a failed one leaves nothing running.)
    holder.kill().unwrap();
    holder.wait().unwrap();
    let (Some(Some(out)), Some(Some(table))) = (out, table) else {
        println!("    skipped: no PID namespace of its own here (unshare needs root)");
        return;
    };
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let info = json(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(info["holders"], serde_json::json!([null]), "{info}");
    let table = String::from_utf8(table.stdout).unwrap();
    assert!(
        table
            .lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["holders", "?"]),
        "{table}"
    );
}

#[test]
#[cfg(unix)]
fn killed_holders_are_collected() {
    let ns = Ns::new();
    let mut a = ns.hold(&["hold", "held", "--create", "--size", "4KiB"]);
    let mut b = ns.hold(&["hold", "held"]);
    let info = json(&ns.ok(&["info", "held", "--json"]));
    let holders: Vec<u64> = info["holders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    assert!(holders.contains(&(a.id() as u64)) && holders.contains(&(b.id() as u64)));
    a.kill().unwrap();
    b.kill().unwrap();
    a.wait().unwrap();
    b.wait().unwrap();
    let info = json(&ns.ok(&["info", "held", "--json"]));
    assert_eq!(info["stale"], true);
    let dry = json(&ns.ok(&["gc", "--dry-run", "--json"]));
    assert_eq!(dry[0]["removed"], false);
    assert_eq!(ns.entries(), 1);
    let done = ns.ok(&["gc"]);
    assert!(done.starts_with("removed Local\\held: stale"), "{done}");
    assert_eq!(ns.entries(), 0);
    assert_eq!(ns.ok(&["gc"]), "nothing to collect\n");
}

/// `pub` and `request` refuse an input longer than a message without reading it whole:
/// from `/dev/zero` (no newline, no end) they read without end before.
#[test]
#[cfg(target_os = "linux")]
fn endless_input_is_refused() {
    let ns = Ns::new();
    let mut server = ns
        .cmd(&["serve", "s", "--", "cat"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Served once (an empty request) before the endless one.
    let started = Instant::now();
    while ns.run(&["request", "s"]).status.code() != Some(0) {
        assert!(
            started.elapsed().as_secs() < 20,
            "the server never answered"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let mut longest_line = None;
    for (args, says) in [
        (&["pub", "t", "--create"][..], "a line longer than"),
        (&["request", "s"], "carries, ~64.0KiB (65504 bytes)"),
    ] {
        let mut c = ns
            .cmd(args)
            .stdin(std::fs::File::open("/dev/zero").unwrap())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let status = wait_within(&mut c, &format!("filemap {args:?} < /dev/zero"));
        let err = std::io::read_to_string(c.stderr.take().unwrap()).unwrap();
        assert_eq!(status.code(), Some(1), "{args:?}: {err}");
        assert!(
            err.contains(says) && err.lines().count() == 1,
            "{args:?}: {err}"
        );
        if args[0] == "pub" {
            longest_line = err
                .split("a line longer than ")
                .nth(1)
                .and_then(|rest| rest.split(" bytes)").next())
                .and_then(|told| told.rsplit('(').next())
                .and_then(|n| n.parse().ok());
        }
    }
    let _ = server.kill();
    let _ = server.wait();
    // A line one byte too long, with its newline, is refused the same way; the longest
    // is published.
    let most: usize = longest_line.expect("pub says how long a line may be");
    let too_long = [vec![b'a'; most + 1], b"\n".to_vec()].concat();
    let out = ns.with_stdin(&["pub", "t", "--create"], &too_long);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("a line longer than ") && err.contains(&format!("({most} bytes)")),
        "{err}"
    );
    let out = ns.with_stdin(&["pub", "t", "--create"], &too_long[1..]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `ls` and `info` only read: a topic whose every holder was killed stays listed (stale)
/// until `gc` (they looked at its endpoints by opening it, which reclaimed the name).
#[test]
#[cfg(unix)]
fn ls_and_info_leave_a_stale_topic_to_gc() {
    let ns = Ns::new();
    let mut sub = ns.cmd(&["sub", "t", "--create"]).spawn().unwrap();
    let started = std::time::Instant::now();
    while ns.entries() == 0 {
        assert!(started.elapsed().as_secs() < 20, "sub made no topic");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    // Until the subscriber has joined, the entry is being made: wait for its endpoints.
    while !ns.ok(&["info", "t"]).contains("subscribers") {
        assert!(
            started.elapsed().as_secs() < 20,
            "the subscriber never joined"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    sub.kill().unwrap();
    sub.wait().unwrap();
    for _ in 0..2 {
        let listed = json(&ns.ok(&["ls", "--json"]));
        assert_eq!(listed[0]["stale"], true, "{listed}");
        assert_eq!(json(&ns.ok(&["info", "t", "--json"]))["stale"], true);
        assert!(ns.ok(&["info", "t"]).contains("stale"));
    }
    assert!(ns.ok(&["gc"]).starts_with("removed Local\\t: stale"));
    assert_eq!(ns.entries(), 0);
}

#[test]
#[cfg(unix)]
fn killed_holders_entry_reclaimed_by_next_create() {
    let ns = Ns::new();
    let mut a = ns.hold(&["hold", "again", "--create", "--size", "4KiB"]);
    a.kill().unwrap();
    a.wait().unwrap();
    ns.ok(&["create", "again", "--size", "8KiB", "--persistent"]);
    let info = json(&ns.ok(&["info", "again", "--json"]));
    assert_eq!(info["size"], 8192);
    ns.ok(&["rm", "again"]);
    assert_eq!(ns.entries(), 0);
}

#[test]
#[cfg(unix)]
fn hold_releases_on_sigterm_and_sighup() {
    let ns = Ns::new();
    // kill(1) sends the signal to the child this test started (SIGHUP: its terminal
    // closed).
    for signal in ["-TERM", "-HUP"] {
        let c = ns.hold(&["hold", "term", "--create", "--size", "1"]);
        let status = Command::new("kill")
            .args([signal, &c.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let out = c.wait_with_output().unwrap();
        assert!(out.status.success(), "hold exits cleanly on {signal}");
        assert_eq!(
            ns.entries(),
            0,
            "the object went with its last holder ({signal})"
        );
    }
}

/// The long-running commands that make an object close it when they are interrupted
/// (SIGINT as Ctrl-C sends it, or SIGTERM), exiting 130: the object goes with its last
/// handle instead of staying behind, stale, until the next open or `gc`.
#[test]
#[cfg(unix)]
fn interrupted_commands_close_what_they_made() {
    let ns = Ns::new();
    let commands: [&[&str]; 4] = [
        &["sub", "news", "--create"],
        &["pub", "news", "--create"],
        &["serve", "svc", "--", "cat"],
        &["event", "wait", "ev", "--timeout", WAITER_TIMEOUT],
    ];
    for (i, args) in commands.into_iter().enumerate() {
        let signal = if i % 2 == 0 { "-INT" } else { "-TERM" };
        let mut c = ns
            .cmd(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn_retrying();
        let deadline = Instant::now() + PATIENCE;
        while ns.entries() == 0 {
            assert!(c.try_wait().unwrap().is_none(), "{args:?} ended early");
            assert!(Instant::now() < deadline, "{args:?} made nothing");
            std::thread::sleep(POLL);
        }
        let sent = Command::new("kill")
            .args([signal, &c.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
        let status = wait_within(&mut c, &format!("{args:?} after kill {signal}"));
        assert_eq!(status.code(), Some(130), "{args:?} after kill {signal}");
        assert_eq!(
            ns.entries(),
            0,
            "{args:?} left its object after kill {signal}"
        );
    }
}

/// The commands that wait on objects they opened (`wait`, `hz`, `request`, `sem acquire`)
/// close them too when interrupted, exiting 130: an object whose last handle is theirs
/// goes with it.
#[test]
#[cfg(unix)]
fn interrupted_waiters_close_what_they_opened() {
    let ns = Ns::new();
    // (Each killed if the test fails before it stops it.)
    let start = |args: &[&str]| ns.start(args, Stdio::null);
    let holders = |name: &str| {
        let out = ns.run(&["info", name, "--json"]);
        if !out.status.success() {
            return 0;
        }
        json(&String::from_utf8_lossy(&out.stdout))["holders"]
            .as_array()
            .map_or(0, Vec::len)
    };
    let until = |what: &str, done: &dyn Fn() -> bool| {
        let deadline = Instant::now() + PATIENCE;
        while !done() {
            assert!(Instant::now() < deadline, "{what}");
            std::thread::sleep(POLL);
        }
    };
    let stop = |mut c: Reaped, signal: &str, what: &str| {
        let sent = Command::new("kill")
            .args([signal, &c.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
        let status = wait_within(&mut c, &format!("{what} after kill {signal}"));
        assert_eq!(status.code(), Some(130), "{what} after kill {signal}");
    };
    // A maker holds the object while the waiter opens it; then the maker is stopped, so
    // that the waiter holds the last handle when it is interrupted.
    let cases: [(&[&str], &[&str], &str); 2] = [
        (
            &["event", "wait", "ev", "--timeout", WAITER_TIMEOUT],
            &["wait", "ev", "--timeout", WAITER_TIMEOUT],
            "ev",
        ),
        (&["sub", "news", "--create"], &["hz", "news"], "news"),
    ];
    for (i, (maker, waiter, name)) in cases.into_iter().enumerate() {
        let signal = if i % 2 == 0 { "-INT" } else { "-TERM" };
        let made = start(maker);
        until(&format!("{maker:?} made nothing"), &|| holders(name) == 1);
        let waiting = start(waiter);
        until(&format!("{waiter:?} did not open {name}"), &|| {
            holders(name) == 2
        });
        stop(made, "-INT", &format!("{maker:?}"));
        assert_eq!(ns.entries(), 1, "{waiter:?} holds {name}");
        stop(waiting, signal, &format!("{waiter:?}"));
        assert_eq!(
            ns.entries(),
            0,
            "{waiter:?} left {name} after kill {signal}"
        );
    }
    // A request waiting for its answer (the served command waits for an event first),
    // and a semaphore's acquire: interrupted, they exit 130.
    let me = env!("CARGO_BIN_EXE_filemap");
    let server = start(&[
        "serve",
        "svc",
        "--count",
        "1",
        "--",
        me,
        "event",
        "wait",
        "gate",
        "--timeout",
        "1m",
    ]);
    until("serve made nothing", &|| holders("svc") == 1);
    // (An empty request: its input is empty.)
    let request = start(&["request", "svc", "--timeout", WAITER_TIMEOUT]);
    until("the served command never started", &|| holders("gate") == 1);
    stop(request, "-INT", "request");
    // The server sees its client gone and stops the served command (it waited for the
    // command's output before), then ends after its one request. (The command, asked to
    // stop with SIGTERM, closed its event, which went with it: nothing stale for gc.)
    let mut server = server;
    assert!(wait_within(&mut server, "serve --count 1").success());
    assert!(!ns.ok(&["gc"]).contains("gate"));
    assert_eq!(ns.entries(), 0, "the served command's event went with it");
    ns.ok(&["sem", "create", "s", "--max", "1", "--persistent"]);
    let acquire = start(&["sem", "acquire", "s", "--timeout", WAITER_TIMEOUT]);
    until("sem acquire did not open s", &|| holders("s") == 1);
    stop(acquire, "-TERM", "sem acquire");
    ns.ok(&["rm", "s"]);
    assert_eq!(ns.entries(), 0);
    // A subscriber whose reader stopped reading (its pipe full), interrupted: it closes
    // its topic too (stuck in the write, it was ended 2 s later, leaving the topic stale).
    let (reader, writer) = std::io::pipe().unwrap();
    let sub = Reaped::new(
        ns.cmd(&["sub", "full", "--create"])
            .stdin(Stdio::null())
            .stdout(writer)
            .stderr(Stdio::null())
            .spawn_retrying(),
    );
    until("sub made nothing", &|| holders("full") == 1);
    // The publisher waits once the subscriber is behind by a ring (the topic blocks).
    let mut publisher = Reaped::new(
        ns.cmd(&["pub", "full"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn_retrying(),
    );
    let mut input = publisher.stdin.take().unwrap();
    let feeding = std::thread::spawn(move || {
        for i in 0..200_000 {
            if std::io::Write::write_all(&mut input, format!("{i}\n").as_bytes()).is_err() {
                break;
            }
        }
    });
    until("pub never opened the topic", &|| holders("full") == 2);
    std::thread::sleep(std::time::Duration::from_millis(300));
    // The publisher goes first, so that the subscriber holds the last handle.
    stop(publisher, "-INT", "pub waiting for a subscriber");
    feeding.join().unwrap();
    stop(sub, "-INT", "sub with a full pipe");
    drop(reader);
    assert_eq!(ns.entries(), 0, "the subscriber left its topic behind");
}

/// `filemap lock` passes a signal on to its command and waits for it before it lets the
/// mutex go (killed at once, it let the next locker in while the command still ran); one
/// still waiting for the mutex stops at once, exit 130.
#[test]
#[cfg(unix)]
fn lock_passes_a_signal_on_to_its_command() {
    let ns = Ns::new();
    let me = env!("CARGO_BIN_EXE_filemap");
    let holder = ns.hold_lock("crit");
    let mut waiter = Reaped::new(
        ns.cmd(&["lock", "crit", "--", "true"])
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .spawn_retrying(),
    );
    // Until it has opened the mutex and waits for it (its pid among the holders).
    let deadline = Instant::now() + PATIENCE;
    loop {
        let out = ns.run(&["info", "crit", "--json"]);
        let info = json(&String::from_utf8_lossy(&out.stdout));
        let pids = info["holders"].as_array().cloned().unwrap_or_default();
        if pids
            .iter()
            .any(|p| p.as_u64() == Some(u64::from(waiter.id())))
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the waiting lock never opened the mutex"
        );
        std::thread::sleep(POLL);
    }
    let sent = Command::new("kill")
        .args(["-INT", &waiter.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let status = wait_within(&mut waiter, "a waiting lock after kill -INT");
    assert_eq!(status.code(), Some(130));
    holder.release();
    // The command: a filemap that waits on an event (it makes it), and ends with 130 on
    // the signal it is passed.
    let mut lock = ns
        .cmd(&[
            "lock",
            "crit",
            "--",
            me,
            "event",
            "wait",
            "go",
            "--timeout",
            WAITER_TIMEOUT,
        ])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .spawn_retrying();
    let deadline = Instant::now() + PATIENCE;
    while !ns.run(&["info", "go"]).status.success() {
        assert!(
            Instant::now() < deadline,
            "the command never made its event"
        );
        std::thread::sleep(POLL);
    }
    let sent = Command::new("kill")
        .args(["-TERM", &lock.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let status = wait_within(&mut lock, "lock after kill -TERM");
    assert_eq!(status.code(), Some(130), "the command's own status");
    // The command ended before the lock did: its event is gone with it, and so is the
    // mutex.
    assert_eq!(ns.entries(), 0);
}

#[test]
#[cfg(unix)]
fn file_backed_create() {
    let ns = Ns::new();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f.bin");
    std::fs::write(&path, b"file contents").unwrap();
    let p = path.to_str().unwrap();
    ns.ok(&["create", "fb", "--file", p, "--persistent"]);
    assert_eq!(ns.ok(&["dump", "fb", "--raw"]), "file contents");
    assert!(
        ns.with_stdin(&["write", "fb", "--offset", "5"], b"CONTENTS")
            .status
            .success()
    );
    assert_eq!(std::fs::read(&path).unwrap(), b"file CONTENTS");
    let info = json(&ns.ok(&["info", "fb", "--json"]));
    assert_eq!(info["file"], path.canonicalize().unwrap().to_str().unwrap());
    ns.ok(&["rm", "fb"]);
    assert_eq!(ns.entries(), 0);
    // A file that is not there yet is made at --size (and without one, that is bad
    // usage); a file made for an object that then cannot be made is removed again.
    let new = dir.path().join("new.bin");
    let n = new.to_str().unwrap();
    assert_eq!(
        ns.run(&["create", "nf", "--file", n, "--persistent"])
            .status
            .code(),
        Some(2)
    );
    assert!(!new.exists());
    // A path that cannot be looked at (a component that is no directory) is not said to
    // be missing: an error (exit 1), not bad usage.
    let through_a_file = path.join("x");
    let out = ns.run(&[
        "create",
        "nf",
        "--file",
        through_a_file.to_str().unwrap(),
        "--persistent",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("cannot look at") && err.lines().count() == 1,
        "{err}"
    );
    ns.ok(&[
        "create",
        "nf",
        "--file",
        n,
        "--size",
        "8KiB",
        "--persistent",
    ]);
    assert_eq!(std::fs::metadata(&new).unwrap().len(), 8192);
    // Made with the object's permissions (0600 by default), not the umask's 0644.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&new).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "{mode:o}");
    let other = dir.path().join("other.bin");
    let o = other.to_str().unwrap();
    let out = ns.run(&["create", "nf", "--file", o, "--size", "1", "--persistent"]);
    assert_eq!(out.status.code(), Some(1), "the name is taken");
    assert!(!other.exists(), "the file made for it is gone");
    // A file that is there is left as it was when the name is taken: not grown to --size.
    std::fs::write(&other, b"important").unwrap();
    let out = ns.run(&[
        "create",
        "nf",
        "--file",
        o,
        "--size",
        "8KiB",
        "--persistent",
    ]);
    assert_eq!(out.status.code(), Some(1), "the name is taken");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("already exists"),
        "{out:?}"
    );
    let left = std::fs::read(&other).unwrap();
    assert!(left == b"important", "grown to {} bytes", left.len());
    ns.ok(&["rm", "nf"]);
    assert_eq!(ns.entries(), 0);
}

#[test]
fn demo_runs_and_cleans_up() {
    let ns = Ns::new();
    let out = ns.ok(&["demo"]);
    assert!(out.contains("[producer pid"), "{out}");
    assert!(out.contains("saw 500"), "{out}");
    assert!(
        out.contains("the consumer saw 500 values, each exactly once, in order"),
        "{out}"
    );
    assert!(out.contains("the objects are gone"), "{out}");
    #[cfg(unix)]
    assert_eq!(ns.entries(), 0);
}

/// A child of `filemap demo` killed mid-run: main says so in one line (the other child's
/// own error goes to main, not beside main's line), ends both children and leaves nothing.
#[test]
#[cfg(target_os = "linux")]
fn demo_says_a_killed_child_in_one_line() {
    use std::io::{BufRead, BufReader, Read};
    let ns = Ns::new();
    // The run takes some tens of milliseconds: if it ends before the kill, it is run again.
    for _ in 0..5 {
        let mut demo = ns
            .cmd(&["demo"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut out = BufReader::new(demo.stdout.take().unwrap());
        let mut line = String::new();
        let producer = loop {
            line.clear();
            assert!(out.read_line(&mut line).unwrap() > 0, "no start line");
            if let Some(rest) = line.split("started producer (pid ").nth(1) {
                break rest.split(')').next().unwrap().to_string();
            }
        };
        let killed = Command::new("kill")
            .args(["-9", &producer])
            .status()
            .unwrap();
        assert!(killed.success());
        let mut rest = String::new();
        out.read_to_string(&mut rest).unwrap();
        let status = wait_within(&mut demo, "filemap demo");
        let mut errors = String::new();
        demo.stderr
            .take()
            .unwrap()
            .read_to_string(&mut errors)
            .unwrap();
        if status.success() {
            continue;
        }
        assert_eq!(status.code(), Some(1), "{errors}");
        assert_eq!(errors.lines().count(), 1, "{errors}");
        assert!(
            errors.starts_with("filemap: error: the producer failed: killed by signal 9"),
            "{errors}"
        );
        assert_eq!(ns.entries(), 0);
        return;
    }
    panic!("the demo ended before its producer was killed, five times");
}

#[test]
fn help_lists_the_commands() {
    let out = Command::new(env!("CARGO_BIN_EXE_filemap"))
        .arg("--help")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    for cmd in [
        "create", "info", "ls", "write", "dump", "rm", "gc", "hold", "demo",
    ] {
        assert!(text.contains(cmd), "{cmd} missing from --help");
    }
}

/// The commands a Windows user has: hold an object, write and read it from other
/// processes, inspect it; it goes away with its last holder.
#[test]
fn hold_write_dump_info_across_processes() {
    let ns = Ns::new();
    let name = format!("held-{}", std::process::id());
    let mut holder = ns.hold(&["hold", &name, "--create", "--size", "64KiB"]);
    let out = ns.with_stdin(&["write", &name, "--offset", "100"], b"across processes");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        ns.ok(&["dump", &name, "--offset", "100", "--len", "16", "--raw"]),
        "across processes"
    );
    let info = json(&ns.ok(&["info", &name, "--json"]));
    assert_eq!(info["size"], 65536);
    assert_eq!(info["persistent"], false);
    holder.kill().unwrap();
    holder.wait().unwrap();
    // Gone with its last holder (Windows), or stale and reclaimed by the next open (Linux).
    let out = ns.run(&["dump", &name]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no object named"));
    #[cfg(unix)]
    assert_eq!(ns.entries(), 0);
}

#[test]
#[cfg(windows)]
fn persistent_create_is_refused_on_windows() {
    let ns = Ns::new();
    let out = ns.run(&["create", "p", "--size", "4KiB", "--persistent"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("persistent objects on Windows"), "{err}");
    // So is a foreign segment, which would vanish as filemap exits: the same exit code.
    let out = ns.run(&["create", "--foreign", "seg", "--size", "4KiB"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("segment vanishes"), "{err}");
}

#[test]
#[cfg(unix)]
fn lock_reports_abandoned_after_kill_9_and_proceeds() {
    let ns = Ns::new();
    let mut holder = ns.hold_lock("m");
    holder.child.kill().unwrap(); // SIGKILL: dies holding the mutex
    holder.child.wait().unwrap();
    // The next locker is told and proceeds: it does not wait for the dead holder. (The
    // bound is a safety net against a wait that never ends, not a speed claim.)
    let out = ns.run_within(&["lock", "m", "--", "true"]);
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        err.trim_end(),
        "filemap: warning: Local\\m was abandoned by a process that died holding it; proceeding"
    );
    // Afterwards it is an ordinary lock again.
    let out = ns.run(&["lock", "m", "--", "true"]);
    assert!(out.status.success() && out.stderr.is_empty());
    // The dead holder's command still waits: let it go.
    drop(holder);
}

/// `filemap lock` passes its command's arguments on as they are, bytes that are not UTF-8
/// too, as flock(1) does (they were a usage error, exit 2, and the command never ran).
#[test]
#[cfg(unix)]
fn lock_passes_arguments_that_are_not_utf8_unchanged() {
    use std::os::unix::ffi::{OsStrExt, OsStringExt};
    let ns = Ns::new();
    let odd = std::ffi::OsString::from_vec(b"caf\xe9".to_vec());
    let out = ns
        .cmd(&["lock", "odd", "--", "printf", "%s"])
        .arg(&odd)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout, odd.as_bytes());
}

#[test]
fn lock_runs_the_command_and_returns_its_status() {
    let ns = Ns::new();
    let (shell, flag) = if cfg!(windows) {
        ("cmd", "/c")
    } else {
        ("sh", "-c")
    };
    let out = ns.run(&["lock", "status", "--", shell, flag, "exit 7"]);
    assert_eq!(out.status.code(), Some(7));
    let out = ns.run(&["lock", "status", "--", "no-such-command-here"]);
    assert_eq!(out.status.code(), Some(127));
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.starts_with("filemap: error: cannot run no-such-command-here: ")
            && said.lines().count() == 1,
        "{said}"
    );
    let out = ns.run(&["lock", "status"]);
    assert_eq!(out.status.code(), Some(2), "the command is required");
}

#[test]
fn lock_timeout_exits_1_with_a_clear_message() {
    let ns = Ns::new();
    let holder = ns.hold_lock("busy");
    let out = ns.run(&["lock", "busy", "--timeout", "200ms", "--", "true"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim_end(),
        "filemap: error: timed out after 200ms waiting for Local\\busy"
    );
    // A try (no wait) says so in the same units, not as Rust's "0ns".
    let out = ns.run(&["lock", "busy", "--timeout", "0", "--", "true"]);
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim_end(),
        "filemap: error: timed out after 0s waiting for Local\\busy"
    );
    holder.release();
}

#[test]
fn wait_times_out_on_a_held_mutex_with_one_line() {
    let ns = Ns::new();
    let holder = ns.hold_lock("busy");
    let out = ns.run(&["wait", "busy", "--timeout", "100ms"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim_end(),
        "filemap: error: timed out after 100ms: the object was not ready"
    );
    // The holder's release event is there (unset): not all are ready together either.
    let out = ns.run(&[
        "wait",
        "busy",
        "busy-release",
        "--all",
        "--timeout",
        "100ms",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim_end(),
        "filemap: error: timed out after 100ms: the 2 objects were not all ready together"
    );
    let out = ns.run(&["wait", "no-such-object", "--timeout", "100ms"]);
    assert_eq!(out.status.code(), Some(1));
    let out = ns.run(&["wait", "busy", "Local\\busy", "--all", "--timeout", "100ms"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim_end(),
        "filemap: error: Local\\busy is given twice: --all takes each object once"
    );
    assert_eq!(
        ns.run(&["wait"]).status.code(),
        Some(2),
        "a name is required"
    );
    holder.release();
}

#[test]
#[cfg(unix)]
fn wait_for_any_or_all_from_the_shell() {
    let ns = Ns::new();
    ns.ok(&["event", "create", "quit", "--persistent", "--auto"]);
    ns.ok(&["sem", "create", "jobs", "--max", "4", "--persistent"]);
    let waiter = ns
        .cmd(&["wait", "quit", "jobs", "--timeout", WAITER_TIMEOUT])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn_retrying();
    ns.ok(&["sem", "release", "jobs"]);
    let out = waiter.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout), "jobs\n");
    let out = ns.run(&["wait", "quit", "jobs", "--timeout", "100ms"]);
    assert_eq!(out.status.code(), Some(1), "the unit was taken");
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim_end(),
        "filemap: error: timed out after 100ms: none of the 2 objects was ready"
    );
    // --all takes nothing until all are ready: the event's signal stays for later.
    ns.ok(&["event", "set", "quit"]);
    let out = ns.run(&["wait", "quit", "jobs", "--all", "--timeout", "100ms"]);
    assert_eq!(out.status.code(), Some(1));
    ns.ok(&["sem", "release", "jobs", "2"]);
    let ready = json(&ns.ok(&["wait", "--all", "quit", "jobs", "--json"]));
    assert_eq!(ready["ready"].as_array().unwrap().len(), 2);
    assert_eq!(ready["ready"][1]["name"], "jobs");
    assert_eq!(ready["ready"][1]["abandoned"], false);
    assert_eq!(
        ns.ok(&["sem", "release", "jobs"]),
        "2\n",
        "one unit taken of two"
    );
    ns.ok(&["rm", "quit"]);
    ns.ok(&["rm", "jobs"]);
    assert_eq!(ns.entries(), 0);
}

#[test]
fn events_and_semaphores_from_the_shell() {
    let ns = Ns::new();
    let mut waiter = ns
        .cmd(&["event", "wait", "go", "--timeout", WAITER_TIMEOUT])
        .stdin(Stdio::null())
        .spawn_retrying();
    // `event set` needs the event the waiter created: it succeeds once the waiter waits.
    let deadline = Instant::now() + PATIENCE;
    while !ns.run(&["event", "set", "go"]).status.success() {
        if let Some(status) = waiter.try_wait().unwrap() {
            panic!("the waiter ended before the event was set: {status}");
        }
        if Instant::now() >= deadline {
            let _ = waiter.kill();
            let _ = waiter.wait();
            panic!("the waiter did not create the event within {PATIENCE:?}");
        }
        std::thread::sleep(POLL);
    }
    assert!(wait_within(&mut waiter, "event wait go").success());
    let out = ns.run(&["event", "wait", "other", "--timeout", "100ms"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("timed out after 100ms"));
    let out = ns.run(&["event", "set", "missing"]);
    assert_eq!(out.status.code(), Some(1));
    let out = ns.run(&["sem", "acquire", "missing", "--timeout", "1s"]);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
#[cfg(unix)]
fn persistent_semaphore_from_the_shell() {
    let ns = Ns::new();
    ns.ok(&["sem", "create", "s", "--max", "2", "--persistent"]);
    assert_eq!(ns.ok(&["sem", "release", "s"]), "1\n");
    let out = ns.run(&["sem", "release", "s", "2"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("past its maximum count of 2"));
    ns.ok(&["sem", "acquire", "s"]);
    let out = ns.run(&["sem", "acquire", "s", "--timeout", "100ms"]);
    assert_eq!(out.status.code(), Some(1));
    let listed = json(&ns.ok(&["ls", "--json"]));
    assert_eq!(listed[0]["kind"], "semaphore");
    // `ls --json` lists each entry as `info --json` shows it.
    assert_eq!(listed[0], json(&ns.ok(&["info", "s", "--json"])));
    assert_eq!(
        (&listed[0]["count"], &listed[0]["max"]),
        (&serde_json::json!(0), &serde_json::json!(2))
    );
    ns.ok(&["event", "create", "e", "--persistent", "--set"]);
    ns.ok(&["event", "wait", "e", "--timeout", "1s"]);
    ns.ok(&["rm", "s"]);
    ns.ok(&["rm", "e"]);
    assert_eq!(ns.entries(), 0);
}

#[test]
fn scan_reports_size_lines_and_xxh3() {
    let ns = Ns::new();
    let dir = tempfile::tempdir().unwrap();
    // Reference checksums from an independent implementation (Python's xxhash, xxh3_64).
    let cases: [(&str, &[u8], u64, &str); 3] = [
        ("hw.txt", b"hello\nworld\n", 2, "642f46e1b195a45e"),
        ("empty.txt", b"", 0, "2d06800538d394c2"),
        ("one.txt", b"no newline", 0, ""),
    ];
    for (file, contents, lines, xxh3) in cases {
        let path = dir.path().join(file);
        std::fs::write(&path, contents).unwrap();
        // A window smaller than the file, so several windows are read.
        let out = json(&ns.ok(&["scan", path.to_str().unwrap(), "--window", "4", "--json"]));
        assert_eq!(out["size"], contents.len() as u64);
        assert_eq!(out["lines"], lines);
        if !xxh3.is_empty() {
            assert_eq!(out["xxh3"], xxh3);
        }
    }
    let text = ns.ok(&["scan", dir.path().join("hw.txt").to_str().unwrap()]);
    assert!(
        text.contains("lines   2") && text.contains("642f46e1b195a45e"),
        "{text}"
    );
    let out = ns.run(&["scan", dir.path().join("missing").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    // What is not a regular file, or whose size says nothing of what it holds, is refused
    // (it read as empty).
    let mut refused = vec![dir.path().to_str().unwrap().to_string()];
    if cfg!(target_os = "linux") {
        refused.extend(["/dev/zero".to_string(), "/proc/self/status".to_string()]);
    }
    for path in &refused {
        let out = ns.run(&["scan", path]);
        assert_eq!(out.status.code(), Some(1), "{path}");
        assert_eq!(String::from_utf8_lossy(&out.stderr).lines().count(), 1);
    }
    let out = ns.run(&[
        "scan",
        dir.path().join("hw.txt").to_str().unwrap(),
        "--window",
        "0",
    ]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn bench_channel_json_rows() {
    let out = Command::new(env!("CARGO_BIN_EXE_filemap"))
        .args(["bench", "channel", "--json"])
        .env("FILEMAP_BENCH_QUICK", "1")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows = json(&String::from_utf8_lossy(&out.stdout));
    let rows = rows.as_array().unwrap();
    let find = |scenario: &str, system: &str, mode: &str, size: u64| {
        rows.iter()
            .find(|r| {
                r["scenario"] == scenario
                    && r["system"] == system
                    && r["mode"] == mode
                    && r["size"] == size
            })
            .unwrap_or_else(|| panic!("no row {scenario} {system} {mode} {size}"))
    };
    for size in [8, 64, 1024, 65536, 1 << 20] {
        for mode in ["busy-poll", "blocking"] {
            let r = find("latency", "filemap", mode, size);
            assert!(r["p50_ns"].as_f64().unwrap() > 0.0);
            assert!(r["p99_ns"].as_f64().unwrap() >= r["p50_ns"].as_f64().unwrap());
        }
        find("latency", "pipe", "blocking", size);
        #[cfg(unix)]
        find("latency", "unix-socket", "blocking", size);
    }
    find("latency", "floor", "busy-poll", 8);
    #[cfg(target_os = "linux")]
    find("latency", "futex", "blocking", 8);
    // Both ends async at 64 B, beside the blocking row; and one way with the receiver
    // asleep, blocking and async.
    let r = find("latency", "filemap", "async", 64);
    assert!(r["p99_ns"].as_f64().unwrap() >= r["p50_ns"].as_f64().unwrap());
    assert!(r["ratio_to_blocking"].as_f64().unwrap() > 0.0, "{r}");
    for mode in ["blocking", "async"] {
        let r = find("latency-asleep", "filemap", mode, 64);
        assert!(r["p50_ns"].as_f64().unwrap() > 0.0, "{r}");
        assert!(r["p99_ns"].as_f64().unwrap() >= r["p50_ns"].as_f64().unwrap());
        assert_eq!(r["gap_ns"], 1_000_000, "{r}");
        assert_eq!(r.get("ratio_to_blocking").is_some(), mode == "async", "{r}");
    }
    for (system, mode) in [
        ("memcpy", "busy-poll"),
        ("hand-off", "busy-poll"),
        ("filemap", "busy-poll"),
        ("filemap", "blocking"),
    ] {
        assert!(
            find("throughput", system, mode, 1 << 20)["gb_per_s"]
                .as_f64()
                .unwrap()
                > 0.0
        );
    }
}

#[test]
#[cfg(unix)]
fn foreign_segments_from_the_shell() {
    let ns = Ns::new();
    let name = format!("psm_cli_test_{}", std::process::id());
    // The segment lives outside the test's namespace directory: removed however the test
    // ends (a failed assertion left it in /dev/shm).
    struct RemovedAtEnd(String);
    impl Drop for RemovedAtEnd {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(format!("/dev/shm/{}", self.0));
        }
    }
    let _segment = RemovedAtEnd(name.clone());
    // filemap's own entries' file names are not segment names (gc would take such a
    // segment for a broken entry).
    let entry_like = format!("filemap.psm_cli_test_{}", std::process::id());
    let out = ns.run(&["create", &entry_like, "--foreign", "--size", "4KiB"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(!std::path::Path::new(&format!("/dev/shm/{entry_like}")).exists());
    let made = json(&ns.ok(&["create", &name, "--foreign", "--size", "4KiB", "--json"]));
    // The keys of a filemap object's create, with their values for a segment.
    let own = json(&ns.ok(&["create", "own", "--size", "4KiB", "--persistent", "--json"]));
    ns.ok(&["rm", "own"]);
    let keys = |v: &serde_json::Value| {
        let mut keys: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        keys
    };
    assert_eq!(keys(&made), keys(&own), "{made} {own}");
    assert_eq!(
        (&made["kind"], &made["foreign"]),
        (&"foreign".into(), &true.into())
    );
    assert_eq!(
        (&own["kind"], &own["foreign"]),
        (&"mapping".into(), &false.into())
    );
    // A plain POSIX segment: no filemap header, found where shm_open looks.
    let raw = std::fs::read(format!("/dev/shm/{name}")).unwrap();
    assert_eq!(raw.len(), 4096);
    assert!(raw.iter().all(|b| *b == 0));
    let out = ns.with_stdin(
        &["write", &name, "--foreign", "--offset", "10"],
        b"foreign!",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        ns.ok(&[
            "dump",
            &name,
            "--foreign",
            "--offset",
            "10",
            "--len",
            "8",
            "--raw"
        ]),
        "foreign!"
    );
    let info = json(&ns.ok(&["info", &name, "--foreign", "--json"]));
    assert_eq!(info["size"], 4096);
    assert_eq!(info["foreign"], true);
    // An object's `info --json` has every key a segment's has (it lacked `foreign`, and
    // the segment's `persistent` and `file`), and more.
    ns.ok(&["create", "own", "--size", "4KiB", "--persistent"]);
    let own_info = json(&ns.ok(&["info", "own", "--json"]));
    ns.ok(&["rm", "own"]);
    for key in keys(&info) {
        assert!(
            own_info.get(&key).is_some(),
            "{key} missing from {own_info}"
        );
    }
    assert_eq!(
        (&own_info["foreign"], &info["persistent"], &info["file"]),
        (&false.into(), &true.into(), &serde_json::Value::Null)
    );
    // Without --foreign it is not a filemap object.
    assert_eq!(ns.run(&["dump", &name]).status.code(), Some(1));
    ns.ok(&["rm", &name, "--foreign"]);
    assert!(!std::path::Path::new(&format!("/dev/shm/{name}")).exists());
    assert_eq!(ns.run(&["info", &name, "--foreign"]).status.code(), Some(1));
    // An empty segment (made by a program that has not sized it yet) is what was found,
    // not bad usage: exit 1.
    let empty = format!("/dev/shm/{name}");
    std::fs::File::create(&empty).unwrap();
    for args in [
        &["info", &name, "--foreign"][..],
        &["dump", &name, "--foreign"],
    ] {
        let out = ns.run(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.contains("the segment is empty"), "{args:?}: {err}");
    }
    std::fs::remove_file(&empty).unwrap();
    assert_eq!(ns.entries(), 0);
}

/// Standard output that fails: a reader that already stopped reading (`filemap ls | head`)
/// ends the command quietly with status 0; a full disk gives one line and status 1. Never
/// a panic.
#[test]
#[cfg(target_os = "linux")]
fn failing_standard_output_is_no_panic() {
    let ns = Ns::new();
    ns.ok(&["create", "shown", "--size", "4KiB", "--persistent"]);
    for args in [&["ls", "--json"][..], &["ls"], &["info", "shown"], &["gc"]] {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = ns.cmd(args).stdout(writer).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && err.is_empty(),
            "{args:?} into a closed pipe: {:?}, {err}",
            out.status
        );
        let full = std::fs::File::create("/dev/full").unwrap();
        let out = ns.cmd(args).stdout(full).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?} into /dev/full: {err}");
        assert_eq!(
            err.trim_end(),
            "filemap: error: cannot write to standard output: No space left on device (os error 28)"
        );
    }
    ns.ok(&["rm", "shown"]);
    // Help and version text too (clap's own printing said nothing of a failed write).
    for args in [&["--help"][..], &["--version"], &["ls", "--help"]] {
        let full = std::fs::File::create("/dev/full").unwrap();
        let out = ns.cmd(args).stdout(full).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{args:?} into /dev/full");
    }
    // A benchmark's report too (it printed with `println!`, which panics).
    let full = std::fs::File::create("/dev/full").unwrap();
    let out = (ns.cmd(&["bench", "pubsub", "--json"]))
        .env("FILEMAP_BENCH_QUICK", "1")
        .stdout(full)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "bench into /dev/full: {err}");
    assert!(err.starts_with("filemap: error: cannot write"), "{err}");
    assert_eq!(ns.entries(), 0);
}

/// `filemap bridge`'s bad settings are usage errors said in one plain line: no Rust
/// debug structures, no places in Zenoh's source.
#[test]
fn bridge_settings_are_usage_errors_in_one_plain_line() {
    let ns = Ns::new();
    for args in [
        &["bridge", "--export", "x", "--connect", "nonsense"][..],
        &[
            "bridge",
            "--export",
            "x",
            "--listen",
            "tcp/127.0.0.1:notaport",
        ],
        &["bridge", "--export", "x", "--connect", "tcp/127.0.0.1"],
        &["bridge", "--export", "a/b"],
        &["bridge"],
    ] {
        let out = ns.run(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(
            !err.contains(".rs:") && !err.contains("Message {"),
            "{args:?}: {err}"
        );
    }
    // A configuration file that cannot be read or used is an error (exit 1), said in one
    // line with where in the file.
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("broken.json5");
    std::fs::write(&broken, "{ bad json").unwrap();
    let wrong = dir.path().join("wrong.json5");
    std::fs::write(
        &wrong,
        "{\n  mode: \"peer\",\n  listen: { endpoints: 5 },\n}\n",
    )
    .unwrap();
    let missing = dir.path().join("missing.json5");
    for (file, says) in [
        (&broken, "is not valid: line 1, column 1: expected"),
        (&wrong, "is not valid: line 3, column"),
        (&missing, "cannot read the Zenoh configuration"),
    ] {
        let file = file.to_str().unwrap();
        let out = ns.run(&["bridge", "--export", "x", "--config", file]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{file}: {err}");
        assert_eq!(err.lines().count(), 1, "{file}: {err}");
        assert!(err.contains(says), "{file}: {err}");
    }
}

/// An error line that cannot be written (standard error a full disk, or a pipe nobody
/// reads) leaves the exit status alone: 1 for a failed command, never a panic's 101.
#[test]
#[cfg(target_os = "linux")]
fn an_unwritable_standard_error_keeps_the_exit_status() {
    let ns = Ns::new();
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let out = ns
        .cmd(&["rm", "no-such-object"])
        .stderr(Stdio::from(full))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert_eq!(ns.entries(), 0);
}

/// A long dump going to a file shows its progress on the terminal (standard error); a
/// short one does not. Run under `script`, which gives the command a terminal and copies
/// what it draws there to its own output.
#[test]
#[cfg(target_os = "linux")]
fn a_long_dump_into_a_file_shows_its_progress() {
    let ns = Ns::new();
    ns.ok(&["create", "big", "--size", "64MiB", "--persistent"]);
    ns.ok(&["create", "small", "--size", "1MiB", "--persistent"]);
    let on_a_terminal = |name: &str| {
        let shell = format!(
            "'{}' dump {name} --raw > /dev/null",
            env!("CARGO_BIN_EXE_filemap")
        );
        let out = Command::new("script")
            .args(["-q", "-e", "-c", &shell, "/dev/null"])
            .env("FILEMAP_DIR", ns.0.path())
            .stdin(Stdio::null())
            .output();
        match out {
            Ok(out) if out.status.success() => {
                Some(String::from_utf8_lossy(&out.stdout).into_owned())
            }
            Ok(out) => panic!(
                "script failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ),
            Err(e) => {
                println!("    (skipped: cannot run script, which gives a command a terminal: {e})");
                None
            }
        }
    };
    let Some(long) = on_a_terminal("big") else {
        return;
    };
    assert!(long.contains("/64MiB"), "no progress shown: {long:?}");
    let short = on_a_terminal("small").unwrap();
    assert!(
        !short.contains("MiB"),
        "progress shown for 1 MiB: {short:?}"
    );
}
