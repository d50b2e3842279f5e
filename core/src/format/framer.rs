//! The framer: decoded stream (gzip or plain) → bounded chunks cut at row boundaries.

use std::io::{self, Read};
use std::mem;

use flate2::read::MultiGzDecoder;
use memchr::{memchr, memrchr};

use super::scan::{count_newlines, first_non_ws, is_json_ws, CsvScan, JsonEvent, JsonScan};
use super::{Chunk, FramerOptions, ResumePoint};
use crate::error::{Error, Result};
use crate::types::Format;

const BOM: &[u8] = b"\xEF\xBB\xBF";
/// How much of the start of the decoded stream is looked at for binary content.
const SNIFF_LEN: usize = 64 * 1024;
/// The smallest read when the buffer must grow (a row longer than the chunk size, a header).
const MIN_BLOCK: usize = 64 * 1024;
/// The first read of a fill into room never used before (see [`Framer::fill`]).
const READ_STEP: usize = 1024;

/// The caller's reader, remembering whether it failed (so that an I/O error of the source under
/// a gzip decoder is reported as storage trouble, not as a corrupted file).
struct Tracked<R> {
    inner: R,
    failed: bool,
}

impl<R: Read> Read for Tracked<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let r = self.inner.read(buf);
        if let Err(e) = &r {
            if e.kind() != io::ErrorKind::Interrupted {
                self.failed = true;
            }
        }
        r
    }
}

/// The first bytes (read to sniff the gzip magic) put back in front of the reader.
type Prefixed<R> = io::Chain<io::Cursor<Vec<u8>>, Tracked<R>>;

enum Source<R: Read> {
    Plain(Prefixed<R>),
    Gzip(MultiGzDecoder<Prefixed<R>>),
}

impl<R: Read> Read for Source<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Source::Plain(r) => r.read(buf),
            Source::Gzip(r) => r.read(buf),
        }
    }
}

/// Decoded bytes not yet handed out: `buf[..len]`. The bytes of `buf` after `len` are stale (an
/// earlier chunk's, when the buffer was recycled) but initialised, so the source reads straight
/// into them: reading into a `Vec`'s spare capacity (`read_to_end`) zero-fills it first, every
/// chunk again, since a recycled buffer's capacity counts as uninitialised.
#[derive(Default)]
struct Pending {
    buf: Vec<u8>,
    len: usize,
}

impl std::ops::Deref for Pending {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or_default()
    }
}

impl Pending {
    fn clear(&mut self) {
        self.len = 0;
    }

    /// Drops the first `n` bytes (at most all of them).
    fn drain_front(&mut self, n: usize) {
        let n = n.min(self.len);
        self.buf.copy_within(n..self.len, 0);
        self.len -= n;
    }

    /// Room after the pending bytes for at most `max` more: all the initialised bytes there,
    /// else `step` bytes, zeroing those never initialised before.
    fn room(&mut self, max: usize, step: usize) -> &mut [u8] {
        if self.buf.capacity() == 0 {
            // A new buffer: the allocator hands out zeroed memory, often without writing it.
            self.buf = vec![0; max];
        }
        let stale = self.buf.len() - self.len;
        let end = self.len + max.min(stale.max(step));
        if self.buf.len() < end {
            self.buf.resize(end, 0);
        }
        &mut self.buf[self.len..end]
    }

    /// `n` bytes were written to the start of [`Pending::room`].
    fn grow(&mut self, n: usize) {
        self.len = (self.len + n).min(self.buf.len());
    }

    /// Hands out the first `c` bytes in their own buffer. The rest moves to the start of `next`,
    /// which becomes the pending buffer with room for at least `cap` bytes; without one (the
    /// last chunk) the rest is dropped.
    fn split_off_front(&mut self, c: usize, next: Option<Vec<u8>>, cap: usize) -> Vec<u8> {
        let c = c.min(self.len);
        let tail = self.len - c;
        let next = match next {
            Some(mut next) => {
                let cap = cap.max(tail);
                if next.capacity() == 0 {
                    next = vec![0; cap];
                } else if next.capacity() < cap {
                    next.reserve(cap - next.len());
                }
                // Over the stale bytes as far as they go, then appended (not zeroed first).
                let rest = &self.buf[c..self.len];
                let k = next.len().min(tail);
                next[..k].copy_from_slice(&rest[..k]);
                next.extend_from_slice(&rest[k..]);
                self.len = tail;
                next
            }
            None => {
                self.len = 0;
                Vec::new()
            }
        };
        let mut data = mem::replace(&mut self.buf, next);
        data.truncate(c);
        data
    }
}

