//! What both APIs share: the state, errors and their statuses, keys, the body bridge.

use std::collections::HashMap;
use std::io::Read;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use bulk_ingest::{Error, Ingestor, Timestamp};
use futures_util::StreamExt;
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

/// Everything a handler needs; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub ingestor: Ingestor,
    /// SHA-256 of each key (hex) → its tenant. The keys themselves are not kept.
    pub tenants: Arc<HashMap<String, String>>,
    /// `--max-rows`: the row limit of every job (the schema's own limit still applies).
    pub max_rows: Option<u64>,
    /// `--max-upload-bytes`: also bounds a multipart body.
    pub max_upload_bytes: u64,
}

impl AppState {
    /// The tenant of a presented key, if it is one of ours.
    pub fn tenant_of_key(&self, key: &str) -> Option<String> {
        if key.is_empty() {
            return None;
        }
        self.tenants.get(&sha256_hex(key.as_bytes())).cloned()
    }
}

/// The tenant string of a key: a hash, so the key never reaches the database or a log.
pub fn tenant_for_key(key: &str) -> String {
    let h = sha256_hex(key.as_bytes());
    format!("key-{}", &h[..32])
}

pub fn sha256_hex(b: &[u8]) -> String {
    hex(&Sha256::digest(b))
}

pub fn hex(b: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(b.len() * 2);
    for &x in b {
        s.push(DIGITS[(x >> 4) as usize] as char);
        s.push(DIGITS[(x & 15) as usize] as char);
    }
    s
}

/// Random bytes from the OS; if it has none, a hash of the time and a counter (never a panic).
pub fn random_bytes<const N: usize>() -> [u8; N] {
    static FALLBACK: AtomicU64 = AtomicU64::new(0);
    let mut out = [0u8; N];
    if getrandom::getrandom(&mut out).is_err() {
        let mut i = 0;
        while i < N {
            let n = FALLBACK.fetch_add(1, Ordering::Relaxed);
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0);
            let mut h = Sha256::new();
            h.update(nanos.to_le_bytes());
            h.update(n.to_le_bytes());
            h.update(std::process::id().to_le_bytes());
            for b in h.finalize() {
                if i < N {
                    out[i] = b;
                    i += 1;
                }
            }
        }
    }
    out
}

/// A random (version 4) UUID.
pub fn uuid4() -> String {
    let mut b = random_bytes::<16>();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex(&b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// The content seed's time format: `2019-07-26 11:28:42:315+0000` (UTC).
pub fn seed_ts(t: Timestamp) -> String {
    let (y, mo, d, h, mi, s, ms) = t.civil();
    format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}:{ms:03}+0000")
}

/// An error answer: status, stable code, message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }
    pub fn invalid(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, "INVALID_REQUEST", message)
    }
    pub fn unauthorized(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", message)
    }
    pub fn internal(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL_ERROR", message)
    }
}

/// The one place where a library error code becomes an HTTP status. Every code of
/// `bulk_ingest::ERROR_CODES` has its own arm (a test checks that none falls through); the
/// last arm is for codes a newer core may add.
pub fn status_for_code(code: &str) -> StatusCode {
    match code {
        "INVALID_REQUEST" => StatusCode::BAD_REQUEST,
        "UNAUTHORIZED" => StatusCode::UNAUTHORIZED,
        "UNSUPPORTED_MEDIA_TYPE" => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        // The POP seed: "400 Bad Request - Invalid request (e.g., file not found)".
        "FILE_NOT_FOUND" => StatusCode::BAD_REQUEST,
        "JOB_NOT_FOUND" => StatusCode::NOT_FOUND,
        "SCHEMA_NOT_FOUND" => StatusCode::BAD_REQUEST,
        "INVALID_SCHEMA" => StatusCode::BAD_REQUEST,
        // Signed URLs answer like a cloud store's: the signature is the authority.
        "UPLOAD_URL_EXPIRED" => StatusCode::FORBIDDEN,
        "INVALID_SIGNATURE" => StatusCode::FORBIDDEN,
        "UPLOAD_ALREADY_RECEIVED" => StatusCode::CONFLICT,
        "UPLOAD_NOT_RECEIVED" => StatusCode::BAD_REQUEST,
        "FILE_TOO_LARGE" => StatusCode::PAYLOAD_TOO_LARGE,
        "INVALID_FILE_FORMAT" => StatusCode::BAD_REQUEST,
        "CORRUPTED_FILE" => StatusCode::BAD_REQUEST,
        "INVALID_FILE_TEMPLATE" => StatusCode::BAD_REQUEST,
        "MAX_ROW_COUNT_EXCEEDED" => StatusCode::BAD_REQUEST,
        "ERROR_LIMIT_EXCEEDED" => StatusCode::BAD_REQUEST,
        "INVALID_STATE_TRANSITION" => StatusCode::CONFLICT,
        "STORAGE_ERROR" => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        let code = e.code();
        let status = status_for_code(code);
        let message = if status.is_server_error() {
            // Storage errors carry paths and driver text: log them, answer plainly.
            eprintln!("error: {code}: {e}");
            "the server could not complete the request; see its log".to_string()
        } else {
            e.to_string()
        };
        ApiError {
            status,
            code,
            message,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({"code": self.code, "message": self.message});
        (self.status, axum::Json(body)).into_response()
    }
}

/// Runs a blocking library call off the async threads.
pub async fn blocking<T, F>(f: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, Error> + Send + 'static,
{
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r.map_err(ApiError::from),
        Err(e) => Err(ApiError::internal(format!("a worker task failed: {e}"))),
    }
}

/// The media type of a header value, lower case, without parameters.
pub fn mime_of(headers: &HeaderMap) -> Option<String> {
    let v = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    Some(
        v.split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase(),
    )
}

/// What the async side hands the blocking reader.
pub enum Chunk {
    Data(Bytes),
    /// The body ended normally; without it, a closed channel is an error (a cut-off body must
    /// never be stored as a complete file).
    End,
    Failed(String),
}

/// A `std::io::Read` over chunks that an async task receives: the body streams to the library
/// through a small bounded channel and is never held whole in memory.
pub struct ChannelReader {
    rx: mpsc::Receiver<Chunk>,
    cur: Bytes,
    done: bool,
}

impl ChannelReader {
    pub fn new(rx: mpsc::Receiver<Chunk>) -> Self {
        ChannelReader {
            rx,
            cur: Bytes::new(),
            done: false,
        }
    }
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.cur.is_empty() {
            if self.done {
                return Ok(0);
            }
            match self.rx.blocking_recv() {
                Some(Chunk::Data(b)) => self.cur = b,
                Some(Chunk::End) => self.done = true,
                Some(Chunk::Failed(m)) => return Err(std::io::Error::other(m)),
                None => {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "the request body was cut off",
                    ))
                }
            }
        }
        let n = buf.len().min(self.cur.len());
        buf[..n].copy_from_slice(&self.cur[..n]);
        let _ = self.cur.split_to(n);
        Ok(n)
    }
}

