//! Parse + validate throughput of each format beside the raw parser on the same bytes.
//!
//! One group per format, `Throughput::Bytes`; in each: `raw` (simd-json or csv-core alone),
//! `validate_1core` (framing, parsing and validation on the calling thread) and
//! `validate_2threads` (chunks validated on two threads, merged in order). Rows:
//! `BULK_BENCH_ROWS` (default 200000).

use std::hint::black_box;
use std::time::Duration;

use bulk_ingest::{Format, Schema, ValidateOptions};
use bulk_ingest_bench::{generate, GenOptions};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};

const POP: &str = include_str!("../../examples/schemas/pop-1.0.json");

fn rows() -> u64 {
    std::env::var("BULK_BENCH_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000)
}

fn file(format: bulk_ingest_bench::Format) -> Vec<u8> {
    let mut out = Vec::new();
    generate(
        &GenOptions {
            rows: rows(),
            invalid_ratio: 0.05,
            seed: 42,
            format,
        },
        &mut out,
    )
    .expect("generate");
    out
}

/// simd-json over each line, reusing one scratch buffer, one `Buffers` and one tape.
fn raw_ndjson(data: &[u8]) -> usize {
    let mut buffers = simd_json::Buffers::new(4096);
    let mut scratch = Vec::new();
    let mut tape_store = Some(simd_json::Tape::null());
    let mut nodes = 0;
    // Lines found with memchr, as fast as the library finds them (a byte-by-byte split made the
    // raw side ~25% slower than it need be).
    let mut at = 0;
    while at < data.len() {
        let end = memchr::memchr(b'\n', &data[at..]).map_or(data.len(), |i| at + i);
        let line = &data[at..end];
        at = end + 1;
        if line.is_empty() {
            continue;
        }
        scratch.clear();
        scratch.extend_from_slice(line);
        let mut tape = tape_store
            .take()
            .unwrap_or_else(simd_json::Tape::null)
            .reset();
        if simd_json::fill_tape(&mut scratch, &mut buffers, &mut tape).is_ok() {
            nodes += tape.0.len();
        }
        tape_store = Some(tape.reset());
    }
    nodes
}

/// csv-core over every record.
fn raw_csv(data: &[u8]) -> usize {
    let mut rdr = csv_core::Reader::new();
    let mut out = vec![0u8; 64 * 1024];
    let mut ends = vec![0usize; 64];
    let mut input = data;
    let mut records = 0;
    loop {
        let (res, nin, _, _) = rdr.read_record(input, &mut out, &mut ends);
        input = &input[nin..];
        match res {
            csv_core::ReadRecordResult::Record => records += 1,
            csv_core::ReadRecordResult::End => break,
            csv_core::ReadRecordResult::InputEmpty => {
                if input.is_empty() {
                    // Tell the reader the input has ended.
                    let (r, _, _, _) = rdr.read_record(&[], &mut out, &mut ends);
                    if matches!(r, csv_core::ReadRecordResult::Record) {
                        records += 1;
                    }
                    break;
                }
            }
            csv_core::ReadRecordResult::OutputFull => out.resize(out.len() * 2, 0),
            csv_core::ReadRecordResult::OutputEndsFull => ends.resize(ends.len() * 2, 0),
        }
    }
    records
}

fn bench_format(c: &mut Criterion, name: &str, gen: bulk_ingest_bench::Format, format: Format) {
    let data = file(gen);
    let schema = Schema::compile(POP).expect("pop schema");
    let mut g = c.benchmark_group(name);
    g.throughput(Throughput::Bytes(data.len() as u64));
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(8));
    match format {
        Format::Ndjson => {
            g.bench_function("raw_simd_json", |b| b.iter(|| black_box(raw_ndjson(&data))));
        }
        Format::Csv => {
            g.bench_function("raw_csv_core", |b| b.iter(|| black_box(raw_csv(&data))));
        }
        Format::Json => {
            g.bench_function("raw_simd_json", |b| {
                b.iter_batched_ref(
                    || data.clone(),
                    |copy| black_box(simd_json::to_tape(copy).map(|t| t.0.len()).unwrap_or(0)),
                    BatchSize::LargeInput,
                )
            });
        }
    }
    for (label, threads) in [("validate_1core", 0), ("validate_2threads", 2)] {
        let opts = ValidateOptions {
            threads,
            ..Default::default()
        };
        g.bench_function(label, |b| {
            b.iter(|| {
                let v = bulk_ingest::validate_bytes(&data, format, &schema, &opts, &mut |_| Ok(()))
                    .expect("valid file");
                black_box(v.valid_rows)
            })
        });
    }
    g.finish();
}

fn ndjson(c: &mut Criterion) {
    bench_format(
        c,
        "ndjson",
        bulk_ingest_bench::Format::Ndjson,
        Format::Ndjson,
    );
}

fn json(c: &mut Criterion) {
    bench_format(c, "json", bulk_ingest_bench::Format::Json, Format::Json);
}

fn csv(c: &mut Criterion) {
    bench_format(c, "csv", bulk_ingest_bench::Format::Csv, Format::Csv);
}

criterion_group!(benches, ndjson, json, csv);
criterion_main!(benches);
