//! Where generation time goes: cheap process-wide timers around the forward's
//! phases, read by `evolve bench lm`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// A phase of generation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Embedding lookup, norms, q/k/v projections and rotary embedding.
    Projections,
    /// Attention over cached prefixes and own tokens, cache appends.
    Attention,
    /// Output projection and the MLP.
    Mlp,
    /// Final norm and the vocabulary projection.
    LmHead,
    /// Drawing tokens, decoding text, checking stops.
    Sampling,
}

/// Every phase, in report order.
pub const PHASES: [Phase; 5] = [
    Phase::Projections,
    Phase::Attention,
    Phase::Mlp,
    Phase::LmHead,
    Phase::Sampling,
];

static NANOS: [AtomicU64; 5] = [const { AtomicU64::new(0) }; 5];

impl Phase {
    /// A short name for reports.
    pub fn name(self) -> &'static str {
        match self {
            Phase::Projections => "norms, q/k/v, rope",
            Phase::Attention => "attention",
            Phase::Mlp => "o-proj + MLP",
            Phase::LmHead => "lm head",
            Phase::Sampling => "sampling + detokenise",
        }
    }
}

/// Adds the time since `since` to `phase`.
pub(crate) fn record(phase: Phase, since: Instant) {
    NANOS[phase as usize].fetch_add(since.elapsed().as_nanos() as u64, Ordering::Relaxed);
}

/// Seconds spent in each phase of [`PHASES`] since the last [`reset`].
pub fn seconds() -> [f64; 5] {
    std::array::from_fn(|i| NANOS[i].load(Ordering::Relaxed) as f64 / 1e9)
}

/// Zeroes the timers.
pub fn reset() {
    for n in &NANOS {
        n.store(0, Ordering::Relaxed);
    }
}
