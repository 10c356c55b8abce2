//! Where results go: stdout (locked, buffered, flushed once) or a file written atomically.

use std::fs;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

/// The destination named on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    Stdout,
    File(PathBuf),
}

/// An open destination. A file is written to a temporary file beside it and renamed over it by
/// [`OutputSink::finish`]; if the run fails first, the temporary file is removed and any existing
/// file is left as it was, so a failed run never leaves a truncated file that looks complete.
///
/// Only a new path or an existing regular file is replaced so: a device (`-o /dev/null`), a named
/// pipe, a socket or a symbolic link (`-o /dev/stdout`) is opened and written in place, since a
/// rename would put a plain file where the device, pipe or link was.
pub enum OutputSink {
    Stdout(BufWriter<io::StdoutLock<'static>>),
    File { temp: BufWriter<tempfile::NamedTempFile>, path: PathBuf },
    InPlace(BufWriter<fs::File>),
}

impl OutputSink {
    pub fn open(dest: &Destination) -> io::Result<OutputSink> {
        match dest {
            Destination::Stdout => Ok(OutputSink::Stdout(BufWriter::with_capacity(64 << 10, io::stdout().lock()))),
            Destination::File(path) => {
                if fs::symlink_metadata(path).is_ok_and(|m| !m.file_type().is_file()) {
                    let file =
                        fs::OpenOptions::new().write(true).create(true).truncate(true).open(path).map_err(|e| {
                            io::Error::new(e.kind(), format!("{}: cannot open output: {e}", path.display()))
                        })?;
                    return Ok(OutputSink::InPlace(BufWriter::new(file)));
                }
                let dir = match path.parent() {
                    Some(p) if !p.as_os_str().is_empty() => p,
                    _ => Path::new("."),
                };
                let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                let temp =
                    tempfile::Builder::new().prefix(&format!(".{name}.")).suffix(".tmp").tempfile_in(dir).map_err(
                        |e| {
                            let why = match e.kind() {
                                io::ErrorKind::NotFound => "its directory does not exist".to_string(),
                                io::ErrorKind::PermissionDenied => "permission denied".to_string(),
                                _ => e.to_string(),
                            };
                            io::Error::new(e.kind(), format!("{}: cannot create output file: {why}", path.display()))
                        },
                    )?;
                Ok(OutputSink::File { temp: BufWriter::new(temp), path: path.clone() })
            }
        }
    }

    /// Flushes, and for a file moves it into place.
    pub fn finish(self) -> io::Result<()> {
        match self {
            OutputSink::Stdout(mut w) => w.flush(),
            OutputSink::InPlace(mut w) => w.flush(),
            OutputSink::File { temp, path } => {
                let temp = temp.into_inner().map_err(|e| e.into_error())?;
                temp.as_file().sync_all()?;
                // Keep the permissions an ordinary new file would get, not tempfile's 0600.
                let _ = fs::set_permissions(temp.path(), default_permissions());
                temp.persist(&path).map_err(|e| {
                    io::Error::new(e.error.kind(), format!("{}: cannot write output: {}", path.display(), e.error))
                })?;
                Ok(())
            }
        }
    }
}

impl Write for OutputSink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            OutputSink::Stdout(w) => w.write(buf),
            OutputSink::File { temp, .. } => temp.write(buf),
            OutputSink::InPlace(w) => w.write(buf),
        }
    }
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        match self {
            OutputSink::Stdout(w) => w.write_all(buf),
            OutputSink::File { temp, .. } => temp.write_all(buf),
            OutputSink::InPlace(w) => w.write_all(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            OutputSink::Stdout(w) => w.flush(),
            OutputSink::File { temp, .. } => temp.flush(),
            OutputSink::InPlace(w) => w.flush(),
        }
    }
}

fn default_permissions() -> fs::Permissions {
    use std::os::unix::fs::PermissionsExt;
    fs::Permissions::from_mode(0o644)
}
