//! `evolve round` and `evolve status` on the default model with a tiny
//! pipeline: the three MAWPS fixture problems as the pool, the three SVAMP
//! fixture problems held out, small search and training budgets. Two rounds
//! end to end, a kill during search and one during training each resumed to
//! the same counts, and configuration errors.

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::util::Env;

const TINY: &str = r#"
extends = "default"
name = "tiny"

[search]
rollouts = 8
candidates = 4
max_step_tokens = 64
max_depth = 6

[data]
pool = ["mawps"]
held_out = ["svamp"]

[train.policy]
epochs = 1
# Small steps: the test is about the plumbing, and round 2 should still solve the Luke problem.
lr = 1e-5
batch_size = 2
grad_accum = 1
held_out = 0.0
lora_rank = 4
lora_layers = 4

[train.ppm]
# Round 2's PPM trains on both rounds' pairs.
data = "all"
epochs = 1
batch_size = 2
grad_accum = 1
held_out = 0.0
min_pairs = 1

[eval]
strategies = ["greedy"]
limit = 1
"#;

fn tiny() -> Env {
    let env = Env::initialised();
    env.import_fixture("mawps.jsonl", "mawps");
    env.import_fixture("svamp.jsonl", "svamp");
    std::fs::write(env.path("tiny.toml"), TINY).unwrap();
    env
}

/// What two rounds leave in the database, for comparing runs.
fn counts(env: &Env) -> Vec<(String, i64)> {
    [
        ("rounds done", "SELECT COUNT(*) FROM rounds WHERE pipeline = 'tiny' AND status = 'done'"),
        ("trees r1", "SELECT COUNT(*) FROM trees t JOIN rounds r ON r.id = t.round_id WHERE r.number = 1"),
        ("trees r2", "SELECT COUNT(*) FROM trees t JOIN rounds r ON r.id = t.round_id WHERE r.number = 2"),
        ("solved r1", "SELECT COUNT(*) FROM trees t JOIN rounds r ON r.id = t.round_id WHERE r.number = 1 AND t.solved = 1"),
        ("nodes r1", "SELECT COUNT(*) FROM nodes n JOIN trees t ON t.id = n.tree_id JOIN rounds r ON r.id = t.round_id WHERE r.number = 1"),
        ("sft rows r1", "SELECT rows FROM exports e JOIN rounds r ON r.id = e.round_id WHERE r.number = 1 AND kind = 'sft' ORDER BY e.id DESC LIMIT 1"),
        ("pair rows r1", "SELECT rows FROM exports e JOIN rounds r ON r.id = e.round_id WHERE r.number = 1 AND kind = 'pairs' ORDER BY e.id DESC LIMIT 1"),
        ("policies", "SELECT COUNT(*) FROM models WHERE role = 'policy'"),
        ("ppms", "SELECT COUNT(*) FROM models WHERE role = 'ppm'"),
        ("evaluations", "SELECT COUNT(*) FROM evaluations"),
        ("graded", "SELECT COUNT(*) FROM evaluation_results"),
        ("phases done", "SELECT COUNT(*) FROM round_phases WHERE status IN ('done', 'skipped')"),
    ]
    .into_iter()
    .map(|(name, sql)| (name.to_owned(), env.count(sql)))
    .collect()
}

/// The messages of round 1's SFT export, row by row: what its training read.
fn sft_messages(env: &Env) -> Vec<serde_json::Value> {
    let export = env.sql(
        "SELECT path FROM exports e JOIN rounds r ON r.id = e.round_id \
         WHERE r.number = 1 AND kind = 'sft' ORDER BY e.id DESC LIMIT 1",
    );
    let text = std::fs::read_to_string(export[0]["path"].as_str().unwrap()).unwrap();
    text.lines()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap()["messages"].clone())
        .collect()
}

fn round(env: &Env, extra: &[&str]) -> crate::util::Run {
    let mut args = vec!["round", "--pipeline", "tiny.toml"];
    args.extend_from_slice(extra);
    env.run(&args)
}

