//! What a pipeline's rounds have measured so far: held-out accuracy per round
//! (round 0 is the policy the pipeline started from), read from the runs each
//! round's eval phase recorded, with their current totals.

use evolve_store::Store;
use serde_json::Value;

/// One evaluation run of a round's policy.
#[derive(Debug, Clone, PartialEq)]
pub struct AccuracyRow {
    /// The policy's round (0: the starting policy).
    pub round: i64,
    /// Dataset evaluated.
    pub dataset: String,
    /// Strategy.
    pub strategy: String,
    /// Questions graded.
    pub questions: i64,
    /// Of those, correct.
    pub correct: i64,
    /// Generated tokens per question.
    pub tokens_per_question: f64,
    /// The run's id in `evaluations`.
    pub evaluation_id: i64,
}

impl AccuracyRow {
    /// Share correct.
    pub fn accuracy(&self) -> f64 {
        if self.questions == 0 {
            0.0
        } else {
            self.correct as f64 / self.questions as f64
        }
    }
}

/// Every evaluation run the rounds of `pipeline` recorded, by round, dataset
/// and strategy as the pipeline lists them.
pub async fn accuracy_by_round(store: &Store, pipeline: &str) -> anyhow::Result<Vec<AccuracyRow>> {
    let mut rows = Vec::new();
    for round in store.pipeline_rounds(pipeline).await? {
        for phase in store.round_phases(round.id).await? {
            if phase.phase != "eval" {
                continue;
            }
            let detail: Value = serde_json::from_str(&phase.detail).unwrap_or_default();
            for run in detail["runs"].as_array().into_iter().flatten() {
                let Some(id) = run["evaluation_id"].as_i64() else {
                    continue;
                };
                let Some(totals) = store.evaluation_summary(id).await? else {
                    continue;
                };
                rows.push(AccuracyRow {
                    round: run["round"].as_i64().unwrap_or(round.number),
                    dataset: totals.dataset.clone(),
                    strategy: totals.strategy.clone(),
                    questions: totals.questions,
                    correct: totals.correct,
                    tokens_per_question: totals.tokens_per_question(),
                    evaluation_id: id,
                });
            }
        }
    }
    rows.sort_by_key(|r| r.round);
    Ok(rows)
}
