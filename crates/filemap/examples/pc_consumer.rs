//! The classic tutorial's consumer, on its own: `cargo run --example pc_consumer -- RUN`.

#[path = "shared/producer_consumer.rs"]
#[allow(dead_code)]
mod producer_consumer;

fn main() -> Result<(), producer_consumer::BoxError> {
    let run = std::env::args().nth(1).ok_or("usage: pc_consumer RUN")?;
    let names = producer_consumer::Names::new(&run);
    let seen = producer_consumer::run_consumer(&names, &mut std::io::stdout().lock())?;
    println!("consumer: saw {seen} values");
    Ok(())
}
