//! The report's plots, drawn by `plotters` into SVG strings that the page inlines (no network, no
//! image files). plotters is built without its `ttf` feature (no font-kit, no fontconfig): the
//! SVG backend writes text as `<text>` elements and the browser sets it; layout uses plotters'
//! built-in estimate of text sizes.
//!
//! Captions and legend labels say what a plot marks (`server down: <cause>`, `restart`,
//! `checkpoint`, the RSS slope), so that a reader, and the tests, find them in the SVG text.

use super::analysis::{Analysis, OUTCOMES};
use fuzz_shared::Outcome;
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
use std::collections::BTreeMap;

const WIDTH: u32 = 960;
const HEIGHT: u32 = 360;
const CHECKPOINT: RGBColor = RGBColor(90, 120, 200);
const CRASH: RGBColor = RGBColor(210, 30, 30);
const RESTART: RGBColor = RGBColor(30, 150, 60);

/// The colour of an outcome in every plot.
pub fn outcome_color(o: Outcome) -> RGBColor {
    match o {
        Outcome::Completed => RGBColor(60, 170, 90),
        Outcome::PeerClosed => RGBColor(240, 150, 40),
        Outcome::LocalClosed => RGBColor(150, 90, 200),
        Outcome::HandshakeFailed => RGBColor(220, 60, 60),
        Outcome::Timeout => RGBColor(150, 150, 150),
        Outcome::Refused => RGBColor(40, 40, 40),
        Outcome::WrongAnswer => RGBColor(200, 40, 160),
    }
}

/// Runs `draw` on an SVG canvas and returns the SVG text. plotters' errors here can only be
/// formatting ones (the backend writes to a String); they become a note in place of the plot.
fn svg(height: u32, draw: impl FnOnce(&DrawingArea<SVGBackend, Shift>) -> Result<(), String>) -> String {
    let mut out = String::new();
    let result = {
        let root = SVGBackend::with_string(&mut out, (WIDTH, height)).into_drawing_area();
        let r = root.fill(&WHITE).map_err(|e| e.to_string()).and_then(|_| draw(&root));
        r.and_then(|_| root.present().map_err(|e| e.to_string()))
    };
    match result {
        Ok(()) => out,
        Err(e) => format!("<p class=\"plot-error\">plot failed: {}</p>", super::html::escape(&e)),
    }
}

/// A plot over two real axes (time or seq, and a measure).
type LineChart<'a, 'b> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// A server death: a red vertical line at `x`, its cause in the legend.
fn crash_line(chart: &mut LineChart<'_, '_>, x: f64, y_max: f64, cause: Option<&str>) -> Result<(), String> {
    chart
        .draw_series([PathElement::new([(x, 0.0), (x, y_max)], CRASH.stroke_width(3))])
        .map_err(err)?
        .label(format!("server down: {}", cause.unwrap_or("stopped answering")))
        .legend(|(x, y)| PathElement::new([(x + 7, y - 5), (x + 7, y + 5)], CRASH.stroke_width(3)));
    Ok(())
}

