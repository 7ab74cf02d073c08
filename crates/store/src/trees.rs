//! Rounds, models and search trees.
//!
//! A tree and all its nodes are written in one transaction, so a killed search
//! leaves either a whole tree or none, and `UNIQUE (round_id, problem_id)`
//! keeps a rerun from storing a problem twice.

use std::collections::HashSet;

use crate::db::Store;
use crate::error::{Error, Result, SqlxContext};

/// A round of a pipeline (or of a standalone search).
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct Round {
    /// Row id.
    pub id: i64,
    /// Pipeline name.
    pub pipeline: String,
    /// Round number within the pipeline.
    pub number: i64,
    /// Current phase.
    pub phase: String,
    /// `running`, `done` or `failed`.
    pub status: String,
    /// The settings it runs with, as JSON.
    pub config: String,
    /// The policy model.
    pub policy_model_id: Option<i64>,
}

/// A model file to register.
#[derive(Debug, Clone)]
pub struct NewModel {
    /// `policy` or `ppm`.
    pub role: String,
    /// Round that produced it (0 for a base model).
    pub round: i64,
    /// Display name.
    pub name: Option<String>,
    /// Path of the file.
    pub path: String,
    /// File format (`gguf`, `safetensors`).
    pub format: String,
    /// SHA-256 of the file, hex.
    pub sha256: String,
}

/// A finished tree to store; `nodes[0]` is the root and parents precede children.
#[derive(Debug, Clone)]
pub struct NewTree {
    /// Round it belongs to.
    pub round_id: i64,
    /// The problem searched.
    pub problem_id: i64,
    /// `done`, `failed` or `timeout`.
    pub status: String,
    /// Search seed.
    pub seed: i64,
    /// Rollouts completed.
    pub rollouts: i64,
    /// Whether some leaf is correct.
    pub solved: bool,
    /// Wall-clock seconds.
    pub seconds: f64,
    /// Generated tokens.
    pub tokens: i64,
    /// Why the tree failed, if it did.
    pub note: Option<String>,
    /// Its nodes.
    pub nodes: Vec<NewNode>,
}

/// A node to store; `parent` indexes the tree's node list.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NewNode {
    /// Index of the parent in [`NewTree::nodes`]; `None` for the root.
    pub parent: Option<usize>,
    /// Steps from the root.
    pub depth: i64,
    /// The step's text.
    pub step_text: String,
    /// The step's code.
    pub code: Option<String>,
    /// Execution output or the failed check's reason.
    pub exec_output: Option<String>,
    /// `ok`, `error` or `None`.
    pub step_check: Option<String>,
    /// Rollouts through it.
    pub visits: i64,
    /// Sum of rewards through it.
    pub value_sum: f64,
    /// Its value.
    pub q: f64,
    /// Initial value from the step scorer.
    pub prior: Option<f64>,
    /// The PPM's score.
    pub ppm_score: Option<f64>,
    /// Whether it ends a solution.
    pub terminal: bool,
    /// The answer a terminal node gives.
    pub extracted_answer: Option<String>,
    /// Whether that answer is correct.
    pub correct: Option<bool>,
    /// Generated tokens.
    pub tokens: i64,
    /// Sum of token log-probabilities.
    pub logprob: Option<f64>,
    /// Duplicate candidates merged into it.
    pub duplicates: i64,
}

/// A stored tree, for listings.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct TreeSummary {
    /// Row id.
    pub id: i64,
    /// Pipeline of its round.
    pub pipeline: String,
    /// Round number.
    pub round: i64,
    /// Dataset of the problem.
    pub dataset: String,
    /// The problem's external id.
    pub external_id: String,
    /// `done`, `failed` or `timeout`.
    pub status: String,
    /// Rollouts.
    pub rollouts: i64,
    /// Whether some leaf is correct.
    pub solved: bool,
    /// Nodes.
    pub nodes: i64,
    /// Generated tokens.
    pub tokens: i64,
    /// Seconds.
    pub seconds: Option<f64>,
    /// Why it failed.
    pub note: Option<String>,
}

/// A stored node.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow, serde::Serialize)]
pub struct StoredNode {
    /// Row id.
    pub id: i64,
    /// Parent row id.
    pub parent_id: Option<i64>,
    /// Steps from the root.
    pub depth: i64,
    /// Step text.
    pub step_text: String,
    /// Code.
    pub code: Option<String>,
    /// Execution output.
    pub exec_output: Option<String>,
    /// `ok` / `error`.
    pub step_check: Option<String>,
    /// Visits.
    pub visits: i64,
    /// Value sum.
    pub value_sum: f64,
    /// Q.
    pub q: f64,
    /// Prior.
    pub prior: Option<f64>,
    /// Terminal.
    pub terminal: bool,
    /// Answer.
    pub extracted_answer: Option<String>,
    /// Correct.
    pub correct: Option<bool>,
    /// Tokens.
    pub tokens: i64,
}

