//! Counters of the cache, readable at any time (tests, metrics, the benchmark).

use std::sync::atomic::{AtomicU64, Ordering};

/// Live counters, shared by the cache and its background tasks.
#[derive(Debug, Default)]
pub struct CacheStats {
    pub(crate) db_key_lookups: AtomicU64,
    pub(crate) db_user_lookups: AtomicU64,
    pub(crate) db_membership_lookups: AtomicU64,
    pub(crate) db_touches: AtomicU64,
    pub(crate) touch_batches: AtomicU64,
    pub(crate) coalesced: AtomicU64,
    pub(crate) local_hits: AtomicU64,
    pub(crate) local_misses: AtomicU64,
    pub(crate) negative_hits: AtomicU64,
    pub(crate) redis_calls: AtomicU64,
    pub(crate) redis_hits: AtomicU64,
    pub(crate) redis_errors: AtomicU64,
    pub(crate) redis_skipped: AtomicU64,
    pub(crate) invalidations_received: AtomicU64,
    pub(crate) subscriptions: AtomicU64,
}

/// A snapshot of [`CacheStats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheCounters {
    /// Grant (key + owner + memberships) lookups that reached the database.
    pub db_key_lookups: u64,
    /// `user_by_id` calls that reached the database.
    pub db_user_lookups: u64,
    /// `user_memberships` calls that reached the database.
    pub db_membership_lookups: u64,
    /// Key uses written to the database (others were debounced).
    pub db_touches: u64,
    /// Batched writes of key uses (each one transaction).
    pub touch_batches: u64,
    /// Grant lookups that waited for a concurrent lookup of the same key instead of asking
    /// Redis or the database themselves.
    pub coalesced: u64,
    /// Lookups answered by the in-process cache.
    pub local_hits: u64,
    /// Lookups the in-process cache (positive and negative) could not answer.
    pub local_misses: u64,
    /// Key lookups answered by the negative cache.
    pub negative_hits: u64,
    /// Redis commands sent (GET, SET, DEL + PUBLISH pipelines).
    pub redis_calls: u64,
    /// Key lookups answered by Redis.
    pub redis_hits: u64,
    /// Redis commands that failed or timed out.
    pub redis_errors: u64,
    /// Redis commands skipped because the circuit breaker was open.
    pub redis_skipped: u64,
    /// Invalidation messages received over pub/sub.
    pub invalidations_received: u64,
    /// Successful (re)subscriptions; each one flushed the local cache.
    pub subscriptions: u64,
}

impl CacheCounters {
    /// Database calls of the cached lookups (keys, users, memberships).
    pub fn db_lookups(&self) -> u64 {
        self.db_key_lookups + self.db_user_lookups + self.db_membership_lookups
    }
}

/// The counters exported through the `metrics` facade (`identity_cache_*`, `identity_redis_*`),
/// registered with the process's recorder on first use and reused after that, so the hot path
/// makes no registry lookup. The server installs its recorder before it serves; in a process
/// without one they count nothing.
pub(crate) mod exported {
    use std::sync::LazyLock;

    use metrics::{Counter, counter};

    macro_rules! exported {
        ($($id:ident = $name:literal $(, $k:literal => $v:literal)?;)+) => {$(
            pub(crate) static $id: LazyLock<Counter> =
                LazyLock::new(|| counter!($name $(, $k => $v)?));
        )+};
    }

    exported! {
        LOCAL_HITS = "identity_cache_hits_total", "layer" => "local";
        NEGATIVE_HITS = "identity_cache_hits_total", "layer" => "negative";
        REDIS_HITS = "identity_cache_hits_total", "layer" => "redis";
        LOCAL_MISSES = "identity_cache_misses_total";
        DB_USER_LOOKUPS = "identity_cache_db_lookups_total", "entity" => "user";
        DB_KEY_LOOKUPS = "identity_cache_db_lookups_total", "entity" => "api_key";
        DB_MEMBERSHIP_LOOKUPS = "identity_cache_db_lookups_total", "entity" => "membership";
        REDIS_ERRORS = "identity_redis_errors_total";
        REDIS_SKIPPED = "identity_redis_skipped_total";
        INVALIDATIONS_RECEIVED = "identity_cache_invalidations_received_total";
    }
}

pub(crate) fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

impl CacheStats {
    /// Read every counter.
    pub fn snapshot(&self) -> CacheCounters {
        let r = |c: &AtomicU64| c.load(Ordering::Relaxed);
        CacheCounters {
            db_key_lookups: r(&self.db_key_lookups),
            db_user_lookups: r(&self.db_user_lookups),
            db_membership_lookups: r(&self.db_membership_lookups),
            db_touches: r(&self.db_touches),
            touch_batches: r(&self.touch_batches),
            coalesced: r(&self.coalesced),
            local_hits: r(&self.local_hits),
            local_misses: r(&self.local_misses),
            negative_hits: r(&self.negative_hits),
            redis_calls: r(&self.redis_calls),
            redis_hits: r(&self.redis_hits),
            redis_errors: r(&self.redis_errors),
            redis_skipped: r(&self.redis_skipped),
            invalidations_received: r(&self.invalidations_received),
            subscriptions: r(&self.subscriptions),
        }
    }
}