/// The legend of a line plot, in the corner its lines leave free.
fn legend<'a>(chart: &mut LineChart<'a, 'a>, position: SeriesLabelPosition) -> Result<(), String> {
    chart
        .configure_series_labels()
        .position(position)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(err)
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// Connections per second over time, with the checkpoints (blue ticks), each restart (green
/// line) and each crash (red line, labelled with its cause).
pub fn rate(a: &Analysis) -> String {
    let bucket = a.rate_bucket();
    let series = a.rate_series(bucket);
    let t0 = a.t0();
    let x_max = a.span().max(bucket);
    let y_max = series.iter().map(|p| p.1).fold(1.0, f64::max) * 1.15;
    svg(HEIGHT, |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(format!("connections/s over time ({bucket:.2} s buckets)"), ("sans-serif", 18))
            .margin(10)
            .x_label_area_size(35)
            .y_label_area_size(55)
            .build_cartesian_2d(0f64..x_max, 0f64..y_max)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("seconds since the first run_start")
            .y_desc("connections/s")
            .light_line_style(WHITE.mix(0.0))
            .draw()
            .map_err(err)?;
        chart
            .draw_series(LineSeries::new(series.iter().copied(), BLUE.stroke_width(2)))
            .map_err(err)?
            .label("connections/s")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 15, y)], BLUE.stroke_width(2)));
        let tick = y_max * 0.04;
        chart
            .draw_series(a.checkpoints.iter().map(|c| {
                let x = c.at - t0;
                PathElement::new([(x, 0.0), (x, tick)], CHECKPOINT.stroke_width(2))
            }))
            .map_err(err)?
            .label("checkpoint")
            .legend(|(x, y)| PathElement::new([(x + 7, y - 5), (x + 7, y + 5)], CHECKPOINT.stroke_width(2)));
        let restarts: Vec<f64> = a.segments.iter().skip(1).map(|s| s.started - t0).collect();
        if !restarts.is_empty() {
            chart
                .draw_series(
                    restarts.iter().map(|&x| PathElement::new([(x, 0.0), (x, y_max)], RESTART.stroke_width(2))),
                )
                .map_err(err)?
                .label("restart (run_start)")
                .legend(|(x, y)| PathElement::new([(x + 7, y - 5), (x + 7, y + 5)], RESTART.stroke_width(2)));
        }
        for c in &a.crashes {
            crash_line(&mut chart, c.at - t0, y_max, c.cause.as_deref())?;
        }
        legend(&mut chart, SeriesLabelPosition::UpperRight)
    })
}

/// The server's edges covered at each checkpoint over time (`--coverage`), with each crash (red
/// line, labelled with its cause): where the line goes flat, blind fuzzing stopped finding code.
pub fn edges(a: &Analysis) -> String {
    let pts = a.edges_series();
    let t0 = a.t0();
    let x_max = a.span().max(1.0) * 1.03;
    let y_max = pts.iter().map(|p| p.1 as f64).fold(1.0, f64::max) * 1.15;
    svg(HEIGHT, |root| {
        let mut chart = ChartBuilder::on(root)
            .caption("edges of the server's code covered", ("sans-serif", 18))
            .margin(10)
            .x_label_area_size(35)
            .y_label_area_size(55)
            .build_cartesian_2d(0f64..x_max, 0f64..y_max)
            .map_err(err)?;
        chart.configure_mesh().x_desc("seconds since the first run_start").y_desc("edges").draw().map_err(err)?;
        let line: Vec<(f64, f64)> = pts.iter().map(|&(t, e)| (t, e as f64)).collect();
        chart
            .draw_series(LineSeries::new(line.iter().copied(), BLUE.stroke_width(2)))
            .map_err(err)?
            .label("edges at checkpoint")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 15, y)], BLUE.stroke_width(2)));
        chart.draw_series(line.iter().map(|&p| Circle::new(p, 3, BLUE.filled()))).map_err(err)?;
        for c in &a.crashes {
            crash_line(&mut chart, c.at - t0, y_max, c.cause.as_deref())?;
        }
        legend(&mut chart, SeriesLabelPosition::LowerRight)
    })
}

/// Stacked bars: one bar per group (fuzz state, operator family), one colour per outcome.
pub fn outcome_bars(title: &str, groups: &BTreeMap<String, BTreeMap<Outcome, u64>>) -> String {
    // A log with no connection in it (a campaign whose server died at once) has no bars, and
    // plotters never returns from a mesh asked for zero x labels.
    if groups.is_empty() {
        return format!("<p>{title}: no connections in these logs</p>");
    }
    let names: Vec<&String> = groups.keys().collect();
    // A segmented range 0..k has k + 1 slots: one per group needs 0..len-1 (0..1 for one group).
    let n = (names.len().max(2) - 1) as u32;
    let y_max = groups.values().map(|m| m.values().sum::<u64>()).max().unwrap_or(1).max(1);
    let y_max = y_max + y_max / 8 + 1;
    svg(HEIGHT, |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(title, ("sans-serif", 18))
            .margin(10)
            .x_label_area_size(35)
            .y_label_area_size(55)
            .build_cartesian_2d((0..n).into_segmented(), 0u64..y_max)
            .map_err(err)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(names.len())
            .x_label_formatter(&|v| match v {
                SegmentValue::CenterOf(i) => names.get(*i as usize).map_or_else(String::new, |s| s.to_string()),
                _ => String::new(),
            })
            .y_desc("connections")
            .draw()
            .map_err(err)?;
        for outcome in OUTCOMES {
            if !groups.values().any(|m| m.get(&outcome).is_some_and(|&k| k > 0)) {
                continue;
            }
            let color = outcome_color(outcome);
            let bars = names.iter().enumerate().filter_map(|(i, name)| {
                let counts = &groups[*name];
                let below: u64 = OUTCOMES.iter().take_while(|o| **o != outcome).filter_map(|o| counts.get(o)).sum();
                let k = counts.get(&outcome).copied().unwrap_or(0);
                (k > 0).then(|| {
                    let mut bar = Rectangle::new(
                        [(SegmentValue::Exact(i as u32), below), (SegmentValue::Exact(i as u32 + 1), below + k)],
                        color.filled(),
                    );
                    bar.set_margin(0, 0, 12, 12);
                    bar
                })
            });
            chart
                .draw_series(bars)
                .map_err(err)?
                .label(outcome.as_str())
                .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], color.filled()));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()
            .map_err(err)
    })
}

