//! The `evolve` command line: parses arguments and hands each command to its module.

use std::process::ExitCode;

use clap::Parser;

mod cli;
mod commands;
mod table;

fn main() -> ExitCode {
    keep_freed_memory();
    let cli = cli::Cli::parse();
    // rayon reads this once, when its pool starts, and candle on every matmul:
    // set it first, always, since without it candle counts the physical cores
    // by reading /proc/cpuinfo for each matmul (thousands of reads a second).
    let threads = cli
        .threads
        .or_else(|| commands::pipeline_threads(&cli.command))
        .unwrap_or_else(candle_core::utils::get_num_threads);
    // SAFETY: no other thread exists yet.
    unsafe { std::env::set_var("RAYON_NUM_THREADS", threads.max(1).to_string()) };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(code) => code,
        Err(err) => {
            // One chained message, as `error: what: why: root cause`.
            eprintln!("error: {err:#}");
            ExitCode::from(2)
        }
    }
}

/// Training and the engine allocate and free tensors of many megabytes at every
/// step. By default glibc returns each to the kernel and faults fresh zeroed
/// pages in for the next (a fifth of a training step); keep them in the heap.
fn keep_freed_memory() {
    // SAFETY: mallopt only changes allocator settings; called before any thread starts.
    unsafe {
        libc::mallopt(libc::M_MMAP_MAX, 0);
        libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
    }
}
