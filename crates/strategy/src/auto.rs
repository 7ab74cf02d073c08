//! Compute-optimal strategy choice (Snell et al.): a question's difficulty
//! bin from the PPM's mean score of a few sampled solutions (no gold answer
//! used), then, per bin and budget, the strategy that did best on a
//! calibration split.

use serde::{Deserialize, Serialize};

use evolve_search::{Policy, StepVerifier};

use crate::outcome::Outcome;
use crate::paths::Path;
use crate::solver::{Solver, StrategyError};
use crate::spec::Strategy;

/// Difficulty bins: 0 the easiest fifth of the calibration questions by the
/// PPM's score, 4 the hardest.
pub const DIFFICULTY_BINS: usize = 5;

/// The strategy per difficulty bin at one budget.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BudgetRow {
    /// Budget in samples.
    pub budget: usize,
    /// Strategy names, one per bin (easiest first).
    pub strategies: Vec<String>,
    /// Their calibration accuracy, one per bin.
    pub accuracy: Vec<f64>,
}

/// What `evolve eval --calibrate` learns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AutoTable {
    /// Sampled solutions whose mean PPM score places a question.
    pub probe: usize,
    /// Ascending score cut points between bins (`DIFFICULTY_BINS - 1`).
    pub thresholds: Vec<f64>,
    /// One row per budget, ascending.
    pub rows: Vec<BudgetRow>,
}

/// One calibration question: its probe score and each strategy's result.
#[derive(Debug, Clone)]
pub struct CalibrationQuestion {
    /// Mean PPM score of the probe samples.
    pub probe_score: f64,
    /// (strategy, correct, generated tokens).
    pub results: Vec<(Strategy, bool, usize)>,
}

impl AutoTable {
    /// The bin of a probe score: 0 at or above the top cut point.
    pub fn bin(&self, probe_score: f64) -> usize {
        self.thresholds.iter().filter(|&&t| probe_score < t).count()
    }

    /// The strategy for `bin` at the largest calibrated budget within `budget`
    /// (the smallest budget when all exceed it).
    pub fn choose(&self, budget: usize, bin: usize) -> Option<Strategy> {
        let row = self
            .rows
            .iter()
            .rev()
            .find(|r| r.budget <= budget)
            .or(self.rows.first())?;
        row.strategies.get(bin)?.parse().ok()
    }

    /// Learns the table: cut points at the quantiles of the probe scores, and
    /// per budget and bin the most accurate strategy of that budget (ties: the
    /// fewer tokens, then the one listed first).
    pub fn calibrate(probe: usize, questions: &[CalibrationQuestion]) -> AutoTable {
        let mut scores: Vec<f64> = questions.iter().map(|q| q.probe_score).collect();
        scores.sort_by(f64::total_cmp);
        let thresholds: Vec<f64> = (1..DIFFICULTY_BINS)
            .map(|i| {
                if scores.is_empty() {
                    0.0
                } else {
                    scores[(i * scores.len() / DIFFICULTY_BINS).min(scores.len() - 1)]
                }
            })
            .collect();
        let mut table = AutoTable {
            probe,
            thresholds,
            rows: Vec::new(),
        };
        let mut budgets: Vec<usize> = questions
            .iter()
            .flat_map(|q| q.results.iter().map(|r| r.0.budget()))
            .collect();
        budgets.sort_unstable();
        budgets.dedup();
        for budget in budgets {
            let mut strategies: Vec<Strategy> = Vec::new();
            for q in questions {
                for (s, _, _) in &q.results {
                    if s.budget() == budget && !strategies.contains(s) {
                        strategies.push(*s);
                    }
                }
            }
            let mut row = BudgetRow {
                budget,
                strategies: Vec::new(),
                accuracy: Vec::new(),
            };
            for bin in 0..DIFFICULTY_BINS {
                let in_bin: Vec<&CalibrationQuestion> = questions
                    .iter()
                    .filter(|q| table.bin(q.probe_score) == bin)
                    .collect();
                // An empty bin takes the best over all questions.
                let pool: Vec<&CalibrationQuestion> = if in_bin.is_empty() {
                    questions.iter().collect()
                } else {
                    in_bin
                };
                let (mut best, mut best_key) = (None, (f64::MIN, f64::MIN));
                for s in &strategies {
                    let (mut right, mut tokens, mut n) = (0.0, 0.0, 0.0);
                    for q in &pool {
                        for (_, correct, t) in q.results.iter().filter(|r| r.0 == *s) {
                            right += f64::from(u8::from(*correct));
                            tokens += *t as f64;
                            n += 1.0;
                        }
                    }
                    if n == 0.0 {
                        continue;
                    }
                    let key = (right / n, -tokens / n);
                    if key.0 > best_key.0 || (key.0 == best_key.0 && key.1 > best_key.1) {
                        best_key = key;
                        best = Some(*s);
                    }
                }
                if let Some(s) = best {
                    row.strategies.push(s.to_string());
                    row.accuracy.push(best_key.0);
                }
            }
            if row.strategies.len() == DIFFICULTY_BINS {
                table.rows.push(row);
            }
        }
        table
    }
}

impl<P: Policy, V: StepVerifier> Solver<'_, P, V> {
    /// The probe score of `question`: the mean PPM score of `probe` sampled
    /// solutions' last steps.
    pub fn probe_score(
        &mut self,
        question: &str,
        key: u64,
        probe: usize,
    ) -> Result<f64, StrategyError> {
        let mut paths: Vec<Path<P::State>> =
            self.sample(question, key ^ 0x5052_4f42, probe, false)?;
        let mut refs: Vec<&mut Path<P::State>> = paths.iter_mut().collect();
        self.score(question, &mut refs, false)?;
        let scores: Vec<f64> = paths
            .iter()
            .filter_map(|p| p.scores.last().copied().flatten())
            .collect();
        Ok(scores.iter().sum::<f64>() / scores.len().max(1) as f64)
    }

    pub(crate) fn auto(
        &mut self,
        budget: usize,
        question: &str,
        key: u64,
    ) -> Result<Outcome, StrategyError> {
        let table = self.table.ok_or(StrategyError::NoTable)?;
        let score = self.probe_score(question, key, table.probe)?;
        let bin = table.bin(score);
        let strategy = table.choose(budget, bin).ok_or(StrategyError::NoTable)?;
        let mut outcome = self.run(&strategy, question, key)?;
        outcome.difficulty_bin = Some(bin);
        Ok(outcome)
    }
}
