//! A client's set of pending request ids, each with where its request ends in the ring.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// A client's pending requests: each id with where its request ends in the request ring.
/// Most clients have one request in flight at a time: it is kept in a field of its own, so
/// a round trip does no hashing at all; the others go in a map.
#[derive(Debug, Default)]
pub(super) struct Pending {
    one: Option<(u64, u64)>,
    more: HashMap<u64, u64, BuildHasherDefault<IdHasher>>,
}

impl Pending {
    #[inline]
    pub(super) fn insert(&mut self, id: u64, end: u64) {
        match self.one {
            None if self.more.is_empty() || !self.more.contains_key(&id) => {
                self.one = Some((id, end))
            }
            Some((one, _)) if one == id => self.one = Some((id, end)),
            _ => {
                self.more.insert(id, end);
            }
        }
    }

    #[inline]
    pub(super) fn contains(&self, id: u64) -> bool {
        self.one.is_some_and(|(one, _)| one == id)
            || (!self.more.is_empty() && self.more.contains_key(&id))
    }

    #[inline]
    pub(super) fn remove(&mut self, id: u64) {
        if self.one.is_some_and(|(one, _)| one == id) {
            self.one = None;
        } else if !self.more.is_empty() {
            self.more.remove(&id);
        }
    }

    /// Removes the requests that end at or before `position` in the request ring; how
    /// many.
    pub(super) fn remove_taken(&mut self, position: u64) -> usize {
        let before = self.len();
        if self.one.is_some_and(|(_, end)| end <= position) {
            self.one = None;
        }
        self.more.retain(|_, end| *end > position);
        before - self.len()
    }

    pub(super) fn len(&self) -> usize {
        usize::from(self.one.is_some()) + self.more.len()
    }

    pub(super) fn clear(&mut self) {
        self.one = None;
        self.more.clear();
    }
}

/// Hashes a request id (this client's own counter, so no adversary picks the values) with
/// one multiplication: a round trip costs a few hundred nanoseconds, and SipHash's share of
/// that showed.
#[derive(Debug, Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
        }
    }

    fn write_u64(&mut self, id: u64) {
        self.0 = id.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::Pending;

    #[test]
    fn pending_ids_in_and_beyond_the_first_field() {
        let mut p = Pending::default();
        assert!(!p.contains(1));
        p.insert(1, 64);
        p.insert(2, 128);
        p.insert(3, 192);
        p.insert(2, 128);
        assert_eq!(p.len(), 3);
        assert!(p.contains(1) && p.contains(2) && p.contains(3) && !p.contains(4));
        p.remove(1);
        assert!(!p.contains(1) && p.contains(2) && p.contains(3));
        p.insert(4, 256); // goes to the free first field
        assert_eq!(p.len(), 3);
        p.remove(3);
        p.remove(3);
        assert!(p.contains(2) && p.contains(4) && !p.contains(3));
        p.clear();
        assert_eq!(p.len(), 0);
        assert!(!p.contains(2) && !p.contains(4));
        // An id already in the set, inserted again while the first field is free.
        p.insert(5, 320);
        p.insert(6, 384);
        p.remove(5);
        p.insert(6, 384);
        assert_eq!(p.len(), 1);
        p.remove(6);
        assert!(!p.contains(6));
        assert_eq!(p.len(), 0);
    }

    #[test]
    fn requests_taken_before_a_position_fail() {
        let mut p = Pending::default();
        for (id, end) in [(1, 64), (2, 128), (3, 192), (4, 256)] {
            p.insert(id, end);
        }
        p.remove(1);
        p.insert(5, 320); // in the first field
        assert_eq!(p.remove_taken(128), 1);
        assert!(!p.contains(2) && p.contains(3) && p.contains(4) && p.contains(5));
        assert_eq!(p.remove_taken(100), 0);
        assert_eq!(p.remove_taken(320), 3);
        assert_eq!(p.len(), 0);
    }
}
