//! Atomic file replacement: an interrupted run leaves either the previous file or the new
//! one, never a truncated PNG/SVG/HTML.

use std::path::Path;

use super::error::{ReportError, Result};

/// Write `bytes` to `path` with [`crate::artifact::replace_file`], creating the folder if
/// needed.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    crate::artifact::replace_file(path, bytes).map_err(|e| ReportError::io(path, e))
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
