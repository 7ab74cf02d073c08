use std::path::PathBuf;

/// A file that could not be imported, with the line at fault when there is one.
#[derive(Debug, thiserror::Error)]
#[error("{}{}: {message}", path.display(), line.map(|l| format!(":{l}")).unwrap_or_default())]
pub struct ImportError {
    /// The file being read.
    pub path: PathBuf,
    /// 1-based line number, when one line is at fault.
    pub line: Option<usize>,
    /// What is wrong.
    pub message: String,
}
