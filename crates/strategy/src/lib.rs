//! Test-time-compute strategies: ways to spend more model calls on a question
//! for a better answer, all driven through the search's seams (a [`Policy`]
//! proposing steps, a [`StepVerifier`] checking them and extracting answers,
//! an optional [`StepScorer`], the PPM).
//!
//! - `greedy`: one solution, most likely token at every step.
//! - `maj@k`: k sampled solutions, majority vote over their answers
//!   (self-consistency, Wang et al.).
//! - `bon@n`: n sampled solutions scored by the PPM (last step, min or product
//!   over steps), the best one or a PPM-weighted vote (Lightman et al.).
//! - `beam@WxC`: step-level beam search, W beams each proposing C next steps,
//!   the PPM keeping the best W, optionally scoring after L greedy lookahead
//!   steps (Snell et al.).
//! - `dvts@NxC`: N/C independent subtrees each kept to its best step
//!   (diverse verifier tree search).
//! - `mcts@RxC`: rStar-Math's MCTS with PPM priors and PPM-scored leaves; the
//!   answer is a vote over the top-scored leaves.
//! - `auto@B`: per question, a difficulty bin from the PPM's scores of a few
//!   samples, then the strategy a calibration table picked for that bin and
//!   budget (compute-optimal scaling, Snell et al.).
//!
//! Every strategy reports its answer, all candidates and the compute spent.
//! Siblings are proposed in one policy call, so a local policy with a prefix
//! cache computes the shared prompt once.
//!
//! [`Policy`]: evolve_search::Policy
//! [`StepVerifier`]: evolve_search::StepVerifier
//! [`StepScorer`]: evolve_search::StepScorer
#![deny(missing_docs)]

pub use crate::auto::{AutoTable, BudgetRow, CalibrationQuestion, DIFFICULTY_BINS};
pub use crate::outcome::{Candidate, Compute, Outcome};
pub use crate::paths::Limits;
pub use crate::solver::{Solver, StrategyError};
pub use crate::spec::{Aggregate, Selection, Strategy, StrategyParseError};
pub use crate::vote::{Ballot, vote};

mod auto;
mod beam;
mod outcome;
mod paths;
mod sampling;
mod solver;
mod spec;
mod tree_search;
mod vote;
