//! Blobs in an S3-compatible object store (AWS S3, MinIO, Ceph, s3s-fs ...) through the
//! `object_store` crate (feature `s3`).
//!
//! The API stays synchronous: the store owns a private tokio runtime (one worker thread, so the
//! HTTP client's connection tasks keep running between calls) and blocks on it. Do not call it
//! from inside another tokio runtime's async task (use `spawn_blocking`).
//!
//! - `put` streams the body: up to one part (8 MiB) goes up in a single PUT carrying the body's
//!   SHA-256 as `x-amz-meta-sha256`; a larger body goes up as a multipart upload, part by part,
//!   never whole in memory. Over the limit or a broken body aborts: nothing is left behind, and
//!   an object already under the key stays as it was.
//! - `open` is a ranged GET from the offset on, streamed, pinned to the object's ETag
//!   (`If-Match`): a later overwrite is a clear error, never a mix of two files.
//! - `presign_put` / `presign_get` are the store's own SigV4 presigned URLs; the upload's
//!   content type is folded into the signature.

use std::io::{self, Read};
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path;
use object_store::signer::{HeaderValue, Method, SignedUrlOptions, Signer};
use object_store::{
    Attribute, AttributeValue, Attributes, ClientOptions, GetOptions, GetRange, ObjectStore,
    ObjectStoreExt, PutMultipartOptions, PutOptions, PutPayload,
};
use sha2::{Digest, Sha256};

use super::memory::hex;
use super::{BlobInfo, BlobStore, S3Options};
use crate::error::{Error, Result};

/// Bytes per part of a multipart upload (S3's minimum part is 5 MiB).
const PART: usize = 8 << 20;
/// How long a read may stall before it is retried (object_store resumes it from where it was,
/// pinned to the same ETag).
const READ_STALL: Duration = Duration::from_secs(120);
/// The user metadata key holding the body's SHA-256.
const SHA_META: &str = "sha256";

/// Blobs as objects under `s3://bucket/prefix/`.
pub struct S3BlobStore {
    store: Arc<AmazonS3>,
    prefix: String,
    url: String,
    rt: Arc<tokio::runtime::Runtime>,
}

impl std::fmt::Debug for S3BlobStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3BlobStore")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

/// Maps an object-store error to the library's, saying which operation failed.
fn os_err(op: impl std::fmt::Display) -> impl FnOnce(object_store::Error) -> Error {
    move |e| {
        match e {
        object_store::Error::NotFound { path, .. } => Error::FileNotFound(path),
        object_store::Error::Precondition { .. } => Error::CorruptedFile(format!(
            "{op}: the object was overwritten after the job started (its ETag changed); upload the file again under a new file id"
        )),
        e => Error::storage(format!("object store: {op}: {e}")),
    }
    }
}

/// Parses `s3://bucket/prefix` into the bucket and the prefix (no slashes at either end).
fn parse_url(url: &str) -> Result<(String, String)> {
    let rest = url.strip_prefix("s3://").ok_or_else(|| {
        Error::storage(format!(
            "blob URL '{url}' is not an object-store URL (s3://bucket/prefix)"
        ))
    })?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    let valid_bucket = (3..=63).contains(&bucket.len())
        && bucket
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
    if !valid_bucket {
        return Err(Error::storage(format!(
            "blob URL '{url}': '{bucket}' is not a valid bucket name (3 to 63 of a-z, 0-9, '-', '.')"
        )));
    }
    if prefix.contains('?') || prefix.contains('#') || prefix.contains("//") {
        return Err(Error::storage(format!(
            "blob URL '{url}': the prefix must be a plain path (no '?', '#' or empty segments)"
        )));
    }
    Ok((bucket.to_string(), prefix.trim_matches('/').to_string()))
}

/// Reads until `buf` is full or the body ends; returns the bytes read.
fn fill(body: &mut dyn Read, buf: &mut [u8]) -> Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match body.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::storage(format!("reading the upload body: {e}"))),
        }
    }
    Ok(n)
}

