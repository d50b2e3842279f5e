//! The row engine's driver: frames a stream into chunks, validates chunks in parallel, and
//! hands their results back in file order, numbered exactly as one pass would number them.
//!
//! ```text
//! framer thread ──chunks──> validator threads (N) ──results──> caller (in order: sink / summary)
//! ```

use std::collections::BTreeMap;
use std::io::Read;
use std::ops::Range;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Mutex};

use crate::batch::{key_hash as batch_key_hash, RowBatch, RowMeta};
use crate::error::{Error, Result};
use crate::format::{self, Chunk, CsvRows, Framer, FramerOptions, ResumePoint};
use crate::schema::{CsvColumns, Schema};
use crate::types::{Cell, Format, RowError, RowErrorCode};
use crate::unique::{ChunkKeys, KeyOf, KeyScope, UniqueTracker};
use simd_json::{Node, StaticNode};

/// How to run a pass.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PassOptions {
    /// Validator threads; 0 validates on the calling thread (one core, no overlap).
    pub threads: usize,
    /// Target chunk size in bytes.
    pub chunk_size: usize,
    /// What of a valid row the batches carry.
    pub rows: RowsKept,
    /// Which keys the validating threads read for the in-file uniqueness check
    /// ([`ChunkResult::keys`]).
    pub keys: KeyScope,
}

/// What of a valid row a pass keeps in its batches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RowsKept {
    /// Every cell, and the key hash the sink uses: rows that are stored.
    All,
    /// No cell, only each valid row's place and its keys ([`ChunkResult::keys`]): a pass that
    /// counts rows and checks uniqueness but stores nothing need not copy any value.
    KeysOnly,
}

impl Default for PassOptions {
    fn default() -> Self {
        PassOptions {
            threads: default_threads(),
            chunk_size: 1 << 20,
            rows: RowsKept::All,
            keys: KeyScope::Nothing,
        }
    }
}

/// The machine's parallelism (at least 1).
pub(crate) fn default_threads() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// Where a pass starts.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Start {
    pub resume: Option<ResumePoint>,
    /// Data rows before the resume point.
    pub rows_before: u64,
}

/// One chunk's results, numbered in the file.
pub(crate) struct ChunkResult {
    /// Resume point after the chunk.
    pub end: ResumePoint,
    /// Data rows in the chunk (valid or not).
    pub rows: u64,
    /// Number of valid rows.
    pub valid: u64,
    /// Valid rows (with [`RowsKept::KeysOnly`], without cells; and without rows at all when
    /// the pass checks no key: then only `valid` counts them).
    pub batch: RowBatch,
    /// The keys of the valid rows, in batch order.
    pub keys: ChunkKeys,
    /// Errors of invalid rows, ordered by row.
    pub errors: Vec<RowError>,
    /// Invalid rows: (row, line, bytes in `data`).
    pub failed: Vec<(u64, Option<u64>, Range<u32>)>,
    /// The chunk's bytes.
    pub data: Arc<Vec<u8>>,
    /// Whether this is the file's last chunk.
    pub is_last: bool,
}

/// Whether to go on after a chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flow {
    Continue,
    Stop,
}

struct Ctx<'s> {
    schema: &'s Schema,
    format: Format,
    csv: Option<CsvColumns>,
    rows: RowsKept,
    /// The uniqueness constraints whose keys the validators read.
    constraints: Vec<KeyOf>,
}

impl Ctx<'_> {
    /// Values a batch row holds: every field, or none when the pass keeps no cells.
    fn batch_columns(&self) -> usize {
        match self.rows {
            RowsKept::All => self.schema.fields().len(),
            RowsKept::KeysOnly => 0,
        }
    }

    /// Whether valid rows are recorded: a pass that neither stores rows nor checks keys only
    /// counts them.
    fn keeps_rows(&self) -> bool {
        self.rows == RowsKept::All || !self.constraints.is_empty()
    }
}

