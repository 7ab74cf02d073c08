//! MCTS driven by a scripted, deterministic policy and verifier.

use evolve_search::{
    BoxError, Config, End, FinishedTree, Mcts, Observer, Policy, Proposal, Request, ScoreInput,
    SearchProblem, StepCheck, StepInput, StepScorer, StepVerifier, Verdict,
};

/// The state is the solution text so far; `script(state, seed, j)` gives candidate j.
struct Scripted<F: Fn(&str, u64, usize) -> (String, End)> {
    script: F,
    calls: Vec<usize>,
}

impl<F: Fn(&str, u64, usize) -> (String, End)> Policy for Scripted<F> {
    type State = String;

    fn root(&mut self, question: &str) -> Result<String, BoxError> {
        Ok(format!("Q: {question}\n"))
    }

    fn propose(
        &mut self,
        requests: &[Request<'_, String>],
    ) -> Result<Vec<Vec<Proposal<String>>>, BoxError> {
        self.calls.push(requests.len());
        Ok(requests
            .iter()
            .map(|r| {
                (0..r.candidates)
                    .map(|j| {
                        let (text, end) = (self.script)(r.state, r.seed, j);
                        Proposal {
                            state: format!("{}{text}", r.state),
                            tokens: text.split_whitespace().count(),
                            logprob: -1.0,
                            text,
                            end,
                        }
                    })
                    .collect()
            })
            .collect())
    }

    fn append(&mut self, state: &mut String, text: &str) -> Result<(), BoxError> {
        state.push_str(text);
        Ok(())
    }
}

/// "answer: X" is final; a step containing "wrong" fails its check; a step
/// containing "run" gets an output appended to the context.
struct Rules;

impl StepVerifier for Rules {
    fn check(&self, step: &StepInput<'_>) -> Verdict {
        let answer = step.text.trim().strip_prefix("answer: ").map(str::to_owned);
        Verdict {
            check: Some(if step.text.contains("wrong") {
                StepCheck::Error
            } else {
                StepCheck::Ok
            }),
            is_final: answer.is_some(),
            answer,
            context: step.text.contains("run").then(|| "[out]".to_owned()),
            ..Verdict::default()
        }
    }

