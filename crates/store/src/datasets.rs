//! Datasets and their problems.

use std::collections::HashMap;

use sqlx::Row;

use crate::db::Store;
use crate::error::{Error, Result, SqlxContext};

/// A dataset to create or add problems to.
#[derive(Debug, Clone)]
pub struct NewDataset {
    /// Unique name, e.g. `gsm8k-test`.
    pub name: String,
    /// The importer format it came from (`gsm8k`, `math500`, `generic`, ...).
    pub format: String,
    /// Where it was read from.
    pub source: Option<String>,
}

/// A problem to store.
#[derive(Debug, Clone, PartialEq)]
pub struct NewProblem {
    /// The source's own id, or the line number when it has none; unique within a dataset.
    pub external_id: String,
    /// The question text shown to the policy.
    pub question: String,
    /// The known final answer.
    pub gold_answer: String,
    /// A worked solution, when the source has one.
    pub reference_solution: Option<String>,
    /// Difficulty level (MATH's 1-5), when the source has one.
    pub level: Option<i64>,
    /// Subject or problem type, when the source has one.
    pub subject: Option<String>,
    /// A numeric difficulty estimate, when known.
    pub difficulty: Option<f64>,
}

/// A stored problem.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct Problem {
    /// Row id.
    pub id: i64,
    /// The source's own id.
    pub external_id: String,
    /// Question text.
    pub question: String,
    /// Known final answer.
    pub gold_answer: String,
    /// Worked solution, if any.
    pub reference_solution: Option<String>,
    /// Difficulty level, if any.
    pub level: Option<i64>,
    /// Subject, if any.
    pub subject: Option<String>,
    /// `pool`, `held-out`, or `None` when the dataset is unsplit.
    pub split: Option<String>,
}

/// What an import changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImportReport {
    /// Problems newly stored.
    pub added: usize,
    /// Problems that were already stored, identical.
    pub unchanged: usize,
}

/// A dataset with its problem counts, for `evolve data list`.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DatasetSummary {
    /// Dataset name.
    pub name: String,
    /// Importer format.
    pub format: String,
    /// Where it was read from.
    pub source: Option<String>,
    /// All problems.
    pub problems: i64,
    /// Problems in the `pool` split.
    pub pool: i64,
    /// Problems in the `held-out` split.
    pub held_out: i64,
    /// Seed of the split, if split.
    pub split_seed: Option<i64>,
}

/// The outcome of [`Store::split_dataset`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SplitReport {
    /// Problems in the pool.
    pub pool: usize,
    /// Problems held out.
    pub held_out: usize,
    /// False when the same split was already in place.
    pub changed: bool,
}

