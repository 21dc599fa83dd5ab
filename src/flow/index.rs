//! The connection index: connection ids by the hash of their endpoint pair.
//!
//! An open-addressing table with linear probing whose 8-byte entries hold 32 bits of
//! the hash (the tag, which also gives the entry's home position) and the id. A
//! lookup usually reads one cache line; whether an entry whose tag matches is the
//! connection sought is decided by the caller, who compares the endpoints stored in
//! the connection (it is about to update that connection anyway). Removal shifts the
//! following entries back (no tombstones), so lookups never slow down with churn.
//!
//! With hundreds of thousands of connections the table no longer fits in the caches;
//! a general-purpose map reads two lines per lookup (control bytes, then the bucket).

use super::ConnId;

/// An unused entry. No real entry equals it: ids never reach `u32::MAX`.
const EMPTY: u64 = u64::MAX;

/// Smallest table (entries); a power of two.
const MIN_ENTRIES: usize = 16;

pub(super) struct Index {
    entries: Vec<u64>,
    len: usize,
}

fn entry(hash: u64, id: ConnId) -> u64 {
    debug_assert!(id != ConnId::MAX);
    (u64::from(hash as u32) << 32) | u64::from(id)
}

fn tag(entry: u64) -> u32 {
    (entry >> 32) as u32
}

fn id(entry: u64) -> ConnId {
    entry as ConnId
}

impl Index {
    pub fn new() -> Self {
        Index {
            entries: vec![EMPTY; MIN_ENTRIES],
            len: 0,
        }
    }

    fn mask(&self) -> usize {
        self.entries.len() - 1
    }

    /// Where an entry with this tag is placed when nothing is in the way.
    fn home(&self, tag: u32) -> usize {
        tag as usize & self.mask()
    }

    /// The id whose entry has this hash and for which `is` says yes.
    #[inline]
    pub fn find(&self, hash: u64, mut is: impl FnMut(ConnId) -> bool) -> Option<ConnId> {
        let wanted = hash as u32;
        let mask = self.mask();
        let mut i = self.home(wanted);
        loop {
            let e = self.entries[i];
            if e == EMPTY {
                return None;
            }
            if tag(e) == wanted && is(id(e)) {
                return Some(id(e));
            }
            i = (i + 1) & mask;
        }
    }

    /// Adds `id` under `hash` (the caller knows it is not there yet).
    pub fn insert(&mut self, hash: u64, id: ConnId) {
        // At most 3/4 full: probe runs stay short.
        if (self.len + 1) * 4 > self.entries.len() * 3 {
            self.grow();
        }
        self.place(entry(hash, id));
        self.len += 1;
    }

    /// Removes the entry of `id` under `hash`; `false` if there is none.
    pub fn remove(&mut self, hash: u64, id: ConnId) -> bool {
        let target = entry(hash, id);
        let mask = self.mask();
        let mut hole = self.home(tag(target));
        loop {
            match self.entries[hole] {
                EMPTY => return false,
                e if e == target => break,
                _ => hole = (hole + 1) & mask,
            }
        }
        // Shift back every following entry of the run that may move into the hole:
        // one whose home is not cyclically after the hole (Knuth, vol. 3, 6.4 R).
        let mut j = hole;
        loop {
            j = (j + 1) & mask;
            let e = self.entries[j];
            if e == EMPTY {
                break;
            }
            let home = self.home(tag(e));
            if (j.wrapping_sub(home) & mask) >= (j.wrapping_sub(hole) & mask) {
                self.entries[hole] = e;
                hole = j;
            }
        }
        self.entries[hole] = EMPTY;
        self.len -= 1;
        true
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.len
    }

    fn place(&mut self, e: u64) {
        let mask = self.mask();
        let mut i = self.home(tag(e));
        while self.entries[i] != EMPTY {
            i = (i + 1) & mask;
        }
        self.entries[i] = e;
    }

    fn grow(&mut self) {
        let doubled = vec![EMPTY; self.entries.len() * 2];
        let old = std::mem::replace(&mut self.entries, doubled);
        for e in old.into_iter().filter(|&e| e != EMPTY) {
            self.place(e);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    /// xorshift64: deterministic test input without a dependency.
    fn next(state: &mut u64) -> u64 {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        *state
    }

    #[test]
    fn finds_what_was_inserted_and_nothing_after_removal() {
        let mut index = Index::new();
        for id in 0..1000u32 {
            index.insert(u64::from(id).wrapping_mul(0x9e37_79b9_7f4a_7c15), id);
        }
        for id in 0..1000u32 {
            let hash = u64::from(id).wrapping_mul(0x9e37_79b9_7f4a_7c15);
            assert_eq!(index.find(hash, |found| found == id), Some(id));
            assert!(index.remove(hash, id));
            assert_eq!(index.find(hash, |found| found == id), None);
            assert!(!index.remove(hash, id));
        }
        assert_eq!(index.len(), 0);
    }

    #[test]
    fn equal_hashes_are_told_apart_by_the_callers_check() {
        let mut index = Index::new();
        for id in 0..40 {
            index.insert(7, id);
        }
        for id in (0..40).step_by(3) {
            assert!(index.remove(7, id));
        }
        for id in 0..40 {
            let expected = (id % 3 != 0).then_some(id);
            assert_eq!(index.find(7, |found| found == id), expected, "id {id}");
        }
    }

    #[test]
    fn random_inserts_and_removals_agree_with_a_map() {
        let mut state = 0x2545_f491_4f6c_dd1d;
        let mut index = Index::new();
        let mut model: HashMap<u32, u64> = HashMap::new();
        let mut ids = Vec::new();
        for step in 0..200_000u32 {
            let r = next(&mut state);
            // Now and then one of a few equal hashes, so that entries share tags.
            let hash = if r % 16 == 0 { r & 0xf } else { r };
            if r % 3 == 0 && !ids.is_empty() {
                let victim = ids.swap_remove((r >> 32) as usize % ids.len());
                let h = model.remove(&victim).expect("present");
                assert!(index.remove(h, victim));
            } else {
                index.insert(hash, step);
                model.insert(step, hash);
                ids.push(step);
            }
            if step % 10_000 == 0 {
                for (&id, &h) in &model {
                    assert_eq!(index.find(h, |found| found == id), Some(id));
                }
            }
        }
        assert_eq!(index.len(), model.len());
    }
}
