//! `evolve search` and `evolve tree` with the default model (scripts/fetch-model.sh)
//! on the three MAWPS problems of tests/fixtures/mawps.jsonl.

use std::time::{Duration, Instant};

use crate::util::Env;

/// Small settings so a search takes seconds: 4 candidates, short steps, depth 4.
const SMALL: &[&str] = &[
    "--candidates",
    "4",
    "--max-step-tokens",
    "48",
    "--max-depth",
    "4",
];

fn search(env: &Env, extra: &[&str]) -> crate::util::Run {
    let mut args = vec!["search", "--dataset", "mawps"];
    args.extend_from_slice(SMALL);
    args.extend_from_slice(extra);
    env.run(&args)
}

fn mawps() -> Env {
    let env = Env::initialised();
    env.import_fixture("mawps.jsonl", "mawps");
    env
}

#[test]
fn searches_stores_trees_that_the_views_read_and_reruns_skip_them() {
    let env = mawps();
    let run = search(&env, &["--rollouts", "4"]).ok();
    assert!(run.stdout.contains("3 problems searched"), "{}", run.stdout);
    assert!(run.stdout.contains("solve rate"), "{}", run.stdout);
    assert!(run.stdout.contains("prefix-cache hit"), "{}", run.stdout);

    assert_eq!(
        env.count("SELECT COUNT(*) FROM trees WHERE status = 'done' AND rollouts = 4"),
        3
    );
    // Each leaf's reward reached the root when the leaf was made, and again on
    // each rollout that revisited it; the root's Q is the mean reward.
    let roots = env.sql("SELECT n.visits, n.value_sum, n.q FROM nodes n WHERE n.parent_id IS NULL");
    assert_eq!(roots.len(), 3);
    for root in &roots {
        assert!(root["visits"].as_i64().unwrap() >= 4);
        let q = root["q"].as_f64().unwrap();
        let mean = root["value_sum"].as_f64().unwrap() / root["visits"].as_f64().unwrap();
        assert!((q - mean).abs() < 1e-9 && (-1.0..=1.0).contains(&q));
    }
    // Every terminal node is graded and carries its reward; visits through inner nodes add up.
    assert_eq!(
        env.count(
            "SELECT COUNT(*) FROM nodes WHERE terminal = 1 AND (correct IS NULL OR visits = 0)"
        ),
        0
    );
    assert_eq!(env.count("SELECT COUNT(*) FROM nodes WHERE terminal = 1 AND q != CASE correct WHEN 1 THEN 1.0 ELSE -1.0 END"), 0);
    assert_eq!(
        env.count(
            "SELECT COUNT(*) FROM nodes p WHERE p.terminal = 0 AND EXISTS (SELECT 1 FROM nodes c WHERE c.parent_id = p.id)
             AND p.visits != (SELECT SUM(c.visits) FROM nodes c WHERE c.parent_id = p.id)"
        ),
        0
    );
    assert!(env.count("SELECT MAX(depth) FROM nodes") <= 4);
    // The trajectories view reads the stored trees: terminal leaves with mean and min Q.
    let terminal = env
        .sql("SELECT tree_id, steps, mean_q, min_q, correct FROM trajectories WHERE terminal = 1");
    assert!(terminal.len() >= 3, "{terminal:?}");
    assert!(terminal.iter().all(|t| t["steps"].as_i64().unwrap() >= 1
        && t["min_q"].as_f64().unwrap() <= t["mean_q"].as_f64().unwrap() + 1e-9));
    assert_eq!(
        env.count("SELECT COUNT(*) FROM tree_stats WHERE nodes > 1"),
        3
    );
    assert_eq!(env.count("SELECT COUNT(*) FROM rounds WHERE pipeline = 'default' AND number = 1 AND policy_model_id IS NOT NULL"), 1);

    // A rerun finds every tree stored and grows none.
    let nodes = env.count("SELECT COUNT(*) FROM nodes");
    let again = search(&env, &["--rollouts", "4"]).ok();
    assert!(
        again
            .stdout
            .contains("0 problems searched, 3 already stored"),
        "{}",
        again.stdout
    );
    assert_eq!(env.count("SELECT COUNT(*) FROM nodes"), nodes);

    // Other settings in the same round are refused; another round takes them.
    let stderr = search(&env, &["--rollouts", "4", "--step-format", "code"]).fails();
    assert!(
        stderr.contains("other settings") && stderr.contains("search.step_format"),
        "{stderr}"
    );
    search(&env, &["--rollouts", "4", "--seed", "9", "--round", "2"]).ok();
    assert_eq!(env.count("SELECT COUNT(*) FROM trees"), 6);
}

#[test]
fn same_seed_same_trees() {
    let a = mawps();
    let b = mawps();
    let args = ["--limit", "1", "--rollouts", "3"];
    search(&a, &args).ok();
    search(&b, &args).ok();
    let shape = "SELECT depth, step_text, visits, q, terminal FROM nodes ORDER BY id";
    assert_eq!(a.sql(shape), b.sql(shape));
}

#[test]
fn code_steps_run_in_the_sandbox() {
    let env = mawps();
    search(
        &env,
        &["--limit", "1", "--rollouts", "3", "--step-format", "code"],
    )
    .ok();
    assert_eq!(env.count("SELECT COUNT(*) FROM trees"), 1);
    // Whatever the model wrote, each step with code was run and its result kept.
    assert_eq!(env.count("SELECT COUNT(*) FROM nodes WHERE code IS NOT NULL AND (exec_output IS NULL OR step_check IS NULL)"), 0);
}

