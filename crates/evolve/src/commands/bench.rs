//! `evolve bench lm`: the engine's speed on tree-search workloads, printed.

use std::process::ExitCode;

use anyhow::Context;
use evolve_lm::bench::{self, BenchShape};

use super::{model_path, weight_format};
use crate::cli::{BenchExportArgs, BenchLmArgs, BenchTrainArgs};
use crate::table;

pub fn lm(args: BenchLmArgs) -> anyhow::Result<ExitCode> {
    let path = model_path(&args.model)?;
    let shape = BenchShape::default();
    let report = bench::run(
        &path,
        weight_format(&args.model)?,
        shape,
        !args.no_reference,
    )
    .with_context(|| format!("benchmarking {}", path.display()))?;
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
        return Ok(ExitCode::SUCCESS);
    }
    let tps = |v: f64| format!("{v:.1} tokens/s");
    let mut rows = vec![
        vec!["model".into(), report.model.clone()],
        vec![
            "weights / threads".into(),
            format!("{} / {}", report.weights, report.threads),
        ],
        vec!["load".into(), format!("{:.2} s", report.load_seconds)],
        vec![
            format!("prefill ({}-token prompt)", shape.prefix_tokens),
            tps(report.prefill_tokens_per_second),
        ],
        vec![
            format!("decode (1 sequence, {} tokens)", shape.decode_tokens),
            tps(report.decode_tokens_per_second),
        ],
        vec![
            format!(
                "tree expansion ({} x {} from a cached {}-token prefix)",
                shape.candidates, shape.step_tokens, shape.prefix_tokens
            ),
            tps(report.tree_expansion_tokens_per_second),
        ],
        vec![
            format!(
                "cross-tree batch ({} sequences over {} prefixes)",
                shape.candidates * shape.prefixes,
                shape.prefixes
            ),
            tps(report.cross_tree_tokens_per_second),
        ],
    ];
    if let (Some(reference), Some(speedup)) = (
        report.reference_tree_expansion_tokens_per_second,
        report.tree_expansion_speedup,
    ) {
        rows.push(vec![
            "tree expansion on quantized_llama (shipped)".into(),
            tps(reference),
        ]);
        rows.push(vec![
            "speed-up over quantized_llama".into(),
            format!("{speedup:.2}x"),
        ]);
    }
    if let Some(mib) = report.peak_memory_mib {
        rows.push(vec!["peak memory (RSS)".into(), format!("{mib:.0} MiB")]);
    }
    print!(
        "{}",
        table::render(&["workload".into(), "result".into()], &rows, &[false, true])
    );
    println!();
    let profile_rows: Vec<Vec<String>> = report
        .tree_expansion_profile
        .iter()
        .zip(&report.cross_tree_profile)
        .map(|((name, tree), (_, cross))| {
            vec![
                name.clone(),
                format!("{tree:.3} s"),
                format!("{cross:.3} s"),
            ]
        })
        .collect();
    let header = [
        "where the time goes".into(),
        "tree expansion".into(),
        "cross-tree batch".into(),
    ];
    print!(
        "{}",
        table::render(&header, &profile_rows, &[false, true, true])
    );
    Ok(ExitCode::SUCCESS)
}

/// Targets the export benchmark is held to, per export of 1,000 trees / 200,000 nodes.
const EXPORT_SECONDS_TARGET: f64 = 5.0;
const EXPORT_MIB_TARGET: f64 = 500.0;

pub async fn export(args: BenchExportArgs) -> anyhow::Result<ExitCode> {
    let dir = tempfile::tempdir().context("creating a folder for the synthetic database")?;
    let shape = evolve_export::bench::BenchShape {
        trees: args.trees,
        nodes_per_tree: args.nodes_per_tree,
        seed: args.seed,
    };
    eprintln!(
        "building a synthetic database of {} trees x {} nodes in {} ...",
        shape.trees,
        shape.nodes_per_tree,
        dir.path().display()
    );
    let mut rows = Vec::new();
    let baseline = evolve_export::bench::run(dir.path(), shape, |t| {
        let s = &t.summary;
        let mib = t.peak_mib;
        rows.push(vec![
            format!("{} {}", s.format.kind(), s.format.name()),
            s.rows.to_string(),
            format!("{:.1}", t.bytes as f64 / (1 << 20) as f64),
            format!("{:.2}", t.seconds),
            mib.map(|m| format!("{m:.0}")).unwrap_or_else(|| "-".into()),
            format!("{:.2}", EXPORT_SECONDS_TARGET / t.seconds),
            if t.seconds < EXPORT_SECONDS_TARGET && mib.is_none_or(|m| m < EXPORT_MIB_TARGET) {
                "yes".into()
            } else {
                "NO".into()
            },
        ]);
    })
    .await?;
    println!(
        "synthetic database: {} trees, {} nodes, built in {:.1} s; reading every tree with its nodes alone: {:.2} s",
        shape.trees,
        shape.trees * shape.nodes_per_tree,
        baseline.build_seconds,
        baseline.read_seconds,
    );
    let header = [
        "export",
        "rows",
        "MiB written",
        "seconds",
        "peak RSS MiB",
        "target/time",
        "within target",
    ]
    .map(String::from);
    print!(
        "{}",
        table::render(
            &header,
            &rows,
            &[false, true, true, true, true, true, false]
        )
    );
    println!(
        "target: every export under {EXPORT_SECONDS_TARGET} s and {EXPORT_MIB_TARGET} MiB peak RSS"
    );
    Ok(ExitCode::SUCCESS)
}

pub fn train(args: BenchTrainArgs) -> anyhow::Result<ExitCode> {
    use evolve_train::Method;
    use evolve_train::bench::{TrainBenchShape, run_sft};
    let path = model_path(&args.model)?;
    let shape = TrainBenchShape {
        sequences: args.sequences,
        tokens: args.tokens,
        steps: args.steps,
    };
    let mut methods: Vec<Method> = Vec::new();
    if !args.no_full {
        methods.push(Method::Full);
    }
    for &layers in &args.lora_layers {
        methods.extend(args.lora_rank.iter().map(|&rank| Method::Lora {
            rank,
            alpha: 2.0 * rank as f64,
            layers,
        }));
    }
    println!(
        "policy SFT steps on {}: {} sequences x {} tokens per step, {} steps after a warm-up",
        path.display(),
        shape.sequences,
        shape.tokens,
        shape.steps
    );
    let mut rows = Vec::new();
    for method in methods {
        let r = run_sft(&path, method, shape)
            .with_context(|| format!("benchmarking {}", evolve_train::bench::describe(method)))?;
        rows.push(vec![
            r.method.clone(),
            format!("{:.1} M", r.parameters as f64 / 1e6),
            format!("{:.1}", r.tokens_per_second),
            format!("{:.2}", r.forward_seconds),
            format!("{:.2}", r.backward_seconds),
            format!("{:.2}", r.optimizer_seconds),
            r.peak_mib
                .map(|m| format!("{m:.0}"))
                .unwrap_or_else(|| "-".into()),
        ]);
    }
    let header = [
        "method",
        "trained",
        "tokens/s",
        "forward s",
        "backward s",
        "optimizer s",
        "peak RSS MiB",
    ]
    .map(String::from);
    print!(
        "{}",
        table::render(&header, &rows, &[false, true, true, true, true, true, true])
    );
    Ok(ExitCode::SUCCESS)
}
