//! A stored tree indexed for selection: children, what each subtree reaches,
//! and the Q statistics of every root-to-node path.

use evolve_store::{StoredNode, StoredTree};

/// A stored tree with the facts the selection rules ask about each node.
#[derive(Debug)]
pub struct IndexedTree<'t> {
    /// The tree.
    pub tree: &'t StoredTree,
    /// Node indices of each node's children, in id order.
    pub children: Vec<Vec<usize>>,
    /// The parent's index; `None` for the root.
    pub parent: Vec<Option<usize>>,
    /// Whether some terminal at or below the node is correct.
    pub reaches_correct: Vec<bool>,
    /// Whether some terminal (graded leaf) is at or below the node.
    pub reaches_terminal: Vec<bool>,
    /// Whether a step on the path from the root to the node failed its check.
    pub failed_on_path: Vec<bool>,
    /// Steps on the path (the root holds no step).
    pub steps: Vec<usize>,
    /// Sum and minimum of the steps' Q on the path.
    q_sum: Vec<f64>,
    q_min: Vec<f64>,
}

impl<'t> IndexedTree<'t> {
    /// Indexes `tree`, whose nodes come in id order with parents first.
    ///
    /// Fails when the nodes do not form one rooted tree in that order.
    pub fn new(tree: &'t StoredTree) -> Result<IndexedTree<'t>, String> {
        let n = tree.nodes.len();
        let mut index = std::collections::HashMap::with_capacity(n);
        let mut parent = Vec::with_capacity(n);
        let mut children = vec![Vec::new(); n];
        for (i, node) in tree.nodes.iter().enumerate() {
            index.insert(node.id, i);
            let p = match node.parent_id {
                None if i == 0 => None,
                None => {
                    return Err(format!(
                        "tree {} has a second root, node {}",
                        tree.id, node.id
                    ));
                }
                Some(pid) => match index.get(&pid) {
                    Some(&p) => Some(p),
                    None => {
                        return Err(format!(
                            "node {} of tree {} has parent {pid}, which is not an earlier node of the tree",
                            node.id, tree.id
                        ));
                    }
                },
            };
            if let Some(p) = p {
                children[p].push(i);
            }
            parent.push(p);
        }

        let mut steps = vec![0; n];
        let mut q_sum = vec![0.0; n];
        let mut q_min = vec![f64::INFINITY; n];
        let mut failed_on_path = vec![false; n];
        for i in 0..n {
            if let Some(p) = parent[i] {
                let node = &tree.nodes[i];
                steps[i] = steps[p] + 1;
                q_sum[i] = q_sum[p] + node.q;
                q_min[i] = q_min[p].min(node.q);
                failed_on_path[i] = failed_on_path[p] || failed(node);
            }
        }
        // Children come after their parents: one backward pass gathers subtrees.
        let mut reaches_correct = vec![false; n];
        let mut reaches_terminal = vec![false; n];
        for i in (0..n).rev() {
            let node = &tree.nodes[i];
            reaches_terminal[i] |= node.terminal;
            reaches_correct[i] |= node.terminal && node.correct == Some(true);
            if let Some(p) = parent[i] {
                reaches_terminal[p] |= reaches_terminal[i];
                reaches_correct[p] |= reaches_correct[i];
            }
        }
        Ok(IndexedTree {
            tree,
            children,
            parent,
            reaches_correct,
            reaches_terminal,
            failed_on_path,
            steps,
            q_sum,
            q_min,
        })
    }

    /// The node at index `i`.
    pub fn node(&self, i: usize) -> &'t StoredNode {
        &self.tree.nodes[i]
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.tree.nodes.len()
    }

    /// Whether the tree has no nodes.
    pub fn is_empty(&self) -> bool {
        self.tree.nodes.is_empty()
    }

    /// Indices of the steps from the root (excluded) down to `i` (included).
    pub fn path(&self, i: usize) -> Vec<usize> {
        let mut path = Vec::with_capacity(self.steps[i]);
        let mut at = i;
        while let Some(p) = self.parent[at] {
            path.push(at);
            at = p;
        }
        path.reverse();
        path
    }

    /// Mean Q of the steps from the root to `i` (0 for the root).
    pub fn mean_q(&self, i: usize) -> f64 {
        if self.steps[i] == 0 {
            0.0
        } else {
            self.q_sum[i] / self.steps[i] as f64
        }
    }

    /// Lowest Q of the steps from the root to `i` (0 for the root).
    pub fn min_q(&self, i: usize) -> f64 {
        if self.steps[i] == 0 {
            0.0
        } else {
            self.q_min[i]
        }
    }

    /// Whether `i` is a graded leaf with a correct answer.
    pub fn is_correct_leaf(&self, i: usize) -> bool {
        let node = self.node(i);
        node.terminal && node.correct == Some(true)
    }
}

/// Whether a step failed its check (code error, false arithmetic).
pub fn failed(node: &StoredNode) -> bool {
    node.step_check.as_deref() == Some("error")
}