/// The columns of [`StoredNode`], as a literal for `concat!`.
macro_rules! node_columns {
    () => {
        "n.id, n.parent_id, n.depth, n.step_text, n.code, n.exec_output, n.step_check, n.visits, \
         n.value_sum, n.q, n.prior, n.terminal, n.extracted_answer, n.correct, n.tokens"
    };
}
pub(crate) use node_columns;

/// A stored tree with its problem and nodes.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow, serde::Serialize)]
pub struct StoredTree {
    /// Row id.
    pub id: i64,
    /// The problem's row id.
    pub problem_id: i64,
    /// The problem's dataset.
    pub dataset: String,
    /// The problem's id within its dataset.
    pub external_id: String,
    /// The question.
    pub question: String,
    /// The gold answer.
    pub gold_answer: String,
    /// Status.
    pub status: String,
    /// Rollouts.
    pub rollouts: i64,
    /// Solved.
    pub solved: bool,
    /// Nodes in id order (parents first).
    #[sqlx(skip)]
    pub nodes: Vec<StoredNode>,
}

/// The columns of [`StoredTree`] but its nodes, from `trees t`, `problems p`, `datasets d`.
macro_rules! tree_columns {
    () => {
        "t.id, t.problem_id, d.name AS dataset, p.external_id, p.question, p.gold_answer, \
         t.status, t.rollouts, t.solved"
    };
}
pub(crate) use tree_columns;

impl Store {
    /// The round `number` of `pipeline`, if it exists.
    pub async fn round(&self, pipeline: &str, number: i64) -> Result<Option<Round>> {
        sqlx::query_as(
            "SELECT id, pipeline, number, phase, status, config, policy_model_id
             FROM rounds WHERE pipeline = ?1 AND number = ?2",
        )
        .bind(pipeline)
        .bind(number)
        .fetch_optional(&self.pool)
        .await
        .context(|| format!("reading round {number} of {pipeline}"))
    }

    /// Creates round `number` of `pipeline` with its settings.
    pub async fn create_round(
        &self,
        pipeline: &str,
        number: i64,
        config: &str,
        policy_model_id: Option<i64>,
    ) -> Result<Round> {
        sqlx::query("INSERT INTO rounds (pipeline, number, config, policy_model_id) VALUES (?1, ?2, ?3, ?4)")
            .bind(pipeline)
            .bind(number)
            .bind(config)
            .bind(policy_model_id)
            .execute(&self.pool)
            .await
            .context(|| format!("creating round {number} of {pipeline}"))?;
        Ok(self.round(pipeline, number).await?.expect("just created"))
    }

    /// Registers a model file, or returns the id it already has (same role and hash).
    pub async fn register_model(&self, model: &NewModel) -> Result<i64> {
        let existing: Option<i64> =
            sqlx::query_scalar("SELECT id FROM models WHERE role = ?1 AND sha256 = ?2")
                .bind(&model.role)
                .bind(&model.sha256)
                .fetch_optional(&self.pool)
                .await
                .context(|| format!("looking up model {}", model.path))?;
        if let Some(id) = existing {
            return Ok(id);
        }
        sqlx::query(
            "INSERT INTO models (role, round, name, path, format, sha256) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )
        .bind(&model.role)
        .bind(model.round)
        .bind(&model.name)
        .bind(&model.path)
        .bind(&model.format)
        .bind(&model.sha256)
        .execute(&self.pool)
        .await
        .map(|r| r.last_insert_rowid())
        .context(|| format!("registering model {}", model.path))
    }

    /// Problems of round `round_id` that already have a stored tree.
    pub async fn searched_problems(&self, round_id: i64) -> Result<HashSet<i64>> {
        let ids: Vec<i64> = sqlx::query_scalar("SELECT problem_id FROM trees WHERE round_id = ?1")
            .bind(round_id)
            .fetch_all(&self.pool)
            .await
            .context(|| format!("reading the trees of round {round_id}"))?;
        Ok(ids.into_iter().collect())
    }

    /// Deletes the trees of `problem_ids` in round `round_id`, with their
    /// nodes, in one transaction; returns how many trees went.
    pub async fn delete_trees(&self, round_id: i64, problem_ids: &[i64]) -> Result<usize> {
        let context = || {
            format!(
                "deleting the trees of {} problems in round {round_id}",
                problem_ids.len()
            )
        };
        let ids = serde_json::to_string(problem_ids).expect("integers serialise");
        let mut tx = self.pool.begin().await.context(context)?;
        sqlx::query(
            "DELETE FROM nodes WHERE tree_id IN (SELECT id FROM trees WHERE round_id = ?1
                 AND problem_id IN (SELECT value FROM json_each(?2)))",
        )
        .bind(round_id)
        .bind(&ids)
        .execute(&mut *tx)
        .await
        .context(context)?;
        let deleted = sqlx::query(
            "DELETE FROM trees WHERE round_id = ?1
                 AND problem_id IN (SELECT value FROM json_each(?2))",
        )
        .bind(round_id)
        .bind(&ids)
        .execute(&mut *tx)
        .await
        .context(context)?
        .rows_affected() as usize;
        tx.commit().await.context(context)?;
        Ok(deleted)
    }

