//! What a command returns: an exit code, or why it failed. Every command module uses these;
//! this module uses none of them.

use std::process::ExitCode;

/// Why a command failed: bad usage (exit 2) or an error (exit 1).
pub enum Failure {
    Usage(String),
    Error(String),
}

impl From<filemap::Error> for Failure {
    fn from(e: filemap::Error) -> Failure {
        Failure::Error(e.to_string())
    }
}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Failure {
        Failure::Error(e.to_string())
    }
}

impl From<filemap_harness::Error> for Failure {
    fn from(e: filemap_harness::Error) -> Failure {
        Failure::Error(e.0)
    }
}

pub type Outcome = Result<ExitCode, Failure>;
