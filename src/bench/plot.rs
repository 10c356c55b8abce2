//! The speedup plot of a bench report (plotters): measured speedup against threads for each
//! engine, its fitted Amdahl curve (dashed), and the ideal linear speedup. SVG or PNG by the file's
//! extension; written atomically like every other output.

use std::path::Path;
use std::sync::Once;

use anyhow::{Context, Result, bail};
use plotters::prelude::*;
use plotters::style::FontStyle;

use super::{BenchReport, amdahl};

const SIZE: (u32, u32) = (960, 640);

/// Writes the plot of `report` to `path` (`.svg` or `.png`).
pub fn write_plot(report: &BenchReport, path: &Path) -> Result<()> {
    register_fonts();
    let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    match ext.as_deref() {
        Some("svg") => {
            let mut svg = String::new();
            {
                let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
                draw(report, &root).context("cannot draw the plot")?;
            }
            let mut temp = tempfile::Builder::new().suffix(".svg.tmp").tempfile_in(dir)?;
            std::io::Write::write_all(&mut temp, svg.as_bytes())?;
            temp.persist(path).with_context(|| format!("{}: cannot write the plot", path.display()))?;
        }
        Some("png") => {
            // The bitmap backend picks its encoder from the extension, so the temporary file ends in .png.
            let temp = tempfile::Builder::new().prefix(".pframe-plot.").suffix(".png").tempfile_in(dir)?;
            {
                let root = BitMapBackend::new(temp.path(), SIZE).into_drawing_area();
                draw(report, &root).context("cannot draw the plot")?;
                root.present().context("cannot encode the PNG")?;
            }
            temp.persist(path).with_context(|| format!("{}: cannot write the plot", path.display()))?;
        }
        _ => bail!("{}: the plot's file name must end in .svg or .png", path.display()),
    }
    Ok(())
}

/// Text needs a font: DejaVu Sans is compiled in, so plots look the same on any machine.
fn register_fonts() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        for (style, bytes) in [(FontStyle::Normal, dejavu::sans::regular()), (FontStyle::Bold, dejavu::sans::bold())] {
            // The font is valid: it is the one shipped with the dejavu crate.
            let _ = plotters::style::register_font("sans-serif", style, bytes);
        }
    });
}

fn draw<DB: DrawingBackend>(report: &BenchReport, root: &DrawingArea<DB, plotters::coord::Shift>) -> Result<()>
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE).map_err(|e| anyhow::anyhow!("{e}"))?;
    let max_threads = report.configs.iter().map(|c| c.threads).max().unwrap_or(1).max(2) as f64;
    let max_speedup = report.configs.iter().filter_map(|c| c.speedup).fold(max_threads, f64::max);
    let title = format!("pframe bench {}: speedup against threads", report.workload);
    let mut chart = ChartBuilder::on(root)
        .caption(&title, ("sans-serif", 26).into_font())
        .margin(24)
        .x_label_area_size(56)
        .y_label_area_size(64)
        .build_cartesian_2d(0.8f64..max_threads + 0.2, 0f64..max_speedup * 1.1)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    chart
        .configure_mesh()
        .x_desc("threads")
        .y_desc(format!("speedup over the {}", report.reference))
        .x_labels(max_threads as usize + 1)
        .x_label_formatter(&|x| if x.fract() == 0.0 { format!("{x:.0}") } else { String::new() })
        .label_style(("sans-serif", 16))
        .axis_desc_style(("sans-serif", 18))
        .draw()
        .map_err(|e| anyhow::anyhow!("{e}"))?;

    let ideal = [(1.0, 1.0), (max_threads, max_threads)];
    chart
        .draw_series(DashedLineSeries::new(ideal, 6, 4, BLACK.mix(0.5).stroke_width(1)))
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .label("ideal (speedup = threads)")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], BLACK.mix(0.5)));

    for (i, fit) in report.fits.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        let mut points: Vec<(f64, f64)> = report
            .configs
            .iter()
            .filter(|c| c.engine == fit.engine)
            .filter_map(|c| Some((f64::from(c.threads), c.speedup?)))
            .collect();
        points.sort_by(|a, b| a.0.total_cmp(&b.0));
        chart
            .draw_series(LineSeries::new(points.clone(), color.stroke_width(3)))
            .map_err(|e| anyhow::anyhow!("{e}"))?
            .label(fit.engine.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], color.stroke_width(3)));
        chart
            .draw_series(points.iter().map(|&p| Circle::new(p, 5, color.filled())))
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        // The fit is of the engine's own scaling; drawn from its measured one-thread speedup.
        let one = points.iter().find(|p| p.0 == 1.0).map(|p| p.1);
        if let (Some(f), Some(one)) = (fit.serial_fraction, one) {
            let curve: Vec<(f64, f64)> = (0..=100)
                .map(|k| 1.0 + (max_threads - 1.0) * k as f64 / 100.0)
                .map(|n| (n, one * amdahl(f, n)))
                .collect();
            chart
                .draw_series(DashedLineSeries::new(curve, 8, 5, color.stroke_width(2)))
                .map_err(|e| anyhow::anyhow!("{e}"))?
                .label(format!("{} Amdahl fit, f = {f:.3}", fit.engine))
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 8, y), (x + 14, y), (x + 24, y)], color));
        }
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .label_font(("sans-serif", 16))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    root.present().map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(())
}
