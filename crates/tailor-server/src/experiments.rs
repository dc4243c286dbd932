//! A/B experiments (`[[experiment]]`): variants with traffic shares, each served by a
//! registry model (merged with the live model) or by the live model alone (`model =
//! "live"`). Assignment is sticky: a hash of the experiment name and the user id (else the
//! anonymous id) picks the variant. Results come from attribution: per variant, CTR and
//! conversion with 95 % Wilson intervals, and a sample-ratio-mismatch check (χ² of served
//! lists against the configured shares).

use serde::{Deserialize, Serialize};

use crate::attribution::{Counts, StatsRow};

/// The model name that means "the live model alone".
pub const LIVE: &str = "live";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExperimentConfig {
    pub name: String,
    /// Only requests with this `surface` take part (absent: every request).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub surface: Option<String>,
    pub variants: Vec<VariantConfig>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VariantConfig {
    pub name: String,
    /// A registry model name, or `live`.
    pub model: String,
    /// Share of traffic (the shares of an experiment add up to 1).
    pub share: f64,
}

fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
}

/// Checks `[[experiment]]` entries; errors name the entry and field.
pub fn validate(list: &[ExperimentConfig]) -> Result<(), String> {
    for (i, e) in list.iter().enumerate() {
        let at = format!("experiment[{i}]");
        if !is_token(&e.name) {
            return Err(format!(
                "{at}.name: {:?} must be 1-64 letters, digits, '_', '-' or '.'",
                e.name
            ));
        }
        if list[..i].iter().any(|o| o.name == e.name) {
            return Err(format!("{at}.name: {:?} is used twice", e.name));
        }
        if e.variants.len() < 2 {
            return Err(format!(
                "{at}.variants: an experiment needs at least 2 variants"
            ));
        }
        for (j, v) in e.variants.iter().enumerate() {
            let vat = format!("{at}.variants[{j}]");
            if !is_token(&v.name) || e.variants[..j].iter().any(|o| o.name == v.name) {
                return Err(format!(
                    "{vat}.name: {:?} must be a unique name of letters, digits, '_', '-' or '.'",
                    v.name
                ));
            }
            if v.model != LIVE {
                tailor_rec::registry::check_name(&v.model)
                    .map_err(|err| format!("{vat}.model: {err}"))?;
            }
            if !(v.share > 0.0 && v.share <= 1.0) {
                return Err(format!("{vat}.share: must be in (0, 1], got {}", v.share));
            }
        }
        let total: f64 = e.variants.iter().map(|v| v.share).sum();
        if (total - 1.0).abs() > 1e-6 {
            return Err(format!("{at}.variants: shares add up to {total}, not 1"));
        }
    }
    Ok(())
}

