//! Durable named blobs: the model registry's artifacts and the processors' partition
//! checkpoints, in a local directory ([`DirBlobs`]) or, when the roles run on several
//! machines, in object storage (tailor-lake's `ObjectBlobs`, under the lake's bucket).
//!
//! Keys are `/`-separated relative names (`default/v3/model.bin`); no component is empty,
//! `.` or `..`, and components starting with `.` are reserved for temporary files (listings
//! skip them). Every operation is whole-object: a reader sees either the old or the new
//! bytes of a key, never a mix.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// A store of whole objects by key; blocking (callers are on blocking threads or the
/// command line).
pub trait Blobs: Send + Sync + 'static {
    /// The bytes of `key`, or `None` when there is no such key.
    fn get(&self, key: &str) -> io::Result<Option<Vec<u8>>>;
    /// Writes `key`, replacing what it held, atomically and durably.
    fn put(&self, key: &str, bytes: &[u8]) -> io::Result<()>;
    /// Writes `key` only if it does not exist yet; `false` (nothing written) if it does.
    fn create(&self, key: &str, bytes: &[u8]) -> io::Result<bool>;
    /// Every key under `prefix` (a key prefix ending in `/`, or `""` for all), sorted.
    fn list(&self, prefix: &str) -> io::Result<Vec<String>>;
    /// Removes `key`; removing a missing key is not an error.
    fn delete(&self, key: &str) -> io::Result<()>;
    /// Where `key` lives, for messages (`/data/models/x` or `s3://bucket/_models/x`).
    fn location(&self, key: &str) -> String;
}

/// Refuses keys that could leave the store's root or collide with temporary files.
pub fn check_key(key: &str) -> io::Result<()> {
    let ok = !key.is_empty()
        && key
            .split('/')
            .all(|c| !c.is_empty() && !c.starts_with('.') && !c.contains('\\'));
    if ok {
        Ok(())
    } else {
        Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "invalid blob key {key:?}: '/'-separated names, none empty or starting with '.'"
            ),
        ))
    }
}

/// Blobs as files under a directory (created on first write). `put` writes a temporary
/// file named per process, fsyncs it, renames it over the key and fsyncs the directory, so
/// a crash leaves the old or the new bytes; `create` links the finished temporary file to
/// the key, which fails if the key exists.
#[derive(Debug, Clone)]
pub struct DirBlobs {
    root: PathBuf,
}

