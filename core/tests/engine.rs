//! Public workflows of the engine: uploads, jobs, workers, sinks, reports, tenancy.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bulk_ingest::{
    Error, Format, IngestRequest, Ingestor, JobOptions, JobState, ReportFormat, ReportKind,
    RowBatch, RowErrorCode, Sink, SinkContext, UploadRequest,
};
use common::*;

const WAIT: Duration = Duration::from_secs(60);

fn pop_ingestor(workers: usize) -> Ingestor {
    let ing = Ingestor::in_memory(opts(workers)).unwrap();
    ing.register_schema("pop", "1.0", POP_SCHEMA).unwrap();
    ing
}

fn ticket(
    ing: &Ingestor,
    format: Format,
    expires: Option<i64>,
) -> Result<bulk_ingest::UploadTicket, Error> {
    ing.create_upload(&UploadRequest {
        file_name: "f".into(),
        format: Some(format),
        expires_in_seconds: expires,
        tenant: None,
    })
}

#[test]
fn upload_tickets_are_signed_and_bounded() {
    let ing = pop_ingestor(0);
    let t = ticket(&ing, Format::Ndjson, None).unwrap();
    assert!(t.file_id.starts_with("file-"), "{}", t.file_id);
    assert!(
        t.upload_url.starts_with("http://127.0.0.1:9/bulk/uploads/"),
        "{}",
        t.upload_url
    );
    assert!(t.upload_url.contains("sig="));
    assert_eq!(t.content_type, "application/x-ndjson");
    let in_an_hour = bulk_ingest::Timestamp::now().unix_seconds() + 3600;
    assert!((t.expires_at.unix_seconds() - in_an_hour).abs() <= 2);
    assert_eq!(
        ticket(&ing, Format::Csv, None).unwrap().content_type,
        "text/csv"
    );
    assert_eq!(
        ticket(&ing, Format::Json, Some(86_400))
            .unwrap()
            .content_type,
        "application/json"
    );
    for bad in [0, -5, 86_401] {
        let e = ticket(&ing, Format::Csv, Some(bad)).unwrap_err();
        assert_eq!(e.code(), "INVALID_REQUEST");
        assert!(e.to_string().contains("expiresInSeconds"), "{e}");
    }
    let e = ing.create_upload(&UploadRequest {
        file_name: "".into(),
        format: Some(Format::Csv),
        ..Default::default()
    });
    assert_eq!(e.unwrap_err().code(), "INVALID_REQUEST");
    let e = ing.create_upload(&UploadRequest {
        file_name: "x".into(),
        format: None,
        ..Default::default()
    });
    assert_eq!(e.unwrap_err().code(), "INVALID_REQUEST");
    // Ids are unguessable: two tickets never share one.
    assert_ne!(
        ticket(&ing, Format::Csv, None).unwrap().file_id,
        ticket(&ing, Format::Csv, None).unwrap().file_id
    );
}

