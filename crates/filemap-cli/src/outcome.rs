//! What a command returns: an exit code, or why it failed. Every command module uses these;
//! this module uses none of them (only the units, to say sizes).

use std::process::ExitCode;

/// Why a command failed: bad usage (exit 2), an error (exit 1), or a reader of standard
/// output that stopped reading (`filemap ls | head -1`: it wanted no more, exit 0 quietly).
pub enum Failure {
    Usage(String),
    Error(String),
    ReaderGone,
}

impl Failure {
    /// A failure to write standard output, said as one (a reader that went away is no
    /// failure: `ReaderGone`).
    pub fn stdout(e: std::io::Error) -> Failure {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            return Failure::ReaderGone;
        }
        Failure::Error(format!("cannot write to standard output: {e}"))
    }

    /// A failure to read standard input, said as one.
    pub fn stdin(e: std::io::Error) -> Failure {
        Failure::Error(format!("reading standard input: {e}"))
    }
}

impl Failure {
    /// A library error from a call given a size from the command line (`--size`,
    /// `--capacity`): an invalid size is then bad usage (exit 2), as a size clap cannot
    /// parse is. Elsewhere an invalid size is what a command found (an empty foreign
    /// segment, an object too large to map here): an error (exit 1).
    pub fn size_given(e: filemap::Error) -> Failure {
        let from_arguments = matches!(e, filemap::Error::InvalidSize { .. });
        match Failure::from(e) {
            Failure::Error(message) if from_arguments => Failure::Usage(message),
            failure => failure,
        }
    }
}

impl From<filemap::Error> for Failure {
    /// A bad name, setting, count or permissions came from the command line: bad usage
    /// (exit 2, as a size clap cannot parse is). An invalid size is bad usage only where
    /// the command line gave it ([`Failure::size_given`]).
    fn from(e: filemap::Error) -> Failure {
        use crate::units::told_size;
        match e {
            // Sizes as a person typed them (`1TiB`), with the exact count.
            filemap::Error::InvalidSize { size, problem } => {
                Failure::Error(format!("invalid size {}: {problem}", told_size(size)))
            }
            // (Rounded: what was asked for may be the object with its header, a size
            // nobody typed, which exact units would show as, say, 1073741828KiB.)
            filemap::Error::NoSpace { place, size } => Failure::Error(format!(
                "not enough space for {} ({size} bytes) in {place}",
                crate::units::format_rounded(size)
            )),
            filemap::Error::InvalidName { .. }
            | filemap::Error::InvalidSetting { .. }
            | filemap::Error::InvalidCount { .. }
            | filemap::Error::InvalidPermissions { .. } => Failure::Usage(e.to_string()),
            _ => Failure::Error(e.to_string()),
        }
    }
}

impl From<std::io::Error> for Failure {
    /// (The commands write to no pipe but standard output, and write to their children's
    /// with errors of their own.)
    fn from(e: std::io::Error) -> Failure {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            return Failure::ReaderGone;
        }
        Failure::Error(e.to_string())
    }
}

impl From<filemap_harness::Error> for Failure {
    fn from(e: filemap_harness::Error) -> Failure {
        Failure::Error(e.0)
    }
}

pub type Outcome = Result<ExitCode, Failure>;
