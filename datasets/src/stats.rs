//! Feature statistics as LeRobot v3.0 stores them: per episode (in the
//! episodes table) and aggregated (meta/stats.json) with count-weighted means
//! and the parallel-variance formula. Quantiles of the aggregate are the
//! count-weighted mean of the episodes' quantiles, as LeRobot does.

use serde_json::{json, Value};

/// The quantiles v3.0 adds.
pub const QUANTILES: [(&str, f64); 5] = [("q01", 0.01), ("q10", 0.10), ("q50", 0.50), ("q90", 0.90), ("q99", 0.99)];

/// Statistics of one feature (one value per component: channel, or colour).
#[derive(Clone, Debug, PartialEq)]
pub struct Stats {
    /// Per component.
    pub min: Vec<f64>,
    /// Per component.
    pub max: Vec<f64>,
    /// Per component.
    pub mean: Vec<f64>,
    /// Per component (population).
    pub std: Vec<f64>,
    /// Per component, in [`QUANTILES`] order.
    pub quantiles: [Vec<f64>; 5],
    /// Samples (frames).
    pub count: u64,
    /// Image statistics are shaped [3, 1, 1].
    pub image: bool,
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let pos = q * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

impl Stats {
    /// Statistics of `components` columns given row-major values
    /// (`count × components`), NaN ignored.
    pub fn of(values: &[f64], components: usize, image: bool) -> Self {
        let count = values.len().checked_div(components).unwrap_or(0);
        let mut s = Stats {
            min: Vec::new(),
            max: Vec::new(),
            mean: Vec::new(),
            std: Vec::new(),
            quantiles: Default::default(),
            count: count as u64,
            image,
        };
        for c in 0..components {
            let mut col: Vec<f64> = (0..count).map(|r| values[r * components + c]).filter(|v| v.is_finite()).collect();
            col.sort_by(f64::total_cmp);
            let n = col.len().max(1) as f64;
            let mean = col.iter().sum::<f64>() / n;
            let var = col.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n;
            s.min.push(col.first().copied().unwrap_or(f64::NAN));
            s.max.push(col.last().copied().unwrap_or(f64::NAN));
            s.mean.push(mean);
            s.std.push(var.sqrt());
            for (i, (_, q)) in QUANTILES.iter().enumerate() {
                s.quantiles[i].push(quantile(&col, *q));
            }
        }
        s
    }

    /// Aggregates episodes' statistics.
    pub fn aggregate(parts: &[Stats]) -> Option<Stats> {
        let first = parts.first()?;
        let comps = first.mean.len();
        let total: u64 = parts.iter().map(|p| p.count).sum();
        let w = |p: &Stats| p.count as f64 / total.max(1) as f64;
        let mut out = first.clone();
        out.count = total;
        for c in 0..comps {
            out.min[c] = parts.iter().map(|p| p.min[c]).fold(f64::INFINITY, f64::min);
            out.max[c] = parts.iter().map(|p| p.max[c]).fold(f64::NEG_INFINITY, f64::max);
            let mean: f64 = parts.iter().map(|p| w(p) * p.mean[c]).sum();
            let var: f64 = parts.iter().map(|p| w(p) * (p.std[c] * p.std[c] + (p.mean[c] - mean).powi(2))).sum();
            out.mean[c] = mean;
            out.std[c] = var.max(0.0).sqrt();
            for q in 0..QUANTILES.len() {
                out.quantiles[q][c] = parts.iter().map(|p| w(p) * p.quantiles[q][c]).sum();
            }
        }
        Some(out)
    }

    /// One statistic shaped like the feature (`[C]`, or `[3][1][1]` for images).
    pub fn shaped(&self, v: &[f64]) -> Value {
        if self.image {
            Value::Array(v.iter().map(|x| json!([[x]])).collect())
        } else {
            json!(v)
        }
    }

    /// The `meta/stats.json` entry.
    pub fn to_json(&self) -> Value {
        let mut m = serde_json::Map::new();
        m.insert("min".into(), self.shaped(&self.min));
        m.insert("max".into(), self.shaped(&self.max));
        m.insert("mean".into(), self.shaped(&self.mean));
        m.insert("std".into(), self.shaped(&self.std));
        m.insert("count".into(), json!([self.count]));
        for (i, (name, _)) in QUANTILES.iter().enumerate() {
            m.insert((*name).into(), self.shaped(&self.quantiles[i]));
        }
        Value::Object(m)
    }

    /// Reads a `meta/stats.json` entry back (to aggregate when appending).
    pub fn from_json(v: &Value) -> Option<Stats> {
        fn flat(v: &Value, out: &mut Vec<f64>) -> Option<()> {
            match v {
                Value::Array(a) => a.iter().try_for_each(|x| flat(x, out)),
                Value::Number(n) => {
                    out.push(n.as_f64()?);
                    Some(())
                }
                Value::Null => {
                    out.push(f64::NAN);
                    Some(())
                }
                _ => None,
            }
        }
        let get = |k: &str| {
            let mut out = Vec::new();
            flat(v.get(k)?, &mut out)?;
            Some(out)
        };
        let image = v.get("mean")?.as_array()?.first().is_some_and(Value::is_array);
        let mut quantiles: [Vec<f64>; 5] = Default::default();
        for (i, (name, _)) in QUANTILES.iter().enumerate() {
            quantiles[i] = get(name)?;
        }
        Some(Stats {
            min: get("min")?,
            max: get("max")?,
            mean: get("mean")?,
            std: get("std")?,
            quantiles,
            count: v.get("count")?.as_array()?.first()?.as_u64()?,
            image,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_round_trip() {
        let s = Stats::of(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], 2, false);
        assert_eq!(Stats::from_json(&s.to_json()), Some(s));
        let mut img = Stats::of(&[0.1, 0.2, 0.3, 0.4, 0.5, 0.6], 3, true);
        img.count = 2;
        assert_eq!(Stats::from_json(&img.to_json()), Some(img));
    }

    #[test]
    fn aggregate_equals_stats_of_the_union() {
        let a: Vec<f64> = (0..10).map(f64::from).collect();
        let b: Vec<f64> = (10..40).map(|x| f64::from(x) * 0.5).collect();
        let all: Vec<f64> = a.iter().chain(&b).copied().collect();
        let agg = Stats::aggregate(&[Stats::of(&a, 1, false), Stats::of(&b, 1, false)]).unwrap();
        let whole = Stats::of(&all, 1, false);
        assert_eq!(agg.count, 40);
        assert!((agg.mean[0] - whole.mean[0]).abs() < 1e-12);
        assert!((agg.std[0] - whole.std[0]).abs() < 1e-12);
        assert_eq!((agg.min[0], agg.max[0]), (whole.min[0], whole.max[0]));
    }

    #[test]
    fn image_stats_are_shaped_3_1_1() {
        let s = Stats::of(&[0.0, 0.5, 1.0, 0.2, 0.4, 0.6], 3, true);
        assert_eq!(s.to_json()["mean"], json!([[[0.1]], [[0.45]], [[0.8]]]));
        assert_eq!(s.to_json()["count"], json!([2]));
    }
}
