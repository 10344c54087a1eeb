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
