//! The selection rules on hand-built trees with known Q values.

use evolve_export::select::{
    Pair, edit_distance_at_least, labeled_paths, labeled_steps, sft_trajectories, solution_pairs,
    step_pairs,
};
use evolve_export::{IndexedTree, Rules, Skips};
use evolve_store::{StoredNode, StoredTree};

/// A node of a hand-built tree: parent index, step text, Q, and for leaves
/// whether the answer is correct; `failed` marks a failed step check.
#[derive(Clone)]
struct N {
    parent: usize,
    text: String,
    q: f64,
    leaf: Option<bool>,
    failed: bool,
}

fn step(parent: usize, text: &str, q: f64) -> N {
    N {
        parent,
        text: text.into(),
        q,
        leaf: None,
        failed: false,
    }
}

fn leaf(parent: usize, text: &str, q: f64, correct: bool) -> N {
    N {
        leaf: Some(correct),
        ..step(parent, text, q)
    }
}

fn failed(n: N) -> N {
    N { failed: true, ..n }
}

/// A tree whose node at index i has id 100 + i; index 0 is the root.
fn tree(nodes: &[N]) -> StoredTree {
    let mut stored = vec![StoredNode {
        id: 100,
        parent_id: None,
        depth: 0,
        step_text: String::new(),
        code: None,
        exec_output: None,
        step_check: None,
        visits: 1,
        value_sum: 0.0,
        q: 0.0,
        prior: None,
        terminal: false,
        extracted_answer: None,
        correct: None,
        tokens: 0,
    }];
    for (i, n) in nodes.iter().enumerate() {
        let depth = stored[n.parent].depth + 1;
        stored.push(StoredNode {
            id: 101 + i as i64,
            parent_id: Some(100 + n.parent as i64),
            depth,
            step_text: n.text.clone(),
            step_check: Some(if n.failed { "error" } else { "ok" }.into()),
            q: n.q,
            terminal: n.leaf.is_some(),
            extracted_answer: n.leaf.map(|c| if c { "12".into() } else { "7".into() }),
            correct: n.leaf,
            ..stored[0].clone()
        });
    }
    StoredTree {
        id: 1,
        problem_id: 1,
        dataset: "d".into(),
        external_id: "p".into(),
        question: "q".into(),
        gold_answer: "12".into(),
        status: "done".into(),
        rollouts: 16,
        solved: true,
        nodes: stored,
    }
}

/// A step text unlike the others: at least 20 edits from any other.
fn distinct(tag: &str) -> String {
    format!("{tag}: {}", tag.repeat(30))
}

#[test]
fn sft_ranks_by_mean_then_min_q_and_keeps_the_top_k() {
    let t = tree(&[
        step(0, "a", 0.8),               // 1
        leaf(1, "a-right", 1.0, true),   // 2: mean 0.9, min 0.8
        step(0, "b", 0.6),               // 3
        leaf(3, "b-right", 1.0, true),   // 4: mean 0.8
        leaf(0, "c-right", 0.9, true),   // 5: mean 0.9, min 0.9 (beats 2 on min Q)
        leaf(0, "d-wrong", -1.0, false), // 6
    ]);
    let t = IndexedTree::new(&t).unwrap();
    let rules = Rules {
        max_per_problem: Some(2),
        ..Rules::default()
    };
    let mut skips = Skips::default();
    let picked = sft_trajectories(&t, &rules, &mut skips);
    let leaves: Vec<usize> = picked.iter().map(|p| p.leaf).collect();
    assert_eq!(leaves, [5, 2]);
    assert!((picked[1].mean_q - 0.9).abs() < 1e-12 && (picked[1].min_q - 0.8).abs() < 1e-12);
    assert_eq!(skips.0["trajectories over --max-per-problem"], 1);

    let all = sft_trajectories(&t, &Rules::default(), &mut Skips::default());
    assert_eq!(all.len(), 3);
    let high = Rules {
        min_q: Some(0.85),
        ..Rules::default()
    };
    assert_eq!(sft_trajectories(&t, &high, &mut Skips::default()).len(), 2);
}

