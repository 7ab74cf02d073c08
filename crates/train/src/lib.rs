//! Training on CPU: the next policy by supervised fine-tuning (full or LoRA)
//! and the process preference model, with candle's autograd.
//!
//! [`TrainModel`] loads a GGUF policy dequantised to f32 and runs a forward of
//! differentiable ops ([`ops`]); [`Method`] chooses what trains; the result is
//! written back as GGUF with the source's tokenizer and chat template, so the
//! engine and llama.cpp load it.
#![deny(missing_docs)]

pub use crate::average::{average_gguf, check_average, soup_gguf};
pub use crate::layers::{Linear, Lora, Weight};
pub use crate::model::{Method, SaveFormat, TrainModel};
pub use crate::optim::{AdamW, AdamWSettings, Schedule};
pub use crate::ppm::{PairExample, Ppm, PpmSettings, ValueHead, read_pairs, train_ppm};
pub use crate::progress::{Silent, TrainProgress};
pub use crate::sft::{SftExample, SftSettings, TrainReport, read_sft, train_sft};

mod average;
pub mod bench;
pub mod fused;
mod layers;
mod model;
pub mod ops;
mod optim;
pub mod ppm;
mod progress;
pub mod sft;
