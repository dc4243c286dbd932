//! The evaluation report: all models side by side, as a text table, JSON or an SVG chart of
//! HR@k against k.

use std::fmt::Write;

use serde::{Deserialize, Serialize};

use super::svg::{line_chart, Series};
use super::{Protocol, SplitStats};

/// One model's results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelReport {
    pub name: String,
    pub train_secs: f64,
    /// Mean seconds per training iteration (iterative models).
    pub secs_per_iteration: Option<f64>,
    /// Seconds to answer every test case.
    pub eval_secs: f64,
    /// `(name, value)`, e.g. `("HR@10", 0.21)`, in display order.
    pub metrics: Vec<(String, f64)>,
    /// Binomial standard error of the first metric (a hit rate).
    pub hr_se: f64,
    /// HR@k for k = 1..=50.
    pub hr_curve: Vec<f64>,
}

impl ModelReport {
    pub fn metric(&self, name: &str) -> Option<f64> {
        self.metrics.iter().find(|m| m.0 == name).map(|m| m.1)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub dataset: String,
    pub protocol: Protocol,
    pub stats: SplitStats,
    pub cases: usize,
    /// Items with at least one training row (the ranked catalog).
    pub catalog: usize,
    pub models: Vec<ModelReport>,
}

impl Report {
    /// The model with the highest value of `metric`.
    pub fn best(&self, metric: &str) -> Option<&ModelReport> {
        self.models.iter().max_by(|a, b| {
            let (x, y) = (
                a.metric(metric).unwrap_or(f64::MIN),
                b.metric(metric).unwrap_or(f64::MIN),
            );
            x.total_cmp(&y)
        })
    }

    /// A fixed-width table, one row per model.
    pub fn to_table(&self) -> String {
        let mut s = String::new();
        let st = &self.stats;
        let _ = writeln!(
            s,
            "{} — {} protocol: {} train rows, {} test cases, catalog {} items; \
             test {} removed as unknown items, {} dropped, {} rows after the cut unused",
            self.dataset,
            self.protocol.name(),
            st.train_rows,
            self.cases,
            self.catalog,
            st.test_unknown_items,
            st.dropped,
            st.dropped_after_cut
        );
        let names: Vec<&str> = self
            .models
            .first()
            .map(|m| m.metrics.iter().map(|x| x.0.as_str()).collect())
            .unwrap_or_default();
        let _ = write!(
            s,
            "{:<22} {:>9} {:>8} {:>8}",
            "model", "train s", "s/iter", "eval s"
        );
        for n in &names {
            let _ = write!(s, " {n:>12}");
        }
        s.push('\n');
        for m in &self.models {
            let per = m
                .secs_per_iteration
                .map_or_else(|| "-".to_owned(), |v| format!("{v:.3}"));
            let _ = write!(
                s,
                "{:<22} {:>9.2} {:>8} {:>8.2}",
                m.name, m.train_secs, per, m.eval_secs
            );
            for (i, n) in names.iter().enumerate() {
                let v = m.metric(n).unwrap_or(f64::NAN);
                if i == 0 {
                    let _ = write!(s, " {:>12}", format!("{v:.4}±{:.4}", m.hr_se));
                } else {
                    let _ = write!(s, " {v:>12.4}");
                }
            }
            s.push('\n');
        }
        s
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    }

    /// HR@k for k = 1..=50, one line per model.
    pub fn hr_svg(&self) -> String {
        let points: Vec<Vec<(f64, f64)>> = self
            .models
            .iter()
            .map(|m| {
                m.hr_curve
                    .iter()
                    .enumerate()
                    .map(|(k, &v)| ((k + 1) as f64, v))
                    .collect()
            })
            .collect();
        let series: Vec<Series<'_>> = self
            .models
            .iter()
            .zip(&points)
            .map(|(m, p)| Series {
                name: &m.name,
                points: p,
            })
            .collect();
        line_chart(
            &format!("{} — {} protocol: HR@k", self.dataset, self.protocol.name()),
            "k",
            "HR@k",
            &series,
        )
    }
}
