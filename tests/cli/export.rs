//! `evolve export` on the trees of a real small search (the default model on
//! the MAWPS problems of tests/fixtures/mawps.jsonl).

use sha2::{Digest, Sha256};

use crate::util::Env;

/// Searches the three fixture problems: a few seconds each, and the Luke
/// problem is solved with these settings and the default seed.
fn searched() -> Env {
    let env = Env::initialised();
    env.import_fixture("mawps.jsonl", "mawps");
    env.run(&[
        "search",
        "--dataset",
        "mawps",
        "--rollouts",
        "8",
        "--candidates",
        "4",
        "--max-step-tokens",
        "64",
        "--max-depth",
        "6",
    ])
    .ok();
    assert!(
        env.count("SELECT COUNT(*) FROM trees WHERE solved = 1") >= 1,
        "the fixture search solved nothing, so there is nothing to export; did the model or its settings change?"
    );
    env
}

fn lines(env: &Env, file: &str) -> Vec<serde_json::Value> {
    std::fs::read_to_string(env.path(file))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The recorded export of `path`: its row count, matching the file's lines and hash.
fn recorded_rows(env: &Env, file: &str) -> i64 {
    let bytes = std::fs::read(env.path(file)).unwrap();
    let digest: String = Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let row = env.sql(&format!(
        "SELECT rows, sha256 FROM exports WHERE path LIKE '%/{file}' ORDER BY id DESC LIMIT 1"
    ));
    assert_eq!(row[0]["sha256"], digest.as_str(), "{file}");
    let rows = row[0]["rows"].as_i64().unwrap();
    assert_eq!(
        rows as usize,
        bytes.iter().filter(|&&b| b == b'\n').count(),
        "{file}"
    );
    rows
}

/// The keys of a row, in order: the shapes trainers read, then the ids that trace it.
fn keys(row: &serde_json::Value) -> Vec<&str> {
    row.as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect()
}

const SOURCE: [&str; 4] = ["problem_id", "dataset", "external_id", "tree_id"];

#[test]
fn a_real_search_exports_sft_pairs_and_step_labels_that_trace_back_to_their_nodes() {
    let env = searched();
    let solved = env.count("SELECT COUNT(*) FROM trees WHERE solved = 1");

    // SFT: messages, at most 2 a problem, each ending on a correct leaf.
    let run = env.run(&["export", "sft"]).ok();
    let sft = lines(&env, "default-r1-sft.jsonl");
    assert!(!sft.is_empty());
    assert!(
        run.stderr.contains(&format!("{} rows from", sft.len())),
        "{}",
        run.stderr
    );
    assert_eq!(
        recorded_rows(&env, "default-r1-sft.jsonl"),
        sft.len() as i64
    );
    assert!(sft.len() as i64 <= 2 * solved);
    let trace = ["leaf_id", "mean_q", "min_q", "answer"];
    assert_eq!(keys(&sft[0]), [&["messages"][..], &SOURCE, &trace].concat());
    for row in &sft {
        let roles: Vec<&str> = row["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["role"].as_str().unwrap())
            .collect();
        assert_eq!(roles, ["system", "user", "assistant"]);
        let leaf = row["leaf_id"].as_i64().unwrap();
        assert_eq!(
            env.count(&format!(
                "SELECT COUNT(*) FROM nodes WHERE id = {leaf} AND terminal = 1 AND correct = 1"
            )),
            1
        );
        // No step on its path failed its check; its mean Q is the trajectories view's.
        let view = env.sql(&format!(
            "SELECT mean_q, path FROM trajectories WHERE leaf_id = {leaf}"
        ));
        assert!(
            (view[0]["mean_q"].as_f64().unwrap() - row["mean_q"].as_f64().unwrap()).abs() < 1e-9
        );
        let path = view[0]["path"].as_str().unwrap();
        assert_eq!(
            env.count(&format!(
                "SELECT COUNT(*) FROM nodes WHERE id IN ({path}) AND step_check = 'error'"
            )),
            0
        );
        let answer = row["messages"][2]["content"].as_str().unwrap();
        let last = env.sql(&format!("SELECT step_text FROM nodes WHERE id = {leaf}"));
        assert!(answer.ends_with(last[0]["step_text"].as_str().unwrap().trim_end()));
    }

    // The same trajectories as prompt and completion through the chat template, on stdout.
    let run = env
        .run(&[
            "export",
            "sft",
            "--format",
            "prompt-completion",
            "--out",
            "-",
        ])
        .ok();
    let completions = run.json_lines();
    assert_eq!(completions.len(), sft.len());
    assert_eq!(
        keys(&completions[0]),
        [&["prompt", "completion"][..], &SOURCE, &trace].concat()
    );
    assert!(
        completions[0]["prompt"]
            .as_str()
            .unwrap()
            .starts_with("<|im_start|>system\n")
    );
    assert!(
        completions[0]["prompt"]
            .as_str()
            .unwrap()
            .ends_with("<|im_start|>assistant\n")
    );
    assert!(
        completions[0]["completion"]
            .as_str()
            .unwrap()
            .ends_with("<|im_end|>\n")
    );

    // Pairs: siblings under the same parent, one reaching a correct answer, with the margin.
    env.run(&["export", "pairs"]).ok();
    let pairs = lines(&env, "default-r1-pairs.jsonl");
    assert!(!pairs.is_empty());
    assert_eq!(
        recorded_rows(&env, "default-r1-pairs.jsonl"),
        pairs.len() as i64
    );
    for pair in &pairs {
        let (parent, chosen, rejected) =
            (&pair["parent_id"], &pair["chosen_id"], &pair["rejected_id"]);
        assert_eq!(
            env.count(&format!("SELECT COUNT(*) FROM nodes WHERE id IN ({chosen}, {rejected}) AND parent_id = {parent}")),
            2
        );
        assert!(pair["chosen_q"].as_f64().unwrap() - pair["rejected_q"].as_f64().unwrap() >= 0.5);
        assert!(
            pair["prompt"]
                .as_str()
                .unwrap()
                .starts_with("<|im_start|>system\n")
        );
        let chosen_text = env.sql(&format!("SELECT step_text FROM nodes WHERE id = {chosen}"));
        assert_eq!(pair["chosen"], chosen_text[0]["step_text"]);
    }
    env.run(&[
        "export",
        "pairs",
        "--final-only",
        "--out",
        "solutions.jsonl",
    ])
    .ok();
    let solutions = lines(&env, "solutions.jsonl");
    assert!(solutions.iter().all(|p| p["chosen"] != p["rejected"]));
    assert_eq!(
        recorded_rows(&env, "solutions.jsonl"),
        solutions.len() as i64
    );

    // Step labels: every step with a graded leaf at or below it, which SQL counts too.
    env.run(&["export", "steps"]).ok();
    let steps = lines(&env, "default-r1-steps.jsonl");
    let explored = env.count(
        "WITH RECURSIVE up(anc) AS (SELECT id FROM nodes WHERE terminal = 1
             UNION SELECT n.parent_id FROM up JOIN nodes n ON n.id = up.anc WHERE n.parent_id IS NOT NULL)
         SELECT COUNT(*) FROM up JOIN nodes a ON a.id = up.anc WHERE a.parent_id IS NOT NULL",
    );
    assert_eq!(steps.len() as i64, explored);
    let step_keys = ["prompt", "step", "q", "label", "visits", "terminal"];
    assert_eq!(
        keys(&steps[0]),
        [&step_keys[..], &SOURCE, &["node_id", "depth"]].concat()
    );
    assert_eq!(recorded_rows(&env, "default-r1-steps.jsonl"), explored);
    assert!(steps.iter().any(|s| s["label"] == true) && steps.iter().any(|s| s["label"] == false));
    env.run(&["export", "steps", "--format", "stepwise"]).ok();
    let paths = lines(&env, "default-r1-stepwise.jsonl");
    assert_eq!(
        paths.len() as i64,
        env.count("SELECT COUNT(*) FROM nodes WHERE terminal = 1")
    );
    let stepwise_keys = ["prompt", "completions", "labels", "q"];
    assert_eq!(
        keys(&paths[0]),
        [&stepwise_keys[..], &SOURCE, &["leaf_id", "node_ids"]].concat()
    );
    for path in &paths {
        assert_eq!(
            path["completions"].as_array().unwrap().len(),
            path["labels"].as_array().unwrap().len()
        );
    }

    // The same database exports the same bytes again.
    let first = std::fs::read(env.path("default-r1-pairs.jsonl")).unwrap();
    env.run(&["export", "pairs"]).ok();
    assert_eq!(
        std::fs::read(env.path("default-r1-pairs.jsonl")).unwrap(),
        first
    );
}

#[test]
fn an_export_with_nothing_to_select_says_why_and_writes_nothing() {
    let env = Env::initialised();
    let stderr = env.run(&["export", "sft"]).fails();
    assert!(
        stderr.contains("has no round with trees; run `evolve search` first"),
        "{stderr}"
    );

    // One problem without a gold answer: its tree is stored as failed.
    env.import_fixture("mawps.jsonl", "mawps");
    env.run(&["sql", "--write", "UPDATE problems SET gold_answer = ''"])
        .ok();
    env.run(&[
        "search",
        "--dataset",
        "mawps",
        "--limit",
        "1",
        "--rollouts",
        "1",
    ])
    .ok();
    let stderr = env.run(&["export", "sft"]).fails();
    assert!(
        stderr.contains(
            "round 1 of default gives no sft rows: 1 trees read; skipped 1 trees that failed"
        ) && stderr.contains("nothing written"),
        "{stderr}"
    );
    assert!(!env.path("default-r1-sft.jsonl").exists());
    assert_eq!(env.count("SELECT COUNT(*) FROM exports"), 0);

    env.run(&["export", "sft", "--write-empty"]).ok();
    assert_eq!(
        std::fs::read(env.path("default-r1-sft.jsonl"))
            .unwrap()
            .len(),
        0
    );
    assert_eq!(env.count("SELECT COUNT(*) FROM exports WHERE rows = 0"), 1);

    let stderr = env.run(&["export", "pairs", "--round", "7"]).fails();
    assert!(
        stderr.contains("no round 7 of pipeline default"),
        "{stderr}"
    );
    let stderr = env
        .run(&["export", "pairs", "--model", "missing.gguf"])
        .fails();
    assert!(stderr.contains("missing.gguf"), "{stderr}");
}
