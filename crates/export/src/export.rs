//! One export: a round's trees streamed from the store, a tree at a time,
//! through the selection rules into a JSONL file, then recorded in the database.

use anyhow::{Context, Result, anyhow};
use evolve_store::{NewExport, Round, Store};
use serde_json::json;

use crate::render::Prompter;
use crate::rows::Format;
use crate::select::{Rules, Skips};
use crate::tree::IndexedTree;
use crate::writer::{Destination, JsonlWriter};

/// What to export, from where, to where.
#[derive(Debug, Clone)]
pub struct ExportJob {
    /// The rows' format (which also says the kind: SFT, pairs or steps).
    pub format: Format,
    /// The round whose trees are read.
    pub round: Round,
    /// Only trees of this dataset, if given.
    pub dataset: Option<String>,
    /// Where the rows go.
    pub destination: Destination,
    /// The selection settings.
    pub rules: Rules,
    /// How prompts are written.
    pub prompter: Prompter,
    /// Write (and record) the file even when no row was selected.
    pub write_empty: bool,
}

/// What an export wrote and left out.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportSummary {
    /// The format written.
    pub format: Format,
    /// The file, or `-`.
    pub destination: String,
    /// Trees read.
    pub trees: usize,
    /// Problems with at least one row.
    pub problems: usize,
    /// Rows written.
    pub rows: usize,
    /// What was left out, and why.
    pub skipped: Skips,
    /// SHA-256 of the bytes written.
    pub sha256: String,
    /// The export's row in the `exports` table (`None` when nothing was written).
    pub export_id: Option<i64>,
}

impl ExportSummary {
    /// Rows per problem used.
    pub fn rows_per_problem(&self) -> f64 {
        if self.problems == 0 {
            0.0
        } else {
            self.rows as f64 / self.problems as f64
        }
    }

    /// The one-line report: problems used, rows, rows per problem, what was skipped.
    pub fn line(&self) -> String {
        let mut line = format!(
            "{} ({}): {} rows from {} problems ({:.2} per problem, {} trees read) -> {}",
            self.format.kind(),
            self.format.name(),
            self.rows,
            self.problems,
            self.rows_per_problem(),
            self.trees,
            self.destination,
        );
        line.push_str(&self.skipped_text());
        line
    }

    /// `; skipped N reason, ...`, or nothing when nothing was skipped.
    fn skipped_text(&self) -> String {
        if self.skipped.0.is_empty() {
            return String::new();
        }
        let skipped: Vec<String> = self
            .skipped
            .0
            .iter()
            .map(|(reason, n)| format!("{n} {reason}"))
            .collect();
        format!("; skipped {}", skipped.join(", "))
    }
}

/// Exports `job.round`'s trees as `job.format` rows to `job.destination`, and
/// records the file in the `exports` table.
///
/// When no row is selected, nothing is written and the error says why, unless
/// `job.write_empty`.
pub async fn export(store: &Store, job: &ExportJob) -> Result<ExportSummary> {
    let mut writer = JsonlWriter::create(&job.destination)?;
    let mut skipped = Skips::default();
    let (mut trees, mut problems) = (0, 0);
    store
        .scan_trees(job.round.id, job.dataset.as_deref(), |tree| -> Result<()> {
            trees += 1;
            if tree.status == "failed" || tree.nodes.is_empty() {
                skipped.add("trees that failed (see `evolve tree list`)", 1);
                return Ok(());
            }
            let indexed = IndexedTree::new(&tree).map_err(|e| anyhow!(e))?;
            let rows = job
                .format
                .write_tree(
                    &indexed,
                    &job.rules,
                    &job.prompter,
                    &mut skipped,
                    &mut writer,
                )
                .with_context(|| format!("exporting tree {}", tree.id))?;
            if rows > 0 {
                problems += 1;
            } else if !indexed.reaches_correct[0] {
                skipped.add("trees with no correct answer", 1);
            } else {
                skipped.add("trees with nothing selected", 1);
            }
            Ok(())
        })
        .await?;
    let mut summary = ExportSummary {
        format: job.format,
        destination: job.destination.label(),
        trees,
        problems,
        rows: writer.rows(),
        skipped,
        sha256: String::new(),
        export_id: None,
    };
    if summary.rows == 0 && !job.write_empty {
        drop(writer);
        let what = match &job.dataset {
            Some(dataset) => format!(
                "round {} of {} ({dataset})",
                job.round.number, job.round.pipeline
            ),
            None => format!("round {} of {}", job.round.number, job.round.pipeline),
        };
        return Err(anyhow!(
            "{what} gives no {} rows: {} trees read{}; nothing written (--write-empty writes an empty file)",
            job.format.kind(),
            summary.trees,
            summary.skipped_text(),
        ));
    }
    summary.sha256 = writer.finish()?;
    let options = json!({
        "rules": job.rules,
        "system_prompt": job.prompter.system.is_some(),
        "examples": job.prompter.examples.len(),
    });
    summary.export_id = Some(
        store
            .record_export(&NewExport {
                kind: job.format.kind().into(),
                format: job.format.name().into(),
                round_id: job.round.id,
                dataset: job.dataset.clone(),
                path: absolute(&summary.destination),
                rows: summary.rows as i64,
                problems: summary.problems as i64,
                sha256: summary.sha256.clone(),
                options: options.to_string(),
            })
            .await?,
    );
    Ok(summary)
}

/// A file's absolute path, so the record stays true from any directory.
fn absolute(label: &str) -> String {
    if label == "-" {
        return label.into();
    }
    std::path::absolute(label)
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| label.into())
}
