//! What a bridge puts on the wire besides the message: the attachment of each Zenoh
//! sample (the payload is the message's bytes, untouched).
//!
//! ```text
//! offset  size  field
//!      0     4  "FMB1" (filemap bridge, format 1)
//!      4     8  the message's sequence number in its topic, little-endian u64
//!     12     …  the publishing bridge's id, UTF-8 (host name and namespace identity: the same across restarts)
//! ```
//!
//! A plain Zenoh program may publish without an attachment (the importing bridge then
//! cannot tell gaps) and may ignore it when it subscribes.
//!
//! An exported service's replies carry a mark as their attachment ([`reply_mark`]):
//! [`REPLY_PART`] (a response of a stream) or [`REPLY_LAST`] (the last response), a space,
//! and the exporting bridge's id. A query that ends after a bridge's marked part but not
//! its last was cut short (the link, or that bridge, went away while it streamed), which
//! the query's end alone does not tell; the id tells two bridges that answer one query
//! apart. A plain Zenoh queryable replies without marks: its last reply is taken as the
//! last response.
//!
//! An importing bridge's queries carry a mark as their attachment too ([`query_mark`]):
//! [`QUERY`], a space, and the id of the importing bridge's namespace. An exporting bridge
//! refuses a query from its own namespace: there the service's server is the importing
//! bridge, so the request would go round between the two bridges for ever.

/// The attachment's first four bytes.
///
/// ```
/// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
/// use filemap_zenoh::wire::{attachment, MAGIC};
/// assert!(attachment(7, "host:/dev/shm").starts_with(MAGIC));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub const MAGIC: &[u8; 4] = b"FMB1";

/// The attachment for message `seq` published by the bridge `origin`.
///
/// ```
/// let a = filemap_zenoh::wire::attachment(7, "host:/dev/shm");
/// assert_eq!(&a[..4], b"FMB1");
/// assert_eq!(filemap_zenoh::wire::decode(&a), Some((7, "host:/dev/shm")));
/// ```
pub fn attachment(seq: u64, origin: &str) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(12 + origin.len());
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&seq.to_le_bytes());
    bytes.extend_from_slice(origin.as_bytes());
    bytes
}

/// A decoded attachment: the sequence number and the publishing bridge's id; `None` for
/// one that is not a bridge's (absent, or another program's).
///
/// ```
/// assert_eq!(filemap_zenoh::wire::decode(b"not a bridge's"), None);
/// ```
pub fn decode(bytes: &[u8]) -> Option<(u64, &str)> {
    let rest = bytes.strip_prefix(MAGIC)?;
    let seq = u64::from_le_bytes(rest.get(..8)?.try_into().ok()?);
    let origin = rest.get(8..).filter(|o| o.len() <= MAX_ORIGIN)?;
    Some((seq, std::str::from_utf8(origin).ok()?))
}

/// The longest id a bridge has (a host name, a directory's path, and its device and inode
/// in hex), and so the longest an importing bridge keeps (it notes the next sequence
/// number of each id it hears from).
///
/// ```
/// # let _dir = tempfile::tempdir().unwrap(); unsafe { std::env::set_var("FILEMAP_DIR", _dir.path()) };
/// use filemap_zenoh::wire::{attachment, decode, MAX_ORIGIN};
/// let longest = "h".repeat(MAX_ORIGIN);
/// assert_eq!(decode(&attachment(1, &longest)), Some((1, longest.as_str())));
/// let longer = "h".repeat(MAX_ORIGIN + 1);
/// assert_eq!(decode(&attachment(1, &longer)), None); // no bridge's id
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub const MAX_ORIGIN: usize = 255 + 1 + 4096 + 34;

/// How the mark of an exported service's reply that is a response of a stream (more
/// follow) begins.
pub const REPLY_PART: &[u8] = b"FMR1 part";

/// How the mark of an exported service's reply that is the request's last response
/// begins.
pub const REPLY_LAST: &[u8] = b"FMR1 last";

/// The mark of a reply the bridge `origin` sends: the last response or a part.
///
/// ```
/// use filemap_zenoh::wire::{decode_reply_mark, reply_mark};
/// let mark = reply_mark(false, "host:/dev/shm");
/// assert_eq!(mark, b"FMR1 part host:/dev/shm");
/// assert_eq!(decode_reply_mark(&mark), Some((false, "host:/dev/shm")));
/// assert_eq!(decode_reply_mark(b"another program's"), None);
/// ```
pub fn reply_mark(last: bool, origin: &str) -> Vec<u8> {
    let kind = if last { REPLY_LAST } else { REPLY_PART };
    [kind, b" ", origin.as_bytes()].concat()
}

