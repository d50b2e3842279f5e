//! Figures of the scale-out backends (feature `scale`), against the services of
//! scripts/services.sh (BULK_INGEST_TEST_PG, BULK_INGEST_TEST_S3, AWS_*):
//!
//! 1. Ingest of the same 1,000,000-row NDJSON file into the PostgreSQL sink (blobs in the object
//!    store) and into the SQLite sink (blobs on disk): rows/s, and each as a share of the raw
//!    insert rate of that database measured in the same run (PostgreSQL: `COPY ... (FORMAT
//!    binary)` of the same typed rows; SQLite: one prepared INSERT per row in one transaction).
//! 2. Jobs per minute with 1, 2 and 4 workers on 8 files, PostgreSQL + object store.
//!
//! ```sh
//! scripts/services.sh start && . /tmp/bulk-ingest-services/env
//! cargo run --release -p bulk-ingest-bench --features scale --bin scale_figures -- [--rows N] [--files N --file-rows N]
//! ```

use std::time::Instant;

use bulk_ingest::{Format, IngestRequest, Ingestor, IngestorOptions, JobState, UploadRequest};
use bulk_ingest_bench::{generate, GenOptions};
use postgres::binary_copy::BinaryCopyInWriter;
use postgres::types::{ToSql, Type};

const POP_SCHEMA: &str = include_str!("../../../examples/schemas/pop-1.0.json");

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        eprintln!(
            "{name} is not set: start the services (scripts/services.sh) and source their env"
        );
        std::process::exit(2)
    })
}

fn temp(tag: &str) -> std::path::PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let d = std::env::temp_dir().join(format!("bulk-ingest-fig-{tag}-{nanos}"));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn unique(tag: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("f_{tag}_{}", nanos % 1_000_000_000_000)
}

fn scale_opts(tag: &str, workers: usize) -> IngestorOptions {
    let pg = env("BULK_INGEST_TEST_PG");
    let s3 = env("BULK_INGEST_TEST_S3");
    let u = unique(tag);
    let sep = if pg.contains('?') { '&' } else { '?' };
    IngestorOptions {
        state: Some(format!("{pg}{sep}schema={u}")),
        blobs: Some(format!("{}/{u}", s3.trim_end_matches('/'))),
        workers,
        ..Default::default()
    }
}

fn gen(rows: u64, seed: u64) -> (Vec<u8>, u64) {
    let mut out = Vec::new();
    let rec = generate(
        &GenOptions {
            rows,
            invalid_ratio: 0.05,
            seed,
            format: bulk_ingest_bench::Format::Ndjson,
        },
        &mut out,
    )
    .unwrap();
    (out, rec.valid_rows)
}

/// Uploads `body` (to the store's presigned URL when it has one) and queues a job.
fn queue(ing: &Ingestor, body: &[u8], presigned: bool) -> String {
    let req = UploadRequest {
        file_name: "pop.ndjson".into(),
        format: Some(Format::Ndjson),
        ..Default::default()
    };
    let file_id = if presigned {
        let t = ing.create_upload(&req).unwrap();
        let r = ureq::put(&t.upload_url)
            .set("Content-Type", &t.content_type)
            .send_bytes(body)
            .unwrap();
        assert_eq!(r.status(), 200);
        t.file_id
    } else {
        ing.upload_body(&req, "application/x-ndjson", &mut &body[..])
            .unwrap()
            .file_id
    };
    ing.start_ingest(&IngestRequest {
        file_id,
        dataset: "pop".into(),
        schema_version: "1.0".into(),
        ..Default::default()
    })
    .unwrap()
    .job_id
}

/// Runs one queued job on this thread; rows/s over the job's run.
fn run_one(ing: &Ingestor, job_id: &str, valid: u64) -> f64 {
    let t = Instant::now();
    let st = ing.run_job(job_id, None).unwrap();
    let secs = t.elapsed().as_secs_f64();
    assert!(st.status.is_terminal(), "{st:?}");
    assert_eq!(st.processed_rows, valid, "{st:?}");
    (st.processed_rows + st.error_rows) as f64 / secs
}

