//! Scale-out mode through the facade: state in PostgreSQL, blobs in an S3-compatible store
//! (scripts/services.sh starts both; under CI they are required). The client PUTs to the
//! store's own presigned URL; `start_ingest` finds the object and the job reads exactly it.

mod common;

#[cfg(all(feature = "postgres", feature = "s3"))]
use std::time::Duration;

#[cfg(all(feature = "postgres", feature = "s3"))]
use bulk_ingest::{Format, IngestRequest, JobState, ReportFormat, UploadRequest};
use bulk_ingest::{Ingestor, IngestorOptions};
use common::*;

/// Opening with URLs the library cannot use: a clear STORAGE_ERROR naming the problem.
#[test]
fn unusable_urls_are_refused_at_open() {
    let dir = temp_dir("scale-open");
    let open = |state: Option<&str>, blobs: Option<&str>| {
        Ingestor::open(
            &dir,
            IngestorOptions {
                state: state.map(str::to_string),
                blobs: blobs.map(str::to_string),
                workers: 0,
                ..opts(0)
            },
        )
        .map(|_| ())
        .unwrap_err()
    };
    let e = open(Some("mysql://db/x"), None);
    assert_eq!(e.code(), "STORAGE_ERROR");
    assert!(e.to_string().contains("'mysql' is not supported"), "{e}");
    let e = open(None, Some("gs://bucket/x"));
    assert_eq!(e.code(), "STORAGE_ERROR");
    assert!(e.to_string().contains("'gs' is not supported"), "{e}");

    let e = open(Some("postgres://u:secret@127.0.0.1:1/db"), None);
    assert_eq!(e.code(), "STORAGE_ERROR");
    assert!(!e.to_string().contains("secret"), "password shown: {e}");
    if cfg!(feature = "postgres") {
        assert!(e.to_string().contains("connecting to PostgreSQL"), "{e}");
    } else {
        assert!(e.to_string().contains("`postgres` feature"), "{e}");
    }
    let e = open(None, Some("s3://Not_A_Bucket/x"));
    assert_eq!(e.code(), "STORAGE_ERROR");
    if cfg!(feature = "s3") {
        assert!(e.to_string().contains("not a valid bucket name"), "{e}");
    } else {
        assert!(e.to_string().contains("`s3` feature"), "{e}");
    }
}

#[cfg(all(feature = "postgres", feature = "s3"))]
mod services {
    use super::*;

