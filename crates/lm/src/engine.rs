//! The policy engine: a loaded model with its tokenizer and chat template, and
//! [`Engine::expand`], which grows k candidate continuations from each of several
//! positions in search trees at once.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use candle_core::Device;
use candle_core::quantized::gguf_file;

use crate::chat::{ChatTemplate, Message};
use crate::config::Config;
use crate::error::{CandleContext, Error, Result};
use crate::kv::{KvNode, SeqKv};
use crate::linear::WeightFormat;
use crate::model::{Model, TensorReader};
use crate::profile::{self, Phase};
use crate::sampling::{Rng, SamplingParams, log_probability, sample};
use crate::tokenizer::Tokenizer;

/// A position to generate from: cached keys/values up to `node`, and tokens not yet fed.
#[derive(Debug, Clone)]
pub struct Cursor {
    /// Cached prefix (may be empty).
    pub node: Arc<KvNode>,
    /// Tokens after `node` whose keys/values are not computed yet (at least one).
    pub pending: Vec<u32>,
}

/// Why a completion ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finish {
    /// The model ended its turn (an end-of-sequence token).
    EndOfTurn,
    /// A stop string was produced.
    Stop(String),
    /// `max_tokens` were generated.
    Length,
}

/// One generated continuation.
#[derive(Debug, Clone)]
pub struct Completion {
    /// Generated token ids.
    pub tokens: Vec<u32>,
    /// Their text, up to and including a stop string.
    pub text: String,
    /// Log-probability of each generated token.
    pub logprobs: Vec<f32>,
    /// Why generation ended.
    pub finish: Finish,
    /// Where to continue from: the cache now covers all but the last token.
    pub cursor: Cursor,
}

/// Logits of each fed cursor's last token, and each cursor's cache extended by what was fed.
pub type Fed = (Vec<Vec<f32>>, Vec<Arc<KvNode>>);

/// Receives `(expansion, candidate, new text)` as completions are decoded.
pub type TextSink<'a> = &'a mut dyn FnMut(usize, usize, &str);

/// What to expand: a cursor and how many candidates to draw from it.
#[derive(Debug, Clone)]
pub struct Expansion {
    /// Where to generate from.
    pub cursor: Cursor,
    /// Number of candidates (siblings).
    pub candidates: usize,
    /// This expansion's own seed; `None` draws from the call's seed by the
    /// expansion's place in the batch.
    pub seed: Option<u64>,
}

/// A loaded model ready to generate.
#[derive(Debug)]
pub struct Engine {
    model: Model,
    tokenizer: Tokenizer,
    template: ChatTemplate,
    path: PathBuf,
}

/// The chat template of a GGUF model, read from its metadata alone (the
/// weights are not loaded): what an export needs to write the prompts a search used.
pub fn read_chat_template(path: &Path) -> Result<ChatTemplate> {
    let fail = |message: String| Error::Model {
        path: path.to_owned(),
        message,
    };
    let file = File::open(path).map_err(|e| fail(format!("cannot open: {e}")))?;
    let content = gguf_file::Content::read(&mut BufReader::new(file))
        .map_err(|e| fail(format!("not a readable GGUF file: {e}")))?;
    let tokenizer = Tokenizer::from_gguf(&content.metadata)?;
    Ok(template_of(&content.metadata, &tokenizer))
}

/// The file's template, with its own begin and end tokens.
fn template_of(
    metadata: &std::collections::HashMap<String, gguf_file::Value>,
    tokenizer: &Tokenizer,
) -> ChatTemplate {
    let token_text = |id: Option<u32>| {
        id.and_then(|i| tokenizer.decode(&[i]).ok())
            .unwrap_or_default()
    };
    ChatTemplate::from_gguf(
        metadata,
        token_text(tokenizer.bos()),
        token_text(Some(tokenizer.eos())),
    )
}