impl ChunkResult {
    /// Records a row just read: a valid one's keys and cells (as far as the pass keeps them),
    /// an invalid one's place.
    #[inline]
    fn record(
        &mut self,
        ctx: &Ctx<'_>,
        valid: bool,
        cells: &[Cell<'_>],
        row: u64,
        line: u64,
        raw: Range<u32>,
    ) {
        if !valid {
            self.failed.push((row, Some(line), raw));
            return;
        }
        self.valid += 1;
        if !ctx.keeps_rows() {
            return;
        }
        if !ctx.constraints.is_empty() {
            self.keys.push_row(cells, &ctx.constraints);
        }
        // The sink's key hash, only for rows that are kept whole.
        let key_hash = match (ctx.rows, ctx.schema.primary_key()) {
            (RowsKept::All, Some(k)) => batch_key_hash(cells, k),
            _ => 0,
        };
        self.batch.push(
            cells.get(..ctx.batch_columns()).unwrap_or(cells),
            RowMeta {
                row,
                line: Some(line),
                raw,
                // The batch's first (only) chunk: its bytes are attached once the rows are read.
                chunk: 0,
                key_hash,
            },
        );
    }
}

/// Runs one pass over `reader`. `on_chunk` receives every chunk's results in file order, and may stop the pass.
pub(crate) fn run<R: Read + Send>(
    reader: R,
    format: Format,
    schema: &Schema,
    start: Start,
    opts: PassOptions,
    on_chunk: &mut dyn FnMut(ChunkResult) -> Result<Flow>,
) -> Result<()> {
    let framer = Framer::new(
        reader,
        format,
        FramerOptions {
            chunk_size: opts.chunk_size,
            resume: start.resume,
        },
    )?;
    run_framer(framer, format, schema, start, opts, on_chunk)
}

/// [`run`] that does not read a plain (not gzip) file up to `start.resume`: `head` reads the
/// file from its first byte (for its start: CSV header, JSON `'['`, checks), and `open_at`
/// opens it at the resume offset (see [`Framer::with_seek`]). The results are those of `run`.
pub(crate) fn run_seek<R: Read + Send>(
    head: R,
    open_at: impl FnOnce(u64) -> Result<R>,
    format: Format,
    schema: &Schema,
    start: Start,
    opts: PassOptions,
    on_chunk: &mut dyn FnMut(ChunkResult) -> Result<Flow>,
) -> Result<()> {
    let framer = Framer::with_seek(
        head,
        format,
        FramerOptions {
            chunk_size: opts.chunk_size,
            resume: start.resume,
        },
        open_at,
    )?;
    run_framer(framer, format, schema, start, opts, on_chunk)
}

fn run_framer<R: Read + Send>(
    mut framer: Framer<R>,
    format: Format,
    schema: &Schema,
    start: Start,
    opts: PassOptions,
    on_chunk: &mut dyn FnMut(ChunkResult) -> Result<Flow>,
) -> Result<()> {
    let csv = match format {
        Format::Csv => {
            let header = framer.csv_header().unwrap_or(&[]);
            let names: Vec<&str> = header.iter().map(String::as_str).collect();
            Some(schema.csv_columns(&names)?)
        }
        _ => None,
    };
    let ctx = Ctx {
        schema,
        format,
        csv,
        rows: opts.rows,
        constraints: KeyOf::plan(&opts.keys.constraints(schema), schema),
    };
    let mut rows_before = start.rows_before;
    let recycler = framer.recycler();
    framer.leave_utf8_check();
    let mut deliver = |mut r: ChunkResult| -> Result<Flow> {
        let base = rows_before;
        rows_before += r.rows;
        r.batch.renumber(base);
        for e in &mut r.errors {
            e.row += base;
        }
        for f in &mut r.failed {
            f.0 += base;
        }
        // A caller that kept nothing of the chunk leaves its buffer for the framer's next one.
        let data = Arc::clone(&r.data);
        let flow = on_chunk(r);
        if let Ok(buf) = Arc::try_unwrap(data) {
            recycler.give(buf);
        }
        flow
    };
    // The reader the framer built for the CSV header goes to the first thread's rows (the
    // others build their own).
    let header_reader = framer.take_csv_reader();
    if opts.threads == 0 {
        let mut scratch = Scratch::with_csv_reader(header_reader);
        while let Some(chunk) = framer.next_chunk()? {
            if deliver(validate_chunk(&ctx, chunk, &mut scratch)?)? == Flow::Stop {
                break;
            }
        }
        return Ok(());
    }
    run_parallel(framer, &ctx, opts.threads, header_reader, &mut deliver)
}

type Msg = (u64, Result<ChunkResult>);

fn run_parallel<R: Read + Send>(
    mut framer: Framer<R>,
    ctx: &Ctx<'_>,
    threads: usize,
    mut header_reader: Option<csv_core::Reader>,
    deliver: &mut dyn FnMut(ChunkResult) -> Result<Flow>,
) -> Result<()> {
    let (chunk_tx, chunk_rx) = sync_channel::<(u64, Result<Chunk>)>(threads + 1);
    let chunk_rx = Arc::new(Mutex::new(chunk_rx));
    let (res_tx, res_rx) = sync_channel::<Msg>(threads + 1);
    // The framer may run at most `window` chunks ahead of the merge. Without this bound, a
    // validator that is descheduled on chunk k lets the other run on, and every chunk after k
    // waits in the merge's reorder buffer: memory then grows with the file on a busy machine.
    let window = threads + 1;
    let (permit_tx, permit_rx) = sync_channel::<()>(window);
    for _ in 0..window {
        let _ = permit_tx.send(());
    }
    std::thread::scope(|scope| {
        scope.spawn(move || {
            let mut seq = 0u64;
            loop {
                // The merge hands a permit back for each chunk it has delivered, and drops its
                // sender when it stops.
                if permit_rx.recv().is_err() {
                    break;
                }
                let next = framer.next_chunk();
                let done = !matches!(next, Ok(Some(_)));
                let msg = match next {
                    Ok(Some(c)) => Ok(c),
                    Ok(None) => break,
                    Err(e) => Err(e),
                };
                if chunk_tx.send((seq, msg)).is_err() || done {
                    break;
                }
                seq += 1;
            }
        });
        for _ in 0..threads {
            let rx = Arc::clone(&chunk_rx);
            let tx: SyncSender<Msg> = res_tx.clone();
            let reader = header_reader.take();
            scope.spawn(move || {
                let mut scratch = Scratch::with_csv_reader(reader);
                loop {
                    let next = match rx.lock() {
                        Ok(guard) => guard.recv(),
                        Err(_) => return,
                    };
                    let Ok((seq, chunk)) = next else { return };
                    let out = chunk.and_then(|c| validate_chunk(ctx, c, &mut scratch));
                    if tx.send((seq, out)).is_err() {
                        return;
                    }
                }
            });
        }
        drop(res_tx);
        // Only the threads may hold the chunk receiver: when they stop, the framer's next send
        // fails and it stops too.
        drop(chunk_rx);
        let r = merge_in_order(&res_rx, &mut |result| {
            let flow = deliver(result)?;
            let _ = permit_tx.send(());
            Ok(flow)
        });
        // Dropping the results receiver makes every validator's next send fail, and dropping
        // the permits wakes a framer waiting for one, so the scope can join them even when the
        // pass stopped early.
        drop(res_rx);
        drop(permit_tx);
        r
    })
}

fn merge_in_order(
    rx: &Receiver<Msg>,
    deliver: &mut dyn FnMut(ChunkResult) -> Result<Flow>,
) -> Result<()> {
    let mut pending: BTreeMap<u64, Result<ChunkResult>> = BTreeMap::new();
    let mut next = 0u64;
    loop {
        while let Some(r) = pending.remove(&next) {
            next += 1;
            if deliver(r?)? == Flow::Stop {
                return Ok(());
            }
        }
        match rx.recv() {
            Ok((seq, r)) => {
                pending.insert(seq, r);
            }
            Err(_) => {
                return if pending.is_empty() {
                    Ok(())
                } else {
                    Err(Error::storage(
                        "a validation thread stopped before its chunk was done",
                    ))
                };
            }
        }
    }
}

#[derive(Default)]
struct Scratch {
    row: Vec<u8>,
    buffers: Option<simd_json::Buffers>,
    tape: Option<simd_json::Tape<'static>>,
    /// The tape of a flat row (`format::flat_object`).
    flat: Vec<Node<'static>>,
    cells: Vec<Cell<'static>>,
    /// CSV: the csv-core reader and its buffers, kept from chunk to chunk.
    csv: Option<format::CsvBuffers>,
    /// The last chunk's bytes, rows and batch text, to size the next chunk's batch up front
    /// (growing it by doubling showed up as copies and page faults).
    last: Option<(usize, usize, usize)>,
}

impl Scratch {
    /// A scratch whose CSV rows start with `reader` (one built with csv-core's defaults).
    fn with_csv_reader(reader: Option<csv_core::Reader>) -> Self {
        Scratch {
            csv: reader.map(format::CsvBuffers::from_reader),
            ..Scratch::default()
        }
    }

