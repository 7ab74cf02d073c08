//! Partial solutions and the two things every strategy does to them: extend
//! them by proposed steps (checked, and ended the way the search ends them)
//! and score them with the PPM.

use evolve_search::{
    End, Policy, Request, ScoreInput, StepCheck, StepInput, StepVerifier, Verdict, mix,
};
use rayon::prelude::*;

use crate::outcome::Candidate;
use crate::solver::{Solver, StrategyError};
use crate::spec::Aggregate;

/// When a solution ends whatever it says; the search's defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Steps after which a solution ends.
    pub max_depth: usize,
    /// Generated tokens after which a solution ends.
    pub max_path_tokens: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_depth: 16,
            max_path_tokens: 2048,
        }
    }
}

/// A partial or finished solution.
#[derive(Debug, Clone)]
pub(crate) struct Path<S> {
    /// The policy's state after the last step; `None` once done.
    pub state: Option<S>,
    pub steps: Vec<String>,
    /// Code of the steps whose check passed, for later steps' checks.
    pub code: Vec<String>,
    pub tokens: usize,
    pub done: bool,
    pub answer: Option<String>,
    /// The PPM's score after each step (`None`: not scored).
    pub scores: Vec<Option<f64>>,
    /// Identifies the path within its question, for seeds.
    pub key: u64,
}

impl<S> Path<S> {
    /// The score under `aggregate` (`None` when a needed step is unscored).
    pub fn score(&self, aggregate: Aggregate) -> Option<f64> {
        match aggregate {
            Aggregate::Last => self.scores.last().copied().flatten(),
            Aggregate::Min => self
                .scores
                .iter()
                .copied()
                .collect::<Option<Vec<f64>>>()
                .and_then(|s| s.into_iter().reduce(f64::min)),
            Aggregate::Product => self
                .scores
                .iter()
                .map(|s| s.map(|s| (s + 1.0) / 2.0))
                .product::<Option<f64>>(),
        }
    }

    pub fn candidate(&self, aggregate: Aggregate) -> Candidate {
        Candidate {
            steps: self.steps.clone(),
            answer: self.answer.clone(),
            score: self.score(aggregate),
            tokens: self.tokens,
        }
    }
}

/// A path to extend, with the question it answers.
pub(crate) struct Extension<'a, S> {
    pub question: &'a str,
    /// The question's key (seeds).
    pub key: u64,
    pub path: &'a Path<S>,
    /// Candidate next steps wanted.
    pub candidates: usize,
}

