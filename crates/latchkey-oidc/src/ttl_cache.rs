//! The one in-process cache of the product, for lookups that many requests repeat (clients at
//! /token, directory claims, tailscaled's WhoIs answers). Bounded by `quick_cache` (sharded,
//! S3-FIFO eviction: a burst of one-off keys does not push out the hot ones); entries expire
//! a fixed time after they were stored, checked on read.

use std::hash::Hash;
use std::time::{Duration, Instant};

pub struct TtlCache<K, V> {
    ttl: Duration,
    entries: quick_cache::sync::Cache<K, (Instant, V)>,
}

impl<K: Eq + Hash, V: Clone> std::fmt::Debug for TtlCache<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TtlCache")
            .field("ttl", &self.ttl)
            .field("capacity", &self.entries.capacity())
            .finish_non_exhaustive()
    }
}

impl<K: Eq + Hash, V: Clone> TtlCache<K, V> {
    /// Entries live `ttl` (zero: nothing is kept); at most `max_entries` are kept.
    pub fn new(ttl: Duration, max_entries: usize) -> TtlCache<K, V> {
        TtlCache {
            ttl,
            entries: quick_cache::sync::Cache::new(max_entries.max(1)),
        }
    }

    /// The value, if it was stored less than the TTL ago.
    pub fn get(&self, key: &K) -> Option<V> {
        self.entries
            .get(key)
            .filter(|(at, _)| at.elapsed() < self.ttl)
            .map(|(_, v)| v)
    }

    pub fn insert(&self, key: K, value: V) {
        if !self.ttl.is_zero() {
            self.entries.insert(key, (Instant::now(), value));
        }
    }

    pub fn remove(&self, key: &K) {
        self.entries.remove(key);
    }

    /// Entries held, expired ones included until they are evicted or replaced.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_and_can_be_removed() {
        let c = TtlCache::new(Duration::from_millis(50), 10);
        c.insert("a", 1);
        assert_eq!(c.get(&"a"), Some(1));
        c.remove(&"a");
        assert_eq!(c.get(&"a"), None);
        c.insert("d", 4);
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(c.get(&"d"), None);
    }

    #[test]
    fn the_cache_stays_bounded_and_keeps_what_is_used() {
        let c = TtlCache::new(Duration::from_secs(60), 100);
        c.insert(u32::MAX, 0);
        for i in 0..10_000u32 {
            c.insert(i, i);
            // One hot key, read all along, survives a flood of one-off keys.
            assert_eq!(c.get(&u32::MAX), Some(0), "after {i}");
        }
        assert!(c.len() <= 100, "{}", c.len());
    }

    #[test]
    fn a_zero_ttl_keeps_nothing() {
        let c = TtlCache::new(Duration::ZERO, 10);
        c.insert("a", 1);
        assert!(c.is_empty());
        assert_eq!(c.get(&"a"), None);
    }
}
