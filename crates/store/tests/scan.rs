//! Streaming a round's trees for the exports, and recording what was exported.

use evolve_store::{Error, NewDataset, NewExport, NewNode, NewTree, StoredTree};

use common::problem;

mod common;

fn tree(round_id: i64, problem_id: i64, steps: usize, status: &str) -> NewTree {
    let mut nodes = vec![NewNode::default()];
    for i in 0..steps {
        nodes.push(NewNode {
            parent: Some(i),
            depth: i as i64 + 1,
            step_text: format!("step {i} of problem {problem_id}"),
            ..NewNode::default()
        });
    }
    NewTree {
        round_id,
        problem_id,
        status: status.into(),
        seed: 0,
        rollouts: 1,
        solved: false,
        seconds: 0.0,
        tokens: 0,
        note: None,
        nodes: if status == "failed" {
            Vec::new()
        } else {
            nodes
        },
    }
}

#[tokio::test]
async fn trees_stream_in_order_with_their_own_nodes_and_datasets_filter_them() {
    let (_dir, store) = common::store_with_one_problem().await;
    let other = NewDataset {
        name: "e".into(),
        format: "generic".into(),
        source: None,
    };
    store
        .import_problems(&other, &[problem("x"), problem("y")])
        .await
        .unwrap();
    let d = store.problems("d", None).await.unwrap();
    let e = store.problems("e", None).await.unwrap();
    let round = store.create_round("p", 1, "{}", None).await.unwrap();
    let later = store.create_round("p", 2, "{}", None).await.unwrap();
    // Interleave datasets and rounds; one tree failed and has no nodes.
    store
        .insert_tree(&tree(round.id, e[0].id, 3, "done"))
        .await
        .unwrap();
    store
        .insert_tree(&tree(later.id, e[0].id, 5, "done"))
        .await
        .unwrap();
    store
        .insert_tree(&tree(round.id, d[0].id, 2, "done"))
        .await
        .unwrap();
    store
        .insert_tree(&tree(round.id, e[1].id, 0, "failed"))
        .await
        .unwrap();

    let mut seen: Vec<StoredTree> = Vec::new();
    store
        .scan_trees(round.id, None, |t| -> Result<(), Error> {
            seen.push(t);
            Ok(())
        })
        .await
        .unwrap();
    let shape: Vec<(String, String, usize)> = seen
        .iter()
        .map(|t| (t.dataset.clone(), t.external_id.clone(), t.nodes.len()))
        .collect();
    // Problem order (d's problem was imported first), not storage order.
    assert_eq!(
        shape,
        [
            ("d".into(), "p1".into(), 3),
            ("e".into(), "x".into(), 4),
            ("e".into(), "y".into(), 0)
        ]
    );
    assert!(
        seen.iter()
            .all(|t| t.nodes.windows(2).all(|w| w[0].id < w[1].id))
    );
    assert!(
        seen[0]
            .nodes
            .iter()
            .skip(1)
            .all(|n| n.step_text.ends_with(&format!("problem {}", d[0].id)))
    );
    assert_eq!(seen[0].question, "What is 2 + 3?");

    let mut only_d = Vec::new();
    store
        .scan_trees(round.id, Some("d"), |t| -> Result<(), Error> {
            only_d.push(t.external_id);
            Ok(())
        })
        .await
        .unwrap();
    assert_eq!(only_d, ["p1"]);

    // The visitor's error stops the scan and comes back.
    let mut calls = 0;
    let err = store
        .scan_trees(round.id, None, |_| {
            calls += 1;
            Err(Error::Invalid("stop".into()))
        })
        .await
        .unwrap_err();
    assert_eq!((calls, err.to_string()), (1, "stop".to_owned()));

    assert_eq!(
        store
            .latest_searched_round("p")
            .await
            .unwrap()
            .unwrap()
            .number,
        2
    );
    assert!(store.latest_searched_round("q").await.unwrap().is_none());
    let id = store
        .record_export(&NewExport {
            kind: "sft".into(),
            format: "messages".into(),
            round_id: round.id,
            dataset: None,
            path: "/tmp/x.jsonl".into(),
            rows: 3,
            problems: 2,
            sha256: "ab".into(),
            options: "{}".into(),
        })
        .await
        .unwrap();
    assert!(id > 0);
    let bad_kind = store
        .record_export(&NewExport {
            kind: "other".into(),
            format: "x".into(),
            round_id: round.id,
            dataset: None,
            path: "p".into(),
            rows: 0,
            problems: 0,
            sha256: "".into(),
            options: "{}".into(),
        })
        .await;
    assert!(bad_kind.is_err());
}
