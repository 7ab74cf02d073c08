//! The plots, each drawn once over a generic backend and written as PNG and SVG.

use std::path::{Path, PathBuf};
use std::sync::Once;

use anyhow::{Context, Result, bail};
use plotters::coord::Shift;
use plotters::prelude::*;

use crate::table::ReportRow;

/// The font every label is drawn in, shipped with the binary so plots need no
/// system fonts (DejaVu Sans, Bitstream Vera licence: assets/).
static FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");

fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if plotters::style::register_font("sans-serif", FontStyle::Normal, FONT).is_err() {
            panic!("the bundled DejaVu Sans font does not parse");
        }
    });
}

const SIZE: (u32, u32) = (960, 600);

/// A named line of points.
struct Series {
    name: String,
    points: Vec<(f64, f64)>,
}

fn save(stem: &Path, chart: &Chart) -> Result<Vec<PathBuf>> {
    register_font();
    if let Some(dir) = stem.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let png = stem.with_extension("png");
    let svg = stem.with_extension("svg");
    {
        let root = BitMapBackend::new(&png, SIZE).into_drawing_area();
        chart.draw(&root)?;
        root.present()
            .map_err(|e| anyhow::anyhow!("{e}"))
            .with_context(|| format!("writing {}", png.display()))?;
    }
    {
        let root = SVGBackend::new(&svg, SIZE).into_drawing_area();
        chart.draw(&root)?;
        root.present()
            .map_err(|e| anyhow::anyhow!("{e}"))
            .with_context(|| format!("writing {}", svg.display()))?;
    }
    Ok(vec![png, svg])
}

/// A line chart: title, axis names, series, and whether x is logarithmic.
struct Chart {
    title: String,
    x_label: String,
    y_label: String,
    series: Vec<Series>,
    log_x: bool,
    /// Whole-number x ticks (rounds).
    integer_x: bool,
    /// Where the legend goes: where the points are least likely to be.
    legend: SeriesLabelPosition,
}

impl Chart {
    fn x_range(&self) -> (f64, f64) {
        let xs = self
            .series
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.0));
        let (lo, hi) = xs.fold((f64::MAX, f64::MIN), |(lo, hi), x| (lo.min(x), hi.max(x)));
        if self.log_x {
            let lo = lo.max(1.0);
            (lo / 1.5, hi.max(lo) * 1.5)
        } else if hi - lo < 1e-9 {
            (lo - 0.5, hi + 0.5)
        } else {
            let pad = (hi - lo) * 0.05;
            (lo - pad, hi + pad)
        }
    }

    /// 0 to a little above the best accuracy, in tens: low accuracies stay legible.
    fn y_top(&self) -> f64 {
        let best = self
            .series
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.1))
            .fold(0.0, f64::max);
        ((best + 5.0) / 10.0).ceil().clamp(1.0, 10.0) * 10.0
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()>
    where
        DB::ErrorType: 'static,
    {
        let fail = |e: DrawingAreaErrorKind<DB::ErrorType>| {
            anyhow::anyhow!("drawing {}: {e:?}", self.title)
        };
        root.fill(&WHITE).map_err(fail)?;
        let (x0, x1) = self.x_range();
        let y1 = self.y_top();
        let mut builder = ChartBuilder::on(root);
        builder
            .caption(&self.title, ("sans-serif", 24))
            .margin(16)
            .x_label_area_size(48)
            .y_label_area_size(64);
        let series_style = |i: usize| Palette99::pick(i).stroke_width(3);
        macro_rules! body {
            ($chart:expr) => {{
                let mut chart = $chart;
                let mut mesh = chart.configure_mesh();
                mesh.x_desc(&self.x_label)
                    .y_desc(&self.y_label)
                    .x_labels(6)
                    .y_label_formatter(&|y| format!("{y:.0}"))
                    .label_style(("sans-serif", 16))
                    .axis_desc_style(("sans-serif", 18));
                if self.integer_x {
                    mesh.x_label_formatter(&|x| {
                        if (x - x.round()).abs() < 1e-6 {
                            format!("{}", x.round() as i64)
                        } else {
                            String::new()
                        }
                    });
                } else {
                    mesh.x_label_formatter(&|x| format!("{x:.0}"));
                }
                mesh.draw().map_err(fail)?;
                for (i, series) in self.series.iter().enumerate() {
                    let style = series_style(i);
                    chart
                        .draw_series(LineSeries::new(series.points.iter().copied(), style))
                        .map_err(fail)?
                        .label(series.name.clone())
                        .legend(move |(x, y)| {
                            PathElement::new(vec![(x, y), (x + 20, y)], series_style(i))
                        });
                    chart
                        .draw_series(
                            series
                                .points
                                .iter()
                                .map(|&p| Circle::new(p, 5, Palette99::pick(i).filled())),
                        )
                        .map_err(fail)?;
                }
                chart
                    .configure_series_labels()
                    .position(self.legend.clone())
                    .label_font(("sans-serif", 16))
                    .background_style(WHITE.mix(0.8))
                    .border_style(BLACK)
                    .draw()
                    .map_err(fail)?;
            }};
        }
        if self.log_x {
            body!(
                builder
                    .build_cartesian_2d((x0..x1).log_scale(), 0f64..y1)
                    .map_err(fail)?
            );
        } else {
            body!(builder.build_cartesian_2d(x0..x1, 0f64..y1).map_err(fail)?);
        }
        Ok(())
    }
}