impl Store {
    /// Stores `problems` under `dataset` (created if new) in one transaction.
    ///
    /// Problems already stored under the same external id are skipped when
    /// identical; if one differs, nothing is written and
    /// [`Error::ProblemDiffers`] names it.
    pub async fn import_problems(
        &self,
        dataset: &NewDataset,
        problems: &[NewProblem],
    ) -> Result<ImportReport> {
        let ctx = || {
            format!(
                "importing dataset {} into {}",
                dataset.name,
                self.path().display()
            )
        };
        let mut tx = self.pool.begin().await.context(ctx)?;
        sqlx::query(
            "INSERT INTO datasets (name, format, source) VALUES (?1, ?2, ?3)
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(&dataset.name)
        .bind(&dataset.format)
        .bind(&dataset.source)
        .execute(&mut *tx)
        .await
        .context(ctx)?;
        let dataset_id: i64 = sqlx::query_scalar("SELECT id FROM datasets WHERE name = ?1")
            .bind(&dataset.name)
            .fetch_one(&mut *tx)
            .await
            .context(ctx)?;

        let stored: HashMap<String, (String, String)> = sqlx::query(
            "SELECT external_id, question, gold_answer FROM problems WHERE dataset_id = ?1",
        )
        .bind(dataset_id)
        .fetch_all(&mut *tx)
        .await
        .context(ctx)?
        .into_iter()
        .map(|row| (row.get(0), (row.get(1), row.get(2))))
        .collect();

        let mut report = ImportReport {
            added: 0,
            unchanged: 0,
        };
        for problem in problems {
            if let Some((question, gold)) = stored.get(&problem.external_id) {
                let field = if *question != problem.question {
                    Some("question")
                } else if *gold != problem.gold_answer {
                    Some("gold answer")
                } else {
                    None
                };
                if let Some(field) = field {
                    // Dropping `tx` rolls the whole file back.
                    return Err(Error::ProblemDiffers {
                        dataset: dataset.name.clone(),
                        external_id: problem.external_id.clone(),
                        field,
                    });
                }
                report.unchanged += 1;
                continue;
            }
            let inserted = sqlx::query(
                "INSERT INTO problems
                   (dataset_id, external_id, question, gold_answer, reference_solution, level, subject, difficulty)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                 ON CONFLICT (dataset_id, external_id) DO NOTHING",
            )
            .bind(dataset_id)
            .bind(&problem.external_id)
            .bind(&problem.question)
            .bind(&problem.gold_answer)
            .bind(&problem.reference_solution)
            .bind(problem.level)
            .bind(&problem.subject)
            .bind(problem.difficulty)
            .execute(&mut *tx)
            .await
            .context(ctx)?;
            // A repeated id within one file counts once.
            if inserted.rows_affected() == 1 {
                report.added += 1;
            } else {
                report.unchanged += 1;
            }
        }
        tx.commit().await.context(ctx)?;
        Ok(report)
    }

    /// Every dataset with its problem and split counts, by name.
    pub async fn list_datasets(&self) -> Result<Vec<DatasetSummary>> {
        sqlx::query_as(
            "SELECT d.name, d.format, d.source,
                    COUNT(p.id) AS problems,
                    COALESCE(SUM(p.split = 'pool'), 0) AS pool,
                    COALESCE(SUM(p.split = 'held-out'), 0) AS held_out,
                    d.split_seed
             FROM datasets d LEFT JOIN problems p ON p.dataset_id = d.id
             GROUP BY d.id ORDER BY d.name",
        )
        .fetch_all(&self.pool)
        .await
        .context(|| format!("listing datasets of {}", self.path().display()))
    }

    /// Problems of `dataset`, optionally only those of one split, in id order.
    pub async fn problems(&self, dataset: &str, split: Option<&str>) -> Result<Vec<Problem>> {
        let dataset_id = self.dataset_id(dataset).await?;
        sqlx::query_as(
            "SELECT id, external_id, question, gold_answer, reference_solution, level, subject, split
             FROM problems WHERE dataset_id = ?1 AND (?2 IS NULL OR split = ?2) ORDER BY id",
        )
        .bind(dataset_id)
        .bind(split)
        .fetch_all(&self.pool)
        .await
        .context(|| format!("reading problems of {dataset}"))
    }

    /// Splits `dataset` into `held_out` held-out problems and a pool, deterministically from `seed`.
    ///
    /// The order is a hash of the seed and each problem's external id, so the same
    /// seed gives the same split on any machine and after re-imports. A dataset
    /// already split another way is refused unless `force`, and never re-split once
    /// search trees or evaluation results refer to its problems.
    pub async fn split_dataset(
        &self,
        dataset: &str,
        held_out: usize,
        seed: u64,
        force: bool,
    ) -> Result<SplitReport> {
        let ctx = || format!("splitting dataset {dataset}");
        let dataset_id = self.dataset_id(dataset).await?;
        let mut tx = self.pool.begin().await.context(ctx)?;
        let (old_seed, old_held_out): (Option<i64>, Option<i64>) =
            sqlx::query_as("SELECT split_seed, split_held_out FROM datasets WHERE id = ?1")
                .bind(dataset_id)
                .fetch_one(&mut *tx)
                .await
                .context(ctx)?;
        let ids: Vec<(i64, String)> =
            sqlx::query_as("SELECT id, external_id FROM problems WHERE dataset_id = ?1")
                .bind(dataset_id)
                .fetch_all(&mut *tx)
                .await
                .context(ctx)?;
        if held_out >= ids.len() {
            return Err(Error::Split(format!(
                "dataset {dataset} has {} problems; cannot hold out {held_out} and keep a pool",
                ids.len()
            )));
        }
        let unsplit: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM problems WHERE dataset_id = ?1 AND split IS NULL",
        )
        .bind(dataset_id)
        .fetch_one(&mut *tx)
        .await
        .context(ctx)?;
        let same = old_seed == Some(seed as i64) && old_held_out == Some(held_out as i64);
        if same && unsplit == 0 {
            return Ok(SplitReport {
                pool: ids.len() - held_out,
                held_out,
                changed: false,
            });
        }
        if let (Some(s), Some(h)) = (old_seed, old_held_out) {
            if !same && !force {
                return Err(Error::Split(format!(
                    "dataset {dataset} is already split (seed {s}, {h} held out); pass --force to re-split it"
                )));
            }
            let used: i64 = sqlx::query_scalar(
                "SELECT (SELECT COUNT(*) FROM trees t JOIN problems p ON p.id = t.problem_id WHERE p.dataset_id = ?1)
                      + (SELECT COUNT(*) FROM evaluation_results e JOIN problems p ON p.id = e.problem_id WHERE p.dataset_id = ?1)",
            )
            .bind(dataset_id)
            .fetch_one(&mut *tx)
            .await
            .context(ctx)?;
            if used > 0 && !same {
                return Err(Error::Split(format!(
                    "dataset {dataset} is already split and {used} trees or evaluation results use its problems; \
                     re-splitting would mix held-out problems into training. Import it again under a new name to split it differently"
                )));
            }
        }

        let mut order: Vec<(u64, i64)> = ids
            .iter()
            .map(|(id, ext)| (split_key(seed, ext), *id))
            .collect();
        order.sort_unstable();
        for (rank, (_, id)) in order.iter().enumerate() {
            let split = if rank < held_out { "held-out" } else { "pool" };
            sqlx::query("UPDATE problems SET split = ?1 WHERE id = ?2")
                .bind(split)
                .bind(id)
                .execute(&mut *tx)
                .await
                .context(ctx)?;
        }
        sqlx::query("UPDATE datasets SET split_seed = ?1, split_held_out = ?2 WHERE id = ?3")
            .bind(seed as i64)
            .bind(held_out as i64)
            .bind(dataset_id)
            .execute(&mut *tx)
            .await
            .context(ctx)?;
        tx.commit().await.context(ctx)?;
        Ok(SplitReport {
            pool: ids.len() - held_out,
            held_out,
            changed: true,
        })
    }