impl Engine {
    /// Loads a GGUF model (llama or qwen2) holding weights as `format`.
    ///
    /// A missing, truncated, corrupt or unsupported file is an error that names it.
    pub fn load(path: &Path, format: WeightFormat, device: &Device) -> Result<Engine> {
        let fail = |message: String| Error::Model {
            path: path.to_owned(),
            message,
        };
        let file = File::open(path).map_err(|e| fail(format!("cannot open: {e}")))?;
        let mut reader = BufReader::new(file);
        let content = gguf_file::Content::read(&mut reader)
            .map_err(|e| fail(format!("not a readable GGUF file: {e}")))?;
        let file_len = std::fs::metadata(path)
            .map_err(|e| fail(e.to_string()))?
            .len();
        for (name, info) in &content.tensor_infos {
            let bytes = info.shape.elem_count() / info.ggml_dtype.block_size()
                * info.ggml_dtype.type_size();
            if content.tensor_data_offset + info.offset + bytes as u64 > file_len {
                return Err(fail(format!(
                    "truncated: tensor {name} runs past the end of the file ({file_len} bytes)"
                )));
            }
        }
        let config = Config::from_metadata(&content.metadata).map_err(fail)?;
        let tokenizer = Tokenizer::from_gguf(&content.metadata)?;
        let template = template_of(&content.metadata, &tokenizer);
        let mut tensors = TensorReader {
            content: &content,
            reader: &mut reader,
            path,
            device,
            format,
        };
        let model = Model::load(config, &mut tensors)?;
        Ok(Engine {
            model,
            tokenizer,
            template,
            path: path.to_owned(),
        })
    }

    /// The model file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The model's config.
    pub fn config(&self) -> &Config {
        self.model.config()
    }

    /// Which kernel multiplies the weights, as loaded on this CPU, in words.
    pub fn kernel(&self) -> String {
        self.model.kernel()
    }

    /// The tokenizer.
    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    /// The chat template.
    pub fn template(&self) -> &ChatTemplate {
        &self.template
    }

    /// Token ids of a chat prompt ending with the assistant's turn opener.
    pub fn chat_prompt(&self, messages: &[Message]) -> Result<Vec<u32>> {
        let text = self.template.render(messages, true)?;
        self.tokenizer.encode(&text)
    }

    /// A cursor at the start of `tokens`, nothing cached yet.
    pub fn start(&self, tokens: Vec<u32>) -> Result<Cursor> {
        if tokens.is_empty() {
            return Err(Error::Request(
                "cannot generate from an empty prompt".into(),
            ));
        }
        Ok(Cursor {
            node: Arc::new(KvNode::new(None, Vec::new(), Vec::new(), Vec::new())),
            pending: tokens,
        })
    }

    /// Logits of the last token of each sequence after feeding `tokens` on top of each
    /// cursor's cache, and the caches extended by those tokens (for tests and scoring).
    pub fn feed(&self, cursors: &[Cursor]) -> Result<Fed> {
        let layers = self.config().layers;
        // Cursors on the same node (rollouts of one question) share one joined prefix.
        let mut joined: Vec<(&Arc<KvNode>, Option<Arc<crate::kv::PrefixKv>>)> = Vec::new();
        let mut seqs = Vec::with_capacity(cursors.len());
        for c in cursors {
            let prefix = match joined.iter().find(|(node, _)| Arc::ptr_eq(node, &c.node)) {
                Some((_, prefix)) => prefix.clone(),
                None => {
                    let prefix = prefix_of(&c.node)?;
                    joined.push((&c.node, prefix.clone()));
                    prefix
                }
            };
            seqs.push(SeqKv::new(prefix, layers));
        }
        let tokens: Vec<&[u32]> = cursors.iter().map(|c| c.pending.as_slice()).collect();
        if tokens.iter().any(|t| t.is_empty()) {
            return Err(Error::Request(
                "a cursor has no pending token to feed".into(),
            ));
        }
        let logits = self.model.forward(&tokens, &mut seqs, false)?;
        let logits: Vec<Vec<f32>> = logits.to_vec2().context("reading logits")?;
        let nodes = seqs
            .iter()
            .zip(cursors)
            .map(|(seq, c)| seq.to_node(Some(c.node.clone()), c.pending.len()))
            .collect::<Result<_>>()?;
        Ok((logits, nodes))
    }

