//! Rows of the suite: the repetitions of each (scenario, size, system), reduced to the
//! median and spread, with ratios to the floor and to the best peer; as JSON rows, Markdown
//! tables and the latency chart.

use std::fmt::Write as _;
use std::path::Path;

use serde_json::json;

use crate::Result;

/// What a system is to filemap on a row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Filemap,
    /// A crate or mechanism users would pick instead.
    Peer,
    /// The hardware's or the kernel's bound for this scenario (no peer does better).
    Floor,
    /// Measured in the same run for context, neither peer nor floor.
    Reference,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Filemap => "filemap",
            Kind::Peer => "peer",
            Kind::Floor => "floor",
            Kind::Reference => "reference",
        }
    }
}

/// How a scenario's numbers read.
#[derive(Clone, Copy, Debug)]
pub struct Unit {
    pub name: &'static str,
    pub higher_is_better: bool,
}

pub const NS: Unit = Unit {
    name: "ns",
    higher_is_better: false,
};
pub const US: Unit = Unit {
    name: "µs",
    higher_is_better: false,
};
pub const MS: Unit = Unit {
    name: "ms",
    higher_is_better: false,
};
pub const GB_S: Unit = Unit {
    name: "GB/s",
    higher_is_better: true,
};
/// Millions of messages per second.
pub const M_MSGS_S: Unit = Unit {
    name: "M msgs/s",
    higher_is_better: true,
};

/// One repetition's numbers.
#[derive(Clone, Copy, Debug)]
pub struct Sample {
    pub p50: f64,
    pub p99: Option<f64>,
}

impl Sample {
    pub fn value(v: f64) -> Sample {
        Sample { p50: v, p99: None }
    }
}

/// One row: a system in a scenario at one size, over the repetitions.
#[derive(Debug)]
pub struct Row {
    pub section: usize,
    pub scenario: &'static str,
    pub size: u64,
    pub system: String,
    pub kind: Kind,
    pub unit: Unit,
    pub samples: Vec<Sample>,
    /// Extra text for the Markdown table (e.g. peak resident memory).
    pub extra: String,
    /// The row measures the scheduler rather than the system (more busy-polling processes
    /// than cores): its note says so, and it is no loss or win of filemap's.
    pub scheduler_bound: bool,
    /// For rows that read a file: whether the row copies every byte into a buffer (`Some
    /// (true)`) or reads it in place (`Some(false)`). Its best peer is one that does the
    /// same work.
    pub copies: Option<bool>,
    /// What a peer must share with this row to be its best peer, where both say (section
    /// 8: the async runtime, so that a row under tokio's current-thread runtime is set
    /// against the socket under the same runtime).
    pub peer_key: Option<&'static str>,
    pub p50: f64,
    pub p99: Option<f64>,
    pub min: f64,
    pub max: f64,
    pub ratio_to_floor: Option<f64>,
    pub ratio_to_best_peer: Option<f64>,
    pub best_peer: Option<String>,
    /// A loss to the best peer small enough to be noise: under [`NOISE`], and the two
    /// rows' repetitions overlap (the spread of each reaches into the other's).
    pub within_noise: bool,
}

impl Row {
    /// This row's cost relative to a value of its unit: 2.0 = twice the time (or half the
    /// bandwidth).
    fn cost_ratio(&self, reference: f64) -> f64 {
        if self.unit.higher_is_better {
            reference / self.p50
        } else {
            self.p50 / reference
        }
    }

    fn better(&self, a: f64, b: f64) -> bool {
        if self.unit.higher_is_better {
            a > b
        } else {
            a < b
        }
    }

    /// Whether filemap's row loses to its best peer (a row that measures the scheduler
    /// neither loses nor wins).
    pub fn loses(&self) -> bool {
        self.kind == Kind::Filemap
            && !self.scheduler_bound
            && self.ratio_to_best_peer.is_some_and(|r| r > 1.0)
    }
}

