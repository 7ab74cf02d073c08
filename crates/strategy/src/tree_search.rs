//! MCTS at test time (rStar-Math's evaluation): the search of `evolve search`
//! with PPM priors, leaves valued by the PPM instead of a gold answer, and the
//! answer voted among the top-scored leaves.

use evolve_search::{
    BoxError, Config, FinishedTree, Mcts, Observer, Policy, SearchProblem, StepScorer, StepVerifier,
};

use crate::outcome::{Candidate, Outcome};
use crate::solver::{Solver, StrategyError};
use crate::vote::{Ballot, vote};

struct Keep<S> {
    tree: Option<FinishedTree<S>>,
    tokens: usize,
    calls: usize,
}

impl<S> Observer<S> for Keep<S> {
    fn expanded(&mut self, tokens: usize) {
        self.tokens += tokens;
        self.calls += 1;
    }

    fn finished(&mut self, tree: FinishedTree<S>) -> Result<(), BoxError> {
        self.tree = Some(tree);
        Ok(())
    }
}

impl<P: Policy, V: StepVerifier> Solver<'_, P, V> {
    pub(crate) fn mcts(
        &mut self,
        rollouts: u32,
        candidates: usize,
        top: usize,
        question: &str,
        key: u64,
    ) -> Result<Outcome, StrategyError> {
        let config = Config {
            rollouts,
            candidates,
            max_depth: self.limits.max_depth,
            max_path_tokens: self.limits.max_path_tokens,
            seed: self.seed,
            trees_in_flight: 1,
            score_leaves: true,
            ..Config::default()
        };
        let mut keep = Keep {
            tree: None,
            tokens: 0,
            calls: 0,
        };
        let problem = SearchProblem {
            key,
            question: question.to_owned(),
            // Unknown at test time: leaves are valued by the PPM.
            gold: String::new(),
        };
        Mcts {
            policy: &mut *self.policy,
            verifier: self.verifier,
            scorer: self.scorer.as_deref_mut().map(|s| s as &mut dyn StepScorer),
            config,
        }
        .run([problem], &mut keep)?;
        self.compute.generated_tokens += keep.tokens;
        self.compute.policy_calls += keep.calls;
        let finished = keep.tree.expect("one problem, one tree");
        let tree = &finished.tree;
        let mut leaves: Vec<usize> = (0..tree.nodes().len())
            .filter(|&id| tree.node(id).terminal)
            .collect();
        self.compute.expansions += tree
            .nodes()
            .iter()
            .filter(|n| !n.children.is_empty())
            .count();
        self.compute.scored += tree.nodes().len().saturating_sub(1);
        let candidates: Vec<Candidate> = leaves
            .iter()
            .map(|&id| {
                let path = tree.path(id);
                let node = tree.node(id);
                Candidate {
                    steps: path[1..]
                        .iter()
                        .map(|&n| tree.node(n).text.clone())
                        .collect(),
                    answer: node.answer.clone(),
                    score: node.prior,
                    tokens: node.path_tokens,
                }
            })
            .collect();
        // The top-scored answered leaves, best first (ties: the earlier node).
        let mut ranked: Vec<usize> = (0..leaves.len())
            .filter(|&i| candidates[i].answer.is_some())
            .collect();
        ranked.sort_by(|&a, &b| {
            let score = |i: usize| candidates[i].score.unwrap_or(f64::MIN);
            score(b).total_cmp(&score(a))
        });
        ranked.truncate(top.max(1));
        let ballots: Vec<Ballot<'_>> = ranked
            .iter()
            .map(|&i| Ballot {
                answer: candidates[i].answer.as_deref().expect("answered"),
                weight: 1.0,
            })
            .collect();
        let chosen =
            vote(&ballots, |a, b| self.verifier.grade(a, b)).map(|(first, _)| ranked[first]);
        leaves.clear();
        Ok(Outcome {
            strategy: String::new(),
            answer: chosen.and_then(|i| candidates[i].answer.clone()),
            chosen: chosen.or(if candidates.is_empty() { None } else { Some(0) }),
            candidates,
            difficulty_bin: None,
            compute: Default::default(),
        })
    }
}
