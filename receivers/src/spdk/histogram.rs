//! SPDK bdev latency histograms (`bdev_get_histogram`) decoded exactly, and turned into OTel
//! explicit-bucket histograms in seconds.
//!
//! The format is SPDK's `include/spdk/histogram_data.h`:
//! - the result is `{"histogram": base64, "granularity": g, "min_range": rmin, "max_range":
//!   rmax, "tsc_rate": hz}` (v25.05 and later), or `{"histogram", "bucket_shift": g,
//!   "tsc_rate"}` (up to v25.01: the full range from 0);
//! - the base64 decodes to `(rmax − rmin + 1) << g` little-endian `u64` counters;
//! - counter `k` is range `r = rmin + (k >> g)`, sub-bucket `j = k & (2^g − 1)`, holding latencies
//!   in TSC ticks in `[lo, hi)`: `[j, j + 1)` for `r = 0`, else
//!   `[(2^g + j) << (r − 1), (2^g + j + 1) << (r − 1))`;
//! - `spdk_histogram_data_tally` puts values below the first counter into it and values above
//!   the last into the last, so the first counter is OTel's `(−inf, b0]` and the last
//!   `(b_last, +inf)`.
//!
//! Since ticks are integers, `v < hi ⇔ v ≤ hi − 1`: an OTel upper-inclusive bound is
//! `(hi − 1) / hz` seconds, exact. SPDK's own `scripts/histogram.py` gets the first range's
//! bounds wrong (it forgets the `2^(rmin+g−1)` base) and skips the last range; this module does
//! not (its tests reproduce the reference decoding of every recorded histogram).

use base64::Engine as _;
use serde_json::Value;

/// One decoded `bdev_get_histogram` result.
#[derive(Debug, Clone, PartialEq)]
pub struct SpdkHistogram {
    /// `granularity` (`bucket_shift` before v25.05): 2^g sub-buckets per range.
    pub granularity: u32,
    /// First range held (`min_range`, 0 when absent).
    pub min_range: u32,
    /// Last range held (`max_range`, or derived from the counter count when absent).
    pub max_range: u32,
    /// TSC ticks per second (`tsc_rate`).
    pub tsc_rate: u64,
    /// The counters, in order.
    pub counts: Vec<u64>,
}

/// One counter with its bounds in TSC ticks, `[lo, hi)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bucket {
    /// Counter index.
    pub index: usize,
    /// Range `r`.
    pub range: u32,
    /// Sub-bucket `j`.
    pub j: u64,
    /// Lower bound, ticks (inclusive).
    pub lo: u64,
    /// Upper bound, ticks (exclusive).
    pub hi: u64,
    /// Count.
    pub count: u64,
}

impl SpdkHistogram {
    /// Decodes the `result` of `bdev_get_histogram` (either format).
    ///
    /// # Errors
    /// A missing or mistyped field, base64 that does not decode, a byte length that is not
    /// a whole number of `u64` or does not match the ranges, a granularity over 32, a zero
    /// `tsc_rate`.
    pub fn decode(result: &Value) -> Result<SpdkHistogram, String> {
        let field = |k: &str| result.get(k).and_then(Value::as_u64);
        let text = result
            .get("histogram")
            .and_then(Value::as_str)
            .ok_or("no \"histogram\" string")?;
        let g = field("granularity")
            .or_else(|| field("bucket_shift"))
            .ok_or("no \"granularity\" (or \"bucket_shift\")")?;
        if !(1..=32).contains(&g) {
            return Err(format!("granularity {g} is outside 1..=32"));
        }
        let g = g as u32;
        let tsc_rate = field("tsc_rate")
            .filter(|r| *r > 0)
            .ok_or("no positive \"tsc_rate\"")?;
        let raw = base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(|e| format!("\"histogram\" is not base64: {e}"))?;
        if raw.len() % 8 != 0 || raw.is_empty() {
            return Err(format!(
                "\"histogram\" is {} bytes, not a whole number of 64-bit counters",
                raw.len()
            ));
        }
        let n = raw.len() / 8;
        let per_range = 1usize << g;
        if n % per_range != 0 {
            return Err(format!(
                "{n} counters are not whole ranges of {per_range} (granularity {g})"
            ));
        }
        let min_range = field("min_range").unwrap_or(0);
        let ranges = (n / per_range) as u64;
        let max_range = field("max_range").unwrap_or(min_range + ranges - 1);
        if max_range < min_range || max_range - min_range + 1 != ranges {
            return Err(format!(
                "{n} counters do not hold ranges {min_range}..={max_range} at granularity {g}"
            ));
        }
        if max_range + u64::from(g) > 64 {
            return Err(format!(
                "range {max_range} at granularity {g} is beyond 64-bit ticks"
            ));
        }
        let counts = raw
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")))
            .collect();
        Ok(SpdkHistogram {
            granularity: g,
            min_range: min_range as u32,
            max_range: max_range as u32,
            tsc_rate,
            counts,
        })
    }

