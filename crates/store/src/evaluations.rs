//! What `evolve eval` records: a run per settings (a rerun resumes it), a row
//! per graded question written with the run's totals in one transaction, and
//! the calibration tables of `auto`.

use std::collections::HashSet;

use sqlx::FromRow;

use crate::db::Store;
use crate::error::{Result, SqlxContext};

/// An evaluation run to open.
#[derive(Debug, Clone)]
pub struct NewEvaluation {
    /// Hash of the settings that define the run; the same key resumes it.
    pub run_key: String,
    /// The policy evaluated.
    pub model_id: i64,
    /// The PPM the strategy used, if any.
    pub ppm_id: Option<i64>,
    /// Dataset name.
    pub dataset: String,
    /// Split evaluated, if the dataset is split.
    pub split: Option<String>,
    /// The strategy's name (`maj@8`).
    pub strategy: String,
    /// Its budget in samples.
    pub budget: i64,
    /// Sampling seed.
    pub seed: i64,
    /// All settings, as JSON.
    pub config: String,
}

/// One graded question.
#[derive(Debug, Clone)]
pub struct NewResult {
    /// The run.
    pub evaluation_id: i64,
    /// The problem.
    pub problem_id: i64,
    /// The chosen solution's text.
    pub response: String,
    /// The chosen answer.
    pub answer: Option<String>,
    /// Whether it equals the gold answer.
    pub correct: bool,
    /// Tokens generated for the question.
    pub tokens: i64,
    /// Wall-clock seconds.
    pub seconds: f64,
    /// Candidates and compute, as JSON.
    pub detail: String,
}

/// A run with its totals and the models it used.
#[derive(Debug, Clone, PartialEq, FromRow)]
pub struct EvaluationSummary {
    /// Row id.
    pub id: i64,
    /// Dataset name.
    pub dataset: String,
    /// Split evaluated.
    pub split: Option<String>,
    /// Strategy name.
    pub strategy: String,
    /// Budget in samples.
    pub budget: i64,
    /// Questions graded.
    pub questions: i64,
    /// Of those, correct.
    pub correct: i64,
    /// Tokens generated.
    pub tokens: i64,
    /// Seconds spent.
    pub seconds: f64,
    /// The policy's round (0: a base model).
    pub model_round: i64,
    /// The policy's file.
    pub model_path: String,
    /// The PPM's file, if any.
    pub ppm_path: Option<String>,
    /// When the run was opened.
    pub created_at: String,
}

impl EvaluationSummary {
    /// Share of questions answered correctly.
    pub fn accuracy(&self) -> f64 {
        if self.questions == 0 {
            0.0
        } else {
            self.correct as f64 / self.questions as f64
        }
    }

    /// Generated tokens per question.
    pub fn tokens_per_question(&self) -> f64 {
        if self.questions == 0 {
            0.0
        } else {
            self.tokens as f64 / self.questions as f64
        }
    }
}

/// Runs with their models, for [`EvaluationSummary`] (a macro, so queries
/// stay literal strings).
macro_rules! summaries {
    () => {
        "SELECT e.id, e.dataset, e.split, e.strategy, e.budget, e.questions,
        e.correct, e.tokens, e.seconds, m.round AS model_round, m.path AS model_path,
        p.path AS ppm_path, e.created_at
     FROM evaluations e JOIN models m ON m.id = e.model_id
     LEFT JOIN models p ON p.id = e.ppm_id"
    };
}

