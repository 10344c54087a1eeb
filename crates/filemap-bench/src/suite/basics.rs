//! The report's sections of two processes and of one (1 messages, 2 throughput, 3
//! set-up, 4 mutex, 5 files): measuring their rows, and what is added to them afterwards.

use super::*;

pub(super) fn messages_section(r: &mut Results, memcpy_gb_s: f64) -> Result<()> {
    progress("messages between two processes");
    let line = harness::cache_line_latency()?;
    r.add(
        1,
        WAKE_UP,
        0,
        "cache-line ping-pong (both spin)",
        Kind::Floor,
        NS,
        latency_sample(line),
    );
    r.add(
        1,
        WAKE_UP,
        0,
        "raw futex ping-pong (both always sleep)",
        Kind::Reference,
        NS,
        latency_sample(harness::futex_latency()?),
    );
    r.add(
        1,
        WAKE_UP,
        0,
        "filemap NamedEvent (auto reset)",
        Kind::Filemap,
        NS,
        latency_sample(messages::event_latency()?),
    );
    for size in SIZES {
        let s = size as u64;
        // One copy of the message at this machine's memcpy bandwidth, on top of the
        // cache-line hand-off: what any one-way transfer through shared memory costs.
        let copy_ns = size as f64 / memcpy_gb_s;
        r.add(
            1,
            LATENCY,
            s,
            "floor: cache line + one memcpy",
            Kind::Floor,
            NS,
            Sample {
                p50: line.p50_ns + copy_ns,
                p99: Some(line.p99_ns + copy_ns),
            },
        );
        let mut add =
            |system: &str, kind, l| r.add(1, LATENCY, s, system, kind, NS, latency_sample(l));
        add(
            "filemap busy-poll",
            Kind::Filemap,
            harness::filemap_latency(size, WaitMode::BusyPoll)?,
        );
        add(
            "filemap blocking",
            Kind::Filemap,
            harness::filemap_latency(size, WaitMode::Blocking)?,
        );
        add(
            "iceoryx2 (busy-poll)",
            Kind::Peer,
            messages::iceoryx2_latency(size)?,
        );
        add(
            "ipc-channel",
            Kind::Peer,
            messages::ipc_channel_latency(size)?,
        );
        add(
            "Unix socket",
            Kind::Peer,
            harness::unix_socket_latency(size)?,
        );
        add("pipe", Kind::Peer, harness::pipe_latency(size)?);
    }
    Ok(())
}

pub(super) fn throughput_section(r: &mut Results, memcpy_gb_s: f64) -> Result<()> {
    progress("throughput");
    let s = THROUGHPUT_MESSAGE as u64;
    let mut add =
        |system: &str, kind, gb_s| r.add(2, THROUGHPUT, s, system, kind, GB_S, Sample::value(gb_s));
    add("memcpy (one core)", Kind::Floor, memcpy_gb_s);
    add(
        "raw hand-off, 3 buffers",
        Kind::Reference,
        harness::hand_off_throughput()?,
    );
    add(
        "filemap busy-poll",
        Kind::Filemap,
        harness::filemap_throughput(WaitMode::BusyPoll)?,
    );
    add(
        "filemap blocking",
        Kind::Filemap,
        harness::filemap_throughput(WaitMode::Blocking)?,
    );
    add(
        "iceoryx2 (busy-poll)",
        Kind::Peer,
        messages::iceoryx2_throughput()?,
    );
    add(
        "Unix socket",
        Kind::Peer,
        harness::unix_socket_throughput()?,
    );
    Ok(())
}

pub(super) fn kind_of(system: &str) -> Kind {
    if system.starts_with("reference:") {
        Kind::Reference
    } else if system.starts_with("filemap") {
        Kind::Filemap
    } else if system.starts_with("raw ") || system.starts_with("shm_open") {
        Kind::Floor
    } else {
        Kind::Peer
    }
}

pub(super) fn setup_section(r: &mut Results) -> Result<()> {
    progress("named shared memory set-up");
    let size = setup::SIZE as u64;
    let created = setup::create()?;
    for (system, (p50, p99)) in setup::CREATE_SYSTEMS.into_iter().zip(created) {
        let sample = Sample {
            p50,
            p99: Some(p99),
        };
        r.add(3, CREATE, size, system, kind_of(system), US, sample);
    }
    let opened = setup::open_by_partner()?;
    for (system, (p50, p99)) in setup::SYSTEMS.into_iter().zip(opened) {
        let sample = Sample {
            p50,
            p99: Some(p99),
        };
        r.add(3, OPEN, size, system, kind_of(system), US, sample);
    }
    crate::steps::measure()
}

