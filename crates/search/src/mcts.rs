//! The search driver: rollouts of selection, batched expansion, step checks,
//! grading and back-propagation, over several trees at once.

use std::time::Instant;

use rayon::prelude::*;

use crate::error::{BoxError, Error, Result};
use crate::seams::{
    End, Policy, Request, ScoreInput, StepInput, StepScorer, StepVerifier, Verdict,
};
use crate::tree::{NodeId, StepCheck, Tree};

/// Search settings; the defaults are rStar-Math's.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Rollouts per problem.
    pub rollouts: u32,
    /// Candidate steps proposed at each expansion (duplicates are merged).
    pub candidates: usize,
    /// UCT exploration constant.
    pub c: f64,
    /// Steps after which a solution ends.
    pub max_depth: usize,
    /// Generated tokens from the root after which a solution ends.
    pub max_path_tokens: usize,
    /// Failed step checks in a row after which a path is pruned (0: never).
    pub max_errors_in_a_row: u32,
    /// Run seed.
    pub seed: u64,
    /// Trees grown at once, so the policy batches across them.
    pub trees_in_flight: usize,
    /// Wall-clock limit per tree; a tree past it is stored as timed out.
    pub max_seconds: Option<f64>,
    /// Value leaves by the scorer's score instead of the gold answer (test
    /// time, where there is none); needs a scorer.
    pub score_leaves: bool,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            rollouts: 16,
            candidates: 8,
            c: 2.0,
            max_depth: 16,
            max_path_tokens: 2048,
            max_errors_in_a_row: 1,
            seed: 0,
            trees_in_flight: 4,
            max_seconds: None,
            score_leaves: false,
        }
    }
}

/// A problem to search: `key` identifies it in seeds and results.
#[derive(Debug, Clone)]
pub struct SearchProblem {
    /// Stable identifier (the problem's id in the store).
    pub key: u64,
    /// The question.
    pub question: String,
    /// The gold answer.
    pub gold: String,
}

/// How a tree ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TreeStatus {
    /// All rollouts ran.
    Done,
    /// The per-tree time limit ran out first.
    Timeout,
}

/// A tree whose rollouts are over; policy states are dropped.
#[derive(Debug)]
pub struct FinishedTree<S> {
    /// The problem.
    pub problem: SearchProblem,
    /// The tree.
    pub tree: Tree<S>,
    /// How it ended.
    pub status: TreeStatus,
    /// Rollouts completed.
    pub rollouts: u32,
    /// Wall-clock seconds from its first expansion to its last.
    pub seconds: f64,
    /// Candidates merged as duplicates.
    pub duplicates: u32,
    /// Tokens generated for the tree, merged duplicates included.
    pub generated_tokens: usize,
}

/// Receives progress and finished trees.
pub trait Observer<S> {
    /// A batch of expansions generated `tokens` tokens.
    fn expanded(&mut self, _tokens: usize) {}

    /// A tree is finished; an error stops the search.
    fn finished(&mut self, tree: FinishedTree<S>) -> std::result::Result<(), BoxError>;
}

/// Monte Carlo tree search over a policy, a verifier and an optional scorer.
pub struct Mcts<'a, P: Policy, V: StepVerifier> {
    /// Proposes steps.
    pub policy: &'a mut P,
    /// Checks steps and grades answers.
    pub verifier: &'a V,
    /// Gives new steps their initial value (a PPM); `None` for terminal-guided search.
    pub scorer: Option<&'a mut dyn StepScorer>,
    /// Settings.
    pub config: Config,
}

struct Live<S> {
    problem: SearchProblem,
    tree: Tree<S>,
    rollouts: u32,
    /// The leaf waiting for expansion.
    expanding: NodeId,
    started: Instant,
    duplicates: u32,
    generated_tokens: usize,
    timed_out: bool,
}

