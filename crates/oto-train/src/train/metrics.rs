//! Per-epoch metrics: one JSON object per line in `metrics.jsonl`, and PNG curves drawn with
//! plotters' bitmap backend and a bundled font (DejaVu Sans from the `dejavu` crate), so no
//! system font or library is needed.
use serde::{Deserialize, Serialize};
use std::path::Path;

use crate::optim::OptimStats;
use crate::TrainError;

/// Everything logged for one epoch.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// 1-based epoch number.
    pub epoch: usize,
    /// Global step count at the end of the epoch.
    pub step: usize,
    /// Learning rate of the last step.
    pub lr: f64,
    pub train_loss: f64,
    /// Training top-1 accuracy over the epoch (classification).
    pub train_acc: Option<f64>,
    pub test_loss: Option<f64>,
    pub test_top1: Option<f64>,
    pub test_top5: Option<f64>,
    /// Super-resolution: PSNR (dB) on the Y channel.
    pub test_psnr: Option<f64>,
    /// Wall time of the training part of the epoch and its throughput.
    pub train_seconds: f64,
    pub samples_per_second: f64,
    /// Steps skipped for a non-finite loss or gradient (`--skip-nonfinite`; absent when none).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub skipped_steps: usize,
    /// The optimizer's statistics at the end of the epoch (group sparsity, ω, λ, stage), stored
    /// flat in `metrics.jsonl` (`"group_sparsity": …` next to `"test_top1": …`).
    #[serde(flatten)]
    pub optim: OptimStats,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl EpochRecord {
    /// The headline test metric: top-1 (%) or PSNR (dB).
    pub fn headline(&self) -> Option<f64> {
        self.test_top1.or(self.test_psnr)
    }
    /// One human-readable line.
    pub fn summary(&self, epochs: usize) -> String {
        let mut s = format!("epoch {}/{} lr {:.4e} loss {:.4}", self.epoch, epochs, self.lr, self.train_loss);
        if let Some(a) = self.train_acc {
            s += &format!(" train-acc {:.2}%", a);
        }
        if let Some(a) = self.test_top1 {
            s += &format!(" test-top1 {:.2}%", a);
        }
        if let Some(a) = self.test_top5 {
            s += &format!(" top5 {:.2}%", a);
        }
        if let Some(p) = self.test_psnr {
            s += &format!(" test-psnr {:.3} dB", p);
        }
        s += &format!(" ({:.1} s, {:.0} samples/s)", self.train_seconds, self.samples_per_second);
        if let Some(g) = self.optim.group_sparsity {
            s += &format!(" | sparsity {:.3}", g);
            match (self.optim.zero_rows, self.optim.target_zero_rows) {
                (Some(z), Some(t)) => s += &format!(" zero rows {z}/{t}"),
                (Some(z), None) => s += &format!(" zero rows {z}"),
                _ => {}
            }
            if let (Some(p), Some(n)) = (self.optim.omega_p, self.optim.omega_np) {
                s += &format!(" ω_p {:.3e} ω_np {:.3e}", p, n);
            }
            if let (Some(m), Some(x)) = (self.optim.lambda_mean, self.optim.lambda_max) {
                s += &format!(" λ mean {:.2e} max {:.2e}", m, x);
            }
            if let (Some(k), Some(t)) = (self.optim.macs_kept, self.optim.target_macs) {
                s += &format!(" MACs kept {:.1}% (target {:.1}%)", 100.0 * k, 100.0 * t);
            }
            if let Some(st) = &self.optim.stage {
                s += &format!(" [{st}]");
            }
        }
        s
    }
}

/// Writes all records as JSONL (atomically).
pub fn write_jsonl(path: &Path, records: &[EpochRecord]) -> Result<(), TrainError> {
    let mut text = String::new();
    for r in records {
        text += &serde_json::to_string(r).unwrap_or_default();
        text.push('\n');
    }
    oto_onnx::write_atomic(path, text.as_bytes())
        .map_err(|e| TrainError::Io { path: path.display().to_string(), source: std::io::Error::other(e.to_string()) })
}

/// Reads a metrics.jsonl.
pub fn read_jsonl(path: &Path) -> Result<Vec<EpochRecord>, TrainError> {
    let text = std::fs::read_to_string(path).map_err(|e| TrainError::Io { path: path.display().to_string(), source: e })?;
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).map_err(|e| TrainError::Config(format!("{}: {e}", path.display()))))
        .collect()
}

static FONT: std::sync::Once = std::sync::Once::new();

fn register_font() {
    use plotters::style::FontStyle;
    FONT.call_once(|| {
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, dejavu::sans::regular());
        let _ = plotters::style::register_font("sans-serif", FontStyle::Bold, dejavu::sans::bold());
    });
}