#[test]
fn a_problem_without_gold_answer_is_skipped_and_recorded() {
    let env = mawps();
    env.run(&["sql", "--write", "UPDATE problems SET gold_answer = '' WHERE external_id = (SELECT MIN(external_id) FROM problems)"]).ok();
    let run = search(&env, &["--limit", "2", "--rollouts", "1"]).ok();
    assert!(
        run.stderr.contains("warning: skipping problem") && run.stderr.contains("no gold answer"),
        "{}",
        run.stderr
    );
    assert!(
        run.stdout
            .contains("1 problems searched, 0 already stored, 1 skipped"),
        "{}",
        run.stdout
    );
    assert_eq!(
        env.count(
            "SELECT COUNT(*) FROM trees WHERE status = 'failed' AND note LIKE '%no gold answer%'"
        ),
        1
    );
}

#[test]
fn tree_list_and_show() {
    let env = mawps();
    search(&env, &["--limit", "1", "--rollouts", "2"]).ok();
    let list = env.run(&["tree", "list"]).ok().stdout;
    assert!(
        list.starts_with("id") && list.contains("mawps") && list.contains("default"),
        "{list}"
    );
    let id = env.count("SELECT MIN(id) FROM trees").to_string();

    let outline = env.run(&["tree", "show", &id]).ok().stdout;
    // The root's visit count depends on how many candidates the model's steps
    // end in, so it is read back from the store rather than assumed.
    let root = |column: &str| {
        env.count(&format!(
            "SELECT {column} FROM nodes WHERE tree_id = {id} AND parent_id IS NULL"
        ))
    };
    let (root_id, root_visits) = (root("id"), root("visits"));
    assert!(
        root_visits >= 2,
        "two rollouts visit the root at least twice"
    );
    assert!(
        outline.contains("question:") && outline.contains(&format!("#{root_id} N={root_visits} ")),
        "{outline}"
    );
    let lines = outline
        .lines()
        .filter(|l| l.trim_start().starts_with('#'))
        .count() as i64;
    assert_eq!(lines, env.count("SELECT COUNT(*) FROM nodes"));

    let dot = env.run(&["tree", "show", &id, "--dot"]).ok().stdout;
    assert!(dot.starts_with("digraph") && dot.contains("->"), "{dot}");

    let json: serde_json::Value =
        serde_json::from_str(&env.run(&["tree", "show", &id, "--json"]).ok().stdout).unwrap();
    assert_eq!(
        json["nodes"].as_array().unwrap().len() as i64,
        env.count("SELECT COUNT(*) FROM nodes")
    );
    assert!(json["nodes"][0]["parent_id"].is_null());

    let stderr = env.run(&["tree", "show", "999"]).fails();
    assert!(stderr.contains("no tree 999"), "{stderr}");
}

/// Kills a search with SIGKILL once a tree is stored, then reruns it: the stored
/// trees are whole, kept, and not duplicated, and the rest are grown.
#[test]
fn a_killed_search_resumes_without_losing_or_duplicating_trees() {
    let env = mawps();
    let mut args = vec![
        "search",
        "--dataset",
        "mawps",
        "--trees-in-flight",
        "1",
        "--rollouts",
        "4",
    ];
    args.extend_from_slice(SMALL);
    let mut child = env
        .command()
        .args(&args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let trees = loop {
        std::thread::sleep(Duration::from_millis(200));
        let n = env.run(&["sql", "--json", "SELECT COUNT(*) AS n FROM trees"]);
        let n = if n.status.success() {
            n.json_lines()[0]["n"].as_i64().unwrap()
        } else {
            0
        };
        if n >= 1 || child.try_wait().unwrap().is_some() {
            break n;
        }
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "no tree stored in 10 minutes"
        );
    };
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(trees >= 1);
    let stored = env.count("SELECT COUNT(*) FROM trees");
    // Every stored tree is whole: a root with at least a visit per rollout, and
    // as many visits as its terminal leaves.
    assert_eq!(
        env.count("SELECT COUNT(*) FROM nodes WHERE parent_id IS NULL"),
        stored
    );
    assert_eq!(env.count("SELECT COUNT(*) FROM trees t JOIN nodes n ON n.tree_id = t.id AND n.parent_id IS NULL WHERE n.visits < t.rollouts"), 0);
    assert_eq!(
        env.count(
            "SELECT COUNT(*) FROM nodes r WHERE r.parent_id IS NULL
             AND r.visits != (SELECT SUM(l.visits) FROM nodes l WHERE l.tree_id = r.tree_id AND l.terminal = 1)"
        ),
        0
    );
    let before = env.sql("SELECT t.id, t.problem_id, (SELECT COUNT(*) FROM nodes n WHERE n.tree_id = t.id) AS nodes FROM trees t ORDER BY t.id");

    let run = env.run(&args).ok();
    assert!(
        run.stdout.contains(&format!(
            "{} problems searched, {stored} already stored",
            3 - stored
        )),
        "{}",
        run.stdout
    );
    assert_eq!(env.count("SELECT COUNT(*) FROM trees"), 3);
    assert_eq!(env.count("SELECT COUNT(DISTINCT problem_id) FROM trees"), 3);
    let after = env.sql("SELECT t.id, t.problem_id, (SELECT COUNT(*) FROM nodes n WHERE n.tree_id = t.id) AS nodes FROM trees t ORDER BY t.id");
    assert_eq!(after[..before.len()], before[..]);
    assert_eq!(
        env.count("SELECT COUNT(*) FROM nodes WHERE parent_id IS NULL"),
        3
    );
}
