//! A sandbox for the Python code of code-augmented steps.
//!
//! Each run is a `python3 -I` subprocess in a fresh temporary directory with an
//! empty environment, its own process group, and these limits:
//! - wall time (the whole group is killed) and CPU time (`RLIMIT_CPU`);
//! - address space (`RLIMIT_AS`) and file size (`RLIMIT_FSIZE`);
//! - processes (`RLIMIT_NPROC`); when evolve runs as root, the child first drops
//!   to an unprivileged user id of its own (from 100000 up, group `nogroup`),
//!   because the kernel does not apply that limit to root, and a limit per user
//!   id would otherwise be shared by runs going on at once (this also keeps the
//!   code out of root's files);
//! - output: stdout and stderr are cut at a byte limit and the run is killed;
//! - network: a new, empty network namespace where the OS allows it (root, or
//!   unprivileged user namespaces); [`Sandbox::network_isolated`] says which.
//!
//! Not enforced: total disk use across many files (each file is capped), and
//! reading world-readable files.

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Limits of one run.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Wall-clock time.
    pub wall: Duration,
    /// CPU seconds.
    pub cpu_seconds: u64,
    /// Address space, bytes.
    pub memory_bytes: u64,
    /// Largest file the code may write, bytes.
    pub file_bytes: u64,
    /// Processes (and threads) the sandbox user may have.
    pub processes: u64,
    /// Bytes kept of stdout and of stderr; more kills the run.
    pub output_bytes: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            wall: Duration::from_secs(10),
            cpu_seconds: 5,
            memory_bytes: 1 << 30,
            file_bytes: 16 << 20,
            processes: 64,
            output_bytes: 16 << 10,
        }
    }
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Exit status 0.
    Ok,
    /// Non-zero exit status (an exception).
    Failed(i32),
    /// Killed by a signal (CPU, memory or file-size limit).
    Signal(i32),
    /// Past the wall-clock limit.
    Timeout,
    /// Printed more than the output limit.
    OutputLimit,
}

/// The result of running code.
#[derive(Debug, Clone, PartialEq)]
pub struct Execution {
    /// How it ended.
    pub outcome: Outcome,
    /// Standard output, cut at the limit.
    pub stdout: String,
    /// Standard error, cut at the limit.
    pub stderr: String,
    /// Wall-clock seconds.
    pub seconds: f64,
}

impl Execution {
    /// Whether the code ran to completion without an error.
    pub fn ok(&self) -> bool {
        self.outcome == Outcome::Ok
    }

    /// A one-line reason for a failed run: the exception line, or the limit hit.
    pub fn error(&self) -> Option<String> {
        Some(match &self.outcome {
            Outcome::Ok => return None,
            Outcome::Failed(_) => self
                .stderr
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("the code failed")
                .trim()
                .to_owned(),
            Outcome::Signal(libc::SIGXCPU) | Outcome::Signal(libc::SIGKILL) => {
                "CPU time limit exceeded".to_owned()
            }
            Outcome::Signal(libc::SIGXFSZ) => "file size limit exceeded".to_owned(),
            Outcome::Signal(s) => format!("killed by signal {s}"),
            Outcome::Timeout => "wall-clock time limit exceeded".to_owned(),
            Outcome::OutputLimit => "output limit exceeded".to_owned(),
        })
    }
}

/// Why the sandbox could not start.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// No Python interpreter.
    #[error("python3 was not found on PATH; code steps need it")]
    NoPython,
    /// Spawning or the temporary directory failed.
    #[error("starting the Python sandbox: {0}")]
    Io(#[from] std::io::Error),
}

/// Runs Python code under [`Limits`].
#[derive(Debug, Clone)]
pub struct Sandbox {
    python: PathBuf,
    limits: Limits,
    network_isolated: bool,
    drop_privileges: bool,
}

