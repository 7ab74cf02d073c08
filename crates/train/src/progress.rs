//! What a training run reports while it runs.

/// Receives a training run's progress; every method has a do-nothing default.
pub trait TrainProgress {
    /// Training begins: `steps` optimiser steps in all.
    fn start(&mut self, _steps: usize) {}
    /// An optimiser step finished with `loss`, at `tokens_per_second` so far.
    fn step(&mut self, _step: usize, _loss: f64, _tokens_per_second: f64, _lr: f64) {}
    /// The held-out metric after `epoch` epochs (0: before training).
    fn evaluated(&mut self, _epoch: usize, _metric: f64) {}
}

/// Reports nothing.
pub struct Silent;

impl TrainProgress for Silent {}
