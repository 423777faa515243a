//! PNG charts of a benchmark run, drawn with plotters.

use std::path::Path;

use anyhow::{Context as _, Result};
use plotters::prelude::*;

use super::Results;

const FONT: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";

fn register_font() -> Result<()> {
    let bytes = std::fs::read(FONT)
        .with_context(|| format!("reading the font {FONT} (Debian: fonts-dejavu-core)"))?;
    let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
    plotters::style::register_font("sans-serif", FontStyle::Normal, bytes)
        .map_err(|_| anyhow::anyhow!("{FONT} is not a usable font"))?;
    Ok(())
}

fn err<E: std::fmt::Debug>(e: E) -> anyhow::Error {
    anyhow::anyhow!("drawing: {e:?}")
}

/// Draws the charts into `out`; returns their file names.
pub(super) fn draw(out: &Path, results: &Results) -> Result<Vec<String>> {
    register_font()?;
    let mut files = Vec::new();

    let path = out.join("throughput.png");
    {
        let root = BitMapBackend::new(&path, (900, 600)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let top = results
            .queue_drain
            .iter()
            .flat_map(|r| {
                [
                    Some(r.jobs_per_sec.max),
                    Some(r.raw_jobs_per_sec.max),
                    r.pgbench_jobs_per_sec.map(|f| f.max),
                ]
            })
            .flatten()
            .fold(1.0, f64::max);
        let mut chart = ChartBuilder::on(&root)
            .caption("Drain throughput (jobs/s) by worker threads", ("sans-serif", 22))
            .margin(15)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d(0.5f64..8.5f64, 0f64..top * 1.1)
            .map_err(err)?;
        chart.configure_mesh().x_desc("workers").y_desc("jobs/s").draw().map_err(err)?;
        // Which figure of a row a series shows: 0 library, 1 raw loop, 2 pgbench.
        let series: [(&str, &str, &str, usize, RGBColor); 6] = [
            ("postgres", "single", "PostgreSQL library, 1 per transaction", 0, BLUE),
            ("postgres", "single", "pgbench, 1 per transaction", 2, RED),
            ("postgres", "batched", "PostgreSQL library, 100 per transaction", 0, MAGENTA),
            ("postgres", "batched", "pgbench, 100 per transaction", 2, BLACK),
            ("sqlite", "single", "SQLite library", 0, GREEN),
            ("sqlite", "single", "SQLite raw lease loop", 1, CYAN),
        ];
        for (backend, mode, label, which, color) in series {
            let points: Vec<(f64, f64)> = results
                .queue_drain
                .iter()
                .filter(|r| r.backend == backend && r.mode == mode)
                .filter_map(|r| {
                    let f = match which {
                        0 => r.jobs_per_sec,
                        1 => r.raw_jobs_per_sec,
                        _ => r.pgbench_jobs_per_sec?,
                    };
                    Some((r.workers as f64, f.median))
                })
                .collect();
            chart
                .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))
                .map_err(err)?
                .label(label)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
            chart
                .draw_series(points.iter().map(|p| Circle::new(*p, 4, color.filled())))
                .map_err(err)?;
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(err)?;
        root.present().map_err(err)?;
    }
    files.push("throughput.png".to_owned());

    let path = out.join("latency.png");
    {
        let root = BitMapBackend::new(&path, (900, 600)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let top = results.latency.iter().map(|l| l.max_ms).fold(1.0, f64::max);
        let mut chart = ChartBuilder::on(&root)
            .caption("Enqueue-to-start latency distribution", ("sans-serif", 22))
            .margin(15)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d((0.1f64..top * 1.2).log_scale(), 0f64..1.0)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("milliseconds (log)")
            .y_desc("fraction of jobs started")
            .draw()
            .map_err(err)?;
        for (row, color) in results.latency.iter().zip([BLUE, MAGENTA, RED, GREEN]) {
            let n = row.samples_ms.len().max(1) as f64;
            let points: Vec<(f64, f64)> = row
                .samples_ms
                .iter()
                .enumerate()
                .map(|(i, ms)| (ms.max(0.1), (i + 1) as f64 / n))
                .collect();
            chart
                .draw_series(LineSeries::new(points, color.stroke_width(2)))
                .map_err(err)?
                .label(format!("{} {}", row.backend, row.wake_up))
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .position(SeriesLabelPosition::LowerRight)
            .draw()
            .map_err(err)?;
        root.present().map_err(err)?;
    }
    files.push("latency.png".to_owned());

    let path = out.join("claim_vs_depth.png");
    {
        let root = BitMapBackend::new(&path, (900, 600)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let rows = &results.claim_vs_depth.rows;
        let top = rows.iter().map(|(_, f)| f.max).fold(1.0, f64::max);
        let max_depth = rows.iter().map(|(d, _)| *d as f64).fold(10.0, f64::max);
        let mut chart = ChartBuilder::on(&root)
            .caption("Claim-and-complete cost by queue depth (PostgreSQL)", ("sans-serif", 22))
            .margin(15)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d((1000f64..max_depth * 2.0).log_scale(), 0f64..top * 1.3)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("pending jobs (log)")
            .y_desc("µs per claim")
            .draw()
            .map_err(err)?;
        let points: Vec<(f64, f64)> = rows.iter().map(|(d, f)| (*d as f64, f.median)).collect();
        chart.draw_series(LineSeries::new(points.clone(), BLUE.stroke_width(2))).map_err(err)?;
        chart.draw_series(points.iter().map(|p| Circle::new(*p, 4, BLUE.filled()))).map_err(err)?;
        root.present().map_err(err)?;
    }
    files.push("claim_vs_depth.png".to_owned());
    Ok(files)
}
