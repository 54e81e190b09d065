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
        .margin(8)
        .x_label_area_size(34)
        .y_label_area_size(52)
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
        .label_font(("sans-serif", 12))
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(e)?;
    Ok(())
}
