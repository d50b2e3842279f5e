//! Row iterators over one chunk: NDJSON lines, JSON array elements, CSV records (csv-core).

use memchr::memchr;

use super::scan::{count_newlines, first_non_ws, trim_json_ws, JsonEvent, JsonScan};
use super::simd::{block_masks, BlockMasks};
use super::Chunk;

/// One data row of a chunk with its identity in the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RawRow<'a> {
    /// 0-based index of the row within its chunk.
    pub index: u32,
    /// 1-based physical line where the row starts.
    pub line: u64,
    /// Decoded-stream byte offset of the row's first byte.
    pub offset: u64,
    /// The row's bytes (see each iterator for what they include).
    pub bytes: &'a [u8],
}

/// The rows of an NDJSON chunk: one per line that is not blank (only spaces, tabs or CR), bytes
/// without the `\n` / `\r\n` terminator.
pub fn ndjson_rows(chunk: &Chunk) -> impl Iterator<Item = RawRow<'_>> {
    NdjsonRows {
        data: &chunk.data,
        pos: 0,
        line: chunk.first_line,
        base: chunk.start_offset,
        index: 0,
    }
}

struct NdjsonRows<'a> {
    data: &'a [u8],
    pos: usize,
    line: u64,
    base: u64,
    index: u32,
}

impl<'a> Iterator for NdjsonRows<'a> {
    type Item = RawRow<'a>;

    fn next(&mut self) -> Option<RawRow<'a>> {
        let data = self.data;
        while self.pos < data.len() {
            let start = self.pos;
            let line = self.line;
            let end = match memchr(b'\n', &data[start..]) {
                Some(i) => {
                    self.pos = start + i + 1;
                    self.line += 1;
                    start + i
                }
                None => {
                    self.pos = data.len();
                    data.len()
                }
            };
            let mut bytes = &data[start..end];
            if let [rest @ .., b'\r'] = bytes {
                bytes = rest;
            }
            if bytes.iter().all(|&b| matches!(b, b' ' | b'\t' | b'\r')) {
                continue;
            }
            let index = self.index;
            self.index = self.index.saturating_add(1);
            return Some(RawRow {
                index,
                line,
                offset: self.base + start as u64,
                bytes,
            });
        }
        None
    }
}

/// The rows of a JSON-array chunk: one per array element, bytes trimmed of whitespace. Elements
/// are not parsed: `{bad}` is a row whose bytes the caller fails to parse (`MALFORMED_ROW`).
pub fn json_array_rows(chunk: &Chunk) -> impl Iterator<Item = RawRow<'_>> {
    JsonRows {
        data: &chunk.data,
        pos: 0,
        scan: JsonScan::new(),
        counted: 0,
        line: chunk.first_line,
        base: chunk.start_offset,
        index: 0,
    }
}

struct JsonRows<'a> {
    data: &'a [u8],
    pos: usize,
    scan: JsonScan,
    /// Newlines in `data[..counted]` are included in `line`.
    counted: usize,
    line: u64,
    base: u64,
    index: u32,
}

impl<'a> Iterator for JsonRows<'a> {
    type Item = RawRow<'a>;

    fn next(&mut self) -> Option<RawRow<'a>> {
        let data = self.data;
        while self.pos < data.len() {
            let start = self.pos;
            let end = match self.scan.next_event(data, &mut self.pos) {
                Some(JsonEvent::Comma { at, .. } | JsonEvent::Close { at, .. }) => at,
                None => data.len(),
            };
            let piece = &data[start..end];
            let Some(lead) = first_non_ws(piece) else {
                continue;
            };
            let row_start = start + lead;
            let bytes = trim_json_ws(&piece[lead..]);
            self.line += count_newlines(&data[self.counted..row_start]);
            self.counted = row_start;
            let index = self.index;
            self.index = self.index.saturating_add(1);
            return Some(RawRow {
                index,
                line: self.line,
                offset: self.base + row_start as u64,
                bytes,
            });
        }
        None
    }
}