impl<P: Policy, V: StepVerifier> Solver<'_, P, V> {
    /// The empty solution of `question`.
    pub(crate) fn root(&mut self, question: &str) -> Result<Path<P::State>, StrategyError> {
        let state = self.policy.root(question).map_err(StrategyError::Policy)?;
        Ok(Path {
            state: Some(state),
            steps: Vec::new(),
            code: Vec::new(),
            tokens: 0,
            done: false,
            answer: None,
            scores: Vec::new(),
            key: 0,
        })
    }

    /// Proposes `candidates` next steps for each unfinished path in one policy
    /// call, checks them, and returns each path's children in proposal order.
    /// A child ends as the search's leaves do: it states an answer, the model
    /// ended its turn or ran out of step tokens, or a limit is reached. Failed
    /// step checks do not end a path here (the search prunes on them; a
    /// strategy only reads answers).
    pub(crate) fn extend(
        &mut self,
        question: &str,
        key: u64,
        items: &[(&Path<P::State>, usize)],
        greedy: bool,
    ) -> Result<Vec<Vec<Path<P::State>>>, StrategyError> {
        let items: Vec<Extension<'_, P::State>> = items
            .iter()
            .map(|&(path, candidates)| Extension {
                question,
                key,
                path,
                candidates,
            })
            .collect();
        self.extend_many(&items, greedy)
    }

    /// [`Solver::extend`] over paths of several questions, in one policy call.
    pub(crate) fn extend_many(
        &mut self,
        items: &[Extension<'_, P::State>],
        greedy: bool,
    ) -> Result<Vec<Vec<Path<P::State>>>, StrategyError> {
        let requests: Vec<Request<'_, P::State>> = items
            .iter()
            .map(|item| Request {
                state: item
                    .path
                    .state
                    .as_ref()
                    .expect("only unfinished paths are extended"),
                candidates: item.candidates,
                seed: mix(&[
                    self.seed,
                    item.key,
                    item.path.key,
                    item.path.steps.len() as u64,
                ]),
                greedy,
            })
            .collect();
        let proposals = self
            .policy
            .propose(&requests)
            .map_err(StrategyError::Policy)?;
        drop(requests);
        self.compute.policy_calls += 1;
        self.compute.expansions += items.len();

        let mut children: Vec<Vec<(Path<P::State>, End)>> = Vec::with_capacity(items.len());
        for (item, proposals) in items.iter().zip(proposals) {
            let parent = item.path;
            let mut these = Vec::with_capacity(proposals.len());
            for (i, proposal) in proposals.into_iter().enumerate() {
                self.compute.generated_tokens += proposal.tokens;
                let mut child = Path {
                    state: Some(proposal.state),
                    steps: parent.steps.clone(),
                    code: parent.code.clone(),
                    tokens: parent.tokens + proposal.tokens,
                    done: false,
                    answer: None,
                    scores: parent.scores.clone(),
                    key: mix(&[parent.key, i as u64 + 1]),
                };
                child.steps.push(proposal.text);
                child.scores.push(None);
                these.push((child, proposal.end));
            }
            children.push(these);
        }

        let limits = self.limits;
        let verifier = self.verifier;
        let mut verdicts = {
            let inputs: Vec<StepInput<'_>> = items
                .iter()
                .zip(&children)
                .flat_map(|(item, these)| these.iter().map(move |c| (item.question, c)))
                .map(|(question, (child, end))| {
                    let (text, earlier) = child.steps.split_last().expect("a new step");
                    StepInput {
                        question,
                        path: earlier.iter().map(String::as_str).collect(),
                        path_code: child.code.iter().map(String::as_str).collect(),
                        text,
                        end: *end,
                        last: child.steps.len() >= limits.max_depth
                            || child.tokens >= limits.max_path_tokens,
                    }
                })
                .collect();
            inputs
                .par_iter()
                .map(|input| verifier.check(input))
                .collect::<Vec<Verdict>>()
                .into_iter()
        };

        let mut out = Vec::with_capacity(children.len());
        for these in children {
            let mut paths = Vec::with_capacity(these.len());
            for (mut child, end) in these {
                let verdict = verdicts.next().expect("one verdict per child");
                if verdict.check != Some(StepCheck::Error)
                    && let Some(code) = verdict.code
                {
                    child.code.push(code);
                }
                child.done = verdict.is_final
                    || end != End::Delimiter
                    || child.steps.len() >= limits.max_depth
                    || child.tokens >= limits.max_path_tokens;
                if child.done {
                    child.answer = verdict.answer;
                    child.state = None;
                } else if let Some(context) = verdict.context {
                    let state = child
                        .state
                        .as_mut()
                        .expect("an unfinished path keeps its state");
                    self.policy
                        .append(state, &context)
                        .map_err(StrategyError::Policy)?;
                }
                paths.push(child);
            }
            out.push(paths);
        }
        Ok(out)
    }

    /// Scores the paths' unscored steps: only the last (`every_step` false) or
    /// every one, in one scorer call.
    pub(crate) fn score(
        &mut self,
        question: &str,
        paths: &mut [&mut Path<P::State>],
        every_step: bool,
    ) -> Result<(), StrategyError> {
        let mut wanted: Vec<(usize, usize)> = Vec::new();
        for (p, path) in paths.iter().enumerate() {
            let n = path.steps.len();
            if every_step {
                wanted.extend((0..n).filter(|&d| path.scores[d].is_none()).map(|d| (p, d)));
            } else if n > 0 && path.scores[n - 1].is_none() {
                wanted.push((p, n - 1));
            }
        }
        if wanted.is_empty() {
            return Ok(());
        }
        let scorer = self.scorer.as_deref_mut().ok_or(StrategyError::NoScorer)?;
        let inputs: Vec<ScoreInput<'_>> = wanted
            .iter()
            .map(|&(p, d)| ScoreInput {
                question,
                steps: paths[p].steps[..=d].iter().map(String::as_str).collect(),
            })
            .collect();
        let scores = scorer.score(&inputs).map_err(StrategyError::Scorer)?;
        drop(inputs);
        for (&(p, d), score) in wanted.iter().zip(scores) {
            paths[p].scores[d] = Some(score);
        }
        self.compute.scored += wanted.len();
        self.compute.scorer_calls += 1;
        Ok(())
    }
}
