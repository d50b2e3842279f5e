//! Exact in-memory uniqueness sets, compact: a UUID key is kept as 16 bytes, any other key as a
//! 64-bit hash with its text in one arena (a hash match is confirmed against the text).

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

use crate::batch::RowBatch;
use crate::types::Cell;

/// The keys seen so far of one constraint.
#[derive(Default)]
pub(crate) struct KeySet {
    uuids: U128Set,
    hashed: HashMap<u64, (u32, u32), Mix>,
    arena: String,
    collided: HashSet<Box<str>>,
}

impl KeySet {
    /// Adds `key`; false when it was there already.
    pub fn insert(&mut self, key: &str) -> bool {
        if let Some(u) = parse_uuid(key) {
            return self.uuids.insert(u);
        }
        self.insert_other(key)
    }

    /// Adds `key`, which is not a UUID.
    fn insert_other(&mut self, key: &str) -> bool {
        let h = hash(key.as_bytes());
        match self.hashed.get(&h) {
            None => {
                let start = self.arena.len() as u32;
                self.arena.push_str(key);
                self.hashed.insert(h, (start, key.len() as u32));
                true
            }
            Some(&(s, l)) => {
                if &self.arena[s as usize..(s + l) as usize] == key {
                    false
                } else {
                    self.collided.insert(key.into())
                }
            }
        }
    }
}

/// A set of 128-bit keys in one flat open-addressed table (linear probing, 0 marks a free
/// slot, the key 0 kept aside): one cache line touched per insert, and a tight insert loop over
/// a chunk's keys lets the CPU overlap the cache misses of consecutive keys, which is most of
/// the cost once the set outgrows the caches.
#[derive(Default)]
pub(crate) struct U128Set {
    slots: Vec<u128>,
    len: usize,
    has_zero: bool,
}

impl U128Set {
    /// Makes room for `more` keys without growing.
    pub fn reserve(&mut self, more: usize) {
        while (self.len + more) * 4 > self.slots.len() * 3 {
            self.grow();
        }
    }

    /// Adds `k`; false when it was there already.
    #[inline]
    pub fn insert(&mut self, k: u128) -> bool {
        if k == 0 {
            return !std::mem::replace(&mut self.has_zero, true);
        }
        // At most 3/4 full.
        if (self.len + 1) * 4 > self.slots.len() * 3 {
            self.grow();
        }
        let mask = self.slots.len() - 1;
        let mut i = Self::home(k, mask);
        loop {
            let s = self.slots[i];
            if s == 0 {
                self.slots[i] = k;
                self.len += 1;
                return true;
            }
            if s == k {
                return false;
            }
            i = (i + 1) & mask;
        }
    }

    #[inline]
    fn home(k: u128, mask: usize) -> usize {
        // Not every UUID is random (v1 ends in a node id, v7 starts with a time): mix both halves.
        let m = ((k as u64) ^ ((k >> 64) as u64).rotate_left(32)) as u128 * 0x9e37_79b9_7f4a_7c15;
        (((m >> 64) as u64) ^ (m as u64)) as usize & mask
    }

    fn grow(&mut self) {
        let cap = (self.slots.len() * 2).max(1024);
        let old = std::mem::replace(&mut self.slots, vec![0; cap]);
        let mask = cap - 1;
        for k in old.into_iter().filter(|&k| k != 0) {
            let mut i = Self::home(k, mask);
            while self.slots[i] != 0 {
                i = (i + 1) & mask;
            }
            self.slots[i] = k;
        }
    }
}

/// Keys here are UUID bits or already hashes: a multiply-fold is all the hashing they need
/// (SipHash showed up at a few percent of the whole validation).
type Mix = BuildHasherDefault<MixHasher>;

#[derive(Default)]
pub(crate) struct MixHasher(u64);

impl Hasher for MixHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ b as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }
    fn write_u64(&mut self, v: u64) {
        let m = (v ^ self.0) as u128 * 0x9e37_79b9_7f4a_7c15u128;
        self.0 = (m as u64) ^ ((m >> 64) as u64);
    }
    fn write_u128(&mut self, v: u128) {
        self.write_u64(v as u64 ^ (v >> 64) as u64 ^ (v >> 96) as u64);
    }
}

/// Uniqueness of several constraints (each a list of field slots) across a file.
pub(crate) struct UniqueTracker {
    constraints: Vec<(Vec<usize>, KeySet)>,
    text: String,
}