/// The records of a CSV chunk (data rows only: the framer keeps the header out of chunks),
/// parsed with csv-core. Blank lines are skipped as csv-core does. A lending iterator: each
/// record borrows the reader's reused buffers.
pub struct CsvRows<'a> {
    data: &'a [u8],
    /// The chunk as text (chunks from the framer are valid UTF-8): records without a quote are
    /// cut from it in place.
    text: Option<&'a str>,
    pos: usize,
    line: u64,
    base: u64,
    index: u32,
    rdr: csv_core::Reader,
    out: Vec<u8>,
    ends: Vec<usize>,
    first: bool,
    done: bool,
    /// The masks of the 64-byte block `data[blk_at..]` (zero past the end of the data), kept
    /// across records: a record usually ends inside the block where the next one starts.
    blk_at: usize,
    blk: BlockMasks,
    /// Tests only: every record through csv-core, the reference for the in-place cutter.
    #[cfg(test)]
    csv_core_only: bool,
}

/// One CSV record: field `i` is `record[ends[i-1] + sep..ends[i]]` (the first starts at 0).
/// `record` is either csv-core's unescaped output of all fields back to back (`sep` 0) or, for
/// a record without quotes, its own text with the commas (`sep` 1); `raw.bytes` is the record's
/// original text without its terminator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CsvRecord<'r> {
    pub raw: RawRow<'r>,
    pub record: &'r str,
    pub ends: &'r [usize],
    pub sep: usize,
}

impl CsvRecord<'_> {
    /// Number of fields.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether the record has no fields (only for a hand-built chunk that is not UTF-8).
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Field `i`, if there is one.
    pub fn field(&self, i: usize) -> Option<&str> {
        let end = *self.ends.get(i)?;
        let start = if i == 0 {
            0
        } else {
            *self.ends.get(i - 1)? + self.sep
        };
        self.record.get(start..end)
    }
}

/// Where the last record read by [`CsvRows::advance`] is.
struct Span {
    start: usize,
    end: usize,
    line: u64,
    /// Where the record's fields are: csv-core's output, or the chunk itself.
    fields: Fields,
    nend: usize,
}

enum Fields {
    /// `out[..n]`, unescaped by csv-core.
    Out(usize),
    /// `text[start..start + n]`: a record without quotes is its own unescaped text.
    InPlace(usize),
}

/// What a [`CsvRows`] can hand on to the next chunk's: csv-core's reader, whose construction
/// builds its DFA (about as many instructions as reading a few hundred records), and the
/// buffers it writes records to. A pass keeps one per thread
/// ([`CsvRows::with_buffers`], [`CsvRows::into_buffers`]).
#[derive(Debug)]
pub(crate) struct CsvBuffers {
    rdr: csv_core::Reader,
    out: Vec<u8>,
    ends: Vec<usize>,
}

impl Default for CsvBuffers {
    fn default() -> Self {
        Self::from_reader(csv_core::Reader::new())
    }
}

impl CsvBuffers {
    /// Buffers around a reader built with csv-core's defaults (`csv_core::Reader::new()`),
    /// in any state (the header's, say: building another would build another DFA).
    pub(crate) fn from_reader(rdr: csv_core::Reader) -> Self {
        CsvBuffers {
            rdr,
            out: vec![0; 1024],
            ends: vec![0; 32],
        }
    }
}

impl<'a> CsvRows<'a> {
    pub fn new(chunk: &'a Chunk) -> Self {
        Self::with_text(chunk, std::str::from_utf8(&chunk.data).ok())
    }

    /// [`CsvRows::new`] given the chunk's bytes as text, when the caller has checked them.
    pub(crate) fn with_text(chunk: &'a Chunk, text: Option<&'a str>) -> Self {
        Self::with_buffers(chunk, text, CsvBuffers::default())
    }

