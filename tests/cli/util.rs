//! A temporary working directory with its own database, and a runner for `evolve`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The repository's tests/fixtures folder.
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures")
        .join(name)
}

pub struct Env {
    pub dir: tempfile::TempDir,
}

/// What a finished command printed.
pub struct Run {
    pub status: std::process::ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn from(output: Output) -> Run {
        Run {
            status: output.status,
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Panics with both streams unless the command succeeded.
    pub fn ok(self) -> Run {
        assert!(
            self.status.success(),
            "command failed\nstdout:\n{}\nstderr:\n{}",
            self.stdout,
            self.stderr
        );
        self
    }

    /// Panics unless the command failed; returns its standard error.
    pub fn fails(self) -> String {
        assert!(
            !self.status.success(),
            "command should have failed\nstdout:\n{}",
            self.stdout
        );
        self.stderr
    }

    /// Standard output parsed as JSON lines.
    pub fn json_lines(&self) -> Vec<serde_json::Value> {
        self.stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

impl Env {
    pub fn new() -> Env {
        Env {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    /// A fresh environment with `evolve init` already run.
    pub fn initialised() -> Env {
        let env = Env::new();
        env.run(&["init"]).ok();
        env
    }

    /// Imports `tests/fixtures/<file>` in `format` under the file's stem as dataset name.
    pub fn import_fixture(&self, file: &str, format: &str) -> Run {
        self.import_file(&fixture(file), format, &[]).ok()
    }

    /// Runs `evolve data import --file PATH --format FORMAT EXTRA...`.
    pub fn import_file(&self, path: &Path, format: &str, extra: &[&str]) -> Run {
        let mut args = vec![
            "data",
            "import",
            "--file",
            path.to_str().unwrap(),
            "--format",
            format,
        ];
        args.extend_from_slice(extra);
        self.run(&args)
    }

    pub fn db(&self) -> PathBuf {
        self.dir.path().join("evolve.db")
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn command(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_evolve"));
        cmd.current_dir(self.dir.path())
            .env_remove("EVOLVE_DB")
            .env_remove("EVOLVE_DATA_DIR");
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Run {
        Run::from(self.command().args(args).output().unwrap())
    }

    pub fn run_with_stdin(&self, args: &[&str], stdin: &str) -> Run {
        let mut child = self
            .command()
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        Run::from(child.wait_with_output().unwrap())
    }

    /// Rows of a read-only query as JSON objects.
    pub fn sql(&self, statement: &str) -> Vec<serde_json::Value> {
        self.run(&["sql", "--json", statement]).ok().json_lines()
    }

    /// A single integer from a query such as `SELECT COUNT(*) AS n ...`.
    pub fn count(&self, statement: &str) -> i64 {
        let rows = self.sql(statement);
        rows[0]
            .as_object()
            .unwrap()
            .values()
            .next()
            .unwrap()
            .as_i64()
            .unwrap()
    }
}
