//! What `evolve round` records: phases with attempts, seconds and figures,
//! the models a round trained, a finished round, and a redo that clears the
//! round's trees in one transaction.

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

    store
        .set_trained_model(round.id, "policy", model)
        .await
        .unwrap();
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
