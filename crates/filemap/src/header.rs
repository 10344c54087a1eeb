//! The header at the start of every filemap entry: its byte layout, encoding and defensive
//! parsing.
//!
//! All fields are fixed-width little-endian at fixed offsets, so that any process (and any
//! language, see the interop docs) can read them:
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 8 | magic `b"FILEMAP\0"` |
//! | 8 | 4 | format version (1) |
//! | 12 | 4 | kind (1 mapping, 2 mutex, 3 event, 4 semaphore, 5 shared mutex, 6 channel, 7 topic, 8 inbox, 9 service) |
//! | 16 | 4 | flags (1 persistent, 2 reserve, 4 file-backed, 8 executable, 16 shared file, 32 exclusive file, 64 large pages) |
//! | 20 | 4 | permissions the creator asked for (e.g. 0o600) |
//! | 24 | 8 | logical size of the data in bytes |
//! | 32 | 8 | data offset: where user offset 0 is, from the start of the entry |
//! | 40 | 4 | creator pid |
//! | 44 | 4 | creator uid |
//! | 48 | 8 | creation time, nanoseconds since the Unix epoch |
//! | 56 | 8 | layout size (typed regions) |
//! | 64 | 8 | layout alignment |
//! | 72 | 8 | layout type-name hash |
//! | 80 | 4 | protection (1 read-only, 2 read-write, 3 write-copy) |
//! | 84 | 44 | reserved, zero |
//! | 128 | .. | kind-specific; file-backed: device (8), inode (8), path length (4), path bytes |
//!
//! The header occupies the entry's first [`HEADER_AREA`] bytes; the data of a memory-backed
//! object starts at the data offset, one allocation granule in.

use crate::error::{Error, Result};
use crate::name::Name;
use crate::vocabulary::{Kind, Protection, ShareMode};

/// `b"FILEMAP\0"`.
pub(crate) const MAGIC: [u8; 8] = *b"FILEMAP\0";
/// The format version this build writes and reads.
pub(crate) const VERSION: u32 = 1;
/// Bytes of the fixed part (everything before the kind-specific area).
pub(crate) const FIXED_LEN: usize = 128;
/// Bytes reserved for the header, kind-specific part included.
pub(crate) const HEADER_AREA: usize = 4096;
/// Bytes at the start of a synchronisation object's data area (mutex, event, semaphore and
/// shared value) that hold its words; a shared value's bytes follow them.
pub(crate) const SYNC_AREA: usize = 64;

bitflags::bitflags! {
    /// The header's flags (offset 16).
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub(crate) struct Flags: u32 {
        /// The object outlives its handles until removed explicitly.
        const PERSISTENT = 1;
        /// Memory is allocated on `commit`, not at creation.
        const RESERVE = 2;
        /// The data lives in a file recorded in the header, not in the entry.
        const FILE_BACKED = 4;
        /// Views may be made executable (`PAGE_EXECUTE_READWRITE` sections on Windows).
        const EXECUTABLE = 8;
        /// File-backed: every mapping of the file shares it (no exclusive user meanwhile).
        const SHARE_SHARED = 16;
        /// File-backed: the creator maps the file alone.
        const SHARE_EXCLUSIVE = 32;
        /// Large pages: views are advised to use huge pages; with a data offset of a whole
        /// huge page, the object lives on explicit huge pages (hugetlb).
        const LARGE_PAGES = 64;
    }
}

const FILE_PATH_AT: usize = FIXED_LEN + 20;
/// The longest file path a file-backed entry can record.
pub(crate) const MAX_PATH_LEN: usize = HEADER_AREA - FILE_PATH_AT;

/// The layout of a typed region (`SharedMutex<T>`): zero for untyped objects.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Layout {
    pub size: u64,
    pub align: u64,
    pub type_hash: u64,
}

/// The file behind a file-backed entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct FileRecord {
    pub dev: u64,
    pub ino: u64,
    /// The path's bytes (UTF-8 on Windows, raw bytes on Unix).
    pub path: Vec<u8>,
}

/// A decoded header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Header {
    pub kind: Kind,
    pub flags: Flags,
    pub mode: u32,
    pub size: u64,
    pub data_offset: u64,
    pub creator_pid: u32,
    pub creator_uid: u32,
    pub created_unix_ns: u64,
    pub layout: Layout,
    pub protection: Protection,
    pub file: Option<FileRecord>,
}