impl Store {
    /// The id of the run with `run.run_key`, created on first use.
    pub async fn open_evaluation(&self, run: &NewEvaluation) -> Result<i64> {
        let context = || {
            format!(
                "opening the evaluation of {} on {}",
                run.strategy, run.dataset
            )
        };
        if let Some(id) = sqlx::query_scalar("SELECT id FROM evaluations WHERE run_key = ?1")
            .bind(&run.run_key)
            .fetch_optional(&self.pool)
            .await
            .context(context)?
        {
            return Ok(id);
        }
        sqlx::query(
            "INSERT INTO evaluations (run_key, model_id, ppm_id, dataset, split, strategy, budget, seed, config)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )
        .bind(&run.run_key)
        .bind(run.model_id)
        .bind(run.ppm_id)
        .bind(&run.dataset)
        .bind(&run.split)
        .bind(&run.strategy)
        .bind(run.budget)
        .bind(run.seed)
        .bind(&run.config)
        .execute(&self.pool)
        .await
        .map(|r| r.last_insert_rowid())
        .context(context)
    }

    /// Problems already graded in run `evaluation_id`.
    pub async fn evaluated_problems(&self, evaluation_id: i64) -> Result<HashSet<i64>> {
        let ids: Vec<i64> = sqlx::query_scalar(
            "SELECT problem_id FROM evaluation_results WHERE evaluation_id = ?1",
        )
        .bind(evaluation_id)
        .fetch_all(&self.pool)
        .await
        .context(|| format!("reading the results of evaluation {evaluation_id}"))?;
        Ok(ids.into_iter().collect())
    }

    /// Stores a graded question and adds it to its run's totals, in one
    /// transaction: the totals always equal the sum of the rows.
    pub async fn record_result(&self, result: &NewResult) -> Result<()> {
        let context = || {
            format!(
                "storing the result of problem {} in evaluation {}",
                result.problem_id, result.evaluation_id
            )
        };
        let mut tx = self.pool.begin().await.context(context)?;
        sqlx::query(
            "INSERT INTO evaluation_results (evaluation_id, problem_id, response, answer, correct, tokens, seconds, detail)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )
        .bind(result.evaluation_id)
        .bind(result.problem_id)
        .bind(&result.response)
        .bind(&result.answer)
        .bind(result.correct)
        .bind(result.tokens)
        .bind(result.seconds)
        .bind(&result.detail)
        .execute(&mut *tx)
        .await
        .context(context)?;
        sqlx::query(
            "UPDATE evaluations SET questions = questions + 1, correct = correct + ?2,
                 tokens = tokens + ?3, seconds = seconds + ?4 WHERE id = ?1",
        )
        .bind(result.evaluation_id)
        .bind(i64::from(result.correct))
        .bind(result.tokens)
        .bind(result.seconds)
        .execute(&mut *tx)
        .await
        .context(context)?;
        tx.commit().await.context(context)
    }

    /// Every run with its totals, oldest first.
    pub async fn evaluation_summaries(&self) -> Result<Vec<EvaluationSummary>> {
        sqlx::query_as(concat!(summaries!(), " ORDER BY e.id"))
            .fetch_all(&self.pool)
            .await
            .context(|| "reading the evaluations".to_owned())
    }

    /// The run `id`'s totals.
    pub async fn evaluation_summary(&self, id: i64) -> Result<Option<EvaluationSummary>> {
        sqlx::query_as(concat!(summaries!(), " WHERE e.id = ?1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .context(|| format!("reading evaluation {id}"))
    }

    /// Stores a calibration table; returns its id.
    pub async fn record_calibration(
        &self,
        model_id: i64,
        ppm_id: i64,
        dataset: &str,
        split: Option<&str>,
        questions: i64,
        table_json: &str,
    ) -> Result<i64> {
        sqlx::query(
            "INSERT INTO calibrations (model_id, ppm_id, dataset, split, questions, table_json)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )
        .bind(model_id)
        .bind(ppm_id)
        .bind(dataset)
        .bind(split)
        .bind(questions)
        .bind(table_json)
        .execute(&self.pool)
        .await
        .map(|r| r.last_insert_rowid())
        .context(|| format!("storing the calibration on {dataset}"))
    }

    /// The newest calibration table (JSON) for this policy and PPM.
    pub async fn latest_calibration(&self, model_id: i64, ppm_id: i64) -> Result<Option<String>> {
        sqlx::query_scalar(
            "SELECT table_json FROM calibrations WHERE model_id = ?1 AND ppm_id = ?2 ORDER BY id DESC LIMIT 1",
        )
        .bind(model_id)
        .bind(ppm_id)
        .fetch_optional(&self.pool)
        .await
        .context(|| "reading the calibration tables".to_owned())
    }
}
