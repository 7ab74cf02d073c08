//! End-to-end tests: each drives the built `evolve` binary in a temporary directory.

mod util;

mod eval;
mod export;
mod generate;
mod grade;
mod import;
mod readme;
mod round;
mod schema;
mod search;
mod split;
mod sql;
mod standard_sets;
mod train;
