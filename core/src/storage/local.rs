//! Blobs as files under one directory: the embedded default's blob store.
//!
//! A body is streamed to a temporary file next to its final place, hashed as it goes, synced,
//! then renamed over the key: readers see the whole blob or none of it, and a refused or broken
//! upload leaves nothing behind.

// The engine's facade (`Ingestor::open`) is what uses this store outside tests.
#![cfg_attr(not(test), allow(dead_code))]

use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Read, Seek, SeekFrom, Write};
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};

use super::memory::hex;
use super::{BlobInfo, BlobStore};
use crate::error::{Error, Result};

/// Blobs as files under a directory; keys may contain `/` (subdirectories).
#[derive(Debug, Clone)]
pub struct LocalBlobStore {
    root: PathBuf,
}

impl LocalBlobStore {
    /// Opens (creating it when absent) the directory that holds the blobs.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self> {
        let root = dir.as_ref().to_path_buf();
        fs::create_dir_all(&root).map_err(|e| {
            Error::storage(format!(
                "blob store: cannot create directory {}: {e}",
                root.display()
            ))
        })?;
        Ok(LocalBlobStore { root })
    }

    /// The directory the blobs live in.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The file of `key`; `INVALID_REQUEST` for keys that could leave the directory.
    fn path_of(&self, key: &str) -> Result<PathBuf> {
        let bad = |why: &str| Error::invalid(format!("blob key '{key}' is not valid: {why}"));
        if key.is_empty() {
            return Err(bad("it is empty"));
        }
        if key.contains('\\') || key.contains('\0') {
            return Err(bad("it contains a backslash or a NUL character"));
        }
        if key.starts_with('/') || Path::new(key).is_absolute() {
            return Err(bad("it is an absolute path"));
        }
        let mut path = self.root.clone();
        for part in key.split('/') {
            if part.is_empty() || part == "." || part == ".." {
                return Err(bad("empty, '.' and '..' path segments are not allowed"));
            }
            let mut comps = Path::new(part).components();
            match (comps.next(), comps.next()) {
                (Some(Component::Normal(_)), None) => path.push(part),
                _ => return Err(bad("a path segment is not a plain name")),
            }
        }
        Ok(path)
    }
}

fn io_err(op: &str, path: &Path, e: std::io::Error) -> Error {
    Error::storage(format!("blob store: {op} {}: {e}", path.display()))
}

/// A name no other writer (thread or process) picks at the same time.
fn temp_name(final_name: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(".{final_name}.tmp-{}-{n}-{nanos}", std::process::id())
}

/// Removes the temporary file unless the blob made it to its place.
struct TempFile {
    path: Option<PathBuf>,
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if let Some(p) = self.path.take() {
            let _ = fs::remove_file(p);
        }
    }
}

