//! The example server scaled out: `--state postgres://... --blobs s3://...` against the real
//! PostgreSQL and S3-compatible server scripts/services.sh starts (required under CI). Two
//! nodes with no disk in common: an API-only node (`--workers 0`) and a worker node.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

mod common;
use common::{root, temp_dir, Server};

const KEY: &str = "scale-test-key";
const POP: &str = "/coatro/v1/pop/dynamic/bulk";

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

fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new()
        .redirects(0)
        .timeout(Duration::from_secs(120))
        .build()
}

fn answer(r: Result<ureq::Response, ureq::Error>) -> ureq::Response {
    match r {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("transport error: {e}"),
    }
}

fn json_of(r: ureq::Response) -> (u16, Value) {
    let st = r.status();
    let body = r.into_string().unwrap();
    (
        st,
        serde_json::from_str(&body).unwrap_or(Value::String(body)),
    )
}

fn post_json(s: &Server, path: &str, body: &Value) -> (u16, Value) {
    json_of(answer(
        agent()
            .post(&s.url(path))
            .set("X-API-Key", KEY)
            .set("Content-Type", "application/json")
            .send_string(&body.to_string()),
    ))
}

fn get_json(s: &Server, path: &str) -> (u16, Value) {
    json_of(answer(
        agent().get(&s.url(path)).set("X-API-Key", KEY).call(),
    ))
}

/// A PUT as a client does it: the HTTP status (the store answers XML, not JSON).
fn put_status(url: &str, content_type: &str, body: &[u8]) -> u16 {
    answer(
        agent()
            .put(url)
            .set("Content-Type", content_type)
            .send_bytes(body),
    )
    .status()
}

fn upload_url(s: &Server, expires: i64) -> Value {
    let (st, v) = post_json(
        s,
        &format!("{POP}/upload-url"),
        &json!({"fileName": "pop.csv", "format": "csv", "expiresInSeconds": expires}),
    );
    assert_eq!(st, 200, "{v}");
    v
}

