//! The example server, driven over HTTP: every route of both seed APIs and their error cases.
//!
//! Each test starts the real server (`cargo run --example server`, built once and reused by
//! cargo) on a free port with its own data directory, and kills it when done.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

mod common;
use common::{root, temp_dir, Server};

const KEY1: &str = "test-key-one-5f0c2b7e9a1d";
const KEY2: &str = "test-key-two-8e3a6c1f4b2d";
const POP: &str = "/coatro/v1/pop/dynamic/bulk";
const KEYS: &[&str] = &[KEY1, KEY2];

fn testdata(name: &str) -> Vec<u8> {
    std::fs::read(root().join("testdata").join(name)).unwrap()
}

fn expected() -> Value {
    serde_json::from_slice(&testdata("expected.json")).unwrap()
}

fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new()
        .redirects(0)
        .timeout(Duration::from_secs(120))
        .build()
}

/// Status and response, whatever the status.
fn answer(r: Result<ureq::Response, ureq::Error>) -> ureq::Response {
    match r {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("transport error: {e}"),
    }
}

fn json_of(r: ureq::Response) -> (u16, Value) {
    let status = r.status();
    let text = r.into_string().unwrap();
    let v = serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
    (status, v)
}

fn post_json(s: &Server, path: &str, key: Option<&str>, body: &str) -> (u16, Value) {
    let mut req = agent()
        .post(&s.url(path))
        .set("Content-Type", "application/json");
    if let Some(k) = key {
        req = req.set("X-API-Key", k);
    }
    json_of(answer(req.send_string(body)))
}

fn get_json(s: &Server, path: &str, key: Option<&str>) -> (u16, Value) {
    let mut req = agent().get(&s.url(path));
    if let Some(k) = key {
        req = req.set("X-API-Key", k);
    }
    json_of(answer(req.call()))
}

fn put(url: &str, content_type: &str, body: &[u8]) -> (u16, Value) {
    json_of(answer(
        agent()
            .put(url)
            .set("Content-Type", content_type)
            .send_bytes(body),
    ))
}

fn upload_url(s: &Server, key: &str, file_name: &str, format: &str, expires: Option<i64>) -> Value {
    let mut body = json!({"fileName": file_name, "format": format});
    if let Some(e) = expires {
        body["expiresInSeconds"] = json!(e);
    }
    let (st, v) = post_json(
        s,
        &format!("{POP}/upload-url"),
        Some(key),
        &body.to_string(),
    );
    assert_eq!(st, 200, "{v}");
    v
}

/// upload-url, then PUT: the file id.
fn upload(s: &Server, key: &str, file_name: &str, format: &str, bytes: &[u8]) -> String {
    let t = upload_url(s, key, file_name, format, None);
    let (st, v) = put(
        t["uploadUrl"].as_str().unwrap(),
        t["contentType"].as_str().unwrap(),
        bytes,
    );
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["size"], bytes.len());
    t["fileId"].as_str().unwrap().to_string()
}

fn ingest(s: &Server, key: &str, file_id: &str) -> (u16, Value) {
    post_json(
        s,
        &format!("{POP}/ingest"),
        Some(key),
        &json!({"fileId": file_id, "schemaVersion": "1.0"}).to_string(),
    )
}

fn start_job(s: &Server, key: &str, file_id: &str) -> String {
    let (st, v) = ingest(s, key, file_id);
    assert_eq!(st, 202, "{v}");
    assert_eq!(v["message"], "Job queued");
    v["jobId"].as_str().unwrap().to_string()
}

fn is_terminal(status: &str) -> bool {
    matches!(
        status,
        "completed" | "partially_completed" | "failed" | "cancelled"
    )
}

/// Polls the job until it is terminal (never a fixed sleep: the state decides).
fn wait_job(s: &Server, key: &str, job_id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let (st, v) = get_json(s, &format!("{POP}/jobs/{job_id}"), Some(key));
        assert_eq!(st, 200, "{v}");
        if is_terminal(v["status"].as_str().unwrap()) {
            return v;
        }
        assert!(Instant::now() < deadline, "job did not finish: {v}");
        std::thread::sleep(Duration::from_millis(25));
    }
}

