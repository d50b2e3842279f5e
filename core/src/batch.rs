//! Batches of valid rows, owned and compact, handed from the validating threads to the sink.

use std::ops::Range;
use std::sync::Arc;

use crate::schema::{FieldType, Schema};
use crate::types::Cell;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Slot {
    Null,
    Bool(bool),
    Int(i64),
    Num(f64),
    Text(u32, u32),
}

/// Where one row came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowMeta {
    /// 1-based data row number.
    pub row: u64,
    /// Physical line where the row starts, when the format has lines.
    pub line: Option<u64>,
    /// The row's bytes in the chunk it came from (for a failed-rows file).
    pub(crate) raw: Range<u32>,
    /// Which of the batch's chunks holds the bytes.
    pub(crate) chunk: u32,
    /// Hash of the primary key (0 when the schema has none).
    pub(crate) key_hash: u64,
}

/// Valid rows with typed values, in row order. Values are stored in one flat vector and one
/// text arena, so building a batch costs no allocation per row.
#[derive(Debug, Clone, Default)]
pub struct RowBatch {
    ncols: usize,
    slots: Vec<Slot>,
    text: String,
    meta: Vec<RowMeta>,
    chunks: Vec<Arc<Vec<u8>>>,
}

impl RowBatch {
    /// An empty batch of rows with `ncols` values each.
    pub fn new(ncols: usize) -> Self {
        RowBatch {
            ncols,
            ..Default::default()
        }
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.meta.len()
    }

    /// Whether the batch holds no row.
    pub fn is_empty(&self) -> bool {
        self.meta.is_empty()
    }

    /// Values per row (the schema's fields, in order).
    pub fn columns(&self) -> usize {
        self.ncols
    }

    /// The `i`th row's origin.
    pub fn meta(&self, i: usize) -> &RowMeta {
        &self.meta[i]
    }

    /// 1-based row number of the `i`th row.
    pub fn row_number(&self, i: usize) -> u64 {
        self.meta[i].row
    }

    /// Value `col` of row `i`.
    pub fn cell(&self, i: usize, col: usize) -> Cell<'_> {
        match self.slots[i * self.ncols + col] {
            Slot::Null => Cell::Null,
            Slot::Bool(b) => Cell::Bool(b),
            Slot::Int(v) => Cell::Int(v),
            Slot::Num(v) => Cell::Num(v),
            Slot::Text(s, l) => Cell::Str(&self.text[s as usize..(s + l) as usize]),
        }
    }

    /// The original bytes of row `i` as they were in the file.
    pub fn raw(&self, i: usize) -> &[u8] {
        let m = &self.meta[i];
        self.chunks
            .get(m.chunk as usize)
            .and_then(|c| c.get(m.raw.start as usize..m.raw.end as usize))
            .unwrap_or(&[])
    }

    /// The values of row `i`.
    pub fn row(&self, i: usize) -> impl Iterator<Item = Cell<'_>> + '_ {
        (0..self.ncols).map(move |c| self.cell(i, c))
    }

    pub(crate) fn push(&mut self, cells: &[Cell<'_>], meta: RowMeta) {
        debug_assert_eq!(cells.len(), self.ncols);
        for c in cells {
            let s = match *c {
                Cell::Null => Slot::Null,
                Cell::Bool(b) => Slot::Bool(b),
                Cell::Int(v) => Slot::Int(v),
                Cell::Num(v) => Slot::Num(v),
                Cell::Str(t) => {
                    let start = self.text.len() as u32;
                    self.text.push_str(t);
                    Slot::Text(start, t.len() as u32)
                }
            };
            self.slots.push(s);
        }
        self.meta.push(meta);
    }

    /// Makes room for `rows` more rows holding `text` more bytes of text.
    pub(crate) fn reserve(&mut self, rows: usize, text: usize) {
        self.slots.reserve(rows * self.ncols);
        self.meta.reserve(rows);
        self.text.reserve(text);
    }

    /// Bytes of text held.
    pub(crate) fn text_len(&self) -> usize {
        self.text.len()
    }

    /// Registers the bytes the next rows' `raw` ranges point into; returns its index.
    pub(crate) fn add_chunk(&mut self, data: Arc<Vec<u8>>) -> u32 {
        self.chunks.push(data);
        (self.chunks.len() - 1) as u32
    }

    /// Moves every row of `other` to the end of this batch.
    pub(crate) fn append(&mut self, other: RowBatch) {
        let chunk_base = self.chunks.len() as u32;
        let text_base = self.text.len() as u32;
        self.text.push_str(&other.text);
        self.chunks.extend(other.chunks);
        self.slots.extend(other.slots.into_iter().map(|s| match s {
            Slot::Text(st, l) => Slot::Text(st + text_base, l),
            s => s,
        }));
        self.meta.extend(other.meta.into_iter().map(|mut m| {
            m.chunk += chunk_base;
            m
        }));
    }

    /// Removes the rows at `positions` (ascending), in place: the rows after each one move
    /// down, the allocations stay (a batch is most of a chunk, and a chunk most often loses a
    /// row or two).
    pub(crate) fn remove_rows(&mut self, positions: &[usize]) {
        let n = self.ncols;
        let mut kept = match positions.first() {
            Some(&p) if p < self.meta.len() => p,
            _ => return,
        };
        for (k, &p) in positions.iter().enumerate() {
            let next = positions.get(k + 1).copied().unwrap_or(self.meta.len());
            let run = p + 1..next.min(self.meta.len()).max(p + 1);
            self.slots.copy_within(run.start * n..run.end * n, kept * n);
            for i in run.clone() {
                self.meta.swap(kept + (i - run.start), i);
            }
            kept += run.len();
        }
        self.slots.truncate(kept * n);
        self.meta.truncate(kept);
    }

    pub(crate) fn renumber(&mut self, base: u64) {
        for m in &mut self.meta {
            m.row += base;
        }
    }

    /// Appends the key of row `i` (the primary key's values, joined by U+001F) to `out`.
    pub(crate) fn key_text(&self, i: usize, key: &[usize], out: &mut String) {
        out.clear();
        for (n, &col) in key.iter().enumerate() {
            if n > 0 {
                out.push('\u{1f}');
            }
            push_cell_text(self.cell(i, col), out);
        }
    }
}

