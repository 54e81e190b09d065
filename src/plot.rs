//! Line charts (plotters) as SVG or PNG, chosen by the file extension: one chart, or a
//! grid of small panels. PNG text uses the embedded DejaVu Sans (assets/fonts).

use std::path::Path;
use std::sync::Once;

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::error::{Error, Result};

/// One named series of (x, y) points.
pub struct Series {
    /// Legend label.
    pub name: String,
    /// The (x, y) points.
    pub points: Vec<(f64, f64)>,
}

/// One chart: a title, axis labels, series and an optional fixed y range.
pub struct Panel {
    /// Chart title.
    pub title: String,
    /// x-axis label.
    pub x_label: String,
    /// y-axis label.
    pub y_label: String,
    /// The series drawn.
    pub series: Vec<Series>,
    /// Fixed y range (for probabilities); otherwise 0 (or the minimum, if negative) to
    /// 1.1 × the maximum.
    pub y_range: Option<(f64, f64)>,
    /// Draw markers without lines (a scatter plot), the x range padded so that no marker
    /// sits on the frame.
    pub markers_only: bool,
}

static FONT: Once = Once::new();

/// A chart's margin on each side and its y-label area, in pixels.
const MARGIN_PX: u32 = 8;
const Y_LABEL_PX: u32 = 52;

fn register_font() {
    FONT.call_once(|| {
        let bytes: &'static [u8] = include_bytes!("../assets/fonts/DejaVuSans.ttf");
        for style in [FontStyle::Normal, FontStyle::Bold] {
            let _ = plotters::style::register_font("sans-serif", style, bytes);
        }
    });
}

/// Draw `series` as lines with markers into an SVG or PNG file (by extension).
pub fn line_chart(
    path: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series],
) -> Result<()> {
    let panel = Panel {
        title: title.into(),
        x_label: x_label.into(),
        y_label: y_label.into(),
        series: series
            .iter()
            .map(|s| Series {
                name: s.name.clone(),
                points: s.points.clone(),
            })
            .collect(),
        y_range: None,
        markers_only: false,
    };
    panels(path, None, std::slice::from_ref(&panel), 1, (720, 440))
}

/// Draw `panels` in a grid of `cols` columns into an SVG or PNG file of `size` pixels.
pub fn panels(
    path: &Path,
    title: Option<&str>,
    panels: &[Panel],
    cols: usize,
    size: (u32, u32),
) -> Result<()> {
    let err = |message: String| Error::Plot {
        path: path.to_path_buf(),
        message,
    };
    let png = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("png"));
    // Text is measured (SVG) and drawn (PNG) with the embedded font.
    register_font();
    if png {
        let root = BitMapBackend::new(path, size).into_drawing_area();
        draw_grid(&root, title, panels, cols).map_err(err)?;
        root.present().map_err(|e| err(e.to_string()))
    } else {
        let root = SVGBackend::new(path, size).into_drawing_area();
        draw_grid(&root, title, panels, cols).map_err(err)?;
        root.present().map_err(|e| err(e.to_string()))
    }
}

fn draw_grid<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: Option<&str>,
    panels: &[Panel],
    cols: usize,
) -> std::result::Result<(), String> {
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let area = match title {
        Some(t) => root
            .titled(t, ("sans-serif", 22))
            .map_err(|e| e.to_string())?,
        None => root.clone(),
    };
    let cols = cols.max(1);
    let rows = panels.len().div_ceil(cols).max(1);
    for (cell, panel) in area.split_evenly((rows, cols)).iter().zip(panels) {
        draw_panel(cell, panel)?;
    }
    Ok(())
}