fn assert_error(got: (u16, Value), status: u16, code: &str) -> Value {
    assert_eq!(got.0, status, "{}", got.1);
    assert_eq!(got.1["code"], code, "{}", got.1);
    assert!(
        got.1["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{}",
        got.1
    );
    got.1
}

/// Follows a 302 from a report route by hand: (content type, disposition, body).
fn follow_report(s: &Server, key: &str, path: &str) -> (String, String, String) {
    let r = answer(agent().get(&s.url(path)).set("X-API-Key", key).call());
    assert_eq!(r.status(), 302);
    let location = r.header("location").unwrap().to_string();
    assert!(
        location.starts_with(&format!("{}/downloads/", s.base)),
        "{location}"
    );
    let d = answer(agent().get(&location).call());
    assert_eq!(d.status(), 200);
    let ct = d.header("content-type").unwrap_or("").to_string();
    let disp = d.header("content-disposition").unwrap_or("").to_string();
    (ct, disp, d.into_string().unwrap())
}

fn expires_of(url: &str) -> u64 {
    url.split(['?', '&'])
        .find_map(|p| p.strip_prefix("expires="))
        .unwrap()
        .parse()
        .unwrap()
}

// ---------------------------------------------------------------- the POP API

#[test]
fn pop_workflow_end_to_end() {
    let dir = temp_dir("workflow");
    let s = Server::start(&dir, KEYS, &[]);
    let bytes = testdata("pop_valid.ndjson");

    // Step 1: upload URL.
    let t = upload_url(&s, KEY1, "pop_2025-12-09.jsonl", "ndjson", Some(3600));
    let url = t["uploadUrl"].as_str().unwrap();
    let file_id = t["fileId"].as_str().unwrap();
    assert!(
        url.starts_with(&format!("{}/uploads/{file_id}?", s.base)),
        "{url}"
    );
    assert_eq!(t["contentType"], "application/x-ndjson");
    assert!(t["uploadInstructions"].as_str().unwrap().contains("PUT"));

    // Step 2: PUT, no key: the signature is the authority.
    let (st, v) = put(url, "application/x-ndjson", &bytes);
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["fileId"], file_id);
    assert_eq!(v["size"], bytes.len());
    use sha2::Digest;
    let sha: String = sha2::Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(v["sha256"], sha);
    // A file id takes one upload.
    assert_error(
        put(url, "application/x-ndjson", &bytes),
        409,
        "UPLOAD_ALREADY_RECEIVED",
    );

    // Step 3: ingest, with metadata.
    let body = json!({"fileId": file_id, "schemaVersion": "1.0", "metadata": {"source": "daily_export", "timezone": "UTC"}});
    let (st, v) = post_json(&s, &format!("{POP}/ingest"), Some(KEY1), &body.to_string());
    assert_eq!(st, 202, "{v}");
    assert_eq!(v["message"], "Job queued");
    let job_id = v["jobId"].as_str().unwrap();

    // Step 4: status until terminal.
    let j = wait_job(&s, KEY1, job_id);
    assert_eq!(j["jobId"], job_id);
    assert_eq!(j["status"], "completed", "{j}");
    assert_eq!(j["totalRows"], 5);
    assert_eq!(j["processedRows"], 5);
    assert_eq!(j["errorRows"], 0);
    assert_eq!(j["errors"], json!([]));
    assert!(j["startedAt"].as_str().unwrap().ends_with('Z'));
    assert!(j["completedAt"].as_str().unwrap().ends_with('Z'));
    assert_eq!(j["metadata"]["source"], "daily_export");

    // Terminal: cancel is an invalid transition.
    let c = post_json(&s, &format!("{POP}/jobs/{job_id}/cancel"), Some(KEY1), "");
    assert_error(c, 409, "INVALID_STATE_TRANSITION");

    // The request log: one line per request, route patterns, never a key or a signature.
    let log = s.log_lines();
    assert!(
        log.iter()
            .any(|l| l.starts_with(&format!("POST {POP}/upload-url 200 "))),
        "{log:?}"
    );
    assert!(
        log.iter()
            .any(|l| l.starts_with("PUT /uploads/{fileId} 200 ")),
        "{log:?}"
    );
    assert!(
        log.iter()
            .any(|l| l.starts_with("PUT /uploads/{fileId} 409 ")),
        "{log:?}"
    );
    assert!(log
        .iter()
        .any(|l| l.starts_with(&format!("GET {POP}/jobs/{{jobId}} 200 ")) && l.ends_with("ms")));
    assert!(
        !log.iter()
            .any(|l| l.contains("sig=") || l.contains(KEY1) || l.contains(KEY2)),
        "{log:?}"
    );
}