impl S3BlobStore {
    /// Opens the store at `url` (`s3://bucket/prefix`) and checks that the bucket answers with
    /// these credentials: a URL the library cannot use is a `STORAGE_ERROR` here, naming what
    /// is wrong.
    pub fn open(url: &str, opts: &S3Options) -> Result<Self> {
        let (bucket, prefix) = parse_url(url)?;
        // A job reads its object for as long as the job runs: no limit on a whole request
        // (object_store's default is 30 s, after which a long read would fail), only on a
        // stalled one.
        let env_http =
            std::env::var("AWS_ALLOW_HTTP").is_ok_and(|v| v.eq_ignore_ascii_case("true"));
        let client = ClientOptions::new()
            .with_timeout_disabled()
            .with_connect_timeout(Duration::from_secs(10))
            .with_read_timeout(READ_STALL)
            .with_allow_http(env_http);
        let mut b = AmazonS3Builder::from_env()
            .with_client_options(client)
            .with_bucket_name(&bucket);
        let endpoint = opts
            .endpoint
            .clone()
            .or_else(|| std::env::var("AWS_ENDPOINT_URL").ok())
            .or_else(|| std::env::var("AWS_ENDPOINT").ok())
            .filter(|e| !e.is_empty());
        if let Some(ep) = &endpoint {
            if !(ep.starts_with("http://") || ep.starts_with("https://")) {
                return Err(Error::storage(format!(
                    "object-store endpoint '{ep}' must start with http:// or https://"
                )));
            }
            b = b.with_endpoint(ep).with_virtual_hosted_style_request(false);
            if ep.starts_with("http://") && opts.allow_http != Some(false) {
                b = b.with_allow_http(true);
            }
        }
        if let Some(v) = opts.allow_http {
            b = b.with_allow_http(v);
        }
        if let Some(r) = &opts.region {
            b = b.with_region(r);
        } else if std::env::var("AWS_REGION").is_err()
            && std::env::var("AWS_DEFAULT_REGION").is_err()
        {
            b = b.with_region("us-east-1");
        }
        if let Some(k) = &opts.access_key_id {
            b = b.with_access_key_id(k);
        }
        if let Some(k) = &opts.secret_access_key {
            b = b.with_secret_access_key(k);
        }
        let store = b
            .build()
            .map_err(|e| Error::storage(format!("object store {url}: {e}")))?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("bulk-ingest-s3")
            .enable_all()
            .build()
            .map_err(|e| Error::storage(format!("object store: cannot start its runtime: {e}")))?;
        let s = S3BlobStore {
            store: Arc::new(store),
            prefix,
            url: url.to_string(),
            rt: Arc::new(rt),
        };
        // A listing of the prefix: fails for a missing bucket, bad credentials or no server.
        let probe = (!s.prefix.is_empty()).then(|| Path::from(s.prefix.as_str()));
        s.rt.block_on(s.store.list_with_delimiter(probe.as_ref()))
            .map_err(|e| {
                Error::storage(format!(
                    "object store {url} cannot be used (endpoint {}): {e}",
                    endpoint.as_deref().unwrap_or("AWS S3")
                ))
            })?;
        Ok(s)
    }

    fn path(&self, key: &str) -> Result<Path> {
        let bad = |why: &str| Error::invalid(format!("blob key '{key}' is not valid: {why}"));
        if key.is_empty() || key.starts_with('/') || key.ends_with('/') {
            return Err(bad("it is empty or starts or ends with '/'"));
        }
        if key
            .split('/')
            .any(|p| p.is_empty() || p == "." || p == "..")
        {
            return Err(bad("it has an empty, '.' or '..' segment"));
        }
        let full = if self.prefix.is_empty() {
            key.to_string()
        } else {
            format!("{}/{key}", self.prefix)
        };
        Path::parse(&full).map_err(|e| bad(&e.to_string()))
    }