    async fn dataset_id(&self, name: &str) -> Result<i64> {
        sqlx::query_scalar("SELECT id FROM datasets WHERE name = ?1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .context(|| format!("looking up dataset {name}"))?
            .ok_or_else(|| Error::UnknownDataset(name.to_owned()))
    }
}

/// A stable 64-bit key for ordering a problem in a seeded split (FNV-1a, then a
/// splitmix64 finaliser), independent of platform and of any crate's RNG.
fn split_key(seed: u64, external_id: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ seed;
    for byte in external_id.bytes() {
        h ^= u64::from(byte);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(id: usize, gold: &str) -> NewProblem {
        NewProblem {
            external_id: id.to_string(),
            question: format!("What is {id} + 1?"),
            gold_answer: gold.to_owned(),
            reference_solution: None,
            level: None,
            subject: None,
            difficulty: None,
        }
    }

    fn dataset(name: &str) -> NewDataset {
        NewDataset {
            name: name.into(),
            format: "generic".into(),
            source: None,
        }
    }

    async fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::init(&dir.path().join("e.db")).await.unwrap();
        (dir, store)
    }

    #[tokio::test]
    async fn import_is_idempotent_and_rejects_changed_problems_whole() {
        let (_dir, store) = store().await;
        let problems: Vec<_> = (0..10).map(|i| problem(i, &(i + 1).to_string())).collect();
        let report = store
            .import_problems(&dataset("d"), &problems)
            .await
            .unwrap();
        assert_eq!(
            report,
            ImportReport {
                added: 10,
                unchanged: 0
            }
        );
        let report = store
            .import_problems(&dataset("d"), &problems)
            .await
            .unwrap();
        assert_eq!(
            report,
            ImportReport {
                added: 0,
                unchanged: 10
            }
        );

        let mut changed: Vec<_> = (0..12).map(|i| problem(i, &(i + 1).to_string())).collect();
        changed[5].gold_answer = "wrong".into();
        let err = store
            .import_problems(&dataset("d"), &changed)
            .await
            .unwrap_err();
        assert!(matches!(err, Error::ProblemDiffers { ref external_id, .. } if external_id == "5"));
        // Problems 10 and 11 came before nothing was committed.
        assert_eq!(store.problems("d", None).await.unwrap().len(), 10);
    }

    #[tokio::test]
    async fn split_is_deterministic_and_guarded() {
        let (_dir, store) = store().await;
        let problems: Vec<_> = (0..100).map(|i| problem(i, "1")).collect();
        store
            .import_problems(&dataset("d"), &problems)
            .await
            .unwrap();
        let report = store.split_dataset("d", 20, 7, false).await.unwrap();
        assert_eq!(
            (report.pool, report.held_out, report.changed),
            (80, 20, true)
        );
        let first: Vec<_> = store.problems("d", Some("held-out")).await.unwrap();
        assert_eq!(first.len(), 20);
        assert!(
            !store
                .split_dataset("d", 20, 7, false)
                .await
                .unwrap()
                .changed
        );
        assert!(store.split_dataset("d", 20, 8, false).await.is_err());

        // The same seed on a fresh database picks the same problems.
        let (_dir2, other) = self::store().await;
        other
            .import_problems(&dataset("d"), &problems)
            .await
            .unwrap();
        other.split_dataset("d", 20, 7, false).await.unwrap();
        let again: Vec<_> = other.problems("d", Some("held-out")).await.unwrap();
        let ids = |ps: &[Problem]| ps.iter().map(|p| p.external_id.clone()).collect::<Vec<_>>();
        assert_eq!(ids(&first), ids(&again));

        store.split_dataset("d", 30, 8, true).await.unwrap();
        assert_eq!(
            store.problems("d", Some("held-out")).await.unwrap().len(),
            30
        );
        assert!(store.split_dataset("d", 100, 8, true).await.is_err());
    }
}