impl DirBlobs {
    pub fn new(root: impl Into<PathBuf>) -> DirBlobs {
        DirBlobs { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn path(&self, key: &str) -> io::Result<PathBuf> {
        check_key(key)?;
        Ok(self.root.join(key))
    }

    /// Writes `bytes` to a synced temporary file beside `path`; returns its path.
    fn staged(path: &Path, bytes: &[u8]) -> io::Result<PathBuf> {
        let dir = path.parent().unwrap_or(Path::new("."));
        fs::create_dir_all(dir)?;
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("blob");
        let tmp = dir.join(format!(".{name}.tmp.{}", std::process::id()));
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        Ok(tmp)
    }

    fn sync_parent(path: &Path) -> io::Result<()> {
        let dir = path.parent().unwrap_or(Path::new("."));
        File::open(dir)?.sync_all()
    }

    fn walk(&self, dir: &Path, out: &mut Vec<String>) -> io::Result<()> {
        let rd = match fs::read_dir(dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        for entry in rd {
            let entry = entry?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if name.starts_with('.') {
                continue;
            }
            let path = entry.path();
            if entry.file_type()?.is_dir() {
                self.walk(&path, out)?;
            } else if let Ok(rel) = path.strip_prefix(&self.root) {
                let key: Vec<&str> = rel.iter().filter_map(|c| c.to_str()).collect();
                out.push(key.join("/"));
            }
        }
        Ok(())
    }
}

fn with_path(path: &Path) -> impl FnOnce(io::Error) -> io::Error + '_ {
    move |e| io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

impl Blobs for DirBlobs {
    fn get(&self, key: &str) -> io::Result<Option<Vec<u8>>> {
        let path = self.path(key)?;
        match fs::read(&path) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(with_path(&path)(e)),
        }
    }

    fn put(&self, key: &str, bytes: &[u8]) -> io::Result<()> {
        let path = self.path(key)?;
        let tmp = Self::staged(&path, bytes).map_err(with_path(&path))?;
        fs::rename(&tmp, &path).map_err(with_path(&path))?;
        Self::sync_parent(&path).map_err(with_path(&path))
    }

    fn create(&self, key: &str, bytes: &[u8]) -> io::Result<bool> {
        let path = self.path(key)?;
        if path.exists() {
            return Ok(false);
        }
        let tmp = Self::staged(&path, bytes).map_err(with_path(&path))?;
        let linked = fs::hard_link(&tmp, &path);
        let _ = fs::remove_file(&tmp);
        match linked {
            Ok(()) => {
                Self::sync_parent(&path).map_err(with_path(&path))?;
                Ok(true)
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(with_path(&path)(e)),
        }
    }

    fn list(&self, prefix: &str) -> io::Result<Vec<String>> {
        // Walk the deepest directory the prefix names, then filter by the whole prefix.
        let dir_part = prefix.rsplit_once('/').map_or("", |(d, _)| d);
        let start = if dir_part.is_empty() {
            self.root.clone()
        } else {
            self.path(dir_part)?
        };
        let mut out = Vec::new();
        self.walk(&start, &mut out).map_err(with_path(&start))?;
        out.retain(|k| k.starts_with(prefix));
        out.sort();
        Ok(out)
    }

    fn delete(&self, key: &str) -> io::Result<()> {
        let path = self.path(key)?;
        match fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(with_path(&path)(e)),
        }
        // Directories left empty go too (best effort; the root stays).
        let mut dir = path.parent();
        while let Some(d) = dir {
            if d == self.root || !d.starts_with(&self.root) || fs::remove_dir(d).is_err() {
                break;
            }
            dir = d.parent();
        }
        Ok(())
    }

    fn location(&self, key: &str) -> String {
        self.root.join(key).display().to_string()
    }
}

/// The behaviour every [`Blobs`] backend must have; backends' tests call it.
pub fn conformance(b: &dyn Blobs) {
    assert_eq!(b.get("a/x.bin").expect("get missing"), None);
    assert!(b.list("").expect("list empty").is_empty());
    b.put("a/x.bin", b"one").expect("put");
    assert_eq!(b.get("a/x.bin").expect("get").as_deref(), Some(&b"one"[..]));
    b.put("a/x.bin", b"two").expect("replace");
    assert_eq!(b.get("a/x.bin").expect("get").as_deref(), Some(&b"two"[..]));
    assert!(!b.create("a/x.bin", b"three").expect("create existing"));
    assert_eq!(b.get("a/x.bin").expect("get").as_deref(), Some(&b"two"[..]));
    assert!(b.create("a/y/z.bin", b"").expect("create new"));
    assert_eq!(
        b.get("a/y/z.bin").expect("get empty").as_deref(),
        Some(&b""[..])
    );
    b.put("ab/w", b"w").expect("put");
    assert_eq!(
        b.list("").expect("list all"),
        ["a/x.bin", "a/y/z.bin", "ab/w"]
    );
    assert_eq!(b.list("a/").expect("list a/"), ["a/x.bin", "a/y/z.bin"]);
    assert_eq!(b.list("a/y/").expect("list a/y/"), ["a/y/z.bin"]);
    assert!(b.list("nothing/").expect("list none").is_empty());
    b.delete("a/y/z.bin").expect("delete");
    b.delete("a/y/z.bin").expect("delete missing");
    assert_eq!(b.get("a/y/z.bin").expect("get deleted"), None);
    assert_eq!(b.list("a/").expect("list"), ["a/x.bin"]);
    for bad in ["", "../x", "a//b", ".hidden", "a/.tmp", "/abs"] {
        let e = b.put(bad, b"x").expect_err(bad);
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{bad}: {e}");
    }
    assert!(b.location("a/x.bin").contains("a/x.bin"));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_behaves_as_every_backend_must() {
        let dir = tempfile::tempdir().expect("tmp");
        let b = DirBlobs::new(dir.path().join("blobs"));
        conformance(&b);
        // Emptied directories are removed; temporary files never show.
        assert!(!dir.path().join("blobs/a/y").exists());
        std::fs::write(dir.path().join("blobs/a/.x.bin.tmp.1"), b"partial").expect("w");
        assert_eq!(b.list("a/").expect("list"), ["a/x.bin"]);
    }
}
