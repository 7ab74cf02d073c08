//! What the export phase reads and records: a round's trees streamed one at a
//! time, and a row per file written.

use futures_util::TryStreamExt;
use sqlx::FromRow;

use crate::db::Store;
use crate::error::{Error, Result, SqlxContext};
use crate::trees::{Round, StoredNode, StoredTree, node_columns, tree_columns};

/// An export file to record.
#[derive(Debug, Clone)]
pub struct NewExport {
    /// `sft`, `pairs` or `steps`.
    pub kind: String,
    /// The row shape (`messages`, `step-pairs`, ...).
    pub format: String,
    /// The round exported.
    pub round_id: i64,
    /// The dataset the trees were limited to, if any.
    pub dataset: Option<String>,
    /// The file written, or `-` for standard output.
    pub path: String,
    /// Rows written.
    pub rows: i64,
    /// Problems with at least one row.
    pub problems: i64,
    /// SHA-256 of the bytes written, hex.
    pub sha256: String,
    /// The selection settings, as JSON.
    pub options: String,
}

/// How a trained model came to be.
#[derive(Debug, Clone, Default)]
pub struct Training {
    /// The model it was trained from.
    pub parent_id: Option<i64>,
    /// The export whose file it was trained on, if the file came from one.
    pub export_id: Option<i64>,
    /// The training file.
    pub data_path: String,
    /// Its SHA-256, hex.
    pub data_sha256: String,
    /// Settings and figures, as JSON.
    pub metrics: String,
}

/// A recorded export, found by its file's hash.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct StoredExport {
    /// Row id.
    pub id: i64,
    /// `sft`, `pairs` or `steps`.
    pub kind: String,
    /// The round's pipeline.
    pub pipeline: String,
    /// The round's number.
    pub round: i64,
}

/// A model row.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct StoredModel {
    /// Row id.
    pub id: i64,
    /// `policy` or `ppm`.
    pub role: String,
    /// Path of the file.
    pub path: String,
    /// SHA-256 of the file, hex.
    pub sha256: String,
}

impl Store {
    /// The newest round of `pipeline` that has trees, if any.
    pub async fn latest_searched_round(&self, pipeline: &str) -> Result<Option<Round>> {
        sqlx::query_as(
            "SELECT id, pipeline, number, phase, status, config, policy_model_id
             FROM rounds r WHERE pipeline = ?1 AND EXISTS (SELECT 1 FROM trees t WHERE t.round_id = r.id)
             ORDER BY number DESC LIMIT 1",
        )
        .bind(pipeline)
        .fetch_optional(&self.pool)
        .await
        .context(|| format!("finding the latest round of {pipeline}"))
    }

    /// A registered model, if `id` names one.
    pub async fn model(&self, id: i64) -> Result<Option<StoredModel>> {
        sqlx::query_as("SELECT id, role, path, sha256 FROM models WHERE id = ?1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .context(|| format!("reading model {id}"))
    }

    /// Calls `visit` with each tree of round `round_id` (of `dataset` only, when
    /// given), in problem order (the order problems were imported), each with
    /// its nodes in id order.
    ///
    /// Problem order, not the order trees were stored in, so that a round
    /// stopped and resumed exports the same rows in the same order as one run
    /// straight through, and trains the same. Each tree's nodes come from
    /// their own indexed query, so memory holds one tree, not the round.
    /// `visit`'s error stops the scan.
    pub async fn scan_trees<E: From<Error>>(
        &self,
        round_id: i64,
        dataset: Option<&str>,
        mut visit: impl FnMut(StoredTree) -> std::result::Result<(), E>,
    ) -> std::result::Result<(), E> {
        let context = || format!("reading the trees of round {round_id}");
        // The trees without their nodes are small: a few hundred bytes each.
        let trees: Vec<StoredTree> = sqlx::query_as(concat!(
            "SELECT ",
            tree_columns!(),
            " FROM trees t JOIN problems p ON p.id = t.problem_id JOIN datasets d ON d.id = p.dataset_id
              WHERE t.round_id = ?1 AND (?2 IS NULL OR d.name = ?2)
              ORDER BY t.problem_id, t.id"
        ))
        .bind(round_id)
        .bind(dataset)
        .fetch_all(&self.pool)
        .await
        .context(context)?;
        for mut tree in trees {
            let context = || format!("reading the nodes of tree {} of round {round_id}", tree.id);
            let mut nodes = sqlx::query(concat!(
                "SELECT ",
                node_columns!(),
                " FROM nodes n WHERE n.tree_id = ?1 ORDER BY n.id"
            ))
            .bind(tree.id)
            .fetch(&self.pool);
            while let Some(row) = nodes.try_next().await.context(context)? {
                tree.nodes
                    .push(StoredNode::from_row(&row).context(context)?);
            }
            drop(nodes);
            visit(tree)?;
        }
        Ok(())
    }

    /// The newest export whose file had `sha256`, if any.
    pub async fn export_by_sha256(&self, sha256: &str) -> Result<Option<StoredExport>> {
        sqlx::query_as(
            "SELECT e.id, e.kind, r.pipeline, r.number AS round FROM exports e JOIN rounds r ON r.id = e.round_id
             WHERE e.sha256 = ?1 ORDER BY e.id DESC LIMIT 1",
        )
        .bind(sha256)
        .fetch_optional(&self.pool)
        .await
        .context(|| format!("looking up the export with hash {sha256}"))
    }

    /// Records where model `model_id` came from and how its training went.
    pub async fn record_training(&self, model_id: i64, training: &Training) -> Result<()> {
        sqlx::query(
            "UPDATE models SET parent_id = ?2, export_id = ?3, data_path = ?4, data_sha256 = ?5, metrics = ?6
             WHERE id = ?1",
        )
        .bind(model_id)
        .bind(training.parent_id)
        .bind(training.export_id)
        .bind(&training.data_path)
        .bind(&training.data_sha256)
        .bind(&training.metrics)
        .execute(&self.pool)
        .await
        .context(|| format!("recording the training of model {model_id}"))?;
        Ok(())
    }

    /// Records a written export; returns its id.
    pub async fn record_export(&self, export: &NewExport) -> Result<i64> {
        sqlx::query(
            "INSERT INTO exports (kind, format, round_id, dataset, path, rows, problems, sha256, options)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )
        .bind(&export.kind)
        .bind(&export.format)
        .bind(export.round_id)
        .bind(&export.dataset)
        .bind(&export.path)
        .bind(export.rows)
        .bind(export.problems)
        .bind(&export.sha256)
        .bind(&export.options)
        .execute(&self.pool)
        .await
        .map(|r| r.last_insert_rowid())
        .map_err(|source| Error::Sqlx {
            context: format!("recording the export {}", export.path),
            source,
        })
    }
}
