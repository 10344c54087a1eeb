//! Every program in examples/ runs to completion (cargo builds them for `cargo test`), with
//! the output the classic tutorials promise.

use std::path::PathBuf;
use std::process::Command;

fn example(name: &str, ns: &std::path::Path) -> Command {
    // target/<profile>/deps/examples-<hash> -> target/<profile>/examples/<name>
    let deps = std::env::current_exe().unwrap();
    let dir: PathBuf = deps.parent().unwrap().parent().unwrap().join("examples");
    let mut exe = dir.join(name);
    if cfg!(windows) {
        exe.set_extension("exe");
    }
    assert!(exe.exists(), "{} is not built", exe.display());
    let mut cmd = Command::new(exe);
    cmd.env("FILEMAP_DIR", ns);
    cmd
}

/// Runs an example with a namespace directory of its own, which must be empty afterwards.
fn run(name: &str) -> String {
    let ns = tempfile::tempdir().unwrap();
    let out = example(name, ns.path()).output().unwrap();
    assert_eq!(
        std::fs::read_dir(ns.path()).unwrap().count(),
        0,
        "{name} left objects behind"
    );
    assert!(
        out.status.success(),
        "{name}: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn idle_futures() {
    let ns = tempfile::tempdir().unwrap();
    let out = example("idle_futures", ns.path())
        .args(["50", "1"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("50 idle recv_async futures"), "{text}");
    assert!(text.contains("(50 in all)"), "{text}");
    assert_eq!(std::fs::read_dir(ns.path()).unwrap().count(), 0);
}

#[test]
fn hello_file_mapping() {
    assert!(run("hello_file_mapping").contains("now starts with \"Hello File Mapping\""));
}

#[test]
fn share_by_name() {
    let out = run("share_by_name");
    assert!(
        out.contains("process B read: \"Message from first process.\""),
        "{out}"
    );
    assert!(out.contains("is gone"), "{out}");
}

#[test]
fn copy_on_write() {
    let out = run("copy_on_write");
    assert!(out.contains("(copy view) sees: \"original....\""), "{out}");
    assert!(
        out.contains("(shared view) sees: \"shared edit!\""),
        "{out}"
    );
    assert!(out.contains("commit wrote 1 page(s)"), "{out}");
    assert!(
        out.ends_with("(shared view) sees: \"private edit\"\n"),
        "{out}"
    );
}

#[test]
fn producer_consumer_trio() {
    let out = run("pc_main");
    let seen: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with("consumer: "))
        .collect();
    assert_eq!(seen.len(), 500, "the consumer reports each value once");
    assert_eq!(seen[0], "consumer: 1");
    assert_eq!(seen[499], "consumer: 500");
    assert!(out.contains("main: reached 500, stored -1"), "{out}");
}

#[test]
fn topic_to_tcp() {
    let out = run("topic_to_tcp");
    for line in ["reading 0", "reading 1", "reading 2", "bye"] {
        assert!(out.contains(&format!("client got: {line}\n")), "{out}");
    }
}
