//! The whole suite in its tiny quick mode (every section, two repetitions, a 16 MiB file):
//! it runs to the end, prints the JSON rows of every section with their ratios, writes the
//! report and the chart, and leaves nothing behind in /dev/shm (section 9's namespace
//! directories of the far side included).
#![cfg(target_os = "linux")]

use std::process::{Command, Stdio};

fn shm_entries() -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir("/dev/shm")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn quick_run_reports_every_section() {
    let docs = std::env::temp_dir().join(format!("filemap-bench-test-{}", std::process::id()));
    let before = shm_entries();
    let out = Command::new(env!("CARGO_BIN_EXE_filemap-bench"))
        .args(["--json", "--report", "--docs"])
        .arg(&docs)
        .env("FILEMAP_BENCH_QUICK", "1")
        .env("FILEMAP_BENCH_REPS", "2")
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
    for section in 1..=10 {
        assert!(
            rows.iter().any(|r| r["section"] == section),
            "no row of section {section}"
        );
    }
    for r in rows {
        for key in [
            "scenario",
            "size",
            "system",
            "p50",
            "p99",
            "unit",
            "ratio_to_floor",
            "ratio_to_best_peer",
        ] {
            assert!(r.get(key).is_some(), "{key} missing in {r}");
        }
        assert!(r["p50"].as_f64().unwrap() > 0.0, "{r}");
        assert_eq!(r["repetitions"], 2, "{r}");
    }
    let find = |scenario: &str, size: u64, system: &str| {
        rows.iter()
            .find(|r| r["scenario"] == scenario && r["size"] == size && r["system"] == system)
            .unwrap_or_else(|| panic!("no row {scenario} {size} {system}"))
    };
    for size in [64, 1024, 65536, 1 << 20] {
        for system in [
            "filemap busy-poll",
            "filemap blocking",
            "iceoryx2 (busy-poll)",
            "ipc-channel",
            "Unix socket",
            "pipe",
        ] {
            let r = find("one-way latency", size, system);
            assert!(r["ratio_to_floor"].as_f64().unwrap() > 0.0);
        }
    }
    for (subscribers, scenario) in [
        (1, "one-way latency to 1 subscriber"),
        (2, "one-way latency to 2 subscribers"),
        (4, "one-way latency to 4 subscribers"),
    ] {
        for size in [64, 1 << 20] {
            for system in [
                "filemap busy-poll",
                "filemap blocking",
                "iceoryx2 (busy-poll)",
            ] {
                let r = find(scenario, size, system);
                assert_eq!(r["subscribers"], subscribers, "{r}");
                assert!(r["oversubscribed"].is_boolean(), "{r}");
            }
        }
    }
    for (senders, scenario) in [
        (2, "messages from 2 senders to 1 receiver"),
        (4, "messages from 4 senders to 1 receiver"),
        (8, "messages from 8 senders to 1 receiver"),
    ] {
        for system in [
            "filemap busy-poll",
            "filemap blocking",
            "iceoryx2 (busy-poll)",
            "Unix datagram socket",
        ] {
            let r = find(scenario, 64, system);
            assert_eq!(r["senders"], senders, "{r}");
            assert_eq!(r["unit"], "M msgs/s", "{r}");
        }
    }
    for system in [
        "filemap (spin, then sleep)",
        "iceoryx2 (busy-poll)",
        "Unix socket",
    ] {
        let r = find("request-response round trip", 64, system);
        assert!(r["p99"].as_f64().unwrap() > 0.0, "{r}");
    }
    find(
        "channel one-way latency (for the ratio)",
        64,
        "filemap channel blocking",
    );
    for system in [
        "filemap blocking (send, recv)",
        "filemap async, block_on (no runtime)",
        "filemap async, tokio current-thread",
        "filemap async, tokio multi-thread",
        "tokio UnixStream, current-thread",
        "tokio UnixStream, multi-thread",
    ] {
        let r = find("one-way latency, ping-pong", 64, system);
        assert!(
            r["p99"].as_f64().unwrap() >= r["p50"].as_f64().unwrap(),
            "{r}"
        );
    }
    for system in [
        "filemap blocking (send, recv)",
        "filemap async, block_on (no runtime)",
        "filemap async, tokio current-thread",
        "filemap async, tokio multi-thread",
    ] {
        find("one-way latency, receiver asleep", 64, system);
    }
    for (events, system) in [
        (1, "filemap NamedEvent::wait, 1 event"),
        (1, "filemap wait_any, 1 event"),
        (8, "filemap wait_any, 8 events (the last set)"),
        (64, "filemap wait_any, 64 events (the last set)"),
    ] {
        let r = find("wake-up of a sleeping waiter, set to wake", 0, system);
        assert_eq!(r["events"], events, "{r}");
    }
    for system in [
        "filemap topics through two bridges",
        "Zenoh publisher to subscriber",
        "TCP socket (std::net)",
    ] {
        for size in [64, 1 << 20] {
            let r = find("one-way latency across the link, ping-pong", size, system);
            assert!(
                r["p99"].as_f64().unwrap() >= r["p50"].as_f64().unwrap(),
                "{r}"
            );
        }
        let r = find(
            "throughput across the link, 1 MiB messages",
            1 << 20,
            system,
        );
        assert_eq!(r["unit"], "GB/s", "{r}");
        let r = find("messages across the link, one way", 64, system);
        assert_eq!(r["unit"], "M msgs/s", "{r}");
    }
    let bridged = find(
        "one-way latency across the link, ping-pong",
        64,
        "filemap topics through two bridges",
    );
    assert_eq!(bridged["best_peer"], "Zenoh publisher to subscriber");
    assert!(bridged["ratio_to_floor"].as_f64().unwrap() > 0.0);
    let filemap = find("throughput, 1 MiB messages", 1 << 20, "filemap busy-poll");
    assert!(filemap["ratio_to_best_peer"].as_f64().unwrap() > 0.0);
    let md = std::fs::read_to_string(docs.join("benchmarks.md")).unwrap();
    assert!(md.contains("Machine: "), "{md}");
    assert!(md.contains("## 5. Files"), "{md}");
    assert!(md.contains("## 6. Publish-subscribe"), "{md}");
    assert!(md.contains("## 7. Many parties"), "{md}");
    assert!(
        md.contains("## 8. Async and waiting on many objects"),
        "{md}"
    );
    assert!(
        md.contains("**`wait_any` over 64 events** wakes in"),
        "{md}"
    );
    assert!(
        md.contains("the channel's one-way latency** in this run"),
        "{md}"
    );
    assert!(
        md.contains("## 9. Across machines: the Zenoh bridge"),
        "{md}"
    );
    assert!(
        md.contains("**A 64 B message through two bridges** takes"),
        "{md}"
    );
    assert!(
        md.contains("**1 MiB messages through two bridges** flow at"),
        "{md}"
    );
    let svg = std::fs::read_to_string(docs.join("benchmarks-latency.svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("iceoryx2"));
    std::fs::remove_dir_all(&docs).unwrap();
    let left: Vec<String> = shm_entries()
        .into_iter()
        .filter(|e| !before.contains(e) && (e.contains("fmbench") || e.contains("bench")))
        .collect();
    assert!(left.is_empty(), "left in /dev/shm: {left:?}");
}