/// FNV-1a with a splitmix64 finalizer (FNV's high bits alone are poorly mixed for short
/// ids), stable across builds and platforms: assignments must not move on upgrade.
fn fnv(parts: &[&str]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for p in parts {
        for b in p.bytes().chain([0xff]) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    crate::mix::mix64(h)
}

impl ExperimentConfig {
    /// Whether a request on `surface` takes part.
    pub fn applies(&self, surface: &str) -> bool {
        self.surface.as_deref().is_none_or(|s| s == surface)
    }

    /// The variant of `unit` (the user or anonymous id): the same unit always gets the same.
    pub fn assign(&self, unit: &str) -> &VariantConfig {
        let x = (fnv(&[&self.name, unit]) >> 11) as f64 / (1u64 << 53) as f64;
        let mut acc = 0.0;
        for v in &self.variants {
            acc += v.share;
            if x < acc {
                return v;
            }
        }
        self.variants
            .last()
            .unwrap_or_else(|| unreachable!("validated: at least 2 variants"))
    }

    /// The attribution variant label of `v`.
    pub fn label(&self, v: &VariantConfig) -> String {
        format!("{}/{}", self.name, v.name)
    }
}

/// A 95 % Wilson score interval for `k` successes in `n` trials.
pub fn wilson(k: u64, n: u64) -> Option<(f64, f64)> {
    if n == 0 {
        return None;
    }
    let (n, p, z) = (n as f64, k as f64 / n as f64, 1.959_964);
    let d = 1.0 + z * z / n;
    let c = (p + z * z / (2.0 * n)) / d;
    let h = z * (p * (1.0 - p) / n + z * z / (4.0 * n * n)).sqrt() / d;
    Some(((c - h).max(0.0), (c + h).min(1.0)))
}

/// χ² critical values at p = 0.001 for 1..=10 degrees of freedom.
const CHI2_001: [f64; 10] = [
    10.828, 13.816, 16.266, 18.467, 20.515, 22.458, 24.322, 26.124, 27.877, 29.588,
];

#[derive(Debug, Clone, Serialize)]
pub struct VariantResult {
    pub name: String,
    pub model: String,
    pub share: f64,
    #[serde(flatten)]
    pub counts: Counts,
    pub ctr: Option<f64>,
    pub ctr_ci95: Option<(f64, f64)>,
    pub conversion_rate: Option<f64>,
    pub conversion_ci95: Option<(f64, f64)>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Srm {
    pub chi2: f64,
    pub degrees_of_freedom: usize,
    /// χ² at p = 0.001 for these degrees of freedom.
    pub critical_p001: f64,
    /// Served counts differ from the shares more than chance explains (p < 0.001): the
    /// assignment or the logging is broken, and the results are not to be trusted.
    pub mismatch: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct ExperimentResult {
    #[serde(flatten)]
    pub config: ExperimentConfig,
    pub results: Vec<VariantResult>,
    pub sample_ratio: Srm,
}

/// The results of `e` from attribution rows (summed over models and surfaces).
pub fn results(e: &ExperimentConfig, rows: &[StatsRow]) -> ExperimentResult {
    let results: Vec<VariantResult> = e
        .variants
        .iter()
        .map(|v| {
            let label = e.label(v);
            let mut c = Counts::default();
            for r in rows.iter().filter(|r| r.arm.variant == label) {
                c.served += r.counts.served;
                c.impressions += r.counts.impressions;
                c.clicks += r.counts.clicks;
                c.add_to_carts += r.counts.add_to_carts;
                c.purchases += r.counts.purchases;
                c.revenue += r.counts.revenue;
            }
            let rate = |k: u64| (c.impressions > 0).then(|| k as f64 / c.impressions as f64);
            VariantResult {
                name: v.name.clone(),
                model: v.model.clone(),
                share: v.share,
                ctr: rate(c.clicks),
                ctr_ci95: wilson(c.clicks, c.impressions),
                conversion_rate: rate(c.purchases),
                conversion_ci95: wilson(c.purchases, c.impressions),
                counts: c,
            }
        })
        .collect();
    let total: u64 = results.iter().map(|r| r.counts.served).sum();
    let chi2: f64 = results
        .iter()
        .map(|r| {
            let expected = r.share * total as f64;
            if expected > 0.0 {
                (r.counts.served as f64 - expected).powi(2) / expected
            } else {
                0.0
            }
        })
        .sum();
    let df = results.len().saturating_sub(1).max(1);
    let critical = CHI2_001[(df - 1).min(CHI2_001.len() - 1)];
    ExperimentResult {
        config: e.clone(),
        results,
        sample_ratio: Srm {
            chi2,
            degrees_of_freedom: df,
            critical_p001: critical,
            mismatch: chi2 > critical,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exp(shares: &[f64]) -> ExperimentConfig {
        ExperimentConfig {
            name: "e1".into(),
            surface: None,
            variants: shares
                .iter()
                .enumerate()
                .map(|(i, s)| VariantConfig {
                    name: format!("v{i}"),
                    model: if i == 0 {
                        LIVE.into()
                    } else {
                        "default".into()
                    },
                    share: *s,
                })
                .collect(),
        }
    }

    #[test]
    fn assignment_is_sticky_and_follows_the_shares() {
        for (shares, ids) in [(&[0.2, 0.8][..], "user-"), (&[0.5, 0.5][..], "u")] {
            let e = exp(shares);
            for n in [200usize, 20_000] {
                let mut n0 = 0;
                for u in 0..n {
                    let id = format!("{ids}{u}");
                    let v = e.assign(&id);
                    assert_eq!(v.name, e.assign(&id).name, "sticky");
                    n0 += usize::from(v.name == "v0");
                }
                // Within 4 binomial standard errors.
                let (p, share) = (shares[0], n0 as f64 / n as f64);
                let se = (p * (1.0 - p) / n as f64).sqrt();
                assert!((share - p).abs() < 4.0 * se, "{shares:?} {n}: {share}");
            }
        }
    }

    #[test]
    fn validation_names_the_field() {
        assert!(validate(&[exp(&[0.5, 0.5])]).is_ok());
        let e = validate(&[exp(&[0.5, 0.4])]).expect_err("sum");
        assert!(
            e.contains("experiment[0].variants") && e.contains("0.9"),
            "{e}"
        );
        let e = validate(&[exp(&[1.0])]).expect_err("one variant");
        assert!(e.contains("at least 2"), "{e}");
        let mut bad = exp(&[0.5, 0.5]);
        bad.variants[1].model = "../x".into();
        assert!(validate(&[bad])
            .expect_err("model")
            .contains("experiment[0].variants[1].model"));
    }

    #[test]
    fn wilson_interval_and_srm() {
        let (lo, hi) = wilson(10, 100).expect("ci");
        assert!(
            (lo - 0.0552).abs() < 1e-3 && (hi - 0.1744).abs() < 1e-3,
            "{lo} {hi}"
        );
        assert_eq!(wilson(0, 0), None);
        let e = exp(&[0.5, 0.5]);
        let row = |v: &str, served: u64| StatsRow {
            arm: crate::attribution::Arm {
                model: "m".into(),
                variant: format!("e1/{v}"),
                surface: "home".into(),
            },
            counts: Counts {
                served,
                ..Counts::default()
            },
            ctr: None,
            add_to_cart_rate: None,
            conversion_rate: None,
        };
        let fair = results(&e, &[row("v0", 5_020), row("v1", 4_980)]);
        assert!(!fair.sample_ratio.mismatch, "{:?}", fair.sample_ratio);
        let skewed = results(&e, &[row("v0", 5_400), row("v1", 4_600)]);
        assert!(skewed.sample_ratio.mismatch, "{:?}", skewed.sample_ratio);
        assert!((skewed.sample_ratio.chi2 - 64.0).abs() < 1e-9);
    }
}
