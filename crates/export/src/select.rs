//! The selection rules, in one place for `evolve export` and the round: which
//! trajectories become SFT rows, which sibling steps become preference pairs,
//! which steps get labels. Everything here is pure and works on node indices
//! of an [`IndexedTree`]; ties are broken by node id, so a selection is the
//! same on every run.

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashSet};

use evolve_verify::{check_arithmetic, unused_question_numbers};
use serde::Serialize;

use crate::tree::{IndexedTree, failed};

/// The settings of a selection; each kind reads the ones that concern it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rules {
    /// Most rows per problem (`None`: all). SFT keeps the top k trajectories.
    pub max_per_problem: Option<usize>,
    /// Lowest Q a row may have: a trajectory's mean Q (SFT), the chosen
    /// side's Q (pairs), the step's Q (step labels).
    pub min_q: Option<f64>,
    /// Pairs: least Q difference between the chosen and the rejected side.
    pub min_margin: f64,
    /// Pairs: least edit distance, in characters, between the two sides.
    pub min_edit_distance: usize,
    /// SFT: keep only trajectories whose answer one of their steps computed
    /// (`... = N`, or N in a code step's output), not ones that stated a
    /// right answer their steps never reached (a guess).
    pub computed_answer: bool,
    /// SFT: of a problem's correct trajectories, keep only those that make the
    /// fewest arithmetic claims (`a op b = c`): the direct solutions, not ones
    /// that reach the answer by a detour a small policy copies.
    pub fewest_claims: bool,
    /// SFT: keep only trajectories whose steps compute with every number the
    /// question writes in digits; for word problems without distractors, where
    /// a solution that leaves one out reached the answer by luck.
    pub all_numbers_used: bool,
}

impl Default for Rules {
    /// rStar-Math's settings: top 2 trajectories, margin 0.5, edit distance 20.
    fn default() -> Rules {
        Rules {
            max_per_problem: None,
            min_q: None,
            min_margin: 0.5,
            min_edit_distance: 20,
            computed_answer: false,
            fewest_claims: false,
            all_numbers_used: false,
        }
    }
}

/// Why candidates were left out, with counts; reported in the export's summary.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Skips(pub BTreeMap<&'static str, usize>);

impl Skips {
    /// Counts `n` candidates left out for `reason`.
    pub fn add(&mut self, reason: &'static str, n: usize) {
        if n > 0 {
            *self.0.entry(reason).or_default() += n;
        }
    }

    /// Adds another tally to this one.
    pub fn merge(&mut self, other: &Skips) {
        for (reason, n) in &other.0 {
            self.add(reason, *n);
        }
    }
}

/// A correct root-to-leaf trajectory chosen for SFT.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Trajectory {
    /// Index of the leaf.
    pub leaf: usize,
    /// Mean Q of its steps.
    pub mean_q: f64,
    /// Lowest Q of its steps.
    pub min_q: f64,
}

/// Two alternatives after the same prefix: steps under one node, or whole
/// solutions under the root.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pair {
    /// Index of the node both sides follow.
    pub parent: usize,
    /// Index of the preferred step (or solution's leaf).
    pub chosen: usize,
    /// Index of the other.
    pub rejected: usize,
    /// The chosen side's Q (a solution's mean Q).
    pub chosen_q: f64,
    /// The rejected side's Q.
    pub rejected_q: f64,
}