/// Typed POP-like rows for the raw insert rates: the sink table's columns.
struct RawRow {
    event_id: String,
    screen_id: String,
    creative_id: String,
    campaign_id: String,
    played_at: String,
    duration_ms: i64,
    impressions: f64,
    venue_type: &'static str,
    latitude: f64,
    longitude: f64,
    play_status: &'static str,
}

fn raw_rows(n: u64) -> Vec<RawRow> {
    (0..n)
        .map(|i| RawRow {
            event_id: format!("{:08x}-0000-4000-8000-{:012x}", i as u32, i),
            screen_id: format!("SCR-{:06}", i % 1_000_000),
            creative_id: format!("CR-{}", i % 997),
            campaign_id: format!("CMP-{}", i % 101),
            played_at: format!("2025-12-09T10:{:02}:{:02}.123Z", (i / 60) % 60, i % 60),
            duration_ms: (1 + i % 3_600_000) as i64,
            impressions: (i % 500) as f64,
            venue_type: "retail",
            latitude: 40.7128,
            longitude: -74.006,
            play_status: "completed",
        })
        .collect()
}

/// PostgreSQL's raw rate: COPY binary of `rows` into a fresh table, with a unique index on
/// the key as the sink has (rows/s).
fn pg_raw_rate(rows: &[RawRow]) -> f64 {
    let url = env("BULK_INGEST_TEST_PG");
    let mut c = postgres::Client::connect(url.split('?').next().unwrap(), postgres::NoTls).unwrap();
    let t = unique("raw");
    c.batch_execute(&format!(
        "CREATE TABLE {t} (\"eventId\" TEXT, \"screenId\" TEXT, \"creativeId\" TEXT, \"campaignId\" TEXT,
           \"playedAt\" TEXT, \"durationMs\" BIGINT, impressions DOUBLE PRECISION, \"venueType\" TEXT,
           latitude DOUBLE PRECISION, longitude DOUBLE PRECISION, \"playStatus\" TEXT,
           _job_id TEXT NOT NULL, _row BIGINT NOT NULL);
         CREATE TABLE {t}_keys (k BYTEA PRIMARY KEY);"
    ))
    .unwrap();
    let types = [
        Type::TEXT,
        Type::TEXT,
        Type::TEXT,
        Type::TEXT,
        Type::TEXT,
        Type::INT8,
        Type::FLOAT8,
        Type::TEXT,
        Type::FLOAT8,
        Type::FLOAT8,
        Type::TEXT,
        Type::TEXT,
        Type::INT8,
    ];
    let start = Instant::now();
    for chunk in rows.chunks(50_000) {
        let mut tx = c.transaction().unwrap();
        let keys: Vec<Vec<u8>> = chunk
            .iter()
            .map(|r| r.event_id.clone().into_bytes())
            .collect();
        tx.execute(
            &format!("INSERT INTO {t}_keys (k) SELECT unnest($1::bytea[]) ON CONFLICT DO NOTHING"),
            &[&keys],
        )
        .unwrap();
        let sink = tx
            .copy_in(&format!("COPY {t} FROM STDIN (FORMAT binary)"))
            .unwrap();
        let mut w = BinaryCopyInWriter::new(sink, &types);
        for (n, r) in chunk.iter().enumerate() {
            let row: [&(dyn ToSql + Sync); 13] = [
                &r.event_id,
                &r.screen_id,
                &r.creative_id,
                &r.campaign_id,
                &r.played_at,
                &r.duration_ms,
                &r.impressions,
                &r.venue_type,
                &r.latitude,
                &r.longitude,
                &r.play_status,
                &"job-raw",
                &(n as i64),
            ];
            w.write(&row).unwrap();
        }
        w.finish().unwrap();
        tx.commit().unwrap();
    }
    let rate = rows.len() as f64 / start.elapsed().as_secs_f64();
    c.batch_execute(&format!("DROP TABLE {t}; DROP TABLE {t}_keys;"))
        .unwrap();
    rate
}