    fn grade(&self, answer: &str, gold: &str) -> bool {
        answer == gold
    }
}

#[derive(Default)]
struct Collect {
    trees: Vec<FinishedTree<String>>,
    tokens: usize,
}

impl Observer<String> for Collect {
    fn expanded(&mut self, tokens: usize) {
        self.tokens += tokens;
    }
    fn finished(&mut self, tree: FinishedTree<String>) -> Result<(), BoxError> {
        self.trees.push(tree);
        Ok(())
    }
}

fn problems(n: u64) -> Vec<SearchProblem> {
    (0..n)
        .map(|key| SearchProblem {
            key,
            question: format!("q{key}"),
            gold: "4".into(),
        })
        .collect()
}

fn search<F: Fn(&str, u64, usize) -> (String, End)>(
    script: F,
    config: Config,
    n: u64,
) -> (Collect, Vec<usize>) {
    let mut policy = Scripted {
        script,
        calls: Vec::new(),
    };
    let mut out = Collect::default();
    Mcts {
        policy: &mut policy,
        verifier: &Rules,
        scorer: None,
        config,
    }
    .run(problems(n), &mut out)
    .unwrap();
    out.trees.sort_by_key(|t| t.problem.key);
    (out, policy.calls)
}

/// Two steps deep, candidate j answers j + 3 (so only candidate 1 is right).
fn two_steps(state: &str, _seed: u64, j: usize) -> (String, End) {
    if state.matches("\n\n").count() < 1 {
        (format!("step {j}\n\n"), End::Delimiter)
    } else {
        (format!("answer: {}", j + 3), End::Delimiter)
    }
}

#[test]
fn rollouts_back_propagate_terminal_rewards() {
    let config = Config {
        rollouts: 10,
        candidates: 3,
        ..Config::default()
    };
    let (out, _) = search(two_steps, config, 1);
    let tree = &out.trees[0].tree;
    assert_eq!(out.trees[0].rollouts, 10);
    let root = tree.node(0);
    // Every leaf is evaluated when created, and each revisit adds a visit.
    let leaves: u32 = tree
        .nodes()
        .iter()
        .filter(|n| n.terminal)
        .map(|n| n.visits)
        .sum();
    assert_eq!(root.visits, leaves);
    assert!(root.visits >= 10);
    assert!(
        tree.nodes()
            .iter()
            .filter(|n| n.terminal)
            .all(|n| n.visits >= 1)
    );
    for node in tree.nodes() {
        if node.terminal {
            assert_eq!(node.value_sum, node.reward() * f64::from(node.visits));
            assert_eq!(node.correct, Some(node.answer.as_deref() == Some("4")));
        } else if !node.children.is_empty() {
            // Every rollout through an inner node continues into one child.
            let through: u32 = node.children.iter().map(|&c| tree.node(c).visits).sum();
            assert_eq!(node.visits, through);
            let sum: f64 = node.children.iter().map(|&c| tree.node(c).value_sum).sum();
            assert_eq!(node.value_sum, sum);
        }
    }
    assert!(tree.solved());
    assert!(root.q() > -1.0 && root.q() < 1.0);
    // The first rollout expands the root and its first child, then takes the first terminal.
    assert_eq!(tree.node(0).children.len(), 3);
    assert!(tree.nodes().iter().all(|n| n.depth <= 2));
}

#[test]
fn search_exploits_the_correct_branch() {
    let config = Config {
        rollouts: 40,
        candidates: 3,
        c: 0.5,
        ..Config::default()
    };
    let (out, _) = search(two_steps, config, 1);
    let tree = &out.trees[0].tree;
    let correct: u32 = tree
        .nodes()
        .iter()
        .filter(|n| n.terminal && n.correct == Some(true))
        .map(|n| n.visits)
        .sum();
    assert!(correct > 20, "correct leaves visited {correct} of 40 times");
}

#[test]
fn depth_limit_ends_a_rollout_as_a_wrong_terminal() {
    let never = |_: &str, _: u64, j: usize| (format!("more {j}\n\n"), End::Delimiter);
    let config = Config {
        rollouts: 3,
        candidates: 2,
        max_depth: 5,
        ..Config::default()
    };
    let (out, _) = search(never, config, 1);
    let tree = &out.trees[0].tree;
    assert_eq!(tree.nodes().iter().map(|n| n.depth).max(), Some(5));
    for node in tree.nodes().iter().filter(|n| n.terminal) {
        assert_eq!(node.depth, 5);
        assert_eq!(node.correct, Some(false));
    }
    assert_eq!(tree.node(0).value_sum, -f64::from(tree.node(0).visits));
}

#[test]
fn token_limit_and_end_of_turn_are_terminal() {
    let cut = |_: &str, _: u64, j: usize| {
        if j == 0 {
            ("no delimiter ever".to_owned(), End::Length)
        } else {
            ("answer: 4".to_owned(), End::EndOfTurn)
        }
    };
    let config = Config {
        rollouts: 2,
        candidates: 2,
        ..Config::default()
    };
    let (out, _) = search(cut, config, 1);
    let tree = &out.trees[0].tree;
    let children: Vec<_> = tree
        .node(0)
        .children
        .iter()
        .map(|&c| tree.node(c))
        .collect();
    assert!(children.iter().all(|n| n.terminal));
    assert_eq!(children[0].correct, Some(false));
    assert_eq!(children[1].correct, Some(true));
    // Both leaves were evaluated on creation (+1 - 1); the second rollout
    // revisits the better one (+1).
    assert_eq!((children[0].visits, children[1].visits), (1, 2));
    assert_eq!(tree.node(0).value_sum, 1.0);
}

#[test]
fn path_token_limit_ends_a_solution() {
    let long = |_: &str, _: u64, _: usize| ("a b c d e\n\n".to_owned(), End::Delimiter);
    let config = Config {
        rollouts: 1,
        candidates: 1,
        max_path_tokens: 12,
        ..Config::default()
    };
    let (out, _) = search(long, config, 1);
    let tree = &out.trees[0].tree;
    assert_eq!(tree.nodes().len(), 4);
    assert!(tree.node(3).terminal);
    assert_eq!(tree.node(3).path_tokens, 15);
}

#[test]
fn duplicate_candidates_are_merged() {
    let same = |state: &str, _: u64, j: usize| {
        if state.contains("\n\n") {
            (format!("answer: {j}"), End::Delimiter)
        } else {
            ("same  step\n\n".to_owned(), End::Delimiter)
        }
    };
    let config = Config {
        rollouts: 2,
        candidates: 4,
        ..Config::default()
    };
    let (out, _) = search(same, config, 1);
    let tree = &out.trees[0].tree;
    assert_eq!(tree.node(0).children.len(), 1);
    assert_eq!(tree.node(1).duplicates, 3);
    assert_eq!(tree.node(1).children.len(), 4);
    assert_eq!(out.trees[0].duplicates, 3);
    // "same step" is 2 tokens, each answer 2: all candidates count as generated.
    assert_eq!(out.trees[0].generated_tokens, 4 * 2 + 4 * 2);
}

#[test]
fn failed_steps_are_pruned_after_the_configured_errors_in_a_row() {
    let bad = |state: &str, _: u64, _: usize| {
        if state.matches("\n\n").count() >= 3 {
            ("answer: 4".to_owned(), End::Delimiter)
        } else {
            ("wrong step\n\n".to_owned(), End::Delimiter)
        }
    };
    let config = Config {
        rollouts: 1,
        candidates: 1,
        max_errors_in_a_row: 1,
        ..Config::default()
    };
    let (out, _) = search(bad, config.clone(), 1);
    let tree = &out.trees[0].tree;
    assert_eq!(tree.nodes().len(), 2);
    assert!(tree.node(1).terminal);
    assert_eq!(tree.node(1).check, Some(StepCheck::Error));
    assert_eq!(tree.node(1).correct, Some(false));

    let (out, _) = search(
        bad,
        Config {
            max_errors_in_a_row: 3,
            ..config.clone()
        },
        1,
    );
    assert_eq!(out.trees[0].tree.nodes().len(), 4);
    assert_eq!(out.trees[0].tree.node(3).errors_in_a_row, 3);

    let (out, _) = search(
        bad,
        Config {
            max_errors_in_a_row: 0,
            ..config
        },
        1,
    );
    assert!(out.trees[0].tree.solved());
}

#[test]
fn verdict_context_reaches_the_next_proposal() {
    let seen = |state: &str, _: u64, _: usize| {
        if state.contains("[out]") {
            ("answer: 4".to_owned(), End::Delimiter)
        } else {
            ("run code\n\n".to_owned(), End::Delimiter)
        }
    };
    let (out, _) = search(
        seen,
        Config {
            rollouts: 1,
            candidates: 1,
            ..Config::default()
        },
        1,
    );
    assert!(out.trees[0].tree.solved());
}

/// Candidate texts drawn from the seed, so a different seed grows a different tree.
fn random(state: &str, seed: u64, j: usize) -> (String, End) {
    let draw = (seed ^ (j as u64).wrapping_mul(0x9e37_79b9)) % 7;
    if state.matches("\n\n").count() >= 2 || draw == 0 {
        (format!("answer: {}", draw % 5), End::Delimiter)
    } else {
        (format!("step {draw}\n\n"), End::Delimiter)
    }
}

fn shape(out: &Collect) -> Vec<Vec<(usize, String, u32, bool)>> {
    out.trees
        .iter()
        .map(|t| {
            t.tree
                .nodes()
                .iter()
                .map(|n| (n.depth, n.text.clone(), n.visits, n.terminal))
                .collect()
        })
        .collect()
}

#[test]
fn same_seed_same_trees_whatever_the_batch() {
    let config = Config {
        rollouts: 8,
        candidates: 4,
        seed: 7,
        ..Config::default()
    };
    let (one_by_one, calls) = search(
        random,
        Config {
            trees_in_flight: 1,
            ..config.clone()
        },
        5,
    );
    assert!(calls.iter().all(|&n| n == 1));
    let (batched, calls) = search(
        random,
        Config {
            trees_in_flight: 3,
            ..config.clone()
        },
        5,
    );
    assert_eq!(calls[0], 3);
    assert_eq!(shape(&one_by_one), shape(&batched));
    let (other_seed, _) = search(random, Config { seed: 8, ..config }, 5);
    assert_ne!(shape(&one_by_one), shape(&other_seed));
    assert_eq!(batched.trees.len(), 5);
    assert!(batched.tokens > 0);
}

struct Prefer(&'static str);

impl StepScorer for Prefer {
    fn score(&mut self, inputs: &[ScoreInput<'_>]) -> Result<Vec<f64>, BoxError> {
        Ok(inputs
            .iter()
            .map(|i| {
                if i.steps.last().is_some_and(|s| s.contains(self.0)) {
                    0.9
                } else {
                    -0.3
                }
            })
            .collect())
    }
}

#[test]
fn a_scorer_sets_priors_and_the_first_choice() {
    let mut policy = Scripted {
        script: two_steps,
        calls: Vec::new(),
    };
    let mut scorer = Prefer("step 2");
    let mut out = Collect::default();
    let config = Config {
        rollouts: 1,
        candidates: 3,
        ..Config::default()
    };
    Mcts {
        policy: &mut policy,
        verifier: &Rules,
        scorer: Some(&mut scorer),
        config,
    }
    .run(problems(1), &mut out)
    .unwrap();
    let tree = &out.trees[0].tree;
    let visited: Vec<_> = tree
        .node(0)
        .children
        .iter()
        .map(|&c| (tree.node(c).text.clone(), tree.node(c).visits))
        .collect();
    // Only the preferred child was expanded: its three answers were evaluated.
    assert_eq!(visited[2], ("step 2\n\n".to_owned(), 3));
    assert_eq!((visited[0].1, visited[1].1), (0, 0));
    assert_eq!(tree.node(3).prior, Some(0.9));
    assert_eq!(tree.node(1).prior, Some(-0.3));
}