/// SFT: the correct trajectories ranked by (mean Q, min Q), without failed
/// steps or repeats (and, with `fewest_claims`, only the most direct ones),
/// the best `max_per_problem` of them (rStar-Math keeps 2).
pub fn sft_trajectories(
    tree: &IndexedTree<'_>,
    rules: &Rules,
    skips: &mut Skips,
) -> Vec<Trajectory> {
    let mut ranked: Vec<Trajectory> = Vec::new();
    for i in 0..tree.len() {
        if !tree.is_correct_leaf(i) || tree.steps[i] == 0 {
            continue;
        }
        if tree.failed_on_path[i] {
            skips.add("trajectories with a failed step", 1);
            continue;
        }
        if rules.computed_answer && !answer_computed(tree, i) {
            skips.add("trajectories whose steps never computed their answer", 1);
            continue;
        }
        if rules.all_numbers_used && !all_numbers_used(tree, i) {
            skips.add("trajectories that left a number of the question unused", 1);
            continue;
        }
        ranked.push(Trajectory {
            leaf: i,
            mean_q: tree.mean_q(i),
            min_q: tree.min_q(i),
        });
    }
    ranked.sort_by(|a, b| {
        desc(a.mean_q, b.mean_q)
            .then(desc(a.min_q, b.min_q))
            .then(tree.node(a.leaf).id.cmp(&tree.node(b.leaf).id))
    });
    let mut seen = HashSet::new();
    let mut candidates = Vec::new();
    for t in ranked {
        if !seen.insert(solution_key(tree, t.leaf)) {
            skips.add("duplicate trajectories", 1);
        } else if rules.min_q.is_some_and(|min| t.mean_q < min) {
            skips.add("trajectories below --min-q", 1);
        } else {
            candidates.push(t);
        }
    }
    if rules.fewest_claims {
        let claims: Vec<usize> = candidates
            .iter()
            .map(|t| claims_on_path(tree, t.leaf))
            .collect();
        let fewest = claims.iter().copied().min().unwrap_or(0);
        let before = candidates.len();
        candidates = candidates
            .into_iter()
            .zip(claims)
            .filter_map(|(t, n)| (n == fewest).then_some(t))
            .collect();
        skips.add(
            "trajectories with more claims than the fewest",
            before - candidates.len(),
        );
    }
    cap(
        candidates,
        rules,
        "trajectories over --max-per-problem",
        skips,
    )
}

/// The arithmetic claims the steps from the root to `leaf` make.
fn claims_on_path(tree: &IndexedTree<'_>, leaf: usize) -> usize {
    tree.path(leaf)
        .into_iter()
        .map(|i| check_arithmetic(&tree.node(i).step_text).claims)
        .sum()
}

/// Whether the steps from the root to `leaf` compute with every number of the
/// question.
fn all_numbers_used(tree: &IndexedTree<'_>, leaf: usize) -> bool {
    let steps: Vec<&str> = tree
        .path(leaf)
        .into_iter()
        .map(|i| tree.node(i).step_text.as_str())
        .collect();
    unused_question_numbers(&tree.tree.question, &steps).is_empty()
}

/// Whether a step on the path to `leaf` computed the leaf's answer: a number
/// right after an `=` in a step, or in a code step's output, equals it.
/// Answers that are not plain numbers count as computed.
fn answer_computed(tree: &IndexedTree<'_>, leaf: usize) -> bool {
    let Some(answer) = tree.node(leaf).extracted_answer.as_deref().and_then(number) else {
        return true;
    };
    let mut at = Some(leaf);
    while let Some(i) = at {
        let node = tree.node(i);
        let results = node
            .step_text
            .split('=')
            .skip(1)
            .filter_map(number_at_start);
        let outputs = node
            .exec_output
            .iter()
            .flat_map(|o| o.split(|c: char| c.is_whitespace() || c == ','))
            .filter_map(number);
        if results
            .chain(outputs)
            .any(|n| (n - answer).abs() <= 1e-9 * answer.abs().max(1.0))
        {
            return true;
        }
        at = tree.parent[i];
    }
    false
}

/// A plain number: `1,200`, `$3.50`, `-4`, `7.` (thousands separators and a
/// dollar sign allowed).
fn number(text: &str) -> Option<f64> {
    let text = text
        .trim()
        .trim_start_matches('$')
        .trim_end_matches(['.', ',']);
    text.replace(',', "")
        .parse::<f64>()
        .ok()
        .filter(|n| n.is_finite())
}

/// The number that opens `text` (after spaces and a dollar sign), if any.
fn number_at_start(text: &str) -> Option<f64> {
    let text = text.trim_start().trim_start_matches('$').trim_start();
    let end = text
        .char_indices()
        .find(|&(i, c)| !(c.is_ascii_digit() || c == '.' || c == ',' || (i == 0 && c == '-')))
        .map_or(text.len(), |(i, _)| i);
    number(&text[..end])
}

