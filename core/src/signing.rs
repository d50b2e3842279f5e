//! HMAC-SHA256 signed URLs for uploads and downloads, and unguessable ids.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::error::{Error, Result};
use crate::model::Timestamp;
use crate::storage::hex;

type HmacSha256 = Hmac<Sha256>;

/// Signs and checks URLs with the host's secret.
#[derive(Clone)]
pub(crate) struct Signer {
    key: Vec<u8>,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Signer(<secret>)")
    }
}

/// What a signed URL grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SignedRequest {
    /// `upload` or `download`.
    pub action: String,
    /// File id (uploads) or `job_id/kind.format` (downloads).
    pub resource: String,
    pub expires: i64,
    /// Content type folded into the signature (uploads), or the empty string.
    pub content_type: String,
}

impl Signer {
    pub fn new(secret: &[u8]) -> Self {
        Signer {
            key: secret.to_vec(),
        }
    }

    fn mac(&self, req: &SignedRequest) -> HmacSha256 {
        // new_from_slice accepts keys of any length for HMAC.
        let mut mac = HmacSha256::new_from_slice(&self.key).unwrap_or_else(|_| unreachable_hmac());
        mac.update(req.action.as_bytes());
        mac.update(b"\n");
        mac.update(req.resource.as_bytes());
        mac.update(b"\n");
        mac.update(req.expires.to_string().as_bytes());
        mac.update(b"\n");
        mac.update(req.content_type.as_bytes());
        mac
    }

    pub fn sign(&self, req: &SignedRequest) -> String {
        hex(&self.mac(req).finalize().into_bytes())
    }

    /// Checks the signature (constant time), then the expiry.
    pub fn verify(&self, req: &SignedRequest, sig_hex: &str, now: Timestamp) -> Result<()> {
        let sig = unhex(sig_hex).ok_or_else(bad_signature)?;
        self.mac(req)
            .verify_slice(&sig)
            .map_err(|_| bad_signature())?;
        if now.unix_seconds() > req.expires {
            return Err(Error::UploadUrlExpired(format!(
                "this URL expired at {}; request a new one",
                Timestamp(req.expires * 1000)
            )));
        }
        Ok(())
    }
}

#[cold]
fn unreachable_hmac() -> HmacSha256 {
    // HMAC takes keys of any length; keep a defined value rather than a panic.
    HmacSha256::new_from_slice(b"bulk-ingest").expect("HMAC accepts any key length")
}

fn bad_signature() -> Error {
    Error::InvalidSignature(
        "the URL's signature does not match: use the URL exactly as it was issued".into(),
    )
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || s.len() > 256 {
        return None;
    }
    let v = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    };
    s.as_bytes()
        .chunks(2)
        .map(|p| Some(v(p[0])? << 4 | v(p[1])?))
        .collect()
}

/// A new id `prefix-YYYYMMDD-<24 hex digits>`: 96 random bits from the OS.
pub(crate) fn new_id(prefix: &str, now: Timestamp) -> Result<String> {
    let mut bytes = [0u8; 12];
    getrandom::getrandom(&mut bytes)
        .map_err(|e| Error::storage(format!("no randomness for ids: {e}")))?;
    Ok(format!("{prefix}-{}-{}", now.yyyymmdd(), hex(&bytes)))
}

/// Percent-encodes a query value (RFC 3986 unreserved characters kept).
pub(crate) fn pct_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Decodes a percent-encoded query value (`+` is a space); `None` when malformed.
pub(crate) fn pct_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let h = b.get(i + 1..i + 3)?;
                out.push(unhex(std::str::from_utf8(h).ok()?)?[0]);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// A parsed `path?query` of a URL (scheme and host, if any, dropped).
pub(crate) struct ParsedUrl {
    pub path: String,
    pub query: Vec<(String, String)>,
}

impl ParsedUrl {
    pub fn parse(url: &str) -> Result<Self> {
        let rest = match url.find("://") {
            Some(i) => {
                let after = &url[i + 3..];
                after.find('/').map(|j| &after[j..]).unwrap_or("/")
            }
            None => url,
        };
        let rest = rest.split('#').next().unwrap_or("");
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        let mut pairs = Vec::new();
        for kv in query.split('&').filter(|s| !s.is_empty()) {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            let (Some(k), Some(v)) = (pct_decode(k), pct_decode(v)) else {
                return Err(Error::InvalidSignature(
                    "the URL's query is not well formed".into(),
                ));
            };
            pairs.push((k, v));
        }
        Ok(ParsedUrl {
            path: path.to_string(),
            query: pairs,
        })
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The last path segment.
    pub fn last_segment(&self) -> &str {
        self.path
            .trim_end_matches('/')
            .rsplit('/')
            .next()
            .unwrap_or("")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(exp: i64) -> SignedRequest {
        SignedRequest {
            action: "upload".into(),
            resource: "file-1".into(),
            expires: exp,
            content_type: "text/csv".into(),
        }
    }

    #[test]
    fn sign_and_verify() {
        let s = Signer::new(b"secret");
        let now = Timestamp(1_000_000);
        let sig = s.sign(&req(2000));
        s.verify(&req(2000), &sig, now).unwrap();
        // Any change to what was signed breaks it.
        let mut other = req(2000);
        other.content_type = "application/json".into();
        assert_eq!(
            s.verify(&other, &sig, now).unwrap_err().code(),
            "INVALID_SIGNATURE"
        );
        assert_eq!(
            s.verify(&req(2001), &sig, now).unwrap_err().code(),
            "INVALID_SIGNATURE"
        );
        assert_eq!(
            Signer::new(b"other")
                .verify(&req(2000), &sig, now)
                .unwrap_err()
                .code(),
            "INVALID_SIGNATURE"
        );
        assert_eq!(
            s.verify(&req(2000), "zz", now).unwrap_err().code(),
            "INVALID_SIGNATURE"
        );
        assert_eq!(
            s.verify(&req(2000), "", now).unwrap_err().code(),
            "INVALID_SIGNATURE"
        );
        // Expired (checked after the signature).
        let late = Timestamp(2_001_000);
        assert_eq!(
            s.verify(&req(2000), &sig, late).unwrap_err().code(),
            "UPLOAD_URL_EXPIRED"
        );
    }

    #[test]
    fn ids_are_prefixed_and_random() {
        let now = Timestamp(1_733_700_000_000);
        let a = new_id("file", now).unwrap();
        let b = new_id("file", now).unwrap();
        assert!(a.starts_with("file-20241208-"), "{a}");
        assert_eq!(a.len(), "file-20241208-".len() + 24);
        assert_ne!(a, b);
    }

    #[test]
    fn urls_parse() {
        let u = ParsedUrl::parse("http://h:8080/uploads/file-1?expires=5&ct=text%2Fcsv&sig=ab#x")
            .unwrap();
        assert_eq!(u.path, "/uploads/file-1");
        assert_eq!(u.last_segment(), "file-1");
        assert_eq!(u.get("ct"), Some("text/csv"));
        assert_eq!(pct_decode(&pct_encode("a b/ü")).unwrap(), "a b/ü");
        assert!(ParsedUrl::parse("/x?a=%zz").is_err());
        assert!(pct_decode("%e2%82").is_none());
    }
}