type Series<'a> = (&'a str, Vec<(f64, f64)>, plotters::style::RGBColor);

fn panel<DB: plotters::prelude::DrawingBackend>(
    area: &plotters::prelude::DrawingArea<DB, plotters::coord::Shift>,
    title: &str,
    series: &[Series],
) -> Result<(), String>
where
    DB::ErrorType: 'static,
{
    use plotters::prelude::*;
    let pts: Vec<(f64, f64)> = series.iter().flat_map(|s| s.1.iter().copied()).filter(|p| p.1.is_finite()).collect();
    if pts.is_empty() {
        return Ok(());
    }
    let (mut x0, mut x1) = pts.iter().fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(p.0), b.max(p.0)));
    let (mut y0, mut y1) = pts.iter().fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(p.1), b.max(p.1)));
    if x1 <= x0 {
        x0 -= 0.5;
        x1 += 0.5;
    }
    let pad = ((y1 - y0) * 0.05).max(1e-6);
    y0 -= pad;
    y1 += pad;
    let mut ch = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 18))
        .margin(8)
        .x_label_area_size(28)
        .y_label_area_size(52)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(|e| e.to_string())?;
    ch.configure_mesh().x_desc("epoch").light_line_style(WHITE.mix(0.0)).draw().map_err(|e| e.to_string())?;
    for (name, data, col) in series {
        if data.is_empty() {
            continue;
        }
        let c = *col;
        ch.draw_series(LineSeries::new(data.iter().copied(), c.stroke_width(2)))
            .map_err(|e| e.to_string())?
            .label(*name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], c.stroke_width(2)));
        ch.draw_series(data.iter().map(|&p| Circle::new(p, 3, c.filled()))).map_err(|e| e.to_string())?;
    }
    ch.configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 13))
        .draw()
        .map_err(|e| e.to_string())?;
    Ok(())
}

/// The target group sparsity per epoch, in the units of `group_sparsity` (rows scaled by the
/// achieved ratio, since the target is counted in rows).
fn target_series(records: &[EpochRecord]) -> Vec<(f64, f64)> {
    records
        .iter()
        .filter_map(|r| {
            let (z, t, s) = (r.optim.zero_rows?, r.optim.target_zero_rows?, r.optim.group_sparsity?);
            (z > 0 && t > 0).then(|| (r.epoch as f64, s * t as f64 / z as f64))
        })
        .collect()
}

/// The pruning panel: group sparsity against its target (a row count), and with a FLOPs target
/// the share of MACs kept against the requested share (the target the run actually stops at).
fn sparsity_panel(records: &[EpochRecord]) -> (&'static str, Vec<Series<'static>>) {
    use plotters::prelude::*;
    let ep = |f: &dyn Fn(&EpochRecord) -> Option<f64>| -> Vec<(f64, f64)> {
        records.iter().filter_map(|r| f(r).map(|v| (r.epoch as f64, v))).collect()
    };
    let mut series = vec![("achieved", ep(&|r| r.optim.group_sparsity), RGBColor(140, 0, 160)), ("target", target_series(records), BLACK)];
    if records.iter().any(|r| r.optim.macs_kept.is_some()) {
        series[0].0 = "group sparsity";
        series.push(("MACs kept", ep(&|r| r.optim.macs_kept), RGBColor(0, 150, 0)));
        series.push(("MACs target", ep(&|r| r.optim.target_macs), RGBColor(120, 120, 120)));
        return ("group sparsity / MACs kept", series);
    }
    ("group sparsity", series)
}

/// Draws the curves of a run into a PNG: loss, test metric, and (when pruning) group sparsity.
pub fn plot_curves(path: &Path, records: &[EpochRecord]) -> Result<(), TrainError> {
    use plotters::prelude::*;
    register_font();
    let pruning = records.iter().any(|r| r.optim.group_sparsity.is_some());
    let panels = if pruning { 3 } else { 2 };
    let tmp = path.with_extension("png.tmp.png");
    let err = |e: String| TrainError::Io { path: path.display().to_string(), source: std::io::Error::other(e) };
    {
        let root = BitMapBackend::new(&tmp, (460 * panels as u32, 380)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err(e.to_string()))?;
        let areas = root.split_evenly((1, panels));
        let ep = |f: &dyn Fn(&EpochRecord) -> Option<f64>| -> Vec<(f64, f64)> {
            records.iter().filter_map(|r| f(r).map(|v| (r.epoch as f64, v))).collect()
        };
        panel(
            &areas[0],
            "loss",
            &[("train", ep(&|r| Some(r.train_loss)), BLUE), ("test", ep(&|r| r.test_loss), RED)],
        )
        .map_err(err)?;
        if records.iter().any(|r| r.test_psnr.is_some()) {
            panel(&areas[1], "test PSNR (dB, Y)", &[("test", ep(&|r| r.test_psnr), RED)]).map_err(err)?;
        } else {
            panel(
                &areas[1],
                "accuracy (%)",
                &[
                    ("train top-1", ep(&|r| r.train_acc), BLUE),
                    ("test top-1", ep(&|r| r.test_top1), RED),
                    ("test top-5", ep(&|r| r.test_top5), RGBColor(0, 150, 0)),
                ],
            )
            .map_err(err)?;
        }
        if pruning {
            let (title, series) = sparsity_panel(records);
            panel(&areas[2], title, &series).map_err(err)?;
        }
        root.present().map_err(|e| err(e.to_string()))?;
    }
    std::fs::rename(&tmp, path).map_err(|e| TrainError::Io { path: path.display().to_string(), source: e })
}

