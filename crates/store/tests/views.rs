//! The SQL views (`trajectories`, `tree_stats`, `round_accuracy`) on a hand-built tree.

use evolve_store::{Cell, Store};

mod common;

async fn hand_built() -> (tempfile::TempDir, Store) {
    let (dir, store) = common::store_with_one_problem().await;
    // root ─┬─ a (q 0.5) ─┬─ c (q 1, answer 5, correct)
    //       │             └─ d (q -1, answer 6, wrong)
    //       └─ b (q -0.5) ─── e (q -1, answer 7, wrong, failed step check)
    for sql in [
        "INSERT INTO models (id, role, round, path, format, sha256) VALUES (1, 'policy', 0, 'base.gguf', 'gguf', 'aa')",
        "INSERT INTO models (id, role, round, path, format, sha256, parent_id) VALUES (2, 'policy', 1, 'r1.gguf', 'gguf', 'bb', 1)",
        "INSERT INTO rounds (id, pipeline, number, status) VALUES (1, 'test', 1, 'done')",
        "INSERT INTO trees (id, round_id, problem_id, seed, rollouts, solved) VALUES (1, 1, 1, 7, 3, 1)",
        "INSERT INTO nodes (id, tree_id, parent_id, depth, q) VALUES (1, 1, NULL, 0, 0)",
        "INSERT INTO nodes (id, tree_id, parent_id, depth, step_text, q, visits) VALUES (2, 1, 1, 1, 'a', 0.5, 2)",
        "INSERT INTO nodes (id, tree_id, parent_id, depth, step_text, q, visits) VALUES (3, 1, 1, 1, 'b', -0.5, 1)",
        "INSERT INTO nodes (id, tree_id, parent_id, depth, step_text, q, terminal, extracted_answer, correct, tokens)
         VALUES (4, 1, 2, 2, 'c', 1.0, 1, '5', 1, 10)",
        "INSERT INTO nodes (id, tree_id, parent_id, depth, step_text, q, terminal, extracted_answer, correct, tokens)
         VALUES (5, 1, 2, 2, 'd', -1.0, 1, '6', 0, 12)",
        "INSERT INTO nodes (id, tree_id, parent_id, depth, step_text, q, terminal, extracted_answer, correct, step_check, tokens)
         VALUES (6, 1, 3, 2, 'e', -1.0, 1, '7', 0, 'error', 8)",
        "INSERT INTO evaluations (id, model_id, dataset, strategy, budget, questions, correct) VALUES (1, 1, 'd', 'greedy', 1, 4, 1)",
        "INSERT INTO evaluations (id, round_id, model_id, dataset, strategy, budget, questions, correct)
         VALUES (2, 1, 2, 'd', 'maj', 8, 4, 3)",
    ] {
        store.query(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
    (dir, store)
}

fn int(c: &Cell) -> i64 {
    match c {
        Cell::Integer(i) => *i,
        other => panic!("expected an integer, got {other:?}"),
    }
}

fn real(c: &Cell) -> f64 {
    match c {
        Cell::Real(f) => *f,
        Cell::Integer(i) => *i as f64,
        other => panic!("expected a number, got {other:?}"),
    }
}

#[tokio::test]
async fn trajectories_are_root_to_leaf_paths_with_mean_and_min_q() {
    let (_dir, store) = hand_built().await;
    let rows = store
        .query("SELECT leaf_id, steps, mean_q, min_q, answer, correct, path FROM trajectories ORDER BY leaf_id")
        .await
        .unwrap();
    let got: Vec<(i64, i64, f64, f64, Cell, i64, Cell)> = rows
        .rows
        .iter()
        .map(|r| {
            (
                int(&r[0]),
                int(&r[1]),
                real(&r[2]),
                real(&r[3]),
                r[4].clone(),
                int(&r[5]),
                r[6].clone(),
            )
        })
        .collect();
    let text = |s: &str| Cell::Text(s.into());
    assert_eq!(
        got,
        vec![
            (4, 2, 0.75, 0.5, text("5"), 1, text("1,2,4")),
            (5, 2, -0.25, -1.0, text("6"), 0, text("1,2,5")),
            (6, 2, -0.75, -1.0, text("7"), 0, text("1,3,6")),
        ]
    );
}

#[tokio::test]
async fn tree_stats_counts_nodes_terminals_and_failed_steps() {
    let (_dir, store) = hand_built().await;
    let rows = store
        .query("SELECT nodes, max_depth, terminals, correct_terminals, failed_steps, tokens, solved FROM tree_stats")
        .await
        .unwrap();
    assert_eq!(rows.rows.len(), 1);
    let got: Vec<i64> = rows.rows[0].iter().map(int).collect();
    assert_eq!(got, [6, 2, 3, 1, 1, 30, 1]);
}

#[tokio::test]
async fn round_accuracy_covers_rounds_and_the_base_model() {
    let (_dir, store) = hand_built().await;
    let rows = store
        .query("SELECT round, strategy, budget, accuracy FROM round_accuracy ORDER BY round")
        .await
        .unwrap();
    let got: Vec<(i64, Cell, i64, f64)> = rows
        .rows
        .iter()
        .map(|r| (int(&r[0]), r[1].clone(), int(&r[2]), real(&r[3])))
        .collect();
    assert_eq!(
        got,
        vec![
            (0, Cell::Text("greedy".into()), 1, 0.25),
            (1, Cell::Text("maj".into()), 8, 0.75)
        ]
    );
}
