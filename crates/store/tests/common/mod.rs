//! A fresh database holding one dataset `d` with one problem, "What is 2 + 3?",
//! and problems to import beside it.

use evolve_store::{NewDataset, NewProblem, Store};

pub async fn store_with_one_problem() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::init(&dir.path().join("e.db")).await.unwrap();
    let problem = NewProblem {
        external_id: "p1".into(),
        question: "What is 2 + 3?".into(),
        gold_answer: "5".into(),
        reference_solution: None,
        level: None,
        subject: None,
        difficulty: None,
    };
    let dataset = NewDataset {
        name: "d".into(),
        format: "generic".into(),
        source: None,
    };
    store.import_problems(&dataset, &[problem]).await.unwrap();
    (dir, store)
}

/// A problem `id` whose answer is 1.
#[allow(dead_code)] // not every test file imports more problems
pub fn problem(id: &str) -> NewProblem {
    NewProblem {
        external_id: id.into(),
        question: format!("question {id}"),
        gold_answer: "1".into(),
        reference_solution: None,
        level: None,
        subject: None,
        difficulty: None,
    }
}

/// Imports a dataset `e` of the problems `ids` into `store`; returns their
/// database ids, in the same order.
#[allow(dead_code)] // not every test file imports more problems
pub async fn import_dataset_e(store: &Store, ids: &[&str]) -> Vec<i64> {
    let dataset = NewDataset {
        name: "e".into(),
        format: "generic".into(),
        source: None,
    };
    let problems: Vec<NewProblem> = ids.iter().map(|id| problem(id)).collect();
    store.import_problems(&dataset, &problems).await.unwrap();
    store
        .problems("e", None)
        .await
        .unwrap()
        .iter()
        .map(|p| p.id)
        .collect()
}