fn draw_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    p: &Panel,
) -> std::result::Result<(), String> {
    let e = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    let all = p.series.iter().flat_map(|s| s.points.iter());
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, 0.0f64, 0.0f64);
    for &(x, y) in all.filter(|(x, y)| x.is_finite() && y.is_finite()) {
        x0 = x0.min(x);
        x1 = x1.max(x);
        y0 = y0.min(y);
        y1 = y1.max(y);
    }
    if x0 > x1 {
        return Err(format!("{}: no points", p.title));
    }
    if p.markers_only {
        let pad = if x1 > x0 { (x1 - x0) * 0.05 } else { 0.5 };
        (x0, x1) = (x0 - pad, x1 + pad);
        // The legend goes in the upper right corner, in a strip of its own: no marker
        // under it.
        let plot_px = f64::from(
            area.dim_in_pixel()
                .0
                .saturating_sub(Y_LABEL_PX + 2 * MARGIN_PX),
        );
        let longest = p.series.iter().map(|s| s.name.chars().count()).max();
        x1 = legend_strip(x0, x1, plot_px, legend_px(longest.unwrap_or(0)));
    }
    if x0 == x1 {
        x1 = x0 + 1.0;
    }
    let (y0, y1) = match p.y_range {
        Some(r) => r,
        None if y1 > y0 => (y0 * 1.1, y1 * 1.1),
        None => (y0 - 1.0, y0 + 1.0),
    };
    let mut chart = ChartBuilder::on(area)
        .caption(&p.title, ("sans-serif", 16))
        .margin(MARGIN_PX)
        .x_label_area_size(34)
        .y_label_area_size(Y_LABEL_PX)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(e)?;
    chart
        .configure_mesh()
        .x_desc(&p.x_label)
        .y_desc(&p.y_label)
        .label_style(("sans-serif", 12))
        .draw()
        .map_err(e)?;
    for (i, s) in p.series.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        let pts: Vec<(f64, f64)> = s
            .points
            .iter()
            .copied()
            .filter(|(x, y)| x.is_finite() && y.is_finite())
            .collect();
        if p.markers_only {
            chart
                .draw_series(pts.iter().map(|&q| Circle::new(q, 4, color.filled())))
                .map_err(e)?
                .label(s.name.clone())
                .legend(move |(x, y)| Circle::new((x + 9, y), 4, color.filled()));
            continue;
        }
        chart
            .draw_series(LineSeries::new(pts.iter().copied(), color.stroke_width(2)))
            .map_err(e)?
            .label(s.name.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color));
        if pts.len() <= 60 {
            chart
                .draw_series(pts.iter().map(|&q| Circle::new(q, 3, color.filled())))
                .map_err(e)?;
        }
    }
    chart
        .configure_series_labels()
        .position(if p.markers_only {
            SeriesLabelPosition::UpperRight
        } else {
            SeriesLabelPosition::MiddleRight
        })
        .label_font(("sans-serif", 12))
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(e)?;
    Ok(())
}

/// The width in pixels of a legend whose longest label has `chars` characters (12 px
/// text, a marker and the box's padding); an upper bound for DejaVu Sans.
fn legend_px(chars: usize) -> f64 {
    8.0 * chars as f64 + 44.0
}

/// The right end of an x range [x0, x1] widened so that, drawn `plot_px` pixels wide, the
/// rightmost `legend_px` pixels (and a gap) hold no point; unchanged when the legend would
/// take more than half the width.
fn legend_strip(x0: f64, x1: f64, plot_px: f64, legend_px: f64) -> f64 {
    let room = plot_px - legend_px - 12.0;
    if room < plot_px / 2.0 || x1 <= x0 {
        return x1;
    }
    x0 + (x1 - x0) * plot_px / room
}

#[cfg(test)]
mod tests {
    use super::{legend_px, legend_strip};

    #[test]
    fn the_legend_strip_holds_no_point() {
        let (x0, x1, plot_px) = (5.0, 11.0, 640.0);
        let legend = legend_px("cifar10-derived-x0.690".len());
        let wide = legend_strip(x0, x1, plot_px, legend);
        // The last point's pixel column lies left of the legend's left edge.
        let last_px = (x1 - x0) / (wide - x0) * plot_px;
        assert!(
            last_px < plot_px - legend,
            "{last_px} vs legend from {}",
            plot_px - legend
        );
        // A legend wider than half the chart leaves the range as it was.
        assert_eq!(legend_strip(x0, x1, plot_px, 400.0), x1);
    }
}