    /// Counter `index` with its range, sub-bucket and `[lo, hi)` ticks (histogram_data.h).
    pub fn bucket(&self, index: usize) -> Bucket {
        let g = self.granularity;
        let range = self.min_range + (index >> g) as u32;
        let j = (index as u64) & ((1u64 << g) - 1);
        let (lo, hi) = if range == 0 {
            (j, j + 1)
        } else {
            let base = 1u64 << g;
            (
                (base + j) << (range - 1),
                ((base + j + 1) as u128)
                    .checked_shl(range - 1)
                    .map_or(u64::MAX, |v| u64::try_from(v).unwrap_or(u64::MAX)),
            )
        };
        Bucket {
            index,
            range,
            j,
            lo,
            hi,
            count: self.counts[index],
        }
    }

    /// The sum of the counters: the number of I/Os tallied.
    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// The sum of the tallied latencies in seconds, estimated from bucket midpoints: SPDK keeps
    /// no sum. Each value in a counter of range `r ≥ 1` is within half a sub-bucket of the
    /// midpoint, a relative error of at most `2^−(g+1)` (0.4 % at the default granularity 7);
    /// values SPDK clamped into the first or last counter (outside `min_nsec..max_nsec`) are
    /// taken at that counter's midpoint.
    pub fn sum_estimate(&self) -> f64 {
        let ticks: f64 = self
            .nonempty()
            .map(|b| b.count as f64 * (b.lo as f64 + b.hi as f64) / 2.0)
            .sum();
        ticks / self.tsc_rate as f64
    }