/// Step-level pairs as rStar-Math builds them: at each node, up to 2 children
/// whose subtrees reach a correct answer (highest Q first) against up to 2
/// whose subtrees reach only wrong ones (lowest Q first), widening the other
/// side to 4 when one side has a single child; a pair is kept when the Q
/// margin and the steps' edit distance are large enough.
pub fn step_pairs(tree: &IndexedTree<'_>, rules: &Rules, skips: &mut Skips) -> Vec<Pair> {
    let mut pairs = Vec::new();
    for parent in 0..tree.len() {
        let children = &tree.children[parent];
        if children.len() < 2 {
            continue;
        }
        let q = |i: usize| tree.node(i).q;
        let mut good: Vec<(usize, f64)> = children
            .iter()
            .filter(|&&c| tree.reaches_correct[c] && !failed(tree.node(c)))
            .map(|&c| (c, q(c)))
            .collect();
        let mut bad: Vec<(usize, f64)> = children
            .iter()
            .filter(|&&c| tree.reaches_terminal[c] && !tree.reaches_correct[c])
            .map(|&c| (c, q(c)))
            .collect();
        if good.is_empty() || bad.is_empty() {
            continue;
        }
        good.sort_by(|a, b| desc(a.1, b.1).then(a.0.cmp(&b.0)));
        bad.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
        let text = |i: usize| tree.node(i).step_text.as_str();
        pair_up(parent, &good, &bad, text, rules, skips, &mut pairs);
    }
    cap(pairs, rules, "pairs over --max-per-problem", skips)
}

/// Outcome-level pairs of whole solutions: correct trajectories (ranked as for
/// SFT, without failed steps or repeats) against wrong solutions that state an
/// answer (lowest mean Q first), with the same widening and filters.
pub fn solution_pairs(tree: &IndexedTree<'_>, rules: &Rules, skips: &mut Skips) -> Vec<Pair> {
    let unlimited = Rules {
        max_per_problem: None,
        min_q: None,
        ..rules.clone()
    };
    let good: Vec<(usize, f64)> = sft_trajectories(tree, &unlimited, &mut Skips::default())
        .into_iter()
        .map(|t| (t.leaf, t.mean_q))
        .collect();
    let mut seen = HashSet::new();
    let mut bad: Vec<(usize, f64)> = (0..tree.len())
        .filter(|&i| {
            let node = tree.node(i);
            node.terminal && node.correct == Some(false) && node.extracted_answer.is_some()
        })
        .map(|i| (i, tree.mean_q(i)))
        .collect();
    bad.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
    bad.retain(|&(i, _)| seen.insert(solution_key(tree, i)));
    if good.is_empty() || bad.is_empty() {
        return Vec::new();
    }
    let solution = |i: usize| solution_key(tree, i);
    let mut pairs = Vec::new();
    pair_up(0, &good, &bad, solution, rules, skips, &mut pairs);
    cap(pairs, rules, "pairs over --max-per-problem", skips)
}

/// Steps with a label: every node with a graded leaf at or below it. Its hard
/// label is whether some leaf below is correct; its soft label is its Q.
pub fn labeled_steps(tree: &IndexedTree<'_>, rules: &Rules, skips: &mut Skips) -> Vec<usize> {
    let mut kept = Vec::new();
    for i in 1..tree.len() {
        if !tree.reaches_terminal[i] {
            skips.add("steps with no graded leaf below", 1);
        } else if rules.min_q.is_some_and(|min| tree.node(i).q < min) {
            skips.add("steps below --min-q", 1);
        } else {
            kept.push(i);
        }
    }
    cap(kept, rules, "steps over --max-per-problem", skips)
}