pub(crate) fn push_cell_text(c: Cell<'_>, out: &mut String) {
    use std::fmt::Write;
    match c {
        Cell::Null => {}
        Cell::Bool(b) => out.push_str(if b { "true" } else { "false" }),
        Cell::Int(v) => {
            let _ = write!(out, "{v}");
        }
        Cell::Num(v) => {
            let _ = write!(out, "{v}");
        }
        Cell::Str(s) => out.push_str(s),
    }
}

/// A stable 64-bit hash of a row's key, the same in every process and version (it is stored).
pub(crate) fn key_hash(cells: &[Cell<'_>], key: &[usize]) -> u64 {
    let mut h = StableHasher::new();
    for (n, &col) in key.iter().enumerate() {
        if n > 0 {
            h.write(&[0x1f]);
        }
        match cells.get(col).copied().unwrap_or(Cell::Null) {
            Cell::Str(s) => h.write(s.as_bytes()),
            other => {
                let mut t = String::new();
                push_cell_text(other, &mut t);
                h.write(t.as_bytes());
            }
        }
    }
    h.finish()
}

/// FNV-1a over 8-byte words with a murmur3 finaliser: fast, and fixed forever.
struct StableHasher(u64);

impl StableHasher {
    fn new() -> Self {
        StableHasher(0xcbf2_9ce4_8422_2325)
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let w = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
            self.0 = (self.0 ^ w)
                .wrapping_mul(0x0000_0100_0000_01b3)
                .rotate_left(29);
        }
        for &b in chunks.remainder() {
            self.0 = (self.0 ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3);
        }
        self.0 ^= bytes.len() as u64;
    }
    fn finish(&self) -> u64 {
        let mut k = self.0;
        k ^= k >> 33;
        k = k.wrapping_mul(0xff51_afd7_ed55_8ccd);
        k ^= k >> 33;
        k = k.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        k ^ (k >> 33)
    }
}

/// The SQL type family of a column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    Integer,
    Real,
    Boolean,
    Text,
}

/// The default sink's table for a dataset: typed columns from the schema, plus job id and row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SinkTable {
    /// Dataset name as registered.
    pub dataset: String,
    /// SQL table name (`ds_` + the dataset name reduced to `[a-z0-9_]`).
    pub name: String,
    /// Column names and types, in the schema's field order.
    pub columns: Vec<(String, ColumnType)>,
    /// Column positions of the primary key, when the schema names one.
    pub key: Option<Vec<usize>>,
}

