//! The in-process caches (bounded moka caches with a short time-to-live).

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use identity_core::domain::{KeyGrant, Membership, Organization, User, UserId};
use moka::future::Cache;

pub(crate) type Memberships = Arc<Vec<(Membership, Organization)>>;

#[derive(Debug)]
pub(crate) struct Local {
    /// Grants by key digest.
    pub(crate) keys: Cache<[u8; 32], Arc<KeyGrant>>,
    pub(crate) negative: Cache<[u8; 32], ()>,
    pub(crate) users: Cache<UserId, Arc<User>>,
    pub(crate) memberships: Cache<UserId, Memberships>,
    /// Key ids whose use was recorded recently (debounces `touch_api_key`).
    pub(crate) touched: Cache<i64, ()>,
    /// Bumped before every eviction: a lookup that started under an older generation does not
    /// fill the caches (it may have read the row before the write it raced with).
    generation: AtomicU64,
}

impl Local {
    pub(crate) fn new(
        max_entries: u64,
        fresh: Duration,
        negative_max_entries: u64,
        negative_ttl: Duration,
        touch_every: Duration,
    ) -> Self {
        Self {
            keys: Cache::builder()
                .max_capacity(max_entries)
                .time_to_live(fresh)
                .support_invalidation_closures()
                .build(),
            negative: Cache::builder()
                .max_capacity(negative_max_entries)
                .time_to_live(negative_ttl)
                .build(),
            users: Cache::builder()
                .max_capacity(max_entries)
                .time_to_live(fresh)
                .build(),
            memberships: Cache::builder()
                .max_capacity(max_entries)
                .time_to_live(fresh)
                .build(),
            touched: Cache::builder()
                .max_capacity(max_entries)
                .time_to_live(touch_every)
                .build(),
            generation: AtomicU64::new(0),
        }
    }

    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    pub(crate) fn unchanged_since(&self, generation: u64) -> bool {
        self.generation() == generation
    }

    /// Drop the named entries.
    pub(crate) async fn evict(&self, digests: &[[u8; 32]], users: &[UserId], user_keys: &[UserId]) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        for d in digests {
            self.keys.invalidate(d).await;
            self.negative.invalidate(d).await;
        }
        for u in users {
            self.users.invalidate(u).await;
            self.memberships.invalidate(u).await;
        }
        for &u in user_keys {
            if let Err(e) = self
                .keys
                .invalidate_entries_if(move |_, g| g.key.user_id == u)
            {
                tracing::warn!(error = %e, "cannot evict a user's keys; flushing");
                self.keys.invalidate_all();
            }
        }
    }

    /// Drop everything.
    pub(crate) fn flush(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.keys.invalidate_all();
        self.negative.invalidate_all();
        self.users.invalidate_all();
        self.memberships.invalidate_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_negative_cache_is_bounded() {
        let local = Local::new(
            10,
            Duration::from_secs(60),
            100,
            Duration::from_secs(60),
            Duration::from_secs(60),
        );
        for i in 0..5_000u32 {
            let mut d = [0u8; 32];
            d[..4].copy_from_slice(&i.to_le_bytes());
            local.negative.insert(d, ()).await;
        }
        local.negative.run_pending_tasks().await;
        let n = local.negative.entry_count();
        assert!(n <= 100, "{n} negative entries kept, bound is 100");
        assert!(n > 0);
    }

    #[tokio::test]
    async fn negative_entries_expire() {
        let local = Local::new(
            10,
            Duration::from_secs(60),
            100,
            Duration::from_millis(50),
            Duration::from_secs(60),
        );
        local.negative.insert([7; 32], ()).await;
        assert!(local.negative.contains_key(&[7; 32]));
        tokio::time::sleep(Duration::from_millis(120)).await;
        assert!(!local.negative.contains_key(&[7; 32]));
    }
}
