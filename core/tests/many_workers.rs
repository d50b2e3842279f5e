//! Many workers on one PostgreSQL and one object store: 4 worker processes, 12 jobs of 50,000
//! rows (NDJSON, CSV, JSON; some with invalid rows), one worker SIGKILLed in the middle of a
//! job. Every job ends terminal with exact counts, every valid row is stored exactly once, and
//! the killed worker's job is resumed by another from its checkpoint.
//!
//! Needs the services of scripts/services.sh (BULK_INGEST_TEST_PG, BULK_INGEST_TEST_S3 and the
//! AWS_* variables); under CI they are required.

#![cfg(all(feature = "postgres", feature = "s3"))]

mod common;

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bulk_ingest::{Format, IngestRequest, Ingestor, IngestorOptions, JobState, UploadRequest};
use common::*;

const CHILD_STATE: &str = "BULK_INGEST_MANY_CHILD_STATE";
const CHILD_BLOBS: &str = "BULK_INGEST_MANY_CHILD_BLOBS";
const JOBS: u64 = 12;
const ROWS: u64 = 50_000;
const WORKERS: usize = 4;

fn service_env(name: &str) -> Option<String> {
    match std::env::var(name) {
        Ok(v) if !v.is_empty() => Some(v),
        _ if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("{name} is not set: start the services with scripts/services.sh (required under CI)")
        }
        _ => {
            eprintln!("{name} not set: skipped (scripts/services.sh starts the services)");
            None
        }
    }
}

fn worker_opts(state: &str, blobs: &str, workers: usize) -> IngestorOptions {
    IngestorOptions {
        state: Some(state.to_string()),
        blobs: Some(blobs.to_string()),
        workers,
        lease: Duration::from_secs(3),
        commit_rows: 5_000,
        chunk_size: 64 * 1024,
        threads: 1,
        ..opts(workers)
    }
}

/// A child process: one worker on the shared services until it is killed. Prints its
/// instance id (the prefix of its lease owner names) first.
#[test]
#[ignore = "started by four_workers_one_killed_every_row_once"]
fn many_child_worker() {
    let (Ok(state), Ok(blobs)) = (std::env::var(CHILD_STATE), std::env::var(CHILD_BLOBS)) else {
        return;
    };
    let dir = temp_dir("many-child");
    let ing = Ingestor::open(&dir, worker_opts(&state, &blobs, 1)).unwrap();
    println!("{ing:?}");
    loop {
        std::thread::park_timeout(Duration::from_secs(60));
        let _ = &ing;
    }
}

/// File `f`'s body in `format`: `ROWS` POP events, every `bad_every`-th invalid (durationMs 0).
fn pop_file(f: u64, format: Format, bad_every: u64) -> (Vec<u8>, u64) {
    let (ndjson, bad) = pop_ndjson(f, ROWS, bad_every);
    let body = match format {
        Format::Ndjson => ndjson,
        Format::Json => {
            let text = String::from_utf8(ndjson).unwrap();
            format!("[\n{}\n]\n", text.trim_end().replace('\n', ",\n")).into_bytes()
        }
        Format::Csv => {
            let cols = [
                "eventId",
                "screenId",
                "creativeId",
                "campaignId",
                "playedAt",
                "durationMs",
                "impressions",
                "venueType",
                "playStatus",
            ];
            let mut out = cols.join(",");
            out.push('\n');
            for line in String::from_utf8(ndjson).unwrap().lines() {
                let v: serde_json::Value = serde_json::from_str(line).unwrap();
                let cells: Vec<String> = cols
                    .iter()
                    .map(|c| match &v[*c] {
                        serde_json::Value::String(s) => s.clone(),
                        other => other.to_string(),
                    })
                    .collect();
                out.push_str(&cells.join(","));
                out.push('\n');
            }
            out.into_bytes()
        }
    };
    (body, bad)
}

struct Children(Vec<Child>);