    /// The non-empty counters with their bounds.
    pub fn nonempty(&self) -> impl Iterator<Item = Bucket> + '_ {
        (0..self.counts.len())
            .filter(|i| self.counts[*i] > 0)
            .map(|i| self.bucket(i))
    }

    /// An OTel explicit-bucket histogram of this one: `bounds` (seconds, ascending) are the
    /// upper-inclusive edges `(hi − 1) / tsc_rate` of the SPDK counters kept as edges, and
    /// `counts` has one more entry than `bounds`. With `wanted` empty, one bucket per
    /// power-of-two range (`max_range − min_range + 1` buckets); else each wanted bound
    /// (seconds) snaps up to the nearest SPDK counter edge, so counts stay exact. Wanted bounds
    /// that snap to the same edge count once; one at or past the last counter's lower edge (or
    /// NaN) has no edge and is left out, its counts staying in the open last bucket.
    pub fn to_otel(&self, wanted: &[f64]) -> (Vec<f64>, Vec<u64>) {
        let n = self.counts.len();
        let per_range = 1usize << self.granularity;
        // Indexes of the counters whose upper edge is a bound (never the last counter).
        let edges: Vec<usize> = if wanted.is_empty() {
            (1..n / per_range).map(|r| r * per_range - 1).collect()
        } else {
            let mut e: Vec<usize> = wanted
                .iter()
                .filter_map(|s| {
                    let ticks = s * self.tsc_rate as f64;
                    // First counter whose inclusive upper edge (hi − 1) is ≥ the wanted bound
                    // (edges grow with the index: a binary search).
                    let (mut lo, mut hi) = (0, n - 1);
                    while lo < hi {
                        let mid = lo + (hi - lo) / 2;
                        if ((self.bucket(mid).hi - 1) as f64) < ticks {
                            lo = mid + 1;
                        } else {
                            hi = mid;
                        }
                    }
                    (lo < n - 1).then_some(lo)
                })
                .collect();
            e.sort_unstable();
            e.dedup();
            e
        };
        let bounds = edges
            .iter()
            .map(|i| (self.bucket(*i).hi - 1) as f64 / self.tsc_rate as f64)
            .collect();
        let mut counts = Vec::with_capacity(edges.len() + 1);
        let mut start = 0;
        for e in edges.iter().copied().chain(std::iter::once(n - 1)) {
            counts.push(self.counts[start..=e].iter().sum());
            start = e + 1;
        }
        (bounds, counts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn fixtures() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/spdk-extra/histogram")
    }

    fn result(name: &str) -> Value {
        let v: Value =
            serde_json::from_str(&std::fs::read_to_string(fixtures().join(name)).unwrap()).unwrap();
        v["result"].clone()
    }

    /// Every `_decoded` reference file: the header, every non-empty counter's range, sub-bucket,
    /// bounds and count, and the totals.
    #[test]
    fn every_reference_decoding_is_reproduced_exactly() {
        let mut checked = 0;
        for e in std::fs::read_dir(fixtures().join("_decoded")).unwrap() {
            let path = e.unwrap().path();
            if path.extension().is_none_or(|x| x != "json") {
                continue;
            }
            let want: Value =
                serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            let name = want["source"].as_str().unwrap();
            let h = SpdkHistogram::decode(&result(name)).unwrap();
            let meta = &want["meta"];
            assert_eq!(
                u64::from(h.granularity),
                meta["granularity"].as_u64().unwrap(),
                "{name}"
            );
            assert_eq!(
                u64::from(h.min_range),
                meta["min_range"].as_u64().unwrap(),
                "{name}"
            );
            assert_eq!(
                u64::from(h.max_range),
                meta["max_range"].as_u64().unwrap(),
                "{name}"
            );
            assert_eq!(h.tsc_rate, meta["tsc_rate"].as_u64().unwrap(), "{name}");
            assert_eq!(
                h.counts.len() as u64,
                meta["num_buckets"].as_u64().unwrap(),
                "{name}"
            );
            assert_eq!(h.total(), meta["total_count"].as_u64().unwrap(), "{name}");
            let got: Vec<Bucket> = h.nonempty().collect();
            let rows = want["nonempty"].as_array().unwrap();
            assert_eq!(got.len(), rows.len(), "{name}");
            assert_eq!(
                got.len() as u64,
                meta["nonempty_buckets"].as_u64().unwrap(),
                "{name}"
            );
            for (b, w) in got.iter().zip(rows) {
                assert_eq!(b.index as u64, w["index"].as_u64().unwrap(), "{name}");
                assert_eq!(u64::from(b.range), w["range"].as_u64().unwrap(), "{name}");
                assert_eq!(b.j, w["j"].as_u64().unwrap(), "{name}");
                assert_eq!(b.lo, w["lo_ticks"].as_u64().unwrap(), "{name} {w}");
                assert_eq!(b.hi, w["hi_ticks"].as_u64().unwrap(), "{name} {w}");
                assert_eq!(b.count, w["count"].as_u64().unwrap(), "{name}");
            }
            checked += 1;
        }
        assert!(checked >= 9, "{checked} reference files");
    }

    /// The worked example of the fixtures' README: counter 640 of Malloc0 is [65536, 66048)
    /// ticks with 6069 I/Os; the total equals the iostat delta (761,066 reads + 326,907 writes).
    #[test]
    fn the_worked_example_and_the_iostat_delta() {
        let h = SpdkHistogram::decode(&result("bdev_get_histogram__Malloc0.json")).unwrap();
        let b = h.bucket(640);
        assert_eq!(
            (b.range, b.j, b.lo, b.hi, b.count),
            (10, 0, 65536, 66048, 6069)
        );
        assert_eq!(h.total(), 761_066 + 326_907);
        let last = h.bucket(h.counts.len() - 1);
        assert_eq!(last.lo, 34_225_520_640);
        // The midpoint sum gives iostat's mean over the same run (28.67 µs) within 2^-8.
        let (before, after) = (
            result("bdev_get_iostat__before_io.json"),
            result("bdev_get_iostat__after_io.json"),
        );
        let field = |v: &Value, k: &str| {
            v["bdevs"]
                .as_array()
                .unwrap()
                .iter()
                .find(|b| b["name"] == "Malloc0")
                .unwrap()[k]
                .as_u64()
                .unwrap() as f64
        };
        let delta = |k: &str| field(&after, k) - field(&before, k);
        let iostat_mean = (delta("read_latency_ticks") + delta("write_latency_ticks"))
            / (delta("num_read_ops") + delta("num_write_ops"))
            / 2.45e9;
        let mean = h.sum_estimate() / h.total() as f64;
        assert!(
            (mean - iostat_mean).abs() < iostat_mean / 256.0,
            "{mean} vs {iostat_mean}"
        );
        assert!((iostat_mean - 28.67e-6).abs() < 0.01e-6, "{iostat_mean}");
    }

    /// The README's verification: each histogram's total equals the `bdev_get_iostat` delta
    /// of the same run (reads only for Malloc1, enabled with `opc: read`). Nvme0n1's histogram
    /// is one higher than iostat, as recorded (an I/O iostat does not count; cause not found).
    #[test]
    fn totals_equal_the_iostat_deltas_of_the_run() {
        let (before, after) = (
            result("bdev_get_iostat__before_io.json"),
            result("bdev_get_iostat__after_io.json"),
        );
        let ops = |v: &Value, bdev: &str, keys: &[&str]| -> u64 {
            let b = v["bdevs"]
                .as_array()
                .unwrap()
                .iter()
                .find(|b| b["name"] == bdev)
                .unwrap();
            keys.iter().map(|k| b[*k].as_u64().unwrap()).sum()
        };
        let rw: &[&str] = &["num_read_ops", "num_write_ops"];
        for (bdev, file, keys, extra) in [
            ("Malloc0", "bdev_get_histogram__Malloc0.json", rw, 0),
            (
                "Malloc1",
                "bdev_get_histogram__Malloc1_read_only.json",
                &["num_read_ops"][..],
                0,
            ),
            ("Null0", "bdev_get_histogram__Null0_custom.json", rw, 0),
            ("Nvme0n1", "bdev_get_histogram__Nvme0n1.json", rw, 1),
        ] {
            let h = SpdkHistogram::decode(&result(file)).unwrap();
            let delta = ops(&after, bdev, keys) - ops(&before, bdev, keys);
            assert_eq!(h.total(), delta + extra, "{bdev}");
        }
    }

    #[test]
    fn otel_buckets_keep_every_count_at_exact_spdk_edges() {
        let h = SpdkHistogram::decode(&result("bdev_get_histogram__Malloc0.json")).unwrap();
        // Default: one bucket per power-of-two range, 24 ranges → 23 bounds.
        let (bounds, counts) = h.to_otel(&[]);
        assert_eq!(bounds.len(), 23);
        assert_eq!(counts.len(), 24);
        assert_eq!(counts.iter().sum::<u64>(), h.total());
        // Range 9 = [32768, 65536) ticks: its count is the README's 522,086; its upper bound
        // is (65536 − 1) / 2.45 GHz.
        assert_eq!(counts[9 - 5], 522_086);
        assert_eq!(bounds[9 - 5], 65535.0 / 2.45e9);
        assert!(bounds.windows(2).all(|w| w[0] < w[1]));
        // Configured bounds snap up to SPDK edges: 25 µs and 100 µs.
        let (bounds, counts) = h.to_otel(&[25e-6, 100e-6]);
        assert_eq!(bounds.len(), 2);
        assert!(bounds[0] >= 25e-6 && bounds[0] < 25.3e-6, "{bounds:?}");
        assert!(bounds[1] >= 100e-6 && bounds[1] < 100.9e-6, "{bounds:?}");
        assert_eq!(counts.iter().sum::<u64>(), h.total());
    }

    #[test]
    fn the_old_format_and_wrong_shapes() {
        // v25.01: bucket_shift, no ranges: the full range from 0.
        let counts: Vec<u8> = (0..(2u64 << 2)).flat_map(|i| i.to_le_bytes()).collect();
        let old = serde_json::json!({
            "histogram": base64::engine::general_purpose::STANDARD.encode(&counts),
            "bucket_shift": 2,
            "tsc_rate": 1000,
        });
        let h = SpdkHistogram::decode(&old).unwrap();
        assert_eq!((h.min_range, h.max_range), (0, 1));
        assert_eq!(h.bucket(3).hi, 4);
        assert_eq!((h.bucket(4).lo, h.bucket(4).hi), (4, 5));
        for bad in [
            serde_json::json!({}),
            serde_json::json!({"histogram": "!!", "granularity": 7, "tsc_rate": 1}),
            serde_json::json!({"histogram": "AAAA", "granularity": 7, "tsc_rate": 1}),
            serde_json::json!({"histogram": "AAAAAAAAAAA=", "granularity": 1, "tsc_rate": 1}),
            serde_json::json!({"histogram": "AAAAAAAAAAAAAAAAAAAAAA==", "granularity": 1, "min_range": 3, "max_range": 9, "tsc_rate": 1}),
            serde_json::json!({"histogram": "AAAAAAAAAAAAAAAAAAAAAA==", "granularity": 40, "tsc_rate": 1}),
            serde_json::json!({"histogram": "AAAAAAAAAAAAAAAAAAAAAA==", "granularity": 1, "tsc_rate": 0}),
            serde_json::json!({"histogram": "AAAAAAAAAAAAAAAAAAAAAA==", "granularity": 1, "min_range": 64, "tsc_rate": 1}),
        ] {
            assert!(SpdkHistogram::decode(&bad).is_err(), "{bad}");
        }
    }
}
