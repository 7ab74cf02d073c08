//! Monte Carlo tree search over reasoning steps, as in rStar-Math.
//!
//! The search knows nothing of models, SQL or Python. It drives three seams:
//! a [`Policy`] proposes k candidate next steps for many tree positions in one
//! batched call, a [`StepVerifier`] checks each new step (arithmetic, code) and
//! grades final answers, and an optional [`StepScorer`] (a process preference
//! model) gives new steps their initial value. [`Mcts::run`] keeps several
//! [`Tree`]s in flight so that the policy batches across problems, and hands
//! each finished tree to an observer.
#![deny(missing_docs)]

pub use crate::error::{BoxError, Error, Result};
pub use crate::mcts::{Config, FinishedTree, Mcts, Observer, SearchProblem, TreeStatus, mix};
pub use crate::seams::{
    End, Policy, Proposal, Request, ScoreInput, StepInput, StepScorer, StepVerifier, Verdict,
};
pub use crate::tree::{Node, NodeId, StepCheck, Tree};

mod error;
mod mcts;
mod seams;
mod tree;
