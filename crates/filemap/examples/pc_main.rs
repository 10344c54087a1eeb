//! The classic tutorial's main program: creates the shared value and the events, starts
//! the producer and the consumer (this same program, in those roles), and stops everything
//! at 500 by storing -1.
//!
//! ```sh
//! cargo run --example pc_main              # starts the producer and consumer itself
//! cargo run --example pc_main -- --by-hand # waits a minute for pc_producer / pc_consumer
//! ```

#[path = "shared/producer_consumer.rs"]
mod producer_consumer;

use std::process::{Command, Stdio};

use producer_consumer::{BoxError, Names};

fn main() -> Result<(), BoxError> {
    let args: Vec<String> = std::env::args().collect();
    if let [_, role, run] = args.as_slice() {
        let names = Names::new(run);
        match role.as_str() {
            "producer" => {
                let made = producer_consumer::run_producer(&names)?;
                eprintln!("producer: made {made} values");
            }
            "consumer" => {
                producer_consumer::run_consumer(&names, &mut std::io::stdout().lock())?;
            }
            other => return Err(format!("unknown role {other}").into()),
        }
        return Ok(());
    }
    let by_hand = args.iter().any(|a| a == "--by-hand");
    let run = std::process::id().to_string();
    let names = Names::new(&run);
    let objects = producer_consumer::create(&names)?;
    let mut children = Vec::new();
    let first_wait = if by_hand {
        println!("main: run {run}; in two other terminals start");
        println!("  cargo run --example pc_producer -- {run}");
        println!("  cargo run --example pc_consumer -- {run}");
        std::time::Duration::from_secs(60)
    } else {
        let exe = std::env::current_exe()?;
        for role in ["producer", "consumer"] {
            children.push(
                Command::new(&exe)
                    .args([role, &run])
                    .stdin(Stdio::null())
                    .spawn()?,
            );
        }
        producer_consumer::PATIENCE
    };
    let last = producer_consumer::run_main(&objects, first_wait)?;
    for mut child in children {
        let status = child.wait()?;
        if !status.success() {
            return Err(format!("a child failed: {status}").into());
        }
    }
    println!("main: reached {last}, stored -1; producer and consumer exited");
    Ok(())
}
