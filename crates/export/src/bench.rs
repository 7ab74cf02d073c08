//! `evolve bench export`: a synthetic database of search trees, then every
//! export of it timed, with the peak memory each one took.

use std::path::Path;
use std::time::Instant;

use anyhow::Result;
use evolve_lm::bench::{peak_memory_mib, reset_peak_memory};
use evolve_lm::{CHATML, ChatTemplate, Rng};
use evolve_store::{NewDataset, NewNode, NewProblem, NewTree, Store};

use crate::export::{ExportJob, ExportSummary, export};
use crate::render::Prompter;
use crate::rows::Format;
use crate::select::Rules;
use crate::writer::Destination;

/// The size of the synthetic database.
#[derive(Debug, Clone, Copy)]
pub struct BenchShape {
    /// Trees (one problem each).
    pub trees: usize,
    /// Nodes per tree.
    pub nodes_per_tree: usize,
    /// Seed of the generator.
    pub seed: u64,
}

/// One export's figures.
#[derive(Debug, Clone)]
pub struct ExportTiming {
    /// What it wrote.
    pub summary: ExportSummary,
    /// Wall-clock seconds.
    pub seconds: f64,
    /// Bytes written.
    pub bytes: u64,
    /// Peak resident memory during the export, MiB (Linux only).
    pub peak_mib: Option<f64>,
}

/// Every format, as the benchmark runs them.
pub const FORMATS: [Format; 6] = [
    Format::Messages,
    Format::PromptCompletion,
    Format::StepPairs,
    Format::SolutionPairs,
    Format::PerStep,
    Format::Stepwise,
];

/// What [`run`] measured besides the exports.
#[derive(Debug, Clone, Copy)]
pub struct BenchBaseline {
    /// Seconds to build the synthetic database.
    pub build_seconds: f64,
    /// Seconds to stream every tree with its nodes and do nothing else: the
    /// floor under each export.
    pub read_seconds: f64,
}

/// Builds the synthetic database in `dir`, times reading it, then times each
/// export, calling `report` after each.
pub async fn run(
    dir: &Path,
    shape: BenchShape,
    mut report: impl FnMut(&ExportTiming),
) -> Result<BenchBaseline> {
    let started = Instant::now();
    let store = Store::init(&dir.join("bench.db")).await?;
    let round = build(&store, shape).await?;
    let build_seconds = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let mut nodes = 0;
    store
        .scan_trees(round.id, None, |tree| -> Result<()> {
            nodes += tree.nodes.len();
            Ok(())
        })
        .await?;
    let read_seconds = started.elapsed().as_secs_f64();
    anyhow::ensure!(
        nodes == shape.trees * shape.nodes_per_tree,
        "read {nodes} nodes of {}",
        shape.trees * shape.nodes_per_tree
    );
    for format in FORMATS {
        let path = dir.join(format!("{}.jsonl", format.name()));
        let job = ExportJob {
            format,
            round: round.clone(),
            dataset: None,
            destination: Destination::File(path.clone()),
            rules: Rules {
                max_per_problem: (format.kind() == "sft").then_some(2),
                ..Rules::default()
            },
            prompter: Prompter {
                system: Some(SYSTEM.into()),
                examples: Vec::new(),
                template: Some(ChatTemplate::new(CHATML, "", "<|im_end|>")),
            },
            write_empty: true,
        };
        reset_peak_memory();
        let started = Instant::now();
        let summary = export(&store, &job).await?;
        let seconds = started.elapsed().as_secs_f64();
        report(&ExportTiming {
            summary,
            seconds,
            bytes: std::fs::metadata(&path)?.len(),
            peak_mib: peak_memory_mib(),
        });
        std::fs::remove_file(&path)?;
    }
    store.close().await;
    Ok(BenchBaseline {
        build_seconds,
        read_seconds,
    })
}

const SYSTEM: &str = "You are a careful math tutor. Solve the problem step by step. Write each step as one short sentence with its arithmetic written out, such as 3 * 4 = 12. Put a blank line between steps. The last step is: The answer is \\boxed{N}.";

