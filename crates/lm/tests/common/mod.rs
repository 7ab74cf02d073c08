//! Helpers shared by the engine's test binaries.
#![allow(dead_code)]

use std::path::PathBuf;

/// The default model as scripts/fetch-model.sh leaves it in the evolve cache.
pub fn default_model() -> PathBuf {
    let path = evolve_data::cache_dir().join(evolve_lm::DEFAULT_MODEL);
    assert!(
        path.is_file(),
        "default model missing at {}: run scripts/fetch-model.sh",
        path.display()
    );
    path
}

/// Largest elementwise difference.
pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).fold(0f32, |m, (x, y)| m.max((x - y).abs()))
}
