//! An HTTP server for both seed APIs on the embedded SQLite default (axum on tokio; the library
//! itself stays synchronous: every call runs in `spawn_blocking`).
//!
//! ```text
//! cargo run --release --example server -- [--addr 127.0.0.1:8080] [--data-dir DIR]
//!     [--api-key KEY]... [--base-url URL] [--max-upload-bytes N] [--max-rows N]
//!     [--workers N] [--lease-seconds N] [--schemas DIR]
//!     [--state postgres://...] [--blobs s3://bucket/prefix]
//! ```
//!
//! With `--state` and `--blobs` the same program runs on many machines against one PostgreSQL
//! and one object store (`--workers 0`: an API-only node); upload URLs are then the store's own
//! presigned PUT URLs (docs/SCALING.md).
//!
//! - POP bulk ingestion (seed 000) under `/coatro/v1/pop/dynamic/bulk/...` with `X-API-Key`,
//!   the signed `PUT /uploads/{fileId}` and `GET /downloads/...`.
//! - Bulk content upload (seed 004): `POST /v1/bulkupload/content` (multipart `content`) and
//!   `GET /v1/bulkupload/status/{processId}` with `Authorization: Bearer KEY`.
//!
//! See `docs/server.md` for the flags and a curl walk-through.

#[path = "server/common.rs"]
mod common;
#[path = "server/content.rs"]
mod content;
#[path = "server/pop.rs"]
mod pop;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::Router;
use bulk_ingest::{Ingestor, IngestorOptions};

use common::{hex, random_bytes, sha256_hex, tenant_for_key, ApiError, AppState};

const USAGE: &str =
    "usage: server [--addr 127.0.0.1:8080] [--data-dir DIR] [--api-key KEY]... [--base-url URL] \
[--max-upload-bytes N] [--max-rows N] [--workers N] [--lease-seconds N] [--schemas DIR] \
[--state postgres://...] [--blobs s3://bucket/prefix]
API keys may also come from BULK_INGEST_API_KEYS (comma-separated). With --blobs, the object
store's endpoint, region and credentials come from AWS_ENDPOINT_URL, AWS_REGION,
AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.";

struct Args {
    addr: String,
    data_dir: PathBuf,
    api_keys: Vec<String>,
    base_url: Option<String>,
    max_upload_bytes: u64,
    max_rows: Option<u64>,
    workers: usize,
    lease_seconds: u64,
    schemas: PathBuf,
    /// Scale-out: PostgreSQL URL for state, object-store URL for blobs.
    state: Option<String>,
    blobs: Option<String>,
}

fn parse_args(args: impl Iterator<Item = String>) -> Result<Args, String> {
    let defaults = IngestorOptions::default();
    let mut a = Args {
        addr: "127.0.0.1:8080".into(),
        data_dir: PathBuf::from("bulk-ingest-data"),
        api_keys: Vec::new(),
        base_url: None,
        max_upload_bytes: defaults.max_upload_bytes,
        max_rows: None,
        workers: defaults.workers,
        lease_seconds: defaults.lease.as_secs().max(1),
        schemas: PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/schemas")),
        state: None,
        blobs: None,
    };
    fn number<T: std::str::FromStr>(name: &str, v: &str) -> Result<T, String> {
        v.parse::<T>()
            .map_err(|_| format!("{name}: '{v}' is not a valid number"))
    }
    let mut it = args;
    while let Some(flag) = it.next() {
        let (name, inline) = match flag.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n.to_string(), Some(v.to_string())),
            _ => (flag.clone(), None),
        };
        if name == "-h" || name == "--help" {
            return Err(String::new());
        }
        let mut value = || {
            inline
                .clone()
                .or_else(|| it.next())
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match name.as_str() {
            "--addr" => a.addr = value()?,
            "--data-dir" => a.data_dir = PathBuf::from(value()?),
            "--api-key" => {
                let k = value()?;
                if k.trim().is_empty() {
                    return Err("--api-key must not be empty".into());
                }
                a.api_keys.push(k.trim().to_string());
            }
            "--base-url" => a.base_url = Some(value()?.trim_end_matches('/').to_string()),
            "--max-upload-bytes" => a.max_upload_bytes = number(&name, &value()?)?,
            "--max-rows" => a.max_rows = Some(number(&name, &value()?)?),
            "--workers" => a.workers = number(&name, &value()?)?,
            "--lease-seconds" => {
                a.lease_seconds = number(&name, &value()?)?;
                if a.lease_seconds == 0 {
                    return Err("--lease-seconds must be at least 1".into());
                }
            }
            "--schemas" => a.schemas = PathBuf::from(value()?),
            "--state" => a.state = Some(value()?),
            "--blobs" => a.blobs = Some(value()?),
            other => return Err(format!("unknown option {other}")),
        }
    }
    if a.max_upload_bytes == 0 {
        return Err("--max-upload-bytes must be at least 1".into());
    }
    Ok(a)
}

/// One line per request on stderr: method, route pattern (or path, never the query), status,
/// milliseconds. Keys and signatures never appear.
async fn log_request(req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = req.method().clone();
    let route = match req.extensions().get::<MatchedPath>() {
        Some(p) => p.as_str().to_string(),
        None => req.uri().path().to_string(),
    };
    let resp = next.run(req).await;
    eprintln!(
        "{method} {route} {} {:.1}ms",
        resp.status().as_u16(),
        start.elapsed().as_secs_f64() * 1000.0
    );
    resp
}

async fn not_found(req: Request) -> Response {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
        format!("no route for {} {}", req.method(), req.uri().path()),
    )
    .into_response()
}

