//! The partner process's side of each measurement of [`drivers`](crate::drivers), chosen by
//! its role (the first argument after `bench-partner`).

use std::io::{Read, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use filemap::Mapping;
use filemap::channel::{Receiver, Sender};
use filemap::inbox::InboxSender;
use filemap::topic::Subscriber;
use filemap::wait::block_on;

use crate::drivers::{
    HAND_OFF_BUFFERS, MANY_PARTIES_MESSAGE, PARTNER_PATIENCE, StopFlag, ack_bytes, hand_off_views,
    message_round, parse_mode, spin_until,
};
#[cfg(target_os = "linux")]
use crate::drivers::{futex_wait_for, futex_wake};
use crate::measure::{clock_ns, pin_to};
use crate::{PARTNER_CPU, Result, THROUGHPUT_MESSAGE, err};

/// The partner process's side of each measurement here (`args[0]` is the role), or `None`
/// for a role the harness does not know (the caller's own roles).
pub fn partner_role(args: &[String]) -> Option<Result<()>> {
    let role = args.first()?.as_str();
    if !matches!(
        role,
        "channel-echo"
            | "channel-echo-async"
            | "channel-stamp"
            | "channel-source"
            | "stream-echo"
            | "echo-then-linger"
            | "socket-echo"
            | "socket-source"
            | "line-echo"
            | "futex-echo"
            | "hand-off-source"
            | "topic-subscriber"
            | "inbox-sender"
            | crate::interleaved::ROLE
    ) {
        return None;
    }
    Some(run_partner_role(role, args))
}

fn run_partner_role(role: &str, args: &[String]) -> Result<()> {
    let arg = |i: usize| -> Result<&str> {
        args.get(i)
            .map(String::as_str)
            .ok_or_else(|| err("missing partner argument"))
    };
    match role {
        "channel-echo" => {
            let mut rx = Receiver::create_or_open(arg(1)?, 1 << 16)?;
            let mut tx = Sender::create_or_open(arg(2)?, 1 << 16)?;
            rx.set_wait_mode(parse_mode(arg(3)?));
            tx.set_wait_mode(parse_mode(arg(3)?));
            loop {
                let msg = match rx.recv() {
                    Ok(m) => m,
                    Err(filemap::Error::Disconnected { .. }) => break,
                    Err(e) => return Err(e.into()),
                };
                tx.forward(&msg)?;
            }
        }
        // The partner of `filemap_async_latency`: echoes each message, both ends async
        // under `block_on`, until the measuring process goes.
        "channel-echo-async" => {
            let mut rx = Receiver::create_or_open(arg(1)?, 1 << 16)?;
            let mut tx = Sender::create_or_open(arg(2)?, 1 << 16)?;
            block_on(async_echo(&mut rx, &mut tx))?;
        }
        // The partner of `filemap_asleep_latency`: acknowledges each message with the
        // time it had copied it out, async under `block_on` or blocking.
        "channel-stamp" => {
            let mut rx = Receiver::create_or_open(arg(1)?, 1 << 16)?;
            let mut tx = Sender::create_or_open(arg(2)?, 1 << 16)?;
            let async_ends = arg(3)? == "async";
            let mut message = Vec::new();
            loop {
                let received = if async_ends {
                    block_on(async {
                        let slot = rx.recv_async().await?;
                        message.clear();
                        slot.append_to(&mut message)
                    })
                } else {
                    rx.recv_into(&mut message)
                };
                match received {
                    Ok(()) => {}
                    Err(filemap::Error::Disconnected { .. }) => break,
                    Err(e) => return Err(e.into()),
                }
                let at = clock_ns();
                let ack = ack_bytes(message_round(&message)?, at);
                if async_ends {
                    block_on(tx.send_async(&ack))?;
                } else {
                    tx.send(&ack)?;
                }
            }
        }
        "channel-source" => {
            let mut tx = Sender::create_or_open(arg(1)?, 8 << 20)?;
            tx.set_wait_mode(parse_mode(arg(3)?));
            let count: u64 = arg(2)?.parse().map_err(err)?;
            let message = vec![5u8; THROUGHPUT_MESSAGE];
            for _ in 0..count {
                let mut slot = tx.reserve(message.len())?;
                slot.copy_from_slice(&message)?;
                slot.commit();
            }
        }
        // A subscriber of `topic_latency`: pins itself to its core, joins, says so, then
        // acknowledges each message with the time it had copied it out, until the
        // publisher goes.
        "topic-subscriber" => {
            if let Ok(cpu) = arg(4)?.parse() {
                pin_to(cpu);
            }
            let mode = parse_mode(arg(3)?);
            let mut sub = Subscriber::open(arg(1)?)?;
            sub.set_wait_mode(mode);
            let mut tx = Sender::create_or_open(arg(2)?, 1 << 16)?;
            tx.set_wait_mode(mode);
            tx.send(&ack_bytes(u64::MAX, 0))?;
            let mut message = Vec::new();
            loop {
                match sub.recv_into(&mut message) {
                    Ok(_) => {}
                    Err(filemap::Error::Disconnected { .. }) => break,
                    Err(e) => return Err(e.into()),
                }
                let at = clock_ns();
                tx.send(&ack_bytes(message_round(&message)?, at))?;
            }
        }
        // A sender of `inbox_throughput`: pins itself to its core, takes a slot, then sends
        // messages as fast as it can until the stop flag is raised (or the inbox goes).
        "inbox-sender" => {
            if let Ok(cpu) = arg(4)?.parse() {
                pin_to(cpu);
            }
            let mut tx = InboxSender::open(arg(1)?)?;
            tx.set_wait_mode(parse_mode(arg(3)?));
            let stop = StopFlag::open(arg(2)?)?;
            let message = [5u8; MANY_PARTIES_MESSAGE];
            while !stop.raised() {
                match tx.send(&message) {
                    Ok(()) => {}
                    Err(filemap::Error::Disconnected { .. }) => break,
                    Err(e) => return Err(e.into()),
                }
            }
        }
        crate::interleaved::ROLE => crate::interleaved::serve_both(args)?,
        "stream-echo" => {
            let size: usize = arg(1)?.parse().map_err(err)?;
            let mut input = std::io::stdin().lock();
            let mut output = std::io::stdout().lock();
            let mut buf = vec![0u8; size];
            while input.read_exact(&mut buf).is_ok() {
                output.write_all(&buf)?;
                output.flush()?;
            }
        }
        "echo-then-linger" => echo_then_linger(arg(1)?)?,
        #[cfg(unix)]
        "socket-echo" => {
            let size: usize = arg(2)?.parse().map_err(err)?;
            let mut stream = std::os::unix::net::UnixStream::connect(arg(1)?)?;
            let mut buf = vec![0u8; size];
            while stream.read_exact(&mut buf).is_ok() {
                stream.write_all(&buf)?;
            }
        }
        #[cfg(unix)]
        "socket-source" => {
            let count: u64 = arg(2)?.parse().map_err(err)?;
            let mut stream = std::os::unix::net::UnixStream::connect(arg(1)?)?;
            let message = vec![5u8; THROUGHPUT_MESSAGE];
            for _ in 0..count {
                stream.write_all(&message)?;
            }
        }
        "hand-off-source" => {
            let m = Mapping::open(arg(1)?)?;
            let count: u64 = arg(2)?.parse().map_err(err)?;
            let (flags, mut buffers) = hand_off_views(&m)?;
            let message = vec![5u8; THROUGHPUT_MESSAGE];
            for seq in 1..=count {
                let b = (seq - 1) % HAND_OFF_BUFFERS;
                // SAFETY: each flag word is reached only as itself, here and in the
                // measuring process, and the mapping is not cut short.
                let flag = unsafe { flags.atomic_u64(b as usize * 64)? };
                spin_until(flag, 0)?;
                // SAFETY: a lowered flag (acquire) means the measuring process is done
                // with the buffer; it does not read it again until the flag is raised.
                unsafe { buffers[b as usize].as_mut_slice()? }.copy_from_slice(&message);
                flag.store(seq, Ordering::Release);
            }
        }
        "line-echo" => {
            let m = Mapping::open(arg(1)?)?;
            let v = m.view().map()?;
            // SAFETY: bytes 0..8 are reached only as this word, here and in the measuring
            // process, and the mapping is not cut short.
            let word: &AtomicU64 = unsafe { v.atomic_u64(0)? };
            // Echoes each odd value (the measuring process's turn) until the end, giving up
            // once the word has not changed for `PARTNER_PATIENCE` (the measuring process
            // died: an orphan must not spin for ever).
            let (mut last, mut spins, mut since) = (0u64, 0u32, Instant::now());
            loop {
                let now = word.load(Ordering::Acquire);
                if now == u64::MAX {
                    break;
                }
                if now % 2 == 1 {
                    word.store(now + 1, Ordering::Release);
                }
                std::hint::spin_loop();
                spins = spins.wrapping_add(1);
                if spins % 4096 == 0 {
                    if now != last {
                        (last, since) = (now, Instant::now());
                    } else if since.elapsed() >= PARTNER_PATIENCE {
                        return Err(err("the measuring process stopped answering"));
                    }
                }
            }
        }
        #[cfg(target_os = "linux")]
        "futex-echo" => {
            let m = Mapping::open(arg(1)?)?;
            let v = m.view().map()?;
            // SAFETY: each word is reached only as itself, here and in the measuring
            // process, and the mapping is not cut short.
            let (ping, pong) = unsafe { (v.atomic_u32(0)?, v.atomic_u32(64)?) };
            let mut i = 1u32;
            loop {
                futex_wait_for(ping, i)?;
                if ping.load(Ordering::Acquire) == u32::MAX {
                    break;
                }
                pong.store(i, Ordering::Release);
                futex_wake(pong);
                i += 1;
            }
        }
        other => return Err(err(format!("partner role {other:?} is not available here"))),
    }
    Ok(())
}

/// Echoes each message `rx` receives through `tx` (copied out into a buffer, then sent),
/// both async, until the sender of `rx` goes.
async fn async_echo(rx: &mut Receiver, tx: &mut Sender) -> Result<()> {
    let mut message = Vec::new();
    loop {
        match rx.recv_async().await {
            Ok(slot) => {
                message.clear();
                slot.append_to(&mut message)?;
            }
            Err(filemap::Error::Disconnected { .. }) => return Ok(()),
            Err(e) => return Err(e.into()),
        }
        tx.send_async(&message).await?;
    }
}

/// `bench-partner <role> <args>...` for the roles of [`partner_role`]: pins this process to
/// [`PARTNER_CPU`] (the measuring process pinned itself to the other core, if the machine
/// has two), then plays the role.
pub fn partner_main(args: &[String]) -> Result<()> {
    die_with_the_measuring_process()?;
    pin_to(PARTNER_CPU);
    partner_role(args)
        .unwrap_or_else(|| Err(err(format!("unknown partner role: {}", args.join(" ")))))
}

/// Where the measuring process asks it (the command line's `bench`, which a signal may
/// stop mid-run: [`DIE_WITH_PARENT`] names it), the partner is killed as soon as that
/// process ends, rather than running on as an orphan until it gives up. (The kernel's
/// parent-death signal follows the thread that started the partner: the measuring thread,
/// which outlives every partner it waits for.)
fn die_with_the_measuring_process() -> Result<()> {
    #[cfg(target_os = "linux")]
    if let Some(parent) = std::env::var(crate::process::DIE_WITH_PARENT)
        .ok()
        .and_then(|p| p.parse::<i32>().ok())
    {
        use rustix::process::{Signal, getppid, set_parent_process_death_signal};
        set_parent_process_death_signal(Some(Signal::KILL)).map_err(std::io::Error::from)?;
        // Gone already, before the signal was asked for: nothing would send it.
        if getppid().map(|p| p.as_raw_nonzero().get()) != Some(parent) {
            return Err(err("the measuring process has gone"));
        }
    }
    Ok(())
}

/// A served command that answers, then keeps running (for `filemap serve`'s tests): writes
/// its whole standard input to its standard output, closes that, and waits for the
/// manual-reset event `linger` (for five minutes at most: longer than a test waits for
/// anything); then fails with exit code 3, so
/// that its end is seen apart from its answer.
fn echo_then_linger(linger: &str) -> Result<()> {
    use filemap::sync::{EventReset, NamedEvent};
    let (event, _) = NamedEvent::create_or_open(linger, EventReset::Manual, false)?;
    let mut input = Vec::new();
    std::io::stdin().lock().read_to_end(&mut input)?;
    let mut output = std::io::stdout().lock();
    output.write_all(&input)?;
    output.flush()?;
    close_stdout();
    let _ = event.wait_timeout(Duration::from_secs(300));
    std::process::exit(3);
}

/// Closes this process's standard output (nothing writes to it after).
fn close_stdout() {
    #[cfg(unix)]
    {
        use std::os::fd::{FromRawFd, OwnedFd};
        // SAFETY: fd 1 is open (the output was just written to it) and nothing in this
        // process uses it again: the caller only waits, then exits.
        drop(unsafe { OwnedFd::from_raw_fd(1) });
    }
    #[cfg(windows)]
    {
        use std::os::windows::io::{AsRawHandle, FromRawHandle, OwnedHandle};
        let handle = std::io::stdout().as_raw_handle();
        // SAFETY: the standard output's handle is open (the output was just written to
        // it) and nothing in this process uses it again: the caller only waits, then exits.
        drop(unsafe { OwnedHandle::from_raw_handle(handle) });
    }
}
