//! What `evolve round` records: phases with attempts, seconds and figures,
//! the models a round trained, a finished round, a redo from a later phase
//! that keeps the trees, and a redo that clears the round's trees in one
//! transaction.

use evolve_store::{NewModel, NewNode, NewTree};

mod common;

#[tokio::test]
async fn phases_count_attempts_and_add_up_time_and_a_redo_clears_the_round() {
    let (_dir, store) = common::store_with_one_problem().await;
    let problem = store.problems("d", None).await.unwrap()[0].id;
    let round = store.create_round("p", 1, "{}", None).await.unwrap();
    let model = store
        .register_model(&NewModel {
            role: "policy".into(),
            round: 0,
            name: None,
            path: "/m.gguf".into(),
            format: "gguf".into(),
            sha256: "aa".into(),
        })
        .await
        .unwrap();
    store
        .set_round_plan(round.id, r#"{"name":"p"}"#, model, None)
        .await
        .unwrap();

    // A first attempt that was interrupted, then one that finished.
    store.start_phase(round.id, "search").await.unwrap();
    store
        .finish_phase(round.id, "search", "interrupted", 2.0, "{}")
        .await
        .unwrap();
    store.start_phase(round.id, "search").await.unwrap();
    let phases = store.round_phases(round.id).await.unwrap();
    assert_eq!(
        (phases[0].status.as_str(), phases[0].attempts),
        ("running", 2)
    );
    store
        .finish_phase(round.id, "search", "done", 3.0, r#"{"solved":1}"#)
        .await
        .unwrap();
    store.start_phase(round.id, "export").await.unwrap();
    let phases = store.round_phases(round.id).await.unwrap();
    assert_eq!(phases.len(), 2);
    assert_eq!(phases[0].seconds, 5.0);
    assert_eq!(phases[0].detail, r#"{"solved":1}"#);
    assert_eq!(phases[1].phase, "export");
    let rounds = store.pipeline_rounds("p").await.unwrap();
    assert_eq!(
        (rounds[0].phase.as_str(), rounds[0].status.as_str()),
        ("export", "running")
    );
    assert!(store.start_phase(round.id, "no-such-phase").await.is_err());

    for role in ["policy", "ppm"] {
        store
            .set_trained_model(round.id, role, model)
            .await
            .unwrap();
    }
    store.finish_round(round.id).await.unwrap();
    let record = &store.pipeline_rounds("p").await.unwrap()[0];
    assert_eq!(record.status, "done");
    assert_eq!(record.trained_policy_id, Some(model));
    assert!(record.finished_at.is_some() && record.plan.is_some());

    let node = |parent, depth| NewNode {
        parent,
        depth,
        ..NewNode::default()
    };
    store
        .insert_tree(&NewTree {
            round_id: round.id,
            problem_id: problem,
            status: "done".into(),
            seed: 0,
            rollouts: 1,
            solved: true,
            seconds: 1.0,
            tokens: 1,
            note: None,
            nodes: vec![node(None, 0), node(Some(0), 1), node(Some(1), 2)],
        })
        .await
        .unwrap();
    assert_eq!(store.round_solve_counts(round.id).await.unwrap(), (1, 1));

    // Redone from the export: the search's record and the trees stay.
    store
        .reset_phases(round.id, &["export", "train-policy"])
        .await
        .unwrap();
    let record = &store.pipeline_rounds("p").await.unwrap()[0];
    assert_eq!(
        (record.status.as_str(), record.phase.as_str()),
        ("running", "export")
    );
    assert!(record.trained_policy_id.is_none() && record.finished_at.is_none());
    // The PPM's phase was not cleared, so the round keeps its PPM.
    assert_eq!(record.trained_ppm_id, Some(model));
    let phases = store.round_phases(round.id).await.unwrap();
    assert_eq!(
        phases.iter().map(|p| p.phase.as_str()).collect::<Vec<_>>(),
        ["search"]
    );
    assert_eq!(store.round_solve_counts(round.id).await.unwrap(), (1, 1));

    store
        .reset_round(round.id, r#"{"new":true}"#)
        .await
        .unwrap();
    let record = &store.pipeline_rounds("p").await.unwrap()[0];
    assert_eq!(
        (record.status.as_str(), record.phase.as_str()),
        ("running", "search")
    );
    assert_eq!(
        (record.trained_policy_id, record.plan.as_deref()),
        (None, None)
    );
    assert!(store.round_phases(round.id).await.unwrap().is_empty());
    assert_eq!(store.round_solve_counts(round.id).await.unwrap(), (0, 0));
    let nodes = store
        .query("SELECT COUNT(*) AS n FROM nodes")
        .await
        .unwrap();
    assert_eq!(nodes.rows[0][0], evolve_store::Cell::Integer(0));
    assert_eq!(
        store.round("p", 1).await.unwrap().unwrap().config,
        r#"{"new":true}"#
    );
}

#[tokio::test]
async fn solved_before_names_the_problems_earlier_rounds_of_the_pipeline_solved() {
    let (_dir, store) = common::store_with_one_problem().await;
    let ids = common::import_dataset_e(&store, &["a", "b", "c"]).await;
    let tree = |round_id, problem_id, solved| NewTree {
        round_id,
        problem_id,
        status: "done".into(),
        seed: 0,
        rollouts: 1,
        solved,
        seconds: 1.0,
        tokens: 1,
        note: None,
        nodes: vec![NewNode::default()],
    };
    let p1 = store.create_round("p", 1, "{}", None).await.unwrap();
    let p2 = store.create_round("p", 2, "{}", None).await.unwrap();
    let p3 = store.create_round("p", 3, "{}", None).await.unwrap();
    let q1 = store.create_round("q", 1, "{}", None).await.unwrap();
    // a: solved in round 1; b: searched twice, never solved; c: solved only
    // in round 3 and by another pipeline.
    for (round, problem, solved) in [
        (p1.id, ids[0], true),
        (p1.id, ids[1], false),
        (p2.id, ids[1], false),
        (p3.id, ids[2], true),
        (q1.id, ids[2], true),
    ] {
        store
            .insert_tree(&tree(round, problem, solved))
            .await
            .unwrap();
    }
    let solved = |before| {
        let store = &store;
        async move {
            let mut ids: Vec<i64> = store
                .solved_before("p", before)
                .await
                .unwrap()
                .into_iter()
                .collect();
            ids.sort();
            ids
        }
    };
    assert_eq!(solved(1).await, Vec::<i64>::new());
    assert_eq!(solved(3).await, vec![ids[0]]);
    assert_eq!(solved(4).await, vec![ids[0], ids[2]]);
}

#[tokio::test]
async fn deleting_trees_takes_only_the_named_problems_of_the_round_with_their_nodes() {
    let (_dir, store) = common::store_with_one_problem().await;
    let ids = common::import_dataset_e(&store, &["a", "b"]).await;
    let node = |parent, depth| NewNode {
        parent,
        depth,
        ..NewNode::default()
    };
    let tree = |round_id, problem_id| NewTree {
        round_id,
        problem_id,
        status: "done".into(),
        seed: 0,
        rollouts: 1,
        solved: false,
        seconds: 1.0,
        tokens: 1,
        note: None,
        nodes: vec![node(None, 0), node(Some(0), 1), node(Some(1), 2)],
    };
    let r1 = store.create_round("p", 1, "{}", None).await.unwrap();
    let r2 = store.create_round("p", 2, "{}", None).await.unwrap();
    for (round, problem) in [(r1.id, ids[0]), (r1.id, ids[1]), (r2.id, ids[0])] {
        store.insert_tree(&tree(round, problem)).await.unwrap();
    }

    assert_eq!(store.delete_trees(r1.id, &[ids[0]]).await.unwrap(), 1);
    assert_eq!(
        store.searched_problems(r1.id).await.unwrap(),
        [ids[1]].into_iter().collect()
    );
    assert_eq!(
        store.searched_problems(r2.id).await.unwrap(),
        [ids[0]].into_iter().collect()
    );
    let nodes = store
        .query("SELECT COUNT(*) AS n FROM nodes")
        .await
        .unwrap();
    assert_eq!(nodes.rows[0][0], evolve_store::Cell::Integer(6));
    // A problem without a tree in the round deletes nothing.
    assert_eq!(store.delete_trees(r1.id, &[ids[0]]).await.unwrap(), 0);
}
