//! The row shapes of each format, and the rows of one tree in each.
//!
//! Every row carries the ids of the problem, tree and nodes it came from, so it
//! can be traced back with `evolve tree show` or SQL.

use anyhow::Result;
use evolve_lm::Message;
use serde::Serialize;

use crate::render::{Prompter, step_as_seen, steps_as_seen};
use crate::select::{self, Rules, Skips};
use crate::tree::IndexedTree;
use crate::writer::JsonlWriter;

/// What a file holds, and the shape of its rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// SFT: `{"messages": [system?, user, assistant]}`.
    Messages,
    /// SFT: `{"prompt", "completion"}`, the prompt through the chat template.
    PromptCompletion,
    /// Pairs of sibling steps: `{"prompt", "chosen", "rejected"}`.
    StepPairs,
    /// Pairs of whole solutions: `{"prompt", "chosen", "rejected"}`.
    SolutionPairs,
    /// One row per labeled step: `{"prompt", "step", "q", "label"}`.
    PerStep,
    /// One row per root-to-leaf path: `{"prompt", "completions", "labels"}`.
    Stepwise,
}

impl Format {
    /// `sft`, `pairs` or `steps`.
    pub fn kind(self) -> &'static str {
        match self {
            Format::Messages | Format::PromptCompletion => "sft",
            Format::StepPairs | Format::SolutionPairs => "pairs",
            Format::PerStep | Format::Stepwise => "steps",
        }
    }

    /// The format's name, as recorded in the database.
    pub fn name(self) -> &'static str {
        match self {
            Format::Messages => "messages",
            Format::PromptCompletion => "prompt-completion",
            Format::StepPairs => "step-pairs",
            Format::SolutionPairs => "solution-pairs",
            Format::PerStep => "per-step",
            Format::Stepwise => "stepwise",
        }
    }

    /// Whether rows hold prompts written through the policy's chat template.
    pub fn needs_template(self) -> bool {
        !matches!(self, Format::Messages | Format::Stepwise)
    }

    /// The rows of one tree, written to `out`; returns how many.
    pub(crate) fn write_tree(
        self,
        tree: &IndexedTree<'_>,
        rules: &Rules,
        prompter: &Prompter,
        skips: &mut Skips,
        out: &mut JsonlWriter,
    ) -> Result<usize> {
        let source = Source::of(tree);
        let question = &tree.tree.question;
        let nodes = |path: &[usize]| path.iter().map(|&i| tree.node(i)).collect::<Vec<_>>();
        let mut rows = 0;
        match self {
            Format::Messages | Format::PromptCompletion => {
                for t in select::sft_trajectories(tree, rules, skips) {
                    let solution = steps_as_seen(nodes(&tree.path(t.leaf)))
                        .trim_end()
                        .to_owned();
                    let trace = SftTrace {
                        source,
                        leaf_id: tree.node(t.leaf).id,
                        mean_q: t.mean_q,
                        min_q: t.min_q,
                        answer: tree.node(t.leaf).extracted_answer.as_deref().unwrap_or(""),
                    };
                    if self == Format::Messages {
                        let mut messages = prompter.messages(question);
                        messages.push(Message::new("assistant", &solution));
                        out.row(&MessagesRow { messages, trace })?;
                    } else {
                        let prompt = prompter.chat_prompt(question)?;
                        out.row(&CompletionRow {
                            completion: prompter.completion(&prompt, question, &solution)?,
                            prompt,
                            trace,
                        })?;
                    }
                    rows += 1;
                }
            }
            Format::StepPairs | Format::SolutionPairs => {
                let step_level = self == Format::StepPairs;
                let pairs = if step_level {
                    select::step_pairs(tree, rules, skips)
                } else {
                    select::solution_pairs(tree, rules, skips)
                };
                let chat_prompt = if pairs.is_empty() {
                    String::new()
                } else {
                    prompter.chat_prompt(question)?
                };
                for pair in pairs {
                    let side = |i: usize| {
                        if step_level {
                            tree.node(i).step_text.clone()
                        } else {
                            steps_as_seen(nodes(&tree.path(i))).trim_end().to_owned()
                        }
                    };
                    let prefix = steps_as_seen(nodes(&tree.path(pair.parent)));
                    out.row(&PairRow {
                        prompt: chat_prompt.clone() + &prefix,
                        chosen: side(pair.chosen),
                        rejected: side(pair.rejected),
                        source,
                        parent_id: tree.node(pair.parent).id,
                        chosen_id: tree.node(pair.chosen).id,
                        rejected_id: tree.node(pair.rejected).id,
                        chosen_q: pair.chosen_q,
                        rejected_q: pair.rejected_q,
                        depth: tree.steps[pair.parent],
                    })?;
                    rows += 1;
                }
            }
            Format::PerStep => {
                let steps = select::labeled_steps(tree, rules, skips);
                let chat_prompt = if steps.is_empty() {
                    String::new()
                } else {
                    prompter.chat_prompt(question)?
                };
                for i in steps {
                    let node = tree.node(i);
                    let parent = tree.parent[i].expect("a step has a parent");
                    out.row(&StepRow {
                        prompt: chat_prompt.clone() + &steps_as_seen(nodes(&tree.path(parent))),
                        step: node.step_text.clone(),
                        q: node.q,
                        label: tree.reaches_correct[i],
                        visits: node.visits,
                        terminal: node.terminal,
                        source,
                        node_id: node.id,
                        depth: tree.steps[i],
                    })?;
                    rows += 1;
                }
            }
            Format::Stepwise => {
                for leaf in select::labeled_paths(tree, rules, skips) {
                    let path = tree.path(leaf);
                    out.row(&StepwiseRow {
                        prompt: question,
                        completions: path
                            .iter()
                            .map(|&i| step_as_seen(tree.node(i)).trim_end().to_owned())
                            .collect(),
                        labels: path.iter().map(|&i| tree.reaches_correct[i]).collect(),
                        q: path.iter().map(|&i| tree.node(i).q).collect(),
                        source,
                        leaf_id: tree.node(leaf).id,
                        node_ids: path.iter().map(|&i| tree.node(i).id).collect(),
                    })?;
                    rows += 1;
                }
            }
        }
        Ok(rows)
    }
}

