//! Exact in-memory uniqueness sets, compact: a UUID key is kept as 16 bytes, any other key as a
//! 64-bit hash with its text in one arena (a hash match is confirmed against the text).
//!
//! The work is split where it can run: each validating thread reads its chunk's keys
//! ([`ChunkKeys`]: parsed, hashed, joined), and the in-order merge only inserts them
//! ([`UniqueTracker::check_keys`]), so the first occurrence in file order wins.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

use crate::batch::push_cell_text;
use crate::schema::Schema;
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
    #[cfg(test)]
    pub fn insert(&mut self, key: &str) -> bool {
        if let Some(u) = parse_uuid(key) {
            return self.uuids.insert(u);
        }
        self.insert_other(key)
    }

    /// Adds `key`, which is not a UUID.
    #[cfg(test)]
    fn insert_other(&mut self, key: &str) -> bool {
        self.insert_hashed(hash(key.as_bytes()), key)
    }

    /// Adds `key`, which is not a UUID and hashes to `h`.
    fn insert_hashed(&mut self, h: u64, key: &str) -> bool {
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
    /// Whether `more` keys fit without growing.
    pub fn has_room(&self, more: usize) -> bool {
        (self.len + more) * 4 <= self.slots.len() * 3
    }

    /// Makes room for `more` keys without growing: one new table of the final size (growing
    /// step by step allocated, faulted in and refilled every table on the way).
    pub fn reserve(&mut self, more: usize) {
        if !self.has_room(more) {
            let need = ((self.len + more) * 4).div_ceil(3);
            self.rebuild(need.next_power_of_two().max(1024));
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

    /// Asks the CPU to fetch the table line `k` would go to, so that its insert a few keys
    /// later does not wait on the cache miss (the table outgrows the caches on large files).
    #[inline]
    #[allow(unsafe_code)]
    pub fn prefetch(&self, k: u128) {
        if self.slots.is_empty() {
            return;
        }
        let i = Self::home(k, self.slots.len() - 1);
        #[cfg(target_arch = "x86_64")]
        // SAFETY: a prefetch is a hint: it never faults and changes no memory, whatever the
        // address; this one is inside the table anyway.
        unsafe {
            use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
            _mm_prefetch::<_MM_HINT_T0>(self.slots.as_ptr().add(i).cast::<i8>());
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = i;
    }

    #[inline]
    fn home(k: u128, mask: usize) -> usize {
        // Not every UUID is random (v1 ends in a node id, v7 starts with a time): mix both halves.
        let m = ((k as u64) ^ ((k >> 64) as u64).rotate_left(32)) as u128 * 0x9e37_79b9_7f4a_7c15;
        (((m >> 64) as u64) ^ (m as u64)) as usize & mask
    }

    fn grow(&mut self) {
        self.rebuild((self.slots.len() * 2).max(1024));
    }

    /// Moves every key into a new table of `cap` slots, a power of two.
    fn rebuild(&mut self, cap: usize) {
        let mut slots = vec![0; cap];
        advise_huge_pages(&mut slots);
        let old = std::mem::replace(&mut self.slots, slots);
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

/// Asks the kernel to back `table` with transparent huge pages, before it is written (Linux
/// with THP in `madvise` or `always` mode; elsewhere, or when refused, nothing changes).
///
/// A key set is written and read at random, one slot per key: in 4 KiB pages nearly every
/// insert into a table of a few MiB misses the TLB, and a page walk is slow, more so in a
/// virtual machine. In 2 MiB pages the whole table stays mapped in the TLB (one-core CSV
/// validation of 400k rows ran ~7% faster). Only the 2 MiB blocks wholly inside the table
/// are asked for.
fn advise_huge_pages(table: &mut [u128]) {
    const HUGE: usize = 2 << 20;
    let bytes = std::mem::size_of_val(table);
    if bytes < 2 * HUGE {
        return;
    }
    let start = table.as_mut_ptr() as usize;
    let first = start.next_multiple_of(HUGE);
    let len = (start + bytes).saturating_sub(first) / HUGE * HUGE;
    if len > 0 {
        madvise_huge(first, len);
    }
}

#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn madvise_huge(addr: usize, len: usize) {
    // SAFETY: `addr..addr + len` lies inside a live allocation this set owns (rounded inward
    // to 2 MiB boundaries, so it is page-aligned for every page size up to 2 MiB).
    // MADV_HUGEPAGE only tells the kernel how it may back those pages: it changes neither
    // their contents nor their mapping, and the allocator is not told anything it relies on.
    // The result is ignored on purpose: a refusal leaves the table working in small pages.
    unsafe {
        libc::madvise(addr as *mut libc::c_void, len, libc::MADV_HUGEPAGE);
    }
}

#[cfg(not(target_os = "linux"))]
fn madvise_huge(_addr: usize, _len: usize) {}

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

/// Which keys a pass checks for uniqueness across the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyScope {
    /// None.
    Nothing,
    /// The schema's per-file `unique` fields (a job: the primary key is the store's to enforce,
    /// across jobs).
    UniqueFields,
    /// The primary key and the `unique` fields (`validate`, which has no store).
    PrimaryKeyAndUnique,
}

impl KeyScope {
    /// The constraints of this scope, each a list of field slots.
    pub fn constraints(self, schema: &Schema) -> Vec<Vec<usize>> {
        let mut out: Vec<Vec<usize>> = Vec::new();
        if self == KeyScope::PrimaryKeyAndUnique {
            if let Some(pk) = schema.primary_key() {
                out.push(pk.to_vec());
            }
        }
        if self != KeyScope::Nothing {
            out.extend(schema.unique_slots().iter().map(|&s| vec![s]));
        }
        out
    }
}

/// What a constraint's key is made of, as the validating threads read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum KeyOf {
    /// One field with `format: uuid`: in a valid row its text is known to be a UUID.
    UuidField(usize),
    /// One field.
    Field(usize),
    /// Several fields, joined.
    Fields(Vec<usize>),
}

impl KeyOf {
    /// The key of each constraint (lists of field slots) of `schema`.
    pub fn plan(constraints: &[Vec<usize>], schema: &Schema) -> Vec<KeyOf> {
        constraints
            .iter()
            .map(|c| match c[..] {
                [s] if schema.is_uuid_field(s) => KeyOf::UuidField(s),
                [s] => KeyOf::Field(s),
                _ => KeyOf::Fields(c.clone()),
            })
            .collect()
    }

    fn slots(&self) -> &[usize] {
        match self {
            KeyOf::UuidField(s) | KeyOf::Field(s) => std::slice::from_ref(s),
            KeyOf::Fields(v) => v,
        }
    }
}

/// One row's key under one constraint, as the validating thread reads it: the set's work
/// (parsing, hashing, joining) is done there, so the in-order merge only inserts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Key {
    /// A part of the key is null: not checked.
    Null,
    /// A lower-case 8-4-4-4-12 UUID.
    /// Its bits, as two words: a `u128` would align the key to 16 bytes and make it 32.
    Uuid([u64; 2]),
    /// Any other key: its hash and its text in [`ChunkKeys`]' arena.
    Text { hash: u64, start: u32, len: u32 },
}

/// The keys of a chunk's valid rows: `per_row` keys for each row, in batch order.
#[derive(Debug, Default)]
pub(crate) struct ChunkKeys {
    per_row: usize,
    keys: Vec<Key>,
    text: String,
    join: String,
}

impl ChunkKeys {
    /// Keys for about `rows` rows, allocated once (growing by doubling showed up as copies
    /// and, with two threads, as heap the allocator kept).
    pub fn with_capacity(per_row: usize, rows: usize) -> Self {
        ChunkKeys {
            per_row,
            keys: Vec::with_capacity(if per_row == 0 { 0 } else { rows * per_row }),
            ..Default::default()
        }
    }

    /// Reads the keys of the next valid row from its cells, one per constraint.
    pub fn push_row(&mut self, cells: &[Cell<'_>], constraints: &[KeyOf]) {
        for of in constraints {
            if let KeyOf::UuidField(s) = of {
                // The row is valid, so the text passed the `uuid` format check: only decode.
                if let Some(Cell::Str(t)) = cells.get(*s) {
                    if let Some(u) = checked_uuid_bits(t) {
                        self.keys.push(Key::Uuid(split(u)));
                        continue;
                    }
                }
            }
            let slots = of.slots();
            let null = |s: &usize| matches!(cells.get(*s), None | Some(Cell::Null));
            let key = match (slots, slots.first().and_then(|s| cells.get(*s))) {
                // The common key: one text field, read in place.
                ([_], Some(Cell::Str(t))) => *t,
                _ if slots.iter().any(null) => {
                    self.keys.push(Key::Null);
                    continue;
                }
                _ => {
                    self.join.clear();
                    for (n, s) in slots.iter().enumerate() {
                        if n > 0 {
                            self.join.push('\u{1f}');
                        }
                        push_cell_text(
                            cells.get(*s).copied().unwrap_or(Cell::Null),
                            &mut self.join,
                        );
                    }
                    self.join.as_str()
                }
            };
            let k = match parse_uuid(key) {
                Some(u) => Key::Uuid(split(u)),
                None => {
                    let start = self.text.len() as u32;
                    self.text.push_str(key);
                    Key::Text {
                        hash: hash(key.as_bytes()),
                        start,
                        len: key.len() as u32,
                    }
                }
            };
            self.keys.push(k);
        }
    }

    /// Key `c` of row `i`.
    pub fn get(&self, i: usize, c: usize) -> Key {
        self.keys
            .get(i * self.per_row + c)
            .copied()
            .unwrap_or(Key::Null)
    }

    fn text_of(&self, start: u32, len: u32) -> &str {
        self.text
            .get(start as usize..(start as usize + len as usize))
            .unwrap_or("")
    }

    /// Key `c` of row `i` as text (parts joined by U+001F), for messages.
    pub fn display(&self, i: usize, c: usize) -> String {
        match self.get(i, c) {
            Key::Null => String::new(),
            Key::Uuid(u) => format_uuid(join(u)),
            Key::Text { start, len, .. } => self.text_of(start, len).to_owned(),
        }
    }
}

/// A row of a chunk that repeats an earlier key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Duplicate {
    /// The row's position among the chunk's keyed (valid) rows.
    pub row: usize,
    /// The first constraint it violates.
    pub constraint: usize,
}

/// Uniqueness of several constraints (each a list of field slots) across a file.
pub(crate) struct UniqueTracker {
    constraints: Vec<(Vec<usize>, KeySet)>,
}

impl UniqueTracker {
    pub fn new(constraints: Vec<Vec<usize>>) -> Self {
        UniqueTracker {
            constraints: constraints
                .into_iter()
                .map(|c| (c, KeySet::default()))
                .collect(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.constraints.is_empty()
    }

    /// Checks the first `rows` rows of `keys`, in order, against every constraint, recording
    /// their keys. Returns the rows that repeat an earlier key, in order, each once with the
    /// first constraint it violates (its position in the constraints). A key with a null part
    /// is not checked.
    ///
    /// Constraints are independent sets, so each is run over the rows in turn, in one tight
    /// loop that fetches the table slot of a key a few rows ahead (see [`U128Set`]).
    pub fn check_keys(&mut self, keys: &ChunkKeys, rows: usize) -> Vec<Duplicate> {
        let mut dups = Vec::new();
        for (c, (_, set)) in self.constraints.iter_mut().enumerate() {
            // No growth inside the loop: the slots fetched ahead stay where they are. (The set
            // was usually sized for the whole file up front: then there is nothing to count.)
            if !set.uuids.has_room(rows) {
                let uuids = (0..rows)
                    .filter(|&i| matches!(keys.get(i, c), Key::Uuid(_)))
                    .count();
                set.uuids.reserve(uuids);
            }
            for i in 0..rows {
                if let Key::Uuid(ahead) = keys.get(i + PREFETCH_AHEAD, c) {
                    set.uuids.prefetch(join(ahead));
                }
                let fresh = match keys.get(i, c) {
                    Key::Null => true,
                    Key::Uuid(u) => set.uuids.insert(join(u)),
                    Key::Text { hash, start, len } => {
                        set.insert_hashed(hash, keys.text_of(start, len))
                    }
                };
                if !fresh {
                    dups.push(Duplicate {
                        row: i,
                        constraint: c,
                    });
                }
            }
        }
        if self.constraints.len() > 1 {
            // A row once, under its first constraint.
            dups.sort_by_key(|d| (d.row, d.constraint));
            dups.dedup_by_key(|d| d.row);
        }
        dups
    }

    /// Makes room for the keys of about `rows` more rows, shaped like those of `keys` (the
    /// first `sample` rows of a chunk): growing a set step by step rehashes every key several
    /// times, which showed up at ~7% of a validation when the file's size was known up front.
    pub fn expect(&mut self, keys: &ChunkKeys, sample: usize, rows: usize) {
        if sample == 0 {
            return;
        }
        for (c, (_, set)) in self.constraints.iter_mut().enumerate() {
            let uuids = (0..sample)
                .filter(|&i| matches!(keys.get(i, c), Key::Uuid(_)))
                .count();
            let texts = (0..sample)
                .filter(|&i| matches!(keys.get(i, c), Key::Text { .. }))
                .count();
            let scale = |n: usize| (n as u128 * rows as u128 / sample as u128) as usize;
            set.uuids.reserve(scale(uuids));
            set.hashed.reserve(scale(texts));
        }
    }

    /// The slots of constraint `n`.
    pub fn slots(&self, n: usize) -> &[usize] {
        &self.constraints[n].0
    }
}

// A chunk's keys are one per row: keep them small.
const _: () = assert!(std::mem::size_of::<Key>() == 24);

/// `u` as its high and low words.
fn split(u: u128) -> [u64; 2] {
    [(u >> 64) as u64, u as u64]
}

/// The inverse of [`split`].
fn join([hi, lo]: [u64; 2]) -> u128 {
    u128::from(hi) << 64 | u128::from(lo)
}

/// How many rows ahead [`UniqueTracker::check_keys`] fetches a key's slot.
const PREFETCH_AHEAD: usize = 12;

/// `u` as an 8-4-4-4-12 lower-case UUID.
fn format_uuid(u: u128) -> String {
    let hex = format!("{u:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
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
    // The 32 digits as four words of eight, decoded eight at a time (this runs on every key
    // of a UUID column; a digit-by-digit loop is a 32-step dependency chain).
    let words = digit_words(b);
    let mut v: u128 = 0;
    let mut good = true;
    for w in words {
        let (n, ok) = hex8(w);
        good &= ok;
        v = v << 32 | n as u128;
    }
    good.then_some(v)
}

/// The 32 digit bytes of an 8-4-4-4-12 UUID as four words of eight (the first digit in the
/// lowest byte of the first word), the dashes left out.
#[inline]
fn digit_words(b: &[u8; 36]) -> [u64; 4] {
    let u64_at = |i: usize| {
        u64::from_le_bytes([
            b[i],
            b[i + 1],
            b[i + 2],
            b[i + 3],
            b[i + 4],
            b[i + 5],
            b[i + 6],
            b[i + 7],
        ])
    };
    let u32_at = |i: usize| u64::from(u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]));
    [
        u64_at(0),
        u32_at(9) | u32_at(14) << 32,
        u32_at(19) | u32_at(24) << 32,
        u64_at(28),
    ]
}

/// [`parse_uuid`] of a text known to be an 8-4-4-4-12 UUID of hex digits in either case (it
/// passed the `uuid` format check): only the case is checked (`None` for any upper-case
/// letter: such keys compare as text), the digits are decoded as they are. On any other
/// text the result is meaningless (never a panic); a text of another length is `None`.
#[inline]
pub(crate) fn checked_uuid_bits(s: &str) -> Option<u128> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    let b: &[u8; 36] = s.as_bytes().try_into().ok()?;
    let words = digit_words(b);
    let mut v: u128 = 0;
    let mut upper = 0u64;
    for x in words {
        // A hex letter has bit 6 set (a digit does not), and a lower-case one bit 5 too.
        let letter = (x >> 6) & ONES;
        upper |= letter & !(x >> 5);
        v = v << 32 | pack_nibbles((x & (ONES * 0x0f)) + letter * 9) as u128;
    }
    (upper & ONES == 0).then_some(v)
}

/// Eight nibble values, one per byte (the first in the lowest byte), as one number, the first
/// most significant.
#[inline]
fn pack_nibbles(v: u64) -> u32 {
    let v = ((v & 0x000f_000f_000f_000f) << 4) | ((v >> 8) & 0x000f_000f_000f_000f);
    let v = ((v & 0x0000_00ff_0000_00ff) << 8) | ((v >> 16) & 0x0000_00ff_0000_00ff);
    (((v & 0xffff) << 16) | ((v >> 32) & 0xffff)) as u32
}

/// Eight lower-case hex digits (the first in the lowest byte) as a number, and whether all
/// eight were such digits.
#[inline]
fn hex8(x: u64) -> (u32, bool) {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let ascii = x & HIGH == 0;
    // For ASCII bytes, adding 0x80 - lo sets a byte's high bit exactly when the byte is >= lo,
    // and never carries into the next byte.
    let ge = |lo: u8| x.wrapping_add(ONES * (0x80 - lo as u64)) & HIGH;
    let digit = ge(b'0') & !ge(b'9' + 1);
    let letter = ge(b'a') & !ge(b'f' + 1);
    let ok = ascii && (digit | letter) == HIGH;
    // A digit's value is its low nibble; a letter's, its low nibble plus 9 ('a' = 0x61).
    let v = (x & (ONES * 0x0f)) + (letter >> 7) * 9;
    (pack_nibbles(v), ok)
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
        // A table large enough to be asked for huge pages works the same.
        s.reserve(400_000);
        assert!(s.slots.len() * 16 >= 4 << 20);
        for k in 0..5000u128 {
            assert!(!s.insert(k * 0x1_0000_0000_0000_0001));
            assert!(s.insert((k + 1) << 64));
        }
        assert!(s.insert(u128::MAX));
        assert!(!s.insert(u128::MAX));
        assert_eq!(s.len, 10_000);
    }

    /// The digit-by-digit reading [`parse_uuid`] must agree with.
    fn parse_uuid_slow(s: &str) -> Option<u128> {
        let b = s.as_bytes();
        if b.len() != 36 || [8, 13, 18, 23].iter().any(|&p| b[p] != b'-') {
            return None;
        }
        let mut v = 0u128;
        for p in UUID_DIGITS {
            let d = match b[p] {
                c @ b'0'..=b'9' => c - b'0',
                c @ b'a'..=b'f' => c - b'a' + 10,
                _ => return None,
            };
            v = v << 4 | d as u128;
        }
        Some(v)
    }

    #[test]
    fn uuid_parsing_agrees_with_a_digit_by_digit_reading() {
        let mut rng = crate::test_rng::Rng(0x2545_f491_4f6c_dd1d);
        let mut next = move || rng.next();
        let base = *b"3f1c1d9e-8a3b-4c1e-9d5e-2b7a6c4d8e9f";
        // Every byte value at every position, then random digits with random defects.
        for p in 0..36 {
            for c in 0..=255u8 {
                let mut b = base;
                b[p] = c;
                if let Ok(s) = std::str::from_utf8(&b) {
                    assert_eq!(parse_uuid(s), parse_uuid_slow(s), "{s:?}");
                }
            }
        }
        let digits = b"0123456789abcdefABCDEF/:`g-";
        for _ in 0..100_000 {
            let mut b = base;
            for (p, byte) in b.iter_mut().enumerate() {
                if ![8, 13, 18, 23].contains(&p) {
                    *byte = digits[(next() % 16) as usize];
                }
            }
            if next() % 4 == 0 {
                let p = (next() % 36) as usize;
                b[p] = digits[(next() % digits.len() as u64) as usize];
            }
            let s = std::str::from_utf8(&b).unwrap();
            assert_eq!(parse_uuid(s), parse_uuid_slow(s), "{s}");
            if let Some(u) = parse_uuid(s) {
                assert_eq!(format_uuid(u), s);
            }
        }
    }

    /// On any text that passes the `uuid` format check, the unchecked decoding gives exactly
    /// what the checked parse gives (so a key is the same number either way).
    #[test]
    fn checked_uuids_decode_as_the_full_parse() {
        let mut rng = crate::test_rng::Rng(0x0bad_5eed_cafe);
        let digits = b"0123456789abcdefABCDEF";
        let mut checked = 0;
        for n in 0..200_000 {
            let mut b = *b"3f1c1d9e-8a3b-4c1e-9d5e-2b7a6c4d8e9f";
            for p in UUID_DIGITS {
                // Lower-case only in half the texts, any case in the rest.
                let pool = if n % 2 == 0 { 16 } else { digits.len() };
                b[p] = digits[rng.index(pool)];
            }
            let s = std::str::from_utf8(&b).unwrap();
            assert!(crate::schema::values::is_uuid(s));
            assert_eq!(checked_uuid_bits(s), parse_uuid(s), "{s}");
            checked += usize::from(parse_uuid(s).is_some());
        }
        assert!(checked > 100_000);
        assert_eq!(checked_uuid_bits("3f1c1d9e-8a3b"), None);
    }

    /// A `format: uuid` key is decoded without a second check: upper- and lower-case spellings
    /// of one UUID stay two keys (keys compare as text), each repeat is caught, in every format
    /// and on one or two threads.
    #[test]
    fn uuid_keys_of_either_case_are_checked_as_text() {
        use crate::{validate_bytes, Format, Schema, ValidateOptions};
        let schema = Schema::compile(
            r#"{"type":"object","properties":{"id":{"type":"string","format":"uuid"},
                "n":{"type":"integer"}},"required":["id"],"x-primaryKey":"id"}"#,
        )
        .unwrap();
        let ids = [
            "3f1c1d9e-8a3b-4c1e-9d5e-2b7a6c4d8e9f",
            "3F1C1D9E-8A3B-4C1E-9D5E-2B7A6C4D8E9F",
            "3f1c1d9e-8a3b-4c1e-9d5e-2b7a6c4d8e9f",
            "3F1C1D9E-8A3B-4C1E-9D5E-2B7A6C4D8E9F",
            "3f1c1d9e-8a3b-4c1e-9d5e-2b7a6c4d8e9e",
            "3F1c1d9e-8a3b-4c1e-9d5e-2b7a6c4d8e9f",
        ];
        let ndjson: String = ids
            .iter()
            .enumerate()
            .map(|(n, id)| format!("{{\"id\":\"{id}\",\"n\":{n}}}\n"))
            .collect();
        let csv: String = std::iter::once("id,n\n".to_owned())
            .chain(ids.iter().enumerate().map(|(n, id)| format!("{id},{n}\n")))
            .collect();
        for (format, data) in [(Format::Ndjson, ndjson), (Format::Csv, csv)] {
            for threads in [0, 2] {
                let opts = ValidateOptions {
                    threads,
                    ..ValidateOptions::default()
                };
                let mut dups = Vec::new();
                let v = validate_bytes(data.as_bytes(), format, &schema, &opts, &mut |e| {
                    dups.push((e.row, e.code));
                    Ok(())
                })
                .unwrap();
                assert_eq!((v.valid_rows, v.error_rows), (4, 2), "{format:?} {threads}");
                assert_eq!(
                    dups,
                    [
                        (3, crate::RowErrorCode::Unique),
                        (4, crate::RowErrorCode::Unique)
                    ]
                );
            }
        }
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