/// SQLite's raw rate: one prepared INSERT per row, 50,000 rows per transaction, WAL, with an
/// integer-keyed key table as the embedded sink has (rows/s).
fn sqlite_raw_rate(rows: &[RawRow]) -> f64 {
    let dir = temp("sqlite-raw");
    let mut c = rusqlite::Connection::open(dir.join("raw.db")).unwrap();
    c.pragma_update(None, "journal_mode", "WAL").unwrap();
    c.pragma_update(None, "synchronous", "NORMAL").unwrap();
    c.execute_batch(
        "CREATE TABLE raw (eventId TEXT, screenId TEXT, creativeId TEXT, campaignId TEXT, playedAt TEXT,
           durationMs INTEGER, impressions REAL, venueType TEXT, latitude REAL, longitude REAL,
           playStatus TEXT, _job_id TEXT NOT NULL, _row INTEGER NOT NULL);
         CREATE TABLE raw_keys (h INTEGER PRIMARY KEY, r INTEGER NOT NULL);",
    )
    .unwrap();
    let start = Instant::now();
    for (c_no, chunk) in rows.chunks(50_000).enumerate() {
        let tx = c.transaction().unwrap();
        {
            let mut ins = tx
                .prepare_cached(
                    "INSERT INTO raw VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13)",
                )
                .unwrap();
            let mut key = tx
                .prepare_cached("INSERT OR IGNORE INTO raw_keys (h, r) VALUES (?1, ?2)")
                .unwrap();
            for (n, r) in chunk.iter().enumerate() {
                let row = (c_no * 50_000 + n) as i64;
                let h = (row as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) as i64;
                key.execute(rusqlite::params![h, row]).unwrap();
                ins.execute(rusqlite::params![
                    r.event_id,
                    r.screen_id,
                    r.creative_id,
                    r.campaign_id,
                    r.played_at,
                    r.duration_ms,
                    r.impressions,
                    r.venue_type,
                    r.latitude,
                    r.longitude,
                    r.play_status,
                    "job-raw",
                    row
                ])
                .unwrap();
            }
        }
        tx.commit().unwrap();
    }
    let rate = rows.len() as f64 / start.elapsed().as_secs_f64();
    let _ = std::fs::remove_dir_all(&dir);
    rate
}