/// Format-specific boundary scanning state over `pending`.
enum Scanner {
    /// NDJSON: boundaries are after `'\n'`.
    Lines,
    Csv(CsvScan),
    Json(JsonScan),
    /// A JSON file with no array at all (empty or only whitespace): nothing to scan.
    Empty,
}

enum Step {
    /// Cut a chunk here.
    Cut(usize),
    /// The JSON array's closing `']'` is here.
    Close(usize),
    /// No decision possible with the bytes at hand.
    More,
}

/// A file-level problem found by a scan, at a position in `pending`.
enum Fault {
    EmptyElement(usize),
    TrailingComma(usize),
}

/// Splits a stream of NDJSON, a JSON array or CSV into [`Chunk`]s of whole rows.
///
/// Memory is bounded by the chunk size plus the longest row. After an error every further call
/// of [`Framer::next_chunk`] returns the same error.
pub struct Framer<R: Read> {
    src: Source<R>,
    format: Format,
    gzip: bool,
    chunk_size: usize,
    /// Decoded bytes not yet handed out, starting at a row boundary.
    pending: Pending,
    /// Stream offset and line of `pending[0]`.
    pend_offset: u64,
    pend_line: u64,
    /// Decoded bytes read from the source so far.
    decoded: u64,
    eof: bool,
    seq: u64,
    scanner: Scanner,
    /// How far `pending` has been scanned, and the best cut found so far.
    scan_pos: usize,
    cut: Option<usize>,
    /// NDJSON whose first block was all whitespace: the '[' check is still to do.
    sniff_ndjson: bool,
    csv_header: Option<Vec<String>>,
    csv_header_raw: Option<Vec<u8>>,
    /// CSV: the csv-core reader the header was read with, until the rows' reader takes it.
    csv_reader: Option<csv_core::Reader>,
    finished: bool,
    failed: Option<Error>,
    /// Buffers of chunks the caller is done with, reused for the next chunks.
    spare: Recycler,
    /// Whether chunks are checked for UTF-8 here (else the caller checks each chunk).
    check_utf8: bool,
}

/// Hands the buffers of finished chunks back to the [`Framer`] that made them, so a pass reuses
/// a few buffers instead of allocating one per chunk: with two threads, the allocator kept the
/// freed ones in its arenas and peak memory grew with the file (+20..30% from 100k to 1M rows).
#[derive(Clone, Debug, Default)]
pub struct Recycler(std::sync::Arc<std::sync::Mutex<Vec<Vec<u8>>>>);

impl Recycler {
    /// At most this many spare buffers are kept (the chunks in flight of a two-thread pass).
    const KEEP: usize = 4;

    /// Gives a chunk's buffer back. Its bytes are kept (not cleared): the framer reads over
    /// them, which costs less than zero-filling the buffer again.
    pub fn give(&self, buf: Vec<u8>) {
        if let Ok(mut spare) = self.0.lock() {
            if spare.len() < Self::KEEP {
                spare.push(buf);
            }
        }
    }

    fn take(&self) -> Option<Vec<u8>> {
        self.0.lock().ok().and_then(|mut spare| spare.pop())
    }
}

impl<R: Read> std::fmt::Debug for Framer<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Framer")
            .field("format", &self.format)
            .field("gzip", &self.gzip)
            .field("chunk_size", &self.chunk_size)
            .field("offset", &self.pend_offset)
            .field("line", &self.pend_line)
            .field("seq", &self.seq)
            .field("finished", &self.finished)
            .finish_non_exhaustive()
    }
}

impl<R: Read> Framer<R> {
    /// Leaves the UTF-8 check of each chunk to the caller, which reads the chunk as text anyway
    /// (and, with several threads, checks chunks in parallel rather than on the reading
    /// thread). The caller must report invalid UTF-8 as [`chunk_utf8`] does.
    pub(crate) fn leave_utf8_check(&mut self) {
        self.check_utf8 = false;
    }

