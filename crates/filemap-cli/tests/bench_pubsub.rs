//! `filemap bench pubsub --json` in quick mode: a row for every subscriber count, size and
//! wait mode, with the fields of `filemap bench channel`'s rows and `subscribers`.

use std::process::{Command, Stdio};

#[test]
fn bench_pubsub_json_rows() {
    let out = Command::new(env!("CARGO_BIN_EXE_filemap"))
        .args(["bench", "pubsub", "--json"])
        .env("FILEMAP_BENCH_QUICK", "1")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 12, "{rows:?}");
    for subscribers in [1, 2, 4] {
        for size in [64, 1 << 20] {
            for mode in ["busy-poll", "blocking"] {
                let r = rows
                    .iter()
                    .find(|r| {
                        r["subscribers"] == subscribers && r["size"] == size && r["mode"] == mode
                    })
                    .unwrap_or_else(|| panic!("no row {subscribers} {size} {mode}"));
                assert_eq!(r["scenario"], "latency");
                assert_eq!(r["system"], "filemap");
                assert!(r["oversubscribed"].is_boolean());
                let (p50, p99) = (r["p50_ns"].as_f64().unwrap(), r["p99_ns"].as_f64().unwrap());
                assert!(p50 > 0.0 && p99 >= p50, "{r}");
            }
        }
    }
}

/// `filemap bench channel` stopped by a signal mid-run exits 130 and leaves nothing: its
/// namespace directory is gone at once, and its partner processes with it (it left the
/// directory in /dev/shm, objects and all, and partners that ran on for up to 10 s).
#[test]
#[cfg(target_os = "linux")]
fn an_interrupted_bench_leaves_nothing_behind() {
    use std::time::{Duration, Instant};
    let mut bench = Command::new(env!("CARGO_BIN_EXE_filemap"))
        .args(["bench", "channel", "--json"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = bench.id();
    let dir = std::path::PathBuf::from(format!("/dev/shm/filemap-bench-ns-{pid}"));
    // Until the run has made its namespace and started a partner (bounded: a safety net,
    // not a speed claim).
    let children = || -> Vec<u32> {
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
            return Vec::new();
        };
        tasks
            .flatten()
            .filter_map(|t| std::fs::read_to_string(t.path().join("children")).ok())
            .flat_map(|c| {
                c.split_whitespace()
                    .filter_map(|p| p.parse().ok())
                    .collect::<Vec<u32>>()
            })
            .collect()
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    let partners = loop {
        let partners = children();
        if dir.is_dir() && !partners.is_empty() {
            break partners;
        }
        assert!(
            Instant::now() < deadline,
            "the bench never started a partner"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let sent = Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = bench.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = bench.kill();
            panic!("the bench did not stop on SIGINT");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(130));
    assert!(!dir.exists(), "{} left behind", dir.display());
    let sockets = std::env::temp_dir().join(format!("filemap-bench-{pid}"));
    assert!(!sockets.exists(), "{} left behind", sockets.display());
    // The partners are killed with it (a moment for the kernel to end them).
    let deadline = Instant::now() + Duration::from_secs(5);
    for partner in partners {
        while std::path::Path::new(&format!("/proc/{partner}")).exists()
            && !std::fs::read_to_string(format!("/proc/{partner}/stat")).is_ok_and(|s| {
                s.rsplit(')')
                    .next()
                    .is_some_and(|r| r.trim_start().starts_with('Z'))
            })
        {
            assert!(
                Instant::now() < deadline,
                "partner {partner} still runs after the bench stopped"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}