fn main() {
    if std::env::args().any(|a| a == "--claims-only") {
        claims();
        return;
    }
    let mut rows: u64 = 1_000_000;
    let mut files: u64 = 8;
    let mut file_rows: u64 = 100_000;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let v: u64 = args.next().and_then(|v| v.parse().ok()).unwrap_or_else(|| {
            eprintln!("usage: scale_figures [--rows N] [--files N] [--file-rows N]");
            std::process::exit(2)
        });
        match a.as_str() {
            "--rows" => rows = v,
            "--files" => files = v,
            "--file-rows" => file_rows = v,
            _ => {
                eprintln!("unknown option {a}");
                std::process::exit(2)
            }
        }
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("machine: {cores} cores; PostgreSQL, s3s-fs and this process share them");

    // 1. The same file into each sink.
    let (body, valid) = gen(rows, 1);
    println!(
        "file: {rows} rows NDJSON, {} bytes, {valid} valid",
        body.len()
    );
    let raw = raw_rows(rows);
    let pg_raw = pg_raw_rate(&raw);
    let sqlite_raw = sqlite_raw_rate(&raw);
    drop(raw);

    let pg_ing = Ingestor::open(temp("pg"), scale_opts("sink", 0)).unwrap();
    pg_ing.register_schema("pop", "1.0", POP_SCHEMA).unwrap();
    let job = queue(&pg_ing, &body, true);
    let pg_rate = run_one(&pg_ing, &job, valid);
    drop(pg_ing);

    // The PostgreSQL sink with the blobs on local disk: the sink alone, without the object
    // store's serving cost on the same cores.
    let mut local_opts = scale_opts("sinklocal", 0);
    local_opts.blobs = None;
    let pl_ing = Ingestor::open(temp("pglocal"), local_opts).unwrap();
    pl_ing.register_schema("pop", "1.0", POP_SCHEMA).unwrap();
    let job = queue(&pl_ing, &body, false);
    let pl_rate = run_one(&pl_ing, &job, valid);
    drop(pl_ing);

    let sq_ing = Ingestor::open(
        temp("sqlite"),
        IngestorOptions {
            workers: 0,
            ..Default::default()
        },
    )
    .unwrap();
    sq_ing.register_schema("pop", "1.0", POP_SCHEMA).unwrap();
    let job = queue(&sq_ing, &body, false);
    let sq_rate = run_one(&sq_ing, &job, valid);
    drop(sq_ing);
    drop(body);

    println!("| sink | ingest rows/s | raw insert rows/s | ingest / raw |");
    println!("|---|---:|---:|---:|");
    println!(
        "| PostgreSQL (COPY binary) + object store | {pg_rate:.0} | {pg_raw:.0} | {:.2} |",
        pg_rate / pg_raw
    );
    println!(
        "| PostgreSQL (COPY binary) + local disk | {pl_rate:.0} | {pg_raw:.0} | {:.2} |",
        pl_rate / pg_raw
    );
    println!(
        "| SQLite + local disk | {sq_rate:.0} | {sqlite_raw:.0} | {:.2} |",
        sq_rate / sqlite_raw
    );

    claims();

    // 2. Jobs per minute with 1, 2, 4 workers (threads of one process, each a worker as on
    // its own machine) on `files` files.
    let bodies: Vec<(Vec<u8>, u64)> = (0..files).map(|f| gen(file_rows, 100 + f)).collect();
    println!("| workers | {files} jobs of {file_rows} rows: seconds | jobs/minute | rows/s |");
    println!("|---:|---:|---:|---:|");
    for workers in [1usize, 2, 4] {
        let api = Ingestor::open(temp("jpm"), scale_opts(&format!("jpm{workers}"), 0)).unwrap();
        api.register_schema("pop", "1.0", POP_SCHEMA).unwrap();
        let jobs: Vec<String> = bodies.iter().map(|(b, _)| queue(&api, b, true)).collect();
        let start = Instant::now();
        std::thread::scope(|s| {
            for _ in 0..workers {
                s.spawn(|| while api.run_pending().unwrap() > 0 {});
            }
        });
        let secs = start.elapsed().as_secs_f64();
        for (id, (_, valid)) in jobs.iter().zip(&bodies) {
            let st = api.job(id, None).unwrap();
            assert_eq!(st.status, JobState::PartiallyCompleted, "{st:?}");
            assert_eq!(st.processed_rows, *valid);
        }
        println!(
            "| {workers} | {secs:.1} | {:.1} | {:.0} |",
            files as f64 * 60.0 / secs,
            (files * file_rows) as f64 / secs
        );
    }
}

/// Claim contention: N claimers (threads, each with its own connections) draining 2,000
/// queued jobs, each claim followed by the job's finish: claims/s of the whole database.
fn claims() {
    println!("| claimers | claims+finishes/s |");
    println!("|---:|---:|");
    for claimers in [1usize, 4, 16] {
        let pg = env("BULK_INGEST_TEST_PG");
        let sep = if pg.contains('?') { '&' } else { '?' };
        let store = bulk_ingest::PgStateStore::open(&format!(
            "{pg}{sep}schema={}",
            unique(&format!("claims{claimers}"))
        ))
        .unwrap();
        let n = 2_000;
        for i in 0..n {
            bulk_ingest::conformance::queued_job(&store, &format!("job-claim-{i}"));
        }
        let start = Instant::now();
        let claimed = std::sync::atomic::AtomicU64::new(0);
        std::thread::scope(|s| {
            for w in 0..claimers {
                let (store, claimed) = (&store, &claimed);
                s.spawn(move || {
                    use bulk_ingest::StateStore;
                    let worker = format!("claimer-{w}");
                    let now = bulk_ingest::Timestamp::now();
                    let lease = std::time::Duration::from_secs(60);
                    while let Some(j) = store.claim_next(&worker, now, lease).unwrap() {
                        let l = bulk_ingest::Lease {
                            job_id: j.job_id,
                            worker: worker.clone(),
                        };
                        assert!(store
                            .finish_job(&l, JobState::Completed, None, now)
                            .unwrap());
                        claimed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                });
            }
        });
        assert_eq!(claimed.into_inner(), n);
        println!(
            "| {claimers} | {:.0} |",
            n as f64 / start.elapsed().as_secs_f64()
        );
    }
}