fn router(state: AppState) -> Router {
    let p = pop::PREFIX;
    let multipart_limit =
        usize::try_from(state.max_upload_bytes.saturating_add(1 << 20)).unwrap_or(usize::MAX);
    Router::new()
        .route(&format!("{p}/upload-url"), post(pop::upload_url))
        .route(&format!("{p}/ingest"), post(pop::ingest))
        .route(&format!("{p}/jobs/{{jobId}}"), get(pop::job))
        .route(&format!("{p}/jobs/{{jobId}}/report"), get(pop::report))
        .route(
            &format!("{p}/jobs/{{jobId}}/failed-rows"),
            get(pop::failed_rows),
        )
        .route(&format!("{p}/jobs/{{jobId}}/cancel"), post(pop::cancel))
        .route("/uploads/{fileId}", put(pop::put_upload))
        .route("/downloads/{jobId}/{kind}", get(pop::download))
        .route(
            "/v1/bulkupload/content",
            post(content::upload).layer(DefaultBodyLimit::max(multipart_limit)),
        )
        .route("/v1/bulkupload/status/{processId}", get(content::status))
        .fallback(not_found)
        .layer(middleware::from_fn(log_request))
        .with_state(state)
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    eprintln!(
        "shutting down: running jobs stop after their current commit and resume on the next start"
    );
}

fn open_ingestor(args: &Args, base_url: String) -> Result<Ingestor, String> {
    let opts = IngestorOptions {
        base_url,
        workers: args.workers,
        max_upload_bytes: args.max_upload_bytes,
        lease: Duration::from_secs(args.lease_seconds),
        state: args.state.clone(),
        blobs: args.blobs.clone(),
        ..IngestorOptions::default()
    };
    let ing = Ingestor::open(&args.data_dir, opts).map_err(|e| {
        if args.state.is_some() || args.blobs.is_some() {
            format!("cannot open the storage given by --state / --blobs: {e}")
        } else {
            format!(
                "cannot open the data directory {}: {e}",
                args.data_dir.display()
            )
        }
    })?;
    for (dataset, version, file) in [
        (pop::DATASET, "1.0", "pop-1.0.json"),
        (
            content::DATASET,
            content::SCHEMA_VERSION,
            "content-1.0.json",
        ),
    ] {
        let path = args.schemas.join(file);
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("cannot read schema {}: {e}", path.display()))?;
        ing.register_schema(dataset, version, &text).map_err(|e| {
            format!(
                "schema {} ({dataset} {version}): {} {e}",
                path.display(),
                e.code()
            )
        })?;
    }
    Ok(ing)
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(m) => {
            if m.is_empty() {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            eprintln!("error: {m}\n{USAGE}");
            return ExitCode::from(2);
        }
    };

    let mut keys = args.api_keys.clone();
    if let Ok(env_keys) = std::env::var("BULK_INGEST_API_KEYS") {
        keys.extend(
            env_keys
                .split(',')
                .map(str::trim)
                .filter(|k| !k.is_empty())
                .map(str::to_string),
        );
    }
    if keys.is_empty() {
        let key = hex(&random_bytes::<16>());
        println!("no API key given (--api-key or BULK_INGEST_API_KEYS): generated one for this run: {key}");
        keys.push(key);
    }
    let tenants: HashMap<String, String> = keys
        .iter()
        .map(|k| (sha256_hex(k.as_bytes()), tenant_for_key(k)))
        .collect();

    let listener = match tokio::net::TcpListener::bind(&args.addr).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: cannot listen on {}: {e}", args.addr);
            return ExitCode::FAILURE;
        }
    };
    let local: SocketAddr = match listener.local_addr() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: no local address: {e}");
            return ExitCode::FAILURE;
        }
    };
    let base_url = args
        .base_url
        .clone()
        .unwrap_or_else(|| format!("http://{local}"));
    let max_rows = args.max_rows;
    let max_upload_bytes = args.max_upload_bytes;
    let opened = tokio::task::spawn_blocking(move || open_ingestor(&args, base_url)).await;
    let ingestor = match opened {
        Ok(Ok(i)) => i,
        Ok(Err(m)) => {
            eprintln!("error: {m}");
            return ExitCode::FAILURE;
        }
        Err(e) => {
            eprintln!("error: startup failed: {e}");
            return ExitCode::FAILURE;
        }
    };
    let state = AppState {
        ingestor: ingestor.clone(),
        tenants: Arc::new(tenants),
        max_rows,
        max_upload_bytes,
    };
    println!("listening on http://{local}");
    let served = axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown_signal())
        .await;
    // Dropping the last handle joins the workers: do that off the async threads.
    let _ = tokio::task::spawn_blocking(move || drop(ingestor)).await;
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: server: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(v: &[&str]) -> Result<Args, String> {
        parse_args(v.iter().map(|s| s.to_string()))
    }

    #[test]
    fn flags_parse() {
        let a = parse(&[
            "--addr",
            "127.0.0.1:0",
            "--api-key=k1",
            "--api-key",
            "k2",
            "--workers",
            "3",
            "--lease-seconds",
            "2",
        ])
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(a.addr, "127.0.0.1:0");
        assert_eq!(a.api_keys, ["k1", "k2"]);
        assert_eq!(a.workers, 3);
        assert_eq!(a.lease_seconds, 2);
        assert!(a.schemas.join("pop-1.0.json").exists());
        assert!(parse(&["--workers", "x"]).is_err());
        assert!(parse(&["--lease-seconds", "0"]).is_err());
        assert!(parse(&["--bogus"]).is_err());
        assert!(parse(&["--addr"]).is_err());
    }
}