impl<P: Policy, V: StepVerifier> Mcts<'_, P, V> {
    /// Searches every problem, `trees_in_flight` at a time, handing each
    /// finished tree to `observer` in the order they finish.
    pub fn run(
        &mut self,
        problems: impl IntoIterator<Item = SearchProblem>,
        observer: &mut dyn Observer<P::State>,
    ) -> Result<()> {
        let mut queue = problems.into_iter();
        let mut live: Vec<Live<P::State>> = Vec::new();
        loop {
            while live.len() < self.config.trees_in_flight.max(1) {
                let Some(problem) = queue.next() else { break };
                let root = self.policy.root(&problem.question).map_err(Error::Policy)?;
                let tree = Live {
                    tree: Tree::new(&problem.question, root),
                    problem,
                    rollouts: 0,
                    expanding: 0,
                    started: Instant::now(),
                    duplicates: 0,
                    generated_tokens: 0,
                    timed_out: false,
                };
                if self.config.rollouts == 0 {
                    finish(tree, observer)?;
                } else {
                    live.push(tree);
                }
            }
            if live.is_empty() {
                return Ok(());
            }
            self.expand(&mut live, observer)?;
            let mut still = Vec::with_capacity(live.len());
            for mut tree in live {
                let from = tree.expanding;
                match self.descend(&mut tree, from, true) {
                    Some(next) => {
                        tree.expanding = next;
                        still.push(tree);
                    }
                    None => finish(tree, observer)?,
                }
            }
            live = still;
        }
    }

    /// Expands every live tree's waiting leaf in one policy call, then checks,
    /// grades and scores the new children.
    fn expand(
        &mut self,
        live: &mut [Live<P::State>],
        observer: &mut dyn Observer<P::State>,
    ) -> Result<()> {
        let config = &self.config;
        let requests: Vec<Request<'_, P::State>> = live
            .iter()
            .map(|t| Request {
                state: t
                    .tree
                    .state(t.expanding)
                    .expect("a leaf waiting for expansion keeps its state"),
                candidates: config.candidates,
                seed: mix(&[config.seed, t.problem.key, t.expanding as u64]),
                greedy: false,
            })
            .collect();
        let proposals = self.policy.propose(&requests).map_err(Error::Policy)?;
        drop(requests);
        observer.expanded(proposals.iter().flatten().map(|p| p.tokens).sum());

        // New children, duplicates merged, each with its proposal's end.
        let mut new_children: Vec<(usize, NodeId, End)> = Vec::new();
        for (index, (tree, proposals)) in live.iter_mut().zip(proposals).enumerate() {
            let parent = tree.expanding;
            let mut seen: Vec<(String, NodeId)> = Vec::new();
            for proposal in proposals {
                tree.generated_tokens += proposal.tokens;
                let key = proposal
                    .text
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ");
                if let Some((_, kept)) = seen.iter().find(|(k, _)| *k == key) {
                    tree.tree.node_mut(*kept).duplicates += 1;
                    tree.duplicates += 1;
                    continue;
                }
                let parent_tokens = tree.tree.node(parent).path_tokens;
                let child = tree.tree.add_child(parent, Some(proposal.state));
                let node = tree.tree.node_mut(child);
                node.text = proposal.text;
                node.tokens = proposal.tokens;
                node.logprob = proposal.logprob;
                node.path_tokens = parent_tokens + proposal.tokens;
                seen.push((key, child));
                new_children.push((index, child, proposal.end));
            }
            // Only the children's states are needed from here on.
            tree.tree.drop_state(parent);
        }

        let verdicts: Vec<Verdict> = {
            let inputs: Vec<StepInput<'_>> = new_children
                .iter()
                .map(|&(index, child, end)| {
                    let tree = &live[index].tree;
                    let path = tree.path(child);
                    let node = tree.node(child);
                    let earlier = &path[1..path.len() - 1];
                    StepInput {
                        question: &tree.question,
                        path: earlier
                            .iter()
                            .map(|&id| tree.node(id).text.as_str())
                            .collect(),
                        // Code that failed is not run again on the way to later steps.
                        path_code: earlier
                            .iter()
                            .map(|&id| tree.node(id))
                            .filter(|n| n.check != Some(StepCheck::Error))
                            .filter_map(|n| n.code.as_deref())
                            .collect(),
                        text: &node.text,
                        end,
                        last: node.depth >= config.max_depth
                            || node.path_tokens >= config.max_path_tokens,
                    }
                })
                .collect();
            let verifier = self.verifier;
            inputs
                .par_iter()
                .map(|input| verifier.check(input))
                .collect()
        };

        // Scores first: at test time a leaf's value is its score.
        if let Some(scorer) = self.scorer.as_deref_mut() {
            let scores = {
                let inputs: Vec<ScoreInput<'_>> = new_children
                    .iter()
                    .map(|&(index, child, _)| {
                        let tree = &live[index].tree;
                        ScoreInput {
                            question: &tree.question,
                            steps: tree.path(child)[1..]
                                .iter()
                                .map(|&id| tree.node(id).text.as_str())
                                .collect(),
                        }
                    })
                    .collect();
                scorer.score(&inputs).map_err(Error::Scorer)?
            };
            for (&(index, child, _), score) in new_children.iter().zip(scores) {
                live[index].tree.node_mut(child).prior = Some(score);
            }
        }
        for (&(index, child, end), verdict) in new_children.iter().zip(verdicts) {
            let tree = &mut live[index];
            let gold = &tree.problem.gold;
            let parent_errors = tree
                .tree
                .node(tree.tree.node(child).parent.expect("a child"))
                .errors_in_a_row;
            let node = tree.tree.node_mut(child);
            let failed = verdict.check == Some(StepCheck::Error);
            node.errors_in_a_row = if failed { parent_errors + 1 } else { 0 };
            node.check = verdict.check;
            node.code = verdict.code;
            node.output = verdict.output;
            let pruned = failed
                && config.max_errors_in_a_row > 0
                && node.errors_in_a_row >= config.max_errors_in_a_row;
            node.terminal = verdict.is_final
                || end != End::Delimiter
                || pruned
                || node.depth >= config.max_depth
                || node.path_tokens >= config.max_path_tokens;
            if node.terminal {
                node.correct = Some(
                    verdict
                        .answer
                        .as_deref()
                        .is_some_and(|answer| self.verifier.grade(answer, gold)),
                );
                node.answer = verdict.answer;
                let reward = leaf_reward(config.score_leaves, node);
                tree.tree.drop_state(child);
                // Every leaf is graded and its reward back-propagated as soon
                // as it exists, whether or not a rollout goes through it.
                tree.tree.backpropagate(child, reward);
            } else if let Some(context) = verdict.context {
                let state = tree
                    .tree
                    .state_mut(child)
                    .expect("a new child keeps its state");
                self.policy.append(state, &context).map_err(Error::Policy)?;
            }
        }

        Ok(())
    }

    /// Walks down from `from` by UCT. A terminal node reached ends a rollout: its
    /// reward is back-propagated (unless it was created by the expansion just
    /// made, which already did) and the next rollout starts at the root.
    /// Returns the next leaf to expand, or `None` when the tree is finished.
    fn descend(
        &self,
        live: &mut Live<P::State>,
        from: NodeId,
        just_expanded: bool,
    ) -> Option<NodeId> {
        let mut at = from;
        // Only the step right after an expansion reaches a just-evaluated leaf.
        let mut first_step = just_expanded;
        let mut evaluated = false;
        loop {
            let node = live.tree.node(at);
            if node.terminal {
                if !evaluated {
                    let reward = leaf_reward(self.config.score_leaves, node);
                    live.tree.backpropagate(at, reward);
                }
                live.rollouts += 1;
                if live.rollouts >= self.config.rollouts {
                    return None;
                }
                if self
                    .config
                    .max_seconds
                    .is_some_and(|limit| live.started.elapsed().as_secs_f64() > limit)
                {
                    live.timed_out = true;
                    return None;
                }
                at = 0;
                first_step = false;
                evaluated = false;
                continue;
            }
            match live.tree.select_child(at, self.config.c) {
                Some(child) => {
                    evaluated = first_step;
                    first_step = false;
                    at = child;
                }
                None => return Some(at),
            }
        }
    }
}

/// A leaf's value: its score at test time, else +1 correct / -1 not.
fn leaf_reward(score_leaves: bool, node: &crate::tree::Node) -> f64 {
    if score_leaves {
        node.prior.unwrap_or(-1.0)
    } else {
        node.reward()
    }
}

fn finish<S>(mut live: Live<S>, observer: &mut dyn Observer<S>) -> Result<()> {
    live.tree.drop_states();
    observer
        .finished(FinishedTree {
            status: if live.timed_out {
                TreeStatus::Timeout
            } else {
                TreeStatus::Done
            },
            rollouts: live.rollouts,
            seconds: live.started.elapsed().as_secs_f64(),
            duplicates: live.duplicates,
            generated_tokens: live.generated_tokens,
            problem: live.problem,
            tree: live.tree,
        })
        .map_err(Error::Observer)
}

/// SplitMix64 over several words: a seed per (run, problem, node).
/// A well-mixed seed from several words (splitmix64 over each in turn).
pub fn mix(words: &[u64]) -> u64 {
    let mut h = 0x9e37_79b9_7f4a_7c15u64;
    for &w in words {
        h ^= w;
        h = h.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = h;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        h = z ^ (z >> 31);
    }
    h
}
