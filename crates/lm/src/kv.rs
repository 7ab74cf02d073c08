//! Key/value caches kept outside the model, so that search trees can share them.
//!
//! A [`KvNode`] holds the keys and values of one run of tokens and points at the
//! node before it: a reasoning tree's prefixes become a tree of nodes, each step
//! stored once however many children extend it. While a batch is decoded, the
//! chain of a shared prefix is joined once into a [`PrefixKv`] that every
//! sibling reads, and each sequence's new tokens go to its own [`SeqKv`].

use std::sync::Arc;

use candle_core::Tensor;

use crate::error::{CandleContext, Result};

/// Cached keys and values of a run of tokens, after the tokens of `parent`.
#[derive(Debug)]
pub struct KvNode {
    parent: Option<Arc<KvNode>>,
    /// Per layer, `[kv_heads, len, head_dim]`.
    k: Vec<Tensor>,
    v: Vec<Tensor>,
    tokens: Vec<u32>,
    /// Tokens from the root to the end of this node.
    end: usize,
}

impl KvNode {
    pub(crate) fn new(
        parent: Option<Arc<KvNode>>,
        k: Vec<Tensor>,
        v: Vec<Tensor>,
        tokens: Vec<u32>,
    ) -> KvNode {
        let end = parent.as_ref().map_or(0, |p| p.end) + tokens.len();
        KvNode {
            parent,
            k,
            v,
            tokens,
            end,
        }
    }

    /// Tokens cached from the root through this node.
    pub fn len(&self) -> usize {
        self.end
    }

    /// Whether the node holds no tokens at all (an empty root).
    pub fn is_empty(&self) -> bool {
        self.end == 0
    }

    /// The node this one extends, if any.
    pub fn parent(&self) -> Option<&Arc<KvNode>> {
        self.parent.as_ref()
    }

    /// This node's own tokens (not its ancestors').
    pub fn tokens(&self) -> &[u32] {
        &self.tokens
    }

    /// All tokens from the root through this node.
    pub fn all_tokens(&self) -> Vec<u32> {
        let mut chain = Vec::new();
        let mut node = Some(self);
        while let Some(n) = node {
            chain.push(n);
            node = n.parent.as_deref();
        }
        chain
            .iter()
            .rev()
            .flat_map(|n| n.tokens.iter().copied())
            .collect()
    }

    /// Bytes of key/value data held by this node alone.
    pub fn bytes(&self) -> usize {
        self.k
            .iter()
            .chain(&self.v)
            .map(|t| t.elem_count() * t.dtype().size_in_bytes())
            .sum()
    }

    /// Joins the chain ending at `node` into one tensor per layer.
    pub(crate) fn materialize(node: &Arc<KvNode>) -> Result<Arc<PrefixKv>> {
        let mut chain = Vec::new();
        let mut cur = Some(node);
        while let Some(n) = cur {
            if !n.tokens.is_empty() {
                chain.push(n);
            }
            cur = n.parent.as_ref();
        }
        chain.reverse();
        let layers = node.k.len();
        let mut k = Vec::with_capacity(layers);
        let mut v = Vec::with_capacity(layers);
        for layer in 0..layers {
            if chain.len() == 1 {
                k.push(chain[0].k[layer].clone());
                v.push(chain[0].v[layer].clone());
            } else {
                let ks: Vec<&Tensor> = chain.iter().map(|n| &n.k[layer]).collect();
                let vs: Vec<&Tensor> = chain.iter().map(|n| &n.v[layer]).collect();
                k.push(Tensor::cat(&ks, 1).context("joining cached keys")?);
                v.push(Tensor::cat(&vs, 1).context("joining cached values")?);
            }
        }
        Ok(Arc::new(PrefixKv {
            k,
            v,
            len: node.end,
        }))
    }
}

/// A prefix's keys and values joined per layer, read by every sequence that extends it.
#[derive(Debug)]
pub(crate) struct PrefixKv {
    pub k: Vec<Tensor>,
    pub v: Vec<Tensor>,
    pub len: usize,
}

/// One sequence being computed: a shared prefix plus its own new keys and values.
#[derive(Debug, Clone, Default)]
pub(crate) struct SeqKv {
    pub prefix: Option<Arc<PrefixKv>>,
    /// Per layer, the keys/values of this sequence's tokens after the prefix.
    pub k: Vec<Option<Tensor>>,
    pub v: Vec<Option<Tensor>>,
    /// Tokens after the prefix whose keys/values are in `k`/`v`.
    pub own: Vec<u32>,
}

impl SeqKv {
    pub fn new(prefix: Option<Arc<PrefixKv>>, layers: usize) -> SeqKv {
        SeqKv {
            prefix,
            k: vec![None; layers],
            v: vec![None; layers],
            own: Vec::new(),
        }
    }

    /// Whether `other` can decode in one attention batch with this sequence: the
    /// same prefix and as many tokens of its own.
    pub fn decodes_with(&self, other: &SeqKv) -> bool {
        let same_prefix = match (&self.prefix, &other.prefix) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            (None, None) => true,
            _ => false,
        };
        same_prefix && self.own.len() == other.own.len()
    }

    /// Position of the next token.
    pub fn position(&self) -> usize {
        self.prefix.as_ref().map_or(0, |p| p.len) + self.own.len()
    }

    /// Keeps this sequence's first `len` own tokens as a new node under `parent`.
    pub fn to_node(&self, parent: Option<Arc<KvNode>>, len: usize) -> Result<Arc<KvNode>> {
        let take = |ts: &[Option<Tensor>]| -> Result<Vec<Tensor>> {
            ts.iter()
                .map(|t| {
                    let t = t
                        .as_ref()
                        .expect("every layer has keys once a token was fed");
                    t.narrow(1, 0, len)
                        .and_then(|t| t.contiguous())
                        .context("keeping a sequence's cache")
                })
                .collect()
        };
        if len == 0 {
            return Ok(match parent {
                Some(p) => p,
                None => Arc::new(KvNode::new(None, Vec::new(), Vec::new(), Vec::new())),
            });
        }
        Ok(Arc::new(KvNode::new(
            parent,
            take(&self.k)?,
            take(&self.v)?,
            self.own[..len].to_vec(),
        )))
    }
}