/// A file with invalid rows ends `partially_completed` with the counts and errors of
/// `testdata/expected.json`; its reports download through the 302 Location.
fn mixed_file(file: &str, format: &str, content_type: &str) {
    let dir = temp_dir(&format!("mixed-{format}"));
    let s = Server::start(&dir, KEYS, &[]);
    let exp = &expected()[file];
    let file_id = upload(&s, KEY1, file, format, &testdata(file));
    let job_id = start_job(&s, KEY1, &file_id);
    let j = wait_job(&s, KEY1, &job_id);
    assert_eq!(j["status"], "partially_completed", "{j}");
    assert_eq!(j["totalRows"], exp["totalRows"]);
    assert_eq!(j["processedRows"], exp["validRows"]);
    assert_eq!(j["errorRows"], exp["errorRows"]);
    let got = j["errors"].as_array().unwrap();
    let want = exp["errors"].as_array().unwrap();
    assert_eq!(got.len(), want.len(), "{j}");
    for (g, w) in got.iter().zip(want) {
        assert!(g["error"].as_str().is_some_and(|m| !m.is_empty()), "{g}");
        assert_eq!(
            (&g["row"], &g["field"], &g["code"]),
            (&w[0], &w[2], &w[3]),
            "{g} vs {w}"
        );
        // The design promises `line` for NDJSON and CSV only.
        assert!(
            g["line"] == w[1] || (format == "json" && g["line"].is_null()),
            "{g} vs {w}"
        );
    }
    let n_errors = exp["errors"].as_array().unwrap().len();

    // The error report, CSV by default.
    let (ct, disp, body) = follow_report(&s, KEY1, &format!("{POP}/jobs/{job_id}/report"));
    assert!(ct.starts_with("text/csv"), "{ct}");
    assert!(disp.starts_with("attachment; filename="), "{disp}");
    let mut lines = body.lines();
    assert_eq!(lines.next(), Some("row,line,field,code,message"));
    assert_eq!(lines.count(), n_errors);
    // NDJSON: a line per failed row.
    let (ct, _, body) = follow_report(
        &s,
        KEY1,
        &format!("{POP}/jobs/{job_id}/report?format=ndjson"),
    );
    assert!(ct.starts_with("application/x-ndjson"), "{ct}");
    assert_eq!(body.lines().count(), n_errors);
    let first: Value = serde_json::from_str(body.lines().next().unwrap()).unwrap();
    assert_eq!(first["row"], exp["errors"][0][0]);
    // The failed rows in the file's own format.
    let (ct, disp, body) = follow_report(&s, KEY1, &format!("{POP}/jobs/{job_id}/failed-rows"));
    assert!(ct.starts_with(content_type), "{ct}");
    assert!(disp.contains("failed-rows"), "{disp}");
    match format {
        "csv" => assert_eq!(body.lines().count(), n_errors + 1),
        "ndjson" => assert_eq!(
            body.lines().filter(|l| !l.trim().is_empty()).count(),
            n_errors
        ),
        _ => assert!(body.trim_start().starts_with('[') && body.trim_end().ends_with(']')),
    }
    // An unknown report format is a 400 naming it.
    let r = get_json(
        &s,
        &format!("{POP}/jobs/{job_id}/report?format=pdf"),
        Some(KEY1),
    );
    assert_error(r, 400, "INVALID_REQUEST");
}

#[test]
fn pop_mixed_ndjson_partially_completed() {
    mixed_file("pop_mixed.ndjson", "ndjson", "application/x-ndjson");
}

#[test]
fn pop_mixed_csv_partially_completed() {
    mixed_file("pop_mixed.csv", "csv", "text/csv");
}

#[test]
fn pop_mixed_json_partially_completed() {
    mixed_file("pop_mixed.json", "json", "application/json");
}

