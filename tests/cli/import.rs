use serde_json::json;

use crate::util::{Env, fixture};

fn problem(env: &Env, dataset: &str, external_id: &str) -> serde_json::Value {
    let rows = env.sql(&format!(
        "SELECT question, gold_answer, reference_solution IS NOT NULL AS has_solution, level, subject
         FROM problems p JOIN datasets d ON d.id = p.dataset_id
         WHERE d.name = '{dataset}' AND p.external_id = '{external_id}'"
    ));
    assert_eq!(rows.len(), 1, "{dataset}/{external_id}");
    rows[0].clone()
}

#[test]
fn every_format_imports_its_fields() {
    let env = Env::initialised();
    for (file, format) in [
        ("gsm8k.jsonl", "gsm8k"),
        ("math.jsonl", "math"),
        ("math500.jsonl", "math500"),
        ("svamp.jsonl", "svamp"),
        ("mawps.jsonl", "mawps"),
        ("asdiv.jsonl", "asdiv"),
    ] {
        env.import_fixture(file, format);
    }
    env.run(&[
        "data",
        "import",
        "--file",
        fixture("generic.jsonl").to_str().unwrap(),
        "--format",
        "generic",
        "--name",
        "mine",
        "--question-field",
        "q",
        "--answer-field",
        "a",
        "--solution-field",
        "why",
        "--level-field",
        "grade",
        "--subject-field",
        "topic",
    ])
    .ok();

    let counts = env.sql("SELECT d.name, d.format, COUNT(p.id) AS n FROM datasets d JOIN problems p ON p.dataset_id = d.id GROUP BY d.name ORDER BY d.name");
    assert_eq!(
        counts,
        vec![
            json!({"name": "asdiv", "format": "asdiv", "n": 3}),
            json!({"name": "gsm8k", "format": "gsm8k", "n": 3}),
            json!({"name": "math", "format": "math", "n": 3}),
            json!({"name": "math500", "format": "math500", "n": 3}),
            json!({"name": "mawps", "format": "mawps", "n": 3}),
            json!({"name": "mine", "format": "generic", "n": 2}),
            json!({"name": "svamp", "format": "svamp", "n": 3}),
        ]
    );

    let p = problem(&env, "gsm8k", "0");
    assert_eq!(
        (p["gold_answer"].as_str(), p["has_solution"].as_i64()),
        (Some("18"), Some(1))
    );
    assert!(p["question"].as_str().unwrap().starts_with("Janet"));

    let p = problem(&env, "math", "0");
    assert_eq!(p["gold_answer"], "2");
    assert_eq!(
        (p["level"].as_i64(), p["subject"].as_str()),
        (Some(3), Some("Algebra"))
    );

    let p = problem(&env, "math500", "test/precalculus/807.json");
    assert_eq!(p["gold_answer"], "\\left( 3, \\frac{\\pi}{2} \\right)");
    assert_eq!(
        (p["level"].as_i64(), p["subject"].as_str()),
        (Some(2), Some("Precalculus"))
    );

    let p = problem(&env, "svamp", "chal-777");
    assert_eq!(p["gold_answer"], "145");
    assert!(
        p["question"]
            .as_str()
            .unwrap()
            .ends_with("93 groups. How big is each group of bananas?")
    );

    let p = problem(&env, "mawps", "1");
    assert_eq!(p["gold_answer"], "39");

    let p = problem(&env, "asdiv", "0");
    assert_eq!(p["gold_answer"], "9");
    assert_eq!(
        p["question"],
        "Seven red apples and two green apples are in the basket. How many apples are in the basket?"
    );

    let p = problem(&env, "mine", "g2");
    assert_eq!(
        (
            p["gold_answer"].as_str(),
            p["level"].as_i64(),
            p["subject"].as_str()
        ),
        (Some("0.25"), Some(2), Some("fractions"))
    );
}

