//! A radix tree over cached token prefixes, so that work with no handle on a
//! [`KvNode`] (a new rollout of the same question, another problem with the same
//! system prompt) still finds the longest cached prefix, within a memory budget.

use std::collections::HashMap;
use std::sync::Arc;

use crate::engine::Cursor;
use crate::kv::KvNode;

/// Cached prefixes keyed by their token ids, evicted least-recently-used past a byte budget.
///
/// The cache holds one reference to each registered node; memory is freed when
/// neither the cache nor any search tree holds the node any more.
#[derive(Debug)]
pub struct PrefixCache {
    root: Entry,
    budget_bytes: usize,
    bytes: usize,
    clock: u64,
}

#[derive(Debug, Default)]
struct Entry {
    node: Option<Arc<KvNode>>,
    children: HashMap<u32, Entry>,
    last_used: u64,
}

impl PrefixCache {
    /// An empty cache that keeps at most `budget_bytes` of keys and values.
    pub fn new(budget_bytes: usize) -> PrefixCache {
        PrefixCache {
            root: Entry::default(),
            budget_bytes,
            bytes: 0,
            clock: 0,
        }
    }

    /// Bytes of keys and values the cache holds references to.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Registers `node` and its ancestors, then evicts old entries past the budget.
    pub fn insert(&mut self, node: &Arc<KvNode>) {
        let mut chain = Vec::new();
        let mut cur = Some(node);
        while let Some(n) = cur {
            if !n.tokens().is_empty() {
                chain.push(n.clone());
            }
            cur = n.parent();
        }
        self.clock += 1;
        let clock = self.clock;
        let mut entry = &mut self.root;
        for n in chain.into_iter().rev() {
            let first = n.tokens()[0];
            let child = entry.children.entry(first).or_default();
            match &child.node {
                // Another node already starts with this token: keep the cached one
                // when it is the same run of tokens, stop at a divergence.
                Some(existing) if existing.tokens() != n.tokens() => return,
                Some(_) => {}
                None => {
                    self.bytes += n.bytes();
                    child.node = Some(n);
                }
            }
            child.last_used = clock;
            entry = child;
        }
        self.evict();
    }

    /// A cursor for `tokens` from the longest cached prefix that leaves at least
    /// one token to feed, and how many tokens that prefix covers.
    pub fn lookup(&mut self, tokens: &[u32]) -> (Option<Arc<KvNode>>, usize) {
        self.clock += 1;
        let clock = self.clock;
        let mut entry = &mut self.root;
        let mut best: (Option<Arc<KvNode>>, usize) = (None, 0);
        let mut at = 0;
        while at < tokens.len() {
            let Some(child) = entry.children.get_mut(&tokens[at]) else {
                break;
            };
            let Some(node) = child.node.clone() else {
                break;
            };
            let run = node.tokens();
            // The last token must stay pending: its logits are what the caller wants.
            if at + run.len() >= tokens.len() || tokens[at..at + run.len()] != *run {
                break;
            }
            at += run.len();
            child.last_used = clock;
            best = (Some(node), at);
            entry = child;
        }
        best
    }

    /// [`PrefixCache::lookup`] as a cursor on top of `empty` (a cache-less start).
    pub fn cursor(&mut self, tokens: &[u32], empty: Cursor) -> Cursor {
        match self.lookup(tokens) {
            (Some(node), covered) => Cursor {
                node,
                pending: tokens[covered..].to_vec(),
            },
            (None, _) => empty,
        }
    }

    /// Drops least-recently-used leaves until the cache fits its budget.
    fn evict(&mut self) {
        while self.bytes > self.budget_bytes {
            let Some(path) = oldest_leaf(&self.root, Vec::new()).map(|(_, p)| p) else {
                break;
            };
            let mut entry = &mut self.root;
            for token in &path[..path.len() - 1] {
                entry = entry.children.get_mut(token).expect("path from the tree");
            }
            if let Some(leaf) = entry.children.remove(&path[path.len() - 1]) {
                self.bytes -= leaf.node.map_or(0, |n| n.bytes());
            }
        }
    }
}

/// The least recently used leaf below `entry`, as (last use, path of first tokens).
fn oldest_leaf(entry: &Entry, path: Vec<u32>) -> Option<(u64, Vec<u32>)> {
    entry
        .children
        .iter()
        .filter_map(|(token, child)| {
            let mut p = path.clone();
            p.push(*token);
            if child.children.is_empty() {
                Some((child.last_used, p))
            } else {
                oldest_leaf(child, p)
            }
        })
        .min_by_key(|(used, _)| *used)
}