    /// Size, ETag and (when it was stored with the object) SHA-256 of `key`.
    fn head_full(&self, key: &str) -> Result<Option<(u64, Option<String>, Option<String>)>> {
        let path = self.path(key)?;
        let opts = GetOptions {
            head: true,
            ..Default::default()
        };
        match self.rt.block_on(self.store.get_opts(&path, opts)) {
            Ok(r) => {
                let sha = r
                    .attributes
                    .get(&Attribute::Metadata(SHA_META.into()))
                    .map(|v| v.as_ref().to_string())
                    .filter(|s| s.len() == 64);
                Ok(Some((r.meta.size, r.meta.e_tag, sha)))
            }
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(os_err(format!("reading the facts of {key}"))(e)),
        }
    }

    fn reader(&self, key: &str, offset: u64, etag: Option<&str>) -> Result<Box<dyn Read + Send>> {
        let path = self.path(key)?;
        let Some((size, current, _)) = self.head_full(key)? else {
            return Err(Error::FileNotFound(key.to_string()));
        };
        if let (Some(want), Some(have)) = (etag, current.as_deref()) {
            if want != have {
                return Err(os_err(format!("reading {key}"))(
                    object_store::Error::Precondition {
                        path: key.to_string(),
                        source: format!("ETag {have}, expected {want}").into(),
                    },
                ));
            }
        }
        if offset >= size {
            return Ok(Box::new(io::empty()));
        }
        let opts = GetOptions {
            range: (offset > 0).then_some(GetRange::Offset(offset)),
            // The version read is the one just looked at, or the one the caller pinned.
            if_match: etag.map(str::to_string).or(current),
            ..Default::default()
        };
        let r = self
            .rt
            .block_on(self.store.get_opts(&path, opts))
            .map_err(os_err(format!("reading {key}")))?;
        Ok(Box::new(StreamReader {
            rt: Arc::clone(&self.rt),
            stream: r.into_stream(),
            buf: None,
            pos: 0,
        }))
    }

    fn abort(&self, upload: &mut Box<dyn object_store::MultipartUpload>) {
        let _ = self.rt.block_on(upload.abort());
    }
}

/// A GET's body as a `Read`, pulled from the stream one piece at a time.
struct StreamReader<S, B> {
    rt: Arc<tokio::runtime::Runtime>,
    stream: S,
    buf: Option<B>,
    pos: usize,
}

impl<S, B> Read for StreamReader<S, B>
where
    S: futures_util::Stream<Item = object_store::Result<B>> + Unpin,
    B: AsRef<[u8]>,
{
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        loop {
            if let Some(b) = &self.buf {
                let b = b.as_ref();
                if self.pos < b.len() {
                    let n = out.len().min(b.len() - self.pos);
                    out[..n].copy_from_slice(&b[self.pos..self.pos + n]);
                    self.pos += n;
                    return Ok(n);
                }
            }
            match self.rt.block_on(self.stream.next()) {
                None => return Ok(0),
                Some(Ok(b)) => {
                    self.buf = Some(b);
                    self.pos = 0;
                }
                Some(Err(e)) => {
                    return Err(io::Error::other(format!("object store: reading: {e}")));
                }
            }
        }
    }
}