    /// [`CsvRows::with_text`] reusing an earlier chunk's reader and buffers. The reader is
    /// reset: it reads this chunk as a new one would (a BOM at the chunk's start included).
    pub(crate) fn with_buffers(
        chunk: &'a Chunk,
        text: Option<&'a str>,
        buffers: CsvBuffers,
    ) -> Self {
        let CsvBuffers { mut rdr, out, ends } = buffers;
        rdr.reset();
        CsvRows {
            data: &chunk.data,
            text,
            pos: 0,
            line: chunk.first_line,
            base: chunk.start_offset,
            index: 0,
            rdr,
            out,
            ends,
            first: true,
            done: false,
            blk_at: usize::MAX,
            blk: BlockMasks::default(),
            #[cfg(test)]
            csv_core_only: false,
        }
    }

    /// The reader and buffers, for the next chunk's [`CsvRows::with_buffers`].
    pub(crate) fn into_buffers(self) -> CsvBuffers {
        CsvBuffers {
            rdr: self.rdr,
            out: self.out,
            ends: self.ends,
        }
    }

    /// Tests only: reads every record with csv-core, as the in-place cutter must match.
    #[cfg(test)]
    pub(crate) fn csv_core_only(mut self) -> Self {
        self.csv_core_only = true;
        self
    }

