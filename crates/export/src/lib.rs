//! Fine-tuning data from stored search trees, in files other trainers read
//! unchanged (HF `datasets`, TRL's SFT, DPO, reward and PRM trainers).
//!
//! - SFT ([`Format::Messages`], [`Format::PromptCompletion`]): per problem the
//!   correct trajectories ranked by (mean Q, min Q), the top k.
//! - Preference pairs ([`Format::StepPairs`], [`Format::SolutionPairs`]):
//!   sibling steps that reach correct against wrong answers, as rStar-Math
//!   builds them for its process preference model.
//! - Step labels ([`Format::PerStep`], [`Format::Stepwise`]): every explored
//!   step with its Q and whether a correct answer lies below it.
//!
//! The rules live in [`select`] as pure functions over an [`IndexedTree`];
//! [`export`] streams a round's trees through them a tree at a time and
//! records each file in the database.
#![deny(missing_docs)]

pub use crate::export::{ExportJob, ExportSummary, export};
pub use crate::render::{Example, Prompter, RoundPrompts, output_block, step_as_seen};
pub use crate::rows::Format;
pub use crate::select::{Rules, Skips};
pub use crate::tree::IndexedTree;
pub use crate::writer::{Destination, JsonlWriter};

pub mod bench;
mod export;
mod render;
mod rows;
pub mod select;
mod tree;
mod writer;