/// Accuracy by round, one line per strategy, for `dataset` (as the table
/// names it); writes `stem.png` and `stem.svg`.
pub fn plot_accuracy_by_round(
    rows: &[ReportRow],
    dataset: &str,
    stem: &Path,
) -> Result<Vec<PathBuf>> {
    let series = group(
        rows.iter().filter(|r| r.dataset == dataset),
        |row| row.strategy.clone(),
        |row| (row.round as f64, 100.0 * row.accuracy),
    );
    if series.is_empty() {
        bail!("no evaluations of {dataset} to plot");
    }
    save(
        stem,
        &Chart {
            title: format!("{dataset}: accuracy by round"),
            x_label: "round (0: base model)".into(),
            y_label: "accuracy (%)".into(),
            series,
            log_x: false,
            integer_x: true,
            // Accuracy should rise round over round: the lower right stays clear.
            legend: SeriesLabelPosition::LowerRight,
        },
    )
}

/// Accuracy against generated tokens per question for round `round` of
/// `dataset`, one line per strategy family through its budgets.
pub fn plot_accuracy_vs_compute(
    rows: &[ReportRow],
    dataset: &str,
    round: i64,
    stem: &Path,
) -> Result<Vec<PathBuf>> {
    let series = group(
        rows.iter()
            .filter(|r| r.dataset == dataset && r.round == round),
        |row| match &row.ppm {
            Some(_) if row.family != "greedy" && row.family != "maj" => {
                format!("{} (PPM)", row.family)
            }
            _ => row.family.clone(),
        },
        |row| (row.tokens_per_question.max(1.0), 100.0 * row.accuracy),
    );
    if series.is_empty() {
        bail!("no evaluations of {dataset} in round {round} to plot");
    }
    save(
        stem,
        &Chart {
            title: format!("{dataset}, round {round}: accuracy against compute"),
            x_label: "generated tokens per question (log scale)".into(),
            y_label: "accuracy (%)".into(),
            series,
            log_x: true,
            integer_x: false,
            // More compute should buy accuracy: the upper left stays clear.
            legend: SeriesLabelPosition::UpperLeft,
        },
    )
}

/// Rows as named series in first-seen order, each's points sorted by x.
fn group<'a>(
    rows: impl Iterator<Item = &'a ReportRow>,
    name: impl Fn(&ReportRow) -> String,
    point: impl Fn(&ReportRow) -> (f64, f64),
) -> Vec<Series> {
    let mut series: Vec<Series> = Vec::new();
    for row in rows {
        let (name, point) = (name(row), point(row));
        match series.iter_mut().find(|s| s.name == name) {
            Some(s) => s.points.push(point),
            None => series.push(Series {
                name,
                points: vec![point],
            }),
        }
    }
    for s in &mut series {
        s.points.sort_by(|a, b| a.0.total_cmp(&b.0));
    }
    series
}
