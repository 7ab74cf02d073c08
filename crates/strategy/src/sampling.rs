//! Strategies over whole sampled solutions: greedy, majority vote, best-of-N.

use evolve_search::{Policy, StepVerifier};

use crate::outcome::Outcome;
use crate::paths::Path;
use crate::solver::{Solver, StrategyError};
use crate::spec::{Aggregate, Selection};
use crate::vote::{Ballot, vote};

impl<P: Policy, V: StepVerifier> Solver<'_, P, V> {
    /// `n` whole solutions: the `n` first steps drawn as siblings in one call
    /// (the prompt computed once), then every unfinished solution extended by
    /// one step per call. Returned in draw order.
    pub(crate) fn sample(
        &mut self,
        question: &str,
        key: u64,
        n: usize,
        greedy: bool,
    ) -> Result<Vec<Path<P::State>>, StrategyError> {
        let root = self.root(question)?;
        let mut slots: Vec<Path<P::State>> =
            self.extend(question, key, &[(&root, n)], greedy)?.remove(0);
        loop {
            let live: Vec<usize> = (0..slots.len()).filter(|&i| !slots[i].done).collect();
            if live.is_empty() {
                return Ok(slots);
            }
            let items: Vec<(&Path<P::State>, usize)> =
                live.iter().map(|&i| (&slots[i], 1)).collect();
            let next = self.extend(question, key, &items, greedy)?;
            for (i, mut children) in live.into_iter().zip(next) {
                slots[i] = children.remove(0);
            }
        }
    }

    pub(crate) fn greedy(&mut self, question: &str, key: u64) -> Result<Outcome, StrategyError> {
        let paths = self.sample(question, key, 1, true)?;
        Ok(self.pick(paths, Aggregate::Last, Selection::Best, false))
    }

    pub(crate) fn majority(
        &mut self,
        k: usize,
        question: &str,
        key: u64,
    ) -> Result<Outcome, StrategyError> {
        let paths = self.sample(question, key, k, false)?;
        Ok(self.pick(paths, Aggregate::Last, Selection::Vote, false))
    }

    pub(crate) fn best_of_n(
        &mut self,
        n: usize,
        aggregate: Aggregate,
        selection: Selection,
        question: &str,
        key: u64,
    ) -> Result<Outcome, StrategyError> {
        let mut paths = self.sample(question, key, n, false)?;
        if selection != Selection::Vote {
            let mut refs: Vec<&mut Path<P::State>> = paths.iter_mut().collect();
            self.score(question, &mut refs, aggregate != Aggregate::Last)?;
        }
        Ok(self.pick(paths, aggregate, selection, true))
    }

    /// The outcome of finished `paths`: every one a candidate, the answer by
    /// `selection` (greedy and a single path: that path).
    pub(crate) fn pick(
        &self,
        paths: Vec<Path<P::State>>,
        aggregate: Aggregate,
        selection: Selection,
        scored: bool,
    ) -> Outcome {
        let candidates: Vec<_> = paths.iter().map(|p| p.candidate(aggregate)).collect();
        let answered: Vec<usize> = (0..candidates.len())
            .filter(|&i| candidates[i].answer.is_some())
            .collect();
        let chosen = match selection {
            // Highest score; ties to the earliest. Unanswered candidates are
            // chosen only when nothing stated an answer.
            Selection::Best if scored => {
                answered
                    .iter()
                    .copied()
                    .fold(None, |best: Option<usize>, i| match best {
                        Some(b)
                            if candidates[b].score.unwrap_or(f64::MIN)
                                >= candidates[i].score.unwrap_or(f64::MIN) =>
                        {
                            Some(b)
                        }
                        _ => Some(i),
                    })
            }
            Selection::Best => answered.first().copied(),
            Selection::Vote | Selection::Weighted => {
                let ballots: Vec<Ballot<'_>> = answered
                    .iter()
                    .map(|&i| Ballot {
                        answer: candidates[i].answer.as_deref().expect("answered"),
                        weight: match (selection, candidates[i].score) {
                            (Selection::Weighted, Some(s)) if aggregate == Aggregate::Product => s,
                            (Selection::Weighted, Some(s)) => (s + 1.0) / 2.0,
                            _ => 1.0,
                        },
                    })
                    .collect();
                vote(&ballots, |a, b| self.verifier.grade(a, b)).map(|(first, _)| answered[first])
            }
        }
        .or(if candidates.is_empty() { None } else { Some(0) });
        Outcome {
            strategy: String::new(),
            answer: chosen.and_then(|i| candidates[i].answer.clone()),
            chosen,
            candidates,
            difficulty_bin: None,
            compute: Default::default(),
        }
    }
}