#[test]
fn sft_leaves_out_failed_steps_and_repeats() {
    let t = tree(&[
        failed(step(0, "3 * 4 = 13", 0.5)),      // 1
        leaf(1, "The answer is 12.", 1.0, true), // 2: right, but through a failed step
        step(0, "3 * 4 = 12\n\n", 0.5),          // 3
        leaf(3, "The answer is 12.", 1.0, true), // 4
        step(0, "3 * 4 =  12\n", 0.4),           // 5: the same words as 3
        leaf(5, "The answer is 12.", 1.0, true), // 6: a repeat of 3 -> 4
    ]);
    let t = IndexedTree::new(&t).unwrap();
    let mut skips = Skips::default();
    let picked = sft_trajectories(&t, &Rules::default(), &mut skips);
    assert_eq!(picked.iter().map(|p| p.leaf).collect::<Vec<_>>(), [4]);
    assert_eq!(skips.0["trajectories with a failed step"], 1);
    assert_eq!(skips.0["duplicate trajectories"], 1);
}

#[test]
fn sft_can_keep_only_trajectories_that_computed_their_answer() {
    // Every right leaf answers 12.
    let t = tree(&[
        step(0, "He has 3 * 4 = 12 apples.\n\n", 0.5),    // 1
        leaf(1, "The answer is \\boxed{12}.", 1.0, true), // 2: computed in step 1
        step(0, "The number is unknown.\n\n", 0.5),       // 3
        leaf(3, "The answer is \\boxed{12}.", 1.0, true), // 4: a guess
        step(0, "She has 4 - 16 = -12 left.\n\n", 0.5),   // 5: computed -12, not 12
        leaf(5, "The answer is \\boxed{12}.", 1.0, true), // 6
        leaf(0, "So 7 + 5 = $12.", 0.9, true),            // 7: computed in the answer step
    ]);
    let t = IndexedTree::new(&t).unwrap();
    let all = sft_trajectories(&t, &Rules::default(), &mut Skips::default());
    assert_eq!(all.len(), 4);
    let rules = Rules {
        computed_answer: true,
        ..Rules::default()
    };
    let mut skips = Skips::default();
    let mut kept: Vec<usize> = sft_trajectories(&t, &rules, &mut skips)
        .iter()
        .map(|p| p.leaf)
        .collect();
    kept.sort();
    assert_eq!(kept, [2, 7]);
    assert_eq!(
        skips.0["trajectories whose steps never computed their answer"],
        2
    );
}

#[test]
fn sft_fewest_claims_keeps_the_direct_solutions_over_better_q_detours() {
    let t = tree(&[
        // A detour with the best Q: three claims.
        step(0, "She has 5 + 9 = 14.\n\n", 0.9), // 1
        step(1, "Then 14 - 2 = 12, and 12 + 0 = 12.\n\n", 0.9), // 2
        leaf(2, "The answer is \\boxed{12}.", 1.0, true), // 3
        // Two direct ones with one claim each.
        step(0, "She has 3 * 4 = 12.\n\n", 0.4),          // 4
        leaf(4, "The answer is \\boxed{12}.", 1.0, true), // 5
        leaf(0, "So 7 + 5 = $12.", 0.5, true),            // 6
    ]);
    let t = IndexedTree::new(&t).unwrap();
    let by_q: Vec<usize> = sft_trajectories(&t, &Rules::default(), &mut Skips::default())
        .iter()
        .map(|p| p.leaf)
        .collect();
    assert_eq!(by_q, [3, 5, 6]);
    let rules = Rules {
        fewest_claims: true,
        max_per_problem: Some(2),
        ..Rules::default()
    };
    let mut skips = Skips::default();
    let kept: Vec<usize> = sft_trajectories(&t, &rules, &mut skips)
        .iter()
        .map(|p| p.leaf)
        .collect();
    // The direct ones, still in Q order; the cap applies after the cut.
    assert_eq!(kept, [5, 6]);
    assert_eq!(skips.0["trajectories with more claims than the fewest"], 1);
    assert!(!skips.0.contains_key("trajectories over --max-per-problem"));
}