impl BlobStore for S3BlobStore {
    fn put(&self, key: &str, body: &mut dyn Read, limit: Option<u64>) -> Result<BlobInfo> {
        let path = self.path(key)?;
        let mut hasher = Sha256::new();
        let mut size: u64 = 0;
        let mut buf = vec![0u8; PART];
        let mut upload: Option<Box<dyn object_store::MultipartUpload>> = None;
        loop {
            let n = match fill(body, &mut buf) {
                Ok(n) => n,
                Err(e) => {
                    if let Some(u) = upload.as_mut() {
                        self.abort(u);
                    }
                    return Err(e);
                }
            };
            size += n as u64;
            if let Some(l) = limit.filter(|&l| size > l) {
                if let Some(u) = upload.as_mut() {
                    self.abort(u);
                }
                return Err(Error::FileTooLarge { limit: l });
            }
            hasher.update(&buf[..n]);
            let last = n < PART;
            if last && upload.is_none() {
                // The whole body fits one part: one PUT, with its hash.
                let sha = hex(&hasher.finalize());
                let mut attributes = Attributes::new();
                attributes.insert(
                    Attribute::Metadata(SHA_META.into()),
                    AttributeValue::from(sha.clone()),
                );
                let opts = PutOptions {
                    attributes,
                    ..Default::default()
                };
                buf.truncate(n);
                let r = self
                    .rt
                    .block_on(self.store.put_opts(&path, PutPayload::from(buf), opts))
                    .map_err(os_err(format!("storing {key}")))?;
                return Ok(BlobInfo {
                    size,
                    sha256: sha,
                    etag: r.e_tag,
                });
            }
            let u = match &mut upload {
                Some(u) => u,
                slot @ None => slot.insert(
                    self.rt
                        .block_on(
                            self.store
                                .put_multipart_opts(&path, PutMultipartOptions::default()),
                        )
                        .map_err(os_err(format!("starting the upload of {key}")))?,
                ),
            };
            if n > 0 {
                let part = PutPayload::from(buf[..n].to_vec());
                if let Err(e) = self.rt.block_on(u.put_part(part)) {
                    self.abort(u);
                    return Err(os_err(format!("storing a part of {key}"))(e));
                }
            }
            if last {
                let r = match self.rt.block_on(u.complete()) {
                    Ok(r) => r,
                    Err(e) => {
                        self.abort(u);
                        return Err(os_err(format!("completing the upload of {key}"))(e));
                    }
                };
                return Ok(BlobInfo {
                    size,
                    sha256: hex(&hasher.finalize()),
                    etag: r.e_tag,
                });
            }
        }
    }

    fn open(&self, key: &str, offset: u64) -> Result<Box<dyn Read + Send>> {
        self.reader(key, offset, None)
    }

    fn presigns_uploads(&self) -> bool {
        true
    }

    fn open_version(
        &self,
        key: &str,
        offset: u64,
        etag: Option<&str>,
    ) -> Result<Box<dyn Read + Send>> {
        self.reader(key, offset, etag)
    }

    fn stat(&self, key: &str) -> Result<Option<BlobInfo>> {
        let Some((size, etag, sha)) = self.head_full(key)? else {
            return Ok(None);
        };
        let sha256 = match sha {
            Some(s) => s,
            None => {
                // Uploaded by a client (presigned PUT) or in parts: hash the stored bytes.
                let mut r = self.reader(key, 0, etag.as_deref())?;
                let mut h = Sha256::new();
                let mut buf = vec![0u8; 1 << 16];
                loop {
                    let n = r
                        .read(&mut buf)
                        .map_err(|e| Error::storage(format!("hashing {key}: {e}")))?;
                    if n == 0 {
                        break;
                    }
                    h.update(&buf[..n]);
                }
                hex(&h.finalize())
            }
        };
        Ok(Some(BlobInfo { size, sha256, etag }))
    }

    fn head(&self, key: &str) -> Result<Option<(u64, Option<String>)>> {
        Ok(self.head_full(key)?.map(|(size, etag, _)| (size, etag)))
    }

    fn delete(&self, key: &str) -> Result<()> {
        let path = self.path(key)?;
        match self.rt.block_on(self.store.delete(&path)) {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(os_err(format!("deleting {key}"))(e)),
        }
    }

    fn presign_put(
        &self,
        key: &str,
        content_type: &str,
        expires: Duration,
    ) -> Result<Option<String>> {
        let path = self.path(key)?;
        let ct = HeaderValue::from_str(content_type)
            .map_err(|_| Error::invalid(format!("content type '{content_type}' is not valid")))?;
        let opts = SignedUrlOptions::default().with_signed_header(http_content_type(), ct);
        let url = self
            .rt
            .block_on(
                self.store
                    .signed_url_opts(Method::PUT, &path, expires, &opts),
            )
            .map_err(os_err(format!("presigning an upload URL for {key}")))?;
        Ok(Some(url.to_string()))
    }

