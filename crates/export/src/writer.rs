//! JSON Lines out, hashed as written. A file is written under a temporary name
//! beside its destination and renamed into place only when the export
//! succeeds, so a failed or empty export never leaves a partial file.

use std::fs::File;
use std::io::{self, BufWriter, Stdout, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::Serialize;
use sha2::{Digest, Sha256};
use tempfile::NamedTempFile;

/// Where rows go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// A file, replaced when the export succeeds.
    File(PathBuf),
    /// Standard output.
    Stdout,
}

impl Destination {
    /// `-` is standard output; anything else a file.
    pub fn parse(arg: &Path) -> Destination {
        if arg == Path::new("-") {
            Destination::Stdout
        } else {
            Destination::File(arg.to_owned())
        }
    }

    /// The path as recorded: the file's, or `-`.
    pub fn label(&self) -> String {
        match self {
            Destination::File(path) => path.display().to_string(),
            Destination::Stdout => "-".into(),
        }
    }
}

enum Target {
    Temp(NamedTempFile),
    Stdout(Stdout),
}

impl Write for Target {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Target::Temp(f) => f.write(buf),
            Target::Stdout(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Target::Temp(f) => f.flush(),
            Target::Stdout(s) => s.flush(),
        }
    }
}

/// Passes bytes on and hashes them.
struct Hashing {
    inner: Target,
    hasher: Sha256,
}

impl Write for Hashing {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Writes one JSON object per line.
pub struct JsonlWriter {
    out: BufWriter<Hashing>,
    destination: Destination,
    rows: usize,
}

impl JsonlWriter {
    /// Starts writing to `destination`; a file's folder must exist.
    pub fn create(destination: &Destination) -> Result<JsonlWriter> {
        let target = match destination {
            Destination::File(path) => {
                let folder = match path.parent() {
                    Some(p) if !p.as_os_str().is_empty() => p,
                    _ => Path::new("."),
                };
                let temp = NamedTempFile::new_in(folder)
                    .with_context(|| format!("cannot write in {}", folder.display()))?;
                Target::Temp(temp)
            }
            Destination::Stdout => Target::Stdout(io::stdout()),
        };
        Ok(JsonlWriter {
            out: BufWriter::with_capacity(
                1 << 20,
                Hashing {
                    inner: target,
                    hasher: Sha256::new(),
                },
            ),
            destination: destination.clone(),
            rows: 0,
        })
    }

    /// Appends `row` as one line.
    pub fn row(&mut self, row: &impl Serialize) -> Result<()> {
        serde_json::to_writer(&mut self.out, row)
            .and_then(|()| self.out.write_all(b"\n").map_err(serde_json::Error::io))
            .with_context(|| format!("writing {}", self.destination.label()))?;
        self.rows += 1;
        Ok(())
    }

    /// Rows written so far.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Flushes, puts a file in place, and returns the SHA-256 of the bytes written.
    pub fn finish(self) -> Result<String> {
        let label = self.destination.label();
        let hashing = self
            .out
            .into_inner()
            .map_err(|e| e.into_error())
            .with_context(|| format!("writing {label}"))?;
        let digest = hex(&hashing.hasher.finalize());
        match (hashing.inner, &self.destination) {
            (Target::Temp(temp), Destination::File(path)) => {
                temp.as_file()
                    .sync_all()
                    .with_context(|| format!("writing {label}"))?;
                // Readable like any file the user writes (temp files are 0600).
                set_default_permissions(temp.as_file());
                temp.persist(path)
                    .map_err(|e| e.error)
                    .with_context(|| format!("moving the export into place at {label}"))?;
            }
            (mut target, _) => target.flush().context("writing standard output")?,
        }
        Ok(digest)
    }
}

fn set_default_permissions(file: &File) {
    use std::os::unix::fs::PermissionsExt;
    // SAFETY: umask only swaps the process's mask; it is put back at once.
    let mask = unsafe {
        let mask = libc::umask(0o022);
        libc::umask(mask);
        mask
    };
    let _ = file.set_permissions(std::fs::Permissions::from_mode(0o666 & !mask));
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_appears_only_when_finished_and_its_hash_is_of_its_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rows.jsonl");
        let mut writer = JsonlWriter::create(&Destination::File(path.clone())).unwrap();
        writer.row(&serde_json::json!({"a": 1})).unwrap();
        writer.row(&serde_json::json!({"b": "x"})).unwrap();
        assert!(!path.exists());
        let digest = writer.finish().unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(bytes, b"{\"a\":1}\n{\"b\":\"x\"}\n");
        assert_eq!(digest, hex(&Sha256::digest(&bytes)));
        // Dropped unfinished: nothing written, no temporary file left.
        let other = dir.path().join("other.jsonl");
        let mut writer = JsonlWriter::create(&Destination::File(other.clone())).unwrap();
        writer.row(&serde_json::json!({})).unwrap();
        drop(writer);
        assert!(!other.exists());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