#[test]
fn sft_all_numbers_used_drops_lucky_solutions_before_the_fewest_claims_cut() {
    let mut t = tree(&[
        // Lucky: two claims, reaches 12 without the question's 6.
        step(0, "They have 4 * 3 = 12 cats.\n\n", 0.9), // 1
        leaf(1, "The answer is \\boxed{12}.", 1.0, true), // 2
        // Direct, with the fewest claims of the honest ones: three.
        step(0, "They had 4 + 3 = 7, then 7 + 6 = 13.\n\n", 0.5), // 3
        step(3, "Then 13 - 1 = 12 are left.\n\n", 0.5),           // 4
        leaf(4, "The answer is \\boxed{12}.", 1.0, true),         // 5
    ]);
    t.question = "A store had 4 cats and 3 dogs, then 6 more cats came and 1 left.".into();
    let t = IndexedTree::new(&t).unwrap();
    let fewest = Rules {
        fewest_claims: true,
        ..Rules::default()
    };
    let picked = |rules: &Rules, skips: &mut Skips| -> Vec<usize> {
        sft_trajectories(&t, rules, skips)
            .iter()
            .map(|p| p.leaf)
            .collect()
    };
    assert_eq!(picked(&fewest, &mut Skips::default()), [2]);
    let rules = Rules {
        all_numbers_used: true,
        ..fewest
    };
    let mut skips = Skips::default();
    assert_eq!(picked(&rules, &mut skips), [5]);
    assert_eq!(
        skips.0["trajectories that left a number of the question unused"],
        1
    );
}

#[test]
fn pairs_take_the_best_two_against_the_worst_two() {
    let mut nodes = Vec::new();
    // Under the root: three steps that reach a right answer, three that reach only wrong ones.
    for (i, q) in [0.9, 0.7, 0.8].into_iter().enumerate() {
        nodes.push(step(0, &distinct(&format!("good{i}")), q));
    }
    for (i, q) in [-0.9, -0.2, -0.6].into_iter().enumerate() {
        nodes.push(step(0, &distinct(&format!("bad{i}")), q));
    }
    for parent in 1..=3 {
        nodes.push(leaf(parent, "right", 1.0, true));
    }
    for parent in 4..=6 {
        nodes.push(leaf(parent, "wrong", -1.0, false));
    }
    // A seventh child never reached a leaf: it is on neither side.
    nodes.push(step(0, &distinct("open"), -1.0));
    let t = tree(&nodes);
    let t = IndexedTree::new(&t).unwrap();
    let pairs = step_pairs(&t, &Rules::default(), &mut Skips::default());
    let chosen_rejected: Vec<(usize, usize)> =
        pairs.iter().map(|p| (p.chosen, p.rejected)).collect();
    // Good by Q descending: 1 (0.9), 3 (0.8); bad by Q ascending: 4 (-0.9), 6 (-0.6).
    assert_eq!(chosen_rejected, [(1, 4), (1, 6), (3, 4), (3, 6)]);
    assert!(pairs.iter().all(|p| p.parent == 0));
    assert_eq!(pairs[0].chosen_q, 0.9);
    assert_eq!(pairs[0].rejected_q, -0.9);
}

#[test]
fn pairs_widen_to_four_when_one_side_has_a_single_step() {
    let mut nodes = vec![step(0, &distinct("good"), 0.9)];
    for i in 0..5 {
        nodes.push(step(
            0,
            &distinct(&format!("bad{i}")),
            -0.9 + 0.1 * i as f64,
        ));
    }
    nodes.push(leaf(1, "right", 1.0, true));
    for parent in 2..=6 {
        nodes.push(leaf(parent, "wrong", -1.0, false));
    }
    let t = tree(&nodes);
    let t = IndexedTree::new(&t).unwrap();
    let pairs = step_pairs(&t, &Rules::default(), &mut Skips::default());
    assert_eq!(
        pairs.iter().map(|p| p.rejected).collect::<Vec<_>>(),
        [2, 3, 4, 5]
    );
    assert!(pairs.iter().all(|p| p.chosen == 1));
}

#[test]
fn pairs_need_the_margin_and_the_edit_distance() {
    let t = tree(&[
        step(0, &distinct("good"), 0.3),                  // 1
        step(0, &distinct("bad"), -0.1),                  // 2: margin 0.4 < 0.5
        step(0, &format!("{}!", distinct("good")), -0.8), // 3: one edit from 1
        leaf(1, "right", 1.0, true),
        leaf(2, "wrong", -1.0, false),
        leaf(3, "wrong", -1.0, false),
    ]);
    let t = IndexedTree::new(&t).unwrap();
    let mut skips = Skips::default();
    assert!(step_pairs(&t, &Rules::default(), &mut skips).is_empty());
    assert_eq!(skips.0["pairs under the Q margin"], 1);
    assert_eq!(skips.0["pairs under the edit distance"], 1);

    let loose = Rules {
        min_margin: 0.0,
        min_edit_distance: 0,
        ..Rules::default()
    };
    assert_eq!(step_pairs(&t, &loose, &mut Skips::default()).len(), 2);
}

