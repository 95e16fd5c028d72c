//! Atomic file replacement: an interrupted run leaves either the previous file or the new
//! one, never a truncated PNG/SVG/HTML.

use std::io::Write;
use std::path::Path;

use super::error::{ReportError, Result};

/// Write `bytes` to `path` through a hidden temporary file in the same folder (so the final
/// rename never crosses a filesystem), creating the folder if needed.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir).map_err(|e| ReportError::io(dir, e))?;
    let name = path
        .file_name()
        .ok_or_else(|| ReportError::input(path, "output path has no file name"))?;
    let mut prefix = std::ffi::OsString::from(".");
    prefix.push(name);
    prefix.push(".");

    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).suffix(".tmp");
    // NamedTempFile defaults to 0600, which would make figures unreadable to a web server
    // or a colleague after the rename.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o644));
    }
    let mut tmp = builder
        .tempfile_in(dir)
        .map_err(|e| ReportError::io(path, e))?;
    tmp.write_all(bytes).map_err(|e| ReportError::io(path, e))?;
    // Without the sync a crash right after the rename can leave a zero-length file on
    // filesystems that reorder metadata and data writes.
    tmp.as_file()
        .sync_all()
        .map_err(|e| ReportError::io(path, e))?;
    tmp.persist(path)
        .map_err(|e| ReportError::io(path, e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_content_and_leaves_no_temp_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/a.txt");
        write_atomic(&path, b"one").unwrap();
        write_atomic(&path, b"two").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        let names: Vec<_> = std::fs::read_dir(dir.path().join("sub"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("a.txt")]);
    }

    #[test]
    fn error_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        // A regular file where a folder is expected makes the folder creation fail.
        let blocker = dir.path().join("blocker");
        std::fs::write(&blocker, b"x").unwrap();
        let err = write_atomic(&blocker.join("x.png"), b"data").unwrap_err();
        assert!(err.to_string().contains("blocker"), "{err}");
    }
}