/// The rows of a run.
#[derive(Default)]
pub struct Results {
    pub rows: Vec<Row>,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

impl Results {
    /// Adds one repetition's sample to its row (made on first use).
    #[allow(clippy::too_many_arguments)]
    pub fn add(
        &mut self,
        section: usize,
        scenario: &'static str,
        size: u64,
        system: &str,
        kind: Kind,
        unit: Unit,
        sample: Sample,
    ) {
        if let Some(row) = self
            .rows
            .iter_mut()
            .find(|r| r.scenario == scenario && r.size == size && r.system == system)
        {
            row.samples.push(sample);
            return;
        }
        self.rows.push(Row {
            section,
            scenario,
            size,
            system: system.to_string(),
            kind,
            unit,
            samples: vec![sample],
            extra: String::new(),
            scheduler_bound: false,
            copies: None,
            peer_key: None,
            p50: f64::NAN,
            p99: None,
            min: f64::NAN,
            max: f64::NAN,
            ratio_to_floor: None,
            ratio_to_best_peer: None,
            best_peer: None,
            within_noise: false,
        });
    }

    /// Fills the extra column of every row of `section` with `extra(row)`.
    pub fn set_extras(&mut self, section: usize, extra: impl Fn(&Row) -> String) {
        for row in self.rows.iter_mut().filter(|r| r.section == section) {
            row.extra = extra(row);
        }
    }

    /// Medians, spreads and ratios.
    pub fn finish(&mut self) {
        for row in &mut self.rows {
            let p50s: Vec<f64> = row.samples.iter().map(|s| s.p50).collect();
            row.min = p50s.iter().copied().fold(f64::INFINITY, f64::min);
            row.max = p50s.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            row.p50 = median(p50s);
            let p99s: Vec<f64> = row.samples.iter().filter_map(|s| s.p99).collect();
            row.p99 = (!p99s.is_empty()).then(|| median(p99s));
        }
        for i in 0..self.rows.len() {
            let (scenario, size) = (self.rows[i].scenario, self.rows[i].size);
            let group = || {
                self.rows
                    .iter()
                    .filter(move |r| r.scenario == scenario && r.size == size)
            };
            let floor = group().find(|r| r.kind == Kind::Floor).map(|r| r.p50);
            let (copies, key) = (self.rows[i].copies, self.rows[i].peer_key);
            let best = group()
                .filter(|r| r.kind == Kind::Peer && !r.scheduler_bound)
                // Like with like: a copying row against copying peers, a row under one
                // runtime against peers under the same.
                .filter(|r| copies.is_none() || r.copies.is_none() || r.copies == copies)
                .filter(|r| key.is_none() || r.peer_key.is_none() || r.peer_key == key)
                .fold(None::<&Row>, |best, r| match best {
                    Some(b) if !r.better(r.p50, b.p50) => Some(b),
                    _ => Some(r),
                })
                .map(|r| (r.p50, r.system.clone(), (r.min, r.max)));
            let row = &self.rows[i];
            let ratio_to_floor = floor
                .filter(|_| row.kind != Kind::Floor)
                .map(|f| row.cost_ratio(f));
            let to_best = best
                .as_ref()
                .filter(|_| !row.scheduler_bound)
                .filter(|_| row.kind != Kind::Peer || row.system != best.as_ref().unwrap().1)
                .map(|(b, name, (low, high))| {
                    let overlap = row.min <= *high && *low <= row.max;
                    (row.cost_ratio(*b), name.clone(), overlap)
                });
            let row = &mut self.rows[i];
            row.ratio_to_floor = ratio_to_floor;
            row.ratio_to_best_peer = to_best.as_ref().map(|t| t.0);
            row.within_noise = to_best.as_ref().is_some_and(|t| t.0 < 1.0 + NOISE && t.2);
            row.best_peer = to_best.map(|t| t.1);
        }
    }

    /// One JSON object per row.
    pub fn json(&self) -> serde_json::Value {
        serde_json::Value::Array(
            self.rows
                .iter()
                .map(|r| {
                    json!({
                        "section": r.section,
                        "scenario": r.scenario,
                        "size": r.size,
                        "system": r.system,
                        "kind": r.kind.name(),
                        "p50": r.p50,
                        "p99": r.p99,
                        "min": r.min,
                        "max": r.max,
                        "repetitions": r.samples.len(),
                        "unit": r.unit.name,
                        "ratio_to_floor": r.ratio_to_floor,
                        "ratio_to_best_peer": r.ratio_to_best_peer,
                        "best_peer": r.best_peer,
                    })
                })
                .collect(),
        )
    }