#[test]
fn a_failed_step_is_never_the_chosen_side_and_pairs_form_at_every_depth() {
    let t = tree(&[
        failed(step(0, &distinct("lucky"), 0.9)), // 1: reaches a right answer, but failed its check
        step(0, &distinct("bad"), -0.9),          // 2
        leaf(1, "right", 1.0, true),              // 3
        leaf(2, "wrong", -1.0, false),            // 4
        step(2, &distinct("deep-good"), 0.5),     // 5: under 2, a contrast one level down
        leaf(5, "right", 1.0, true),              // 6
    ]);
    let t = IndexedTree::new(&t).unwrap();
    let pairs = step_pairs(&t, &Rules::default(), &mut Skips::default());
    assert_eq!(
        pairs,
        [Pair {
            parent: 2,
            chosen: 5,
            rejected: 4,
            chosen_q: 0.5,
            rejected_q: -1.0
        }]
    );
}

#[test]
fn solution_pairs_set_right_solutions_against_stated_wrong_answers() {
    let t = tree(&[
        step(0, &distinct("a"), 0.5),              // 1
        leaf(1, &distinct("right"), 1.0, true),    // 2: mean 0.75
        leaf(1, &distinct("wrong"), -1.0, false),  // 3: mean -0.25
        step(0, &distinct("b"), -0.5),             // 4
        leaf(4, &distinct("wrong2"), -1.0, false), // 5: mean -0.75
    ]);
    let t = IndexedTree::new(&t).unwrap();
    let pairs = solution_pairs(&t, &Rules::default(), &mut Skips::default());
    assert_eq!(
        pairs
            .iter()
            .map(|p| (p.chosen, p.rejected))
            .collect::<Vec<_>>(),
        [(2, 5), (2, 3)]
    );
    assert_eq!(pairs[0].parent, 0);
    assert!((pairs[0].chosen_q - 0.75).abs() < 1e-12);
}

#[test]
fn steps_are_labeled_by_what_lies_below_them() {
    let t = tree(&[
        step(0, "a", 0.2),             // 1: right below
        leaf(1, "right", 1.0, true),   // 2
        leaf(1, "wrong", -1.0, false), // 3
        step(0, "b", -1.0),            // 4: only wrong below
        leaf(4, "wrong", -1.0, false), // 5
        step(0, "c", 0.0),             // 6: never explored
    ]);
    let t = IndexedTree::new(&t).unwrap();
    let mut skips = Skips::default();
    let steps = labeled_steps(&t, &Rules::default(), &mut skips);
    assert_eq!(steps, [1, 2, 3, 4, 5]);
    let labels: Vec<bool> = steps.iter().map(|&i| t.reaches_correct[i]).collect();
    assert_eq!(labels, [true, true, false, false, false]);
    assert_eq!(skips.0["steps with no graded leaf below"], 1);
    assert_eq!(
        labeled_paths(&t, &Rules::default(), &mut Skips::default()),
        [2, 3, 5]
    );
    let capped = Rules {
        max_per_problem: Some(2),
        ..Rules::default()
    };
    assert_eq!(labeled_steps(&t, &capped, &mut Skips::default()), [1, 2]);
}

#[test]
fn a_broken_tree_is_refused() {
    let mut t = tree(&[step(0, "a", 0.0), leaf(1, "b", 1.0, true)]);
    t.nodes[2].parent_id = Some(999);
    let err = IndexedTree::new(&t).unwrap_err();
    assert!(err.contains("999"), "{err}");
}

fn levenshtein(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for i in 1..=a.len() {
        let mut cur = vec![i; b.len() + 1];
        for j in 1..=b.len() {
            cur[j] = (prev[j - 1] + usize::from(a[i - 1] != b[j - 1]))
                .min(prev[j] + 1)
                .min(cur[j - 1] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[test]
fn the_banded_edit_distance_agrees_with_the_full_one() {
    let mut rng = evolve_lm::Rng::new(7, 0);
    let mut random = |len: usize| -> String {
        (0..len)
            .map(|_| (b'a' + (rng.uniform() * 3.0) as u8) as char)
            .collect()
    };
    for round in 0..400 {
        let a = random(round % 40);
        let b = random((round * 7) % 45);
        let d = levenshtein(&a, &b);
        for k in [0, 1, 3, 10, 20, 30] {
            assert_eq!(
                edit_distance_at_least(&a, &b, k),
                d >= k,
                "{a:?} {b:?} k={k} d={d}"
            );
        }
    }
    assert!(!edit_distance_at_least("héllo wörld", "héllo wörld", 1));
}
