//! The SQLite store of evolve: the schema's only reader and writer.
//!
//! [`Store`] opens (or creates) a database, applies the embedded migrations from
//! the workspace's `migrations/` folder and refuses a database that a newer build
//! migrated. Datasets and problems are written through [`Store::import_problems`],
//! one transaction per call; [`Store::query`] runs a user's ad-hoc SQL for
//! `evolve sql`. Search trees are written whole, one transaction each, by
//! [`Store::insert_tree`], and read back a tree at a time by [`Store::scan_trees`]
//! for the exports, each recorded by [`Store::record_export`]. `evolve round`
//! records each round's plan, phases and trained models ([`RoundRecord`],
//! [`PhaseRecord`]).
#![deny(missing_docs)]

pub use crate::datasets::{
    DatasetSummary, ImportReport, NewDataset, NewProblem, Problem, SplitReport,
};
pub use crate::db::{SCHEMA_VERSION, Store};
pub use crate::error::{Error, Result};
pub use crate::evaluations::{EvaluationSummary, NewEvaluation, NewResult};
pub use crate::exports::{NewExport, StoredExport, StoredModel, Training};
pub use crate::query::{Cell, Rows};
pub use crate::rounds::{PhaseRecord, RoundRecord};
pub use crate::trees::{NewModel, NewNode, NewTree, Round, StoredNode, StoredTree, TreeSummary};

mod datasets;
mod db;
mod error;
mod evaluations;
mod exports;
mod query;
mod rounds;
mod trees;
