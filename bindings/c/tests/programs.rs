//! The C programs of `bindings/c/examples` (the tutorials' hello pair and producer /
//! consumer trio, a topic's publisher and subscribers, an inbox's collector and workers,
//! a service's server and clients, a channel's sender and receiver), built against the C
//! library and run as real processes,
//! their output checked; and the crash story: the producer killed while holding the mutex,
//! which main reports as abandoned.
//!
//! On Linux the test builds the programs itself with `cc` (`CC` if set), statically linked
//! against `libfilemap.a` except `hello_open`, which links the shared `libfilemap.so`.
//! Under Wine, `scripts/test-windows` cross-builds them with mingw first and names their
//! directory in `FILEMAP_C_PROGRAMS`.

use std::io::{BufRead, BufReader, Write};
use std::ops::{Deref, DerefMut};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

const PROGRAMS: [&str; 14] = [
    "hello_create",
    "hello_open",
    "pc_main",
    "pc_producer",
    "pc_consumer",
    "topic_pub",
    "topic_sub",
    "inbox_collector",
    "inbox_worker",
    "svc_server",
    "svc_client",
    "bad_calls",
    "chan_send",
    "chan_recv",
];

/// The directory of the built programs.
fn programs() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| match std::env::var_os("FILEMAP_C_PROGRAMS") {
        Some(dir) => PathBuf::from(dir),
        None => build_programs(),
    })
}

/// target/<profile>: where cargo put the C library (beside this test's `deps` directory).
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test's path");
    exe.parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps/<test>")
        .to_path_buf()
}

/// Builds the C library (cargo builds a library without an rlib only when asked: an
/// integration test does not link it) into the target directory this test runs from.
fn build_library(target: &Path) {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let target_root = target.parent().expect("target/<profile>");
    let mut cmd = Command::new(&cargo);
    cmd.args(["build", "--quiet", "-p", "filemap-c", "--target-dir"])
        .arg(target_root)
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    if target.file_name().is_some_and(|p| p == "release") {
        cmd.arg("--release");
    }
    let status = cmd
        .status()
        .unwrap_or_else(|e| panic!("cannot run {cargo}: {e}"));
    assert!(status.success(), "building the C library failed");
}

fn build_programs() -> PathBuf {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let target = target_dir();
    build_library(&target);
    let out = target.join("c-programs");
    std::fs::create_dir_all(&out).unwrap();
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    for program in PROGRAMS {
        let mut cmd = Command::new(&cc);
        cmd.args([
            "-std=c99",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-pedantic",
            "-O1",
        ])
        .arg("-I")
        .arg(crate_dir.join("include"))
        .arg(crate_dir.join("examples").join(format!("{program}.c")))
        .arg("-o")
        .arg(out.join(program));
        if program == "hello_open" {
            // The shared library, found at run time through the rpath.
            cmd.arg("-L")
                .arg(&target)
                .arg("-lfilemap")
                .arg(format!("-Wl,-rpath,{}", target.display()));
        } else {
            cmd.arg(target.join("libfilemap.a"));
        }
        cmd.args(["-lpthread", "-ldl", "-lm", "-lrt", "-lgcc_s", "-lc"]);
        let status = cmd
            .status()
            .unwrap_or_else(|e| panic!("cannot run {cc}: {e}"));
        assert!(status.success(), "building {program}.c failed");
    }
    out
}

/// A namespace directory of a test's own (`FILEMAP_DIR` for its programs, on Linux), which
/// must be empty when the test ends: the programs' objects go away with their handles.
struct Namespace(PathBuf);

impl Namespace {
    fn new(test: &str) -> Namespace {
        let dir = std::env::temp_dir().join(unique(&format!("ns-{test}")));
        std::fs::create_dir_all(&dir).unwrap();
        Namespace(dir)
    }

    fn program(&self, name: &str) -> Command {
        let exe = programs().join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
        let mut cmd = Command::new(exe);
        cmd.env("FILEMAP_DIR", &self.0)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .stdin(Stdio::null());
        cmd
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        let left: Vec<_> = std::fs::read_dir(&self.0)
            .map(|d| d.filter_map(|e| e.ok()).map(|e| e.file_name()).collect())
            .unwrap_or_default();
        let _ = std::fs::remove_dir_all(&self.0);
        if !std::thread::panicking() {
            assert!(left.is_empty(), "objects left in the namespace: {left:?}");
        }
    }
}

