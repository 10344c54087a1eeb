//! The platform seam: the only place that calls the operating system.
//!
//! Each backend provides the same crate-private items, which the platform-neutral modules
//! above use without knowing where they run:
//!
//! - `allocation_granularity()`, `current_pid()`, `current_uid()`;
//! - `Section`: storage that views can be mapped from (a memory entry or a file), and
//!   `RawView`, one mapped region, unmapped on drop;
//! - `Entry`: a handle on a named namespace entry or an unnamed memory object, which holds
//!   the object's lifetime and its header; `create_entry`, `open_entry`, `remove_entry`;
//! - `list_entries()` and `collect_garbage()` for `filemap ls` / `filemap gc`;
//! - the file helpers for file-backed mappings and the handle-sharing helpers.

#[cfg(target_os = "linux")]
mod linux;
#[cfg(target_os = "linux")]
pub(crate) use linux::*;

#[cfg(windows)]
mod windows;
#[cfg(windows)]
pub(crate) use windows::*;

#[cfg(not(any(target_os = "linux", windows)))]
compile_error!("filemap supports Linux and Windows");
