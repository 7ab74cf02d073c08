//! Rounds, models and whole-tree writes: a tree is stored entirely or not at all.

use evolve_store::{NewModel, NewNode, NewTree, Store};

mod common;

async fn store_with_problem() -> (tempfile::TempDir, Store, i64) {
    let (dir, store) = common::store_with_one_problem().await;
    let id = store.problems("d", None).await.unwrap()[0].id;
    (dir, store, id)
}

fn tree(round_id: i64, problem_id: i64) -> NewTree {
    let node = |parent, depth, text: &str| NewNode {
        parent,
        depth,
        step_text: text.into(),
        visits: 1,
        ..NewNode::default()
    };
    NewTree {
        round_id,
        problem_id,
        status: "done".into(),
        seed: 0,
        rollouts: 1,
        solved: true,
        seconds: 1.5,
        tokens: 12,
        note: None,
        nodes: vec![
            node(None, 0, ""),
            node(Some(0), 1, "2 + 3 = 5"),
            NewNode {
                terminal: true,
                correct: Some(true),
                q: 1.0,
                extracted_answer: Some("5".into()),
                ..node(Some(1), 2, "The answer is 5.")
            },
        ],
    }
}

#[tokio::test]
async fn a_tree_is_written_whole_once_per_round_and_problem() {
    let (_dir, store, problem) = store_with_problem().await;
    let model = NewModel {
        role: "policy".into(),
        round: 0,
        name: None,
        path: "m.gguf".into(),
        format: "gguf".into(),
        sha256: "ab".into(),
    };
    let model_id = store.register_model(&model).await.unwrap();
    assert_eq!(store.register_model(&model).await.unwrap(), model_id);
    let round = store
        .create_round("p", 1, "{}", Some(model_id))
        .await
        .unwrap();
    assert_eq!(store.round("p", 1).await.unwrap(), Some(round.clone()));

    let id = store.insert_tree(&tree(round.id, problem)).await.unwrap();
    let stored = store.tree(id).await.unwrap().unwrap();
    assert_eq!(stored.nodes.len(), 3);
    assert_eq!(stored.nodes[2].parent_id, Some(stored.nodes[1].id));
    assert_eq!(stored.nodes[2].correct, Some(true));
    assert!(
        store
            .searched_problems(round.id)
            .await
            .unwrap()
            .contains(&problem)
    );

    // A second tree for the same round and problem is refused and writes nothing.
    assert!(store.insert_tree(&tree(round.id, problem)).await.is_err());
    let nodes = store.query("SELECT COUNT(*) FROM nodes").await.unwrap();
    assert_eq!(
        format!("{:?}", nodes.rows[0][0]),
        format!("{:?}", evolve_store::Cell::Integer(3))
    );

    // A node naming a later parent is refused before anything is committed.
    let round2 = store.create_round("p", 2, "{}", None).await.unwrap();
    let mut bad = tree(round2.id, problem);
    bad.nodes[1].parent = Some(2);
    assert!(store.insert_tree(&bad).await.is_err());
    assert!(store.searched_problems(round2.id).await.unwrap().is_empty());
    assert_eq!(store.list_trees(None, None, 10).await.unwrap().len(), 1);
}