    /// A service URL from the environment; under CI a missing one fails the test.
    pub fn service_env(name: &str) -> Option<String> {
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

    /// `(state URL, blob URL)` of a fresh PostgreSQL schema and bucket prefix.
    pub fn fresh_urls(tag: &str) -> Option<(String, String)> {
        let pg = service_env("BULK_INGEST_TEST_PG")?;
        let s3 = service_env("BULK_INGEST_TEST_S3")?;
        let dir = temp_dir(tag);
        // Short: s3s-fs keeps a multipart upload's state in a file named after the whole key.
        let name = dir.file_name().unwrap().to_string_lossy().to_string();
        let unique = format!("t_{}", &name[name.len() - 12..]);
        let sep = if pg.contains('?') { '&' } else { '?' };
        Some((
            format!("{pg}{sep}schema={unique}"),
            format!("{}/{unique}", s3.trim_end_matches('/')),
        ))
    }

    pub fn scale_opts(state: &str, blobs: &str, workers: usize) -> IngestorOptions {
        IngestorOptions {
            state: Some(state.to_string()),
            blobs: Some(blobs.to_string()),
            ..opts(workers)
        }
    }

    /// PUTs `body` to a presigned URL as a client would; the HTTP status, or the refusal's.
    pub fn put(url: &str, content_type: &str, body: &[u8]) -> Result<u16, u16> {
        match ureq::put(url)
            .set("Content-Type", content_type)
            .send_bytes(body)
        {
            Ok(r) => Ok(r.status()),
            Err(ureq::Error::Status(code, _)) => Err(code),
            Err(e) => panic!("PUT {url}: {e}"),
        }
    }
}

#[cfg(all(feature = "postgres", feature = "s3"))]
use services::*;

/// The POP workflow: upload URL of the store → PUT there → ingest → status → report.
#[cfg(all(feature = "postgres", feature = "s3"))]
#[test]
fn pop_workflow_with_the_stores_presigned_put() {
    let Some((state, blobs)) = fresh_urls("scale-pop") else {
        return;
    };
    let dir = temp_dir("scale-pop");
    let ing = Ingestor::open(&dir, scale_opts(&state, &blobs, 1)).unwrap();
    ing.register_schema("pop", "1.0", POP_SCHEMA).unwrap();
    let t = ing
        .create_upload(&UploadRequest {
            file_name: "pop.ndjson".into(),
            format: Some(Format::Ndjson),
            expires_in_seconds: Some(600),
            tenant: None,
        })
        .unwrap();
    let endpoint = std::env::var("AWS_ENDPOINT_URL").unwrap();
    assert!(
        t.upload_url.starts_with(&endpoint),
        "the upload URL is the store's: {}",
        t.upload_url
    );
    assert!(t.upload_url.contains("X-Amz-Signature="));
    let req = IngestRequest {
        file_id: t.file_id.clone(),
        dataset: "pop".into(),
        schema_version: "1.0".into(),
        ..Default::default()
    };
    // Nothing PUT yet.
    assert_eq!(
        ing.start_ingest(&req).unwrap_err().code(),
        "UPLOAD_NOT_RECEIVED"
    );
    // A client that lies about the content type is refused by the store itself.
    let (body, bad) = pop_ndjson(5, 2_000, 50);
    // (A small body: the store may refuse before reading a large one, closing the connection.)
    assert_eq!(put(&t.upload_url, "text/csv", b"{}"), Err(403));
    assert_eq!(
        ing.start_ingest(&req).unwrap_err().code(),
        "UPLOAD_NOT_RECEIVED"
    );
    assert_eq!(put(&t.upload_url, &t.content_type, &body), Ok(200));

    let started = ing.start_ingest(&req).unwrap();
    assert_eq!(started.total_rows, Some(2_000));
    let up = ing.upload(&t.file_id, None).unwrap();
    assert_eq!(up.size, body.len() as u64);
    {
        use sha2::Digest;
        let want: String = sha2::Sha256::digest(&body)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(up.sha256, want, "the hash of what the client PUT");
    }
    let st = ing
        .wait(&started.job_id, Duration::from_secs(60), None)
        .unwrap();
    assert_eq!(st.status, JobState::PartiallyCompleted, "{st:?}");
    assert_eq!((st.processed_rows, st.error_rows), (2_000 - bad, bad));
    assert_eq!(ing.stored_rows("pop", "1.0").unwrap(), 2_000 - bad);
    let report = ing
        .report(&started.job_id, ReportFormat::Csv, None)
        .unwrap();
    let report = String::from_utf8(report).unwrap();
    assert_eq!(report.lines().count() as u64, 1 + bad, "{report}");
    assert!(report.contains("durationMs"), "{report}");

    // The finished job's reports: written to the store, served by its presigned GET.
    for (kind, ct, lines) in [
        (
            bulk_ingest::ReportKind::Errors(ReportFormat::Csv),
            "text/csv",
            1 + bad,
        ),
        (
            bulk_ingest::ReportKind::FailedRows,
            "application/x-ndjson",
            bad,
        ),
    ] {
        let url = ing
            .signed_report_url(&started.job_id, kind, 600, None)
            .unwrap();
        assert!(url.starts_with(&endpoint), "{url}");
        assert!(url.contains("X-Amz-Signature="), "{url}");
        let r = ureq::get(&url).call().unwrap();
        assert_eq!(r.header("content-type"), Some(ct));
        assert!(
            r.header("content-disposition")
                .is_some_and(|d| d.contains(&started.job_id)),
            "{:?}",
            r.header("content-disposition")
        );
        let body = r.into_string().unwrap();
        assert_eq!(body.lines().count() as u64, lines, "{body}");
        // Asked again: the same stored report, a new URL.
        assert!(ing
            .signed_report_url(&started.job_id, kind, 600, None)
            .unwrap()
            .starts_with(&endpoint));
    }
    // A tampered download URL is refused by the store.
    let url = ing
        .signed_report_url(
            &started.job_id,
            bulk_ingest::ReportKind::Errors(ReportFormat::Csv),
            600,
            None,
        )
        .unwrap();
    let forged = url.replace("errors.csv", "failed-rows");
    assert!(matches!(
        ureq::get(&forged).call(),
        Err(ureq::Error::Status(403, _))
    ));

    // A second start on the same upload reads the same object: same counts, keys all taken.
    let again = ing.start_ingest(&req).unwrap();
    let st2 = ing
        .wait(&again.job_id, Duration::from_secs(60), None)
        .unwrap();
    assert_eq!(st2.processed_rows, 0, "every eventId is already stored");
    assert_eq!(ing.stored_rows("pop", "1.0").unwrap(), 2_000 - bad);
}

/// An object overwritten after `start_ingest` is never read as the job's file: the job fails
/// with CORRUPTED_FILE saying so, and no row of the new bytes is stored.
#[cfg(all(feature = "postgres", feature = "s3"))]
#[test]
fn an_overwrite_after_start_fails_the_job_clearly() {
    let Some((state, blobs)) = fresh_urls("scale-overwrite") else {
        return;
    };
    let dir = temp_dir("scale-overwrite");
    let ing = Ingestor::open(&dir, scale_opts(&state, &blobs, 0)).unwrap();
    ing.register_schema("pop", "1.0", POP_SCHEMA).unwrap();
    let t = ing
        .create_upload(&UploadRequest {
            file_name: "pop.ndjson".into(),
            format: Some(Format::Ndjson),
            expires_in_seconds: Some(600),
            tenant: None,
        })
        .unwrap();
    let (first, _) = pop_ndjson(6, 100, 0);
    assert_eq!(put(&t.upload_url, &t.content_type, &first), Ok(200));
    let job = ing
        .start_ingest(&IngestRequest {
            file_id: t.file_id.clone(),
            dataset: "pop".into(),
            schema_version: "1.0".into(),
            ..Default::default()
        })
        .unwrap();
    // The URL is still valid: the client PUTs other bytes of the same size.
    let (second, _) = pop_ndjson(7, 100, 0);
    assert_eq!(first.len(), second.len());
    assert_eq!(put(&t.upload_url, &t.content_type, &second), Ok(200));
    assert_eq!(ing.run_pending().unwrap(), 1);
    let st = ing.job(&job.job_id, None).unwrap();
    assert_eq!(st.status, JobState::Failed, "{st:?}");
    let err = st.error.expect("a job error");
    assert_eq!(err.code, "CORRUPTED_FILE");
    assert!(
        err.message.contains("changed after the job started"),
        "{err:?}"
    );
    assert_eq!(ing.stored_rows("pop", "1.0").unwrap(), 0);
}

/// A body the host received itself (the content seed's multipart field) goes in through
/// `upload_body`, whatever the backend; the content type is checked there too.
#[test]
fn host_received_bodies_on_the_embedded_default() {
    let dir = temp_dir("scale-body");
    let ing = Ingestor::open(&dir, opts(0)).unwrap();
    ing.register_schema("pop", "1.0", POP_SCHEMA).unwrap();
    let req = bulk_ingest::UploadRequest {
        file_name: "pop.ndjson".into(),
        format: Some(bulk_ingest::Format::Ndjson),
        ..Default::default()
    };
    let (body, bad) = pop_ndjson(8, 300, 30);
    let e = ing
        .upload_body(&req, "text/csv", &mut body.as_slice())
        .unwrap_err();
    assert_eq!(e.code(), "UNSUPPORTED_MEDIA_TYPE");
    let up = ing
        .upload_body(&req, "application/x-ndjson", &mut body.as_slice())
        .unwrap();
    assert_eq!(up.size, body.len() as u64);
    let job = ingest(&ing, &up.file_id, "pop");
    assert_eq!(ing.run_pending().unwrap(), 1);
    let st = ing.job(&job.job_id, None).unwrap();
    assert_eq!((st.processed_rows, st.error_rows), (300 - bad, bad));
}

/// In scale-out mode a host-received body is streamed to the object store in parts.
#[cfg(all(feature = "postgres", feature = "s3"))]
#[test]
fn host_received_bodies_go_to_the_object_store_in_parts() {
    let Some((state, blobs)) = fresh_urls("scale-parts") else {
        return;
    };
    let dir = temp_dir("scale-parts");
    let ing = Ingestor::open(&dir, scale_opts(&state, &blobs, 0)).unwrap();
    ing.register_schema("pop", "1.0", POP_SCHEMA).unwrap();
    // About 12 MB: more than one 8 MiB part.
    let (body, bad) = pop_ndjson(9, 45_000, 1_000);
    assert!(body.len() > 9 << 20, "{}", body.len());
    let up = ing
        .upload_body(
            &UploadRequest {
                file_name: "pop.ndjson".into(),
                format: Some(Format::Ndjson),
                ..Default::default()
            },
            "application/x-ndjson",
            &mut body.as_slice(),
        )
        .unwrap();
    {
        use sha2::Digest;
        let want: String = sha2::Sha256::digest(&body)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(up.sha256, want);
    }
    let job = ingest(&ing, &up.file_id, "pop");
    assert_eq!(ing.run_pending().unwrap(), 1);
    let st = ing.job(&job.job_id, None).unwrap();
    assert_eq!(st.status, JobState::PartiallyCompleted, "{st:?}");
    assert_eq!((st.processed_rows, st.error_rows), (45_000 - bad, bad));
}

/// Nodes with no disk in common share the signing secret through PostgreSQL: a report URL one
/// node signs, another serves.
#[cfg(all(feature = "postgres", feature = "s3"))]
#[test]
fn nodes_share_the_signing_secret_through_the_database() {
    let Some((state, blobs)) = fresh_urls("scale-secret") else {
        return;
    };
    let node = |tag: &str| {
        Ingestor::open(
            temp_dir(tag),
            IngestorOptions {
                secret: None,
                ..scale_opts(&state, &blobs, 0)
            },
        )
        .unwrap()
    };
    let a = node("scale-secret-a");
    let b = node("scale-secret-b");
    a.register_schema("pop", "1.0", POP_SCHEMA).unwrap();
    let (body, bad) = pop_ndjson(10, 50, 10);
    let up = a
        .upload_body(
            &UploadRequest {
                file_name: "pop.ndjson".into(),
                format: Some(Format::Ndjson),
                ..Default::default()
            },
            "application/x-ndjson",
            &mut body.as_slice(),
        )
        .unwrap();
    let job = ingest(&a, &up.file_id, "pop");
    // Signed while the job is queued: a URL of ours (a finished job's comes from the store).
    let url = a
        .signed_report_url(
            &job.job_id,
            bulk_ingest::ReportKind::Errors(ReportFormat::Csv),
            600,
            None,
        )
        .unwrap();
    assert!(
        url.starts_with("http://127.0.0.1:9/bulk/downloads/"),
        "{url}"
    );
    assert_eq!(b.run_pending().unwrap(), 1, "node b runs node a's job");
    let d = b.download(&url).unwrap();
    assert_eq!(
        String::from_utf8(d.body).unwrap().lines().count() as u64,
        1 + bad
    );
}