fn spawn_round(env: &Env) -> Child {
    env.command()
        .args(["round", "--pipeline", "tiny.toml"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// Kills `child` with SIGKILL (a crash, not a clean stop) once `sql` counts
/// at least one row; panics if the run ends first.
fn kill_when(env: &Env, child: &mut Child, sql: &str) {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the round ended ({status}) before `{sql}` held");
        }
        // The database may be busy being written; a failed read just waits.
        let run = env.run(&["sql", "--json", sql]);
        if run.status.success()
            && run
                .json_lines()
                .first()
                .and_then(|r| r.as_object()?.values().next()?.as_i64())
                >= Some(1)
        {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "timed out waiting for `{sql}`"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn two_rounds_run_resume_after_kills_and_report() {
    // Uninterrupted: round 1, then `evolve round` again runs round 2.
    let env = tiny();
    let first = round(&env, &[]).ok();
    assert!(
        first.stderr.contains("round 1 of pipeline tiny finished"),
        "{}",
        first.stderr
    );
    assert!(
        first.stdout.contains("held-out accuracy"),
        "{}",
        first.stdout
    );
    let after_round_1 = counts(&env);
    let round_1_rows = sft_messages(&env);
    let second = round(&env, &[]).ok();
    assert!(
        second.stderr.contains("round 2 of pipeline tiny finished"),
        "{}",
        second.stderr
    );
    let reference = counts(&env);
    let get = |name: &str| reference.iter().find(|(n, _)| n == name).unwrap().1;
    assert_eq!(get("rounds done"), 2);
    assert_eq!((get("trees r1"), get("trees r2")), (3, 3));
    assert!(get("solved r1") >= 1, "{reference:?}");
    assert!(
        get("sft rows r1") >= 1 && get("pair rows r1") >= 1,
        "{reference:?}"
    );
    // The base policy, and the policy and PPM of each round that had data to
    // train on (a model that comes out byte for byte the same is one model).
    let trained = |phase: &str, column: &str| {
        let phases = env.count(&format!(
            "SELECT COUNT(*) FROM round_phases WHERE phase = '{phase}' AND status = 'done'"
        ));
        assert_eq!(
            phases,
            env.count(&format!(
                "SELECT COUNT(*) FROM rounds WHERE {column} IS NOT NULL"
            ))
        );
        env.count(&format!("SELECT COUNT(DISTINCT {column}) FROM rounds"))
    };
    let (policies, ppms) = (
        trained("train-policy", "trained_policy_id"),
        trained("train-ppm", "trained_ppm_id"),
    );
    assert!(policies >= 1 && ppms >= 1, "{reference:?}");
    assert_eq!(
        (get("policies"), get("ppms")),
        (1 + policies, ppms),
        "{reference:?}"
    );
    // Greedy on 1 question: the base model (round 0) and each trained policy.
    assert_eq!(get("evaluations"), 1 + policies, "{reference:?}");
    assert_eq!(get("graded"), get("evaluations"), "{reference:?}");
    assert_eq!(get("phases done"), 10);
    assert_eq!(
        env.count("SELECT COUNT(*) FROM exports"),
        4,
        "SFT and pairs of both rounds"
    );

    // Round 2 searched with round 1's policy and PPM, and its trees carry PPM scores.
    let r1_policy =
        env.sql("SELECT trained_policy_id AS id FROM rounds WHERE number = 1")[0]["id"].clone();
    let r1_ppm =
        env.sql("SELECT trained_ppm_id AS id FROM rounds WHERE number = 1")[0]["id"].clone();
    let r2 = &env.sql("SELECT policy_model_id, ppm_model_id FROM rounds WHERE number = 2")[0];
    assert_eq!(
        (&r2["policy_model_id"], &r2["ppm_model_id"]),
        (&r1_policy, &r1_ppm)
    );
    assert!(
        env.count("SELECT COUNT(*) FROM nodes n JOIN trees t ON t.id = n.tree_id JOIN rounds r ON r.id = t.round_id WHERE r.number = 2 AND n.ppm_score IS NOT NULL") > 0
    );
    assert_eq!(
        env.count("SELECT COUNT(*) FROM models WHERE role = 'policy' AND round = 1 AND path LIKE '%runs/tiny/policy-r1.gguf'"),
        1
    );
    assert!(
        env.path("runs/tiny/round-1.log").is_file() && env.path("runs/tiny/r2-sft.jsonl").is_file()
    );
    // `data = "all"`: round 2's PPM trained on the pairs of rounds 1 and 2.
    let pairs_of_both = env.count("SELECT SUM(rows) FROM exports WHERE kind = 'pairs'");
    let all_pairs = std::fs::read_to_string(env.path("runs/tiny/r2-pairs-all.jsonl")).unwrap();
    assert_eq!(all_pairs.lines().count() as i64, pairs_of_both);
    assert_eq!(
        env.count("SELECT json_extract(detail, '$.rows') FROM round_phases p JOIN rounds r ON r.id = p.round_id WHERE r.number = 2 AND p.phase = 'train-ppm'"),
        pairs_of_both
    );
    let log = std::fs::read_to_string(env.path("runs/tiny/round-2.log")).unwrap();
    assert!(
        log.contains("phase ends") && log.contains("tree stored"),
        "{log}"
    );

    // A finished round is not redone; status shows both rounds and the accuracy.
    let refused = round(&env, &["--round", "1"]).fails();
    assert!(refused.contains("has finished; pass --redo"), "{refused}");
    // Round 2 again from its policy training, with two epochs and the new
    // policy a soup of two seeds averaged with round 1's: the search and
    // export stay as they were. Only the newest round can be redone, and not
    // with a setting the kept phases read changed.
    let nodes = env.count("SELECT COUNT(*) FROM nodes");
    let two_epochs = TINY.replace(
        "[train.policy]\nepochs = 1",
        "[train.policy]\nepochs = 2\naverage_previous = [0, 0.5]\nsoup = [1, 2]",
    );
    assert_ne!(two_epochs, TINY);
    std::fs::write(env.path("tiny.toml"), &two_epochs).unwrap();
    let refused = round(&env, &["--round", "1", "--redo-from", "train-policy"]).fails();
    assert!(refused.contains("only the newest round"), "{refused}");
    let redone = round(&env, &["--round", "2", "--redo-from", "train-policy"]).ok();
    for needle in [
        "phases from train-policy on were cleared",
        "search already done",
        "export already done",
        "round 2 of pipeline tiny finished",
    ] {
        assert!(
            redone.stderr.contains(needle),
            "{needle}: {}",
            redone.stderr
        );
    }
    assert_eq!(env.count("SELECT COUNT(*) FROM nodes"), nodes);
    assert_eq!(
        env.count("SELECT COUNT(*) FROM round_phases WHERE status IN ('done', 'skipped')"),
        10
    );
    assert_eq!(
        env.count(
            "SELECT json_extract(plan, '$.train.policy.epochs') FROM rounds WHERE number = 2"
        ),
        2
    );
    let averaged = env.sql(
        "SELECT m.path, json_extract(m.metrics, '$.averaged') AS averaged, p.path AS previous, \
         json_extract(m.metrics, '$.soup') AS soup \
         FROM rounds r JOIN models m ON m.id = r.trained_policy_id \
         JOIN models p ON p.id = r.policy_model_id WHERE r.number = 2",
    );
    let policy = averaged[0]["path"].as_str().unwrap();
    let record: serde_json::Value =
        serde_json::from_str(averaged[0]["averaged"].as_str().unwrap()).unwrap();
    assert_eq!(record["weight"], 0.5, "{record}");
    assert_eq!(record["with"], averaged[0]["previous"], "{record}");
    assert!(policy.ends_with("policy-r2.gguf"), "{policy}");
    assert!(
        std::path::Path::new(&policy.replace(".gguf", ".finetuned.gguf")).exists(),
        "{policy}"
    );
    let soup: serde_json::Value =
        serde_json::from_str(averaged[0]["soup"].as_str().unwrap()).unwrap();
    let members = soup.as_array().unwrap();
    assert_eq!(members.len(), 2, "{soup}");
    for (seed, member) in members.iter().enumerate() {
        assert_eq!(member["seed"], seed as u64, "{soup}");
        let path = member["path"].as_str().unwrap();
        assert!(
            path.ends_with(&format!("policy-r2.seed{seed}.gguf")),
            "{path}"
        );
        assert!(std::path::Path::new(path).exists(), "{path}");
    }
    std::fs::write(
        env.path("tiny.toml"),
        two_epochs.replace("rollouts = 8", "rollouts = 7"),
    )
    .unwrap();
    let refused = round(&env, &["--round", "2", "--redo-from", "train-policy"]).fails();
    assert!(refused.contains("search.rollouts"), "{refused}");

    // From the search, a redo keeps the trees of the problems still in the
    // pool: narrowed to two problems it deletes the third's tree, widened
    // again it grows that one alone. The settings the trees were grown with
    // must stay as they were.
    let refused = round(&env, &["--round", "2", "--redo-from", "search"]).fails();
    assert!(
        refused.contains("search.rollouts") && refused.contains("--redo"),
        "{refused}"
    );
    assert_eq!(
        env.count("SELECT COUNT(*) FROM round_phases WHERE status IN ('done', 'skipped')"),
        10
    );
    let round_2_trees = || -> Vec<i64> {
        env.sql("SELECT t.id FROM trees t JOIN rounds r ON r.id = t.round_id WHERE r.number = 2 ORDER BY t.problem_id")
            .iter()
            .map(|row| row["id"].as_i64().unwrap())
            .collect()
    };
    let grown = round_2_trees();
    assert_eq!(grown.len(), 3);
    let narrow = TINY.replace("pool = [\"mawps\"]", "pool = [\"mawps\"]\npool_limit = 2");
    assert_ne!(narrow, TINY);
    std::fs::write(env.path("tiny.toml"), &narrow).unwrap();
    let redone = round(&env, &["--round", "2", "--redo-from", "search"]).ok();
    assert!(
        redone
            .stderr
            .contains("1 trees of problems no longer in the pool were deleted")
            && redone
                .stderr
                .contains("2 problems already have a tree in this round")
            && redone.stderr.contains("round 2 of pipeline tiny finished"),
        "{}",
        redone.stderr
    );
    assert_eq!(round_2_trees(), grown[..2]);
    std::fs::write(env.path("tiny.toml"), TINY).unwrap();
    let redone = round(&env, &["--round", "2", "--redo-from", "search"]).ok();
    assert!(
        redone
            .stderr
            .contains("2 problems already have a tree in this round")
            && redone.stderr.contains("round 2 of pipeline tiny finished"),
        "{}",
        redone.stderr
    );
    let widened = round_2_trees();
    assert_eq!((widened.len(), &widened[..2]), (3, &grown[..2]));
    let searched = env.sql(
        "SELECT json_extract(p.detail, '$.datasets[0].searched') AS searched, \
         json_extract(p.detail, '$.datasets[0].already_stored') AS kept \
         FROM round_phases p JOIN rounds r ON r.id = p.round_id \
         WHERE r.number = 2 AND p.phase = 'search'",
    );
    assert_eq!(
        (&searched[0]["searched"], &searched[0]["kept"]),
        (&serde_json::json!(1), &serde_json::json!(2))
    );
    assert_eq!(
        env.count("SELECT COUNT(*) FROM round_phases WHERE status IN ('done', 'skipped')"),
        10
    );

    let status = env.run(&["status"]).ok();
    for needle in [
        "train-policy",
        "train-ppm",
        "held-out accuracy",
        "greedy",
        "-> policy-r1.gguf",
    ] {
        assert!(
            status.stdout.contains(needle),
            "{needle}: {}",
            status.stdout
        );
    }
    let rows = env.run(&["status", "--json"]).ok().json_lines();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[1]["phases"].as_array().unwrap().len(), 5);

    // Killed during round 1's search, then during its policy training: each
    // rerun resumes and round 1 ends as the uninterrupted run's did, down to
    // the order of its SFT rows (an export goes in problem order, not in the
    // order the resumed search stored its trees), so it trains the same.
    let env = tiny();
    let mut child = spawn_round(&env);
    kill_when(&env, &mut child, "SELECT COUNT(*) FROM trees");
    assert!(
        env.count("SELECT COUNT(*) FROM trees") < 3,
        "the kill came after the whole search"
    );
    let mut child = spawn_round(&env);
    kill_when(
        &env,
        &mut child,
        "SELECT COUNT(*) FROM round_phases WHERE phase = 'train-policy' AND status = 'running'",
    );
    assert_eq!(env.count("SELECT COUNT(*) FROM round_phases WHERE phase = 'search' AND status = 'done' AND attempts = 2"), 1);
    let resumed = round(&env, &[]).ok();
    assert!(
        resumed.stderr.contains("search already done"),
        "{}",
        resumed.stderr
    );
    assert!(
        resumed
            .stderr
            .contains("train-policy (resuming; attempt 2)"),
        "{}",
        resumed.stderr
    );
    assert_eq!(counts(&env), after_round_1);
    assert_eq!(sft_messages(&env), round_1_rows);
}

#[test]
fn configuration_errors_name_the_problem() {
    let env = tiny();
    let fails = |name: &str, text: &str| {
        std::fs::write(env.path(name), text).unwrap();
        env.run(&["round", "--pipeline", name]).fails()
    };

    let err = fails(
        "unknown.toml",
        &TINY.replace("[eval]", "[eval]\nstrategy = \"greedy\""),
    );
    assert!(
        err.contains("unknown field `strategy`") && err.contains("unknown.toml"),
        "{err}"
    );

    let err = fails(
        "missing.toml",
        &TINY.replace(
            "[data]",
            "[models]\npolicy = \"no-such-model.gguf\"\n\n[data]",
        ),
    );
    assert!(
        err.contains("no-such-model.gguf") && err.contains("not a file"),
        "{err}"
    );

    let err = fails(
        "empty.toml",
        &TINY.replace("pool = [\"mawps\"]", "pool = []"),
    );
    assert!(err.contains("pool is empty"), "{err}");

    let err = fails(
        "unknown-set.toml",
        &TINY.replace("pool = [\"mawps\"]", "pool = [\"mawps-nonesuch\"]"),
    );
    assert!(
        err.contains("mawps-nonesuch") && err.contains("not a standard set"),
        "{err}"
    );

    let err = fails(
        "unsplit.toml",
        &TINY.replace("held_out = [\"svamp\"]", "held_out = [\"mawps\"]"),
    );
    assert!(err.contains("not split"), "{err}");

    let err = fails(
        "strategy.toml",
        &TINY.replace("[\"greedy\"]", "[\"greedy\", \"maj@\"]"),
    );
    assert!(err.contains("maj@"), "{err}");

    // A second round on a database another one is running on is refused;
    // the lock goes with the process that held it.
    let held = std::fs::File::create(env.path("evolve.db.round-lock")).unwrap();
    held.lock().unwrap();
    let err = env.run(&["round", "--pipeline", "tiny.toml"]).fails();
    assert!(
        err.contains("another `evolve round` is running") && err.contains("evolve.db"),
        "{err}"
    );
    drop(held);

    // Nothing of these runs was stored.
    assert_eq!(env.count("SELECT COUNT(*) FROM rounds"), 0);
    let err = env.run(&["status"]).fails();
    assert!(err.contains("no rounds yet"), "{err}");
}
