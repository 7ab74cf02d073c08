//! What `evolve round` records about a round: the pipeline it runs with, the
//! models it produced, and each phase's status, time and figures, so that a
//! rerun resumes at the first phase that did not finish.

use std::collections::HashSet;

use sqlx::FromRow;

use crate::db::Store;
use crate::error::{Result, SqlxContext};

/// A round with what `evolve round` adds to it.
#[derive(Debug, Clone, PartialEq, FromRow)]
pub struct RoundRecord {
    /// Row id.
    pub id: i64,
    /// Pipeline name.
    pub pipeline: String,
    /// Round number within the pipeline.
    pub number: i64,
    /// The phase it is in (`done` when finished).
    pub phase: String,
    /// `running`, `done` or `failed`.
    pub status: String,
    /// The whole pipeline it runs with, as JSON (`None` for a round of `evolve search`).
    pub plan: Option<String>,
    /// The policy its search ran with.
    pub policy_model_id: Option<i64>,
    /// The PPM its search ran with.
    pub ppm_model_id: Option<i64>,
    /// The policy it trained.
    pub trained_policy_id: Option<i64>,
    /// The PPM it trained.
    pub trained_ppm_id: Option<i64>,
    /// When it was created.
    pub started_at: String,
    /// When it finished.
    pub finished_at: Option<String>,
}

/// One phase of a round.
#[derive(Debug, Clone, PartialEq, FromRow)]
pub struct PhaseRecord {
    /// The round's id.
    pub round_id: i64,
    /// `search`, `export`, `train-policy`, `train-ppm` or `eval`.
    pub phase: String,
    /// `running`, `done`, `skipped`, `interrupted` or `failed`.
    pub status: String,
    /// Runs of the phase so far.
    pub attempts: i64,
    /// When the latest run started.
    pub started_at: String,
    /// When it ended.
    pub finished_at: Option<String>,
    /// Wall-clock seconds of the runs that ended.
    pub seconds: f64,
    /// Figures or the reason it was skipped, as JSON.
    pub detail: String,
}

macro_rules! round_columns {
    () => {
        "SELECT id, pipeline, number, phase, status, plan, policy_model_id, ppm_model_id,
                trained_policy_id, trained_ppm_id, started_at, finished_at
         FROM rounds"
    };
}

impl Store {
    /// Every round of `pipeline`, by number.
    pub async fn pipeline_rounds(&self, pipeline: &str) -> Result<Vec<RoundRecord>> {
        sqlx::query_as(concat!(
            round_columns!(),
            " WHERE pipeline = ?1 ORDER BY number"
        ))
        .bind(pipeline)
        .fetch_all(&self.pool)
        .await
        .context(|| format!("reading the rounds of {pipeline}"))
    }

    /// Every round, by pipeline and number.
    pub async fn all_rounds(&self) -> Result<Vec<RoundRecord>> {
        sqlx::query_as(concat!(round_columns!(), " ORDER BY pipeline, number"))
            .fetch_all(&self.pool)
            .await
            .context(|| "reading the rounds".to_owned())
    }