#[test]
fn receive_upload_checks_everything_and_records_the_body() {
    let ing = pop_ingestor(0);
    let t = ticket(&ing, Format::Ndjson, None).unwrap();
    let (body, _) = pop_ndjson(1, 10, 0);

    // Forged: signature of another URL, or a tampered expiry.
    let forged = t.upload_url.replace("sig=", "sig=00");
    assert_eq!(
        ing.receive_upload(&forged, &t.content_type, &mut &body[..])
            .unwrap_err()
            .code(),
        "INVALID_SIGNATURE"
    );
    let tampered = t.upload_url.replace("expires=", "expires=9");
    assert_eq!(
        ing.receive_upload(&tampered, &t.content_type, &mut &body[..])
            .unwrap_err()
            .code(),
        "INVALID_SIGNATURE"
    );
    let other = ticket(&ing, Format::Ndjson, None).unwrap();
    let swapped = format!(
        "{}?{}",
        t.upload_url.split('?').next().unwrap(),
        other.upload_url.split('?').nth(1).unwrap()
    );
    assert_eq!(
        ing.receive_upload(&swapped, &t.content_type, &mut &body[..])
            .unwrap_err()
            .code(),
        "INVALID_SIGNATURE"
    );
    // Wrong content type.
    let e = ing
        .receive_upload(&t.upload_url, "text/csv", &mut &body[..])
        .unwrap_err();
    assert_eq!(e.code(), "UNSUPPORTED_MEDIA_TYPE");
    assert!(e.to_string().contains("application/x-ndjson"), "{e}");
    // Path and query alone are enough; the body's size and hash are recorded.
    let path = &t.upload_url["http://127.0.0.1:9".len()..];
    let got = ing
        .receive_upload(path, "application/x-ndjson; charset=utf-8", &mut &body[..])
        .unwrap();
    assert_eq!(got.size, body.len() as u64);
    assert_eq!(got.sha256.len(), 64);
    assert_eq!(ing.upload(&t.file_id, None).unwrap().sha256, got.sha256);
    // Once only.
    let e = ing
        .receive_upload(&t.upload_url, &t.content_type, &mut &b"{}"[..])
        .unwrap_err();
    assert_eq!(e.code(), "UPLOAD_ALREADY_RECEIVED");
    assert_eq!(
        ing.upload(&t.file_id, None).unwrap().size,
        body.len() as u64
    );
}

#[test]
fn expired_upload_urls_are_refused() {
    let ing = pop_ingestor(0);
    let t = ticket(&ing, Format::Ndjson, Some(1)).unwrap();
    // The URL's expiry has one-second resolution: wait until it is surely in the past.
    while bulk_ingest::Timestamp::now().unix_seconds() <= t.expires_at.unix_seconds() {
        std::thread::sleep(Duration::from_millis(100));
    }
    let e = ing
        .receive_upload(&t.upload_url, &t.content_type, &mut &b"{}\n"[..])
        .unwrap_err();
    assert_eq!(e.code(), "UPLOAD_URL_EXPIRED");
    assert_eq!(
        ing.upload(&t.file_id, None).unwrap_err().code(),
        "UPLOAD_NOT_RECEIVED"
    );
}

#[test]
fn oversized_uploads_leave_nothing_behind() {
    let dir = temp_dir("limit");
    let mut o = opts(0);
    o.max_upload_bytes = 100;
    let ing = Ingestor::open(&dir, o).unwrap();
    let t = ticket(&ing, Format::Ndjson, None).unwrap();
    let big = vec![b' '; 1000];
    let e = ing
        .receive_upload(&t.upload_url, &t.content_type, &mut &big[..])
        .unwrap_err();
    assert_eq!(e.code(), "FILE_TOO_LARGE");
    // Nothing is left in the blob directory, and the file id can still take a proper body.
    let leftovers: Vec<_> = walk(&dir.join("blobs"));
    assert!(leftovers.is_empty(), "{leftovers:?}");
    ing.receive_upload(&t.upload_url, &t.content_type, &mut &b"{}\n"[..])
        .unwrap();
}

