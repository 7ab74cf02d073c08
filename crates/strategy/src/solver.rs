//! The solver: one question, one strategy, the policy, verifier and scorer it
//! runs on.

use std::time::Instant;

use evolve_search::{BoxError, Policy, StepScorer, StepVerifier};

use crate::auto::AutoTable;
use crate::outcome::{Compute, Outcome};
use crate::paths::Limits;
use crate::spec::Strategy;

/// Why a strategy could not run.
#[derive(Debug, thiserror::Error)]
pub enum StrategyError {
    /// The policy failed.
    #[error("the policy failed")]
    Policy(#[source] BoxError),
    /// The scorer failed.
    #[error("the step scorer (PPM) failed")]
    Scorer(#[source] BoxError),
    /// The strategy scores steps and no scorer was given.
    #[error("this strategy scores steps: give it a PPM")]
    NoScorer,
    /// `auto` ran without a calibration table.
    #[error("auto needs a calibration table: run `evolve eval --calibrate` first")]
    NoTable,
    /// The MCTS failed.
    #[error(transparent)]
    Search(#[from] evolve_search::Error),
}

/// Runs strategies on questions.
pub struct Solver<'a, P: Policy, V: StepVerifier> {
    pub(crate) policy: &'a mut P,
    pub(crate) verifier: &'a V,
    pub(crate) scorer: Option<&'a mut dyn StepScorer>,
    pub(crate) limits: Limits,
    pub(crate) seed: u64,
    pub(crate) table: Option<&'a AutoTable>,
    /// The current question's compute.
    pub(crate) compute: Compute,
}

impl<'a, P: Policy, V: StepVerifier> Solver<'a, P, V> {
    /// A solver over `policy` and `verifier`, with no scorer, default limits,
    /// seed 0 and no calibration table.
    pub fn new(policy: &'a mut P, verifier: &'a V) -> Solver<'a, P, V> {
        Solver {
            policy,
            verifier,
            scorer: None,
            limits: Limits::default(),
            seed: 0,
            table: None,
            compute: Compute::default(),
        }
    }

    /// Scores steps with `scorer` (a PPM).
    pub fn with_scorer(mut self, scorer: Option<&'a mut dyn StepScorer>) -> Self {
        self.scorer = scorer;
        self
    }

    /// Ends solutions at `limits`.
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Seeds sampling (with the question's key, so results do not depend on
    /// which questions ran before).
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// The calibration table `auto` chooses from.
    pub fn with_table(mut self, table: Option<&'a AutoTable>) -> Self {
        self.table = table;
        self
    }

    /// Runs `strategy` on `question`; `key` (the problem's id) seeds it.
    pub fn solve(
        &mut self,
        strategy: &Strategy,
        question: &str,
        key: u64,
    ) -> Result<Outcome, StrategyError> {
        let started = Instant::now();
        self.compute = Compute::default();
        if strategy.needs_scorer() && self.scorer.is_none() {
            return Err(StrategyError::NoScorer);
        }
        let mut outcome = match *strategy {
            Strategy::Auto { budget } => self.auto(budget, question, key)?,
            _ => self.run(strategy, question, key)?,
        };
        outcome.compute = self.compute;
        outcome.compute.seconds = started.elapsed().as_secs_f64();
        Ok(outcome)
    }

    /// Any strategy but `auto`.
    pub(crate) fn run(
        &mut self,
        strategy: &Strategy,
        question: &str,
        key: u64,
    ) -> Result<Outcome, StrategyError> {
        match *strategy {
            Strategy::Greedy | Strategy::Majority { .. } | Strategy::BestOfN { .. } => {
                let (n, greedy) = Self::sampled(strategy).expect("a sampling strategy");
                let paths = self.sample(question, key, n, greedy)?;
                self.decide(strategy, question, paths)
            }
            Strategy::Beam {
                width,
                candidates,
                lookahead,
            } => self.beam(1, width, candidates, lookahead, question, key),
            Strategy::Dvts { n, candidates } => {
                self.beam(n / candidates, 1, candidates, 0, question, key)
            }
            Strategy::Mcts {
                rollouts,
                candidates,
                top,
            } => self.mcts(rollouts, candidates, top, question, key),
            Strategy::Auto { .. } => unreachable!("auto chooses another strategy"),
        }
        .map(|mut outcome| {
            outcome.strategy = strategy.to_string();
            outcome
        })
    }
}
