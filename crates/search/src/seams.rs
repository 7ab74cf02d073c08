//! The traits the search drives: a step proposer (the policy), a step verifier
//! and a step scorer.

use crate::error::BoxError;
use crate::tree::StepCheck;

/// Why the policy stopped generating a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// The step delimiter was produced: more steps may follow.
    Delimiter,
    /// The model ended its turn: the solution is over.
    EndOfTurn,
    /// The step's token limit was reached without a delimiter.
    Length,
}

/// One position to expand: k candidates from `state`.
#[derive(Debug)]
pub struct Request<'a, S> {
    /// The policy's state at the node (its context so far).
    pub state: &'a S,
    /// Number of candidate steps wanted.
    pub candidates: usize,
    /// Seed for this expansion, derived from the run seed, the problem and the
    /// node, so results do not depend on which other trees share the batch.
    pub seed: u64,
    /// Take the most likely token at every position instead of sampling.
    pub greedy: bool,
}

/// One candidate next step.
#[derive(Debug, Clone)]
pub struct Proposal<S> {
    /// The step's text, delimiter included.
    pub text: String,
    /// Tokens generated for it.
    pub tokens: usize,
    /// Sum of its tokens' log-probabilities.
    pub logprob: f64,
    /// Why generation stopped.
    pub end: End,
    /// The policy's state after the step.
    pub state: S,
}

/// The step proposer: a language model generating next steps.
pub trait Policy {
    /// The context at a node (for a local model: its key/value cache).
    type State: Clone;

    /// The state at the root of a tree: the prompt for `question`.
    fn root(&mut self, question: &str) -> Result<Self::State, BoxError>;

    /// Proposes candidates for each request, all in one batch; the outer result
    /// has one entry per request, each with `candidates` proposals.
    fn propose(
        &mut self,
        requests: &[Request<'_, Self::State>],
    ) -> Result<Vec<Vec<Proposal<Self::State>>>, BoxError>;

    /// Extends a state with text that is not the model's (a step's execution output).
    fn append(&mut self, state: &mut Self::State, text: &str) -> Result<(), BoxError>;
}

/// A new step to check, with the path that leads to it.
#[derive(Debug)]
pub struct StepInput<'a> {
    /// The problem's question.
    pub question: &'a str,
    /// The earlier steps' texts, root first.
    pub path: Vec<&'a str>,
    /// The earlier steps' code (for code steps) that ran without error, root first.
    pub path_code: Vec<&'a str>,
    /// The new step.
    pub text: &'a str,
    /// Why its generation stopped.
    pub end: End,
    /// Whether the step ends the solution whatever it says (depth or token limit).
    pub last: bool,
}

/// The verifier's verdict on one step.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Verdict {
    /// Step check result; `None` when the step has nothing to check.
    pub check: Option<StepCheck>,
    /// The step's code, for code steps.
    pub code: Option<String>,
    /// Execution output or the reason the check failed.
    pub output: Option<String>,
    /// Text to append to the policy's context after the step (an output block).
    pub context: Option<String>,
    /// The final answer the step commits to.
    pub answer: Option<String>,
    /// Whether the step ends the solution (it states a final answer).
    pub is_final: bool,
}

/// Checks steps and grades final answers. Called from several threads at once.
pub trait StepVerifier: Sync {
    /// Checks one new step.
    fn check(&self, step: &StepInput<'_>) -> Verdict;

    /// Whether `answer` equals the gold answer `gold`.
    fn grade(&self, answer: &str, gold: &str) -> bool;
}

/// A partial solution to score.
#[derive(Debug)]
pub struct ScoreInput<'a> {
    /// The problem's question.
    pub question: &'a str,
    /// The steps so far, the new one last.
    pub steps: Vec<&'a str>,
}

/// A process preference model: scores partial solutions in [-1, 1].
pub trait StepScorer {
    /// One score for each input.
    fn score(&mut self, inputs: &[ScoreInput<'_>]) -> Result<Vec<f64>, BoxError>;
}
