//! A hand-written SVG grouped bar chart (no plotting dependency): one group per workload,
//! one bar per variant, values normalised to a reference series, absolute values as labels.
use std::fmt::Write as _;

/// One bar series (a variant): a value per group, `None` where it was not measured.
#[derive(Debug, Clone)]
pub struct Series {
    pub name: String,
    pub values: Vec<Option<f64>>,
    /// Text written above each bar (absolute figure).
    pub labels: Vec<String>,
}

const COLORS: [&str; 4] = ["#1b6ca8", "#e07b39", "#6a994e", "#9d4edd"];

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Renders a chart of `series` over `groups`; bar heights are `value / max`.
pub fn grouped_bars(title: &str, y_label: &str, groups: &[String], series: &[Series]) -> String {
    let (w, h) = (760.0f64, 380.0f64);
    let (left, right, top, bottom) = (70.0, 20.0, 50.0, 70.0);
    let plot_w = w - left - right;
    let plot_h = h - top - bottom;
    let max = series
        .iter()
        .flat_map(|s| s.values.iter().flatten())
        .fold(0.0f64, |a, &b| a.max(b))
        .max(f64::MIN_POSITIVE);
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="{}" y="24" font-size="16" text-anchor="middle">{}</text>"#,
        w / 2.0,
        esc(title)
    );
    let _ = writeln!(
        s,
        r#"<text x="16" y="{}" transform="rotate(-90 16 {})" text-anchor="middle">{}</text>"#,
        top + plot_h / 2.0,
        top + plot_h / 2.0,
        esc(y_label)
    );
    // Axes and grid.
    for i in 0..=4 {
        let v = max * f64::from(i) / 4.0;
        let y = top + plot_h - plot_h * f64::from(i) / 4.0;
        let _ = writeln!(
            s,
            r##"<line x1="{left}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#ddd"/>"##,
            left + plot_w
        );
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{v:.2}</text>"#,
            left - 6.0,
            y + 4.0
        );
    }
    let _ = writeln!(
        s,
        r#"<line x1="{left}" y1="{top}" x2="{left}" y2="{:.1}" stroke="black"/>"#,
        top + plot_h
    );
    let ng = groups.len().max(1) as f64;
    let ns = series.len().max(1) as f64;
    let group_w = plot_w / ng;
    let bar_w = group_w * 0.8 / ns;
    for (gi, g) in groups.iter().enumerate() {
        let gx = left + group_w * gi as f64;
        for (si, ser) in series.iter().enumerate() {
            let x = gx + group_w * 0.1 + bar_w * si as f64;
            match ser.values.get(gi).copied().flatten() {
                Some(v) => {
                    let bh = plot_h * v / max;
                    let y = top + plot_h - bh;
                    let _ = writeln!(
                        s,
                        r#"<rect x="{x:.1}" y="{y:.1}" width="{:.1}" height="{bh:.1}" fill="{}"/>"#,
                        bar_w * 0.92,
                        COLORS[si % COLORS.len()]
                    );
                    let label = ser.labels.get(gi).map(String::as_str).unwrap_or("");
                    let _ = writeln!(
                        s,
                        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle" font-size="10">{}</text>"#,
                        x + bar_w * 0.46,
                        y - 4.0,
                        esc(label)
                    );
                }
                None => {
                    let _ = writeln!(
                        s,
                        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle" font-size="10">n/a</text>"#,
                        x + bar_w * 0.46,
                        top + plot_h - 4.0
                    );
                }
            }
        }
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            gx + group_w / 2.0,
            top + plot_h + 18.0,
            esc(g)
        );
    }
    // Legend.
    for (si, ser) in series.iter().enumerate() {
        let x = left + 180.0 * si as f64;
        let y = h - 24.0;
        let _ = writeln!(
            s,
            r#"<rect x="{x:.1}" y="{:.1}" width="12" height="12" fill="{}"/>"#,
            y - 10.0,
            COLORS[si % COLORS.len()]
        );
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{y:.1}">{}</text>"#,
            x + 16.0,
            esc(&ser.name)
        );
    }
    s.push_str("</svg>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chart_has_one_rect_per_measured_bar_and_escapes() {
        let svg = grouped_bars(
            "a < b",
            "ratio",
            &["smtp".into(), "tcp".into()],
            &[
                Series {
                    name: "x".into(),
                    values: vec![Some(1.0), Some(0.5)],
                    labels: vec!["10".into(), "5".into()],
                },
                Series {
                    name: "y&z".into(),
                    values: vec![None, Some(0.25)],
                    labels: vec![String::new(), "2".into()],
                },
            ],
        );
        assert!(svg.starts_with("<svg"));
        assert!(svg.trim_end().ends_with("</svg>"));
        // background + 3 bars + 2 legend boxes
        assert_eq!(svg.matches("<rect").count(), 1 + 3 + 2);
        assert!(svg.contains("a &lt; b"));
        assert!(svg.contains("y&amp;z"));
        assert!(svg.contains("n/a"));
    }
}
