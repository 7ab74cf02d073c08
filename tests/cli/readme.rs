//! The example queries of README.md run against a real database, so the docs cannot drift from the schema.

use crate::util::Env;

#[test]
fn readme_example_queries_run() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).unwrap();
    let block = readme
        .split("## The database")
        .nth(1)
        .expect("README.md has a database section")
        .split("```sql")
        .nth(1)
        .expect("the database section has an sql block")
        .split("```")
        .next()
        .unwrap();
    let queries: Vec<&str> = block.lines().filter(|l| l.starts_with("SELECT")).collect();
    assert_eq!(
        queries.len(),
        5,
        "README.md should show five example queries"
    );

    let env = Env::initialised();
    env.import_fixture("math500.jsonl", "math500");
    for query in queries {
        env.run(&["sql", query]).ok();
    }
    let by_subject = env
        .run(&[
            "sql",
            "--json",
            block
                .lines()
                .find(|l| l.contains("subject, level"))
                .unwrap(),
        ])
        .ok();
    assert_eq!(by_subject.json_lines().len(), 3);
}

#[test]
fn readme_round_queries_run() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).unwrap();
    let section = readme
        .split("## The round")
        .nth(1)
        .expect("README.md has a round section");
    let block = section
        .split("```sql")
        .nth(1)
        .expect("the round section has an sql block")
        .split("```")
        .next()
        .unwrap();
    let queries: Vec<&str> = block.lines().filter(|l| l.starts_with("SELECT")).collect();
    assert_eq!(queries.len(), 4, "the round section shows four queries");
    let env = Env::initialised();
    for query in queries {
        env.run(&["sql", query]).ok();
    }
}
