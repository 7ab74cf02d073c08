//! One self-evolution round end to end. So far: pipeline configurations
//! ([`PipelineConfig`], `pipelines/*.toml`) and the search phase
//! ([`run_search`]): MCTS with the local policy ([`EnginePolicy`]) and the step
//! checks of each format ([`StepChecker`]), every finished tree stored in the
//! database as it finishes.
#![deny(missing_docs)]

pub use crate::config::{
    BUILTIN, Example, FormatPrompts, PipelineConfig, SandboxSettings, SearchSettings, StepFormat,
};
pub use crate::eval_phase::{
    CalibrationJob, EvalJob, EvalProgress, EvalSummary, QuestionReport, TestTime,
    calibration_strategies, run_calibration, run_eval,
};
pub use crate::policy::{EnginePolicy, PolicyStats};
pub use crate::ppm_scorer::PpmScorer;
pub use crate::search_phase::{
    SearchJob, SearchProgress, SearchSummary, TreeReport, run_search, sha256_file,
};
pub use crate::steps::{StepChecker, code_block, delimiter, program};
pub use crate::train_phase::{
    PolicyTraining, PpmTraining, TrainedModel, default_lr, train_policy, train_ppm,
};

mod config;
mod eval_phase;
mod policy;
mod ppm_scorer;
mod search_phase;
mod steps;
mod train_phase;