    /// The rows of a section as a Markdown table (`extra`: the heading of the rows' extra
    /// column, if they have one).
    pub fn table(&self, section: usize, extra: Option<&str>) -> String {
        let rows: Vec<&Row> = self.rows.iter().filter(|r| r.section == section).collect();
        let with_p99 = rows.iter().any(|r| r.p99.is_some());
        let reps = rows.iter().map(|r| r.samples.len()).max().unwrap_or(0);
        let mut head = vec![
            "scenario".to_string(),
            "size".into(),
            "system".into(),
            format!("median of {reps} runs"),
        ];
        if with_p99 {
            // (Rows of rates and totals, beside rows of latencies, have no percentiles.)
            let mixed = rows.iter().any(|r| r.p99.is_none());
            head[3] = if mixed {
                format!("p50, or the value (median of {reps} runs)")
            } else {
                format!("p50 (median of {reps} runs)")
            };
            head.push("p99 (median of the runs')".into());
        }
        head.extend([
            "spread (min – max)".into(),
            "× floor".into(),
            "× best peer".into(),
        ]);
        if let Some(e) = extra {
            head.push(e.into());
        }
        head.push("note".into());
        let mut t = format!("| {} |\n|{}\n", head.join(" | "), "---|".repeat(head.len()));
        for r in rows {
            let unit = r.unit.name;
            let bold = if r.kind == Kind::Filemap { "**" } else { "" };
            let mut cells = vec![
                r.scenario.to_string(),
                size_text(r.size),
                format!("{bold}{}{bold}", r.system),
                format!("{} {unit}", number(r.p50)),
            ];
            if with_p99 {
                cells.push(
                    r.p99
                        .map_or("–".into(), |p| format!("{} {unit}", number(p))),
                );
            }
            cells.push(format!("{} – {}", number(r.min), number(r.max)));
            cells.push(ratio_text(r.ratio_to_floor));
            cells.push(ratio_text(r.ratio_to_best_peer));
            if extra.is_some() {
                cells.push(r.extra.clone());
            }
            cells.push(note(r));
            let _ = writeln!(t, "| {} |", cells.join(" | "));
        }
        t
    }

    /// The rows where filemap loses to a peer, but for those within the noise.
    pub fn losses(&self) -> Vec<&Row> {
        self.rows
            .iter()
            .filter(|r| r.loses() && !r.within_noise)
            .collect()
    }