fn protection_code(p: Protection) -> u32 {
    match p {
        Protection::ReadOnly => 1,
        Protection::ReadWrite => 2,
        Protection::WriteCopy => 3,
    }
}

fn protection_from_code(c: u32) -> Option<Protection> {
    match c {
        1 => Some(Protection::ReadOnly),
        2 => Some(Protection::ReadWrite),
        3 => Some(Protection::WriteCopy),
        _ => None,
    }
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

/// `Error::KindMismatch` unless the object of `header` (named `name`) is of the kind
/// `expected`: every opener's check, made before anything of a data area another kind lays
/// out otherwise is mapped.
pub(crate) fn check_kind(name: &Name, header: &Header, expected: Kind) -> Result<()> {
    if header.kind != expected {
        return Err(Error::KindMismatch {
            name: name.to_string(),
            found: header.kind,
            expected,
        });
    }
    Ok(())
}

impl Header {
    /// Checks that the data area is as large as the object's kind needs, so that nothing
    /// an opener maps or dereferences for that kind lies past what the header claims
    /// (which [`decode`](Header::decode) has checked against the entry's real length).
    fn check_kind_needs(&self) -> Result<(), String> {
        let (kind, size) = (self.kind, self.size);
        match kind {
            Kind::Mutex | Kind::Event | Kind::Semaphore if size < SYNC_AREA as u64 => Err(format!(
                "a {kind} of only {size} bytes (it needs at least {SYNC_AREA})"
            )),
            Kind::SharedMutex => {
                let Layout {
                    size: value, align, ..
                } = self.layout;
                if !align.is_power_of_two() || align > SYNC_AREA as u64 {
                    return Err(format!("a shared value aligned to {align} bytes"));
                }
                match value.checked_add(SYNC_AREA as u64) {
                    Some(need) if need <= size => Ok(()),
                    _ => Err(format!(
                        "a shared value of {value} bytes in a data area of only {size} bytes"
                    )),
                }
            }
            _ => Ok(()),
        }
    }

    /// The permissions of the entry that holds this header: the object's, but for a
    /// file-backed object never writable by the group or others. Its data is in its file
    /// (whose own permissions say who may write it); its entry holds only the header,
    /// which names that file: a user who could write the header could point every opener
    /// at any file, to be opened and mapped with the opener's rights.
    pub(crate) fn entry_mode(&self) -> u32 {
        if self.file.is_some() {
            self.mode & !0o022
        } else {
            self.mode
        }
    }

    pub(crate) fn is_persistent(&self) -> bool {
        self.flags.contains(Flags::PERSISTENT)
    }

    pub(crate) fn is_file_backed(&self) -> bool {
        self.flags.contains(Flags::FILE_BACKED)
    }

    pub(crate) fn is_reserve(&self) -> bool {
        self.flags.contains(Flags::RESERVE)
    }

    pub(crate) fn is_large_pages(&self) -> bool {
        self.flags.contains(Flags::LARGE_PAGES)
    }

    pub(crate) fn is_executable(&self) -> bool {
        self.flags.contains(Flags::EXECUTABLE)
    }

    pub(crate) fn share_mode(&self) -> ShareMode {
        if self.flags.contains(Flags::SHARE_EXCLUSIVE) {
            ShareMode::Exclusive
        } else if self.flags.contains(Flags::SHARE_SHARED) {
            ShareMode::Shared
        } else {
            ShareMode::Any
        }
    }

    /// The entry's total length: header area plus data for memory-backed objects, just the
    /// header area for file-backed ones.
    pub(crate) fn entry_len(&self) -> u64 {
        if self.is_file_backed() {
            self.data_offset.max(HEADER_AREA as u64)
        } else {
            self.data_offset + self.size
        }
    }

    /// Encodes the header into its [`HEADER_AREA`] bytes (as an entry holds them: written
    /// whole, they also clear what a creator that died part way through left).
    #[cfg(any(windows, test, feature = "fuzzing"))]
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut b = self.encode_prefix();
        b.resize(HEADER_AREA, 0);
        b
    }

    /// The header's bytes up to the last one that can be other than zero (the fixed part,
    /// and a file-backed entry's file record): the rest of [`HEADER_AREA`] is zeros, which
    /// a new entry has already (or is written from a page of zeros, without a copy made
    /// here).
    pub(crate) fn encode_prefix(&self) -> Vec<u8> {
        let len = match &self.file {
            Some(f) => FILE_PATH_AT + f.path.len().min(MAX_PATH_LEN),
            None => FIXED_LEN,
        };
        let mut b = vec![0u8; len];
        b[0..8].copy_from_slice(&MAGIC);
        b[8..12].copy_from_slice(&VERSION.to_le_bytes());
        b[12..16].copy_from_slice(&self.kind.code().to_le_bytes());
        b[16..20].copy_from_slice(&self.flags.bits().to_le_bytes());
        b[20..24].copy_from_slice(&self.mode.to_le_bytes());
        b[24..32].copy_from_slice(&self.size.to_le_bytes());
        b[32..40].copy_from_slice(&self.data_offset.to_le_bytes());
        b[40..44].copy_from_slice(&self.creator_pid.to_le_bytes());
        b[44..48].copy_from_slice(&self.creator_uid.to_le_bytes());
        b[48..56].copy_from_slice(&self.created_unix_ns.to_le_bytes());
        b[56..64].copy_from_slice(&self.layout.size.to_le_bytes());
        b[64..72].copy_from_slice(&self.layout.align.to_le_bytes());
        b[72..80].copy_from_slice(&self.layout.type_hash.to_le_bytes());
        b[80..84].copy_from_slice(&protection_code(self.protection).to_le_bytes());
        if let Some(f) = &self.file {
            let at = FIXED_LEN;
            b[at..at + 8].copy_from_slice(&f.dev.to_le_bytes());
            b[at + 8..at + 16].copy_from_slice(&f.ino.to_le_bytes());
            let n = f.path.len().min(MAX_PATH_LEN);
            b[at + 16..at + 20].copy_from_slice(&(n as u32).to_le_bytes());
            b[FILE_PATH_AT..FILE_PATH_AT + n].copy_from_slice(&f.path[..n]);
        }
        b
    }

    /// Decodes and checks a header read from an entry whose total length is `entry_len`
    /// (`bytes` may be shorter than [`HEADER_AREA`] if the entry is). `granule` is the
    /// allocation granularity the data offset must be a multiple of.
    ///
    /// The error is a description of what is wrong, for [`crate::Error::Corrupt`].
    pub(crate) fn decode(bytes: &[u8], entry_len: u64, granule: u64) -> Result<Header, String> {
        if bytes.len() < FIXED_LEN {
            return Err(format!(
                "truncated: {} bytes, a header needs at least {FIXED_LEN}",
                bytes.len()
            ));
        }
        if bytes[0..8] != MAGIC {
            return Err("not a filemap entry (bad magic)".into());
        }
        let version = u32_at(bytes, 8);
        if version != VERSION {
            return Err(format!(
                "format version {version}, but this filemap reads version {VERSION}"
            ));
        }
        let kind_code = u32_at(bytes, 12);
        let kind = Kind::from_code(kind_code).ok_or_else(|| format!("unknown kind {kind_code}"))?;
        let raw_flags = u32_at(bytes, 16);
        let flags = Flags::from_bits(raw_flags)
            .ok_or_else(|| format!("unknown flags {:#x}", raw_flags & !Flags::all().bits()))?;
        let mode = u32_at(bytes, 20);
        if mode & !0o7777 != 0 {
            return Err(format!("invalid permissions {mode:#o}"));
        }
        let size = u64_at(bytes, 24);
        let data_offset = u64_at(bytes, 32);
        let protection_raw = u32_at(bytes, 80);
        let protection = protection_from_code(protection_raw)
            .ok_or_else(|| format!("unknown protection {protection_raw}"))?;
        let mut header = Header {
            kind,
            flags,
            mode,
            size,
            data_offset,
            creator_pid: u32_at(bytes, 40),
            creator_uid: u32_at(bytes, 44),
            created_unix_ns: u64_at(bytes, 48),
            layout: Layout {
                size: u64_at(bytes, 56),
                align: u64_at(bytes, 64),
                type_hash: u64_at(bytes, 72),
            },
            protection,
            file: None,
        };
        if header.is_file_backed() {
            if kind != Kind::Mapping {
                return Err(format!("a {kind} cannot be file-backed"));
            }
            if data_offset != 0 {
                return Err(format!(
                    "file-backed entry with data offset {data_offset} (must be 0)"
                ));
            }
            if bytes.len() < FILE_PATH_AT {
                return Err(format!(
                    "truncated: {} bytes, a file-backed header needs at least {FILE_PATH_AT}",
                    bytes.len()
                ));
            }
            let path_len = u32_at(bytes, FIXED_LEN + 16) as usize;
            if path_len == 0 || path_len > MAX_PATH_LEN || FILE_PATH_AT + path_len > bytes.len() {
                return Err(format!(
                    "file path length {path_len} does not fit in the entry's {} header bytes",
                    bytes.len()
                ));
            }
            header.file = Some(FileRecord {
                dev: u64_at(bytes, FIXED_LEN),
                ino: u64_at(bytes, FIXED_LEN + 8),
                path: bytes[FILE_PATH_AT..FILE_PATH_AT + path_len].to_vec(),
            });
        } else {
            if data_offset < HEADER_AREA as u64 || granule == 0 || data_offset % granule != 0 {
                return Err(format!(
                    "data offset {data_offset} is not a multiple of the allocation granularity \
                     {granule} past the header"
                ));
            }
            match data_offset.checked_add(size) {
                Some(end) if end <= entry_len => {}
                _ => {
                    return Err(format!(
                        "size {size} at data offset {data_offset} does not fit in the entry's \
                         {entry_len} bytes"
                    ));
                }
            }
        }
        if kind == Kind::Mapping && size == 0 {
            return Err("a mapping of size 0".into());
        }
        header.check_kind_needs()?;
        Ok(header)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(file: bool) -> Header {
        Header {
            kind: Kind::Mapping,
            flags: if file {
                Flags::FILE_BACKED
            } else {
                Flags::PERSISTENT
            },
            mode: 0o600,
            size: 12345,
            data_offset: if file { 0 } else { 4096 },
            creator_pid: 42,
            creator_uid: 1000,
            created_unix_ns: 1_700_000_000_000_000_000,
            layout: Layout {
                size: 8,
                align: 8,
                type_hash: 99,
            },
            protection: Protection::ReadWrite,
            file: file.then(|| FileRecord {
                dev: 7,
                ino: 8,
                path: b"/tmp/some file".to_vec(),
            }),
        }
    }

    #[test]
    fn round_trip() {
        for file in [false, true] {
            let h = sample(file);
            let b = h.encode();
            assert_eq!(b.len(), HEADER_AREA);
            let back = Header::decode(&b, 4096 + 12345, 4096).unwrap();
            assert_eq!(back, h);
        }
    }

    #[test]
    fn corrupt_headers_are_described() {
        let good = sample(false).encode();
        let err = |bytes: &[u8], len: u64| Header::decode(bytes, len, 4096).unwrap_err();
        assert!(err(&good[..10], 10).contains("truncated"));
        let mut b = good.clone();
        b[0] = b'X';
        assert!(err(&b, 20000).contains("magic"));
        let mut b = good.clone();
        b[8..12].copy_from_slice(&9u32.to_le_bytes());
        assert!(err(&b, 20000).contains("version 9"));
        let mut b = good.clone();
        b[12..16].copy_from_slice(&77u32.to_le_bytes());
        assert!(err(&b, 20000).contains("unknown kind 77"));
        let mut b = good.clone();
        b[16..20].copy_from_slice(&0x80u32.to_le_bytes());
        assert!(err(&b, 20000).contains("unknown flags"));
        assert!(err(&good, 4096 + 100).contains("does not fit"));
        let mut b = good.clone();
        b[32..40].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(err(&b, 20000).contains("data offset"));
        let mut b = good.clone();
        b[24..32].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(err(&b, 20000).contains("does not fit"));
        let mut b = good.clone();
        b[80..84].copy_from_slice(&0u32.to_le_bytes());
        assert!(err(&b, 20000).contains("protection"));
        let mut f = sample(true).encode();
        f[FIXED_LEN + 16..FIXED_LEN + 20].copy_from_slice(&5000u32.to_le_bytes());
        assert!(err(&f, 4096).contains("path length"));
    }

    #[test]
    fn decode_never_panics_on_prefixes() {
        let good = sample(true).encode();
        for n in 0..good.len() {
            let _ = Header::decode(&good[..n], n as u64, 4096);
        }
    }
}