/// Where a row came from.
#[derive(Debug, Clone, Copy, Serialize)]
struct Source<'t> {
    problem_id: i64,
    dataset: &'t str,
    external_id: &'t str,
    tree_id: i64,
}

impl<'t> Source<'t> {
    fn of(tree: &IndexedTree<'t>) -> Source<'t> {
        Source {
            problem_id: tree.tree.problem_id,
            dataset: &tree.tree.dataset,
            external_id: &tree.tree.external_id,
            tree_id: tree.tree.id,
        }
    }
}

#[derive(Serialize)]
struct SftTrace<'t> {
    #[serde(flatten)]
    source: Source<'t>,
    leaf_id: i64,
    mean_q: f64,
    min_q: f64,
    answer: &'t str,
}

#[derive(Serialize)]
struct MessagesRow<'t> {
    messages: Vec<Message>,
    #[serde(flatten)]
    trace: SftTrace<'t>,
}

#[derive(Serialize)]
struct CompletionRow<'t> {
    prompt: String,
    completion: String,
    #[serde(flatten)]
    trace: SftTrace<'t>,
}

#[derive(Serialize)]
struct PairRow<'t> {
    prompt: String,
    chosen: String,
    rejected: String,
    #[serde(flatten)]
    source: Source<'t>,
    /// The node both sides follow (the root for whole solutions).
    parent_id: i64,
    chosen_id: i64,
    rejected_id: i64,
    chosen_q: f64,
    rejected_q: f64,
    /// Steps in the shared prefix.
    depth: usize,
}

#[derive(Serialize)]
struct StepRow<'t> {
    prompt: String,
    step: String,
    q: f64,
    label: bool,
    visits: i64,
    terminal: bool,
    #[serde(flatten)]
    source: Source<'t>,
    node_id: i64,
    depth: usize,
}

#[derive(Serialize)]
struct StepwiseRow<'t> {
    prompt: &'t str,
    completions: Vec<String>,
    labels: Vec<bool>,
    q: Vec<f64>,
    #[serde(flatten)]
    source: Source<'t>,
    leaf_id: i64,
    node_ids: Vec<i64>,
}
