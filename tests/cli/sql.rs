use crate::util::Env;

#[test]
fn prints_an_aligned_table_and_json_lines() {
    let env = Env::initialised();
    env.import_fixture("mawps.jsonl", "mawps");
    let run = env.run(&["sql", "SELECT external_id AS id, gold_answer, 1.5 AS x, NULL AS empty FROM problems ORDER BY id"]).ok();
    assert_eq!(
        run.stdout,
        "id  gold_answer    x  empty\n--  -----------  ---  -----\n1   39           1.5   NULL\n2   8            1.5   NULL\n3   2            1.5   NULL\n"
    );
    assert!(run.stderr.contains("(3 rows)"));
    let rows = env.sql("SELECT COUNT(*) AS n, MAX(gold_answer) AS top FROM problems");
    assert_eq!(rows, vec![serde_json::json!({"n": 3, "top": "8"})]);
}

#[test]
fn is_read_only_unless_asked_to_write() {
    let env = Env::initialised();
    env.import_fixture("mawps.jsonl", "mawps");
    let stderr = env.run(&["sql", "DELETE FROM problems"]).fails();
    assert!(
        stderr.contains("read-only") && stderr.contains("--write"),
        "{stderr}"
    );
    assert_eq!(env.count("SELECT COUNT(*) AS n FROM problems"), 3);
    env.run(&["sql", "--write", "UPDATE problems SET subject = 'x'"])
        .ok();
    assert_eq!(
        env.count("SELECT COUNT(*) AS n FROM problems WHERE subject = 'x'"),
        3
    );
}

#[test]
fn bad_sql_and_a_missing_database_are_errors() {
    let env = Env::initialised();
    let stderr = env.run(&["sql", "SELEC nonsense"]).fails();
    assert!(stderr.contains("syntax error"), "{stderr}");
    let stderr = env.run(&["--db", "other.db", "sql", "SELECT 1"]).fails();
    assert!(
        stderr.contains("other.db does not exist") && stderr.contains("evolve init"),
        "{stderr}"
    );
}
