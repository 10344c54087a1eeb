//! Output helpers: lines on standard output that survive its failure, hex dumps, aligned
//! tables, and time stamps.

use std::io::{self, Write};
use std::sync::Mutex;
use std::time::SystemTime;

/// Prints a line on standard output, like `println!`, but never panics: once a write
/// fails (a closed pipe, as in `filemap ls | head -1`, or a full disk) nothing more is
/// printed, and `main` reports the failure when the command ends (see
/// [`stdout_failure`]). Evaluates to whether standard output still works, for loops that
/// print until stopped.
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::output::print_line(format_args!($($arg)*))
    };
}
pub(crate) use outln;

/// Prints a line on standard error, like `eprintln!`, but never panics: a failed write
/// (a closed pipe, a full disk) is dropped, as there is nowhere left to report it, and the
/// command goes on to its exit status.
macro_rules! errln {
    ($($arg:tt)*) => {
        $crate::output::error_line(format_args!($($arg)*))
    };
}
pub(crate) use errln;

/// [`errln!`]'s work.
pub fn error_line(args: std::fmt::Arguments<'_>) {
    let mut err = io::stderr().lock();
    let _ = err.write_fmt(args).and_then(|()| err.write_all(b"\n"));
}

/// How standard output failed, if it did.
static STDOUT_FAILED: Mutex<Option<io::Error>> = Mutex::new(None);

/// [`outln!`]'s work: `false` if standard output failed, now or before.
pub fn print_line(args: std::fmt::Arguments<'_>) -> bool {
    let mut failed = STDOUT_FAILED.lock().unwrap_or_else(|e| e.into_inner());
    if failed.is_some() {
        return false;
    }
    let mut out = io::stdout().lock();
    match out.write_fmt(args).and_then(|()| out.write_all(b"\n")) {
        Ok(()) => true,
        Err(e) => {
            *failed = Some(e);
            false
        }
    }
}

/// How standard output failed, if it did; flushes it first (so that a failure of the last
/// buffered bytes counts too).
pub fn stdout_failure() -> Option<io::Error> {
    let mut failed = STDOUT_FAILED.lock().unwrap_or_else(|e| e.into_inner());
    if failed.is_none() {
        if let Err(e) = io::stdout().lock().flush() {
            *failed = Some(e);
        }
    }
    failed.take()
}

/// How many bytes a read must have before its progress is shown (a shorter one is over
/// before a bar would say anything).
pub const PROGRESS_FROM: u64 = 64 << 20;

/// A progress bar of bytes done out of `total`, with the rate and time left, sizes as the
/// rest of filemap prints them (3GiB, not 3.00 GiB). Drawn on standard error: the caller
/// makes it only where that is a terminal.
pub fn byte_progress(total: u64) -> indicatif::ProgressBar {
    use crate::units::format_rounded;
    let bar = indicatif::ProgressBar::new(total);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {done}/{total} {rate} eta {eta}")
            .expect("a valid template")
            .with_key(
                "done",
                |s: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                    let _ = write!(w, "{}", format_rounded(s.pos()));
                },
            )
            .with_key(
                "total",
                |s: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                    let _ = write!(w, "{}", format_rounded(s.len().unwrap_or(0)));
                },
            )
            .with_key(
                "rate",
                |s: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                    let _ = write!(w, "{}/s", format_rounded(s.per_sec() as u64));
                },
            ),
    );
    bar
}

/// A hex dump in the `hexdump -C` layout, written in pieces: a line like the one before it
/// is written as one `*` for the whole run of them (as `hexdump` squeezes them), and a
/// dump of anything ends with a line of the offset where it stops.
#[derive(Default)]
pub struct HexDump {
    /// The last line written or squeezed.
    previous: Option<Vec<u8>>,
    /// Whether lines are being squeezed now.
    squeezing: bool,
}

impl HexDump {
    /// Writes `bytes`, `base` being the offset of the first (pieces after the first start
    /// where the one before ended, on a 16-byte line boundary).
    pub fn write(&mut self, out: &mut impl Write, base: u64, bytes: &[u8]) -> io::Result<()> {
        for (i, line) in bytes.chunks(16).enumerate() {
            if self.previous.as_deref() == Some(line) {
                if !std::mem::replace(&mut self.squeezing, true) {
                    writeln!(out, "*")?;
                }
                continue;
            }
            self.squeezing = false;
            self.previous = Some(line.to_vec());
            hex_line(out, base + (i as u64) * 16, line)?;
        }
        Ok(())
    }