#[test]
fn pop_request_errors() {
    let dir = temp_dir("errors");
    let s = Server::start(&dir, KEYS, &[]);
    let path = format!("{POP}/upload-url");
    let good = r#"{"fileName":"a.jsonl","format":"ndjson"}"#;

    // 401: no key, a wrong key.
    assert_error(post_json(&s, &path, None, good), 401, "UNAUTHORIZED");
    assert_error(
        post_json(&s, &path, Some("not-a-key"), good),
        401,
        "UNAUTHORIZED",
    );
    assert_error(
        get_json(&s, &format!("{POP}/jobs/job-x"), None),
        401,
        "UNAUTHORIZED",
    );
    // 415: not JSON.
    let r = answer(
        agent()
            .post(&s.url(&path))
            .set("X-API-Key", KEY1)
            .set("Content-Type", "text/plain")
            .send_string(good),
    );
    assert_error(json_of(r), 415, "UNSUPPORTED_MEDIA_TYPE");
    let r = answer(
        agent()
            .post(&s.url(&format!("{POP}/ingest")))
            .set("X-API-Key", KEY1)
            .send_string("{}"),
    );
    assert_error(json_of(r), 415, "UNSUPPORTED_MEDIA_TYPE");
    // 400 naming the field.
    for (body, field) in [
        ("{not json", "JSON"),
        ("[1,2]", "object"),
        (r#"{"format":"ndjson"}"#, "fileName"),
        (r#"{"fileName":"","format":"ndjson"}"#, "fileName"),
        (r#"{"fileName":"a","format":"xml"}"#, "format"),
        (r#"{"fileName":"a"}"#, "format"),
        (
            r#"{"fileName":"a","format":"csv","expiresInSeconds":0}"#,
            "expiresInSeconds",
        ),
        (
            r#"{"fileName":"a","format":"csv","expiresInSeconds":86401}"#,
            "expiresInSeconds",
        ),
        (
            r#"{"fileName":"a","format":"csv","expiresInSeconds":"1h"}"#,
            "expiresInSeconds",
        ),
    ] {
        let v = assert_error(
            post_json(&s, &path, Some(KEY1), body),
            400,
            "INVALID_REQUEST",
        );
        assert!(
            v["message"].as_str().unwrap().contains(field),
            "{body}: {v}"
        );
    }

    // Ingest: invalid input, unknown or not uploaded files, unknown schema versions.
    let ing = format!("{POP}/ingest");
    let v = assert_error(
        post_json(&s, &ing, Some(KEY1), r#"{"schemaVersion":"1.0"}"#),
        400,
        "INVALID_REQUEST",
    );
    assert!(v["message"].as_str().unwrap().contains("fileId"));
    let file_id = upload(
        &s,
        KEY1,
        "v.ndjson",
        "ndjson",
        &testdata("pop_valid.ndjson"),
    );
    let body = json!({"fileId": file_id, "schemaVersion": "1.0", "metadata": [1]}).to_string();
    let v = assert_error(
        post_json(&s, &ing, Some(KEY1), &body),
        400,
        "INVALID_REQUEST",
    );
    assert!(v["message"].as_str().unwrap().contains("metadata"));
    let body = json!({"fileId": file_id}).to_string();
    let v = assert_error(
        post_json(&s, &ing, Some(KEY1), &body),
        400,
        "INVALID_REQUEST",
    );
    assert!(v["message"].as_str().unwrap().contains("schemaVersion"));
    assert_error(
        ingest(&s, KEY1, "file-20250101-000000000000000000000000"),
        400,
        "FILE_NOT_FOUND",
    );
    let t = upload_url(&s, KEY1, "later.ndjson", "ndjson", None);
    assert_error(
        ingest(&s, KEY1, t["fileId"].as_str().unwrap()),
        400,
        "UPLOAD_NOT_RECEIVED",
    );
    let body = json!({"fileId": file_id, "schemaVersion": "9.9"}).to_string();
    assert_error(
        post_json(&s, &ing, Some(KEY1), &body),
        400,
        "SCHEMA_NOT_FOUND",
    );

    // File-level errors of the shared corpus, answered synchronously.
    let exp = expected();
    for (file, e) in exp.as_object().unwrap() {
        let (Some(code), "pop") = (e["fileError"].as_str(), e["dataset"].as_str().unwrap()) else {
            continue;
        };
        let file_id = upload(
            &s,
            KEY1,
            file,
            e["format"].as_str().unwrap(),
            &testdata(file),
        );
        assert_error(ingest(&s, KEY1, &file_id), 400, code);
    }

    // 404s.
    assert_error(
        get_json(&s, &format!("{POP}/jobs/job-20250101-nope"), Some(KEY1)),
        404,
        "JOB_NOT_FOUND",
    );
    assert_error(
        post_json(&s, &format!("{POP}/jobs/job-nope/cancel"), Some(KEY1), ""),
        404,
        "JOB_NOT_FOUND",
    );
    assert_error(
        get_json(&s, &format!("{POP}/jobs/job-nope/report"), Some(KEY1)),
        404,
        "JOB_NOT_FOUND",
    );
    assert_error(get_json(&s, "/no/such/route", Some(KEY1)), 404, "NOT_FOUND");
}

#[test]
fn signed_urls_refuse_forged_expired_and_oversized_uploads() {
    let dir = temp_dir("signed");
    let s = Server::start(&dir, KEYS, &["--max-upload-bytes", "4096"]);
    let bytes = testdata("pop_valid.ndjson");

    // Forged: one signature digit changed; no signature at all.
    let t = upload_url(&s, KEY1, "a.ndjson", "ndjson", None);
    let url = t["uploadUrl"].as_str().unwrap().to_string();
    let last = url.chars().last().unwrap();
    let forged = format!(
        "{}{}",
        &url[..url.len() - 1],
        if last == '0' { '1' } else { '0' }
    );
    assert_error(
        put(&forged, "application/x-ndjson", &bytes),
        403,
        "INVALID_SIGNATURE",
    );
    let unsigned = url.split('?').next().unwrap();
    assert_error(
        put(unsigned, "application/x-ndjson", &bytes),
        403,
        "INVALID_SIGNATURE",
    );
    // A refusal decided from the URL alone, while a large body is still on its way: the
    // server reads it off and the client gets the answer, not a broken pipe.
    let large = vec![b' '; 4 << 20];
    for _ in 0..5 {
        assert_error(
            put(&forged, "application/x-ndjson", &large),
            403,
            "INVALID_SIGNATURE",
        );
    }
    // The wrong content type.
    assert_error(put(&url, "text/csv", &bytes), 415, "UNSUPPORTED_MEDIA_TYPE");
    // Over the size limit: refused, and the URL still takes a good body afterwards.
    let big = vec![b'\n'; 10_000];
    assert_error(
        put(&url, "application/x-ndjson", &big),
        413,
        "FILE_TOO_LARGE",
    );
    assert_eq!(put(&url, "application/x-ndjson", &bytes).0, 200);

    // Expired: one second, then wait until the clock is past it.
    let t = upload_url(&s, KEY1, "b.ndjson", "ndjson", Some(1));
    let url = t["uploadUrl"].as_str().unwrap().to_string();
    let expires = expires_of(&url);
    while SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        <= expires
    {
        std::thread::sleep(Duration::from_millis(100));
    }
    let v = assert_error(
        put(&url, "application/x-ndjson", &bytes),
        403,
        "UPLOAD_URL_EXPIRED",
    );
    assert!(v["message"].as_str().unwrap().contains("expired"));
    assert_error(
        ingest(&s, KEY1, t["fileId"].as_str().unwrap()),
        400,
        "UPLOAD_NOT_RECEIVED",
    );

    // A forged download URL.
    let file_id = upload(&s, KEY1, "c.ndjson", "ndjson", &bytes);
    let job_id = start_job(&s, KEY1, &file_id);
    wait_job(&s, KEY1, &job_id);
    let r = answer(
        agent()
            .get(&s.url(&format!("{POP}/jobs/{job_id}/report")))
            .set("X-API-Key", KEY1)
            .call(),
    );
    let location = r.header("location").unwrap().to_string();
    let forged = location.replace("errors.csv", "failed-rows");
    assert_error(
        json_of(answer(agent().get(&forged).call())),
        403,
        "INVALID_SIGNATURE",
    );
}

#[test]
fn tenants_see_only_their_own_files_and_jobs() {
    let dir = temp_dir("tenants");
    let s = Server::start(&dir, KEYS, &[]);
    let file_id = upload(
        &s,
        KEY1,
        "t.ndjson",
        "ndjson",
        &testdata("pop_valid.ndjson"),
    );
    // Another key cannot start a job on this file.
    assert_error(ingest(&s, KEY2, &file_id), 400, "FILE_NOT_FOUND");
    let job_id = start_job(&s, KEY1, &file_id);
    wait_job(&s, KEY1, &job_id);
    // Nor see, cancel or download the job.
    assert_error(
        get_json(&s, &format!("{POP}/jobs/{job_id}"), Some(KEY2)),
        404,
        "JOB_NOT_FOUND",
    );
    assert_error(
        post_json(&s, &format!("{POP}/jobs/{job_id}/cancel"), Some(KEY2), ""),
        404,
        "JOB_NOT_FOUND",
    );
    assert_error(
        get_json(&s, &format!("{POP}/jobs/{job_id}/report"), Some(KEY2)),
        404,
        "JOB_NOT_FOUND",
    );
    assert_error(
        get_json(&s, &format!("{POP}/jobs/{job_id}/failed-rows"), Some(KEY2)),
        404,
        "JOB_NOT_FOUND",
    );
    let r = answer(
        agent()
            .get(&s.url(&format!("/v1/bulkupload/status/{job_id}")))
            .set("Authorization", &format!("Bearer {KEY2}"))
            .call(),
    );
    let (st, v) = json_of(r);
    assert_eq!(st, 404);
    assert_eq!(v["params"]["err"], "PROCESS_NOT_FOUND");
    // Its owner still can.
    assert_eq!(
        get_json(&s, &format!("{POP}/jobs/{job_id}"), Some(KEY1)).0,
        200
    );
}

#[test]
fn cancel_a_queued_job() {
    // No workers: jobs stay queued until cancelled.
    let dir = temp_dir("cancel");
    let s = Server::start(&dir, KEYS, &["--workers", "0"]);
    let file_id = upload(
        &s,
        KEY1,
        "q.ndjson",
        "ndjson",
        &testdata("pop_valid.ndjson"),
    );
    let job_id = start_job(&s, KEY1, &file_id);
    let (st, v) = get_json(&s, &format!("{POP}/jobs/{job_id}"), Some(KEY1));
    assert_eq!((st, v["status"].as_str()), (200, Some("queued")), "{v}");
    assert_eq!(v["completedAt"], Value::Null);
    assert_eq!(v["startedAt"], Value::Null);
    let (st, v) = post_json(&s, &format!("{POP}/jobs/{job_id}/cancel"), Some(KEY1), "");
    assert_eq!((st, v["status"].as_str()), (200, Some("cancelled")), "{v}");
    assert!(v["completedAt"].is_string());
    assert_error(
        post_json(&s, &format!("{POP}/jobs/{job_id}/cancel"), Some(KEY1), ""),
        409,
        "INVALID_STATE_TRANSITION",
    );
}

#[test]
fn restart_in_the_middle_of_a_job_resumes_it_with_exact_counts() {
    use bulk_ingest_bench::{generate, Format, GenOptions};
    let dir = temp_dir("restart");
    let mut bytes = Vec::new();
    let rec = generate(
        &GenOptions {
            rows: 300_000,
            invalid_ratio: 0.01,
            seed: 42,
            format: Format::Ndjson,
        },
        &mut bytes,
    )
    .unwrap();
    let args = ["--workers", "1", "--lease-seconds", "2"];
    let first = Server::start(&dir, KEYS, &args);
    let file_id = upload(&first, KEY1, "big.ndjson", "ndjson", &bytes);
    drop(bytes);
    let job_id = start_job(&first, KEY1, &file_id);
    // Kill the server (no shutdown: a crash) once some rows are in.
    let deadline = Instant::now() + Duration::from_secs(300);
    let seen = loop {
        let (_, v) = get_json(&first, &format!("{POP}/jobs/{job_id}"), Some(KEY1));
        if v["processedRows"].as_u64().unwrap_or(0) > 0
            || is_terminal(v["status"].as_str().unwrap_or(""))
        {
            break v;
        }
        assert!(Instant::now() < deadline, "the job never started: {v}");
        std::thread::sleep(Duration::from_millis(10));
    };
    drop(first);
    assert_eq!(
        seen["status"], "processing",
        "the job finished before the kill: {seen}"
    );
    assert!(
        seen["processedRows"].as_u64().unwrap() < rec.valid_rows,
        "{seen}"
    );

    // A new server on the same data directory finds the job and finishes it.
    let second = Server::start(&dir, KEYS, &args);
    let j = wait_job(&second, KEY1, &job_id);
    assert_eq!(j["status"], "partially_completed", "{j}");
    assert_eq!(j["totalRows"], rec.rows);
    assert_eq!(j["processedRows"], rec.valid_rows);
    assert_eq!(j["errorRows"], rec.invalid_rows);
    // Every failed row is reported once.
    let (_, _, body) = follow_report(
        &second,
        KEY1,
        &format!("{POP}/jobs/{job_id}/report?format=ndjson"),
    );
    assert_eq!(body.lines().count() as u64, rec.invalid_rows);
}

// ---------------------------------------------------------------- the content API

fn multipart(
    field: &str,
    file_name: Option<&str>,
    content_type: Option<&str>,
    bytes: &[u8],
) -> (String, Vec<u8>) {
    let boundary = "----bulk-ingest-test-7d1f0a9c";
    let mut body = Vec::new();
    body.extend_from_slice(
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhello\r\n")
            .as_bytes(),
    );
    body.extend_from_slice(
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"").as_bytes(),
    );
    if let Some(n) = file_name {
        body.extend_from_slice(format!("; filename=\"{n}\"").as_bytes());
    }
    body.extend_from_slice(b"\r\n");
    if let Some(ct) = content_type {
        body.extend_from_slice(format!("Content-Type: {ct}\r\n").as_bytes());
    }
    body.extend_from_slice(b"\r\n");
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

fn content_upload(s: &Server, key: Option<&str>, form: (String, Vec<u8>)) -> (u16, Value) {
    let mut req = agent()
        .post(&s.url("/v1/bulkupload/content"))
        .set("Content-Type", &form.0);
    if let Some(k) = key {
        req = req.set("Authorization", &format!("Bearer {k}"));
    }
    json_of(answer(req.send_bytes(&form.1)))
}

fn content_status(s: &Server, key: &str, process_id: &str) -> (u16, Value) {
    let r = agent()
        .get(&s.url(&format!("/v1/bulkupload/status/{process_id}")))
        .set("Authorization", &format!("Bearer {key}"));
    json_of(answer(r.call()))
}

fn assert_seed_ts(ts: &Value) {
    // 2019-07-26 11:28:42:315+0000
    let t = ts.as_str().unwrap_or_else(|| panic!("not a time: {ts}"));
    let b = t.as_bytes();
    assert_eq!(t.len(), 28, "{t}");
    assert!(
        b[4] == b'-'
            && b[7] == b'-'
            && b[10] == b' '
            && b[13] == b':'
            && b[16] == b':'
            && b[19] == b':',
        "{t}"
    );
    assert!(t.ends_with("+0000"), "{t}");
}

fn assert_envelope(v: &Value, id: &str, response_code: &str, err: Option<&str>) {
    assert_eq!(v["id"], id, "{v}");
    assert_eq!(v["ver"], "v1");
    assert_seed_ts(&v["ts"]);
    let p = &v["params"];
    assert_eq!(p["resmsgid"], Value::Null);
    assert_eq!(p["msgid"].as_str().map(str::len), Some(36), "{v}");
    assert_eq!(v["responseCode"], response_code, "{v}");
    match err {
        None => {
            assert_eq!(p["err"], Value::Null);
            assert_eq!(p["status"], "success");
            assert_eq!(p["errmsg"], Value::Null);
        }
        Some(code) => {
            assert_eq!(p["err"], code, "{v}");
            assert_eq!(p["status"], code);
            assert!(p["errmsg"].is_string());
            assert_eq!(v["result"], json!({}));
        }
    }
}

/// Polls the content status until it is Completed or Failed.
fn wait_process(s: &Server, key: &str, process_id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (st, v) = content_status(s, key, process_id);
        assert_eq!(st, 200, "{v}");
        assert_envelope(&v, "api.bulkupload.status", "OK", None);
        let status = v["result"]["status"].as_str().unwrap().to_string();
        assert!(
            ["Queued", "Processing", "Completed", "Failed"].contains(&status.as_str()),
            "{v}"
        );
        if status == "Completed" || status == "Failed" {
            return v["result"].clone();
        }
        assert!(Instant::now() < deadline, "process did not finish: {v}");
        std::thread::sleep(Duration::from_millis(25));
    }
}

#[test]
fn content_upload_until_completed_with_its_report() {
    let dir = temp_dir("content");
    let s = Server::start(&dir, KEYS, &[]);
    for (file, ct) in [
        ("content_valid.csv", "text/csv"),
        ("content_mixed.csv", "application/octet-stream"),
    ] {
        let exp = &expected()[file];
        let (st, v) = content_upload(
            &s,
            Some(KEY1),
            multipart("content", Some(file), Some(ct), &testdata(file)),
        );
        assert_eq!(st, 200, "{v}");
        assert_envelope(&v, "api.bulkupload.content", "OK", None);
        let pid = v["result"]["processId"].as_str().unwrap().to_string();
        let r = wait_process(&s, KEY1, &pid);
        assert_eq!(r["processId"], pid.as_str());
        assert_eq!(r["status"], "Completed", "{r}");
        assert_eq!(r["totalCount"], exp["totalRows"]);
        assert_eq!(r["successCount"], exp["validRows"]);
        assert_eq!(r["failedCount"], exp["errorRows"]);
        assert_seed_ts(&r["startTime"]);
        assert_seed_ts(&r["endTime"]);
        // The report: a signed URL of the per-row results, no key needed.
        let report = r["report"].as_str().unwrap();
        assert!(
            report.starts_with(&format!("{}/downloads/", s.base)),
            "{report}"
        );
        let d = answer(agent().get(report).call());
        assert_eq!(d.status(), 200);
        let body = d.into_string().unwrap();
        let mut lines = body.lines();
        assert_eq!(lines.next(), Some("row,line,field,code,message"));
        let codes: Vec<String> = lines
            .map(|l| l.split(',').nth(3).unwrap().to_string())
            .collect();
        let want: Vec<String> = exp["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e[3].as_str().unwrap().to_string())
            .collect();
        assert_eq!(codes, want);
        // The same job through the POP status route, for the same key.
        let (st, j) = get_json(&s, &format!("{POP}/jobs/{pid}"), Some(KEY1));
        assert_eq!((st, j["dataset"].as_str()), (200, Some("content")));
    }
    // Unknown process id.
    let (st, v) = content_status(&s, KEY1, "job-20250101-unknown");
    assert_eq!(st, 404);
    assert_envelope(
        &v,
        "api.bulkupload.status",
        "RESOURCE_NOT_FOUND",
        Some("PROCESS_NOT_FOUND"),
    );
    assert_eq!(
        v["params"]["errmsg"],
        "Process Id job-20250101-unknown is not found in the system"
    );
}

#[test]
fn content_upload_synchronous_refusals() {
    let dir = temp_dir("content-errors");
    let s = Server::start(&dir, KEYS, &[]);
    let id = "api.bulkupload.content";
    let refuse = |form: (String, Vec<u8>), code: &str| -> Value {
        let (st, v) = content_upload(&s, Some(KEY1), form);
        assert_eq!(st, 400, "{v}");
        assert_envelope(&v, id, "CLIENT_ERROR", Some(code));
        v
    };

    let v = refuse(
        multipart(
            "content",
            Some("t.csv"),
            Some("text/csv"),
            &testdata("content_bad_template.csv"),
        ),
        "INVALID_FILE_TEMPLATE",
    );
    let m = v["params"]["errmsg"].as_str().unwrap();
    assert!(
        m.starts_with("Bulk content upload failed due to invalid file template"),
        "{m}"
    );
    assert!(m.contains("fileUrl"), "{m}");

    let header = String::from_utf8(testdata("content_valid.csv"))
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .to_string();
    let mut big = format!("{header}\n");
    for i in 0..3001 {
        big.push_str(&format!("Item {i},CODE_{i},application/pdf,Resource,CBSE,English,Class 4,Maths,https://x.example/{i}.pdf,,,,\n"));
    }
    let v = refuse(
        multipart("content", Some("big.csv"), Some("text/csv"), big.as_bytes()),
        "MAX_ROW_COUNT_EXCEEDED",
    );
    assert_eq!(v["params"]["errmsg"], "Max row count allowed is 3000");

    let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01";
    let v = refuse(
        multipart("content", Some("logo.png"), Some("image/png"), png),
        "INVALID_FILE_FORMAT",
    );
    assert_eq!(
        v["params"]["errmsg"],
        "Bulk content upload failed due to invalid file format"
    );
    refuse(
        multipart("content", Some("data.csv"), Some("application/pdf"), png),
        "INVALID_FILE_FORMAT",
    );
    refuse(
        multipart(
            "content",
            Some("notes.txt"),
            Some("text/csv"),
            big.as_bytes(),
        ),
        "INVALID_FILE_FORMAT",
    );

    let v = refuse(
        multipart(
            "content",
            Some("bad.csv"),
            Some("text/csv"),
            &testdata("invalid_utf8.csv"),
        ),
        "CORRUPTED_FILE",
    );
    assert_eq!(
        v["params"]["errmsg"],
        "Bulk content upload failed due to corrupt file"
    );

    // No `content` field.
    refuse(
        multipart(
            "file",
            Some("a.csv"),
            Some("text/csv"),
            &testdata("content_valid.csv"),
        ),
        "INVALID_REQUEST",
    );

    // 401: no key, a wrong key; 415: not multipart.
    for key in [None, Some("wrong")] {
        let (st, v) = content_upload(
            &s,
            key,
            multipart("content", Some("a.csv"), Some("text/csv"), b"x"),
        );
        assert_eq!(st, 401, "{v}");
        assert_envelope(&v, id, "CLIENT_ERROR", Some("UNAUTHORIZED"));
    }
    let (st, v) = content_upload(
        &s,
        Some(KEY1),
        ("text/csv".into(), testdata("content_valid.csv")),
    );
    assert_eq!(st, 415, "{v}");
    assert_envelope(&v, id, "CLIENT_ERROR", Some("UNSUPPORTED_MEDIA_TYPE"));
    let r = agent().get(&s.url("/v1/bulkupload/status/x")).call();
    let (st, v) = json_of(answer(r));
    assert_eq!(st, 401);
    assert_envelope(
        &v,
        "api.bulkupload.status",
        "CLIENT_ERROR",
        Some("UNAUTHORIZED"),
    );
}