#[test]
fn reimport_adds_nothing() {
    let env = Env::initialised();
    env.import_fixture("math500.jsonl", "math500");
    let again = env.import_fixture("math500.jsonl", "math500");
    assert!(
        again.stderr.contains("0 added, 3 already stored"),
        "{}",
        again.stderr
    );
    assert_eq!(env.count("SELECT COUNT(*) AS n FROM problems"), 3);
}

#[test]
fn a_malformed_line_names_file_and_line_and_stores_nothing() {
    let env = Env::initialised();
    env.import_fixture("gsm8k.jsonl", "gsm8k");

    // Two new good lines, then a broken one: none of the file may land.
    let good = std::fs::read_to_string(fixture("gsm8k.jsonl"))
        .unwrap()
        .replace("\"idx\":", "\"idx\":10");
    let bad = env.path("broken.jsonl");
    std::fs::write(&bad, format!("{}{{\"question\": \"unfinished\n", good)).unwrap();
    let stderr = env.import_file(&bad, "gsm8k", &["--name", "gsm8k"]).fails();
    assert!(stderr.contains("broken.jsonl:4: invalid JSON"), "{stderr}");
    assert_eq!(env.count("SELECT COUNT(*) AS n FROM problems"), 3);

    // A problem without an answer, under a new dataset name: not even the dataset is created.
    let no_answer = env.path("no_answer.jsonl");
    std::fs::write(
        &no_answer,
        "{\"input\": \"How many?\", \"target\": 3}\n{\"input\": \"And now?\"}\n",
    )
    .unwrap();
    let stderr = env.import_file(&no_answer, "mawps", &[]).fails();
    assert!(
        stderr.contains("no_answer.jsonl:2: missing field \"target\""),
        "{stderr}"
    );
    assert_eq!(env.count("SELECT COUNT(*) AS n FROM datasets"), 1);
    assert_eq!(env.count("SELECT COUNT(*) AS n FROM problems"), 3);
}

#[test]
fn a_changed_problem_under_the_same_id_is_refused_whole() {
    let env = Env::initialised();
    env.import_fixture("mawps.jsonl", "mawps");
    let changed = env.path("mawps.jsonl");
    let text = std::fs::read_to_string(fixture("mawps.jsonl")).unwrap();
    std::fs::write(
        &changed,
        format!("{text}{{\"input\": \"new\", \"target\": 1}}\n").replacen(
            "\"target\":39",
            "\"target\":40",
            1,
        ),
    )
    .unwrap();
    let stderr = env.import_file(&changed, "mawps", &[]).fails();
    assert!(
        stderr.contains("problem 1 of dataset mawps") && stderr.contains("gold answer"),
        "{stderr}"
    );
    assert_eq!(env.count("SELECT COUNT(*) AS n FROM problems"), 3);
}

#[test]
fn unknown_sets_formats_and_missing_data_are_explained() {
    let env = Env::initialised();
    let stderr = env
        .run(&[
            "data",
            "import",
            "gsm9k",
            "--data-dir",
            env.dir.path().to_str().unwrap(),
        ])
        .fails();
    assert!(
        stderr.contains("no standard set named \"gsm9k\"") && stderr.contains("gsm8k-test"),
        "{stderr}"
    );
    let stderr = env
        .run(&[
            "data",
            "import",
            "gsm8k-test",
            "--data-dir",
            env.path("nowhere").to_str().unwrap(),
        ])
        .fails();
    assert!(stderr.contains("scripts/fetch-data.sh"), "{stderr}");
    let stderr = env
        .run(&[
            "data",
            "import",
            "--file",
            fixture("gsm8k.jsonl").to_str().unwrap(),
            "--format",
            "csv",
        ])
        .fails();
    assert!(stderr.contains("unknown format \"csv\""), "{stderr}");
    let stderr = env
        .run(&[
            "data",
            "import",
            "--file",
            env.path("missing.jsonl").to_str().unwrap(),
            "--format",
            "gsm8k",
        ])
        .fails();
    assert!(stderr.contains("missing.jsonl: cannot read"), "{stderr}");
}