/// A name no other test (or earlier run) uses.
fn unique(what: &str) -> String {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    format!(
        "c-{what}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    )
}

/// Reads lines of `child`'s output until one starts with `prefix`; returns it.
fn read_until(child: &mut Running, prefix: &str) -> String {
    let out = child.stdout.as_mut().expect("piped stdout");
    let mut reader = BufReader::new(out);
    let mut line = String::new();
    loop {
        line.clear();
        let n = reader
            .read_line(&mut line)
            .expect("reading the program's output");
        assert!(n > 0, "the program ended before printing {prefix:?}");
        if line.starts_with(prefix) {
            return line.trim_end().to_string();
        }
    }
}

fn finish(mut child: Running, within: Duration) -> Output {
    let started = Instant::now();
    loop {
        if child.try_wait().expect("waiting for a program").is_some() {
            let child = child.0.take().expect("a running program");
            return child.wait_with_output().expect("the program's output");
        }
        if started.elapsed() > within {
            // `child`, and every other program the test started, is killed as the panic
            // drops it.
            panic!("a program ran longer than {within:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A started program, killed (and waited for) if it is dropped still running: a test that
/// fails leaves none of its programs behind.
struct Running(Option<Child>);

impl Deref for Running {
    type Target = Child;
    fn deref(&self) -> &Child {
        self.0.as_ref().expect("a running program")
    }
}

impl DerefMut for Running {
    fn deref_mut(&mut self) -> &mut Child {
        self.0.as_mut().expect("a running program")
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(child) = &mut self.0 {
            // Nothing is signalled if the program was already waited for.
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Starting a program and running one to its end, panicking with the reason if it cannot
/// start. Under Wine, `CreateProcess` has failed once with `ERROR_INTERNAL_ERROR` while
/// other tests started programs at the same moment; that is tried again (twice at most),
/// and said on stderr.
trait Start {
    fn start(&mut self) -> Running;
    fn run(&mut self) -> Output;
}

impl Start for Command {
    fn start(&mut self) -> Running {
        Running(Some(retried(|| self.spawn())))
    }

    fn run(&mut self) -> Output {
        retried(|| self.output())
    }
}

fn retried<T>(mut start: impl FnMut() -> std::io::Result<T>) -> T {
    const ERROR_INTERNAL_ERROR: i32 = 1359;
    let mut attempt = 1;
    loop {
        match start() {
            Ok(started) => return started,
            Err(e)
                if cfg!(windows)
                    && e.raw_os_error() == Some(ERROR_INTERNAL_ERROR)
                    && attempt < 3 =>
            {
                eprintln!("note: starting a program failed ({e}), as Wine does at times; again");
                attempt += 1;
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(e) => panic!("cannot start a program: {e}"),
        }
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn hello_pair_shares_a_message_by_name() {
    let ns = Namespace::new("hello");
    let program = |p: &str| ns.program(p);
    let name = unique("hello");
    let mut first = program("hello_create")
        .arg(&name)
        .stdin(Stdio::piped())
        .start();
    let line = read_until(&mut first, "hello_create:");
    assert!(
        line.contains("wrote \"Message from first process.\""),
        "{line}"
    );
    let second = program("hello_open").arg(&name).run();
    assert!(second.status.success(), "{}", text(&second.stderr));
    assert_eq!(
        text(&second.stdout).trim_end(),
        "hello_open: Message from first process."
    );
    first.stdin.take().unwrap().write_all(b"\n").unwrap();
    let first = finish(first, Duration::from_secs(30));
    assert!(first.status.success(), "{}", text(&first.stderr));
    // The object went away with its last handle.
    let gone = program("hello_open").arg(&name).run();
    assert_eq!(gone.status.code(), Some(1));
    let err = text(&gone.stderr);
    assert!(
        err.contains("FILEMAP_NOT_FOUND") && err.contains(&name),
        "{err}"
    );
}

#[test]
fn producer_consumer_trio_counts_to_the_limit() {
    let ns = Namespace::new("trio");
    let program = |p: &str| ns.program(p);
    let run = unique("trio");
    let mut main = program("pc_main").args([&run, "500"]).start();
    assert_eq!(read_until(&mut main, "main:"), "main: ready");
    let producer = program("pc_producer").arg(&run).start();
    let consumer = program("pc_consumer").arg(&run).start();
    let main = finish(main, Duration::from_secs(120));
    let producer = finish(producer, Duration::from_secs(60));
    let consumer = finish(consumer, Duration::from_secs(60));
    assert!(main.status.success(), "{}", text(&main.stderr));
    assert_eq!(text(&main.stdout).trim_end(), "main: stopped at 500");
    assert!(producer.status.success(), "{}", text(&producer.stderr));
    assert_eq!(
        text(&producer.stdout).trim_end(),
        "producer: made 500 values"
    );
    assert!(consumer.status.success(), "{}", text(&consumer.stderr));
    let lines: Vec<String> = text(&consumer.stdout).lines().map(str::to_string).collect();
    let expected: Vec<String> = (1..=500)
        .map(|v| format!("consumer: {v}"))
        .chain(["consumer: saw 500 values".to_string()])
        .collect();
    assert_eq!(lines, expected);
}

#[test]
fn killed_producer_is_reported_as_an_abandoned_mutex() {
    let ns = Namespace::new("crash");
    let program = |p: &str| ns.program(p);
    let run = unique("crash");
    let mut main = program("pc_main").args([&run, "500", "2000"]).start();
    assert_eq!(read_until(&mut main, "main:"), "main: ready");
    let mut producer = program("pc_producer").args([&run, "100"]).start();
    let consumer = program("pc_consumer").arg(&run).start();
    assert_eq!(
        read_until(&mut producer, "producer:"),
        "producer: holding the mutex at 100"
    );
    producer.kill().unwrap(); // SIGKILL / TerminateProcess while it holds the mutex
    producer.wait().unwrap();
    let main = finish(main, Duration::from_secs(60));
    assert_eq!(main.status.code(), Some(3), "{}", text(&main.stderr));
    assert_eq!(
        text(&main.stdout).trim_end(),
        "main: a process died holding the mutex; the value is 100"
    );
    // The consumer saw 1..=99 (value 100 was never announced) and then gave up waiting.
    let consumer = finish(consumer, Duration::from_secs(60));
    let out = text(&consumer.stdout);
    assert!(
        out.lines().last().is_some_and(|l| l == "consumer: 99"),
        "{out}"
    );
    assert_eq!(consumer.status.code(), Some(1));
}

#[test]
fn a_topic_reaches_every_subscriber_in_order() {
    let ns = Namespace::new("topic");
    let topic = unique("topic");
    let mut subscribers: Vec<Running> = (0..2)
        .map(|_| ns.program("topic_sub").arg(&topic).start())
        .collect();
    for s in &mut subscribers {
        read_until(s, "topic_sub: ready");
    }
    let count = 20_000;
    let publisher = ns
        .program("topic_pub")
        .args([&topic, &count.to_string()])
        .run();
    assert!(publisher.status.success(), "{}", text(&publisher.stderr));
    assert_eq!(
        text(&publisher.stdout).trim_end(),
        format!("topic_pub: published {count} messages")
    );
    let mut lines = Vec::new();
    for s in subscribers {
        let out = finish(s, Duration::from_secs(60));
        assert!(out.status.success(), "{}", text(&out.stderr));
        let line = text(&out.stdout).trim_end().to_string();
        assert!(
            line.starts_with(&format!("topic_sub: received {count} messages, ")),
            "{line}"
        );
        lines.push(line);
    }
    // Both got the same bytes (the programs check each message's text and sequence).
    assert_eq!(lines[0], lines[1]);
}

#[test]
fn a_channel_carries_every_message_between_two_processes() {
    let ns = Namespace::new("channel");
    let channel = unique("channel");
    let count = 5_000;
    let mut receiver = ns
        .program("chan_recv")
        .args([&channel, &count.to_string()])
        .start();
    read_until(&mut receiver, "chan_recv: ready");
    let sender = ns
        .program("chan_send")
        .args([&channel, &count.to_string()])
        .run();
    assert!(sender.status.success(), "{}", text(&sender.stderr));
    assert_eq!(
        text(&sender.stdout).trim_end(),
        format!("chan_send: sent {count} messages")
    );
    let out = finish(receiver, Duration::from_secs(60));
    assert!(out.status.success(), "{}", text(&out.stderr));
    // Each message's length and bytes were checked as they came; the total is theirs.
    let bytes: u64 = (0..count as u64).map(|i| (i * 37) % 3000 + 1).sum();
    let line = text(&out.stdout).trim_end().to_string();
    assert!(
        line.starts_with(&format!(
            "chan_recv: received {count} messages, {bytes} bytes, checksum "
        )),
        "{line}"
    );
}

/// Starts `inbox_collector INBOX WORKERS COUNT` and waits until it is ready.
fn start_collector(ns: &Namespace, inbox: &str, workers: usize, count: usize) -> Running {
    let mut collector = ns
        .program("inbox_collector")
        .args([inbox, &workers.to_string(), &count.to_string()])
        .start();
    assert_eq!(
        read_until(&mut collector, "inbox_collector:"),
        "inbox_collector: ready"
    );
    collector
}

/// Worker `id`'s run of `count` messages into `inbox`.
fn start_worker(ns: &Namespace, inbox: &str, id: usize, count: usize) -> Running {
    ns.program("inbox_worker")
        .args([inbox, &id.to_string(), &count.to_string()])
        .start()
}

/// The collector's end: every worker's messages, each worker's in order.
fn assert_collected(collector: Running, workers: usize, count: usize) {
    let out = finish(collector, Duration::from_secs(60));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout).trim_end(),
        format!(
            "inbox_collector: {} messages from {workers} workers, each worker's in order",
            workers * count
        )
    );
}

#[test]
fn workers_reach_one_collector_in_order() {
    let ns = Namespace::new("inbox");
    let inbox = unique("inbox");
    let (workers, count) = (4, 2000);
    let collector = start_collector(&ns, &inbox, workers, count);
    let running: Vec<Running> = (0..workers)
        .map(|id| start_worker(&ns, &inbox, id, count))
        .collect();
    for (id, worker) in running.into_iter().enumerate() {
        let out = finish(worker, Duration::from_secs(60));
        assert!(out.status.success(), "{}", text(&out.stderr));
        let line = text(&out.stdout);
        assert!(
            line.starts_with(&format!("inbox_worker: worker {id} (slot "))
                && line.trim_end().ends_with(&format!("sent {count} messages")),
            "{line}"
        );
    }
    assert_collected(collector, workers, count);
}

/// Workers one after another, each sending more than its ring holds: between them every
/// sender that came is gone, and the collector must go on reading for the next.
#[test]
fn workers_one_after_another_reach_the_collector() {
    let ns = Namespace::new("inbox-turns");
    let inbox = unique("turns");
    let (workers, count) = (2, 5000);
    let collector = start_collector(&ns, &inbox, workers, count);
    for id in 0..workers {
        let out = finish(
            start_worker(&ns, &inbox, id, count),
            Duration::from_secs(60),
        );
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
    assert_collected(collector, workers, count);
}

#[test]
fn clients_get_their_own_streamed_responses() {
    let ns = Namespace::new("service");
    let service = unique("service");
    let mut server = ns.program("svc_server").arg(&service).start();
    assert_eq!(read_until(&mut server, "svc_server:"), "svc_server: ready");
    let texts = ["hello from one", "and from two", "three"];
    let clients: Vec<Running> = texts
        .iter()
        .map(|t| ns.program("svc_client").args([&service, *t]).start())
        .collect();
    for (t, client) in texts.iter().zip(clients) {
        let out = finish(client, Duration::from_secs(60));
        assert!(out.status.success(), "{}", text(&out.stderr));
        let upper = t.to_uppercase();
        let len = t.len();
        // (Lines, not text: the programs end theirs with CRLF on Windows.)
        assert_eq!(
            text(&out.stdout).lines().collect::<Vec<_>>(),
            [
                format!("svc_client: part 1: {upper}"),
                format!("svc_client: part 2 (last): {len} bytes"),
                format!("svc_client: call: {upper}{len} bytes"),
            ]
        );
    }
    let quit = ns.program("svc_client").args([&service, "--quit"]).run();
    assert!(quit.status.success(), "{}", text(&quit.stderr));
    let out = finish(server, Duration::from_secs(60));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout).trim_end(),
        format!("svc_server: served {} requests", 2 * texts.len())
    );
}

#[test]
fn bad_calls_fail_with_their_status() {
    let ns = Namespace::new("bad");
    let out = ns.program("bad_calls").arg(unique("bad")).run();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let line = text(&out.stdout);
    assert!(
        line.starts_with("bad_calls: ") && line.trim_end().ends_with(" checks passed"),
        "{line}"
    );
}
