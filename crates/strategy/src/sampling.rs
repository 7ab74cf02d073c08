//! Strategies over whole sampled solutions: greedy, majority vote, best-of-N.

use std::time::Instant;

use evolve_search::{Policy, StepVerifier};

use crate::outcome::{Compute, Outcome};
use crate::paths::{Extension, Path};
use crate::solver::{Solver, StrategyError};
use crate::spec::{Aggregate, Selection, Strategy};
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
        Ok(self.sample_many(&[(question, key)], n, greedy)?.remove(0))
    }

    /// [`Solver::sample`] for several questions at once: each policy call
    /// extends the unfinished solutions of all of them. A question draws the
    /// same tokens as alone (its seeds depend on its key only) as far as the
    /// policy's logits do not depend on the batch: a local model whose
    /// kernels change with the batch's rows (`auto` weights) can differ.
    pub(crate) fn sample_many(
        &mut self,
        questions: &[(&str, u64)],
        n: usize,
        greedy: bool,
    ) -> Result<Vec<Vec<Path<P::State>>>, StrategyError> {
        let roots = questions
            .iter()
            .map(|&(question, _)| self.root(question))
            .collect::<Result<Vec<_>, _>>()?;
        let first: Vec<Extension<'_, P::State>> = questions
            .iter()
            .zip(&roots)
            .map(|(&(question, key), path)| Extension {
                question,
                key,
                path,
                candidates: n,
            })
            .collect();
        let mut slots = self.extend_many(&first, greedy)?;
        drop(first);
        loop {
            let live: Vec<(usize, usize)> = (0..slots.len())
                .flat_map(|q| (0..slots[q].len()).map(move |i| (q, i)))
                .filter(|&(q, i)| !slots[q][i].done)
                .collect();
            if live.is_empty() {
                return Ok(slots);
            }
            let items: Vec<Extension<'_, P::State>> = live
                .iter()
                .map(|&(q, i)| Extension {
                    question: questions[q].0,
                    key: questions[q].1,
                    path: &slots[q][i],
                    candidates: 1,
                })
                .collect();
            let next = self.extend_many(&items, greedy)?;
            drop(items);
            for ((q, i), mut children) in live.into_iter().zip(next) {
                slots[q][i] = children.remove(0);
            }
        }
    }

    /// Solutions wanted by a strategy that samples whole solutions, and
    /// whether greedily; `None` for the others.
    pub(crate) fn sampled(strategy: &Strategy) -> Option<(usize, bool)> {
        match *strategy {
            Strategy::Greedy => Some((1, true)),
            Strategy::Majority { k } => Some((k, false)),
            Strategy::BestOfN { n, .. } => Some((n, false)),
            _ => None,
        }
    }

    /// The outcome of a sampling strategy on `question`'s sampled `paths`
    /// (scored by the PPM where the strategy says).
    pub(crate) fn decide(
        &mut self,
        strategy: &Strategy,
        question: &str,
        mut paths: Vec<Path<P::State>>,
    ) -> Result<Outcome, StrategyError> {
        Ok(match *strategy {
            Strategy::Greedy => self.pick(paths, Aggregate::Last, Selection::Best, false),
            Strategy::Majority { .. } => self.pick(paths, Aggregate::Last, Selection::Vote, false),
            Strategy::BestOfN {
                aggregate,
                selection,
                ..
            } => {
                if selection != Selection::Vote {
                    let mut refs: Vec<&mut Path<P::State>> = paths.iter_mut().collect();
                    self.score(question, &mut refs, aggregate != Aggregate::Last)?;
                }
                self.pick(paths, aggregate, selection, true)
            }
            _ => unreachable!("only sampling strategies decide on sampled paths"),
        })
    }

    /// Runs `strategy` on every question; a strategy that samples whole
    /// solutions (greedy, `maj`, `bon`) samples all questions' solutions in
    /// the same policy calls, so a batch of short greedy decodes keeps the
    /// model busy. Each outcome counts its own tokens, calls and expansions
    /// (the same as [`Solver::solve`] gives it) and an equal share of the
    /// batch's sampling time.
    pub fn solve_many(
        &mut self,
        strategy: &Strategy,
        questions: &[(&str, u64)],
    ) -> Result<Vec<Outcome>, StrategyError> {
        // One question, or a strategy that does not sample: as `solve` runs it.
        let Some((n, greedy)) = Self::sampled(strategy).filter(|_| questions.len() > 1) else {
            return questions
                .iter()
                .map(|&(question, key)| self.solve(strategy, question, key))
                .collect();
        };
        if strategy.needs_scorer() && self.scorer.is_none() {
            return Err(StrategyError::NoScorer);
        }
        let started = Instant::now();
        let samples = self.sample_many(questions, n, greedy)?;
        let share = started.elapsed().as_secs_f64() / questions.len().max(1) as f64;
        let mut outcomes = Vec::with_capacity(questions.len());
        for (&(question, _), paths) in questions.iter().zip(samples) {
            let started = Instant::now();
            let sampling = sampling_compute(&paths);
            self.compute = Compute::default();
            let mut outcome = self.decide(strategy, question, paths)?;
            outcome.strategy = strategy.to_string();
            outcome.compute = Compute {
                scored: self.compute.scored,
                scorer_calls: self.compute.scorer_calls,
                seconds: share + started.elapsed().as_secs_f64(),
                ..sampling
            };
            outcomes.push(outcome);
        }
        Ok(outcomes)
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

/// What sampling `paths` alone costs: one call for the first steps, then one
/// per step while any path runs; one expansion for the siblings of the first
/// step, then one per later step of each path.
fn sampling_compute<S>(paths: &[Path<S>]) -> Compute {
    let steps = |p: &Path<S>| p.steps.len().max(1);
    Compute {
        generated_tokens: paths.iter().map(|p| p.tokens).sum(),
        policy_calls: paths.iter().map(steps).max().unwrap_or(0),
        expansions: 1 + paths.iter().map(|p| steps(p) - 1).sum::<usize>(),
        ..Compute::default()
    }
}
