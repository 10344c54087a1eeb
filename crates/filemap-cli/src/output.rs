//! Output helpers: hex dumps, aligned tables, and time stamps.

use std::io::{self, Write};
use std::time::SystemTime;

/// Writes `bytes` as a hex dump in the `hexdump -C` layout, `base` being the offset of the
/// first byte.
pub fn hex_dump(out: &mut impl Write, base: u64, bytes: &[u8]) -> io::Result<()> {
    for (i, line) in bytes.chunks(16).enumerate() {
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
        writeln!(out, "{:08x}  {hex:<49} |{text}|", base + (i as u64) * 16)?;
    }
    Ok(())
}

/// Prints rows as columns separated by two spaces, each as wide as its widest cell.
pub fn table(out: &mut impl Write, rows: &[Vec<String>]) -> io::Result<()> {
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
    for row in rows {
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
    fn hex_dump_layout() {
        let mut out = Vec::new();
        hex_dump(&mut out, 16, b"hello, world!\n\x00\x01\xff").unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "00000010  68 65 6c 6c 6f 2c 20 77  6f 72 6c 64 21 0a 00 01  |hello, world!...|\n\
             00000020  ff                                                |.|\n"
        );
    }
}