pub(super) fn mutex_section(r: &mut Results) -> Result<()> {
    progress("named mutex");
    let systems: Vec<&str> = std::iter::once("filemap NamedMutex")
        .chain(mutex::SYSTEMS)
        .collect();
    for (&system, ns) in systems.iter().zip(mutex::uncontended(&systems)?) {
        r.add(
            4,
            UNCONTENDED,
            0,
            system,
            kind_of(system),
            NS,
            Sample::value(ns),
        );
    }
    for system in mutex::SYSTEMS {
        let ns = mutex::handoff(system)?;
        r.add(
            4,
            HANDOFF,
            0,
            system,
            kind_of(system),
            NS,
            Sample::value(ns),
        );
    }
    Ok(())
}

/// Peak resident memory of the file rows, largest over the repetitions, by scenario and row
/// name.
#[allow(clippy::type_complexity)]
pub(super) static FILE_RSS: std::sync::Mutex<Vec<(&'static str, String, u64)>> =
    std::sync::Mutex::new(Vec::new());

pub(super) fn files_section(r: &mut Results, reps: usize) -> Result<u64> {
    progress(format!(
        "files: writing {} of pseudo-random bytes",
        report::size_text(files::file_size())
    ));
    let file = files::TestFile::make()?;
    for rep in 1..=reps {
        progress(format!("files, repetition {rep}/{reps}"));
        let mut results = Vec::new();
        for (role, system) in files::SEQUENTIAL {
            let (seconds, checksum, rss) = file.run(role)?;
            results.push((SCAN, system, seconds, checksum, rss));
        }
        for (system, (seconds, checksum, rss)) in files::RANDOM.into_iter().zip(file.run_random()?)
        {
            results.push((RANDOM, system, seconds, checksum, rss));
        }
        for scenario in [SCAN, RANDOM] {
            let mut checksums: Vec<&String> = results
                .iter()
                .filter(|x| x.0 == scenario)
                .map(|x| &x.3)
                .collect();
            checksums.dedup();
            if checksums.len() != 1 {
                return Err(err(format!("{scenario}: the systems read different bytes")));
            }
        }
        for (scenario, system, seconds, _, rss) in results {
            r.add(
                5,
                scenario,
                file.size,
                system,
                kind_of(system),
                MS,
                Sample::value(seconds * 1e3),
            );
            let mut all = FILE_RSS.lock().map_err(err)?;
            match all
                .iter_mut()
                .find(|(c, s, _)| *c == scenario && s == system)
            {
                Some(e) => e.2 = e.2.max(rss),
                None => all.push((scenario, system.to_string(), rss)),
            }
        }
        // Like with like: the rows that read in place, and those that copy every byte.
        let in_place = [files::SEQUENTIAL[0].1, files::SEQUENTIAL[2].1];
        for row in r.rows.iter_mut().filter(|row| row.section == 5) {
            row.copies = Some(!in_place.contains(&row.system.as_str()));
        }
    }
    Ok(file.size)
}

/// The throughput rows' rate in messages per second.
pub(super) fn finish_throughput_rows(r: &mut Results) {
    r.set_extras(2, |row| {
        report::number(row.p50 * 1e9 / THROUGHPUT_MESSAGE as f64)
    });
}

/// The file rows' throughput and peak resident memory.
pub(super) fn finish_file_rows(r: &mut Results) {
    let rss = FILE_RSS.lock().map(|v| v.clone()).unwrap_or_default();
    let reads = files::random_reads() as f64 * 4096.0;
    r.set_extras(5, |row| {
        let bytes = if row.scenario == SCAN {
            row.size as f64
        } else {
            reads
        };
        let gib_s = bytes / (row.p50 / 1e3) / (1u64 << 30) as f64;
        let peak = rss
            .iter()
            .find(|(c, s, _)| *c == row.scenario && *s == row.system)
            .map(|(_, _, m)| *m)
            .unwrap_or(0);
        format!("{} GiB/s, {peak} MiB", report::number(gib_s))
    });
}

/// The file rows that do the same work (a safe copy of every byte into a buffer) set side
/// by side: filemap's `read_at` against memmap2's `copy_from_slice`, in both scenarios.
pub(super) fn same_work_note(r: &Results) -> String {
    let p50 = |scenario: &str, system: &str| {
        r.rows
            .iter()
            .find(|row| row.section == 5 && row.scenario == scenario && row.system == system)
            .map(|row| row.p50)
    };
    let mut pairs = Vec::new();
    for (scenario, ours, theirs) in [
        (SCAN, files::SEQUENTIAL[1].1, files::SEQUENTIAL[3].1),
        (RANDOM, files::RANDOM[0], files::RANDOM[1]),
    ] {
        if let (Some(a), Some(b)) = (p50(scenario, ours), p50(scenario, theirs)) {
            pairs.push(format!(
                "{scenario}: {}× ({} ms against {} ms)",
                report::number(a / b),
                report::number(a),
                report::number(b)
            ));
        }
    }
    if pairs.is_empty() {
        return String::new();
    }
    format!(
        "The same work side by side, filemap's guarded `read_at` against memmap2's \
`copy_from_slice` (each copying every byte into a buffer, medians of this run): {}.\n\n",
        pairs.join("; ")
    )
}