    /// Where to give back the buffers of chunks the caller is done with.
    pub fn recycler(&self) -> Recycler {
        self.spare.clone()
    }

    /// Opens the stream: sniffs gzip, skips a UTF-8 BOM, rejects clearly binary content, reads
    /// the CSV header or the JSON `'['`, and skips to `opts.resume` if given.
    pub fn new(reader: R, format: Format, opts: FramerOptions) -> Result<Self> {
        let chunk_size = opts.chunk_size.max(1);
        let mut f = Self::open(reader, format, chunk_size, chunk_size.max(SNIFF_LEN))?;
        if let Some(r) = opts.resume {
            f.resume(r)?;
        }
        Ok(f)
    }

    /// Like [`Framer::new`], but a plain (not gzip) stream is not read up to `opts.resume`:
    /// `head` is the file from its first byte, read only as far as the start needs (the gzip
    /// sniff, a BOM, the binary check, the CSV header or the JSON `'['`), then `open_at` is
    /// called with the resume offset and the rest is read from the reader it returns. Chunks,
    /// offsets, lines and errors are those of [`Framer::new`] with the same options. A gzip
    /// stream cannot be sought (its offsets are decoded ones): it is read through from `head`,
    /// and `open_at` is not called; nor is it when the resume point lies in the bytes `head`
    /// already gave.
    pub fn with_seek(
        head: R,
        format: Format,
        opts: FramerOptions,
        open_at: impl FnOnce(u64) -> Result<R>,
    ) -> Result<Self> {
        let Some(r) = opts.resume else {
            return Self::new(head, format, opts);
        };
        let chunk_size = opts.chunk_size.max(1);
        let mut f = Self::open(head, format, chunk_size, SNIFF_LEN + BOM.len())?;
        if f.gzip || f.eof || r.offset <= f.pend_offset + f.pending.len() as u64 {
            f.resume(r)?;
            return Ok(f);
        }
        let rest = open_at(r.offset)?;
        f.src = Source::Plain(io::Cursor::new(Vec::new()).chain(Tracked {
            inner: rest,
            failed: false,
        }));
        f.pending.clear();
        f.decoded = r.offset;
        f.set_position(r);
        Ok(f)
    }