/// Dense vs OTO on one picture (the benchmark campaign, docs/benchmarks.md): the test metric
/// (top-1 or PSNR) of both runs per epoch, and the OTO run's group sparsity against its target.
pub fn plot_comparison(path: &Path, title: &str, dense: &[EpochRecord], oto: &[EpochRecord]) -> Result<(), TrainError> {
    use plotters::prelude::*;
    register_font();
    let tmp = path.with_extension("png.tmp.png");
    let err = |e: String| TrainError::Io { path: path.display().to_string(), source: std::io::Error::other(e) };
    {
        let root = BitMapBackend::new(&tmp, (920, 400)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err(e.to_string()))?;
        let (top, body) = root.split_vertically(28);
        top.draw(&Text::new(title.to_string(), (10, 6), ("sans-serif", 18).into_font())).map_err(|e| err(e.to_string()))?;
        let areas = body.split_evenly((1, 2));
        let headline = |r: &EpochRecord| r.test_top1.or(r.test_psnr);
        let ep = |rs: &[EpochRecord], f: &dyn Fn(&EpochRecord) -> Option<f64>| -> Vec<(f64, f64)> {
            rs.iter().filter_map(|r| f(r).map(|v| (r.epoch as f64, v))).collect()
        };
        let what = if dense.iter().chain(oto).any(|r| r.test_psnr.is_some()) { "test PSNR (dB, Y)" } else { "test top-1 (%)" };
        panel(&areas[0], what, &[("dense", ep(dense, &headline), BLUE), ("oto (DHSPG)", ep(oto, &headline), RED)]).map_err(err)?;
        let (title, series) = sparsity_panel(oto);
        panel(&areas[1], &format!("{title} (oto)"), &series).map_err(err)?;
        root.present().map_err(|e| err(e.to_string()))?;
    }
    std::fs::rename(&tmp, path).map_err(|e| TrainError::Io { path: path.display().to_string(), source: e })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn optimizer_stats_are_flat_in_the_jsonl_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("metrics.jsonl");
        let rec = EpochRecord {
            epoch: 2,
            step: 40,
            test_top1: Some(51.5),
            optim: OptimStats {
                group_sparsity: Some(0.25),
                zero_rows: Some(3),
                target_zero_rows: Some(12),
                lambda_max: Some(1e-2),
                stage: Some("pruning".into()),
                ..Default::default()
            },
            ..Default::default()
        };
        write_jsonl(&path, &[rec.clone(), EpochRecord::default()]).unwrap();
        let line: serde_json::Value = serde_json::from_str(std::fs::read_to_string(&path).unwrap().lines().next().unwrap()).unwrap();
        assert_eq!(line["group_sparsity"], 0.25);
        assert_eq!(line["zero_rows"], 3);
        assert_eq!(line["stage"], "pruning");
        assert!(line.get("optim").is_none() && line.get("event").is_none(), "{line}");
        assert_eq!(read_jsonl(&path).unwrap(), vec![rec, EpochRecord::default()]);
    }

    #[test]
    fn reads_a_line_written_by_earlier_versions() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("metrics.jsonl");
        let line = r#"{"epoch":3,"step":600,"lr":0.07,"train_loss":0.41,"train_acc":85.1,"test_loss":0.39,"test_top1":86.2,"test_top5":99.6,"test_psnr":null,"train_seconds":14.2,"samples_per_second":901.0,"group_sparsity":0.5,"zero_rows":152,"target_zero_rows":152,"omega_p":0.0,"omega_np":61.2,"lambda_mean":null,"lambda_max":null,"stage":"after_target"}"#;
        std::fs::write(&path, format!("{line}\n")).unwrap();
        let r = &read_jsonl(&path).unwrap()[0];
        assert_eq!((r.epoch, r.test_top1, r.optim.zero_rows), (3, Some(86.2), Some(152)));
        assert_eq!(r.optim.stage.as_deref(), Some("after_target"));
        assert_eq!(r.optim.lambda_mean, None);
    }
}