/// The supervised server's resident memory at each checkpoint, one line per run (each run's
/// server is its own process; a leak is a slope), the least-squares line of the run the report
/// measures, and each crash (red line at the last connection its run started).
pub fn rss(a: &Analysis) -> String {
    let runs = a.rss_runs();
    let mib = |kb: f64| kb / 1024.0;
    let crash_seqs: Vec<u64> = a
        .crashes
        .iter()
        .filter_map(|c| a.conns.iter().filter(|k| k.segment == c.segment).map(|k| k.seq).max())
        .collect();
    let all = runs.iter().flat_map(|(_, pts)| pts.iter());
    let x_max = all.clone().map(|p| p.0).chain(crash_seqs.iter().copied()).max().unwrap_or(1).max(1) as f64 * 1.03;
    let y_max = all.map(|p| mib(p.1 as f64)).fold(1.0, f64::max) * 1.15;
    let fit = a.rss_fit();
    let caption = match fit {
        Some((slope, _)) => format!("server RSS per checkpoint: {slope:+.1} KiB per connection"),
        None => "server RSS per checkpoint".to_string(),
    };
    const RUNS: [RGBColor; 4] = [CHECKPOINT, RGBColor(230, 120, 20), RGBColor(20, 160, 160), RGBColor(160, 60, 160)];
    svg(HEIGHT, |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(caption, ("sans-serif", 18))
            .margin(10)
            .x_label_area_size(35)
            .y_label_area_size(55)
            .build_cartesian_2d(0f64..x_max, 0f64..y_max)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("checkpoint seq (connections started)")
            .y_desc("server RSS (MiB)")
            .draw()
            .map_err(err)?;
        for (i, (segment, pts)) in runs.iter().enumerate() {
            let color = RUNS[i % RUNS.len()];
            let line: Vec<(f64, f64)> = pts.iter().map(|p| (p.0 as f64, mib(p.1 as f64))).collect();
            chart
                .draw_series(LineSeries::new(line.iter().copied(), color.stroke_width(2)))
                .map_err(err)?
                .label(format!("VmRSS at checkpoint, run {}", segment + 1))
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 15, y)], color.stroke_width(2)));
            chart.draw_series(line.iter().map(|&p| Circle::new(p, 3, color.filled()))).map_err(err)?;
        }
        if let (Some((slope, intercept)), Some((_, pts))) = (fit, a.rss_series()) {
            let at = |x: f64| mib((intercept + slope * x).max(0.0));
            let (x0, x1) = (pts[0].0 as f64, pts[pts.len() - 1].0 as f64);
            chart
                .draw_series([PathElement::new([(x0, at(x0)), (x1, at(x1))], BLACK.mix(0.6).stroke_width(1))])
                .map_err(err)?
                .label("least-squares fit")
                .legend(|(x, y)| PathElement::new([(x, y), (x + 15, y)], BLACK.mix(0.6)));
        }
        for (c, seq) in a.crashes.iter().zip(&crash_seqs) {
            crash_line(&mut chart, *seq as f64, y_max, c.cause.as_deref())?;
        }
        legend(&mut chart, SeriesLabelPosition::UpperLeft)
    })
}