/// Chunks in flight between the body and the library (each a few KiB to 64 KiB).
pub const CHANNEL_DEPTH: usize = 16;

/// Feeds a raw request body into `tx`. Returns `Err(message)` when the body could not be read
/// (the reader has been told); `Ok(())` also when the reader stopped listening early (the
/// library refused the upload: its answer says why).
/// How much of a refused request's body the server reads and drops before answering.
pub const DRAIN_LIMIT: usize = 16 << 20;

pub async fn pump_body(body: Body, tx: mpsc::Sender<Chunk>) -> Result<(), String> {
    let mut stream = body.into_data_stream();
    while let Some(item) = stream.next().await {
        match item {
            Ok(b) => {
                if b.is_empty() {
                    continue;
                }
                if tx.send(Chunk::Data(b)).await.is_err() {
                    // The library refused the upload: read the rest (bounded) so the client,
                    // still sending, gets the answer instead of a broken pipe.
                    let mut left = DRAIN_LIMIT;
                    while let Some(Ok(b)) = stream.next().await {
                        if b.len() >= left {
                            break;
                        }
                        left -= b.len();
                    }
                    return Ok(());
                }
            }
            Err(e) => {
                let m = format!("the request body could not be read: {e}");
                let _ = tx.send(Chunk::Failed(m.clone())).await;
                return Err(m);
            }
        }
    }
    let _ = tx.send(Chunk::End).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_library_code_has_its_own_status() {
        for code in bulk_ingest::ERROR_CODES {
            let s = status_for_code(code);
            assert!(
                s.is_client_error() || *code == "STORAGE_ERROR",
                "{code} -> {s}"
            );
        }
        assert_eq!(status_for_code("JOB_NOT_FOUND"), StatusCode::NOT_FOUND);
        assert_eq!(
            status_for_code("FILE_TOO_LARGE"),
            StatusCode::PAYLOAD_TOO_LARGE
        );
        assert_eq!(
            status_for_code("UPLOAD_ALREADY_RECEIVED"),
            StatusCode::CONFLICT
        );
        assert_eq!(
            status_for_code("SOMETHING_NEW"),
            StatusCode::INTERNAL_SERVER_ERROR
        );
    }

    #[test]
    fn seed_time_format() {
        // 2019-07-26 11:28:42.315 UTC
        assert_eq!(
            seed_ts(Timestamp(1_564_140_522_315)),
            "2019-07-26 11:28:42:315+0000"
        );
    }

    #[test]
    fn uuids_are_version_4() {
        let u = uuid4();
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        assert!(matches!(&u[19..20], "8" | "9" | "a" | "b"));
        assert_ne!(u, uuid4());
    }

    #[test]
    fn tenants_are_hashes_of_keys() {
        let t = tenant_for_key("secret-key");
        assert!(t.starts_with("key-") && t.len() == 36 && !t.contains("secret"));
        assert_eq!(t, tenant_for_key("secret-key"));
    }

    #[test]
    fn channel_reader_needs_an_end_marker() {
        let (tx, rx) = mpsc::channel(4);
        tx.try_send(Chunk::Data(Bytes::from_static(b"abc")))
            .unwrap();
        tx.try_send(Chunk::End).unwrap();
        let mut s = String::new();
        ChannelReader::new(rx).read_to_string(&mut s).unwrap();
        assert_eq!(s, "abc");

        let (tx, rx) = mpsc::channel(4);
        tx.try_send(Chunk::Data(Bytes::from_static(b"abc")))
            .unwrap();
        drop(tx);
        let mut s = String::new();
        assert!(ChannelReader::new(rx).read_to_string(&mut s).is_err());
    }
}
