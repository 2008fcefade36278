//! File writes that a reader never sees half-done, and key files only their owner can read.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use super::IssueError;

/// Largest key, certificate or CSR file read (1 MiB): a real one is a few kilobytes.
pub(crate) const MAX_SMALL_FILE: u64 = 1 << 20;

/// Writes `bytes` to `path` atomically: a temporary file in the same directory, flushed to disk,
/// then renamed over `path`, so a reader sees the old file or the new one, never a part.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<(), IssueError> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut random = [0u8; 8];
    getrandom::fill(&mut random).map_err(|e| IssueError::io(path, std::io::Error::other(e)))?;
    let tmp = dir.join(format!(".{name}.{}.tmp", crate::hex(&random)));
    let result = (|| {
        let mut file = create(&tmp, mode)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(IssueError::io(path, e));
    }
    Ok(())
}

/// Creates `path` with `mode` (Unix permission bits; ignored elsewhere) and writes `bytes`;
/// refuses to replace an existing file.
pub(crate) fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<(), IssueError> {
    let result = (|| {
        let mut file = create(path, mode)?;
        file.write_all(bytes)?;
        file.sync_all()
    })();
    result.map_err(|e| IssueError::io(path, e))
}

/// Reads a file of at most [`MAX_SMALL_FILE`] bytes.
pub(crate) fn read_small(path: &Path) -> Result<Vec<u8>, IssueError> {
    crate::pem::read_bounded(path, MAX_SMALL_FILE).map_err(|message| IssueError::Malformed {
        path: path.to_path_buf(),
        message,
    })
}

/// Reads a CA key file, refusing one that its group or others may read.
pub(crate) fn read_private(path: &Path) -> Result<Vec<u8>, IssueError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let metadata = std::fs::metadata(path).map_err(|e| IssueError::io(path, e))?;
        let mode = metadata.permissions().mode() & 0o7777;
        if mode & 0o077 != 0 {
            return Err(IssueError::KeyPermissions {
                path: path.to_path_buf(),
                mode,
            });
        }
    }
    read_small(path)
}

/// Creates a new file (never replaces one) with `mode` on Unix.
fn create(path: &Path, mode: u32) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    options.open(path)
}
