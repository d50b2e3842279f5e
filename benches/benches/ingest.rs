//! Ingest into the default SQLite sink beside a plain rusqlite INSERT of the same rows.
//!
//! Group `sqlite_sink`, `Throughput::Elements(rows)`:
//! - `raw_insert`: prepared INSERT of the valid rows, 50,000 per transaction, no key;
//! - `raw_insert_unique_text`: the same with a UNIQUE index on the 36-character `eventId`;
//! - `ingest_job`: a whole job: pre-check, parse, validate, key rule, insert, checkpoints.
//!
//! Rows: `BULK_BENCH_INGEST_ROWS` (default 100000).

use std::hint::black_box;
use std::path::PathBuf;
use std::time::Duration;

use bulk_ingest::{Format, IngestRequest, Ingestor, IngestorOptions, UploadRequest};
use bulk_ingest_bench::{generate, GenOptions, FIELDS as COLS};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};

const POP: &str = include_str!("../../examples/schemas/pop-1.0.json");

fn rows() -> u64 {
    std::env::var("BULK_BENCH_INGEST_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000)
}

fn temp(tag: &str, n: u64) -> PathBuf {
    let p = std::env::temp_dir().join(format!(
        "bulk-ingest-bench-{tag}-{}-{n}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&p);
    std::fs::create_dir_all(&p).expect("temp dir");
    p
}

/// The valid rows of the file as SQL values.
fn valid_values(data: &[u8], schema: &bulk_ingest::Schema) -> Vec<Vec<rusqlite::types::Value>> {
    use rusqlite::types::Value;
    let mut rows = Vec::new();
    let mut bad = std::collections::HashSet::new();
    bulk_ingest::validate_bytes(
        data,
        Format::Ndjson,
        schema,
        &Default::default(),
        &mut |e| {
            bad.insert(e.row);
            Ok(())
        },
    )
    .expect("validate");
    for (i, line) in data
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .enumerate()
    {
        if bad.contains(&(i as u64 + 1)) {
            continue;
        }
        let v: serde_json::Value = serde_json::from_slice(line).expect("valid rows are JSON");
        rows.push(
            COLS.iter()
                .map(|c| match &v[*c] {
                    serde_json::Value::String(s) => Value::Text(s.clone()),
                    serde_json::Value::Number(n) if n.is_i64() => {
                        Value::Integer(n.as_i64().unwrap_or(0))
                    }
                    serde_json::Value::Number(n) => Value::Real(n.as_f64().unwrap_or(0.0)),
                    _ => Value::Null,
                })
                .collect(),
        );
    }
    rows
}

fn raw_insert(dir: &std::path::Path, rows: &[Vec<rusqlite::types::Value>], unique: bool) -> usize {
    let mut db = rusqlite::Connection::open(dir.join("raw.db")).expect("open");
    db.execute_batch(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA cache_size=-65536;",
    )
    .expect("pragmas");
    let cols: Vec<String> = COLS.iter().map(|c| format!("\"{c}\"")).collect();
    db.execute_batch(&format!(
        "CREATE TABLE t ({}, _job_id TEXT, _row INTEGER)",
        cols.join(", ")
    ))
    .expect("create");
    if unique {
        db.execute_batch("CREATE UNIQUE INDEX t_event ON t(\"eventId\")")
            .expect("index");
    }
    let sql = format!(
        "INSERT INTO t VALUES ({}, 'job', ?12)",
        ["?"; 11].join(", ")
    );
    for (b, batch) in rows.chunks(50_000).enumerate() {
        let tx = db.transaction().expect("tx");
        {
            let mut st = tx.prepare_cached(&sql).expect("prepare");
            for (i, r) in batch.iter().enumerate() {
                let mut params: Vec<&dyn rusqlite::ToSql> =
                    r.iter().map(|v| v as &dyn rusqlite::ToSql).collect();
                let row = (b * 50_000 + i) as i64;
                params.push(&row);
                st.execute(params.as_slice()).expect("insert");
            }
        }
        tx.commit().expect("commit");
    }
    rows.len()
}

fn sqlite_sink(c: &mut Criterion) {
    let n = rows();
    let mut data = Vec::new();
    generate(
        &GenOptions {
            rows: n,
            invalid_ratio: 0.05,
            seed: 11,
            format: bulk_ingest_bench::Format::Ndjson,
        },
        &mut data,
    )
    .expect("generate");
    let schema = bulk_ingest::Schema::compile(POP).expect("schema");
    let values = valid_values(&data, &schema);
    let mut g = c.benchmark_group("sqlite_sink");
    g.throughput(Throughput::Elements(n));
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(10));
    let mut iter = 0u64;
    for unique in [false, true] {
        let name = if unique {
            "raw_insert_unique_text"
        } else {
            "raw_insert"
        };
        g.bench_function(name, |b| {
            b.iter_batched(
                || {
                    iter += 1;
                    temp("raw", iter)
                },
                |dir| {
                    let r = black_box(raw_insert(&dir, &values, unique));
                    let _ = std::fs::remove_dir_all(&dir);
                    r
                },
                BatchSize::PerIteration,
            )
        });
    }
    g.bench_function("ingest_job", |b| {
        b.iter_batched(
            || {
                iter += 1;
                let dir = temp("job", iter);
                let ing = Ingestor::open(
                    &dir,
                    IngestorOptions {
                        workers: 0,
                        ..Default::default()
                    },
                )
                .expect("open");
                ing.register_schema("pop", "1.0", POP).expect("schema");
                let t = ing
                    .create_upload(&UploadRequest {
                        file_name: "pop.ndjson".into(),
                        format: Some(Format::Ndjson),
                        ..Default::default()
                    })
                    .expect("ticket");
                ing.receive_upload(&t.upload_url, &t.content_type, &mut &data[..])
                    .expect("upload");
                (dir, ing, t.file_id)
            },
            |(dir, ing, file_id)| {
                let job = ing
                    .start_ingest(&IngestRequest {
                        file_id,
                        dataset: "pop".into(),
                        schema_version: "1.0".into(),
                        ..Default::default()
                    })
                    .expect("start");
                ing.run_pending().expect("run");
                let st = ing.job(&job.job_id, None).expect("status");
                drop(ing);
                let _ = std::fs::remove_dir_all(&dir);
                black_box(st.processed_rows)
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

criterion_group!(benches, sqlite_sink);
criterion_main!(benches);