/// Stores `shape.trees` problems and a tree for each, shaped like a search's:
/// expansions of 2 to 6 children, terminals likelier with depth, a third of
/// the trees never solved, Q from back-propagated ±1 rewards.
async fn build(store: &Store, shape: BenchShape) -> Result<evolve_store::Round> {
    let mut rng = Rng::new(shape.seed, 0);
    let problems: Vec<NewProblem> = (0..shape.trees)
        .map(|i| NewProblem {
            external_id: format!("p{i}"),
            question: format!(
                "A shop sold {} apples in the morning and {} in the afternoon. Each apple costs {} dollars. How many dollars did the shop take in?",
                10 + i % 37,
                5 + i % 23,
                2 + i % 5
            ),
            gold_answer: format!("{}", i % 100),
            reference_solution: None,
            level: None,
            subject: None,
            difficulty: None,
        })
        .collect();
    let dataset = NewDataset {
        name: "synthetic".into(),
        format: "generic".into(),
        source: None,
    };
    store.import_problems(&dataset, &problems).await?;
    let config = serde_json::json!({"prompts": {"system": SYSTEM, "examples": []}});
    let round = store
        .create_round("bench", 1, &config.to_string(), None)
        .await?;
    for problem in store.problems("synthetic", None).await? {
        let solvable = rng.uniform() < 0.67;
        let nodes = synthetic_tree(&mut rng, shape.nodes_per_tree, solvable);
        store
            .insert_tree(&NewTree {
                round_id: round.id,
                problem_id: problem.id,
                status: "done".into(),
                seed: shape.seed as i64,
                rollouts: 16,
                solved: nodes.iter().any(|n| n.correct == Some(true)),
                seconds: 0.0,
                tokens: nodes.iter().map(|n| n.tokens).sum(),
                note: None,
                nodes,
            })
            .await?;
    }
    Ok(round)
}

fn synthetic_tree(rng: &mut Rng, size: usize, solvable: bool) -> Vec<NewNode> {
    let mut nodes = vec![NewNode::default()];
    let below = |rng: &mut Rng, n: usize| (rng.uniform() * n as f64) as usize;
    while nodes.len() < size {
        // Expand a random open leaf, or any open node once no leaf is open.
        let open: Vec<usize> = (0..nodes.len())
            .filter(|&i| !nodes[i].terminal && nodes[i].depth < 10)
            .collect();
        let leaves: Vec<usize> = open
            .iter()
            .copied()
            .filter(|&i| !nodes.iter().any(|n| n.parent == Some(i)))
            .collect();
        let pool = if leaves.is_empty() { &open } else { &leaves };
        if pool.is_empty() {
            break;
        }
        let parent = pool[below(rng, pool.len())];
        let depth = nodes[parent].depth + 1;
        let children = (2 + below(rng, 5)).min(size - nodes.len());
        for _ in 0..children {
            let terminal = rng.uniform() < 0.1 + 0.08 * depth as f64;
            let (a, b) = (below(rng, 500), below(rng, 500));
            let failed = rng.uniform() < 0.1;
            let step_text = if terminal {
                format!(
                    "So the shop took in {} dollars in total.\n\nThe answer is \\boxed{{{}}}.",
                    a + b,
                    a
                )
            } else {
                format!(
                    "In the afternoon the shop sold {a} + {b} = {} apples, which at the price of each apple makes the total.\n\n",
                    a + b + usize::from(failed)
                )
            };
            let correct = terminal.then(|| solvable && rng.uniform() < 0.4);
            nodes.push(NewNode {
                parent: Some(parent),
                depth,
                tokens: step_text.len() as i64 / 4,
                step_text,
                step_check: Some(if failed { "error" } else { "ok" }.into()),
                exec_output: failed.then(|| format!("false: {a} + {b} = {}", a + b + 1)),
                terminal,
                extracted_answer: terminal.then(|| a.to_string()),
                correct,
                ..NewNode::default()
            });
        }
    }
    // Back-propagate each terminal's reward to the root.
    for i in 0..nodes.len() {
        if let Some(correct) = nodes[i].correct {
            let reward = if correct { 1.0 } else { -1.0 };
            let mut at = Some(i);
            while let Some(j) = at {
                nodes[j].visits += 1;
                nodes[j].value_sum += reward;
                at = nodes[j].parent;
            }
        }
    }
    for node in &mut nodes {
        if node.visits > 0 {
            node.q = node.value_sum / node.visits as f64;
        }
    }
    nodes
}
