//! Files on disk, shared by every module: the error of a failed read or write
//! ([`FileError`], which each module's error type wraps), writing outputs so that an
//! interrupted run never leaves a corrupt file behind (write to a temporary file in the
//! destination folder, flush it to disk, then rename over the target), and the content keys
//! that name cached artifacts. Only the error and [`IoContext`] are public; the writing and
//! hashing helpers are the crate's own. A leaf module: it uses no other part of the crate.

use std::io::Write;
use std::path::{Path, PathBuf};

/// A file could not be read or written: the path, and the operating system's error as the
/// `source()`.
#[derive(Debug, thiserror::Error)]
#[error("{}: {source}", path.display())]
pub struct FileError {
    /// The file (or folder) that could not be read or written.
    pub path: PathBuf,
    /// The operating system's error.
    #[source]
    pub source: std::io::Error,
}

impl FileError {
    /// The error `source` met at `path`.
    pub fn new(path: impl AsRef<Path>, source: std::io::Error) -> Self {
        Self {
            path: path.as_ref().to_path_buf(),
            source,
        }
    }

    /// The operating system's error kind (e.g. `NotFound`).
    pub fn kind(&self) -> std::io::ErrorKind {
        self.source.kind()
    }
}

/// Attach a path to I/O errors.
pub trait IoContext<T> {
    /// The result with an error turned into a [`FileError`] naming `path`.
    fn at(self, path: impl AsRef<Path>) -> Result<T, FileError>;
}

impl<T> IoContext<T> for std::result::Result<T, std::io::Error> {
    fn at(self, path: impl AsRef<Path>) -> Result<T, FileError> {
        self.map_err(|e| FileError::new(path, e))
    }
}

/// Replaces `path` with `bytes` atomically ([`replace_file_with`]), creating its folder;
/// the error names `path`.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), FileError> {
    replace_file_with(path, |w| w.write_all(bytes)).at(path)
}

/// Like [`write_atomic`] for content produced by a writer callback.
pub(crate) fn write_atomic_with(
    path: &Path,
    fill: impl FnOnce(&mut std::io::BufWriter<&mut std::fs::File>) -> std::io::Result<()>,
) -> Result<(), FileError> {
    replace_file_with(path, fill).at(path)
}

/// The content key of a cached artifact: BLAKE3 (hex) over `tag` and each part, every one
/// length-prefixed so that no two different part lists hash the same bytes. Callers pass
/// serialised values (`serde_json::to_string` of each input), never `Debug` output, so a
/// key changes only when an input does.
pub(crate) fn content_key<S: AsRef<str>>(tag: &str, parts: &[S]) -> String {
    let mut h = blake3::Hasher::new();
    for part in std::iter::once(tag).chain(parts.iter().map(AsRef::as_ref)) {
        h.update(&(part.len() as u64).to_le_bytes());
        h.update(part.as_bytes());
    }
    h.finalize().to_hex().to_string()
}

/// The one file-replacing routine behind every output of softtext (each module wraps the
/// `io::Error` in its own error type). The temporary is a hidden `.NAME.XXXX.tmp` in the
/// destination folder, so the rename never crosses a filesystem.
pub(crate) fn replace_file_with(
    path: &Path,
    fill: impl FnOnce(&mut std::io::BufWriter<&mut std::fs::File>) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir)?;
    let name = path.file_name().ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "output path has no file name",
        )
    })?;
    let mut prefix = std::ffi::OsString::from(".");
    prefix.push(name);
    prefix.push(".");
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).suffix(".tmp");
    // tempfile creates 0600 files, which the rename would carry over: outputs shared with a
    // colleague or served by a web server must get the usual mode (0644 under umask 022).
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o666));
    }
    let mut tmp = builder.tempfile_in(dir)?;
    {
        let mut w = std::io::BufWriter::new(tmp.as_file_mut());
        fill(&mut w)?;
        w.flush()?;
    }
    // Without the sync a crash right after the rename can leave a zero-length file on
    // filesystems that reorder metadata and data writes.
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// [`replace_file_with`] for bytes already in memory.
pub(crate) fn replace_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    replace_file_with(path, |w| w.write_all(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_atomically_and_leaves_no_temporaries() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/out.bin");
        write_atomic(&path, b"one").unwrap();
        write_atomic(&path, b"two").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        let left: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left.len(), 1, "{left:?}");
    }

    #[cfg(unix)]
    #[test]
    fn outputs_get_the_mode_of_an_ordinary_new_file() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let ours = dir.path().join("ours.json");
        let plain = dir.path().join("plain.json");
        write_atomic(&ours, b"{}").unwrap();
        std::fs::write(&plain, b"{}").unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&ours), mode(&plain));
    }

    #[test]
    fn file_errors_name_the_path_and_keep_the_io_error_as_source() {
        use std::error::Error as _;
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("absent.txt");
        let err = std::fs::read(&missing).at(&missing).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
        let io = std::fs::read(&missing).unwrap_err();
        assert_eq!(err.to_string(), format!("{}: {io}", missing.display()));
        let source = err.source().expect("io::Error as source");
        assert!(source.downcast_ref::<std::io::Error>().is_some());
    }

    #[test]
    fn content_keys_separate_their_parts() {
        let key = |tag: &str, parts: &[&str]| {
            content_key(
                tag,
                &parts.iter().map(|p| p.to_string()).collect::<Vec<_>>(),
            )
        };
        assert_eq!(key("t", &["ab", "c"]), key("t", &["ab", "c"]));
        assert_ne!(key("t", &["ab", "c"]), key("t", &["a", "bc"]));
        assert_ne!(key("t", &["a"]), key("u", &["a"]));
        assert_ne!(key("t", &["", "a"]), key("t", &["a", ""]));
        assert_eq!(key("t", &[]).len(), 64);
    }
}