    fn presign_download(
        &self,
        key: &str,
        expires: Duration,
        content_type: &str,
        file_name: &str,
    ) -> Result<Option<String>> {
        let path = self.path(key)?;
        let safe: String = file_name
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || "._-".contains(*c))
            .collect();
        let opts = SignedUrlOptions::default().with_query([
            ("response-content-type", content_type.to_string()),
            (
                "response-content-disposition",
                format!("attachment; filename=\"{safe}\""),
            ),
        ]);
        let url = self
            .rt
            .block_on(
                self.store
                    .signed_url_opts(Method::GET, &path, expires, &opts),
            )
            .map_err(os_err(format!("presigning a download URL for {key}")))?;
        Ok(Some(url.to_string()))
    }

    fn presign_get(&self, key: &str, expires: Duration) -> Result<Option<String>> {
        let path = self.path(key)?;
        let url = self
            .rt
            .block_on(self.store.signed_url(Method::GET, &path, expires))
            .map_err(os_err(format!("presigning a download URL for {key}")))?;
        Ok(Some(url.to_string()))
    }
}

fn http_content_type() -> object_store::signer::HeaderName {
    object_store::signer::HeaderName::from_static("content-type")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked_at_open() {
        assert_eq!(
            parse_url("s3://my-bucket/a/b/").unwrap(),
            ("my-bucket".to_string(), "a/b".to_string())
        );
        assert_eq!(
            parse_url("s3://my-bucket").unwrap(),
            ("my-bucket".to_string(), String::new())
        );
        for (bad, says) in [
            ("http://bucket/x", "not an object-store URL"),
            ("s3://", "not a valid bucket name"),
            ("s3://Bad_Bucket/x", "not a valid bucket name"),
            ("s3://bucket/a//b", "plain path"),
        ] {
            let e = S3BlobStore::open(bad, &S3Options::default()).unwrap_err();
            assert_eq!(e.code(), "STORAGE_ERROR", "{bad}");
            assert!(e.to_string().contains(says), "{bad}: {e}");
        }
        let e = S3BlobStore::open(
            "s3://bucket/x",
            &S3Options {
                endpoint: Some("ftp://x".into()),
                ..Default::default()
            },
        )
        .unwrap_err();
        assert!(e.to_string().contains("http:// or https://"), "{e}");
    }

    #[test]
    fn no_server_is_a_storage_error_at_open() {
        let e = S3BlobStore::open(
            "s3://bucket/x",
            &S3Options {
                endpoint: Some("http://127.0.0.1:1".into()),
                access_key_id: Some("k".into()),
                secret_access_key: Some("s".into()),
                region: Some("us-east-1".into()),
                allow_http: Some(true),
            },
        )
        .unwrap_err();
        assert_eq!(e.code(), "STORAGE_ERROR");
        assert!(e.to_string().contains("cannot be used"), "{e}");
    }

    /// The store under a fresh prefix (None when the service is not configured outside CI).
    fn fresh() -> Option<S3BlobStore> {
        let url = crate::storage::conformance::tests::service_env("BULK_INGEST_TEST_S3")?;
        let url = crate::storage::conformance::tests::fresh_s3_url(&url, "s3");
        Some(S3BlobStore::open(&url, &S3Options::default()).unwrap())
    }

    fn put_url(url: &str, content_type: &str, body: &[u8]) -> std::result::Result<u16, u16> {
        match ureq::put(url)
            .set("Content-Type", content_type)
            .send_bytes(body)
        {
            Ok(r) => Ok(r.status()),
            Err(ureq::Error::Status(code, _)) => Err(code),
            Err(e) => panic!("PUT {url}: {e}"),
        }
    }

    #[test]
    fn presigned_put_is_checked_by_the_store() {
        let Some(s) = fresh() else { return };
        let ct = "application/x-ndjson";
        let url = s
            .presign_put("uploads/a", ct, Duration::from_secs(600))
            .unwrap()
            .expect("an object store presigns");
        assert!(url.contains("X-Amz-Signature="), "{url}");
        assert!(
            url.contains("content-type"),
            "the content type is signed: {url}"
        );

        // Another content type than the one signed: refused, nothing stored.
        assert_eq!(put_url(&url, "text/csv", b"{}"), Err(403));
        assert_eq!(s.stat("uploads/a").unwrap(), None);
        // A forged signature: refused.
        let sig_at = url.find("X-Amz-Signature=").unwrap() + "X-Amz-Signature=".len();
        let mut forged = url.clone();
        let c = if &url[sig_at..sig_at + 1] == "0" {
            "1"
        } else {
            "0"
        };
        forged.replace_range(sig_at..sig_at + 1, c);
        assert_eq!(put_url(&forged, ct, b"{}"), Err(403));
        // Another key under the same signature: refused.
        let other = url.replacen("uploads/a", "uploads/b", 1);
        assert_eq!(put_url(&other, ct, b"{}"), Err(403));
        assert_eq!(s.stat("uploads/b").unwrap(), None);

        // As issued: stored; stat hashes what the client sent.
        let body = b"{\"id\":1}\n{\"id\":2}\n";
        assert_eq!(put_url(&url, ct, body), Ok(200));
        let info = s.stat("uploads/a").unwrap().expect("stored");
        assert_eq!(info.size, body.len() as u64);
        assert_eq!(info.sha256, hex(&Sha256::digest(body)));
        assert!(info.etag.is_some());
        assert_eq!(
            s.head("uploads/a").unwrap(),
            Some((info.size, info.etag.clone()))
        );

        // Expired: refused.
        let short = s
            .presign_put("uploads/c", ct, Duration::from_secs(1))
            .unwrap()
            .unwrap();
        std::thread::sleep(Duration::from_millis(2100));
        assert_eq!(put_url(&short, ct, b"{}"), Err(403));
        assert_eq!(s.stat("uploads/c").unwrap(), None);

        // A presigned GET serves the object.
        let get = s
            .presign_get("uploads/a", Duration::from_secs(60))
            .unwrap()
            .unwrap();
        let mut got = Vec::new();
        ureq::get(&get)
            .call()
            .unwrap()
            .into_reader()
            .read_to_end(&mut got)
            .unwrap();
        assert_eq!(got, body);
    }

    #[test]
    fn a_read_is_pinned_to_the_version_recorded() {
        let Some(s) = fresh() else { return };
        let first = s.put("f", &mut &b"first version"[..], None).unwrap();
        let etag = first.etag.clone().expect("object stores tag versions");
        let mut out = String::new();
        s.open_version("f", 6, Some(&etag))
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        assert_eq!(out, "version");
        s.put("f", &mut &b"other bytes!!"[..], None).unwrap();
        let e = s.open_version("f", 0, Some(&etag)).err().expect("refused");
        assert_eq!(e.code(), "CORRUPTED_FILE");
        assert!(e.to_string().contains("overwritten"), "{e}");
    }

    #[test]
    fn large_bodies_go_up_in_parts_with_limits_kept() {
        let Some(s) = fresh() else { return };
        let data: Vec<u8> = (0..(PART * 2 + 12_345)).map(|i| (i % 251) as u8).collect();
        let info = s.put("big", &mut data.as_slice(), None).unwrap();
        assert_eq!(info.size, data.len() as u64);
        assert_eq!(info.sha256, hex(&Sha256::digest(&data)));
        // Stored in parts: no hash stored with it, stat hashes the bytes.
        assert_eq!(s.stat("big").unwrap().unwrap().sha256, info.sha256);
        let mut tail = Vec::new();
        s.open("big", PART as u64 + 7)
            .unwrap()
            .read_to_end(&mut tail)
            .unwrap();
        assert_eq!(tail, &data[PART + 7..]);
        // Over the limit after the first part went up: aborted, the stored object stays.
        let limit = PART as u64 + 10;
        let e = s
            .put("big", &mut vec![1u8; PART * 2].as_slice(), Some(limit))
            .unwrap_err();
        assert_eq!(e.code(), "FILE_TOO_LARGE");
        assert_eq!(s.stat("big").unwrap().unwrap().sha256, info.sha256);
    }
}
