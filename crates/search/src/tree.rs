//! A search tree of reasoning steps: an arena of nodes with visit counts and
//! values, UCT selection and back-propagation.

/// Index of a node in its [`Tree`]; the root is 0.
pub type NodeId = usize;

/// Result of a step check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepCheck {
    /// The step's code ran, or its arithmetic claims hold.
    Ok,
    /// The step's code failed, or it asserts a false equation.
    Error,
}

/// One step of a reasoning tree. The root holds the question and no step.
#[derive(Debug, Clone)]
pub struct Node {
    /// Parent node; `None` for the root.
    pub parent: Option<NodeId>,
    /// Children in the order they were proposed.
    pub children: Vec<NodeId>,
    /// Steps from the root (the root is 0).
    pub depth: usize,
    /// The step's text.
    pub text: String,
    /// The step's code, for code steps.
    pub code: Option<String>,
    /// Execution output, or why the step check failed.
    pub output: Option<String>,
    /// Step check result.
    pub check: Option<StepCheck>,
    /// Rollouts through this node.
    pub visits: u32,
    /// Sum of the rewards back-propagated through this node.
    pub value_sum: f64,
    /// Initial value from the step scorer, when one is configured.
    pub prior: Option<f64>,
    /// Sum of the step's token log-probabilities.
    pub logprob: f64,
    /// Whether the node ends a solution.
    pub terminal: bool,
    /// The final answer a terminal node gives.
    pub answer: Option<String>,
    /// Whether a terminal node's answer is correct.
    pub correct: Option<bool>,
    /// Tokens generated for the step.
    pub tokens: usize,
    /// Tokens generated from the root to this node, inclusive.
    pub path_tokens: usize,
    /// Failed step checks in a row ending at this node.
    pub errors_in_a_row: u32,
    /// Candidates merged into this one because they had the same text.
    pub duplicates: u32,
}

impl Node {
    /// The node's value: the mean reward through it. With a scorer, the prior
    /// counts as one visit, so a new child's value starts at its score.
    pub fn q(&self) -> f64 {
        match self.prior {
            Some(prior) => (prior + self.value_sum) / f64::from(self.visits + 1),
            None if self.visits == 0 => 0.0,
            None => self.value_sum / f64::from(self.visits),
        }
    }

    /// The reward of a terminal node: +1 when correct, -1 otherwise.
    pub fn reward(&self) -> f64 {
        if self.correct == Some(true) {
            1.0
        } else {
            -1.0
        }
    }

    fn new(parent: Option<NodeId>, depth: usize) -> Node {
        Node {
            parent,
            children: Vec::new(),
            depth,
            text: String::new(),
            code: None,
            output: None,
            check: None,
            visits: 0,
            value_sum: 0.0,
            prior: None,
            logprob: 0.0,
            terminal: false,
            answer: None,
            correct: None,
            tokens: 0,
            path_tokens: 0,
            errors_in_a_row: 0,
            duplicates: 0,
        }
    }
}

/// A tree of steps for one question, with the policy's state kept per node
/// until the node can no longer be expanded.
#[derive(Debug, Clone)]
pub struct Tree<S> {
    /// The question at the root.
    pub question: String,
    nodes: Vec<Node>,
    states: Vec<Option<S>>,
}

impl<S> Tree<S> {
    /// A tree holding only the root.
    pub fn new(question: &str, root_state: S) -> Tree<S> {
        Tree {
            question: question.to_owned(),
            nodes: vec![Node::new(None, 0)],
            states: vec![Some(root_state)],
        }
    }

    /// All nodes; a node's id is its index, and parents come before children.
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// One node.
    pub fn node(&self, id: NodeId) -> &Node {
        &self.nodes[id]
    }

    /// One node, to update.
    pub fn node_mut(&mut self, id: NodeId) -> &mut Node {
        &mut self.nodes[id]
    }

    /// The policy's state at a node, while it is kept.
    pub fn state(&self, id: NodeId) -> Option<&S> {
        self.states[id].as_ref()
    }

    /// The policy's state at a node, to extend.
    pub fn state_mut(&mut self, id: NodeId) -> Option<&mut S> {
        self.states[id].as_mut()
    }

    /// Adds a child under `parent` and returns its id.
    pub fn add_child(&mut self, parent: NodeId, state: Option<S>) -> NodeId {
        let id = self.nodes.len();
        let depth = self.nodes[parent].depth + 1;
        self.nodes.push(Node::new(Some(parent), depth));
        self.states.push(state);
        self.nodes[parent].children.push(id);
        id
    }

    /// Forgets a node's state (it is terminal, or its children hold theirs).
    pub fn drop_state(&mut self, id: NodeId) {
        self.states[id] = None;
    }

    /// Forgets every state, keeping the statistics.
    pub fn drop_states(&mut self) {
        self.states.iter_mut().for_each(|s| *s = None);
    }

