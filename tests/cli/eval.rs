//! `evolve eval`, `evolve solve` and `evolve report` on the default model with
//! MAWPS-MultiArith questions: graded runs stored and resumed, PPM strategies
//! with a freshly trained PPM, auto's calibration, and the report's files.

use crate::util::Env;

fn multiarith() -> Env {
    let env = Env::initialised();
    env.run(&["data", "import", "mawps-multiarith"]).ok();
    env
}

#[test]
fn greedy_and_maj4_grade_ten_problems_store_them_and_resume() {
    let env = multiarith();
    let run = env
        .run(&[
            "eval",
            "--dataset",
            "mawps-multiarith",
            "--strategy",
            "greedy,maj@4",
            "--limit",
            "10",
        ])
        .ok();
    assert!(run.stdout.contains("accuracy"), "{}", run.stdout);
    let runs =
        env.sql("SELECT strategy, budget, questions, correct, tokens FROM evaluations ORDER BY id");
    assert_eq!(runs.len(), 2, "{runs:?}");
    assert_eq!(runs[0]["strategy"], "greedy");
    assert_eq!(runs[1]["strategy"], "maj@4");
    assert_eq!(runs[1]["budget"], 4);
    for r in &runs {
        assert_eq!(r["questions"], 10);
        assert!(r["tokens"].as_i64().unwrap() > 0);
    }
    // The totals are the sums of the rows, and every row's grade agrees with
    // `evolve grade`'s comparison of its answer.
    assert_eq!(
        env.count(
            "SELECT COUNT(*) FROM evaluations e WHERE correct != (SELECT SUM(correct) FROM evaluation_results r WHERE r.evaluation_id = e.id)
             OR tokens != (SELECT SUM(tokens) FROM evaluation_results r WHERE r.evaluation_id = e.id)"
        ),
        0
    );
    // maj@4 kept its four candidates and their answers.
    let details = env.sql(
        "SELECT r.detail FROM evaluation_results r JOIN evaluations e ON e.id = r.evaluation_id WHERE e.strategy = 'maj@4'",
    );
    for d in &details {
        let detail: serde_json::Value =
            serde_json::from_str(d["detail"].as_str().unwrap()).unwrap();
        assert_eq!(
            detail["candidates"].as_array().unwrap().len(),
            4,
            "{detail}"
        );
        // The four first steps came from one policy call.
        assert!(detail["compute"]["policy_calls"].as_i64().unwrap() >= 2);
    }
    // Both runs' questions were drawn from the held-out split when there is
    // one; this dataset is unsplit, so from all problems, in import order.
    let first =
        env.sql("SELECT MIN(problem_id) AS a, MAX(problem_id) AS b FROM evaluation_results");
    assert_eq!(
        first[0]["b"].as_i64().unwrap() - first[0]["a"].as_i64().unwrap(),
        9
    );

    // A rerun with the same settings grades nothing again; a larger limit extends it.
    let rerun = env
        .run(&[
            "eval",
            "--dataset",
            "mawps-multiarith",
            "--strategy",
            "greedy",
            "--limit",
            "10",
        ])
        .ok();
    assert!(
        rerun.stderr.contains("10 questions already graded"),
        "{}",
        rerun.stderr
    );
    assert_eq!(env.count("SELECT COUNT(*) FROM evaluation_results"), 20);
    env.run(&[
        "eval",
        "--dataset",
        "mawps-multiarith",
        "--strategy",
        "greedy",
        "--limit",
        "11",
    ])
    .ok();
    assert_eq!(env.count("SELECT COUNT(*) FROM evaluations"), 2);
    assert_eq!(
        env.count("SELECT questions FROM evaluations WHERE strategy = 'greedy'"),
        11
    );
    // Another seed is another run.
    env.run(&[
        "eval",
        "--dataset",
        "mawps-multiarith",
        "--strategy",
        "greedy",
        "--limit",
        "1",
        "--temperature",
        "0.5",
    ])
    .ok();
    assert_eq!(env.count("SELECT COUNT(*) FROM evaluations"), 3);

    // The report: a table on the terminal, markdown and the two plots as PNG and SVG.
    let report = env.run(&["report", "--out", "rep"]).ok();
    assert!(report.stdout.contains("maj@4"), "{}", report.stdout);
    let md = std::fs::read_to_string(env.path("rep/report.md")).unwrap();
    assert!(md.contains("| 0 | mawps-multiarith | maj@4 |"), "{md}");
    for stem in [
        "accuracy-by-round-mawps-multiarith",
        "accuracy-vs-compute-mawps-multiarith-r0",
    ] {
        let png = std::fs::read(env.path(&format!("rep/{stem}.png"))).unwrap();
        assert!(
            png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 5_000,
            "{stem}.png"
        );
        let svg = std::fs::read_to_string(env.path(&format!("rep/{stem}.svg"))).unwrap();
        assert!(svg.starts_with("<svg"), "{stem}.svg");
        // One series per strategy (by round) or family (by compute), named in the legend.
        for name in if stem.contains("round") {
            ["greedy", "maj@4"]
        } else {
            ["greedy", "maj"]
        } {
            assert!(
                svg.contains(&format!(">\n{name}\n</text>")),
                "{stem}.svg lacks {name}"
            );
        }
    }
}

