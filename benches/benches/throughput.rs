//! Parse + validate throughput of each format beside the raw parser on the same bytes.
//!
//! One group per format, `Throughput::Bytes`; in each: `raw` (simd-json or csv-core alone),
//! `validate_1core` (framing, parsing and validation on the calling thread) and
//! `validate_2threads` (chunks validated on two threads, merged in order). Rows:
//! `BULK_BENCH_ROWS` (default 200000).

use std::hint::black_box;
use std::time::Duration;

use bulk_ingest::{Format, Schema, ValidateOptions};
use bulk_ingest_bench::{generate, raw, GenOptions};
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

fn bench_format(c: &mut Criterion, name: &str, gen: bulk_ingest_bench::Format, format: Format) {
    let data = file(gen);
    let schema = Schema::compile(POP).expect("pop schema");
    let mut g = c.benchmark_group(name);
    g.throughput(Throughput::Bytes(data.len() as u64));
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(8));
    match format {
        Format::Ndjson => {
            g.bench_function("raw_simd_json", |b| {
                b.iter(|| black_box(raw::ndjson(&data)))
            });
        }
        Format::Csv => {
            g.bench_function("raw_csv_core", |b| b.iter(|| black_box(raw::csv(&data))));
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
