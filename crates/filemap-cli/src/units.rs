//! Human units on the command line: sizes (`4096`, `64KiB`, `1MiB`, `2GiB`, `1.5GB`) and
//! durations (`500ms`, `2s`, `1m`), parsed strictly; sizes printed compactly.

use std::time::Duration;

/// Parses a size: a number with an optional unit. Binary units (`KiB`, `MiB`, `GiB`, `TiB`,
/// and the short `K`, `M`, `G`, `T`) are powers of 1024; decimal units (`kB`, `MB`, `GB`,
/// `TB`) are powers of 1000; `B` or nothing means bytes. Case is ignored in the unit.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let s = text.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '_'))
        .unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let number = number.replace('_', "");
    if number.is_empty() {
        return Err(format!(
            "{text:?} is not a size (try 4096, 64KiB, 1MiB or 2GiB)"
        ));
    }
    let multiplier: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        "t" | "tib" => 1 << 40,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "tb" => 1_000_000_000_000,
        other => {
            return Err(format!(
                "unknown size unit {other:?} in {text:?} (use B, KiB (or K), MiB (M), GiB (G), TiB (T), kB, MB, GB or TB)"
            ));
        }
    };
    let too_big = || format!("{text:?} is too large (at most {} bytes)", u64::MAX);
    if let Some((whole, frac)) = number.split_once('.') {
        let whole: u64 = if whole.is_empty() {
            0
        } else {
            whole
                .parse()
                .map_err(|_| format!("{text:?} is not a size"))?
        };
        if frac.is_empty() || frac.contains('.') || frac.len() > 9 {
            return Err(format!("{text:?} is not a size"));
        }
        let frac_value: u64 = frac
            .parse()
            .map_err(|_| format!("{text:?} is not a size"))?;
        let scale = 10u64.pow(frac.len() as u32);
        let whole_bytes = whole.checked_mul(multiplier).ok_or_else(too_big)?;
        let frac_bytes = (frac_value as u128 * multiplier as u128) / scale as u128;
        if (frac_value as u128 * multiplier as u128) % scale as u128 != 0 {
            return Err(format!("{text:?} is not a whole number of bytes"));
        }
        return whole_bytes
            .checked_add(frac_bytes as u64)
            .ok_or_else(too_big);
    }
    let n: u64 = number.parse().map_err(|_| too_big())?;
    n.checked_mul(multiplier).ok_or_else(too_big)
}

/// Parses a size that must be at least one byte (a ring's capacity, a window).
pub fn parse_nonzero_size(text: &str) -> Result<u64, String> {
    match parse_size(text)? {
        0 => Err(format!(
            "{text:?} is not a size this can be: it must be at least 1 byte"
        )),
        size => Ok(size),
    }
}

const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];

/// Formats a size compactly and exactly, so that it reads back as the same size: `4096` →
/// `4KiB`, `1310720` → `1.25MiB`, `100` → `100B`. A size no unit says in two decimals is
/// shown rounded, marked with `~` (`4097` → `~4.0KiB`): it is not a size to type back.
pub fn format_size(bytes: u64) -> String {
    for unit in (1..UNITS.len()).rev() {
        let size = 1u128 << (10 * unit);
        let hundredths = bytes as u128 * 100;
        if bytes as u128 >= size && hundredths % size == 0 {
            let hundredths = hundredths / size;
            let (whole, fraction) = (hundredths / 100, hundredths % 100);
            return match fraction {
                0 => format!("{whole}{}", UNITS[unit]),
                f if f % 10 == 0 => format!("{whole}.{}{}", f / 10, UNITS[unit]),
                f => format!("{whole}.{f:02}{}", UNITS[unit]),
            };
        }
    }
    if bytes < 1024 {
        format!("{bytes}B")
    } else {
        format!("~{}", format_rounded(bytes))
    }
}

/// A size in an error, as a person reads it and exactly: `1TiB (1099511627776 bytes)`,
/// `100 bytes`.
pub fn told_size(bytes: u64) -> String {
    if bytes < 1024 {
        return format!("{bytes} bytes");
    }
    format!("{} ({bytes} bytes)", format_size(bytes))
}

/// Formats a size rounded to one decimal in the largest unit it reaches (`4097` →
/// `4.0KiB`, `1048575` → `1.0MiB`): for rates, which nobody types back.
pub fn format_rounded(bytes: u64) -> String {
    let mut value = bytes as f64;
    let mut unit = 0;
    // (A value that rounds up to 1024 is said in the next unit.)
    while value >= 1023.95 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes}B")
    } else if value.fract() == 0.0 {
        format!("{value:.0}{}", UNITS[unit])
    } else {
        format!("{value:.1}{}", UNITS[unit])
    }
}