const PAIRS: &str = r#"{"prompt": "<|im_start|>user\nTom has 3 boxes of 4 apples. How many apples?<|im_end|>\n<|im_start|>assistant\n", "chosen": "Tom has 3 * 4 = 12 apples.\n\n", "rejected": "Tom has 3 + 4 = 7 apples, and then he eats some of them.\n\n"}
{"prompt": "<|im_start|>user\nAnn had 10 pens and gave away 4.<|im_end|>\n<|im_start|>assistant\n", "chosen": "She has 10 - 4 = 6 pens.\n\n", "rejected": "She has 10 + 4 = 14 pens, since giving adds to them.\n\n"}
"#;

/// A head-only PPM trained on `PAIRS` for one epoch, written to `out`.
fn train_head_ppm(env: &Env, out: &str, extra: &str) {
    let args = format!(
        "train ppm --data pairs.jsonl --method head --epochs 1 --held-out 0 --out {out} {extra}"
    );
    env.run(&args.split_whitespace().collect::<Vec<_>>()).ok();
}

#[test]
fn ppm_strategies_calibration_and_auto_run_with_a_trained_ppm() {
    let env = multiarith();
    std::fs::write(env.path("pairs.jsonl"), PAIRS).unwrap();
    train_head_ppm(&env, "ppm.gguf", "");
    // Strategies that score refuse to run without the PPM, naming the flag.
    let stderr = env
        .run(&[
            "eval",
            "--dataset",
            "mawps-multiarith",
            "--strategy",
            "bon@2",
        ])
        .fails();
    assert!(stderr.contains("--ppm"), "{stderr}");
    let stderr = env
        .run(&[
            "eval",
            "--dataset",
            "mawps-multiarith",
            "--strategy",
            "best@2",
        ])
        .fails();
    assert!(stderr.contains("\"best@2\" is not a strategy"), "{stderr}");

    // Short solutions: the point is that every strategy runs end to end.
    let small = [
        "--limit",
        "2",
        "--ppm",
        "ppm.gguf",
        "--max-depth",
        "3",
        "--max-step-tokens",
        "32",
    ];
    let mut args = vec![
        "eval",
        "--dataset",
        "mawps-multiarith",
        "--strategy",
        "bon@2:min,beam@1x2,dvts@2x2,mcts@2x2",
    ];
    args.extend(small);
    env.run(&args).ok();
    let runs = env.sql("SELECT strategy, questions, ppm_id FROM evaluations ORDER BY id LIMIT 4");
    assert_eq!(runs.len(), 4, "{runs:?}");
    for r in &runs {
        assert_eq!(r["questions"], 2, "{r}");
        assert!(r["ppm_id"].is_number());
    }
    // A second head on the same backbone is another PPM: a head-only PPM's
    // GGUF is the backbone's copy, so its identity must count the head.
    train_head_ppm(&env, "ppm2.gguf", "--lr 1e-2");
    let read = |name: &str| std::fs::read(env.path(name)).unwrap();
    assert!(read("ppm.gguf") == read("ppm2.gguf"));
    assert!(read("ppm.head.safetensors") != read("ppm2.head.safetensors"));
    assert_eq!(
        env.count("SELECT COUNT(DISTINCT sha256) FROM models WHERE role = 'ppm'"),
        2
    );
    let mut second = args.clone();
    second[4] = "bon@2:min";
    let at = second.iter().position(|a| *a == "ppm.gguf").unwrap();
    second[at] = "ppm2.gguf";
    let run = env.run(&second).ok();
    assert!(!run.stderr.contains("already graded"), "{}", run.stderr);
    assert_eq!(
        env.count("SELECT COUNT(DISTINCT ppm_id) FROM evaluations WHERE strategy = 'bon@2:min'"),
        2
    );

    // A strategy that scores nothing is not tied to the PPM.
    let mut greedy = vec![
        "eval",
        "--dataset",
        "mawps-multiarith",
        "--strategy",
        "greedy",
    ];
    greedy.extend(small);
    env.run(&greedy).ok();
    assert_eq!(
        env.count("SELECT COUNT(*) FROM evaluations WHERE strategy = 'greedy' AND ppm_id IS NULL"),
        1
    );
    // bon scored every candidate's steps.
    let detail: serde_json::Value = serde_json::from_str(
        env.sql("SELECT detail FROM evaluation_results LIMIT 1")[0]["detail"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert!(
        detail["candidates"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["score"].is_number()),
        "{detail}"
    );
    assert!(detail["compute"]["scored"].as_i64().unwrap() >= 2);

    // auto without a table says how to make one; --calibrate makes it.
    let mut args = vec![
        "eval",
        "--dataset",
        "mawps-multiarith",
        "--strategy",
        "auto@2",
    ];
    args.extend(small);
    assert!(env.run(&args).fails().contains("--calibrate"));
    let mut calibrate = vec![
        "eval",
        "--dataset",
        "mawps-multiarith",
        "--calibrate",
        "--budgets",
        "1,2",
        "--probe",
        "1",
    ];
    calibrate.extend(small);
    let run = env.run(&calibrate).ok();
    assert!(run.stdout.contains("bin 0 (easiest)"), "{}", run.stdout);
    let table: serde_json::Value = serde_json::from_str(
        env.sql("SELECT table_json FROM calibrations")[0]["table_json"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(table["rows"].as_array().unwrap().len(), 2, "{table}");
    env.run(&args).ok();
    let detail: serde_json::Value = serde_json::from_str(
        env.sql("SELECT r.detail FROM evaluation_results r JOIN evaluations e ON e.id = r.evaluation_id WHERE e.strategy = 'auto@2' LIMIT 1")[0]["detail"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    // auto ran the strategy its table holds for the question's bin.
    let bin = detail["difficulty_bin"].as_u64().unwrap() as usize;
    assert_eq!(
        detail["strategy"], table["rows"][1]["strategies"][bin],
        "{detail}"
    );
}

#[test]
fn solve_answers_one_question_and_shows_its_candidates() {
    let env = Env::initialised();
    let run = env
        .run(&[
            "solve",
            "Tom has 3 boxes with 4 apples in each box. How many apples does Tom have?",
            "--strategy",
            "maj@2",
            "--show-tree",
            "--gold",
            "12",
        ])
        .ok();
    assert!(run.stdout.contains("candidate 1 of 2"), "{}", run.stdout);
    assert!(run.stdout.contains("candidate 2 of 2"), "{}", run.stdout);
    assert!(run.stdout.contains("answer: "), "{}", run.stdout);
    assert!(run.stdout.contains("maj@2: 2 candidates"), "{}", run.stdout);
    let json = env.run(&["solve", "What is 2 + 3?", "--json"]).ok();
    let outcome: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(outcome["strategy"], "greedy");
    assert_eq!(outcome["candidates"].as_array().unwrap().len(), 1);

    // The benchmark prints each strategy's throughput and k samples' cost
    // against k single decodes.
    env.import_fixture("mawps.jsonl", "mawps");
    let bench = env
        .run(&[
            "bench",
            "strategies",
            "--dataset",
            "mawps",
            "--questions",
            "1",
            "--strategy",
            "maj@2",
            "--max-depth",
            "3",
            "--max-step-tokens",
            "32",
        ])
        .ok();
    let row = bench
        .stdout
        .lines()
        .find(|l| l.starts_with("maj@2 "))
        .unwrap_or_else(|| panic!("{}", bench.stdout));
    let ratio: f64 = row.split_whitespace().last().unwrap().parse().unwrap();
    assert!(ratio > 0.0, "{row}");
    assert!(bench.stdout.contains("maj@1 "), "{}", bench.stdout);
}