impl BlobStore for LocalBlobStore {
    fn put(&self, key: &str, body: &mut dyn Read, limit: Option<u64>) -> Result<BlobInfo> {
        let path = self.path_of(key)?;
        let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
            return Err(Error::invalid(format!("blob key '{key}' is not valid")));
        };
        fs::create_dir_all(dir).map_err(|e| io_err("cannot create directory", dir, e))?;
        let tmp_path = dir.join(temp_name(&name.to_string_lossy()));
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp_path)
            .map_err(|e| io_err("cannot create", &tmp_path, e))?;
        let mut guard = TempFile {
            path: Some(tmp_path.clone()),
        };

        let mut hasher = Sha256::new();
        let mut size: u64 = 0;
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match body.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => {
                    return Err(Error::storage(format!(
                        "blob store: reading the body of '{key}' failed: {e}"
                    )))
                }
            };
            size = size.saturating_add(n as u64);
            if let Some(l) = limit {
                if size > l {
                    return Err(Error::FileTooLarge { limit: l });
                }
            }
            let chunk = buf.get(..n).unwrap_or(&[]);
            hasher.update(chunk);
            file.write_all(chunk)
                .map_err(|e| io_err("cannot write", &tmp_path, e))?;
        }
        file.sync_all()
            .map_err(|e| io_err("cannot sync", &tmp_path, e))?;
        drop(file);
        fs::rename(&tmp_path, &path)
            .map_err(|e| io_err("cannot move the upload into place at", &path, e))?;
        guard.path = None;
        // Make the rename itself durable (best effort: not every platform can open a directory).
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(BlobInfo {
            size,
            sha256: hex(&hasher.finalize()),
            etag: None,
        })
    }

    fn open(&self, key: &str, offset: u64) -> Result<Box<dyn Read + Send>> {
        let path = self.path_of(key)?;
        let mut file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                return Err(Error::FileNotFound(key.to_string()))
            }
            Err(e) => return Err(io_err("cannot open", &path, e)),
        };
        let meta = file
            .metadata()
            .map_err(|e| io_err("cannot stat", &path, e))?;
        if !meta.is_file() {
            return Err(Error::FileNotFound(key.to_string()));
        }
        file.seek(SeekFrom::Start(offset))
            .map_err(|e| io_err("cannot seek in", &path, e))?;
        Ok(Box::new(file))
    }

    fn stat(&self, key: &str) -> Result<Option<BlobInfo>> {
        let path = self.path_of(key)?;
        let mut file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_err("cannot open", &path, e)),
        };
        if !file
            .metadata()
            .map_err(|e| io_err("cannot stat", &path, e))?
            .is_file()
        {
            return Ok(None);
        }
        let mut hasher = Sha256::new();
        let mut size: u64 = 0;
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match file.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(io_err("cannot read", &path, e)),
            };
            size = size.saturating_add(n as u64);
            hasher.update(buf.get(..n).unwrap_or(&[]));
        }
        Ok(Some(BlobInfo {
            size,
            sha256: hex(&hasher.finalize()),
            etag: None,
        }))
    }

    fn delete(&self, key: &str) -> Result<()> {
        let path = self.path_of(key)?;
        match fs::symlink_metadata(&path) {
            Ok(m) if m.is_dir() => Ok(()),
            Ok(_) => match fs::remove_file(&path) {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
                Err(e) => Err(io_err("cannot delete", &path, e)),
            },
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_err("cannot stat", &path, e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::sqlite::TestDir;

    struct Failing(usize);
    impl Read for Failing {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.0 == 0 {
                return Err(std::io::Error::new(
                    ErrorKind::ConnectionReset,
                    "client went away",
                ));
            }
            self.0 -= 1;
            let n = buf.len().min(1000);
            buf[..n].fill(b'x');
            Ok(n)
        }
    }

    fn files_under(dir: &Path) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for e in fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                out.extend(files_under(&p));
            } else {
                out.push(p);
            }
        }
        out
    }

    #[test]
    fn rejects_keys_that_leave_the_directory() {
        let dir = TestDir::new("blob-keys");
        let store = LocalBlobStore::open(dir.path()).unwrap();
        for key in [
            "",
            "../x",
            "a/../../x",
            "/etc/passwd",
            "a//b",
            "./a",
            "a/.",
            "a\\b",
            "a/",
        ] {
            let err = store.put(key, &mut &b"x"[..], None).unwrap_err();
            assert_eq!(err.code(), "INVALID_REQUEST", "key {key:?}");
            assert_eq!(
                store.open(key, 0).err().map(|e| e.code()),
                Some("INVALID_REQUEST")
            );
            assert_eq!(store.stat(key).unwrap_err().code(), "INVALID_REQUEST");
            assert_eq!(store.delete(key).unwrap_err().code(), "INVALID_REQUEST");
        }
        assert!(files_under(dir.path()).is_empty());
    }

    #[test]
    fn refused_and_broken_bodies_leave_nothing() {
        let dir = TestDir::new("blob-refused");
        let store = LocalBlobStore::open(dir.path()).unwrap();
        let err = store.put("up/a.csv", &mut Failing(3), None).unwrap_err();
        assert_eq!(err.code(), "STORAGE_ERROR");
        let err = store
            .put("up/b.csv", &mut Failing(100), Some(5000))
            .unwrap_err();
        assert_eq!(err.code(), "FILE_TOO_LARGE");
        assert!(
            files_under(dir.path()).is_empty(),
            "{:?}",
            files_under(dir.path())
        );
        // A failed overwrite keeps the old blob whole.
        let old = store.put("up/a.csv", &mut &b"old body"[..], None).unwrap();
        assert!(store.put("up/a.csv", &mut Failing(2), None).is_err());
        assert_eq!(store.stat("up/a.csv").unwrap(), Some(old));
        assert_eq!(files_under(dir.path()).len(), 1);
    }

    #[test]
    fn nested_keys_make_directories() {
        let dir = TestDir::new("blob-nested");
        let store = LocalBlobStore::open(dir.path()).unwrap();
        store
            .put("t1/file-1/body", &mut &b"hello"[..], None)
            .unwrap();
        assert!(store
            .root()
            .join("t1")
            .join("file-1")
            .join("body")
            .is_file());
        // A directory is not a blob.
        assert_eq!(store.stat("t1/file-1").unwrap(), None);
        assert_eq!(
            store.open("t1", 0).err().map(|e| e.code()),
            Some("FILE_NOT_FOUND")
        );
        store.delete("t1").unwrap();
        let mut s = String::new();
        store
            .open("t1/file-1/body", 1)
            .unwrap()
            .read_to_string(&mut s)
            .unwrap();
        assert_eq!(s, "ello");
    }
}
