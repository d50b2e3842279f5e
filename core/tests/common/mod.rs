#![allow(dead_code)]

use std::path::PathBuf;
use std::time::Duration;

use bulk_ingest::{Format, IngestRequest, Ingestor, IngestorOptions, JobStatus, UploadRequest};

pub const POP_SCHEMA: &str = include_str!("../../../examples/schemas/pop-1.0.json");
pub const CONTENT_SCHEMA: &str = include_str!("../../../examples/schemas/content-1.0.json");

pub fn testdata(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../testdata")
        .join(name)
}

/// A fresh, empty directory under the system temp dir.
pub fn temp_dir(tag: &str) -> PathBuf {
    let mut r = [0u8; 8];
    getrandom_fill(&mut r);
    let name: String = r.iter().map(|b| format!("{b:02x}")).collect();
    let d = std::env::temp_dir().join(format!("bulk-ingest-{tag}-{name}"));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn getrandom_fill(b: &mut [u8]) {
    use std::time::{SystemTime, UNIX_EPOCH};
    let mut x = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        ^ (std::process::id() as u64) << 32;
    for v in b.iter_mut() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *v = x as u8;
    }
}

pub fn opts(workers: usize) -> IngestorOptions {
    IngestorOptions {
        secret: Some(b"test-secret".to_vec()),
        base_url: "http://127.0.0.1:9/bulk".into(),
        workers,
        poll_interval: Duration::from_millis(20),
        ..Default::default()
    }
}

/// A deterministic UUID for row `i` of file `f`.
pub fn uuid(f: u64, i: u64) -> String {
    format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        f as u32,
        (i >> 32) as u16,
        (i >> 20) & 0xfff,
        (i >> 8) & 0xfff,
        i
    )
}

/// A valid POP event as an NDJSON line.
pub fn pop_line(f: u64, i: u64) -> String {
    format!(
        r#"{{"eventId":"{}","screenId":"SCR-{:06}","creativeId":"cr-{}","campaignId":"camp-{}","playedAt":"2025-12-09T10:{:02}:{:02}Z","durationMs":{},"impressions":{},"venueType":"retail","playStatus":"completed"}}"#,
        uuid(f, i),
        i % 1_000_000,
        i % 97,
        i % 13,
        (i / 60) % 60,
        i % 60,
        1 + i % 3_600_000,
        i % 7
    )
}

/// An NDJSON file of `rows` POP events where every row whose index is a multiple of
/// `bad_every` has durationMs 0 (MINIMUM). Returns the bytes and how many rows are invalid.
pub fn pop_ndjson(f: u64, rows: u64, bad_every: u64) -> (Vec<u8>, u64) {
    let mut out = String::new();
    let mut bad = 0;
    for i in 1..=rows {
        let mut l = pop_line(f, i);
        if bad_every > 0 && i % bad_every == 0 {
            l = l.replace(
                &format!("\"durationMs\":{}", 1 + i % 3_600_000),
                "\"durationMs\":0",
            );
            bad += 1;
        }
        out.push_str(&l);
        out.push('\n');
    }
    (out.into_bytes(), bad)
}

/// Creates an upload, PUTs `body` to it and returns the file id.
pub fn upload(ing: &Ingestor, format: Format, body: &[u8], tenant: Option<&str>) -> String {
    let t = ing
        .create_upload(&UploadRequest {
            file_name: format!("data.{}", format.as_str()),
            format: Some(format),
            expires_in_seconds: None,
            tenant: tenant.map(str::to_string),
        })
        .unwrap();
    ing.receive_upload(&t.upload_url, &t.content_type, &mut &body[..])
        .unwrap();
    t.file_id
}

pub fn ingest(ing: &Ingestor, file_id: &str, dataset: &str) -> JobStatus {
    ing.start_ingest(&IngestRequest {
        file_id: file_id.into(),
        dataset: dataset.into(),
        schema_version: "1.0".into(),
        ..Default::default()
    })
    .unwrap()
}
