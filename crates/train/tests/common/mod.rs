//! Shared by the training tests: a tiny llama config and the default model's path.

#![allow(dead_code)]

use std::path::PathBuf;

use evolve_lm::{Architecture, Config};

/// A two-block llama small enough to train in milliseconds.
pub fn tiny(vocab: usize) -> Config {
    Config {
        architecture: Architecture::Llama,
        layers: 2,
        hidden: 32,
        intermediate: 64,
        heads: 4,
        kv_heads: 2,
        head_dim: 8,
        rms_eps: 1e-5,
        rope_base: 10_000.0,
        context_length: 64,
        vocab,
    }
}

/// The default model from scripts/fetch-model.sh.
pub fn default_model() -> PathBuf {
    let path = evolve_data::cache_dir().join(evolve_lm::DEFAULT_MODEL);
    assert!(
        path.is_file(),
        "default model missing at {}: run scripts/fetch-model.sh",
        path.display()
    );
    path
}
