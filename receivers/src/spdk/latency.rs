//! The `spdk.bdev.io.latency` series across scrapes: when a bdev's histogram starts a new
//! cumulative series, and when it has stopped counting.
//!
//! SPDK's histogram counts are cumulative since the histogram was allocated
//! (`bdev_enable_histogram`), but they can go down: disabling frees them, an SPDK restart loses
//! them, and a destroyed bdev channel takes its counts with it (nothing is folded into a
//! bdev-level total, unlike iostat). Any counter that decreases, or a change of the histogram's
//! shape (granularity, ranges, tick rate), therefore starts a new series with a new
//! `start_time_unix_nano`, as the OTel data model asks of a reset cumulative stream.
//!
//! A channel created after `bdev_enable_histogram` allocates a full-range histogram that
//! `bdev_get_histogram` fails to merge, silently (SPDK v25.09 and v26.05; the fixtures'
//! README): its I/O is never counted. [`Latency::observe`] calls a histogram *stale* when
//! `bdev_get_iostat` counted I/O over an interval and the histogram grew by less than half of
//! it (the histogram counts every completed I/O of its type, failed ones too, so it never
//! legitimately lags iostat by that much).

use std::collections::HashMap;

use super::histogram::SpdkHistogram;

/// One bdev's series.
#[derive(Debug)]
struct Series {
    shape: (u32, u32, u32, u64),
    counts: Vec<u64>,
    start: u64,
    last_time: u64,
    iostat_ops: Option<u64>,
}

/// What [`Latency::observe`] concluded about one reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Observation {
    /// Start of the reading's cumulative series, Unix nanoseconds.
    pub start: u64,
    /// Whether this reading starts a new series after an earlier one (a reset).
    pub reset: bool,
    /// Whether iostat counted I/O the histogram did not (channels created after enabling).
    pub stale: bool,
}

/// The series of every bdev's histogram, keyed by bdev name.
#[derive(Debug, Default)]
pub(crate) struct Latency {
    bdevs: HashMap<String, Series>,
    /// When the receiver enabled a bdev's histogram itself: that is the series' start.
    enabled_at: HashMap<String, u64>,
}

impl Latency {
    /// Notes that the receiver (re-)enabled `bdev`'s histogram at `now`: the next reading
    /// starts a series there.
    pub fn enabled(&mut self, bdev: &str, now: u64) {
        self.enabled_at.insert(bdev.to_owned(), now);
    }

    /// Notes that the receiver disabled and enabled `bdev`'s histogram at `now`, which zeroes
    /// its counts in SPDK: the next reading starts a new series there.
    pub fn reenabled(&mut self, bdev: &str, now: u64) {
        self.bdevs.remove(bdev);
        self.enabled(bdev, now);
    }

    /// Whether the receiver enabled `bdev`'s histogram (and has not seen it lost since).
    pub fn is_enabled(&self, bdev: &str) -> bool {
        self.enabled_at.contains_key(bdev)
    }

    /// Forgets `bdev` (gone, or its histogram lost): it is enabled again and starts anew.
    pub fn forget(&mut self, bdev: &str) {
        self.bdevs.remove(bdev);
        self.enabled_at.remove(bdev);
    }

    /// Folds in one reading of `bdev` taken at `now`, with `iostat_ops` the operations
    /// `bdev_get_iostat` counted for the histogram's I/O type (if known). `first_start` is the
    /// start of a series whose beginning is unknown (a histogram someone else enabled).
    pub fn observe(
        &mut self,
        bdev: &str,
        h: &SpdkHistogram,
        iostat_ops: Option<u64>,
        now: u64,
        first_start: u64,
    ) -> Observation {
        let shape = (h.granularity, h.min_range, h.max_range, h.tsc_rate);
        let prev = self.bdevs.get(bdev);
        let continues = prev.is_some_and(|p| {
            p.shape == shape && p.counts.iter().zip(&h.counts).all(|(a, b)| b >= a)
        });
        let stale = match (prev, iostat_ops) {
            (Some(p), Some(ops)) if continues => p.iostat_ops.is_some_and(|before| {
                let io = ops.saturating_sub(before);
                let tallied = h.total() - p.counts.iter().sum::<u64>();
                io > 0 && tallied.saturating_mul(2) < io
            }),
            _ => false,
        };
        let (start, reset) = match prev {
            Some(p) if continues => (p.start, false),
            // Reset: it happened after the previous reading.
            Some(p) => (p.last_time, true),
            None => (
                self.enabled_at.get(bdev).copied().unwrap_or(first_start),
                false,
            ),
        };
        self.bdevs.insert(
            bdev.to_owned(),
            Series {
                shape,
                counts: h.counts.clone(),
                start,
                last_time: now,
                iostat_ops,
            },
        );
        Observation {
            start,
            reset,
            stale,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(counts: &[u64]) -> SpdkHistogram {
        SpdkHistogram {
            granularity: 1,
            min_range: 0,
            max_range: (counts.len() / 2 - 1) as u32,
            tsc_rate: 1000,
            counts: counts.to_vec(),
        }
    }

    #[test]
    fn a_series_continues_while_every_bucket_grows() {
        let mut l = Latency::default();
        l.enabled("b", 10);
        let o = l.observe("b", &h(&[0, 0, 0, 0]), Some(0), 20, 1);
        assert_eq!((o.start, o.reset, o.stale), (10, false, false));
        let o = l.observe("b", &h(&[1, 2, 0, 0]), Some(3), 30, 1);
        assert_eq!((o.start, o.reset, o.stale), (10, false, false));
        // One bucket goes down while the total goes up: still a reset.
        let o = l.observe("b", &h(&[0, 9, 9, 0]), Some(21), 40, 1);
        assert_eq!((o.start, o.reset), (30, true));
        // A shape change is a reset too.
        let mut other = h(&[0, 9, 9, 0]);
        other.granularity = 2;
        other.max_range = 0;
        let o = l.observe("b", &other, Some(21), 50, 1);
        assert_eq!((o.start, o.reset), (40, true));
    }

    #[test]
    fn unknown_start_and_forget() {
        let mut l = Latency::default();
        let o = l.observe("x", &h(&[5, 0]), None, 20, 7);
        assert_eq!((o.start, o.reset, o.stale), (7, false, false));
        l.forget("x");
        assert!(!l.is_enabled("x"));
        let o = l.observe("x", &h(&[0, 0]), None, 30, 8);
        assert_eq!((o.start, o.reset), (8, false));
    }

    /// iostat counted 868k I/Os, the histogram nothing: the late-channel pitfall. Growth of at
    /// least half of iostat's is not stale (the two calls are not atomic).
    #[test]
    fn stale_when_iostat_grows_and_the_histogram_does_not() {
        let mut l = Latency::default();
        l.observe("n", &h(&[0, 0]), Some(100), 10, 1);
        let o = l.observe("n", &h(&[0, 0]), Some(868_100), 20, 1);
        assert!(o.stale);
        let o = l.observe("n", &h(&[300, 0]), Some(868_700), 30, 1);
        assert!(!o.stale, "300 of 600 is half");
        let o = l.observe("n", &h(&[301, 0]), Some(868_700), 40, 1);
        assert!(!o.stale, "no iostat growth");
        // No iostat: never stale.
        let o = l.observe("n", &h(&[301, 0]), None, 50, 1);
        assert!(!o.stale);
    }
}
