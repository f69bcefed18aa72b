//! The one in-process cache of the product, for lookups that many requests repeat (clients at
//! /token, directory claims, tailscaled's WhoIs answers): entries expire a fixed time after
//! they were stored. Bounded: when full, expired entries go first, then everything (the
//! lookups are a few milliseconds; a cache emptied under a flood of new keys refills).
//! ADR 6 says why this is ours rather than a crate's.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::RwLock;
use std::time::{Duration, Instant};

pub struct TtlCache<K, V> {
    ttl: Duration,
    max_entries: usize,
    entries: RwLock<HashMap<K, (Instant, V)>>,
}

impl<K, V> std::fmt::Debug for TtlCache<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TtlCache")
            .field("ttl", &self.ttl)
            .field("max_entries", &self.max_entries)
            .finish_non_exhaustive()
    }
}

impl<K: Eq + Hash, V: Clone> TtlCache<K, V> {
    /// Entries live `ttl` (zero: nothing is kept); at most `max_entries` are kept.
    pub fn new(ttl: Duration, max_entries: usize) -> TtlCache<K, V> {
        TtlCache {
            ttl,
            max_entries,
            entries: RwLock::new(HashMap::new()),
        }
    }

    /// The value, if it was stored less than the TTL ago.
    pub fn get<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let entries = self.entries.read().unwrap_or_else(|p| p.into_inner());
        entries
            .get(key)
            .filter(|(at, _)| at.elapsed() < self.ttl)
            .map(|(_, v)| v.clone())
    }

    pub fn insert(&self, key: K, value: V) {
        if self.ttl.is_zero() {
            return;
        }
        let mut entries = self.entries.write().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= self.max_entries && !entries.contains_key(&key) {
            let ttl = self.ttl;
            entries.retain(|_, (at, _)| at.elapsed() < ttl);
            if entries.len() >= self.max_entries {
                entries.clear();
            }
        }
        entries.insert(key, (Instant::now(), value));
    }

    pub fn clear(&self) {
        self.entries
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }

    pub fn remove<Q>(&self, key: &Q)
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.entries
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
    }

    /// Entries held, expired ones included until they are dropped or replaced.
    pub fn len(&self) -> usize {
        self.entries.read().unwrap_or_else(|p| p.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_and_the_cache_stays_bounded() {
        let c = TtlCache::new(Duration::from_millis(50), 2);
        c.insert("a", 1);
        assert_eq!(c.get(&"a"), Some(1));
        c.insert("b", 2);
        c.insert("b", 3); // a key already held replaces its entry
        assert_eq!((c.get(&"a"), c.get(&"b")), (Some(1), Some(3)));
        c.insert("c", 3); // full: nothing expired yet, so it starts over
        assert_eq!((c.get(&"a"), c.get(&"c")), (None, Some(3)));
        c.remove(&"c");
        assert_eq!(c.get(&"c"), None);
        c.insert("d", 4);
        c.insert("e", 5);
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(c.get(&"d"), None);
        c.insert("f", 6); // full: the expired entries make room
        assert_eq!((c.len(), c.get(&"f")), (1, Some(6)));
    }

    #[test]
    fn a_zero_ttl_keeps_nothing() {
        let c = TtlCache::new(Duration::ZERO, 10);
        c.insert("a", 1);
        assert!(c.is_empty());
        assert_eq!(c.get(&"a"), None);
    }
}