impl Sandbox {
    /// Finds a `python3` (`$EVOLVE_PYTHON`, then PATH, then /usr/bin) and the
    /// strongest isolation it runs under here.
    pub fn new(limits: Limits) -> Result<Sandbox, SandboxError> {
        let mut candidates: Vec<PathBuf> = std::env::var_os("EVOLVE_PYTHON")
            .map(PathBuf::from)
            .into_iter()
            .collect();
        candidates.extend(
            std::env::var_os("PATH")
                .iter()
                .flat_map(std::env::split_paths)
                .map(|dir| dir.join("python3")),
        );
        candidates.extend(["/usr/bin/python3", "/usr/local/bin/python3"].map(PathBuf::from));
        candidates.retain(|p| p.is_file());
        candidates.dedup();
        if candidates.is_empty() {
            return Err(SandboxError::NoPython);
        }
        let root = unsafe { libc::geteuid() } == 0;
        let mut last_error = String::new();
        // Strongest first: as root, an interpreter that an unprivileged user can run wins.
        for (drop_privileges, network_isolated) in
            [(root, true), (root, false), (false, true), (false, false)]
        {
            for python in &candidates {
                let sandbox = Sandbox {
                    python: python.clone(),
                    limits: limits.clone(),
                    network_isolated,
                    drop_privileges,
                };
                let probe = sandbox.run("pass");
                if probe.ok() {
                    return Ok(sandbox);
                }
                last_error = format!(
                    "{}: {}",
                    python.display(),
                    probe.error().unwrap_or_default()
                );
            }
        }
        Err(SandboxError::Io(std::io::Error::other(format!(
            "python3 does not run in the sandbox ({last_error})"
        ))))
    }

    /// The interpreter used.
    pub fn python(&self) -> &Path {
        &self.python
    }

    /// Whether runs switch to an unprivileged user id (when evolve runs as root).
    pub fn drops_privileges(&self) -> bool {
        self.drop_privileges
    }

    /// Whether runs have no network (a fresh network namespace).
    pub fn network_isolated(&self) -> bool {
        self.network_isolated
    }

    /// The limits of each run.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Runs `code` and returns what happened; failures to start are reported
    /// as a failed run, so a search can record them and go on.
    pub fn run(&self, code: &str) -> Execution {
        let started = Instant::now();
        self.try_run(code, started).unwrap_or_else(|e| Execution {
            outcome: Outcome::Failed(-1),
            stdout: String::new(),
            stderr: format!("sandbox: {e}"),
            seconds: started.elapsed().as_secs_f64(),
        })
    }

    fn try_run(&self, code: &str, started: Instant) -> std::io::Result<Execution> {
        let dir = tempfile::Builder::new()
            .prefix("evolve-sandbox-")
            .tempdir()?;
        let script = dir.path().join("step.py");
        std::fs::write(&script, code)?;
        let root = self.drop_privileges;
        let uid = if root { sandbox_uid() } else { 0 };
        if root {
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(NOGROUP))?;
        }
        let limits = self.limits.clone();
        let isolate = self.network_isolated;
        let mut command = Command::new(&self.python);
        command
            .arg("-I")
            .arg("-B")
            .arg(&script)
            .current_dir(dir.path())
            .env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .env("HOME", dir.path())
            .env("TMPDIR", dir.path())
            .env("OPENBLAS_NUM_THREADS", "1")
            .env("OMP_NUM_THREADS", "1")
            .env("PYTHONHASHSEED", "0")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        // Runs in the child between fork and exec: only async-signal-safe calls.
        unsafe {
            command.pre_exec(move || confine(&limits, isolate, root.then_some(uid)));
        }
        let mut child = command.spawn()?;
        let pid = child.id() as i32;
        let overflow = Arc::new(AtomicBool::new(false));
        let cap = self.limits.output_bytes;
        let out = read_capped(child.stdout.take().expect("piped"), cap, overflow.clone());
        let err = read_capped(child.stderr.take().expect("piped"), cap, overflow.clone());
        let mut outcome = None;
        let status = loop {
            if let Some(status) = child.try_wait()? {
                break status;
            }
            if started.elapsed() > self.limits.wall {
                outcome = Some(Outcome::Timeout);
            } else if overflow.load(Ordering::Relaxed) {
                outcome = Some(Outcome::OutputLimit);
            }
            if outcome.is_some() {
                kill_group(pid);
                break child.wait()?;
            }
            std::thread::sleep(Duration::from_millis(2));
        };
        // Whatever the code left running in its group goes too.
        kill_group(pid);
        let stdout = out.join().unwrap_or_default();
        let stderr = err.join().unwrap_or_default();
        let outcome = outcome.unwrap_or_else(|| {
            use std::os::unix::process::ExitStatusExt;
            match (status.code(), status.signal()) {
                (Some(0), _) => Outcome::Ok,
                (Some(code), _) => Outcome::Failed(code),
                (None, Some(signal)) => Outcome::Signal(signal),
                (None, None) => Outcome::Failed(-1),
            }
        });
        Ok(Execution {
            outcome,
            stdout,
            stderr,
            seconds: started.elapsed().as_secs_f64(),
        })
    }
}