/// The longest id in a reply mark: an exporting bridge's id ([`MAX_ORIGIN`]), `#`, and its
/// Zenoh session's id (16 bytes, at most 32 hex digits), so that two bridges of one
/// namespace that export a service are two.
///
/// ```
/// use filemap_zenoh::wire::{MAX_ORIGIN, MAX_REPLY_ID};
/// assert_eq!(MAX_REPLY_ID, MAX_ORIGIN + "#".len() + 32);
/// ```
pub const MAX_REPLY_ID: usize = MAX_ORIGIN + 1 + 32;

/// The longest reply mark: its kind, a space and the longest id. An attachment longer than
/// this is no bridge's mark (and is not copied to find out).
///
/// ```
/// use filemap_zenoh::wire::{decode_reply_mark, reply_mark, MAX_REPLY_ID, MAX_REPLY_MARK};
/// let longest = "h".repeat(MAX_REPLY_ID);
/// assert_eq!(reply_mark(true, &longest).len(), MAX_REPLY_MARK);
/// assert_eq!(decode_reply_mark(&reply_mark(true, &longest)), Some((true, longest.as_str())));
/// assert_eq!(decode_reply_mark(&reply_mark(true, &format!("{longest}h"))), None);
/// ```
pub const MAX_REPLY_MARK: usize = REPLY_LAST.len() + 1 + MAX_REPLY_ID;

/// A reply's mark: whether it is the last response, and the exporting bridge's id;
/// `None` for an attachment that is no bridge's mark.
pub fn decode_reply_mark(bytes: &[u8]) -> Option<(bool, &str)> {
    let (last, rest) = match bytes {
        _ if bytes.starts_with(REPLY_LAST) => (true, &bytes[REPLY_LAST.len()..]),
        _ if bytes.starts_with(REPLY_PART) => (false, &bytes[REPLY_PART.len()..]),
        _ => return None,
    };
    let origin = rest
        .strip_prefix(b" ")
        .filter(|o| o.len() <= MAX_REPLY_ID)?;
    Some((last, std::str::from_utf8(origin).ok()?))
}

/// How the mark of an importing bridge's query begins.
///
/// ```
/// assert!(filemap_zenoh::wire::query_mark("host:/dev/shm").starts_with(filemap_zenoh::wire::QUERY));
/// ```
pub const QUERY: &[u8] = b"FMQ1";

/// The mark of a query that the bridge of namespace `origin` sends for a request.
///
/// ```
/// use filemap_zenoh::wire::{decode_query_mark, query_mark};
/// let mark = query_mark("host:/dev/shm");
/// assert_eq!(mark, b"FMQ1 host:/dev/shm");
/// assert_eq!(decode_query_mark(&mark), Some("host:/dev/shm"));
/// assert_eq!(decode_query_mark(b"another program's"), None);
/// ```
pub fn query_mark(origin: &str) -> Vec<u8> {
    [QUERY, b" ", origin.as_bytes()].concat()
}

/// A query's mark: the importing bridge's namespace id; `None` for an attachment that is
/// no bridge's mark (a plain Zenoh program's query).
///
/// ```
/// use filemap_zenoh::wire::decode_query_mark;
/// assert_eq!(decode_query_mark(b"FMQ1 host:/dev/shm"), Some("host:/dev/shm"));
/// assert_eq!(decode_query_mark(b"FMQ1host"), None); // no space after the mark
/// ```
pub fn decode_query_mark(bytes: &[u8]) -> Option<&str> {
    let origin = bytes.strip_prefix(QUERY)?.strip_prefix(b" ");
    std::str::from_utf8(origin.filter(|o| o.len() <= MAX_ORIGIN)?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attachments_round_trip_and_foreign_ones_are_refused() {
        let a = attachment(0x0102_0304_0506_0708, "host-1-abc");
        assert_eq!(&a[..4], b"FMB1");
        assert_eq!(&a[4..12], &[8, 7, 6, 5, 4, 3, 2, 1]);
        assert_eq!(decode(&a), Some((0x0102_0304_0506_0708, "host-1-abc")));
        assert_eq!(decode(b"FMB1\x01"), None, "too short");
        assert_eq!(decode(b"hello world!!"), None, "not ours");
        assert_eq!(decode(&[]), None);
        let mut bad = attachment(1, "x");
        bad.push(0xff);
        assert_eq!(decode(&bad), None, "not UTF-8");
        let long = attachment(1, &"x".repeat(MAX_ORIGIN + 1));
        assert_eq!(decode(&long), None, "longer than any bridge's id");
    }
}