    /// Sniffs gzip and reads the start of the stream (`first` bytes, more if the start needs).
    fn open(reader: R, format: Format, chunk_size: usize, first: usize) -> Result<Self> {
        let mut tracked = Tracked {
            inner: reader,
            failed: false,
        };
        let mut magic = Vec::with_capacity(2);
        while magic.len() < 2 {
            let mut b = [0u8; 2];
            let want = 2 - magic.len();
            match tracked.read(&mut b[..want]) {
                Ok(0) => break,
                Ok(n) => magic.extend_from_slice(&b[..n.min(want)]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
        let gzip = magic == [0x1f, 0x8b];
        let prefixed = io::Cursor::new(magic).chain(tracked);
        let src = if gzip {
            Source::Gzip(MultiGzDecoder::new(prefixed))
        } else {
            Source::Plain(prefixed)
        };
        let mut f = Framer {
            src,
            format,
            gzip,
            chunk_size,
            pending: Pending::default(),
            pend_offset: 0,
            pend_line: 1,
            decoded: 0,
            eof: false,
            seq: 0,
            scanner: Scanner::Lines,
            scan_pos: 0,
            cut: None,
            sniff_ndjson: false,
            csv_header: None,
            csv_header_raw: None,
            csv_reader: None,
            finished: false,
            failed: None,
            spare: Recycler::default(),
            check_utf8: true,
        };
        f.fill(first)?;
        f.start()?;
        Ok(f)
    }

    /// CSV: the header's column names (BOM stripped); empty for an empty file.
    pub fn csv_header(&self) -> Option<&[String]> {
        self.csv_header.as_deref()
    }

    /// CSV: the header record's raw bytes including its line terminator (without the BOM).
    pub fn csv_header_raw(&self) -> Option<&[u8]> {
        self.csv_header_raw.as_deref()
    }

    /// CSV: the csv-core reader (default settings) the header was read with, in whatever state
    /// the header left it, for the rows of the pass (building a reader builds its DFA). It is
    /// handed over, not copied: csv-core 0.1's `Reader::clone` copies only part of the DFA,
    /// and the copy misreads records.
    pub(crate) fn take_csv_reader(&mut self) -> Option<csv_core::Reader> {
        self.csv_reader.take()
    }

    /// Whether the stream was gzip-compressed.
    pub fn is_gzip(&self) -> bool {
        self.gzip
    }

    /// Decoded bytes read from the source so far (the decoded file size once the last chunk is
    /// out).
    pub fn decoded_bytes(&self) -> u64 {
        self.decoded
    }

    /// The next chunk in file order; the last one has `is_last` (it may hold no rows, e.g. for
    /// an empty file), after which `None`.
    pub fn next_chunk(&mut self) -> Result<Option<Chunk>> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        if self.finished {
            return Ok(None);
        }
        let r = self.next_chunk_inner();
        if let Err(e) = &r {
            self.failed = Some(e.clone());
        }
        r
    }

    fn next_chunk_inner(&mut self) -> Result<Option<Chunk>> {
        loop {
            if !self.eof && self.pending.len() < self.chunk_size {
                self.fill(self.chunk_size - self.pending.len())?;
            }
            let step = match self.scan() {
                Ok(s) => s,
                Err(fault) => return Err(self.fault_error(fault)),
            };
            let len = self.pending.len();
            match step {
                Step::Close(k) => return self.finish_json(k).map(Some),
                Step::Cut(c) if c < len => return self.emit(c, false).map(Some),
                // A cut at the very end of the data: read on, so that a stream ending right
                // here gives a last chunk rather than an empty one after it.
                Step::Cut(_) if !self.eof => self.fill(MIN_BLOCK)?,
                _ if !self.eof => self.fill(MIN_BLOCK.max(len / 2))?,
                _ => return self.finish_eof().map(Some),
            }
        }
    }

    // ---- reading

    /// Reads until `want` more bytes are in `pending` or the stream ends.
    fn fill(&mut self, want: usize) -> Result<()> {
        if self.eof || want == 0 {
            return Ok(());
        }
        let mut got = 0;
        // How much fresh room to zero for one read: it starts small (the stream may have
        // fewer bytes left than wanted) and doubles while reads fill it, as `read_to_end` does.
        let mut step = READ_STEP;
        let res = loop {
            if got == want {
                break Ok(());
            }
            let room = self.pending.room(want - got, step);
            let asked = room.len();
            match self.src.read(room) {
                Ok(0) => {
                    self.eof = true;
                    break Ok(());
                }
                Ok(n) => {
                    let n = n.min(asked);
                    self.pending.grow(n);
                    got += n;
                    if n == asked {
                        step = step.saturating_mul(2);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => break Err(e),
            }
        };
        self.decoded += got as u64;
        res.map_err(|e| self.io_error(e))
    }

    /// One read into `buf` (0 at the end of the stream).
    fn read_some(&mut self, buf: &mut [u8]) -> Result<usize> {
        loop {
            match self.src.read(buf) {
                Ok(n) => {
                    let n = n.min(buf.len());
                    self.decoded += n as u64;
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(self.io_error(e)),
            }
        }
    }

    fn io_error(&self, e: io::Error) -> Error {
        match &self.src {
            Source::Gzip(d) if !d.get_ref().get_ref().1.failed => Error::CorruptedFile(format!(
                "gzip stream is damaged or truncated (after {} decoded bytes): {e}",
                self.decoded
            )),
            _ => Error::from(e),
        }
    }

    /// Drops `pending[..n]`, advancing the stream position.
    fn consume(&mut self, n: usize) {
        let n = n.min(self.pending.len());
        self.pend_line += count_newlines(&self.pending[..n]);
        self.pend_offset += n as u64;
        self.pending.drain_front(n);
    }

    // ---- opening

    fn start(&mut self) -> Result<()> {
        let mut p = if self.pending.starts_with(BOM) {
            BOM.len()
        } else {
            0
        };
        self.check_binary(p)?;
        match self.format {
            Format::Ndjson => {
                match first_non_ws(&self.pending[p..]) {
                    Some(i) if self.pending[p + i] == b'[' => {
                        let (off, line) = self.loc(p + i);
                        return Err(Error::InvalidFileFormat(format!(
                            "file is not NDJSON: its first character, at byte {off} (line {line}), \
                             is '[', so it looks like a JSON array; declare the format as json"
                        )));
                    }
                    Some(_) => {}
                    None => self.sniff_ndjson = !self.eof,
                }
                self.scanner = Scanner::Lines;
            }
            Format::Json => loop {
                match first_non_ws(&self.pending[p..]) {
                    Some(i) => {
                        let q = p + i;
                        let b = self.pending[q];
                        if b != b'[' {
                            let (off, line) = self.loc(q);
                            let hint = if b == b'{' {
                                ": it starts with '{', so it looks like NDJSON (one object per line) \
                                 or a single object; declare the format as ndjson"
                            } else {
                                ""
                            };
                            return Err(Error::InvalidFileFormat(format!(
                                "file is not a JSON array: expected '[' at byte {off} (line {line}){hint}"
                            )));
                        }
                        p = q + 1;
                        self.scanner = Scanner::Json(JsonScan::new());
                        break;
                    }
                    None if self.eof => {
                        p = self.pending.len();
                        self.scanner = Scanner::Empty;
                        break;
                    }
                    None => {
                        let len = self.pending.len();
                        self.consume(len);
                        p = 0;
                        self.fill(self.chunk_size.max(MIN_BLOCK))?;
                    }
                }
            },
            Format::Csv => {
                p = self.read_csv_header(p)?;
                self.scanner = Scanner::Csv(CsvScan::new());
            }
        }
        self.consume(p);
        Ok(())
    }

    /// Rejects content that is clearly not text: PDF, ZIP, PNG magic or NUL bytes.
    fn check_binary(&self, p: usize) -> Result<()> {
        let head = &self.pending[p..self.pending.len().min(p + SNIFF_LEN)];
        let name = self.format.as_str().to_ascii_uppercase();
        let kind = if head.starts_with(b"%PDF") {
            Some("a PDF document")
        } else if head.starts_with(b"PK\x03\x04") {
            Some("a ZIP archive (e.g. an Excel .xlsx workbook)")
        } else if head.starts_with(b"\x89PNG\r\n\x1a\n") {
            Some("a PNG image")
        } else {
            None
        };
        if let Some(kind) = kind {
            return Err(Error::InvalidFileFormat(format!(
                "file is not {name}: it is {kind} (declared format: {})",
                self.format
            )));
        }
        if let Some(i) = memchr(0, head) {
            let (off, line) = self.loc(p + i);
            return Err(Error::InvalidFileFormat(format!(
                "file is not {name}: it has a NUL byte at byte {off} (line {line}), so it looks \
                 like a binary file (declared format: {})",
                self.format
            )));
        }
        Ok(())
    }

    /// Reads the CSV header record starting at `pending[p]`; returns where it ends. Lines that
    /// are blank or only spaces and tabs before it are skipped (so a whitespace-only file has
    /// no header and no rows).
    fn read_csv_header(&mut self, mut p: usize) -> Result<usize> {
        loop {
            let rest = &self.pending[p..];
            match rest
                .iter()
                .position(|&b| !matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
            {
                Some(q) => {
                    // The header starts at the beginning of the line holding `q`.
                    p += rest[..q]
                        .iter()
                        .rposition(|&b| matches!(b, b'\r' | b'\n'))
                        .map_or(0, |i| i + 1);
                    break;
                }
                None if self.eof => {
                    self.csv_header = Some(Vec::new());
                    self.csv_header_raw = Some(Vec::new());
                    return Ok(self.pending.len());
                }
                None => {
                    // Keep the current (maybe unfinished) line: it may still be the header.
                    let keep = rest
                        .iter()
                        .rposition(|&b| matches!(b, b'\r' | b'\n'))
                        .map_or(0, |i| i + 1);
                    self.consume(p + keep);
                    p = 0;
                    self.fill(MIN_BLOCK)?;
                }
            }
        }
        // csv-core finds the record's end (any of LF, CRLF or CR ends it).
        use csv_core::ReadRecordResult as R;
        let mut rdr = csv_core::Reader::new();
        let mut out = vec![0u8; 4096];
        let mut ends = vec![0usize; 64];
        let (mut pos, mut nout, mut nend) = (p, 0, 0);
        loop {
            if pos >= self.pending.len() && !self.eof {
                self.fill(MIN_BLOCK.max(self.pending.len() / 2))?;
                continue;
            }
            let (res, nin, o, e) =
                rdr.read_record(&self.pending[pos..], &mut out[nout..], &mut ends[nend..]);
            pos += nin;
            nout += o;
            nend += e;
            match res {
                R::InputEmpty => {}
                R::OutputFull => {
                    let n = out.len() * 2;
                    out.resize(n, 0);
                }
                R::OutputEndsFull => {
                    let n = ends.len() * 2;
                    ends.resize(n, 0);
                }
                R::Record | R::End => break,
            }
        }
        let mut end = pos;
        if end > p && self.pending.get(end - 1) == Some(&b'\r') {
            // csv-core stops after the CR of a CRLF: the LF belongs to the header too.
            if end >= self.pending.len() {
                self.fill(MIN_BLOCK)?;
            }
            if self.pending.get(end) == Some(&b'\n') {
                end += 1;
            }
        }
        let raw = &self.pending[p..end];
        if let Err(e) = std::str::from_utf8(raw) {
            let (off, line) = self.loc(p + e.valid_up_to());
            return Err(Error::CorruptedFile(format!(
                "file is not valid UTF-8 at byte {off} (line {line})"
            )));
        }
        let mut scan = CsvScan::new();
        let mut sp = 0;
        while scan.next_boundary(raw, &mut sp).is_some() {}
        if let Some(open) = scan.unterminated() {
            let (off, line) = self.loc(p + open);
            return Err(Error::CorruptedFile(format!(
                "CSV header has a quoted field opened at byte {off} (line {line}) that is never closed"
            )));
        }
        let mut names = Vec::with_capacity(nend);
        let mut start = 0;
        for &e in &ends[..nend] {
            names.push(String::from_utf8_lossy(out.get(start..e).unwrap_or(&[])).into_owned());
            start = e;
        }
        self.csv_header = Some(names);
        self.csv_header_raw = Some(raw.to_vec());
        self.csv_reader = Some(rdr);
        Ok(end)
    }

    fn resume(&mut self, r: ResumePoint) -> Result<()> {
        if r.offset <= self.pend_offset {
            return Ok(());
        }
        let need = r.offset - self.pend_offset;
        let have = self.pending.len() as u64;
        if need <= have {
            self.pending.drain_front(need as usize);
        } else {
            self.pending.clear();
            let mut rest = need - have;
            let mut buf = vec![0u8; MIN_BLOCK];
            while rest > 0 {
                let want = usize::try_from(rest).unwrap_or(usize::MAX).min(buf.len());
                let n = self.read_some(&mut buf[..want])?;
                if n == 0 {
                    self.eof = true;
                    return Err(Error::CorruptedFile(format!(
                        "file ends at byte {}, before the resume offset {}",
                        self.decoded, r.offset
                    )));
                }
                rest -= n as u64;
            }
        }
        self.set_position(r);
        Ok(())
    }

    /// `pending` now starts at `r`.
    fn set_position(&mut self, r: ResumePoint) {
        self.pend_offset = r.offset;
        self.pend_line = r.line.max(1);
        self.sniff_ndjson = false;
        self.reset_scan(false);
    }

    // ---- scanning and cutting

    fn reset_scan(&mut self, after_cut: bool) {
        self.scan_pos = 0;
        self.cut = None;
        match &mut self.scanner {
            Scanner::Csv(s) => *s = CsvScan::new(),
            Scanner::Json(s) => {
                *s = if after_cut {
                    JsonScan::after_comma()
                } else {
                    JsonScan::new()
                }
            }
            Scanner::Lines | Scanner::Empty => {}
        }
    }

    /// Scans the new bytes of `pending`: the last boundary at or before the chunk size, or the
    /// first one after it when there is none before.
    fn scan(&mut self) -> std::result::Result<Step, Fault> {
        let limit = self.chunk_size;
        let buf: &[u8] = &self.pending;
        let len = buf.len();
        match &mut self.scanner {
            Scanner::Empty => return Ok(Step::More),
            Scanner::Lines => {
                let upto = len.min(limit);
                if self.scan_pos < upto {
                    if let Some(i) = memrchr(b'\n', &buf[self.scan_pos..upto]) {
                        self.cut = Some(self.scan_pos + i + 1);
                    }
                    self.scan_pos = upto;
                }
                if self.cut.is_none() && self.scan_pos < len {
                    match memchr(b'\n', &buf[self.scan_pos..]) {
                        Some(i) => self.cut = Some(self.scan_pos + i + 1),
                        None => self.scan_pos = len,
                    }
                }
            }
            Scanner::Csv(s) => {
                // The last record end up to the limit, then, without one, the first after it.
                let upto = len.min(limit);
                if self.scan_pos < upto {
                    if let Some(b) = s.advance_to(buf, &mut self.scan_pos, upto) {
                        self.cut = Some(b);
                    }
                }
                while self.scan_pos < limit || self.cut.is_none() {
                    let Some(b) = s.next_boundary(buf, &mut self.scan_pos) else {
                        break;
                    };
                    if b <= limit || self.cut.is_none() {
                        self.cut = Some(b);
                    }
                    if b > limit {
                        break;
                    }
                }
            }
            Scanner::Json(s) => {
                while self.scan_pos < limit || self.cut.is_none() {
                    match s.next_event(buf, &mut self.scan_pos) {
                        None => break,
                        Some(JsonEvent::Comma { at, empty }) => {
                            if empty {
                                return Err(Fault::EmptyElement(at));
                            }
                            let b = at + 1;
                            if b <= limit || self.cut.is_none() {
                                self.cut = Some(b);
                            }
                            if b > limit {
                                break;
                            }
                        }
                        Some(JsonEvent::Close { at, trailing_comma }) => {
                            if trailing_comma {
                                return Err(Fault::TrailingComma(at));
                            }
                            if at <= limit || self.cut.is_none() {
                                return Ok(Step::Close(at));
                            }
                            break;
                        }
                    }
                }
            }
        }
        match self.cut {
            Some(c) if len >= limit || c > limit => Ok(Step::Cut(c)),
            _ => Ok(Step::More),
        }
    }

    fn fault_error(&self, fault: Fault) -> Error {
        let at = match fault {
            Fault::EmptyElement(at) | Fault::TrailingComma(at) => at,
        };
        if let Err(e) = self.check_utf8(at) {
            return e;
        }
        let (off, line) = self.loc(at);
        Error::InvalidFileFormat(match fault {
            Fault::EmptyElement(_) => format!(
                "JSON array has an empty element: unexpected ',' at byte {off} (line {line})"
            ),
            Fault::TrailingComma(_) => format!(
                "JSON array has a trailing comma before the closing ']' at byte {off} (line {line})"
            ),
        })
    }

    /// Stream offset and line of `pending[at]`.
    fn loc(&self, at: usize) -> (u64, u64) {
        let at = at.min(self.pending.len());
        (
            self.pend_offset + at as u64,
            self.pend_line + count_newlines(&self.pending[..at]),
        )
    }

    fn check_utf8(&self, end: usize) -> Result<()> {
        let end = end.min(self.pending.len());
        match utf8(&self.pending[..end]) {
            Ok(_) => Ok(()),
            Err(at) => {
                let (off, line) = self.loc(at);
                Err(not_utf8(off, line))
            }
        }
    }

    /// Hands out `pending[..c]` as the next chunk.
    fn emit(&mut self, c: usize, is_last: bool) -> Result<Chunk> {
        let c = c.min(self.pending.len());
        if self.check_utf8 {
            self.check_utf8(c)?;
        }
        if self.sniff_ndjson {
            if let Some(i) = first_non_ws(&self.pending[..c]) {
                if self.pending[i] == b'[' {
                    let (off, line) = self.loc(i);
                    return Err(Error::InvalidFileFormat(format!(
                        "file is not NDJSON: its first character, at byte {off} (line {line}), \
                         is '[', so it looks like a JSON array; declare the format as json"
                    )));
                }
                self.sniff_ndjson = false;
            }
        }
        let newlines = count_newlines(&self.pending[..c]);
        let next = (!is_last).then(|| self.spare.take().unwrap_or_default());
        let data = self.pending.split_off_front(c, next, self.chunk_size);
        let end = ResumePoint {
            offset: self.pend_offset + c as u64,
            line: self.pend_line + newlines,
        };
        let chunk = Chunk {
            seq: self.seq,
            data,
            start_offset: self.pend_offset,
            first_line: self.pend_line,
            end,
            is_last,
        };
        self.seq += 1;
        self.pend_offset = end.offset;
        self.pend_line = end.line;
        self.reset_scan(true);
        self.finished = is_last;
        Ok(chunk)
    }

    /// The stream has ended with no further boundary: the rest is the last chunk, if the format
    /// allows ending here.
    fn finish_eof(&mut self) -> Result<Chunk> {
        let len = self.pending.len();
        match &self.scanner {
            Scanner::Lines | Scanner::Empty => {}
            Scanner::Csv(s) => {
                if let Some(open) = s.unterminated() {
                    self.check_utf8(len)?;
                    let (off, line) = self.loc(open);
                    return Err(Error::CorruptedFile(format!(
                        "CSV quoted field opened at byte {off} (line {line}) is not closed at \
                         the end of the file"
                    )));
                }
            }
            Scanner::Json(s) => {
                self.check_utf8(len)?;
                let (off, line) = self.loc(len);
                let where_ = if s.in_string() {
                    "inside a string"
                } else if s.depth() > 0 {
                    "inside an element"
                } else {
                    "before its closing ']'"
                };
                return Err(Error::CorruptedFile(format!(
                    "JSON array is not closed: the file ends {where_} at byte {off} (line {line})"
                )));
            }
        }
        self.emit(len, true)
    }

    /// The JSON array closes at `pending[k]`: only whitespace may follow, to the end of the
    /// stream; `pending[..k]` is the last chunk.
    fn finish_json(&mut self, k: usize) -> Result<Chunk> {
        self.check_utf8(k)?;
        let after = k + 1;
        if let Some(i) = first_non_ws(self.pending.get(after..).unwrap_or(&[])) {
            return Err(self.trailing_error(after + i));
        }
        let mut base_off = self.pend_offset + self.pending.len() as u64;
        let mut base_line = self.pend_line + count_newlines(&self.pending);
        let mut buf = vec![0u8; MIN_BLOCK];
        loop {
            let n = self.read_some(&mut buf)?;
            if n == 0 {
                break;
            }
            if let Some(i) = buf[..n].iter().position(|&b| !is_json_ws(b)) {
                let off = base_off + i as u64;
                let line = base_line + count_newlines(&buf[..i]);
                return Err(Error::InvalidFileFormat(format!(
                    "unexpected data after the closing ']' of the JSON array at byte {off} (line {line})"
                )));
            }
            base_off += n as u64;
            base_line += count_newlines(&buf[..n]);
        }
        self.eof = true;
        self.emit(k, true)
    }

    fn trailing_error(&self, at: usize) -> Error {
        let (off, line) = self.loc(at);
        Error::InvalidFileFormat(format!(
            "unexpected data after the closing ']' of the JSON array at byte {off} (line {line})"
        ))
    }
}

fn not_utf8(offset: u64, line: u64) -> Error {
    Error::CorruptedFile(format!(
        "file is not valid UTF-8 at byte {offset} (line {line})"
    ))
}

/// `bytes` as text, or where its first invalid UTF-8 sequence starts. simdutf8 (SIMD, its
/// instruction set chosen at run time) checks the whole of every chunk in a fraction of the
/// instructions of `str::from_utf8`; the place of an error comes from the latter.
pub(super) fn utf8(bytes: &[u8]) -> std::result::Result<&str, usize> {
    match simdutf8::basic::from_utf8(bytes) {
        Ok(s) => Ok(s),
        Err(_) => std::str::from_utf8(bytes).map_err(|e| e.valid_up_to()),
    }
}

/// A chunk's bytes as text, or the error the framer gives for invalid UTF-8 there.
pub(crate) fn chunk_utf8(chunk: &Chunk) -> Result<&str> {
    utf8(&chunk.data).map_err(|at| {
        not_utf8(
            chunk.start_offset + at as u64,
            chunk.first_line + count_newlines(&chunk.data[..at]),
        )
    })
}
