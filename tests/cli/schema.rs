use crate::util::Env;

#[test]
fn init_creates_a_wal_database_with_the_schema() {
    let env = Env::new();
    let run = env.run(&["init"]).ok();
    let version = format!("schema version {}", evolve_store::SCHEMA_VERSION);
    assert!(run.stderr.contains(&version), "{}", run.stderr);
    let tables = env.sql("SELECT name FROM sqlite_master WHERE type IN ('table', 'view') AND name NOT LIKE '\\_%' ESCAPE '\\' AND name NOT LIKE 'sqlite%' ORDER BY name");
    let names: Vec<&str> = tables.iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "calibrations",
            "datasets",
            "evaluation_results",
            "evaluations",
            "exports",
            "models",
            "nodes",
            "problems",
            "round_accuracy",
            "round_phases",
            "rounds",
            "trajectories",
            "tree_stats",
            "trees"
        ]
    );
    assert_eq!(env.sql("PRAGMA journal_mode")[0]["journal_mode"], "wal");
    // Running init again is harmless.
    assert!(env.run(&["init"]).ok().stderr.contains("checked"));
}

#[test]
fn a_database_from_a_newer_build_is_refused_naming_both_versions() {
    let env = Env::initialised();
    env.run(&[
        "sql",
        "--write",
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) VALUES (42, 'future', 1, x'00', 0)",
    ])
    .ok();
    for args in [&["data", "list"][..], &["init"], &["sql", "SELECT 1"]] {
        let stderr = env.run(args).fails();
        assert!(
            stderr.contains("schema version 42")
                && stderr.contains(&format!("up to {}", evolve_store::SCHEMA_VERSION)),
            "{args:?}: {stderr}"
        );
    }
}

#[test]
fn a_file_that_is_not_an_evolve_database_is_refused() {
    let env = Env::new();
    std::fs::write(
        env.db(),
        "just text, no database here, padded to be long enough for a header",
    )
    .unwrap();
    let stderr = env.run(&["data", "list"]).fails();
    assert!(stderr.contains("evolve.db"), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(env.db()).unwrap(),
        "just text, no database here, padded to be long enough for a header"
    );
}
