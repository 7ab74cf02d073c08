//! `evolve report`: the accuracy table (terminal, and markdown in the output
//! folder) and the plots.

use std::path::Path;
use std::process::ExitCode;

use evolve_report::{
    HEADER, ReportRow, cells, plot_accuracy_by_round, plot_accuracy_vs_compute, rows,
};

use super::{Output, open};
use crate::cli::ReportArgs;

pub async fn run(db: &Path, args: ReportArgs, out: Output) -> anyhow::Result<ExitCode> {
    let store = open(db).await?;
    let runs = store.evaluation_summaries().await?;
    store.close().await;
    let rows = rows(&runs, args.dataset.as_deref());
    if rows.is_empty() {
        anyhow::bail!("no evaluations to report yet: run `evolve eval` first");
    }
    print!(
        "{}",
        crate::table::render(
            &HEADER.map(String::from),
            &rows.iter().map(|r| cells(r).to_vec()).collect::<Vec<_>>(),
            &[true, false, false, false, true, true, true, true],
        )
    );
    std::fs::create_dir_all(&args.out)
        .map_err(|e| anyhow::anyhow!("creating {}: {e}", args.out.display()))?;
    let mut markdown = String::from("# Accuracy by round, dataset and strategy\n\n");
    markdown.push_str(&ReportRow::markdown(&rows));
    let mut written = Vec::new();
    let mut datasets: Vec<&str> = rows.iter().map(|r| r.dataset.as_str()).collect();
    datasets.dedup();
    for dataset in datasets {
        let slug = dataset.replace('/', "-");
        let by_round = plot_accuracy_by_round(
            &rows,
            dataset,
            &args.out.join(format!("accuracy-by-round-{slug}")),
        )?;
        let round = args.round.unwrap_or_else(|| {
            rows.iter()
                .filter(|r| r.dataset == dataset)
                .map(|r| r.round)
                .max()
                .unwrap_or(0)
        });
        let mut files = by_round;
        match plot_accuracy_vs_compute(
            &rows,
            dataset,
            round,
            &args
                .out
                .join(format!("accuracy-vs-compute-{slug}-r{round}")),
        ) {
            Ok(f) => files.extend(f),
            Err(e) => out.status(format!("warning: {e:#}")),
        }
        markdown.push_str(&format!("\n## {dataset}\n\n"));
        for file in files
            .iter()
            .filter(|f| f.extension().is_some_and(|e| e == "svg"))
        {
            let name = file
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            markdown.push_str(&format!("![{name}]({name})\n"));
        }
        written.extend(files);
    }
    let md = args.out.join("report.md");
    std::fs::write(&md, markdown).map_err(|e| anyhow::anyhow!("writing {}: {e}", md.display()))?;
    written.push(md);
    for file in &written {
        out.status(format!("wrote {}", file.display()));
    }
    Ok(ExitCode::SUCCESS)
}
