//! The plot of a bench report (plotters), two panels: the measured speedup against threads for
//! each engine with its fitted Amdahl curve (dashed) and the ideal linear speedup, pframe's
//! engines in cool colours and the Python rows in warm ones, each family over its own serial
//! baseline; and the median times against threads on a log scale. SVG or PNG by the file's
//! extension; written atomically like every other output.

use std::path::Path;
use std::sync::Once;

use anyhow::{Context, Result, bail};
use plotters::prelude::*;
use plotters::style::FontStyle;

use super::{BenchReport, ConfigResult, amdahl, is_python};

const SIZE: (u32, u32) = (1440, 640);

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

/// Line colours: pframe's engines in cool colours, the Python rows in warm ones, so the two
/// families read apart in both panels.
const COOL: [RGBColor; 4] =
    [RGBColor(31, 119, 180), RGBColor(44, 160, 44), RGBColor(23, 150, 170), RGBColor(110, 80, 170)];
const WARM: [RGBColor; 4] =
    [RGBColor(214, 39, 40), RGBColor(255, 127, 14), RGBColor(140, 86, 75), RGBColor(200, 80, 160)];

/// Each engine's colour, by family, in report order.
fn colours(report: &BenchReport) -> Vec<(String, RGBAColor)> {
    let (mut cool, mut warm) = (0, 0);
    report
        .fits
        .iter()
        .map(|f| {
            let c = if is_python(&f.engine) {
                warm += 1;
                WARM[(warm - 1) % WARM.len()]
            } else {
                cool += 1;
                COOL[(cool - 1) % COOL.len()]
            };
            (f.engine.clone(), c.to_rgba())
        })
        .collect()
}

/// An engine's measured points, by threads, from `value` of each configuration.
fn series(report: &BenchReport, engine: &str, value: impl Fn(&ConfigResult) -> Option<f64>) -> Vec<(f64, f64)> {
    let mut points: Vec<(f64, f64)> = report
        .configs
        .iter()
        .filter(|c| c.engine == engine)
        .filter_map(|c| Some((f64::from(c.threads), value(c)?)))
        .collect();
    points.sort_by(|a, b| a.0.total_cmp(&b.0));
    points
}

fn err(e: impl std::fmt::Display) -> anyhow::Error {
    anyhow::anyhow!("{e}")
}