    /// The rows where filemap is slower than a peer within the noise (see
    /// [`Row::within_noise`]).
    pub fn near_losses(&self) -> Vec<&Row> {
        self.rows
            .iter()
            .filter(|r| r.loses() && r.within_noise)
            .collect()
    }
}

/// A difference smaller than this (5%), where the two rows' repetitions overlap, is within
/// what repeated runs on a shared machine move by: such a loss is marked in the tables but
/// not discussed. (A smaller loss whose repetitions do not overlap is discussed.)
pub const NOISE: f64 = 0.05;

/// The note column: says plainly where filemap loses.
fn note(r: &Row) -> String {
    if r.scheduler_bound {
        return "more busy-polling processes than cores: measures the scheduler".into();
    }
    if !r.loses() {
        return String::new();
    }
    let ratio = r.ratio_to_best_peer.unwrap_or(1.0);
    let peer = r.best_peer.as_deref().unwrap_or("a peer");
    let more = (ratio - 1.0) * 100.0;
    let what = if r.unit.name == M_MSGS_S.name {
        "time per message"
    } else if r.unit.higher_is_better {
        "time per byte"
    } else {
        "time"
    };
    let noise = if r.within_noise { ", within noise" } else { "" };
    format!(
        "**filemap slower than {peer}** ({}% more {what}{noise})",
        if more < 10.0 {
            format!("{more:.1}")
        } else {
            format!("{more:.0}")
        }
    )
}

pub fn ratio_text(r: Option<f64>) -> String {
    match r {
        Some(r) if r >= 100.0 => format!("{r:.0}×"),
        Some(r) if r >= 10.0 => format!("{r:.1}×"),
        Some(r) if r >= 0.1 => format!("{r:.2}×"),
        Some(r) if r >= 0.001 => format!("{r:.3}×"),
        Some(_) => "<0.001×".into(),
        None => "–".into(),
    }
}

/// Three significant digits, no exponent.
pub fn number(v: f64) -> String {
    if !v.is_finite() {
        return "–".into();
    }
    let a = v.abs();
    if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

pub fn size_text(size: u64) -> String {
    match size {
        0 => "–".into(),
        s if s >= 1 << 30 && s % (1 << 30) == 0 => format!("{} GiB", s >> 30),
        s if s >= 1 << 20 && s % (1 << 20) == 0 => format!("{} MiB", s >> 20),
        s if s >= 1 << 10 && s % (1 << 10) == 0 => format!("{} KiB", s >> 10),
        s => format!("{s} B"),
    }
}

/// The chart: one-way latency (p50) against message size, log-log, one line per system of
/// the latency scenario, written as SVG to `path`.
pub fn latency_chart(results: &Results, scenario: &str, path: &Path) -> Result<()> {
    let points: Vec<(String, f64, f64)> = results
        .rows
        .iter()
        .filter(|r| r.scenario == scenario && r.size > 0)
        .map(|r| (r.system.clone(), r.size as f64, r.p50))
        .collect();
    log_log_chart(
        &Chart {
            caption: "One-way latency between two processes (p50, log-log)",
            x_desc: "message size",
            y_desc: "one-way latency",
            x_in_bytes: true,
            points,
        },
        path,
    )
}

/// A log-log chart of lines: each point is (line, x, y in nanoseconds).
pub struct Chart<'a> {
    pub caption: &'a str,
    pub x_desc: &'a str,
    pub y_desc: &'a str,
    /// Label the x axis in bytes (B, kB, MB); otherwise as plain counts.
    pub x_in_bytes: bool,
    pub points: Vec<(String, f64, f64)>,
}

/// Draws `chart` as SVG to `path`; lines whose name starts with "filemap" are thicker.
pub fn log_log_chart(chart_spec: &Chart<'_>, path: &Path) -> Result<()> {
    use plotters::prelude::*;

    let points = &chart_spec.points;
    let mut systems: Vec<&str> = Vec::new();
    for (system, _, _) in points {
        if !systems.contains(&system.as_str()) {
            systems.push(system);
        }
    }
    let xs = || points.iter().map(|p| p.1);
    let ys = || points.iter().map(|p| p.2);
    if points.is_empty() {
        return Err(crate::err(format!("no points for {}", chart_spec.caption)));
    }
    let (lo_x, hi_x) = (xs().fold(f64::INFINITY, f64::min), xs().fold(0.0, f64::max));
    let lo = ys().fold(f64::INFINITY, f64::min) * 0.7;
    let hi = ys().fold(0.0, f64::max) * 1.5;
    let chart_err = |e: &dyn std::fmt::Display| crate::err(format!("chart: {e}"));

    let root = SVGBackend::new(path, (900, 600)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| chart_err(&e))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(chart_spec.caption, ("sans-serif", 22))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(70)
        .build_cartesian_2d((lo_x * 0.8..hi_x * 1.25).log_scale(), (lo..hi).log_scale())
        .map_err(|e| chart_err(&e))?;
    let in_bytes = chart_spec.x_in_bytes;
    chart
        .configure_mesh()
        .x_desc(chart_spec.x_desc)
        .y_desc(chart_spec.y_desc)
        .label_style(("sans-serif", 14))
        .axis_desc_style(("sans-serif", 15))
        .x_label_formatter(&|x| {
            let v = x.round();
            match (in_bytes, v) {
                (true, v) if v >= 1e6 => format!("{} MB", v / 1e6),
                (true, v) if v >= 1e3 => format!("{} kB", v / 1e3),
                (true, v) => format!("{v} B"),
                (false, v) => format!("{v}"),
            }
        })
        .y_label_formatter(&|y| {
            if *y >= 1e6 {
                format!("{} ms", number(y / 1e6))
            } else if *y >= 1e3 {
                format!("{} µs", number(y / 1e3))
            } else {
                format!("{} ns", number(*y))
            }
        })
        .draw()
        .map_err(|e| chart_err(&e))?;
    for (i, system) in systems.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        let line: Vec<(f64, f64)> = points
            .iter()
            .filter(|p| p.0 == *system)
            .map(|p| (p.1, p.2))
            .collect();
        let width = if system.starts_with("filemap") { 3 } else { 2 };
        chart
            .draw_series(LineSeries::new(line.clone(), color.stroke_width(width)))
            .map_err(|e| chart_err(&e))?
            .label(*system)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(width))
            });
        chart
            .draw_series(line.into_iter().map(|p| Circle::new(p, 3, color.filled())))
            .map_err(|e| chart_err(&e))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .label_font(("sans-serif", 14))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(|e| chart_err(&e))?;
    root.present().map_err(|e| chart_err(&e))?;
    Ok(())
}
