//! A tokio TCP server that forwards what a filemap topic carries to its network clients:
//! one subscriber, awaited with `recv_async` beside the listener on one runtime, and each
//! message written to every connected client as a line.
//!
//! ```text
//! topic_to_tcp serve TOPIC ADDR    forward TOPIC to clients of ADDR until killed
//! topic_to_tcp publish TOPIC N     publish N messages on TOPIC (another process)
//! topic_to_tcp                     a demo: serve on 127.0.0.1, start a publisher process,
//!                                  read what it published as a TCP client, and stop
//! ```

use std::net::SocketAddr;
use std::time::Duration;

use filemap::topic::{Publisher, Subscriber, TopicOptions};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::broadcast;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["serve", topic, addr] => runtime.block_on(async {
            let listener = TcpListener::bind(addr).await?;
            println!("forwarding {topic} to {}", listener.local_addr()?);
            serve(topic, listener).await
        }),
        ["publish", topic, n] => publish(topic, n.parse()?),
        [] => runtime.block_on(demo()),
        _ => Err("usage: topic_to_tcp [serve TOPIC ADDR | publish TOPIC N]".into()),
    }
}

/// Forwards every message of `topic` to every client `listener` accepts.
async fn serve(topic: &str, listener: TcpListener) -> Result<()> {
    let mut subscriber = Subscriber::create_or_open(topic, &TopicOptions::new())?;
    let (lines, _) = broadcast::channel::<String>(1024);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, _) = accepted?;
                tokio::spawn(send_lines(stream, lines.subscribe()));
            }
            message = subscriber.recv_async() => {
                let text = String::from_utf8_lossy(&message?.to_vec()?).into_owned();
                let last = text == "bye";
                // Nobody connected: the line is dropped, as a broadcast does.
                let _ = lines.send(text);
                if last {
                    // Let the client tasks write it before the runtime stops.
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    return Ok(());
                }
            }
        }
    }
}

/// Writes each forwarded message to one client, one line each, until it hangs up.
async fn send_lines(mut stream: TcpStream, mut lines: broadcast::Receiver<String>) {
    while let Ok(line) = lines.recv().await {
        if stream
            .write_all(format!("{line}\n").as_bytes())
            .await
            .is_err()
        {
            return;
        }
    }
}

/// Publishes `n` numbered messages, then "bye".
fn publish(topic: &str, n: u32) -> Result<()> {
    let mut publisher = Publisher::open(topic)?;
    for i in 0..n {
        publisher.publish(format!("reading {i}").as_bytes())?;
        std::thread::sleep(Duration::from_millis(5));
    }
    publisher.publish(b"bye")?;
    Ok(())
}

/// Serves on a loopback port, connects as a client, then starts a publisher process and
/// prints what the client receives.
async fn demo() -> Result<()> {
    let topic = format!("tcp-demo-{}", std::process::id());
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr: SocketAddr = listener.local_addr()?;
    let server = tokio::spawn({
        let topic = topic.clone();
        async move { serve(&topic, listener).await.map_err(|e| e.to_string()) }
    });
    let mut client = BufReader::new(TcpStream::connect(addr).await?).lines();
    // The server subscribed before it accepted (its first poll); give the accept a moment.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut publisher = std::process::Command::new(std::env::current_exe()?)
        .args(["publish", &topic, "3"])
        .spawn()?;
    while let Some(line) = client.next_line().await? {
        println!("client got: {line}");
        if line == "bye" {
            break;
        }
    }
    if !publisher.wait()?.success() {
        return Err("the publisher failed".into());
    }
    server.await??;
    Ok(())
}