    /// Final hidden states of the last token of each sequence after feeding
    /// each cursor's pending tokens on its cache, `[cursors][hidden]`, and the
    /// caches extended by them: what a value head on this model reads.
    pub fn hidden_last(&self, cursors: &[Cursor]) -> Result<Fed> {
        let layers = self.config().layers;
        let mut seqs = Vec::with_capacity(cursors.len());
        for c in cursors {
            if c.pending.is_empty() {
                return Err(Error::Request(
                    "a cursor has no pending token to feed".into(),
                ));
            }
            seqs.push(SeqKv::new(prefix_of(&c.node)?, layers));
        }
        let tokens: Vec<&[u32]> = cursors.iter().map(|c| c.pending.as_slice()).collect();
        let hidden = self.model.forward_hidden(&tokens, &mut seqs)?;
        let hidden: Vec<Vec<f32>> = hidden.to_vec2().context("reading hidden states")?;
        let nodes = seqs
            .iter()
            .zip(cursors)
            .map(|(seq, c)| seq.to_node(Some(c.node.clone()), c.pending.len()))
            .collect::<Result<_>>()?;
        Ok((hidden, nodes))
    }

    /// Logits at every position of `tokens` from scratch, `[tokens, vocab]` (for tests).
    pub fn logits_all(&self, tokens: &[u32]) -> Result<Vec<Vec<f32>>> {
        let mut seqs = vec![SeqKv::new(None, self.config().layers)];
        self.model
            .forward(&[tokens], &mut seqs, true)?
            .to_vec2()
            .context("reading logits")
    }