#[test]
fn pop_workflow_with_postgres_and_object_store_on_two_nodes() {
    let (Some(pg), Some(s3)) = (
        service_env("BULK_INGEST_TEST_PG"),
        service_env("BULK_INGEST_TEST_S3"),
    ) else {
        return;
    };
    let endpoint = service_env("AWS_ENDPOINT_URL").unwrap_or_default();
    let unique = format!(
        "srv_{}_{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis()
    );
    let sep = if pg.contains('?') { '&' } else { '?' };
    let state = format!("{pg}{sep}schema={unique}");
    let blobs = format!("{}/{unique}", s3.trim_end_matches('/'));
    let scale = ["--state", state.as_str(), "--blobs", blobs.as_str()];

    // An API-only node and a worker node, each with a data directory of its own.
    let api_dir = temp_dir("scale-api");
    let api = Server::start(
        &api_dir,
        &[KEY],
        &[&scale[..], &["--workers", "0"]].concat(),
    );
    let worker_dir = temp_dir("scale-worker");
    let worker = Server::start(
        &worker_dir,
        &[KEY],
        &[&scale[..], &["--workers", "2"]].concat(),
    );

    // 1. Upload URL: the object store's own presigned PUT URL.
    let t = upload_url(&api, 600);
    let url = t["uploadUrl"].as_str().unwrap();
    let file_id = t["fileId"].as_str().unwrap();
    assert!(url.starts_with(&endpoint), "{url}");
    assert!(url.contains("X-Amz-Signature="), "{url}");
    assert_eq!(t["contentType"], "text/csv");

    // Ingest before the PUT: the object is not there.
    let ingest = json!({"fileId": file_id, "schemaVersion": "1.0"});
    let (st, v) = post_json(&api, &format!("{POP}/ingest"), &ingest);
    assert_eq!(
        (st, v["code"].as_str()),
        (400, Some("UPLOAD_NOT_RECEIVED")),
        "{v}"
    );

    // 2. PUT to the store. A forged signature and another content type are refused by it.
    let csv = std::fs::read(root().join("testdata/pop_mixed.csv")).unwrap();
    let sig = url.find("X-Amz-Signature=").unwrap() + "X-Amz-Signature=".len();
    let mut forged = url.to_string();
    let c = if &url[sig..sig + 1] == "a" { "b" } else { "a" };
    forged.replace_range(sig..sig + 1, c);
    assert_eq!(put_status(&forged, "text/csv", &csv), 403);
    assert_eq!(put_status(url, "application/x-ndjson", &csv), 403);
    assert_eq!(put_status(url, "text/csv", &csv), 200);

    // 3. Ingest on the API node; 4. a worker node runs it; status from either node.
    let (st, v) = post_json(&api, &format!("{POP}/ingest"), &ingest);
    assert_eq!(st, 202, "{v}");
    let job_id = v["jobId"].as_str().unwrap().to_string();
    let deadline = Instant::now() + Duration::from_secs(120);
    let job = loop {
        let (st, v) = get_json(&api, &format!("{POP}/jobs/{job_id}"));
        assert_eq!(st, 200, "{v}");
        let s = v["status"].as_str().unwrap();
        if matches!(
            s,
            "completed" | "partially_completed" | "failed" | "cancelled"
        ) {
            break v;
        }
        assert!(Instant::now() < deadline, "job did not finish: {v}");
        std::thread::sleep(Duration::from_millis(25));
    };
    let expected: Value =
        serde_json::from_slice(&std::fs::read(root().join("testdata/expected.json")).unwrap())
            .unwrap();
    let exp = &expected["pop_mixed.csv"];
    assert_eq!(job["status"], "partially_completed", "{job}");
    assert_eq!(job["totalRows"], exp["totalRows"], "{job}");
    assert_eq!(job["processedRows"], exp["validRows"], "{job}");
    assert_eq!(job["errorRows"], exp["errorRows"], "{job}");
    let (_, from_worker) = get_json(&worker, &format!("{POP}/jobs/{job_id}"));
    assert_eq!(from_worker["processedRows"], job["processedRows"]);

    // 5. The error report through the API node's signed download.
    let r = answer(
        agent()
            .get(&api.url(&format!("{POP}/jobs/{job_id}/report")))
            .set("X-API-Key", KEY)
            .call(),
    );
    assert_eq!(r.status(), 302);
    let location = r.header("location").unwrap().to_string();
    // A finished job's report is in the store, served by its presigned GET.
    assert!(location.starts_with(&endpoint), "{location}");
    let report = answer(agent().get(&location).call());
    assert_eq!(report.status(), 200);
    assert_eq!(report.header("content-type"), Some("text/csv"));
    let body = report.into_string().unwrap();
    let mut lines = body.lines();
    assert_eq!(lines.next(), Some("row,line,field,code,message"));
    assert_eq!(
        lines.count(),
        exp["errors"].as_array().unwrap().len(),
        "{body}"
    );

    // The content seed: a multipart field the API node receives itself, streamed to the store.
    let boundary = "----bulk-ingest-scale-5e2b";
    let content = std::fs::read(root().join("testdata/content_mixed.csv")).unwrap();
    let mut form = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"content\"; filename=\"c.csv\"\r\nContent-Type: text/csv\r\n\r\n"
    )
    .into_bytes();
    form.extend_from_slice(&content);
    form.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let (st, v) = json_of(answer(
        agent()
            .post(&api.url("/v1/bulkupload/content"))
            .set("Authorization", &format!("Bearer {KEY}"))
            .set(
                "Content-Type",
                &format!("multipart/form-data; boundary={boundary}"),
            )
            .send_bytes(&form),
    ));
    assert_eq!(st, 200, "{v}");
    let pid = v["result"]["processId"].as_str().unwrap().to_string();
    let exp = &expected["content_mixed.csv"];
    let deadline = Instant::now() + Duration::from_secs(120);
    let result = loop {
        let r = answer(
            agent()
                .get(&api.url(&format!("/v1/bulkupload/status/{pid}")))
                .set("Authorization", &format!("Bearer {KEY}"))
                .call(),
        );
        let (st, v) = json_of(r);
        assert_eq!(st, 200, "{v}");
        let status = v["result"]["status"].as_str().unwrap().to_string();
        if status == "Completed" || status == "Failed" {
            break v["result"].clone();
        }
        assert!(Instant::now() < deadline, "process did not finish: {v}");
        std::thread::sleep(Duration::from_millis(25));
    };
    assert_eq!(result["status"], "Completed", "{result}");
    assert_eq!(result["successCount"], exp["validRows"], "{result}");
    assert_eq!(result["failedCount"], exp["errorRows"], "{result}");

    // An expired upload URL is refused by the store.
    let short = upload_url(&api, 1);
    std::thread::sleep(Duration::from_millis(2_100));
    assert_eq!(
        put_status(short["uploadUrl"].as_str().unwrap(), "text/csv", &csv),
        403
    );
    let logs = api.log_lines().join("\n");
    assert!(!logs.contains("X-Amz-Signature"), "{logs}");
}