impl SinkTable {
    /// The table for `dataset` under `schema`.
    pub fn for_schema(dataset: &str, schema: &Schema) -> Self {
        let columns = schema
            .fields()
            .iter()
            .map(|f| {
                let ty = match f.ty {
                    FieldType::Integer | FieldType::Year => ColumnType::Integer,
                    FieldType::Number => ColumnType::Real,
                    FieldType::Boolean => ColumnType::Boolean,
                    _ => ColumnType::Text,
                };
                (f.name.clone(), ty)
            })
            .collect();
        let mut name = String::from("ds_");
        for ch in dataset.chars() {
            if ch.is_ascii_alphanumeric() {
                name.push(ch.to_ascii_lowercase());
            } else {
                name.push('_');
            }
        }
        SinkTable {
            dataset: dataset.to_string(),
            name,
            columns,
            key: schema.primary_key().map(<[usize]>::to_vec),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_round_trips_cells() {
        let mut b = RowBatch::new(3);
        b.add_chunk(Arc::new(b"abcdefghij".to_vec()));
        b.push(
            &[Cell::Str("a"), Cell::Int(5), Cell::Null],
            RowMeta {
                row: 1,
                line: Some(2),
                raw: 0..3,
                chunk: 0,
                key_hash: 0,
            },
        );
        b.push(
            &[Cell::Str("bé"), Cell::Num(1.5), Cell::Bool(true)],
            RowMeta {
                row: 3,
                line: None,
                raw: 3..9,
                chunk: 0,
                key_hash: 0,
            },
        );
        assert_eq!(b.len(), 2);
        assert_eq!(
            b.row(1).collect::<Vec<_>>(),
            vec![Cell::Str("bé"), Cell::Num(1.5), Cell::Bool(true)]
        );
        assert_eq!(b.raw(1), b"defghi");
        b.renumber(10);
        assert_eq!(b.row_number(0), 11);
        let mut k = String::new();
        b.key_text(0, &[0, 1], &mut k);
        assert_eq!(k, "a\u{1f}5");
    }

    #[test]
    fn rows_are_removed_in_place_keeping_order() {
        for ncols in [0, 2] {
            for drop in [
                vec![],
                vec![0],
                vec![9],
                vec![0, 1, 2],
                vec![3, 5, 6, 9],
                (0..10).collect(),
            ] {
                let mut b = RowBatch::new(ncols);
                for r in 0..10i64 {
                    let cells = [Cell::Int(r), Cell::Str("x")];
                    b.push(
                        &cells[..ncols],
                        RowMeta {
                            row: r as u64 + 1,
                            line: None,
                            raw: 0..0,
                            chunk: 0,
                            key_hash: 0,
                        },
                    );
                }
                b.remove_rows(&drop);
                let left: Vec<u64> = (0..b.len()).map(|i| b.row_number(i)).collect();
                let want: Vec<u64> = (0..10u64)
                    .filter(|r| !drop.contains(&(*r as usize)))
                    .map(|r| r + 1)
                    .collect();
                assert_eq!(left, want, "{drop:?}");
                for i in 0..b.len() {
                    if ncols > 0 {
                        assert_eq!(b.cell(i, 0), Cell::Int(b.row_number(i) as i64 - 1));
                        assert_eq!(b.cell(i, 1), Cell::Str("x"));
                    }
                }
            }
        }
    }

    #[test]
    fn key_hash_is_stable() {
        // Stored on disk: must never change.
        let h = key_hash(&[Cell::Str("3f1c1d9e-8a3b-4c1e-9d5e-2b7a6c4d8e9f")], &[0]);
        assert_eq!(
            h,
            key_hash(&[Cell::Str("3f1c1d9e-8a3b-4c1e-9d5e-2b7a6c4d8e9f")], &[0])
        );
        assert_ne!(
            h,
            key_hash(&[Cell::Str("3f1c1d9e-8a3b-4c1e-9d5e-2b7a6c4d8e9e")], &[0])
        );
        assert_eq!(
            key_hash(&[Cell::Int(42)], &[0]),
            key_hash(&[Cell::Str("42")], &[0])
        );
    }
}