    /// Draws `candidates` continuations from each expansion, all decoded together.
    ///
    /// Each expansion's pending tokens are fed once, then its candidates sample
    /// their first tokens from the same logits and decode in one batch, reading
    /// their shared prefix from one joined cache. Candidate `j` of expansion `i`
    /// draws from its own RNG stream (from the expansion's seed when it has one), so
    /// results do not depend on batch make-up.
    /// `on_text(i, j, delta)` receives new text as it is decoded.
    pub fn expand(
        &self,
        expansions: &[Expansion],
        params: &SamplingParams,
        mut on_text: Option<TextSink<'_>>,
    ) -> Result<Vec<Vec<Completion>>> {
        let cursors: Vec<Cursor> = expansions.iter().map(|e| e.cursor.clone()).collect();
        let (first_logits, parents) = self.feed(&cursors)?;
        let layers = self.config().layers;

        struct Live {
            expansion: usize,
            index: usize,
            seq: SeqKv,
            rng: Rng,
            tokens: Vec<u32>,
            logprobs: Vec<f32>,
            text: String,
            /// Tokens whose text is in `text`.
            decoded: usize,
            /// Tokens of interjected text still to feed, in order.
            forced: std::collections::VecDeque<u32>,
            finish: Option<Finish>,
        }
        let longest_stop = params.stop.iter().map(String::len).max().unwrap_or(0);
        let mut live = Vec::new();
        for (i, (expansion, parent)) in expansions.iter().zip(&parents).enumerate() {
            let prefix = prefix_of(parent)?;
            for j in 0..expansion.candidates {
                live.push(Live {
                    expansion: i,
                    index: j,
                    seq: SeqKv::new(prefix.clone(), layers),
                    rng: match expansion.seed {
                        Some(seed) => Rng::new(seed, j as u64),
                        None => Rng::new(params.seed, ((i as u64) << 32) | j as u64),
                    },
                    tokens: Vec::new(),
                    logprobs: Vec::new(),
                    text: String::new(),
                    decoded: 0,
                    forced: Default::default(),
                    finish: None,
                });
            }
        }

        let mut logits: Vec<Vec<f32>> = live
            .iter()
            .map(|l| first_logits[l.expansion].clone())
            .collect();
        loop {
            let mut active = Vec::new();
            let started = Instant::now();
            for (slot, l) in live.iter_mut().enumerate() {
                if l.finish.is_some() {
                    continue;
                }
                let (token, logprob) = match l.forced.pop_front() {
                    Some(token) => (token, log_probability(&logits[slot], token)),
                    None => sample(&logits[slot], params, &mut l.rng),
                };
                l.tokens.push(token);
                l.logprobs.push(logprob);
                // Decode only the tokens not yet in `text`, once they form whole
                // characters (a token may end inside a multi-byte one); byte-level
                // BPE tokens carry their own spaces, so pieces join exactly.
                let piece = self.tokenizer.decode(&l.tokens[l.decoded..])?;
                let whole = !piece.ends_with('\u{fffd}') || l.tokens.len() - l.decoded >= 8;
                let mut stopped = None;
                if whole {
                    let start = l.text.len();
                    l.text.push_str(&piece);
                    l.decoded = l.tokens.len();
                    if let Some(cb) = on_text.as_deref_mut() {
                        cb(l.expansion, l.index, &piece);
                    }
                    // A stop string can only end in the new piece.
                    let mut from = start.saturating_sub(longest_stop);
                    while !l.text.is_char_boundary(from) {
                        from -= 1;
                    }
                    stopped = find_stop(&l.text[from..], &params.stop)
                        .map(|(stop, end)| (stop, from + end));
                    if stopped.is_none()
                        && l.forced.is_empty()
                        && let Some(text) = params.interject.as_ref().and_then(|i| i.after(&l.text))
                    {
                        l.forced.extend(self.tokenizer.encode(&text)?);
                    }
                }
                if self.tokenizer.is_stop(token) && !params.ignore_eos {
                    l.finish = Some(Finish::EndOfTurn);
                } else if let Some((stop, end)) = stopped {
                    l.text.truncate(end);
                    l.finish = Some(Finish::Stop(stop));
                } else if l.tokens.len() >= params.max_tokens {
                    l.finish = Some(Finish::Length);
                } else {
                    active.push(slot);
                }
            }
            profile::record(Phase::Sampling, started);
            if active.is_empty() {
                break;
            }
            let tokens: Vec<[u32; 1]> = active
                .iter()
                .map(|&s| [*live[s].tokens.last().expect("sampled")])
                .collect();
            let token_refs: Vec<&[u32]> = tokens.iter().map(|t| t.as_slice()).collect();
            // Moved out for the forward and back after it: no per-token copies.
            let mut seqs: Vec<SeqKv> = active
                .iter()
                .map(|&s| std::mem::take(&mut live[s].seq))
                .collect();
            let out = self.model.forward(&token_refs, &mut seqs, false)?;
            let rows: Vec<Vec<f32>> = out.to_vec2().context("reading logits")?;
            for ((slot, seq), row) in active.iter().zip(seqs).zip(rows) {
                live[*slot].seq = seq;
                logits[*slot] = row;
            }
        }

        let mut results: Vec<Vec<Completion>> = expansions.iter().map(|_| Vec::new()).collect();
        for mut l in live {
            if l.decoded < l.tokens.len() && !matches!(l.finish, Some(Finish::Stop(_))) {
                l.text
                    .push_str(&self.tokenizer.decode(&l.tokens[l.decoded..])?);
            }
            let fed = l.seq.own.len();
            let node = l.seq.to_node(Some(parents[l.expansion].clone()), fed)?;
            let pending = l.tokens[fed..].to_vec();
            results[l.expansion].push(Completion {
                cursor: Cursor { node, pending },
                tokens: l.tokens,
                text: l.text,
                logprobs: l.logprobs,
                finish: l.finish.expect("every candidate finished"),
            });
        }
        Ok(results)
    }
}

/// The joined cache of `node`, or none for an empty root.
fn prefix_of(node: &Arc<KvNode>) -> Result<Option<Arc<crate::kv::PrefixKv>>> {
    if node.is_empty() {
        Ok(None)
    } else {
        KvNode::materialize(node).map(Some)
    }
}

/// The first stop string in `text`, with the byte offset just after it.
fn find_stop(text: &str, stops: &[String]) -> Option<(String, usize)> {
    stops
        .iter()
        .filter(|s| !s.is_empty())
        .filter_map(|s| text.find(s.as_str()).map(|at| (s.clone(), at + s.len())))
        .min_by_key(|(_, end)| *end)
}