/// Applies the limits in the child; `run_as` is the user id to switch to (when root).
fn confine(
    limits: &Limits,
    isolate_network: bool,
    run_as: Option<libc::uid_t>,
) -> std::io::Result<()> {
    let check = |rc: libc::c_int| {
        if rc == 0 {
            Ok(())
        } else {
            Err(std::io::Error::last_os_error())
        }
    };
    let set = |resource, value: u64| {
        let limit = libc::rlimit {
            rlim_cur: value as libc::rlim_t,
            rlim_max: value as libc::rlim_t,
        };
        check(unsafe { libc::setrlimit(resource, &limit) })
    };
    unsafe {
        check(libc::setpgid(0, 0))?;
        if isolate_network {
            let flags = if libc::geteuid() == 0 {
                libc::CLONE_NEWNET
            } else {
                libc::CLONE_NEWUSER | libc::CLONE_NEWNET
            };
            check(libc::unshare(flags))?;
        }
        set(libc::RLIMIT_CPU, limits.cpu_seconds)?;
        set(libc::RLIMIT_AS, limits.memory_bytes)?;
        set(libc::RLIMIT_FSIZE, limits.file_bytes)?;
        set(libc::RLIMIT_CORE, 0)?;
        set(libc::RLIMIT_NPROC, limits.processes)?;
        if let Some(uid) = run_as {
            check(libc::setgroups(0, std::ptr::null()))?;
            check(libc::setgid(NOGROUP))?;
            check(libc::setuid(uid))?;
        }
    }
    Ok(())
}

const NOGROUP: libc::gid_t = 65534;

/// A user id for one run: runs going on at once (in this process or others)
/// get different ids, so one run's processes do not count against another's limit.
fn sandbox_uid() -> libc::uid_t {
    use std::sync::atomic::AtomicU32;
    static NEXT: AtomicU32 = AtomicU32::new(0);
    const FIRST: u32 = 100_000;
    const IDS: u32 = 50_000;
    let start = std::process::id().wrapping_mul(7919) % IDS;
    FIRST + (start + NEXT.fetch_add(1, Ordering::Relaxed)) % IDS
}

fn kill_group(pid: i32) {
    unsafe {
        libc::killpg(pid, libc::SIGKILL);
    }
}

/// Reads a pipe to the end, keeping `cap` bytes; sets `overflow` past that.
fn read_capped(
    mut pipe: impl Read + Send + 'static,
    cap: usize,
    overflow: Arc<AtomicBool>,
) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut kept = Vec::new();
        let mut buf = [0u8; 8192];
        while let Ok(n) = pipe.read(&mut buf) {
            if n == 0 {
                break;
            }
            let room = cap.saturating_sub(kept.len());
            kept.extend_from_slice(&buf[..n.min(room)]);
            if n > room {
                overflow.store(true, Ordering::Relaxed);
            }
        }
        String::from_utf8_lossy(&kept).into_owned()
    })
}