/// Parses a duration: a number with `ns`, `µs` (or `us`), `ms`, `s`, `m` or `h`, in any case
/// (seconds if no unit), its digits grouped with `_` as a size's may be (`1_500ms`): what
/// [`filemap::HumanDuration`] prints reads back.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let s = text.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '_'))
        .unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let value: f64 = number
        .replace('_', "")
        .parse()
        .map_err(|_| format!("{text:?} is not a duration (try 500ms, 2s or 1m)"))?;
    let seconds = match unit.trim().to_ascii_lowercase().as_str() {
        "ns" => value / 1e9,
        // The micro sign (U+00B5), the Greek mu (U+03BC), or a plain u.
        "µs" | "μs" | "us" => value / 1e6,
        "ms" => value / 1000.0,
        "" | "s" | "sec" => value,
        "m" | "min" => value * 60.0,
        "h" => value * 3600.0,
        other => {
            return Err(format!(
                "unknown duration unit {other:?} in {text:?} (use ns, µs, ms, s, m or h)"
            ));
        }
    };
    if !seconds.is_finite() || !(0.0..=1e9).contains(&seconds) {
        return Err(format!("{text:?} is out of range"));
    }
    Ok(Duration::from_secs_f64(seconds))
}

/// The fuzz target's body (`fuzz/fuzz_targets/size.rs` compiles this file in), replayed
/// over the kept corpus by the tests below: parsing any text is a value or an error, and a
/// parsed size printed and parsed again comes back exactly, unless it was printed rounded
/// (marked `~`).
#[allow(dead_code)]
pub fn fuzz(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = parse_duration(text);
    let Ok(n) = parse_size(text) else {
        return;
    };
    let printed = format_size(n);
    match parse_size(&printed) {
        Ok(m) => assert_eq!(m, n, "{text:?} = {n}, printed {printed:?}"),
        Err(_) => assert!(printed.starts_with('~'), "{text:?} = {n}: {printed:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The size fuzz target's kept inputs (`fuzz/corpus/size`, `fuzz/regressions/size`).
    #[test]
    fn fuzz_corpus() {
        let fuzz_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
        let mut n = 0;
        for dir in ["corpus/size", "regressions/size"] {
            for entry in std::fs::read_dir(fuzz_dir.join(dir)).into_iter().flatten() {
                let path = entry.unwrap().path();
                fuzz(&std::fs::read(&path).unwrap());
                n += 1;
            }
        }
        assert!(n > 0, "no kept inputs for the size target");
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("64KiB"), Ok(65536));
        assert_eq!(parse_size("1MiB"), Ok(1 << 20));
        assert_eq!(parse_size("2GiB"), Ok(2 << 30));
        assert_eq!(parse_size("2gib"), Ok(2 << 30));
        assert_eq!(parse_size("4k"), Ok(4096));
        assert_eq!(parse_size("1.5KiB"), Ok(1536));
        assert_eq!(parse_size("1MB"), Ok(1_000_000));
        assert_eq!(parse_size("1_000"), Ok(1000));
        assert_eq!(parse_size("10 B"), Ok(10));
        for bad in [
            "",
            "KiB",
            "1XiB",
            "-1",
            "1.",
            "1.2.3",
            "0.3B",
            "99999999999999999999",
            "16777216TiB",
        ] {
            assert!(parse_size(bad).is_err(), "{bad:?}");
        }
        let unknown = parse_size("4X").unwrap_err();
        assert!(unknown.contains("KiB (or K)"), "{unknown}");
    }

    #[test]
    fn formatting() {
        assert_eq!(format_size(100), "100B");
        assert_eq!(format_size(4096), "4KiB");
        assert_eq!(format_size(1536), "1.5KiB");
        assert_eq!(format_size(1 << 30), "1GiB");
        assert_eq!(format_size(1310720), "1.25MiB");
        assert_eq!(format_size(4097), "~4.0KiB");
        assert_eq!(format_size(1048575), "~1.0MiB");
        assert_eq!(format_size(u64::MAX), "~16777216TiB");
        assert_eq!(format_rounded(1048575), "1.0MiB");
        for n in [0, 1, 1023, 1024, 1536, 1310720, 5 << 40, 3 << 39] {
            assert_eq!(parse_size(&format_size(n)), Ok(n), "{n}");
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("250MS"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("250µs"), Ok(Duration::from_micros(250)));
        assert_eq!(parse_duration("250μs"), Ok(Duration::from_micros(250)));
        assert_eq!(parse_duration("1_500ms"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("1_000"), Ok(Duration::from_secs(1000)));
        for d in [
            0,
            7,
            7_000,
            250_000,
            1_500_000,
            100_000_000,
            1_005_000_000,
            90_000_000_000,
        ] {
            let d = Duration::from_nanos(d);
            let shown = filemap::HumanDuration(d).to_string();
            assert_eq!(parse_duration(&shown), Ok(d), "{shown}");
        }
        for bad in ["", "_", "_ms", "x", "5 parsecs", "-1s", "1e99h"] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
    }
}
