//! A trained PPM as the search's step scorer: new children start from its
//! score (rStar-Math's PPM-augmented MCTS). The backbone runs on the inference
//! engine (quantised weights, batched), and the keys/values of every scored
//! path are cached, so scoring a step computes only its own tokens.

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result};
use evolve_lm::{Engine, Message, PrefixCache, WeightFormat};
use evolve_search::{BoxError, ScoreInput, StepScorer};
use evolve_train::ValueHead;

/// Keys and values of scored paths kept for their children.
const CACHE_BYTES: usize = 512 << 20;

/// Scores steps with a PPM file and its value head.
pub struct PpmScorer {
    engine: Engine,
    head: ValueHead,
    system: String,
    cache: PrefixCache,
    /// Steps scored.
    pub scored: usize,
    /// Tokens the backbone computed (the rest came from the cache).
    pub computed_tokens: usize,
    /// Seconds spent scoring.
    pub seconds: f64,
}

impl PpmScorer {
    /// Loads the PPM at `path` (its head beside it); prompts open with `system`,
    /// as the exported pairs it was trained on did.
    pub fn load(path: &Path, weights: WeightFormat, system: &str) -> Result<PpmScorer> {
        let engine = Engine::load(path, weights, &candle_core::Device::Cpu)
            .with_context(|| format!("loading the PPM {}", path.display()))?;
        let head = ValueHead::read(path, engine.config().hidden)?;
        Ok(PpmScorer {
            engine,
            head,
            system: system.to_owned(),
            cache: PrefixCache::new(CACHE_BYTES),
            scored: 0,
            computed_tokens: 0,
            seconds: 0.0,
        })
    }
}

impl StepScorer for PpmScorer {
    fn score(&mut self, inputs: &[ScoreInput<'_>]) -> Result<Vec<f64>, BoxError> {
        let started = Instant::now();
        let mut cursors = Vec::with_capacity(inputs.len());
        for input in inputs {
            let messages = [
                Message::new("system", &self.system),
                Message::new("user", input.question),
            ];
            let mut text = self.engine.template().render(&messages, true)?;
            text.extend(input.steps.iter().copied());
            let tokens = self.engine.tokenizer().encode(&text)?;
            let empty = self.engine.start(tokens.clone())?;
            let cursor = self.cache.cursor(&tokens, empty);
            self.computed_tokens += cursor.pending.len();
            cursors.push(cursor);
        }
        let (hidden, nodes) = self.engine.hidden_last(&cursors)?;
        for node in &nodes {
            self.cache.insert(node);
        }
        self.scored += inputs.len();
        self.seconds += started.elapsed().as_secs_f64();
        Ok(hidden.iter().map(|h| self.head.score(h)).collect())
    }
}