    /// About how many valid rows a chunk of `bytes` holds, from the last chunk (0 at first).
    fn expected_rows(&self, bytes: usize) -> usize {
        self.last.map_or(0, |(lb, rows, _)| {
            let rows = (rows as u128 * bytes as u128 / lb.max(1) as u128) as usize;
            rows + rows / 8 + 16
        })
    }

    fn new_batch(&self, ncols: usize, bytes: usize) -> RowBatch {
        let mut b = RowBatch::new(ncols);
        if let Some((lb, rows, text)) = self.last {
            let lb = lb.max(1);
            let scale = |n: usize| (n as u128 * bytes as u128 / lb as u128) as usize;
            let rows = scale(rows);
            let text = scale(text);
            b.reserve(rows + rows / 8 + 16, text + text / 8 + 256);
        }
        b
    }
}

/// Reads and validates one chunk. The framer has left the UTF-8 check to this (parallel) step:
/// invalid UTF-8 is the pass's `CORRUPTED_FILE` error here.
fn validate_chunk(ctx: &Ctx<'_>, chunk: Chunk, s: &mut Scratch) -> Result<ChunkResult> {
    let text = format::chunk_utf8(&chunk)?;
    let mut out = ChunkResult {
        end: chunk.end,
        rows: 0,
        valid: 0,
        batch: if ctx.keeps_rows() {
            s.new_batch(ctx.batch_columns(), chunk.data.len())
        } else {
            RowBatch::new(0)
        },
        keys: ChunkKeys::with_capacity(ctx.constraints.len(), s.expected_rows(chunk.data.len())),
        errors: Vec::new(),
        failed: Vec::new(),
        data: Arc::new(Vec::new()),
        is_last: chunk.is_last,
    };
    let view = &chunk;
    let mut rel_row = 0u64;
    match ctx.format {
        Format::Ndjson | Format::Json => {
            let mut buffers = s
                .buffers
                .take()
                .unwrap_or_else(|| simd_json::Buffers::new(4096));
            let mut tape_store = s.tape.take();
            let rows: Box<dyn Iterator<Item = format::RawRow<'_>>> = if ctx.format == Format::Ndjson
            {
                Box::new(format::ndjson_rows(view))
            } else {
                Box::new(format::json_array_rows(view))
            };
            // The tape of flat rows: they all borrow the chunk's text, so one per chunk.
            let mut flat: Vec<Node<'_>> = std::mem::take(&mut s.flat);
            for raw in rows {
                rel_row += 1;
                let range = range_in(&view.data, raw.bytes);
                let mut cells: Vec<Cell<'_>> = std::mem::take(&mut s.cells);
                let before = out.errors.len();
                // The common flat row is read straight from the chunk; any other goes through
                // simd-json (see `format::flat`).
                let line = text.get(range.start as usize..range.end as usize);
                let valid = if line.is_some_and(|l| format::flat_object(l, &mut flat)) {
                    ctx.schema.validate_json(
                        &flat,
                        rel_row,
                        Some(raw.line),
                        &mut cells,
                        &mut out.errors,
                    )
                } else {
                    s.row.clear();
                    s.row.extend_from_slice(raw.bytes);
                    let mut tape = tape_store
                        .take()
                        .unwrap_or_else(simd_json::Tape::null)
                        .reset();
                    let valid = match simd_json::fill_tape(&mut s.row, &mut buffers, &mut tape) {
                        Ok(()) => ctx.schema.validate_json(
                            &tape.0,
                            rel_row,
                            Some(raw.line),
                            &mut cells,
                            &mut out.errors,
                        ),
                        Err(e) => {
                            out.errors.push(malformed(
                                rel_row,
                                raw.line,
                                &format!("not valid JSON: {e}"),
                            ));
                            false
                        }
                    };
                    tape_store = Some(tape.reset());
                    valid
                };
                debug_assert!(valid || out.errors.len() > before);
                out.record(ctx, valid, &cells, rel_row, raw.line, range);
                s.cells = recycle(cells);
            }
            s.flat = recycle_nodes(flat);
            s.buffers = Some(buffers);
            s.tape = tape_store;
        }
        Format::Csv => {
            let Some(cols) = ctx.csv.as_ref() else {
                // `run` always builds the columns for CSV.
                return Ok(out);
            };
            let buffers = s.csv.take().unwrap_or_default();
            let mut rows = CsvRows::with_buffers(view, Some(text), buffers);
            while let Some(rec) = rows.next_record() {
                rel_row += 1;
                let range = range_in(&view.data, rec.raw.bytes);
                let line = rec.raw.line;
                let mut cells: Vec<Cell<'_>> = std::mem::take(&mut s.cells);
                let valid = ctx.schema.validate_csv(
                    cols,
                    rec.record,
                    rec.ends,
                    rec.sep,
                    rel_row,
                    Some(line),
                    &mut cells,
                    &mut out.errors,
                );
                out.record(ctx, valid, &cells, rel_row, line, range);
                s.cells = recycle(cells);
            }
            s.csv = Some(rows.into_buffers());
        }
    }
    out.rows = rel_row;
    s.last = Some((chunk.data.len(), out.valid as usize, out.batch.text_len()));
    let data = Arc::new(chunk.data);
    out.batch.add_chunk(Arc::clone(&data));
    out.data = data;
    Ok(out)
}

/// Empties a row's cells and gives the allocation back for the next row (collected in place).
fn recycle(mut cells: Vec<Cell<'_>>) -> Vec<Cell<'static>> {
    cells.clear();
    cells.into_iter().map(|_| Cell::Null).collect()
}

/// [`recycle`] for a flat row's tape.
fn recycle_nodes(mut nodes: Vec<Node<'_>>) -> Vec<Node<'static>> {
    nodes.clear();
    nodes
        .into_iter()
        .map(|_| Node::Static(StaticNode::Null))
        .collect()
}

fn range_in(data: &[u8], part: &[u8]) -> Range<u32> {
    let start = (part.as_ptr() as usize).wrapping_sub(data.as_ptr() as usize);
    if start > data.len() {
        return 0..0;
    }
    start as u32..(start + part.len()) as u32
}

fn malformed(row: u64, line: u64, why: &str) -> RowError {
    RowError {
        row,
        line: Some(line),
        field: None,
        code: RowErrorCode::MalformedRow,
        message: format!("row is {why}"),
    }
}

/// Applies per-file uniqueness (in file order) to a chunk's results: each later occurrence of
/// a key leaves the valid rows and becomes a `UNIQUE` row error. The pass must have read the
/// tracker's keys (`PassOptions::keys`).
pub(crate) fn enforce_unique(r: &mut ChunkResult, tracker: &mut UniqueTracker, schema: &Schema) {
    if tracker.is_empty() {
        return;
    }
    let found = tracker.check_keys(&r.keys, r.batch.len());
    if found.is_empty() {
        return;
    }
    let mut dups = Vec::with_capacity(found.len());
    let mut new_errors = Vec::with_capacity(found.len());
    for d in found {
        let (i, c) = (d.row, d.constraint);
        let slots = tracker.slots(c);
        let names: Vec<&str> = slots
            .iter()
            .filter_map(|&s| schema.fields().get(s))
            .map(|f| f.name.as_str())
            .collect();
        let key = r.keys.display(i, c);
        let shown: String = key.replace('\u{1f}', ", ").chars().take(80).collect();
        let m = r.batch.meta(i);
        new_errors.push(RowError {
            row: m.row,
            line: m.line,
            field: Some(names.join(",")),
            code: RowErrorCode::Unique,
            message: format!(
                "{}: \"{}\" duplicates an earlier row of the file (must be unique)",
                names.join(","),
                shown
            ),
        });
        r.failed.push((m.row, m.line, m.raw.clone()));
        dups.push(i);
    }
    r.batch.remove_rows(&dups);
    r.valid -= dups.len() as u64;
    // The keys have served: they no longer line up with the batch.
    r.keys = ChunkKeys::default();
    r.errors.extend(new_errors);
    r.errors.sort_by_key(|e| e.row);
    r.failed.sort_by_key(|f| f.0);
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCHEMA: &str =
        r#"{"type":"object","properties":{"id":{"type":"integer"}},"required":["id"]}"#;

    fn lines(n: usize) -> Vec<u8> {
        (1..=n)
            .map(|i| format!("{{\"id\":{i}}}\n"))
            .collect::<String>()
            .into_bytes()
    }

    #[test]
    fn invalid_utf8_in_a_later_chunk_fails_the_pass_where_the_framer_would() {
        let schema = Schema::compile(SCHEMA).unwrap();
        for format in [Format::Ndjson, Format::Csv] {
            let mut data = match format {
                Format::Csv => b"id\r\n".to_vec(),
                _ => Vec::new(),
            };
            for i in 1..=60 {
                if i == 41 {
                    data.extend_from_slice(b"\xff");
                }
                match format {
                    Format::Csv => data.extend_from_slice(format!("{i}\r\n").as_bytes()),
                    _ => data.extend_from_slice(format!("{{\"id\":{i}}}\n").as_bytes()),
                }
            }
            let at = data.iter().position(|&b| b == 0xff).unwrap();
            let line = 1 + data[..at].iter().filter(|&&b| b == b'\n').count();
            let want = format!("file is not valid UTF-8 at byte {at} (line {line})");
            // The framer's own check (what a pre-check reports) says the same.
            let pre = format::precheck(&data[..], format, None).unwrap_err();
            assert_eq!(
                pre.to_string(),
                Error::CorruptedFile(want.clone()).to_string()
            );
            for threads in [0, 2] {
                let mut delivered = 0;
                let err = run(
                    &data[..],
                    format,
                    &schema,
                    Start::default(),
                    PassOptions {
                        threads,
                        chunk_size: 64,
                        ..Default::default()
                    },
                    &mut |r| {
                        delivered += r.rows;
                        Ok(Flow::Continue)
                    },
                )
                .unwrap_err();
                assert_eq!(err.code(), "CORRUPTED_FILE");
                assert_eq!(
                    err.to_string(),
                    pre.to_string(),
                    "{format} threads {threads}"
                );
                // Every chunk before the bad one was delivered.
                assert!(delivered > 30 && delivered < 41, "{format}: {delivered}");
            }
        }
    }

    #[test]
    fn stopping_early_joins_every_thread() {
        // Many small chunks: the channels fill up while the caller stops after the first one.
        let data = lines(50_000);
        let schema = Schema::compile(SCHEMA).unwrap();
        for threads in [0, 1, 2, 4] {
            let mut seen = 0;
            run(
                &data[..],
                Format::Ndjson,
                &schema,
                Start::default(),
                PassOptions {
                    threads,
                    chunk_size: 256,
                    rows: RowsKept::All,
                    keys: KeyScope::Nothing,
                },
                &mut |_| {
                    seen += 1;
                    Ok(Flow::Stop)
                },
            )
            .unwrap();
            assert_eq!(seen, 1);
            let err = run(
                &data[..],
                Format::Ndjson,
                &schema,
                Start::default(),
                PassOptions {
                    threads,
                    chunk_size: 256,
                    rows: RowsKept::All,
                    keys: KeyScope::Nothing,
                },
                &mut |_| Err(Error::storage("sink down")),
            );
            assert_eq!(err.unwrap_err().code(), "STORAGE_ERROR");
        }
    }

    #[test]
    fn parallel_and_serial_passes_agree_exactly() {
        let mut data = lines(20_000);
        // Some invalid rows spread over many chunks.
        for i in (0..data.len()).step_by(997) {
            if data[i] == b'1' {
                data[i] = b'x';
            }
        }
        let schema = Schema::compile(SCHEMA).unwrap();
        let collect = |threads: usize, chunk_size: usize| {
            let mut rows = Vec::new();
            let mut errors = Vec::new();
            run(
                &data[..],
                Format::Ndjson,
                &schema,
                Start::default(),
                PassOptions {
                    threads,
                    chunk_size,
                    rows: RowsKept::All,
                    keys: KeyScope::Nothing,
                },
                &mut |r| {
                    for i in 0..r.batch.len() {
                        rows.push((
                            r.batch.row_number(i),
                            r.batch.meta(i).line,
                            r.batch.raw(i).to_vec(),
                        ));
                    }
                    errors.extend(r.errors);
                    Ok(Flow::Continue)
                },
            )
            .unwrap();
            (rows, errors)
        };
        let serial = collect(0, 1 << 20);
        assert!(!serial.1.is_empty());
        assert_eq!(serial.0.len() + serial.1.len(), 20_000);
        for (threads, chunk) in [(1, 300), (2, 1000), (3, 4096), (0, 77)] {
            assert_eq!(
                collect(threads, chunk),
                serial,
                "threads {threads}, chunk {chunk}"
            );
        }
    }

    #[test]
    fn csv_passes_read_the_same_rows_at_every_chunk_size_and_thread_count() {
        // Each thread hands its csv-core reader from chunk to chunk (the first one is the
        // header's): the rows must be read as by a reader of their own, wherever chunks are cut.
        let schema = Schema::compile(
            r#"{"type":"object","properties":{"id":{"type":"integer"},"name":{"type":"string"}},"required":["id"]}"#,
        )
        .unwrap();
        let mut data = b"\xEF\xBB\xBFid,name\r\n".to_vec();
        let mut bad = Vec::new();
        for i in 1..=400u64 {
            let row = match i % 13 {
                0 => {
                    bad.push(i);
                    format!("x{i},name\r\n")
                }
                5 => format!("{i},\"quoted, \"\"name\"\"\nover two lines\"\r\n"),
                7 => {
                    bad.push(i);
                    format!("{i}\r\n")
                }
                _ => format!("{i},name {i}\n"),
            };
            data.extend_from_slice(row.as_bytes());
        }
        for (threads, chunk_size) in [
            (0, 1 << 20),
            (0, 1),
            (0, 50),
            (0, 333),
            (1, 100),
            (2, 50),
            (2, 4096),
        ] {
            let (mut errors, mut valid, mut rows) = (Vec::new(), 0, 0);
            run(
                &data[..],
                Format::Csv,
                &schema,
                Start::default(),
                PassOptions {
                    threads,
                    chunk_size,
                    ..Default::default()
                },
                &mut |r| {
                    errors.extend(r.errors.iter().map(|e| e.row));
                    valid += r.valid;
                    rows += r.rows;
                    Ok(Flow::Continue)
                },
            )
            .unwrap();
            let at = format!("threads {threads}, chunk size {chunk_size}");
            assert_eq!(errors, bad, "{at}");
            assert_eq!((rows, valid), (400, 400 - bad.len() as u64), "{at}");
        }
    }
}