    /// Records the pipeline a round runs with and the models its search uses.
    pub async fn set_round_plan(
        &self,
        round_id: i64,
        plan: &str,
        policy_model_id: i64,
        ppm_model_id: Option<i64>,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE rounds SET plan = ?2, policy_model_id = ?3, ppm_model_id = ?4 WHERE id = ?1",
        )
        .bind(round_id)
        .bind(plan)
        .bind(policy_model_id)
        .bind(ppm_model_id)
        .execute(&self.pool)
        .await
        .context(|| format!("recording the plan of round {round_id}"))?;
        Ok(())
    }

    /// Records a model the round trained (`role` `policy` or `ppm`).
    pub async fn set_trained_model(&self, round_id: i64, role: &str, model_id: i64) -> Result<()> {
        let sql = match role {
            "policy" => "UPDATE rounds SET trained_policy_id = ?2 WHERE id = ?1",
            _ => "UPDATE rounds SET trained_ppm_id = ?2 WHERE id = ?1",
        };
        sqlx::query(sql)
            .bind(round_id)
            .bind(model_id)
            .execute(&self.pool)
            .await
            .context(|| format!("recording the {role} round {round_id} trained"))?;
        Ok(())
    }

    /// The phases of a round that have started, in the order they started.
    pub async fn round_phases(&self, round_id: i64) -> Result<Vec<PhaseRecord>> {
        sqlx::query_as(
            "SELECT round_id, phase, status, attempts, started_at, finished_at, seconds, detail
             FROM round_phases WHERE round_id = ?1 ORDER BY id",
        )
        .bind(round_id)
        .fetch_all(&self.pool)
        .await
        .context(|| format!("reading the phases of round {round_id}"))
    }

    /// Marks `phase` of a round as running (a new attempt when it ran before)
    /// and makes it the round's current phase.
    pub async fn start_phase(&self, round_id: i64, phase: &str) -> Result<()> {
        let context = || format!("starting phase {phase} of round {round_id}");
        let mut tx = self.pool.begin().await.context(context)?;
        sqlx::query(
            "INSERT INTO round_phases (round_id, phase, status) VALUES (?1, ?2, 'running')
             ON CONFLICT (round_id, phase) DO UPDATE SET status = 'running',
                 attempts = attempts + 1, finished_at = NULL,
                 started_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')",
        )
        .bind(round_id)
        .bind(phase)
        .execute(&mut *tx)
        .await
        .context(context)?;
        sqlx::query("UPDATE rounds SET phase = ?2, status = 'running' WHERE id = ?1")
            .bind(round_id)
            .bind(phase)
            .execute(&mut *tx)
            .await
            .context(context)?;
        tx.commit().await.context(context)?;
        Ok(())
    }

    /// Ends the running attempt of `phase` with `status`, adding its seconds and
    /// storing its figures.
    pub async fn finish_phase(
        &self,
        round_id: i64,
        phase: &str,
        status: &str,
        seconds: f64,
        detail: &str,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE round_phases SET status = ?3, seconds = seconds + ?4, detail = ?5,
                 finished_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
             WHERE round_id = ?1 AND phase = ?2",
        )
        .bind(round_id)
        .bind(phase)
        .bind(status)
        .bind(seconds)
        .bind(detail)
        .execute(&self.pool)
        .await
        .context(|| format!("ending phase {phase} of round {round_id}"))?;
        Ok(())
    }

    /// Marks a round finished.
    pub async fn finish_round(&self, round_id: i64) -> Result<()> {
        sqlx::query(
            "UPDATE rounds SET phase = 'done', status = 'done',
                 finished_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE id = ?1",
        )
        .bind(round_id)
        .execute(&self.pool)
        .await
        .context(|| format!("finishing round {round_id}"))?;
        Ok(())
    }

    /// Clears a round for `evolve round --redo`: its trees and nodes, phases and
    /// trained models are forgotten and it takes `config` as its search
    /// settings, in one transaction. Exports, models and evaluations stay, as
    /// the record of what was done before.
    pub async fn reset_round(&self, round_id: i64, config: &str) -> Result<()> {
        let context = || format!("clearing round {round_id}");
        let mut tx = self.pool.begin().await.context(context)?;
        for sql in [
            "DELETE FROM nodes WHERE tree_id IN (SELECT id FROM trees WHERE round_id = ?1)",
            "DELETE FROM trees WHERE round_id = ?1",
            "DELETE FROM round_phases WHERE round_id = ?1",
        ] {
            sqlx::query(sql)
                .bind(round_id)
                .execute(&mut *tx)
                .await
                .context(context)?;
        }
        sqlx::query(
            "UPDATE rounds SET config = ?2, phase = 'search', status = 'running', plan = NULL,
                 trained_policy_id = NULL, trained_ppm_id = NULL, finished_at = NULL,
                 started_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
             WHERE id = ?1",
        )
        .bind(round_id)
        .bind(config)
        .execute(&mut *tx)
        .await
        .context(context)?;
        tx.commit().await.context(context)?;
        Ok(())
    }

    /// Deletes the records of `phases` of a round and marks it running again,
    /// forgetting the policy and PPM it trained when `train-policy` and
    /// `train-ppm` are among them, so that those phases run again; what the
    /// other phases stored stays.
    pub async fn reset_phases(&self, round_id: i64, phases: &[&str]) -> Result<()> {
        let policy = phases.contains(&"train-policy");
        let ppm = phases.contains(&"train-ppm");
        let context = || format!("clearing phases {} of round {round_id}", phases.join(", "));
        let mut tx = self.pool.begin().await.context(context)?;
        for phase in phases {
            sqlx::query("DELETE FROM round_phases WHERE round_id = ?1 AND phase = ?2")
                .bind(round_id)
                .bind(phase)
                .execute(&mut *tx)
                .await
                .context(context)?;
        }
        sqlx::query(
            "UPDATE rounds SET status = 'running', finished_at = NULL,
                 phase = COALESCE(?2, phase),
                 trained_policy_id = CASE WHEN ?3 THEN NULL ELSE trained_policy_id END,
                 trained_ppm_id = CASE WHEN ?4 THEN NULL ELSE trained_ppm_id END
             WHERE id = ?1",
        )
        .bind(round_id)
        .bind(phases.first())
        .bind(policy)
        .bind(ppm)
        .execute(&mut *tx)
        .await
        .context(context)?;
        tx.commit().await.context(context)?;
        Ok(())
    }

    /// Problems that some round of `pipeline` numbered below `before` solved.
    pub async fn solved_before(&self, pipeline: &str, before: i64) -> Result<HashSet<i64>> {
        let ids: Vec<i64> = sqlx::query_scalar(
            "SELECT DISTINCT t.problem_id FROM trees t JOIN rounds r ON r.id = t.round_id
             WHERE r.pipeline = ?1 AND r.number < ?2 AND t.solved = 1",
        )
        .bind(pipeline)
        .bind(before)
        .fetch_all(&self.pool)
        .await
        .context(|| format!("reading the problems {pipeline} solved before round {before}"))?;
        Ok(ids.into_iter().collect())
    }

    /// Trees of a round and how many of them were solved (failed trees left out).
    pub async fn round_solve_counts(&self, round_id: i64) -> Result<(i64, i64)> {
        sqlx::query_as(
            "SELECT COUNT(*), COALESCE(SUM(solved), 0) FROM trees
             WHERE round_id = ?1 AND status != 'failed'",
        )
        .bind(round_id)
        .fetch_one(&self.pool)
        .await
        .context(|| format!("counting the trees of round {round_id}"))
    }
}
