//! Every strategy on a scripted, deterministic policy and scorer whose
//! outcomes are known.

use evolve_search::{
    BoxError, End, Policy, Proposal, Request, ScoreInput, StepCheck, StepInput, StepScorer,
    StepVerifier, Verdict,
};
use evolve_strategy::{
    AutoTable, BudgetRow, CalibrationQuestion, Limits, Outcome, Solver, Strategy,
};

type Script = dyn Fn(&str, usize, bool) -> String;

/// The state is the solution so far; `script(state, j, greedy)` writes
/// candidate j. Every call is logged as (requests, candidates per request).
struct Scripted {
    script: Box<Script>,
    calls: Vec<Vec<usize>>,
    states: Vec<String>,
}

impl Scripted {
    fn new(script: impl Fn(&str, usize, bool) -> String + 'static) -> Scripted {
        Scripted {
            script: Box::new(script),
            calls: Vec::new(),
            states: Vec::new(),
        }
    }
}

impl Policy for Scripted {
    type State = String;

    fn root(&mut self, question: &str) -> Result<String, BoxError> {
        Ok(format!("Q:{question}|"))
    }

    fn propose(
        &mut self,
        requests: &[Request<'_, String>],
    ) -> Result<Vec<Vec<Proposal<String>>>, BoxError> {
        self.calls
            .push(requests.iter().map(|r| r.candidates).collect());
        Ok(requests
            .iter()
            .map(|r| {
                self.states.push(r.state.clone());
                (0..r.candidates)
                    .map(|j| {
                        let text = (self.script)(r.state, j, r.greedy);
                        Proposal {
                            state: format!("{}{text}|", r.state),
                            tokens: text.len(),
                            logprob: -1.0,
                            end: End::Delimiter,
                            text,
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

/// "=X" states answer X.
struct Rules;

impl StepVerifier for Rules {
    fn check(&self, step: &StepInput<'_>) -> Verdict {
        let answer = step.text.split_once('=').map(|(_, a)| a.to_owned());
        Verdict {
            check: Some(StepCheck::Ok),
            is_final: answer.is_some(),
            answer,
            ..Verdict::default()
        }
    }

    fn grade(&self, answer: &str, gold: &str) -> bool {
        answer.parse::<f64>().ok() == gold.parse::<f64>().ok()
    }
}

/// A step's score is the number after "s" in its text ("s0.7"), else 0; a
/// path's score is its last step's.
struct TextScores {
    scored: usize,
}

fn step_score(step: &str) -> f64 {
    step.split_once('s')
        .and_then(|(_, rest)| rest.split(['=', ' ']).next()?.parse().ok())
        .unwrap_or(0.0)
}

impl StepScorer for TextScores {
    fn score(&mut self, inputs: &[ScoreInput<'_>]) -> Result<Vec<f64>, BoxError> {
        self.scored += inputs.len();
        Ok(inputs
            .iter()
            .map(|i| step_score(i.steps.last().copied().unwrap_or("")))
            .collect())
    }
}

fn strategy(name: &str) -> Strategy {
    name.parse().unwrap()
}

/// Runs `name` on "q" with `policy` and the text scorer; the outcome and how
/// many partial solutions were scored.
fn scored_with(policy: &mut Scripted, name: &str) -> (Outcome, usize) {
    let mut scorer = TextScores { scored: 0 };
    let outcome = Solver::new(policy, &Rules)
        .with_scorer(Some(&mut scorer))
        .solve(&strategy(name), "q", 1)
        .unwrap();
    (outcome, scorer.scored)
}

fn scored(mut policy: Scripted, name: &str) -> (Outcome, usize) {
    scored_with(&mut policy, name)
}

/// Root candidate j of a two-step solution answers `answers[j]`; greedy answers 4.
fn two_steps(answers: &'static [&'static str]) -> Scripted {
    Scripted::new(move |state, j, greedy| {
        let depth = state.matches('|').count();
        if depth == 1 {
            if greedy {
                "think".into()
            } else {
                format!("try{j}")
            }
        } else {
            let root_choice: usize = state
                .split("try")
                .nth(1)
                .and_then(|s| s.split('|').next()?.parse().ok())
                .unwrap_or(usize::MAX);
            match answers.get(root_choice) {
                Some(a) => format!("so ={a}"),
                None => "so =4".into(),
            }
        }
    })
}

#[test]
fn greedy_decodes_greedily_one_path() {
    let mut policy = two_steps(&[]);
    let outcome = Solver::new(&mut policy, &Rules)
        .solve(&Strategy::Greedy, "q", 1)
        .unwrap();
    assert_eq!(outcome.answer.as_deref(), Some("4"));
    assert_eq!(outcome.response(), "thinkso =4");
    assert_eq!(outcome.candidates.len(), 1);
    assert_eq!(policy.calls, vec![vec![1], vec![1]]);
    assert_eq!(outcome.compute.policy_calls, 2);
    assert_eq!(
        outcome.compute.generated_tokens,
        "think".len() + "so =4".len()
    );
}

#[test]
fn majority_votes_and_breaks_ties_by_the_first_seen() {
    let mut policy = two_steps(&["3", "5", "5"]);
    let outcome = Solver::new(&mut policy, &Rules)
        .solve(&strategy("maj@3"), "q", 1)
        .unwrap();
    assert_eq!(outcome.answer.as_deref(), Some("5"));
    assert_eq!(outcome.chosen, Some(1));

    // 3 and 5.0 twice each: the grader groups 5 with 5.0; 3 was seen first.
    let mut policy = two_steps(&["3", "5", "5.0", "3"]);
    let outcome = Solver::new(&mut policy, &Rules)
        .solve(&strategy("maj@4"), "q", 1)
        .unwrap();
    assert_eq!(outcome.answer.as_deref(), Some("3"));
    assert_eq!(outcome.chosen, Some(0));
    assert_eq!(outcome.strategy, "maj@4");
}

#[test]
fn siblings_share_one_call_from_the_prompt() {
    let mut policy = two_steps(&["1", "2", "3", "4", "5", "6", "7", "8"]);
    let outcome = Solver::new(&mut policy, &Rules)
        .solve(&strategy("maj@8"), "q", 1)
        .unwrap();
    // One request for all 8 first steps, then one request per solution.
    assert_eq!(policy.calls, vec![vec![8], vec![1; 8]]);
    assert_eq!(outcome.compute.policy_calls, 2);
    assert_eq!(outcome.compute.expansions, 9);
    let tokens: usize = outcome.candidates.iter().map(|c| c.tokens).sum();
    assert_eq!(outcome.compute.generated_tokens, tokens);
}

/// Question "qN" takes N + 1 steps on every path; candidate j answers N + j.
fn by_question() -> Scripted {
    Scripted::new(|state, j, _| {
        let question: usize = state[3..].split('|').next().unwrap().parse().unwrap();
        let depth = state.matches('|').count();
        if depth == 1 {
            format!("try{j} s0.{j}")
        } else if depth <= question {
            "more".into()
        } else {
            let first: usize = state.split("try").nth(1).unwrap()[..1].parse().unwrap();
            format!("so ={}", question + first)
        }
    })
}

#[test]
fn a_batch_of_questions_gets_the_outcomes_each_gets_alone_in_fewer_calls() {
    let questions = [("q1", 11), ("q3", 13), ("q2", 12)];
    for name in ["greedy", "maj@3", "bon@3"] {
        let mut alone = by_question();
        let mut scorer = TextScores { scored: 0 };
        let mut solver = Solver::new(&mut alone, &Rules).with_scorer(Some(&mut scorer));
        let one_by_one: Vec<Outcome> = questions
            .iter()
            .map(|&(q, key)| solver.solve(&strategy(name), q, key).unwrap())
            .collect();
        let mut batched = by_question();
        let mut scorer = TextScores { scored: 0 };
        let together = Solver::new(&mut batched, &Rules)
            .with_scorer(Some(&mut scorer))
            .solve_many(&strategy(name), &questions)
            .unwrap();
        assert_eq!(together.len(), questions.len());
        for (a, b) in one_by_one.iter().zip(&together) {
            assert_eq!(a.answer, b.answer, "{name}");
            assert_eq!(a.candidates, b.candidates, "{name}");
            assert_eq!(a.strategy, b.strategy);
            // Each question counts its own compute, as alone.
            let counts = |o: &Outcome| {
                let c = o.compute;
                (c.generated_tokens, c.policy_calls, c.expansions, c.scored)
            };
            assert_eq!(counts(a), counts(b), "{name}");
        }
        // The batch takes as many calls as its longest question (4 steps).
        assert_eq!(batched.calls.len(), 4, "{name}");
        assert_eq!(alone.calls.len(), 2 + 4 + 3, "{name}");
        let n = if name == "greedy" { 1 } else { 3 };
        assert_eq!(
            batched.calls[0],
            vec![n; 3],
            "first steps of all three at once"
        );
    }
    let mut policy = by_question();
    let outcome = Solver::new(&mut policy, &Rules)
        .solve_many(&strategy("greedy"), &[("q2", 2)])
        .unwrap();
    assert_eq!(outcome[0].answer.as_deref(), Some("2"));
    assert_eq!(outcome[0].response(), "try0 s0.0moreso =2");
}

#[test]
fn best_of_n_picks_the_best_score_or_the_weighted_vote() {
    // Answers 3 (score 0.9) and 5 twice (score -0.2 each).
    let script = |state: &str, j: usize, _: bool| {
        if state.matches('|').count() == 1 {
            format!("try{j}")
        } else if state.contains("try0") {
            "s0.9 =3".into()
        } else {
            "s-0.2 =5".into()
        }
    };
    let run = |name: &str| scored(Scripted::new(script), name);
    let (best, scored) = run("bon@3");
    assert_eq!(best.answer.as_deref(), Some("3"));
    assert_eq!(
        scored, 3,
        "only last steps are scored for the last-step aggregate"
    );
    assert_eq!(best.candidates[0].score, Some(0.9));
    // Weighted: 3 weighs (0.9 + 1) / 2 = 0.95; 5 weighs 2 x 0.4 = 0.8.
    let (weighted, _) = run("bon@3:weighted");
    assert_eq!(weighted.answer.as_deref(), Some("3"));
    // A plain vote ignores the scores.
    let (plain, scored) = run("bon@3:vote");
    assert_eq!(plain.answer.as_deref(), Some("5"));
    assert_eq!(scored, 0);
}

#[test]
fn min_and_product_aggregate_every_step() {
    // Path 0: steps 0.8 then 0.1; path 1: steps 0.3 then 0.2.
    let script = |state: &str, j: usize, _: bool| {
        if state.matches('|').count() == 1 {
            if j == 0 {
                "s0.8 a".into()
            } else {
                "s0.3 b".into()
            }
        } else if state.contains(" a|") {
            "s0.1 =1".into()
        } else {
            "s0.2 =2".into()
        }
    };
    let run = |name: &str| scored(Scripted::new(script), name);
    // Last step: 0.1 vs 0.2.
    assert_eq!(run("bon@2").0.answer.as_deref(), Some("2"));
    // Min: 0.1 vs 0.2.
    let (min, scored) = run("bon@2:min");
    assert_eq!(min.answer.as_deref(), Some("2"));
    assert_eq!(scored, 4);
    assert_eq!(min.candidates[0].score, Some(0.1));
    // Product of (s + 1) / 2: 0.9 x 0.55 = 0.495 vs 0.65 x 0.6 = 0.39.
    let (product, _) = run("bon@2:prod");
    assert_eq!(product.answer.as_deref(), Some("1"));
    assert!((product.candidates[0].score.unwrap() - 0.495).abs() < 1e-9);
}

/// Candidate j at depth d scores `(j + d) % 4 / 4`; depth 3 answers.
fn ladder() -> Scripted {
    Scripted::new(|state, j, _| {
        let depth = state.matches('|').count();
        let score = ((j + depth) % 4) as f64 / 4.0;
        if depth >= 3 {
            format!("s{score} d{depth}c{j} ={j}")
        } else {
            format!("s{score} d{depth}c{j}")
        }
    })
}

#[test]
fn beam_keeps_the_top_scores() {
    let mut policy = ladder();
    let mut scorer = TextScores { scored: 0 };
    let outcome = Solver::new(&mut policy, &Rules)
        .with_scorer(Some(&mut scorer))
        .solve(&strategy("beam@2x3"), "q", 1)
        .unwrap();
    // First step: 6 candidates from the root; then 2 beams x 3.
    assert_eq!(policy.calls, vec![vec![6], vec![3, 3], vec![3, 3]]);
    // Depth 1 scores (j+1)%4/4: c2 (0.75) and c1 (0.5) are kept, in that order.
    assert!(policy.states[1].ends_with("d1c2|"), "{:?}", policy.states);
    assert!(policy.states[2].ends_with("d1c1|"));
    // Depth 2 scores (j+2)%4/4: each beam's c1 scores 0.75; the tie keeps
    // proposal order, the first beam's first.
    assert!(policy.states[3].ends_with("d1c2|s0.75 d2c1|"));
    assert!(policy.states[4].ends_with("d1c1|s0.75 d2c1|"));
    // Depth 3: six answers; c0 scores 0.75 on both beams (answer 0) and wins
    // the weighted vote.
    assert_eq!(outcome.candidates.len(), 6);
    assert_eq!(outcome.answer.as_deref(), Some("0"));
    assert_eq!(outcome.compute.scored, 6 + 6 + 6);
}

#[test]
fn beam_lookahead_scores_after_greedy_steps() {
    // Candidate 0 looks good now but its greedy continuation scores low;
    // candidate 1 the reverse. With lookahead 1 the beam keeps candidate 1.
    let script = |state: &str, j: usize, greedy: bool| {
        let depth = state.matches('|').count();
        match depth {
            1 => format!("s{} c{j}", if j == 0 { 0.9 } else { 0.1 }),
            2 if greedy => format!("s{} g", if state.contains("c0") { -0.5 } else { 0.8 }),
            _ => format!("s0 ={}", if state.contains("c0") { 0 } else { 1 }),
        }
    };
    let run = |name: &str| {
        let mut policy = Scripted::new(script);
        let (outcome, _) = scored_with(&mut policy, name);
        (outcome.answer, policy.calls)
    };
    let (answer, _) = run("beam@1x2");
    assert_eq!(answer.as_deref(), Some("0"));
    let (answer, calls) = run("beam@1x2+1");
    assert_eq!(answer.as_deref(), Some("1"));
    // The lookahead's greedy rollouts are one extra call per step.
    assert_eq!(calls, vec![vec![2], vec![1, 1], vec![2]]);
}

#[test]
fn dvts_grows_independent_subtrees() {
    let mut policy = ladder();
    let mut scorer = TextScores { scored: 0 };
    let outcome = Solver::new(&mut policy, &Rules)
        .with_scorer(Some(&mut scorer))
        .solve(&strategy("dvts@6x3"), "q", 1)
        .unwrap();
    // Two subtrees, each 3 candidates a step, each keeping one path.
    assert_eq!(policy.calls, vec![vec![3, 3], vec![3, 3], vec![3, 3]]);
    assert_eq!(outcome.candidates.len(), 6);
}

#[test]
fn mcts_answers_from_the_top_scored_leaves_without_a_gold_answer() {
    // Answers 7 score 0.9, answers 2 score -0.5.
    let mut policy = Scripted::new(|_, j, _| {
        if j % 2 == 0 {
            "s0.9 =7".into()
        } else {
            "s-0.5 =2".into()
        }
    });
    let mut scorer = TextScores { scored: 0 };
    let outcome = Solver::new(&mut policy, &Rules)
        .with_scorer(Some(&mut scorer))
        .solve(&strategy("mcts@4x2:top2"), "q", 1)
        .unwrap();
    assert_eq!(outcome.answer.as_deref(), Some("7"));
    assert!(outcome.candidates.iter().all(|c| c.answer.is_some()));
    assert!(outcome.compute.generated_tokens > 0);
}

#[test]
fn strategies_that_score_refuse_to_run_without_a_scorer() {
    for name in ["bon@4", "beam@2x2", "dvts@4x2", "mcts@4x2", "auto@4"] {
        let mut policy = ladder();
        let error = Solver::new(&mut policy, &Rules)
            .solve(&strategy(name), "q", 1)
            .unwrap_err();
        assert!(error.to_string().contains("PPM"), "{name}: {error}");
    }
}

#[test]
fn auto_runs_what_its_table_says_for_the_bin() {
    // Probe samples score 0.6 on "easy" questions and -0.6 on "hard" ones.
    let script = |state: &str, j: usize, greedy: bool| {
        let s = if state.contains("easy") { 0.6 } else { -0.6 };
        if greedy {
            format!("s{s} =1")
        } else {
            format!("s{s} c{j} ={j}")
        }
    };
    let table = AutoTable {
        probe: 2,
        thresholds: vec![-0.8, -0.2, 0.2, 0.5],
        rows: vec![
            BudgetRow {
                budget: 1,
                strategies: vec!["greedy".into(); 5],
                accuracy: vec![0.0; 5],
            },
            BudgetRow {
                budget: 4,
                strategies: ["greedy", "maj@4", "maj@4", "bon@4", "beam@2x2"]
                    .map(String::from)
                    .to_vec(),
                accuracy: vec![0.0; 5],
            },
        ],
    };
    let run = |question: &str, budget: usize| {
        let mut policy = Scripted::new(script);
        let mut scorer = TextScores { scored: 0 };
        let outcome = Solver::new(&mut policy, &Rules)
            .with_scorer(Some(&mut scorer))
            .with_table(Some(&table))
            .solve(&Strategy::Auto { budget }, question, 1)
            .unwrap();
        (outcome.strategy, outcome.difficulty_bin)
    };
    assert_eq!(run("easy", 4), ("greedy".to_owned(), Some(0)));
    assert_eq!(run("hard", 4), ("bon@4".to_owned(), Some(3)));
    // Budget 2 falls back to the largest row within it.
    assert_eq!(run("hard", 2), ("greedy".to_owned(), Some(3)));
    let mut policy = ladder();
    let mut scorer = TextScores { scored: 0 };
    let error = Solver::new(&mut policy, &Rules)
        .with_scorer(Some(&mut scorer))
        .solve(&strategy("auto@4"), "q", 1)
        .unwrap_err();
    assert!(error.to_string().contains("--calibrate"), "{error}");
}

#[test]
fn calibration_picks_the_most_accurate_strategy_per_bin() {
    let greedy = strategy("greedy");
    let maj = strategy("maj@4");
    let bon = strategy("bon@4");
    // Ten questions, probe scores 0.0 .. 0.9: two per bin. maj@4 is right on
    // the easy half, bon@4 on the hard half; greedy only on the easiest.
    let questions: Vec<CalibrationQuestion> = (0..10)
        .map(|i| {
            let score = i as f64 / 10.0;
            let easy = i >= 5;
            CalibrationQuestion {
                probe_score: score,
                results: vec![(greedy, i >= 8, 10), (maj, easy, 40), (bon, !easy, 40)],
            }
        })
        .collect();
    let table = AutoTable::calibrate(4, &questions);
    assert_eq!(table.thresholds, vec![0.2, 0.4, 0.6, 0.8]);
    assert_eq!(table.rows.len(), 2);
    assert_eq!(table.rows[0].budget, 1);
    assert_eq!(table.rows[1].budget, 4);
    // Bin 0 (0.8, 0.9): maj@4 and greedy are both right; greedy is cheaper... but
    // only budget-4 strategies compete in the budget-4 row.
    assert_eq!(
        table.rows[1].strategies,
        vec!["maj@4", "maj@4", "maj@4", "bon@4", "bon@4"]
    );
    // Bin 2 holds 0.4 (hard) and 0.5 (easy): a tie at 0.5 goes to the one listed first.
    assert_eq!(table.rows[1].accuracy[2], 0.5);
    assert_eq!(table.bin(0.95), 0);
    assert_eq!(table.bin(0.0), 4);
}

#[test]
fn limits_end_runaway_solutions() {
    // Never states an answer: the depth limit ends it.
    let mut policy = Scripted::new(|_, _, _| "more".into());
    let outcome = Solver::new(&mut policy, &Rules)
        .with_limits(Limits {
            max_depth: 5,
            max_path_tokens: 1000,
        })
        .solve(&Strategy::Greedy, "q", 1)
        .unwrap();
    assert_eq!(outcome.answer, None);
    assert_eq!(outcome.candidates[0].steps.len(), 5);
}