fn walk(d: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(d) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

#[test]
fn start_ingest_refuses_what_it_cannot_run() {
    let ing = pop_ingestor(0);
    let req = |file_id: &str, version: &str| IngestRequest {
        file_id: file_id.into(),
        dataset: "pop".into(),
        schema_version: version.into(),
        ..Default::default()
    };
    assert_eq!(
        ing.start_ingest(&req("file-nope", "1.0"))
            .unwrap_err()
            .code(),
        "FILE_NOT_FOUND"
    );
    let t = ticket(&ing, Format::Ndjson, None).unwrap();
    assert_eq!(
        ing.start_ingest(&req(&t.file_id, "1.0"))
            .unwrap_err()
            .code(),
        "UPLOAD_NOT_RECEIVED"
    );
    let (body, _) = pop_ndjson(2, 3, 0);
    let id = upload(&ing, Format::Ndjson, &body, None);
    assert_eq!(
        ing.start_ingest(&req(&id, "9.9")).unwrap_err().code(),
        "SCHEMA_NOT_FOUND"
    );
    assert_eq!(
        ing.start_ingest(&req(&id, "")).unwrap_err().code(),
        "INVALID_REQUEST"
    );
    let mut r = req(&id, "1.0");
    r.metadata = Some(serde_json::json!([1, 2]));
    assert_eq!(ing.start_ingest(&r).unwrap_err().code(), "INVALID_REQUEST");
    // Another tenant's file is not found.
    let mut r = req(&id, "1.0");
    r.tenant = Some("acme".into());
    assert_eq!(ing.start_ingest(&r).unwrap_err().code(), "FILE_NOT_FOUND");
    // maxRows is known before the job exists.
    let mut r = req(&id, "1.0");
    r.options.max_rows = Some(2);
    let e = ing.start_ingest(&r).unwrap_err();
    assert_eq!(e.code(), "MAX_ROW_COUNT_EXCEEDED");
    assert!(
        e.to_string().contains('3') && e.to_string().contains('2'),
        "{e}"
    );
    // File-level problems too.
    let bad = upload(&ing, Format::Json, b"[{\"a\":1},", None);
    let e = ing.start_ingest(&req(&bad, "1.0")).unwrap_err();
    assert_eq!(e.code(), "CORRUPTED_FILE");
    let csv = upload(&ing, Format::Csv, b"eventId,colour\n1,red\n", None);
    let e = ing.start_ingest(&req(&csv, "1.0")).unwrap_err();
    assert_eq!(e.code(), "INVALID_FILE_TEMPLATE");
    assert!(e.to_string().contains("screenId"), "{e}");
}

#[test]
fn a_job_runs_through_its_states_with_seed_counts() {
    let ing = pop_ingestor(0);
    let (body, bad) = pop_ndjson(3, 1000, 10);
    let id = upload(&ing, Format::Ndjson, &body, None);
    let mut req = IngestRequest {
        file_id: id,
        dataset: "pop".into(),
        schema_version: "1.0".into(),
        metadata: Some(serde_json::json!({"source": "daily_export", "timezone": "UTC"})),
        ..Default::default()
    };
    req.options = JobOptions::default();
    let queued = ing.start_ingest(&req).unwrap();
    assert_eq!(queued.status, JobState::Queued);
    assert_eq!(
        queued.total_rows,
        Some(1000),
        "totalRows is known before processing"
    );
    assert_eq!(queued.processed_rows, 0);
    assert!(queued.started_at.is_none() && queued.completed_at.is_none());
    assert!(queued.job_id.starts_with("job-"));
    assert_eq!(ing.run_pending().unwrap(), 1);
    let done = ing.job(&queued.job_id, None).unwrap();
    assert_eq!(done.status, JobState::PartiallyCompleted);
    assert_eq!(done.processed_rows, 1000 - bad);
    assert_eq!(done.error_rows, bad);
    assert_eq!(done.errors.len(), 100, "the first 100 row errors");
    assert!(
        done.errors.windows(2).all(|w| w[0].row < w[1].row),
        "ordered by row"
    );
    assert_eq!(done.errors[0].row, 10);
    assert_eq!(done.errors[0].line, Some(10));
    assert_eq!(done.errors[0].code, RowErrorCode::Minimum);
    assert_eq!(done.errors[0].field.as_deref(), Some("durationMs"));
    assert!(done.started_at.is_some() && done.completed_at.is_some());
    assert_eq!(done.metadata, req.metadata);
    assert_eq!(ing.stored_rows("pop", "1.0").unwrap(), 1000 - bad);
    // Seed JSON names.
    let v = serde_json::to_value(&done).unwrap();
    for k in [
        "jobId",
        "status",
        "totalRows",
        "processedRows",
        "errorRows",
        "errors",
        "startedAt",
        "completedAt",
    ] {
        assert!(v.get(k).is_some(), "{k} missing in {v}");
    }
    assert_eq!(v["status"], "partially_completed");
    // Terminal states never change.
    assert_eq!(
        ing.cancel(&done.job_id, None).unwrap_err().code(),
        "INVALID_STATE_TRANSITION"
    );
}

#[test]
fn completed_and_failed_outcomes() {
    let ing = pop_ingestor(1);
    let (good, _) = pop_ndjson(4, 50, 0);
    let job = ingest(&ing, &upload(&ing, Format::Ndjson, &good, None), "pop");
    let st = ing.wait(&job.job_id, WAIT, None).unwrap();
    assert_eq!(st.status, JobState::Completed);
    assert_eq!((st.processed_rows, st.error_rows), (50, 0));
    assert!(st.errors.is_empty());

    // Every row invalid: failed, nothing ingested.
    let (all_bad, n) = pop_ndjson(5, 20, 1);
    let job = ingest(&ing, &upload(&ing, Format::Ndjson, &all_bad, None), "pop");
    let st = ing.wait(&job.job_id, WAIT, None).unwrap();
    assert_eq!(st.status, JobState::Failed);
    assert_eq!((st.processed_rows, st.error_rows), (0, n));

    // Over maxErrorRows: failed with ERROR_LIMIT_EXCEEDED.
    let (some_bad, _) = pop_ndjson(6, 200, 5);
    let id = upload(&ing, Format::Ndjson, &some_bad, None);
    let st = ing
        .start_ingest(&IngestRequest {
            file_id: id,
            dataset: "pop".into(),
            schema_version: "1.0".into(),
            options: JobOptions {
                max_error_rows: Some(3),
                ..Default::default()
            },
            ..Default::default()
        })
        .unwrap();
    let st = ing.wait(&st.job_id, WAIT, None).unwrap();
    assert_eq!(st.status, JobState::Failed);
    assert_eq!(st.error.as_ref().unwrap().code, "ERROR_LIMIT_EXCEEDED");
    assert!(st.error_rows > 3);
}

#[test]
fn cancel_and_wait() {
    let ing = pop_ingestor(0);
    let (body, _) = pop_ndjson(7, 10, 0);
    let job = ingest(&ing, &upload(&ing, Format::Ndjson, &body, None), "pop");
    // wait returns at the timeout with the job still queued (no worker).
    let st = ing
        .wait(&job.job_id, Duration::from_millis(50), None)
        .unwrap();
    assert_eq!(st.status, JobState::Queued);
    let st = ing.cancel(&job.job_id, None).unwrap();
    assert_eq!(st.status, JobState::Cancelled);
    assert!(st.completed_at.is_some());
    assert_eq!(
        ing.run_pending().unwrap(),
        0,
        "a cancelled job is never run"
    );
    assert_eq!(
        ing.job(&job.job_id, None).unwrap().status,
        JobState::Cancelled
    );
    assert_eq!(
        ing.cancel(&job.job_id, None).unwrap_err().code(),
        "INVALID_STATE_TRANSITION"
    );
    assert_eq!(
        ing.job("job-unknown", None).unwrap_err().code(),
        "JOB_NOT_FOUND"
    );
}

#[test]
fn tenants_see_only_their_own() {
    let ing = pop_ingestor(0);
    let (body, _) = pop_ndjson(8, 5, 0);
    let id = upload(&ing, Format::Ndjson, &body, Some("acme"));
    let job = ing
        .start_ingest(&IngestRequest {
            file_id: id.clone(),
            dataset: "pop".into(),
            schema_version: "1.0".into(),
            tenant: Some("acme".into()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(
        ing.job(&job.job_id, None).unwrap_err().code(),
        "JOB_NOT_FOUND"
    );
    assert_eq!(
        ing.job(&job.job_id, Some("globex")).unwrap_err().code(),
        "JOB_NOT_FOUND"
    );
    assert_eq!(
        ing.cancel(&job.job_id, Some("globex")).unwrap_err().code(),
        "JOB_NOT_FOUND"
    );
    assert_eq!(
        ing.failed_rows(&job.job_id, Some("globex"))
            .unwrap_err()
            .code(),
        "JOB_NOT_FOUND"
    );
    assert_eq!(
        ing.upload(&id, Some("globex")).unwrap_err().code(),
        "FILE_NOT_FOUND"
    );
    assert_eq!(
        ing.job(&job.job_id, Some("acme")).unwrap().status,
        JobState::Queued
    );
}

#[test]
fn the_primary_key_holds_across_jobs() {
    let ing = pop_ingestor(1);
    let (body, bad) = pop_ndjson(9, 300, 7);
    let first = ingest(&ing, &upload(&ing, Format::Ndjson, &body, None), "pop");
    let first = ing.wait(&first.job_id, WAIT, None).unwrap();
    assert_eq!(first.processed_rows, 300 - bad);
    // The same file again stores nothing twice: every valid row is now a UNIQUE error.
    let again = ingest(&ing, &upload(&ing, Format::Ndjson, &body, None), "pop");
    let again = ing.wait(&again.job_id, WAIT, None).unwrap();
    assert_eq!(again.status, JobState::Failed);
    assert_eq!(again.processed_rows, 0);
    assert_eq!(again.error_rows, 300);
    assert!(again
        .errors
        .iter()
        .any(|e| e.code == RowErrorCode::Unique && e.field.as_deref() == Some("eventId")));
    assert_eq!(ing.stored_rows("pop", "1.0").unwrap(), 300 - bad);
    // In-file duplicates: the first occurrence wins.
    let mut dup = pop_line(10, 1);
    dup.push('\n');
    dup.push_str(&pop_line(10, 2));
    dup.push('\n');
    dup.push_str(&pop_line(10, 1));
    dup.push('\n');
    let job = ingest(
        &ing,
        &upload(&ing, Format::Ndjson, dup.as_bytes(), None),
        "pop",
    );
    let st = ing.wait(&job.job_id, WAIT, None).unwrap();
    assert_eq!((st.processed_rows, st.error_rows), (2, 1));
    assert_eq!(st.errors[0].row, 3);
    assert_eq!(st.errors[0].code, RowErrorCode::Unique);
}

#[derive(Default)]
struct Collect {
    rows: Mutex<Vec<(String, u64, String)>>,
    fail_after: Option<usize>,
}

impl Sink for Collect {
    fn write(
        &self,
        ctx: &SinkContext,
        batch: &RowBatch,
        rows: &[usize],
    ) -> bulk_ingest::Result<()> {
        let mut got = self.rows.lock().unwrap();
        if let Some(n) = self.fail_after {
            if got.len() + rows.len() > n {
                return Err(Error::Storage("the warehouse refused the batch".into()));
            }
        }
        for &i in rows {
            let id = match batch.cell(i, 0) {
                bulk_ingest::Cell::Str(s) => s.to_string(),
                other => format!("{other:?}"),
            };
            got.push((ctx.job_id.clone(), batch.row_number(i), id));
        }
        Ok(())
    }
}

#[test]
fn a_host_sink_receives_the_valid_rows() {
    let ing = pop_ingestor(0);
    let sink = Arc::new(Collect::default());
    ing.set_sink("pop", sink.clone());
    let (body, bad) = pop_ndjson(11, 500, 50);
    let job = ingest(&ing, &upload(&ing, Format::Ndjson, &body, None), "pop");
    ing.run_pending().unwrap();
    let st = ing.job(&job.job_id, None).unwrap();
    assert_eq!(st.processed_rows, 500 - bad);
    let rows = sink.rows.lock().unwrap();
    assert_eq!(rows.len() as u64, 500 - bad);
    assert!(rows
        .iter()
        .all(|(j, r, id)| j == &job.job_id && r % 50 != 0 && id == &uuid(11, *r)));
    assert_eq!(
        ing.stored_rows("pop", "1.0").unwrap(),
        0,
        "rows went to the host sink, not the table"
    );
}

#[test]
fn a_failing_sink_fails_the_job_and_keeps_what_was_committed() {
    let mut o = opts(0);
    o.commit_rows = 100;
    o.chunk_size = 4096;
    let ing = Ingestor::in_memory(o).unwrap();
    ing.register_schema("pop", "1.0", POP_SCHEMA).unwrap();
    let sink = Arc::new(Collect {
        fail_after: Some(250),
        ..Default::default()
    });
    let (body, _) = pop_ndjson(12, 1000, 0);
    let job = ingest(&ing, &upload(&ing, Format::Ndjson, &body, None), "pop");
    let st = ing
        .run_job_with_sink(&job.job_id, None, Some(sink.clone()))
        .unwrap();
    assert_eq!(st.status, JobState::Failed);
    let err = st.error.unwrap();
    assert!(
        err.message.contains("the warehouse refused the batch"),
        "{}",
        err.message
    );
    let delivered = sink.rows.lock().unwrap().len() as u64;
    assert!(delivered > 0 && delivered <= 250);
    assert_eq!(
        st.processed_rows, delivered,
        "committed rows are counted, the refused batch is not"
    );
}

#[test]
fn reports_list_every_failed_row_and_the_failed_rows_file_keeps_the_format() {
    let ing = Ingestor::in_memory(opts(0)).unwrap();
    ing.register_schema("pop", "1.0", POP_SCHEMA).unwrap();
    let header = "eventId,screenId,creativeId,campaignId,playedAt,durationMs,impressions,venueType,latitude,longitude,playStatus\r\n";
    let row = |i: u64, dur: &str| {
        format!(
            "{},SCR-{:06},cr,camp,2025-12-09T10:00:00Z,{dur},,retail,,,completed\r\n",
            uuid(13, i),
            i
        )
    };
    let csv = format!(
        "{header}{}{}{}{}",
        row(1, "10"),
        row(2, "0"),
        row(3, "x"),
        row(4, "5")
    );
    let job = ingest(
        &ing,
        &upload(&ing, Format::Csv, csv.as_bytes(), None),
        "pop",
    );
    ing.run_pending().unwrap();
    let st = ing.job(&job.job_id, None).unwrap();
    assert_eq!((st.processed_rows, st.error_rows), (2, 2));
    let report =
        String::from_utf8(ing.report(&job.job_id, ReportFormat::Csv, None).unwrap()).unwrap();
    let lines: Vec<&str> = report.lines().collect();
    assert_eq!(lines[0], "row,line,field,code,message");
    assert!(lines[1].starts_with("2,3,durationMs,MINIMUM,"), "{report}");
    assert!(lines[2].starts_with("3,4,durationMs,TYPE,"), "{report}");
    assert_eq!(lines.len(), 3);
    let nd =
        String::from_utf8(ing.report(&job.job_id, ReportFormat::Ndjson, None).unwrap()).unwrap();
    let first: serde_json::Value = serde_json::from_str(nd.lines().next().unwrap()).unwrap();
    assert_eq!(first["row"], 2);
    assert_eq!(first["errors"][0]["code"], "MINIMUM");
    // The failed rows, same header, same line ends: fix and upload as is.
    let failed = String::from_utf8(ing.failed_rows(&job.job_id, None).unwrap()).unwrap();
    assert_eq!(failed, format!("{header}{}{}", row(2, "0"), row(3, "x")));
    let fixed = failed.replace(",0,,", ",7,,").replace(",x,,", ",8,,");
    let job2 = ingest(
        &ing,
        &upload(&ing, Format::Csv, fixed.as_bytes(), None),
        "pop",
    );
    ing.run_pending().unwrap();
    assert_eq!(
        ing.job(&job2.job_id, None).unwrap().status,
        JobState::Completed
    );

    // Signed download URLs.
    let url = ing
        .signed_report_url(&job.job_id, ReportKind::FailedRows, 60, None)
        .unwrap();
    let d = ing.download(&url).unwrap();
    assert_eq!(d.content_type, "text/csv");
    assert_eq!(String::from_utf8(d.body).unwrap(), failed);
    let url = ing
        .signed_report_url(&job.job_id, ReportKind::Errors(ReportFormat::Csv), 60, None)
        .unwrap();
    assert_eq!(
        String::from_utf8(ing.download(&url).unwrap().body).unwrap(),
        report
    );
    let forged = url.replace("errors.csv", "failed-rows");
    assert_eq!(
        ing.download(&forged).unwrap_err().code(),
        "INVALID_SIGNATURE"
    );
    assert_eq!(
        ing.download("/downloads/x/y?expires=1&sig=00")
            .unwrap_err()
            .code(),
        "INVALID_SIGNATURE"
    );
    assert_eq!(
        ing.signed_report_url(&job.job_id, ReportKind::FailedRows, 0, None)
            .unwrap_err()
            .code(),
        "INVALID_REQUEST"
    );
}

#[test]
fn json_and_ndjson_failed_rows_files() {
    let ing = pop_ingestor(0);
    let good = pop_line(14, 1);
    let bad = pop_line(14, 2).replace("retail", "mall");
    let json = format!("[\n{good},\n{bad}\n]\n");
    let job = ingest(
        &ing,
        &upload(&ing, Format::Json, json.as_bytes(), None),
        "pop",
    );
    ing.run_pending().unwrap();
    let st = ing.job(&job.job_id, None).unwrap();
    assert_eq!((st.processed_rows, st.error_rows), (1, 1));
    assert_eq!(st.errors[0].code, RowErrorCode::Enum);
    let failed = ing.failed_rows(&job.job_id, None).unwrap();
    let v: serde_json::Value = serde_json::from_slice(&failed).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 1);
    assert_eq!(v[0]["venueType"], "mall");

    let nd = format!("{good}\n\nnot json\n{bad}\n").replace(&uuid(14, 1), &uuid(15, 1));
    let job = ingest(
        &ing,
        &upload(&ing, Format::Ndjson, nd.as_bytes(), None),
        "pop",
    );
    ing.run_pending().unwrap();
    let st = ing.job(&job.job_id, None).unwrap();
    assert_eq!(st.total_rows, Some(3), "blank lines are not rows");
    assert_eq!(st.errors[0].code, RowErrorCode::MalformedRow);
    assert_eq!((st.errors[0].row, st.errors[0].line), (2, Some(3)));
    assert_eq!((st.errors[1].row, st.errors[1].line), (3, Some(4)));
    let failed = String::from_utf8(ing.failed_rows(&job.job_id, None).unwrap()).unwrap();
    assert_eq!(failed, format!("not json\n{}\n", bad));
}

#[test]
fn gzip_uploads_are_read() {
    use std::io::Write;
    let ing = pop_ingestor(0);
    let (body, bad) = pop_ndjson(16, 400, 40);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&body).unwrap();
    let gz = gz.finish().unwrap();
    let job = ingest(&ing, &upload(&ing, Format::Ndjson, &gz, None), "pop");
    ing.run_pending().unwrap();
    let st = ing.job(&job.job_id, None).unwrap();
    assert_eq!(
        (st.total_rows, st.processed_rows, st.error_rows),
        (Some(400), 400 - bad, bad)
    );
    let cut = upload(&ing, Format::Ndjson, &gz[..gz.len() / 2], None);
    let e = ing
        .start_ingest(&IngestRequest {
            file_id: cut,
            dataset: "pop".into(),
            schema_version: "1.0".into(),
            ..Default::default()
        })
        .unwrap_err();
    assert_eq!(e.code(), "CORRUPTED_FILE");
}

#[test]
fn schemas_are_stored_and_versions_immutable() {
    let dir = temp_dir("schemas");
    {
        let ing = Ingestor::open(&dir, opts(0)).unwrap();
        ing.register_schema("pop", "1.0", POP_SCHEMA).unwrap();
        ing.register_schema("pop", "1.0", POP_SCHEMA).unwrap();
        let e = ing
            .register_schema("pop", "1.0", CONTENT_SCHEMA)
            .unwrap_err();
        assert_eq!(e.code(), "INVALID_REQUEST");
        assert_eq!(
            ing.register_schema("pop", "2.0", "{\"oneOf\": []}")
                .unwrap_err()
                .code(),
            "INVALID_SCHEMA"
        );
        assert_eq!(
            ing.register_schema("bad name", "1.0", POP_SCHEMA)
                .unwrap_err()
                .code(),
            "INVALID_REQUEST"
        );
    }
    // Another process opening the same storage sees the schema.
    let ing = Ingestor::open(&dir, opts(0)).unwrap();
    assert_eq!(ing.schema("pop", "1.0").unwrap().fields().len(), 11);
    assert_eq!(
        ing.schema("pop", "2.0").unwrap_err().code(),
        "SCHEMA_NOT_FOUND"
    );
}

#[test]
fn many_jobs_on_two_ingestors_sharing_one_directory_each_run_once() {
    let dir = temp_dir("shared");
    let a = Ingestor::open(&dir, opts(2)).unwrap();
    a.register_schema("pop", "1.0", POP_SCHEMA).unwrap();
    let b = Ingestor::open(&dir, opts(2)).unwrap();
    let mut jobs = Vec::new();
    for f in 0..8 {
        let (body, _) = pop_ndjson(100 + f, 2000, 100);
        let ing = if f % 2 == 0 { &a } else { &b };
        jobs.push(ingest(ing, &upload(ing, Format::Ndjson, &body, None), "pop").job_id);
    }
    for j in &jobs {
        let st = a.wait(j, WAIT, None).unwrap();
        assert_eq!(st.status, JobState::PartiallyCompleted, "{j}");
        assert_eq!((st.processed_rows, st.error_rows), (1980, 20));
    }
    assert_eq!(a.stored_rows("pop", "1.0").unwrap(), 8 * 1980);
    let state = a.state_store();
    for j in &jobs {
        assert_eq!(
            state.get_job(j).unwrap().unwrap().attempts,
            1,
            "{j} was claimed once"
        );
    }
}

#[test]
fn racing_puts_on_one_url_store_exactly_one_body() {
    use sha2::{Digest, Sha256};
    let dir = temp_dir("race");
    let ing = Ingestor::open(&dir, opts(0)).unwrap();
    ing.register_schema("pop", "1.0", POP_SCHEMA).unwrap();
    for round in 0..4u64 {
        let t = ticket(&ing, Format::Ndjson, None).unwrap();
        // Two different, large bodies sent at once to the same URL.
        let bodies: Vec<Vec<u8>> = (0..2)
            .map(|k| pop_ndjson(200 + round * 2 + k, 20_000, 0).0)
            .collect();
        let results: Vec<_> = std::thread::scope(|s| {
            let handles: Vec<_> = bodies
                .iter()
                .map(|b| {
                    let (ing, url, ct) = (&ing, &t.upload_url, &t.content_type);
                    s.spawn(move || ing.receive_upload(url, ct, &mut &b[..]))
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let ok: Vec<usize> = (0..2).filter(|&k| results[k].is_ok()).collect();
        assert_eq!(ok.len(), 1, "exactly one PUT wins: {results:?}");
        let loser = 1 - ok[0];
        assert_eq!(
            results[loser].as_ref().unwrap_err().code(),
            "UPLOAD_ALREADY_RECEIVED"
        );
        // What is recorded is the winner's body, and a job reads exactly those rows.
        let winner = &bodies[ok[0]];
        let rec = ing.upload(&t.file_id, None).unwrap();
        let digest: String = Sha256::digest(winner)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(rec.sha256, digest);
        let job = ingest(&ing, &t.file_id, "pop");
        let st = ing.run_job(&job.job_id, None).unwrap();
        assert_eq!((st.processed_rows, st.error_rows), (20_000, 0));
    }
    // The loser's bytes are gone: one body per file id under blobs/uploads.
    let uploads = dir.join("blobs/uploads");
    for entry in std::fs::read_dir(&uploads).unwrap() {
        let files = walk(&entry.unwrap().path());
        assert_eq!(files.len(), 1, "{files:?}");
    }
}