/// Leaves whose whole path is written as one row of step labels (TRL's
/// stepwise-supervision format): every graded leaf, in id order.
pub fn labeled_paths(tree: &IndexedTree<'_>, rules: &Rules, skips: &mut Skips) -> Vec<usize> {
    let leaves = (1..tree.len())
        .filter(|&i| tree.node(i).terminal)
        .filter(|&i| {
            let keep = !rules.min_q.is_some_and(|min| tree.mean_q(i) < min);
            if !keep {
                skips.add("paths below --min-q", 1);
            }
            keep
        })
        .collect();
    cap(leaves, rules, "paths over --max-per-problem", skips)
}

/// Pairs the top of `good` with the bottom of `bad` (both already ranked),
/// 2 against 2, or 1 against up to 4 when one side has a single candidate.
fn pair_up<T: AsRef<str>>(
    parent: usize,
    good: &[(usize, f64)],
    bad: &[(usize, f64)],
    text: impl Fn(usize) -> T,
    rules: &Rules,
    skips: &mut Skips,
    pairs: &mut Vec<Pair>,
) {
    let (take_good, take_bad) = match (good.len(), bad.len()) {
        (1, n) => (1, n.min(4)),
        (n, 1) => (n.min(4), 1),
        (g, b) => (g.min(2), b.min(2)),
    };
    for &(chosen, chosen_q) in &good[..take_good] {
        if rules.min_q.is_some_and(|min| chosen_q < min) {
            skips.add("pairs below --min-q", take_bad);
            continue;
        }
        for &(rejected, rejected_q) in &bad[..take_bad] {
            if chosen_q - rejected_q < rules.min_margin {
                skips.add("pairs under the Q margin", 1);
            } else if !edit_distance_at_least(
                text(chosen).as_ref(),
                text(rejected).as_ref(),
                rules.min_edit_distance,
            ) {
                skips.add("pairs under the edit distance", 1);
            } else {
                pairs.push(Pair {
                    parent,
                    chosen,
                    rejected,
                    chosen_q,
                    rejected_q,
                });
            }
        }
    }
}

fn cap<T>(mut rows: Vec<T>, rules: &Rules, reason: &'static str, skips: &mut Skips) -> Vec<T> {
    if let Some(max) = rules.max_per_problem
        && rows.len() > max
    {
        skips.add(reason, rows.len() - max);
        rows.truncate(max);
    }
    rows
}

/// The solution's steps with whitespace runs collapsed: two trajectories with
/// the same key are the same solution.
fn solution_key(tree: &IndexedTree<'_>, leaf: usize) -> String {
    let mut key = String::new();
    for i in tree.path(leaf) {
        for word in tree.node(i).step_text.split_whitespace() {
            if !key.is_empty() {
                key.push(' ');
            }
            key.push_str(word);
        }
    }
    key
}

fn desc(a: f64, b: f64) -> Ordering {
    b.total_cmp(&a)
}

/// Whether the Levenshtein distance between `a` and `b` (in characters) is at
/// least `k`. Only a band of width 2k+1 around the diagonal is computed, so a
/// long pair of solutions costs O(len · k), not O(len²).
pub fn edit_distance_at_least(a: &str, b: &str, k: usize) -> bool {
    if k == 0 {
        return true;
    }
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let (n, m) = (a.len(), b.len());
    if n.abs_diff(m) >= k {
        return true;
    }
    // Distances are capped at k: past it only "at least k" matters.
    let mut prev: Vec<usize> = (0..=m).map(|j| j.min(k)).collect();
    let mut cur = vec![k; m + 1];
    for i in 1..=n {
        let lo = i.saturating_sub(k).max(1);
        let hi = (i + k).min(m);
        cur[0] = i.min(k);
        if lo > 1 {
            cur[lo - 1] = k;
        }
        let mut row_min = cur[0];
        for j in lo..=hi {
            let substitute = prev[j - 1] + usize::from(a[i - 1] != b[j - 1]);
            let d = substitute.min(prev[j] + 1).min(cur[j - 1] + 1).min(k);
            cur[j] = d;
            row_min = row_min.min(d);
        }
        if hi < m {
            cur[hi + 1] = k;
        }
        if row_min >= k {
            return true;
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[m] >= k
}
