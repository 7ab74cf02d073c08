//! The local policy engine as the search's step proposer.

use std::sync::Arc;
use std::time::Instant;

use evolve_lm::{Cursor, Engine, Expansion, Finish, Interject, KvNode, Message, SamplingParams};
use evolve_search::{BoxError, End, Policy, Proposal, Request};

use crate::config::FormatPrompts;

/// Counters of the work the engine did for a search.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PolicyStats {
    /// Expansions (one per tree position expanded).
    pub expansions: usize,
    /// Context tokens behind those expansions.
    pub context_tokens: usize,
    /// Of those, tokens whose keys/values came from a cache (the tree's own
    /// nodes, or the prompt preamble shared by all problems).
    pub cached_tokens: usize,
    /// Tokens generated.
    pub generated_tokens: usize,
    /// Seconds spent in the engine.
    pub seconds: f64,
}

impl PolicyStats {
    /// Share of context tokens served from cache.
    pub fn cache_hit_rate(&self) -> f64 {
        if self.context_tokens == 0 {
            0.0
        } else {
            self.cached_tokens as f64 / self.context_tokens as f64
        }
    }
}

/// Proposes steps with a local model: chat prompt from the pipeline's system
/// prompt and examples, one batched [`Engine::expand`] per search step.
pub struct EnginePolicy<'e> {
    engine: &'e Engine,
    prompts: FormatPrompts,
    params: SamplingParams,
    /// The prompt up to the question, computed once and shared by every tree.
    preamble: Option<(Vec<u32>, Arc<KvNode>)>,
    /// The end-of-turn token's text, cut from completions that end with it.
    eos: String,
    /// Counters so far.
    pub stats: PolicyStats,
}

impl<'e> EnginePolicy<'e> {
    /// A policy over `engine`; `params.stop` should hold the step delimiter.
    /// Prompts with `calculator` on get their arithmetic results written in.
    pub fn new(
        engine: &'e Engine,
        prompts: FormatPrompts,
        mut params: SamplingParams,
    ) -> EnginePolicy<'e> {
        if prompts.calculator {
            params.interject = Some(Interject(Arc::new(evolve_verify::calculate)));
        }
        EnginePolicy {
            engine,
            prompts,
            params,
            preamble: None,
            eos: engine
                .tokenizer()
                .decode(&[engine.tokenizer().eos()])
                .unwrap_or_default(),
            stats: PolicyStats::default(),
        }
    }

    /// The chat messages for `question`: system, examples, question.
    pub fn messages(&self, question: &str) -> Vec<Message> {
        let mut messages = vec![Message::new("system", &self.prompts.system)];
        for example in &self.prompts.examples {
            messages.push(Message::new("user", &example.question));
            messages.push(Message::new("assistant", &example.solution));
        }
        messages.push(Message::new("user", question));
        messages
    }

    /// The tokens every prompt shares: two prompts with different questions,
    /// up to where they differ.
    fn preamble(&mut self) -> Result<&(Vec<u32>, Arc<KvNode>), BoxError> {
        if self.preamble.is_none() {
            let a = self.engine.chat_prompt(&self.messages("A"))?;
            let b = self.engine.chat_prompt(&self.messages("B"))?;
            let shared = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
            let tokens = a[..shared].to_vec();
            let (_, nodes) = self.engine.feed(&[self.engine.start(tokens.clone())?])?;
            self.preamble = Some((tokens, nodes[0].clone()));
        }
        Ok(self.preamble.as_ref().expect("just set"))
    }
}

impl Policy for EnginePolicy<'_> {
    type State = Cursor;

    fn root(&mut self, question: &str) -> Result<Cursor, BoxError> {
        let tokens = self.engine.chat_prompt(&self.messages(question))?;
        let (preamble, node) = self.preamble()?;
        if tokens.len() > preamble.len() && tokens.starts_with(preamble) {
            return Ok(Cursor {
                node: node.clone(),
                pending: tokens[preamble.len()..].to_vec(),
            });
        }
        Ok(self.engine.start(tokens)?)
    }

    fn propose(
        &mut self,
        requests: &[Request<'_, Cursor>],
    ) -> Result<Vec<Vec<Proposal<Cursor>>>, BoxError> {
        let started = Instant::now();
        let expansions: Vec<Expansion> = requests
            .iter()
            .map(|r| {
                self.stats.expansions += 1;
                self.stats.cached_tokens += r.state.node.len();
                self.stats.context_tokens += r.state.node.len() + r.state.pending.len();
                Expansion {
                    cursor: r.state.clone(),
                    candidates: r.candidates,
                    seed: Some(r.seed),
                }
            })
            .collect();
        // One engine call per decoding mode; the answers go back in request order.
        let greedy_params = SamplingParams {
            temperature: 0.0,
            ..self.params.clone()
        };
        let mut completions = vec![Vec::new(); requests.len()];
        for greedy in [false, true] {
            let (indices, batch): (Vec<usize>, Vec<Expansion>) = expansions
                .iter()
                .enumerate()
                .filter(|(i, _)| requests[*i].greedy == greedy)
                .map(|(i, e)| (i, e.clone()))
                .unzip();
            if batch.is_empty() {
                continue;
            }
            let params = if greedy { &greedy_params } else { &self.params };
            for (i, done) in indices
                .into_iter()
                .zip(self.engine.expand(&batch, params, None)?)
            {
                completions[i] = done;
            }
        }
        let proposals = completions
            .into_iter()
            .map(|candidates| {
                candidates
                    .into_iter()
                    .map(|c| {
                        self.stats.generated_tokens += c.tokens.len();
                        let end = match c.finish {
                            Finish::EndOfTurn => End::EndOfTurn,
                            Finish::Stop(_) => End::Delimiter,
                            Finish::Length => End::Length,
                        };
                        let text = if end == End::EndOfTurn && !self.eos.is_empty() {
                            c.text.replace(&self.eos, "")
                        } else {
                            c.text
                        };
                        Proposal {
                            text,
                            tokens: c.tokens.len(),
                            logprob: c.logprobs.iter().map(|&l| f64::from(l)).sum(),
                            end,
                            state: c.cursor,
                        }
                    })
                    .collect()
            })
            .collect();
        self.stats.seconds += started.elapsed().as_secs_f64();
        Ok(proposals)
    }

    fn append(&mut self, state: &mut Cursor, text: &str) -> Result<(), BoxError> {
        state.pending.extend(self.engine.tokenizer().encode(text)?);
        Ok(())
    }
}
