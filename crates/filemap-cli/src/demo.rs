//! `filemap demo`: the classic main / producer / consumer as three real processes (this
//! binary in hidden roles), over a `SharedMutex<i32>` and events, and a short transcript.

use std::io::{BufRead, BufReader};
use std::process::{Command, ExitCode, Stdio};

use crate::outcome::{Failure, Outcome};

#[path = "../../filemap/examples/shared/producer_consumer.rs"]
mod producer_consumer;

use producer_consumer::{Names, LIMIT};

fn boxed(e: producer_consumer::BoxError) -> Failure {
    Failure::Error(e.to_string())
}

/// Runs the three processes and prints what happened.
pub fn run() -> Outcome {
    let pid = std::process::id();
    let run = format!("demo{pid}");
    let names = Names::new(&run);
    let objects = producer_consumer::create(&names).map_err(boxed)?;
    println!("[main     pid {pid:>6}] created Local\\{} (SharedMutex<i32> = 0) and three auto-reset events", names.value);
    let exe = std::env::current_exe()?;
    let spawn = |role: &str| {
        Command::new(&exe)
            .args(["demo-child", role, &run])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
    };
    let mut producer = spawn("producer")?;
    let mut consumer = spawn("consumer")?;
    println!(
        "[main     pid {pid:>6}] started producer (pid {}) and consumer (pid {})",
        producer.id(),
        consumer.id()
    );
    let reader = {
        let out = consumer.stdout.take().expect("piped");
        std::thread::spawn(move || {
            BufReader::new(out)
                .lines()
                .map_while(Result::ok)
                .collect::<Vec<String>>()
        })
    };
    let last = producer_consumer::run_main(&objects, producer_consumer::PATIENCE).map_err(boxed)?;
    let lines = reader
        .join()
        .map_err(|_| Failure::Error("the consumer's reader failed".into()))?;
    let consumer_pid = consumer.id();
    for (who, child) in [("producer", &mut producer), ("consumer", &mut consumer)] {
        let status = child.wait()?;
        if !status.success() {
            return Err(Failure::Error(format!("the {who} failed: {status}")));
        }
    }
    let mut made = String::new();
    if let Some(out) = producer.stdout.take() {
        BufReader::new(out).read_line(&mut made)?;
    }
    // A short transcript: the first and last values the consumer reported.
    let shown = 3;
    let saw = |line: &String| {
        let value = line.trim_start_matches("consumer: ");
        println!("[consumer pid {consumer_pid:>6}] saw {value}");
    };
    lines.iter().take(shown).for_each(saw);
    if lines.len() > 2 * shown {
        println!(
            "[consumer pid {consumer_pid:>6}] ... {} more ...",
            lines.len() - 2 * shown
        );
    }
    lines
        .iter()
        .skip(shown.max(lines.len().saturating_sub(shown)))
        .for_each(saw);
    let expected: Vec<String> = (1..=LIMIT).map(|v| format!("consumer: {v}")).collect();
    let every_value = lines == expected;
    println!("[producer pid {:>6}] {}", producer.id(), made.trim());
    println!(
        "[main     pid {pid:>6}] value reached {last}: stored -1, both exited; the consumer saw {} values, {}",
        lines.len(),
        if every_value { "each exactly once, in order" } else { "NOT each once in order" }
    );
    drop(objects);
    let gone = matches!(
        filemap::sync::SharedMutex::<i32>::open(names.value.as_str()),
        Err(filemap::Error::NotFound { .. })
    );
    println!(
        "[main     pid {pid:>6}] closed the last handles: the objects are {}",
        if gone { "gone" } else { "STILL THERE" }
    );
    Ok(if gone && every_value {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// A child's part: `producer` or `consumer` of run `run`.
pub fn child(role: &str, run: &str) -> Outcome {
    let names = Names::new(run);
    match role {
        "producer" => {
            let made = producer_consumer::run_producer(&names).map_err(boxed)?;
            println!("made {made} values, then found -1 and exited");
        }
        "consumer" => {
            producer_consumer::run_consumer(&names, &mut std::io::stdout().lock())
                .map_err(boxed)?;
        }
        _ => return Err(Failure::Usage(format!("unknown demo role {role:?}"))),
    }
    Ok(ExitCode::SUCCESS)
}