    /// The next record, or `None` at the end of the chunk.
    #[inline]
    pub fn next_record(&mut self) -> Option<CsvRecord<'_>> {
        let span = self.advance()?;
        let index = self.index;
        self.index = self.index.saturating_add(1);
        let mut bytes = &self.data[span.start..span.end];
        if let [rest @ .., b'\n'] = bytes {
            bytes = rest;
        }
        if let [rest @ .., b'\r'] = bytes {
            bytes = rest;
        }
        let raw = RawRow {
            index,
            line: span.line,
            offset: self.base + span.start as u64,
            bytes,
        };
        // Chunks from the framer are valid UTF-8, and unescaping only drops ASCII quotes.
        let (text, sep) = match span.fields {
            Fields::Out(n) => (std::str::from_utf8(&self.out[..n]).ok(), 0),
            Fields::InPlace(n) => (self.text.and_then(|t| t.get(span.start..span.start + n)), 1),
        };
        let (record, ends) = match text {
            Some(s) => (s, &self.ends[..span.nend]),
            None => ("", &self.ends[..0]),
        };
        Some(CsvRecord {
            raw,
            record,
            ends,
            sep,
        })
    }

    /// Counts the remaining records without building them.
    pub(crate) fn count_remaining(&mut self) -> u64 {
        let mut n = 0;
        while self.advance().is_some() {
            n += 1;
        }
        n
    }

    fn advance(&mut self) -> Option<Span> {
        use csv_core::ReadRecordResult as R;
        if self.done {
            return None;
        }
        let data = self.data;
        // Blank lines between records are not records (csv-core skips them the same way); doing
        // it here lets the record's own first byte and line be known.
        while let Some(&b) = data.get(self.pos) {
            match b {
                b'\n' => self.line += 1,
                b'\r' => {}
                _ => break,
            }
            self.pos += 1;
        }
        if self.pos >= data.len() {
            self.done = true;
            return None;
        }
        let start = self.pos;
        let line = self.line;
        #[cfg(test)]
        let in_place = !self.csv_core_only;
        #[cfg(not(test))]
        let in_place = true;
        if in_place && !self.first && self.text.is_some() {
            if let Some(span) = self.unquoted(start, line) {
                return Some(span);
            }
        }
        let (mut nout, mut nend) = (0, 0);
        loop {
            // csv-core strips a BOM from its very first input: feed one byte first so that a
            // data row starting with U+FEFF is read the same whatever chunk it lands in.
            let input_end = if self.first && data[self.pos..].starts_with(b"\xEF\xBB\xBF") {
                self.pos + 1
            } else {
                data.len()
            };
            self.first = false;
            let (res, nin, o, e) = self.rdr.read_record(
                &data[self.pos..input_end],
                &mut self.out[nout..],
                &mut self.ends[nend..],
            );
            self.pos += nin;
            nout += o;
            nend += e;
            match res {
                R::InputEmpty => {}
                R::OutputFull => {
                    let n = self.out.len().max(64) * 2;
                    self.out.resize(n, 0);
                }
                R::OutputEndsFull => {
                    let n = self.ends.len().max(8) * 2;
                    self.ends.resize(n, 0);
                }
                R::Record => break,
                R::End => {
                    self.done = true;
                    return None;
                }
            }
        }
        self.line += count_newlines(&data[start..self.pos]);
        Some(Span {
            start,
            end: self.pos,
            line,
            fields: Fields::Out(nout),
            nend,
        })
    }

    /// The masks of the block at `at` (a multiple of 64 below `data.len()`).
    #[inline]
    fn block(&mut self, at: usize) -> BlockMasks {
        if self.blk_at != at {
            let rest = self.data.get(at..).unwrap_or_default();
            self.blk = match rest.first_chunk::<64>() {
                Some(b) => block_masks(b),
                None => {
                    // The last, partial block: zeros are neither commas nor stops.
                    let mut b = [0u8; 64];
                    b[..rest.len()].copy_from_slice(rest);
                    block_masks(&b)
                }
            };
            self.blk_at = at;
        }
        self.blk
    }

    /// The record at `start` when no quote comes before its terminator: then it is one line,
    /// its fields are the text between commas, and csv-core (which the caller falls back to
    /// otherwise) would give exactly the same fields. CR, LF and CRLF end a record, as in
    /// csv-core (lines are counted by LF).
    ///
    /// One pass over the 64-byte blocks' masks: the first stop byte (quote, CR or LF) after
    /// `start` ends the record or sends it to csv-core, and every comma before it ends a field.
    fn unquoted(&mut self, start: usize, line: u64) -> Option<Span> {
        let len = self.data.len();
        let mut at = start & !63;
        let mut live = !0u64 << (start - at);
        let mut nend = 0;
        let term = loop {
            let m = self.block(at);
            let stops = m.stop & live;
            // Bits before the first stop (all bits when there is none).
            let before = (stops & stops.wrapping_neg()).wrapping_sub(1);
            let mut commas = m.comma & live & before;
            // Room for a whole block of commas and the last end (no popcount: x86_64's baseline
            // has no instruction for it).
            if nend + 65 > self.ends.len() {
                let n = (nend + 65).max(self.ends.len() * 2);
                self.ends.resize(n, 0);
            }
            if let Some(ends) = self.ends.get_mut(nend..) {
                for e in ends.iter_mut() {
                    if commas == 0 {
                        break;
                    }
                    *e = at + commas.trailing_zeros() as usize - start;
                    commas &= commas - 1;
                    nend += 1;
                }
            }
            if stops != 0 {
                let i = at + stops.trailing_zeros() as usize;
                match self.data.get(i..) {
                    Some([b'"', ..]) => return None,
                    Some([b'\n', ..]) => {
                        self.line += 1;
                        self.pos = i + 1;
                    }
                    // The LF of a CRLF goes with it (the blank-line loop would skip it anyway).
                    Some([b'\r', b'\n', ..]) => {
                        self.line += 1;
                        self.pos = i + 2;
                    }
                    _ => self.pos = i + 1,
                }
                break Some(i);
            }
            at += 64;
            if at >= len {
                self.pos = len;
                break None;
            }
            live = !0;
        };
        let end = term.unwrap_or(len);
        self.push_end(nend, end - start);
        nend += 1;
        Some(Span {
            start,
            end: self.pos,
            line,
            fields: Fields::InPlace(end - start),
            nend,
        })
    }

    fn push_end(&mut self, n: usize, end: usize) {
        if n == self.ends.len() {
            let len = self.ends.len().max(8) * 2;
            self.ends.resize(len, 0);
        }
        if let Some(e) = self.ends.get_mut(n) {
            *e = end;
        }
    }
}