    /// Stores a tree and all its nodes in one transaction; returns the tree's id.
    ///
    /// A tree already stored for the same round and problem is an error, and
    /// nothing is written.
    pub async fn insert_tree(&self, tree: &NewTree) -> Result<i64> {
        let context = || {
            format!(
                "storing the tree of problem {} in round {}",
                tree.problem_id, tree.round_id
            )
        };
        let mut tx = self.pool.begin().await.context(context)?;
        let tree_id = sqlx::query(
            "INSERT INTO trees (round_id, problem_id, status, seed, rollouts, solved, seconds, tokens, note)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )
        .bind(tree.round_id)
        .bind(tree.problem_id)
        .bind(&tree.status)
        .bind(tree.seed)
        .bind(tree.rollouts)
        .bind(tree.solved)
        .bind(tree.seconds)
        .bind(tree.tokens)
        .bind(&tree.note)
        .execute(&mut *tx)
        .await
        .context(context)?
        .last_insert_rowid();
        let mut ids: Vec<i64> = Vec::with_capacity(tree.nodes.len());
        for (index, node) in tree.nodes.iter().enumerate() {
            let parent_id = match node.parent {
                Some(p) if p < index => Some(ids[p]),
                Some(p) => {
                    return Err(Error::Invalid(format!(
                        "node {index} of the tree of problem {} names parent {p}, which does not come before it",
                        tree.problem_id
                    )));
                }
                None => None,
            };
            let id = sqlx::query(
                "INSERT INTO nodes (tree_id, parent_id, depth, step_text, code, exec_output, step_check,
                                    visits, value_sum, q, prior, ppm_score, terminal, extracted_answer,
                                    correct, tokens, logprob, duplicates)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)",
            )
            .bind(tree_id)
            .bind(parent_id)
            .bind(node.depth)
            .bind(&node.step_text)
            .bind(&node.code)
            .bind(&node.exec_output)
            .bind(&node.step_check)
            .bind(node.visits)
            .bind(node.value_sum)
            .bind(node.q)
            .bind(node.prior)
            .bind(node.ppm_score)
            .bind(node.terminal)
            .bind(&node.extracted_answer)
            .bind(node.correct)
            .bind(node.tokens)
            .bind(node.logprob)
            .bind(node.duplicates)
            .execute(&mut *tx)
            .await
            .context(context)?
            .last_insert_rowid();
            ids.push(id);
        }
        tx.commit().await.context(context)?;
        Ok(tree_id)
    }

    /// Stored trees, newest round first, optionally of one round or dataset.
    pub async fn list_trees(
        &self,
        round_id: Option<i64>,
        dataset: Option<&str>,
        limit: i64,
    ) -> Result<Vec<TreeSummary>> {
        sqlx::query_as(
            "SELECT t.id, r.pipeline, r.number AS round, d.name AS dataset, p.external_id, t.status,
                    t.rollouts, t.solved, (SELECT COUNT(*) FROM nodes n WHERE n.tree_id = t.id) AS nodes,
                    t.tokens, t.seconds, t.note
             FROM trees t JOIN rounds r ON r.id = t.round_id
             JOIN problems p ON p.id = t.problem_id JOIN datasets d ON d.id = p.dataset_id
             WHERE (?1 IS NULL OR t.round_id = ?1) AND (?2 IS NULL OR d.name = ?2)
             ORDER BY t.id LIMIT ?3",
        )
        .bind(round_id)
        .bind(dataset)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .context(|| "listing trees".to_owned())
    }

    /// One stored tree with its question and nodes, or `None`.
    pub async fn tree(&self, id: i64) -> Result<Option<StoredTree>> {
        let context = || format!("reading tree {id}");
        let Some(mut tree) = sqlx::query_as::<_, StoredTree>(concat!(
            "SELECT ",
            tree_columns!(),
            " FROM trees t JOIN problems p ON p.id = t.problem_id
              JOIN datasets d ON d.id = p.dataset_id WHERE t.id = ?1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .context(context)?
        else {
            return Ok(None);
        };
        tree.nodes = sqlx::query_as(concat!(
            "SELECT ",
            node_columns!(),
            " FROM nodes n WHERE n.tree_id = ?1 ORDER BY n.id"
        ))
        .bind(id)
        .fetch_all(&self.pool)
        .await
        .context(context)?;
        Ok(Some(tree))
    }
}
