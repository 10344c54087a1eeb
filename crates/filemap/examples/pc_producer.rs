//! The classic tutorial's producer, on its own: run it beside `pc_main`'s objects, e.g.
//! `cargo run --example pc_producer -- RUN` where RUN is the id `pc_main` uses (its pid).

#[path = "shared/producer_consumer.rs"]
#[allow(dead_code)]
mod producer_consumer;

fn main() -> Result<(), producer_consumer::BoxError> {
    let run = std::env::args().nth(1).ok_or("usage: pc_producer RUN")?;
    let made = producer_consumer::run_producer(&producer_consumer::Names::new(&run))?;
    println!("producer: made {made} values");
    Ok(())
}
