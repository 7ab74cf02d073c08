//! What `evolve report` shows: the accuracy table by round x dataset x
//! strategy (terminal and markdown), and plots via plotters, as PNG and SVG:
//! accuracy by round per strategy, and accuracy against compute (generated
//! tokens per question) per strategy family for one round, Snell et al.'s
//! curves.
#![deny(missing_docs)]

pub use crate::plots::{plot_accuracy_by_round, plot_accuracy_vs_compute};
pub use crate::table::{HEADER, ReportRow, cells, rows};

mod plots;
mod table;