/// Two panels: speedup against threads (each family over its own serial baseline, with the
/// Amdahl fits), and the median time against threads on a log scale, so that a run of 6 ms and one
/// of 7 s fit in one picture.
fn draw<DB: DrawingBackend>(report: &BenchReport, root: &DrawingArea<DB, plotters::coord::Shift>) -> Result<()>
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE).map_err(err)?;
    let title = format!("pframe bench {}: {}", report.workload, report.input);
    let root = root.titled(&title, ("sans-serif", 24).into_font()).map_err(err)?;
    let (left, right) = root.split_horizontally(SIZE.0 / 2);
    let colours = colours(report);
    let max_threads = report.configs.iter().map(|c| c.threads).max().unwrap_or(1).max(2) as f64;
    let max_speedup = report.configs.iter().filter_map(|c| c.speedup).fold(max_threads, f64::max);
    let speedup_desc = match &report.python_reference {
        Some(p) => format!("speedup (pframe over the {}; Python over {p})", report.reference),
        None => format!("speedup over the {}", report.reference),
    };

    let mut chart = ChartBuilder::on(&left)
        .caption("speedup against threads", ("sans-serif", 20).into_font())
        .margin(16)
        .x_label_area_size(48)
        .y_label_area_size(56)
        .build_cartesian_2d(0.8f64..max_threads + 0.2, 0f64..max_speedup * 1.1)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("threads")
        .y_desc(speedup_desc)
        .x_labels(max_threads as usize + 1)
        .x_label_formatter(&|x| if x.fract() == 0.0 { format!("{x:.0}") } else { String::new() })
        .label_style(("sans-serif", 14))
        .axis_desc_style(("sans-serif", 14))
        .draw()
        .map_err(err)?;
    let ideal = [(1.0, 1.0), (max_threads, max_threads)];
    chart
        .draw_series(DashedLineSeries::new(ideal, 6, 4, BLACK.mix(0.5).stroke_width(1)))
        .map_err(err)?
        .label("ideal (speedup = threads)")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], BLACK.mix(0.5)));
    for (fit, (_, colour)) in report.fits.iter().zip(&colours) {
        let colour = *colour;
        let points = series(report, &fit.engine, |c| c.speedup);
        chart
            .draw_series(LineSeries::new(points.clone(), colour.stroke_width(3)))
            .map_err(err)?
            .label(fit.engine.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], colour.stroke_width(3)));
        chart.draw_series(points.iter().map(|&p| Circle::new(p, 5, colour.filled()))).map_err(err)?;
        // The fit is of the engine's own scaling; drawn from its measured one-thread speedup (a
        // Python pool's from the serial loop's, 1).
        let one = if is_python(&fit.engine) && report.python_reference.is_some() {
            Some(1.0)
        } else {
            points.iter().find(|p| p.0 == 1.0).map(|p| p.1)
        };
        if let (Some(f), Some(one)) = (fit.serial_fraction, one) {
            let curve: Vec<(f64, f64)> = (0..=100)
                .map(|k| 1.0 + (max_threads - 1.0) * k as f64 / 100.0)
                .map(|n| (n, one * amdahl(f, n)))
                .collect();
            chart
                .draw_series(DashedLineSeries::new(curve, 8, 5, colour.stroke_width(2)))
                .map_err(err)?
                .label(format!("{} Amdahl fit, f = {f:.3}", fit.engine))
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 8, y), (x + 14, y), (x + 24, y)], colour));
        }
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .label_font(("sans-serif", 13))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(err)?;

    // The time panel: medians on a log scale, a decade of margin split either side.
    let times = report.configs.iter().map(|c| c.median).filter(|t| t.is_finite() && *t > 0.0);
    let (lo, hi) = times.fold((f64::INFINITY, 0f64), |(lo, hi), t| (lo.min(t), hi.max(t)));
    let (lo, hi) = if lo.is_finite() { (lo / 1.5, hi * 1.5) } else { (1e-3, 1.0) };
    let mut chart = ChartBuilder::on(&right)
        .caption("median time (log scale)", ("sans-serif", 20).into_font())
        .margin(16)
        .x_label_area_size(48)
        .y_label_area_size(64)
        .build_cartesian_2d(0.8f64..max_threads + 0.2, (lo..hi).log_scale())
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("threads")
        .y_desc("seconds")
        .x_labels(max_threads as usize + 1)
        .x_label_formatter(&|x| if x.fract() == 0.0 { format!("{x:.0}") } else { String::new() })
        .y_label_formatter(&|y| format_seconds(*y))
        .label_style(("sans-serif", 14))
        .axis_desc_style(("sans-serif", 14))
        .draw()
        .map_err(err)?;
    for (engine, colour) in &colours {
        let colour = *colour;
        let points = series(report, engine, |c| Some(c.median).filter(|t| *t > 0.0));
        chart
            .draw_series(LineSeries::new(points.clone(), colour.stroke_width(3)))
            .map_err(err)?
            .label(format!("{engine} time"))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], colour.stroke_width(3)));
        chart.draw_series(points.iter().map(|&p| Circle::new(p, 5, colour.filled()))).map_err(err)?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .label_font(("sans-serif", 13))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(err)?;
    root.present().map_err(err)?;
    Ok(())
}

/// A time axis label: `6 ms`, `1.5 s`, `800 us`.
fn format_seconds(t: f64) -> String {
    let short = |x: f64| format!("{x:.2}").trim_end_matches('0').trim_end_matches('.').to_string();
    if t >= 1.0 {
        format!("{} s", short(t))
    } else if t >= 1e-3 {
        format!("{} ms", short(t * 1e3))
    } else {
        format!("{:.0} us", t * 1e6)
    }
}
