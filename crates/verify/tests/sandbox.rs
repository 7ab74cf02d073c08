//! The Python sandbox against hostile step code: each case is contained and
//! reported as a failed run, and the next run works.

use std::time::Duration;

use evolve_verify::sandbox::{Limits, Outcome, Sandbox};

fn sandbox() -> Sandbox {
    Sandbox::new(Limits {
        wall: Duration::from_secs(4),
        cpu_seconds: 2,
        ..Limits::default()
    })
    .expect("python3 on PATH")
}

#[test]
fn runs_code_and_reports_exceptions() {
    let sandbox = sandbox();
    let run = sandbox.run("x = 6 * 7\nprint(x)");
    assert_eq!(run.outcome, Outcome::Ok);
    assert_eq!(run.stdout.trim(), "42");
    let run = sandbox.run("print(undefined_name)");
    assert_eq!(run.outcome, Outcome::Failed(1));
    assert_eq!(
        run.error().unwrap(),
        "NameError: name 'undefined_name' is not defined"
    );
}

#[test]
fn infinite_loop_is_stopped() {
    let run = sandbox().run("while True:\n    pass");
    assert!(
        matches!(run.outcome, Outcome::Signal(_) | Outcome::Timeout),
        "{run:?}"
    );
    assert!(run.seconds < 5.0);
    let run = sandbox().run("import time\ntime.sleep(60)");
    assert_eq!(run.outcome, Outcome::Timeout);
}

#[test]
fn fork_bomb_is_contained() {
    let sandbox = sandbox();
    let run = sandbox.run("import os\nwhile True:\n    os.fork()");
    assert!(!run.ok(), "{run:?}");
    // Nothing is left running and the machine still forks.
    assert!(sandbox.run("print(1)").ok());
}

#[test]
fn filling_the_disk_is_capped_per_file() {
    let run = sandbox()
        .run("with open('big', 'wb') as f:\n    while True:\n        f.write(b'x' * (1 << 20))");
    assert!(!run.ok());
    assert!(
        run.error().unwrap().contains("file size") || run.stderr.contains("File too large"),
        "{run:?}"
    );
}

#[test]
fn memory_is_capped() {
    let run = sandbox().run("x = bytearray(4 << 30)");
    assert_eq!(run.outcome, Outcome::Failed(1));
    assert!(run.error().unwrap().contains("MemoryError"), "{run:?}");
}

#[test]
fn printing_gigabytes_is_cut() {
    let run = sandbox().run("while True:\n    print('x' * 100000)");
    assert_eq!(run.outcome, Outcome::OutputLimit);
    assert!(run.stdout.len() <= Limits::default().output_bytes);
}

#[test]
fn environment_and_home_are_not_the_callers() {
    let home = std::env::var("HOME").unwrap_or_default();
    let run = sandbox().run(
        "import os\nprint(sorted(os.environ))\nprint(os.path.expanduser('~'))\nprint(os.getcwd())",
    );
    assert!(run.ok(), "{run:?}");
    assert!(!run.stdout.contains("RUST"), "{}", run.stdout);
    assert!(!run.stdout.lines().nth(1).unwrap().eq(&home));
    if sandbox().drops_privileges() {
        // As root the code runs as an unprivileged user, so root's private files are closed to it.
        use std::os::unix::fs::PermissionsExt;
        let secret = tempfile::tempdir().unwrap();
        std::fs::set_permissions(secret.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        let path = secret.path().join("secret");
        std::fs::write(&path, "key").unwrap();
        let run = sandbox().run(&format!("print(open({:?}).read())", path));
        assert!(
            run.error().is_some_and(|e| e.contains("PermissionError")),
            "{run:?}"
        );
    }
}

#[test]
fn sockets_cannot_reach_the_network() {
    let sandbox = sandbox();
    let run = sandbox.run("import socket\ns = socket.create_connection(('127.0.0.1', 22), timeout=2)\nprint('connected')");
    assert!(!run.stdout.contains("connected"));
    if sandbox.network_isolated() {
        assert!(run.error().unwrap().contains("Error"), "{run:?}");
    }
}

#[test]
fn many_runs_in_parallel_even_beside_a_fork_bomb() {
    use rayon::prelude::*;
    let bomb = std::thread::spawn(|| sandbox().run("import os\nwhile True:\n    os.fork()"));
    let sandbox = sandbox();
    std::thread::sleep(Duration::from_millis(300));
    let outs: Vec<String> = (0..16)
        .into_par_iter()
        .map(|i| sandbox.run(&format!("print({i} * 2)")).stdout)
        .collect();
    for (i, out) in outs.iter().enumerate() {
        assert_eq!(out.trim(), (i * 2).to_string());
    }
    assert!(!bomb.join().unwrap().ok());
}