    /// Ends the dump, which stops at offset `end`.
    pub fn finish(&mut self, out: &mut impl Write, end: u64) -> io::Result<()> {
        if self.previous.is_some() {
            writeln!(out, "{end:08x}")?;
        }
        Ok(())
    }
}

/// `bytes` in standard base64 (RFC 4648, with padding).
pub fn base64(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(DIGITS[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// One line of up to 16 bytes at offset `at`.
fn hex_line(out: &mut impl Write, at: u64, line: &[u8]) -> io::Result<()> {
    let mut hex = String::with_capacity(50);
    for (j, b) in line.iter().enumerate() {
        if j == 8 {
            hex.push(' ');
        }
        hex.push_str(&format!("{b:02x} "));
    }
    let text: String = line
        .iter()
        .map(|&b| {
            if b.is_ascii_graphic() || b == b' ' {
                b as char
            } else {
                '.'
            }
        })
        .collect();
    writeln!(out, "{at:08x}  {hex:<49} |{text}|")
}

/// `text` with its control characters escaped (`\u{1b}`, `\n`): text that other
/// processes chose (entry names in a shared directory, a server's failure reason) never
/// steers the terminal.
pub fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return text.into();
    }
    let mut shown = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c.is_control() {
            shown.extend(c.escape_default());
        } else {
            shown.push(c);
        }
    }
    shown.into()
}

/// Prints rows as columns separated by two spaces, each as wide as its widest cell (with
/// its control characters escaped: see [`printable`]).
pub fn table(out: &mut impl Write, rows: &[Vec<String>]) -> io::Result<()> {
    let rows: Vec<Vec<std::borrow::Cow<'_, str>>> = rows
        .iter()
        .map(|row| row.iter().map(|cell| printable(cell)).collect())
        .collect();
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for row in &rows {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            if c + 1 == row.len() {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<width$}  ", width = widths[c]));
            }
        }
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}

/// Milliseconds since the Unix epoch.
pub fn unix_millis(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_shown_escaped() {
        assert_eq!(printable("Local\\plain"), "Local\\plain");
        assert_eq!(printable("a\u{1b}[31mred\u{7}"), "a\\u{1b}[31mred\\u{7}");
        let mut out = Vec::new();
        table(&mut out, &[vec!["x\ny".into(), "z".into()]]).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "x\\ny  z\n");
    }

    #[test]
    fn base64_as_rfc_4648_gives_it() {
        for (bytes, text) in [
            (&b""[..], ""),
            (b"f", "Zg=="),
            (b"fo", "Zm8="),
            (b"foo", "Zm9v"),
            (b"foob", "Zm9vYg=="),
            (b"fooba", "Zm9vYmE="),
            (b"foobar", "Zm9vYmFy"),
            (b"\xff\xfe bin", "//4gYmlu"),
        ] {
            assert_eq!(base64(bytes), text);
        }
    }

    #[test]
    fn hex_dump_layout() {
        let mut out = Vec::new();
        let mut dump = HexDump::default();
        dump.write(&mut out, 16, b"hello, world!\n\x00\x01\xff")
            .unwrap();
        dump.finish(&mut out, 33).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "00000010  68 65 6c 6c 6f 2c 20 77  6f 72 6c 64 21 0a 00 01  |hello, world!...|\n\
             00000020  ff                                                |.|\n\
             00000021\n"
        );
    }

    #[test]
    fn repeated_lines_are_squeezed_across_pieces() {
        let mut out = Vec::new();
        let mut dump = HexDump::default();
        dump.write(&mut out, 0, &[0u8; 48]).unwrap();
        dump.write(&mut out, 48, &[0u8; 32]).unwrap();
        dump.write(&mut out, 80, b"0123456789abcdef").unwrap();
        dump.write(&mut out, 96, &[b'0'; 32]).unwrap();
        dump.finish(&mut out, 128).unwrap();
        let zeros = "00 00 00 00 00 00 00 00  00 00 00 00 00 00 00 00 ";
        let digits = "30 30 30 30 30 30 30 30  30 30 30 30 30 30 30 30 ";
        assert_eq!(
            String::from_utf8(out).unwrap(),
            format!(
                "00000000  {zeros} |................|\n*\n\
                 00000050  30 31 32 33 34 35 36 37  38 39 61 62 63 64 65 66  |0123456789abcdef|\n\
                 00000060  {digits} |0000000000000000|\n*\n00000080\n"
            )
        );
    }
}