    /// Node ids from the root to `id`, both included.
    pub fn path(&self, id: NodeId) -> Vec<NodeId> {
        let mut path = vec![id];
        let mut at = id;
        while let Some(parent) = self.nodes[at].parent {
            path.push(parent);
            at = parent;
        }
        path.reverse();
        path
    }

    /// The child of `id` to descend into.
    ///
    /// Unvisited children come first: the one with the highest prior (the step
    /// scorer's value), else the first proposed. Among visited children, the
    /// highest UCT `Q + c·sqrt(ln N_parent / N)`, the first proposed on ties.
    pub fn select_child(&self, id: NodeId, c: f64) -> Option<NodeId> {
        let children = &self.nodes[id].children;
        let unvisited = children
            .iter()
            .copied()
            .filter(|&k| self.nodes[k].visits == 0)
            .fold(None::<NodeId>, |best, k| match best {
                Some(b)
                    if self.nodes[k].prior.unwrap_or(0.0) <= self.nodes[b].prior.unwrap_or(0.0) =>
                {
                    Some(b)
                }
                _ => Some(k),
            });
        if unvisited.is_some() {
            return unvisited;
        }
        let ln_parent = f64::from(self.nodes[id].visits.max(1)).ln();
        children
            .iter()
            .copied()
            .fold(None, |best: Option<(NodeId, f64)>, k| {
                let node = &self.nodes[k];
                let uct = node.q() + c * (ln_parent / f64::from(node.visits)).sqrt();
                match best {
                    Some((_, b)) if uct <= b => best,
                    _ => Some((k, uct)),
                }
            })
            .map(|(k, _)| k)
    }

    /// Adds `reward` to every node from `leaf` up to the root, counting a visit on each.
    pub fn backpropagate(&mut self, leaf: NodeId, reward: f64) {
        let mut at = Some(leaf);
        while let Some(id) = at {
            let node = &mut self.nodes[id];
            node.visits += 1;
            node.value_sum += reward;
            at = node.parent;
        }
    }

    /// Whether some terminal node has a correct answer.
    pub fn solved(&self) -> bool {
        self.nodes
            .iter()
            .any(|n| n.terminal && n.correct == Some(true))
    }

    /// Tokens generated for the whole tree.
    pub fn tokens(&self) -> usize {
        self.nodes.iter().map(|n| n.tokens).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree() -> Tree<()> {
        let mut tree = Tree::new("q", ());
        for _ in 0..3 {
            tree.add_child(0, None);
        }
        tree
    }

    #[test]
    fn unvisited_children_go_first_in_order_or_by_prior() {
        let mut t = tree();
        assert_eq!(t.select_child(0, 2.0), Some(1));
        t.backpropagate(1, 1.0);
        assert_eq!(t.select_child(0, 2.0), Some(2));
        t.node_mut(3).prior = Some(0.5);
        t.node_mut(2).prior = Some(-0.5);
        assert_eq!(t.select_child(0, 2.0), Some(3));
    }

    #[test]
    fn uct_balances_value_and_exploration() {
        let mut t = tree();
        // child 1: 3 visits, Q = 1; child 2: 1 visit, Q = -1; child 3: 1 visit, Q = 1
        for _ in 0..3 {
            t.backpropagate(1, 1.0);
        }
        t.backpropagate(2, -1.0);
        t.backpropagate(3, 1.0);
        let n = f64::from(t.node(0).visits).ln();
        let uct = |q: f64, v: f64| q + 2.0 * (n / v).sqrt();
        assert!(uct(1.0, 1.0) > uct(1.0, 3.0));
        assert_eq!(t.select_child(0, 2.0), Some(3));
        // With no exploration the best mean wins, the first proposed on ties.
        assert_eq!(t.select_child(0, 0.0), Some(1));
    }

    #[test]
    fn backpropagation_updates_the_whole_path() {
        let mut t = tree();
        let grandchild = t.add_child(2, None);
        t.backpropagate(grandchild, 1.0);
        t.backpropagate(grandchild, -1.0);
        t.backpropagate(1, -1.0);
        assert_eq!(t.node(grandchild).visits, 2);
        assert_eq!(t.node(grandchild).q(), 0.0);
        assert_eq!(t.node(2).visits, 2);
        assert_eq!(t.node(0).visits, 3);
        assert!((t.node(0).q() - (-1.0 / 3.0)).abs() < 1e-12);
        assert_eq!(t.node(1).q(), -1.0);
        assert_eq!(t.path(grandchild), vec![0, 2, grandchild]);
    }

    #[test]
    fn a_prior_counts_as_one_visit() {
        let mut t = tree();
        t.node_mut(1).prior = Some(0.6);
        assert!((t.node(1).q() - 0.6).abs() < 1e-12);
        t.backpropagate(1, -1.0);
        assert!((t.node(1).q() - (-0.2)).abs() < 1e-12);
    }
}
