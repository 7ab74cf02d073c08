//! The full benchmark sets, as fetched by scripts/fetch-data.sh (the README's
//! test command runs it first).

use crate::util::Env;

#[test]
fn standard_sets_import_with_their_published_counts() {
    let data_dir = evolve_data::data_dir();
    assert!(
        data_dir.join("gsm8k/test.jsonl").is_file(),
        "benchmark data missing at {}: run scripts/fetch-data.sh first",
        data_dir.display()
    );
    let env = Env::initialised();
    env.run(&["data", "import", "--all"]).ok();
    let counts = env.sql("SELECT d.name, COUNT(*) AS n FROM datasets d JOIN problems p ON p.dataset_id = d.id GROUP BY d.name ORDER BY d.name");
    let got: Vec<(String, i64)> = counts
        .iter()
        .map(|r| {
            (
                r["name"].as_str().unwrap().to_owned(),
                r["n"].as_i64().unwrap(),
            )
        })
        .collect();
    let want = [
        ("asdiv", 2215),
        ("gsm8k-test", 1319),
        ("gsm8k-train", 7473),
        ("math-test", 5000),
        ("math-train", 7498),
        ("math500", 500),
        ("mawps-addsub", 395),
        ("mawps-multiarith", 600),
        ("mawps-singleeq", 508),
        ("mawps-singleop", 562),
        ("svamp", 1000),
    ];
    assert_eq!(got, want.map(|(n, c)| (n.to_owned(), c)));

    // Every stored gold answer equals itself under the grader, and every GSM8K and
    // MATH-500 reference solution grades correct against its own gold.
    let rows = env.sql(
        "SELECT d.name, p.external_id, p.gold_answer, p.reference_solution FROM problems p JOIN datasets d ON d.id = p.dataset_id
         WHERE d.name IN ('gsm8k-test', 'math500')",
    );
    let failing: Vec<String> = rows
        .iter()
        .filter_map(|r| {
            let gold = r["gold_answer"].as_str().unwrap();
            let mut solution = r["reference_solution"].as_str().unwrap().to_owned();
            if r["name"] == "gsm8k-test" {
                solution.push_str(&format!("\n#### {gold}"));
            }
            let graded = evolve_verify::grade(&solution, gold);
            (!graded.correct).then(|| {
                format!(
                    "{}/{}: {:?} vs {gold:?}",
                    r["name"], r["external_id"], graded.answer
                )
            })
        })
        .collect();
    assert!(
        failing.is_empty(),
        "{} reference solutions graded wrong:\n{}",
        failing.len(),
        failing.join("\n")
    );

    // Importing again adds nothing.
    let again = env.run(&["data", "import", "gsm8k-test", "math500"]).ok();
    assert!(
        again
            .stderr
            .contains("gsm8k-test: 1319 problems (0 added, 1319 already stored)"),
        "{}",
        again.stderr
    );
}