impl Drop for Children {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

#[test]
fn four_workers_one_killed_every_row_once() {
    let (Some(pg), Some(s3)) = (
        service_env("BULK_INGEST_TEST_PG"),
        service_env("BULK_INGEST_TEST_S3"),
    ) else {
        return;
    };
    let dir = temp_dir("many");
    let unique = dir.file_name().unwrap().to_string_lossy().replace('-', "_");
    let sep = if pg.contains('?') { '&' } else { '?' };
    let state = format!("{pg}{sep}schema={unique}");
    let blobs = format!("{}/{unique}", s3.trim_end_matches('/'));

    // An API-only node queues the 12 jobs; the client PUTs each file to the store.
    let api = Ingestor::open(&dir, worker_opts(&state, &blobs, 0)).unwrap();
    api.register_schema("pop", "1.0", POP_SCHEMA).unwrap();
    let mut expected: HashMap<String, (u64, u64)> = HashMap::new();
    let mut total_valid = 0;
    for f in 0..JOBS {
        let format = [Format::Ndjson, Format::Csv, Format::Json][(f % 3) as usize];
        let bad_every = [0, 97, 1_000][(f % 4 % 3) as usize];
        let (body, bad) = pop_file(100 + f, format, bad_every);
        let t = api
            .create_upload(&UploadRequest {
                file_name: format!("pop-{f}.{}", format.as_str()),
                format: Some(format),
                expires_in_seconds: Some(3600),
                tenant: None,
            })
            .unwrap();
        let r = ureq::put(&t.upload_url)
            .set("Content-Type", &t.content_type)
            .send_bytes(&body)
            .unwrap();
        assert_eq!(r.status(), 200);
        let job = api
            .start_ingest(&IngestRequest {
                file_id: t.file_id,
                dataset: "pop".into(),
                schema_version: "1.0".into(),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(job.total_rows, Some(ROWS), "{format}");
        expected.insert(job.job_id, (ROWS - bad, bad));
        total_valid += ROWS - bad;
    }

    // Four worker processes.
    let mut children = Children(Vec::new());
    let mut instances = Vec::new();
    for _ in 0..WORKERS {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "many_child_worker",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_STATE, &state)
            .env(CHILD_BLOBS, &blobs)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let instance = loop {
            let mut line = String::new();
            assert!(out.read_line(&mut line).unwrap() > 0, "child exited");
            if let Some(rest) = line.split("instance: \"").nth(1) {
                break rest.split('"').next().unwrap().to_string();
            }
        };
        std::thread::spawn(move || {
            let mut sink = String::new();
            while out.read_line(&mut sink).unwrap_or(0) > 0 {
                sink.clear();
            }
        });
        instances.push(instance);
        children.0.push(child);
    }

    // Wait (on the jobs' states) until worker 0 is part-way through a job, then SIGKILL it.
    let store = api.state_store();
    let victim = format!("{}-", instances[0]);
    let deadline = Instant::now() + Duration::from_secs(300);
    let killed_job = 'outer: loop {
        for id in store.jobs_in_state(JobState::Processing).unwrap() {
            let j = store.get_job(&id).unwrap().unwrap();
            if j.lease_owner
                .as_deref()
                .is_some_and(|o| o.starts_with(&victim))
                && j.processed_rows >= 5_000
                && j.processed_rows + j.error_rows < ROWS
            {
                break 'outer id;
            }
        }
        assert!(
            Instant::now() < deadline,
            "worker 0 never got part-way through a job"
        );
        let any = expected.keys().next().unwrap().clone();
        api.wait(&any, Duration::from_millis(10), None).unwrap();
    };
    children.0[0].kill().unwrap(); // SIGKILL
    children.0[0].wait().unwrap();
    let at_kill = store.get_job(&killed_job).unwrap().unwrap();
    assert_eq!(at_kill.state, JobState::Processing);

    // Every job terminal, with exact counts.
    for (id, &(valid, bad)) in &expected {
        let st = api.wait(id, Duration::from_secs(600), None).unwrap();
        let want = if bad == 0 {
            JobState::Completed
        } else {
            JobState::PartiallyCompleted
        };
        assert_eq!(st.status, want, "{st:?}");
        assert_eq!((st.processed_rows, st.error_rows), (valid, bad), "{st:?}");
    }
    let rec = store.get_job(&killed_job).unwrap().unwrap();
    assert!(
        rec.attempts >= 2,
        "the killed worker's job was taken over: {rec:?}"
    );
    assert!(
        !rec.lease_owner
            .as_deref()
            .is_some_and(|o| o.starts_with(&victim)),
        "{rec:?}"
    );

    // Every valid row stored exactly once: one sink row per (job, row), the right rows per
    // job, and every eventId once.
    let table = bulk_ingest::SinkTable::for_schema("pop", &api.schema("pop", "1.0").unwrap());
    let pg_store = bulk_ingest::PgStateStore::open(&state).unwrap();
    let rows = pg_store.sink_rows(&table, None).unwrap();
    assert_eq!(rows.len() as u64, total_valid);
    let distinct: HashSet<&(String, u64)> = rows.iter().collect();
    assert_eq!(distinct.len(), rows.len(), "a row stored twice");
    let mut per_job: HashMap<&str, u64> = HashMap::new();
    for (job, _) in &rows {
        *per_job.entry(job.as_str()).or_default() += 1;
    }
    for (id, &(valid, _)) in &expected {
        assert_eq!(
            per_job.get(id.as_str()).copied().unwrap_or(0),
            valid,
            "{id}"
        );
    }
    let conn_url = pg.split('?').next().unwrap().to_string();
    let mut db = postgres::Client::connect(&conn_url, postgres::NoTls).unwrap();
    let ids: i64 = db
        .query_one(
            &format!(
                "SELECT count(DISTINCT \"eventId\") FROM {unique}.{}",
                table.name
            ),
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(ids as u64, total_valid, "every eventId once");
    let errors: i64 = db
        .query_one(
            &format!("SELECT count(*) - count(DISTINCT (job_id, row)) FROM {unique}.row_errors"),
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(errors, 0, "no row error recorded twice");
}