impl UniqueTracker {
    pub fn new(constraints: Vec<Vec<usize>>) -> Self {
        UniqueTracker {
            constraints: constraints
                .into_iter()
                .map(|c| (c, KeySet::default()))
                .collect(),
            text: String::new(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.constraints.is_empty()
    }

    /// Checks row `i` of `batch` against every constraint, recording its keys. Returns the
    /// first constraint it violates (its slots), if any. A key with a null part is not checked.
    pub fn check(&mut self, batch: &RowBatch, i: usize) -> Option<&[usize]> {
        let mut violated = None;
        for (n, (slots, set)) in self.constraints.iter_mut().enumerate() {
            if slots
                .iter()
                .any(|&s| matches!(batch.cell(i, s), Cell::Null))
            {
                continue;
            }
            batch.key_text(i, slots, &mut self.text);
            if !set.insert(&self.text) && violated.is_none() {
                violated = Some(n);
            }
        }
        violated.map(|n| self.constraints[n].0.as_slice())
    }

    /// Checks every row of `batch`, in order, against every constraint, recording their keys.
    /// Returns, per row, the first constraint it violates (its position in the constraints),
    /// or `usize::MAX`. A key with a null part is not checked.
    ///
    /// Constraints are independent sets, so each is run over the whole batch in turn; UUID keys
    /// are parsed first and then inserted in one tight loop (see [`U128Set`]).
    pub fn check_batch(&mut self, batch: &RowBatch) -> Vec<usize> {
        let n = batch.len();
        let mut first = vec![usize::MAX; n];
        let mut uuids: Vec<(u128, usize)> = Vec::new();
        for (c, (slots, set)) in self.constraints.iter_mut().enumerate() {
            uuids.clear();
            for (i, f) in first.iter_mut().enumerate() {
                if slots
                    .iter()
                    .any(|&s| matches!(batch.cell(i, s), Cell::Null))
                {
                    continue;
                }
                // A one-field text key is read in place; others are joined into `text` first.
                let one = match slots.as_slice() {
                    [s] => Some(batch.cell(i, *s)),
                    _ => None,
                };
                let key = match one {
                    Some(Cell::Str(t)) => t,
                    _ => {
                        batch.key_text(i, slots, &mut self.text);
                        self.text.as_str()
                    }
                };
                match parse_uuid(key) {
                    Some(u) => uuids.push((u, i)),
                    None => {
                        if !set.insert_other(key) && *f == usize::MAX {
                            *f = c;
                        }
                    }
                }
            }
            set.uuids.reserve(uuids.len());
            for &(u, i) in &uuids {
                if !set.uuids.insert(u) && first[i] == usize::MAX {
                    first[i] = c;
                }
            }
        }
        first
    }

    /// The slots of constraint `n`.
    pub fn slots(&self, n: usize) -> &[usize] {
        &self.constraints[n].0
    }
}

fn hash(b: &[u8]) -> u64 {
    // FNV-1a: keys are short; a collision is confirmed against the text anyway.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &x in b {
        h = (h ^ x as u64).wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// An 8-4-4-4-12 lower-case hex UUID as a number. (Keys compare as text, so an upper-case
/// UUID takes the hashed path rather than meeting its lower-case twin here.)
pub(crate) fn parse_uuid(s: &str) -> Option<u128> {
    let b: &[u8; 36] = s.as_bytes().try_into().ok()?;
    if b[8] != b'-' || b[13] != b'-' || b[18] != b'-' || b[23] != b'-' {
        return None;
    }
    // Branch-free over the 32 digits (fixed positions, so fully unrolled): invalid digits set
    // the high bit of `bad`.
    let mut v: u128 = 0;
    let mut bad = 0u8;
    for p in UUID_DIGITS {
        let d = HEX[b[p] as usize];
        bad |= d;
        v = v << 4 | (d & 0x0f) as u128;
    }
    (bad & 0x80 == 0).then_some(v)
}

/// Where the 32 hex digits of an 8-4-4-4-12 UUID are.
pub(crate) const UUID_DIGITS: [usize; 32] = {
    let mut t = [0usize; 32];
    let (mut i, mut p) = (0, 0);
    while p < 36 {
        if !matches!(p, 8 | 13 | 18 | 23) {
            t[i] = p;
            i += 1;
        }
        p += 1;
    }
    t
};

/// Lower-case hex digit values; 0x80 marks anything else.
static HEX: [u8; 256] = {
    let mut t = [0x80u8; 256];
    let mut i = 0;
    while i < 10 {
        t[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        t[b'a' as usize + i] = 10 + i as u8;
        i += 1;
    }
    t
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keysets_are_exact() {
        let mut s = KeySet::default();
        assert!(s.insert("3f1c1d9e-8a3b-4c1e-9d5e-2b7a6c4d8e9f"));
        assert!(!s.insert("3f1c1d9e-8a3b-4c1e-9d5e-2b7a6c4d8e9f"));
        assert!(s.insert("abc"));
        assert!(!s.insert("abc"));
        assert!(s.insert("abd"));
        assert!(s.insert(""));
        assert!(!s.insert(""));
    }

    #[test]
    fn u128_sets_are_exact() {
        let mut s = U128Set::default();
        for k in 0..5000u128 {
            assert!(s.insert(k * 0x1_0000_0000_0000_0001));
        }
        s.reserve(100_000);
        for k in 0..5000u128 {
            assert!(!s.insert(k * 0x1_0000_0000_0000_0001));
        }
        assert!(s.insert(u128::MAX));
        assert!(!s.insert(u128::MAX));
        assert_eq!(s.len, 5000);
    }

    #[test]
    fn uuids_parse() {
        assert!(parse_uuid("3f1c1d9e-8a3b-4c1e-9d5e-2b7a6c4d8e9f").is_some());
        assert!(parse_uuid("3f1c1d9e-8a3b-4c1e-9d5e-2b7a6c4d8e9").is_none());
        assert!(parse_uuid("3f1c1d9e_8a3b-4c1e-9d5e-2b7a6c4d8e9f").is_none());
        assert!(parse_uuid("3f1c1d9g-8a3b-4c1e-9d5e-2b7a6c4d8e9f").is_none());
        assert!(parse_uuid("3F1C1D9E-8A3B-4C1E-9D5E-2B7A6C4D8E9F").is_none());
        let mut s = KeySet::default();
        assert!(s.insert("3F1C1D9E-8A3B-4C1E-9D5E-2B7A6C4D8E9F"));
        assert!(s.insert("3f1c1d9e-8a3b-4c1e-9d5e-2b7a6c4d8e9f"));
        assert!(!s.insert("3F1C1D9E-8A3B-4C1E-9D5E-2B7A6C4D8E9F"));
    }
}
