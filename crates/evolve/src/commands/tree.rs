//! `evolve tree list` and `evolve tree show`: stored search trees as a table,
//! an indented outline, Graphviz dot (through petgraph) or JSON.

use std::collections::HashMap;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{anyhow, bail};
use evolve_store::{Store, StoredNode, StoredTree};
use petgraph::dot::{Config, Dot};
use petgraph::graph::{DiGraph, NodeIndex};

use crate::cli::{TreeListArgs, TreeShowArgs};
use crate::table;

async fn open_read_only(db: &Path) -> anyhow::Result<Store> {
    Store::open_read_only(db)
        .await
        .map_err(|e| anyhow!(e).context(format!("opening {}", db.display())))
}

pub async fn list(db: &Path, args: TreeListArgs) -> anyhow::Result<ExitCode> {
    let store = open_read_only(db).await?;
    let round_id = match args.round {
        Some(number) => match store.round(&args.pipeline, number).await? {
            Some(round) => Some(round.id),
            None => bail!("no round {number} of pipeline {}", args.pipeline),
        },
        None => None,
    };
    let trees = store
        .list_trees(round_id, args.dataset.as_deref(), args.limit)
        .await?;
    let header: Vec<String> = [
        "id", "pipeline", "round", "dataset", "problem", "status", "rollouts", "solved", "nodes",
        "tokens", "seconds", "note",
    ]
    .map(String::from)
    .to_vec();
    let rows: Vec<Vec<String>> = trees
        .iter()
        .map(|t| {
            vec![
                t.id.to_string(),
                t.pipeline.clone(),
                t.round.to_string(),
                t.dataset.clone(),
                t.external_id.clone(),
                t.status.clone(),
                t.rollouts.to_string(),
                if t.solved { "yes" } else { "no" }.into(),
                t.nodes.to_string(),
                t.tokens.to_string(),
                t.seconds.map(|s| format!("{s:.1}")).unwrap_or_default(),
                t.note.clone().unwrap_or_default(),
            ]
        })
        .collect();
    print!(
        "{}",
        table::render(
            &header,
            &rows,
            &[
                true, false, true, false, false, false, true, false, true, true, true, false
            ]
        )
    );
    Ok(ExitCode::SUCCESS)
}

pub async fn show(db: &Path, args: TreeShowArgs) -> anyhow::Result<ExitCode> {
    let store = open_read_only(db).await?;
    let tree = store.tree(args.id).await?.ok_or_else(|| {
        anyhow!(
            "no tree {} in {}; `evolve tree list` shows the stored ones",
            args.id,
            db.display()
        )
    })?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&tree)?);
    } else if args.dot {
        print!("{}", dot(&tree));
    } else {
        print!("{}", outline(&tree, args.width));
    }
    Ok(ExitCode::SUCCESS)
}

/// One line per node, indented by depth: id, visits, Q, check and outcome, step text.
fn outline(tree: &StoredTree, width: usize) -> String {
    let mut out = format!(
        "tree {}  {}  rollouts {}  {}\nquestion: {}\ngold: {}\n",
        tree.id,
        tree.status,
        tree.rollouts,
        if tree.solved { "solved" } else { "not solved" },
        one_line(&tree.question, 200),
        tree.gold_answer
    );
    let children = children(&tree.nodes);
    let mut stack: Vec<&StoredNode> = tree
        .nodes
        .iter()
        .filter(|n| n.parent_id.is_none())
        .rev()
        .collect();
    while let Some(node) = stack.pop() {
        let indent = "  ".repeat(node.depth as usize);
        let mut marks = Vec::new();
        match node.step_check.as_deref() {
            Some("error") => marks.push(format!(
                "check failed: {}",
                one_line(node.exec_output.as_deref().unwrap_or(""), 60)
            )),
            Some("ok") => marks.push("check ok".to_owned()),
            _ => {}
        }
        if node.terminal {
            let verdict = if node.correct == Some(true) {
                "correct"
            } else {
                "wrong"
            };
            marks.push(format!(
                "{verdict} answer {}",
                node.extracted_answer.as_deref().unwrap_or("(none)")
            ));
        }
        let text = if node.parent_id.is_none() {
            "(question)".to_owned()
        } else {
            one_line(&node.step_text, width)
        };
        out.push_str(&format!(
            "{indent}#{} N={} Q={:+.2} {}{}\n",
            node.id,
            node.visits,
            node.q,
            text,
            if marks.is_empty() {
                String::new()
            } else {
                format!("  [{}]", marks.join("; "))
            }
        ));
        for child in children.get(&node.id).into_iter().flatten().rev() {
            stack.push(child);
        }
    }
    out
}

fn children(nodes: &[StoredNode]) -> HashMap<i64, Vec<&StoredNode>> {
    let mut map: HashMap<i64, Vec<&StoredNode>> = HashMap::new();
    for node in nodes {
        if let Some(parent) = node.parent_id {
            map.entry(parent).or_default().push(node);
        }
    }
    map
}

/// Graphviz dot: terminal nodes green when correct, red when wrong; failed checks dashed.
fn dot(tree: &StoredTree) -> String {
    let mut graph: DiGraph<String, ()> = DiGraph::new();
    let mut index: HashMap<i64, NodeIndex> = HashMap::new();
    let mut style: HashMap<NodeIndex, String> = HashMap::new();
    for node in &tree.nodes {
        let text = if node.parent_id.is_none() {
            one_line(&tree.question, 40)
        } else {
            one_line(&node.step_text, 40)
        };
        let label = format!("#{} N={} Q={:+.2}\n{}", node.id, node.visits, node.q, text);
        let at = graph.add_node(label);
        index.insert(node.id, at);
        let mut attrs = Vec::new();
        if node.terminal {
            attrs.push(if node.correct == Some(true) {
                "color=green"
            } else {
                "color=red"
            });
        }
        if node.step_check.as_deref() == Some("error") {
            attrs.push("style=dashed");
        }
        style.insert(at, attrs.join(", "));
        if let Some(parent) = node.parent_id.and_then(|p| index.get(&p)) {
            graph.add_edge(*parent, at, ());
        }
    }
    format!(
        "{:?}",
        Dot::with_attr_getters(
            &graph,
            &[Config::EdgeNoLabel],
            &|_, _| String::new(),
            &|_, (at, _)| style.get(&at).cloned().unwrap_or_default()
        )
    )
}

/// The text on one line, cut to `width` characters.
fn one_line(text: &str, width: usize) -> String {
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() > width {
        let cut: String = flat.chars().take(width.saturating_sub(1)).collect();
        format!("{cut}…")
    } else {
        flat
    }
}
