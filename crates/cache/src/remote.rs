//! The Redis side: a lazily connecting `ConnectionManager` behind a short timeout and a circuit
//! breaker, and the pub/sub subscriber that keeps the local cache honest.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use futures::StreamExt as _;
use redis::{FromRedisValue, aio::ConnectionManager};

use crate::{
    breaker::CircuitBreaker,
    local::Local,
    seal::{self, EntryKey},
    stats::{CacheStats, bump, exported},
    wire::{Invalidation, hex, unhex},
};

/// How long to wait for a pub/sub connection and its SUBSCRIBE.
const SUBSCRIBE_TIMEOUT: Duration = Duration::from_secs(2);
/// The longest wait between two subscription attempts.
const MAX_RESUBSCRIBE_DELAY: Duration = Duration::from_secs(2);
/// After an invalidation was delivered, it is repeated once after this delay, to catch a
/// concurrent reader that filled Redis with the old row in between.
const SECOND_DELETE_AFTER: Duration = Duration::from_millis(1000);

#[derive(Debug)]
pub(crate) struct Remote {
    client: redis::Client,
    conn: ConnectionManager,
    breaker: CircuitBreaker,
    timeout: Duration,
    ttl_secs: u64,
    prefix: String,
    channel: String,
    stats: Arc<CacheStats>,
    entry_key: EntryKey,
}

impl Remote {
    pub(crate) fn new(
        url: &str,
        namespace: &str,
        timeout: Duration,
        ttl: Duration,
        breaker: CircuitBreaker,
        stats: Arc<CacheStats>,
        entry_key: EntryKey,
    ) -> redis::RedisResult<Self> {
        let client = redis::Client::open(url)?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout.max(Duration::from_millis(200))))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(500));
        // Lazy: a Redis that is down at start-up must not stop the server.
        let conn = ConnectionManager::new_lazy_with_config(client.clone(), config)?;
        Ok(Self {
            client,
            conn,
            breaker,
            timeout,
            ttl_secs: ttl.as_secs().max(1),
            prefix: format!("{namespace}:grant:"),
            channel: format!("{namespace}:invalidate"),
            stats,
            entry_key,
        })
    }

    pub(crate) fn key_name(&self, digest: &[u8; 32]) -> String {
        format!("{}{}", self.prefix, hex(digest))
    }

    /// Run one command (or pipeline) through the breaker and the timeout. `None` means Redis
    /// did not answer; the caller goes on without it.
    async fn run<T: FromRedisValue>(
        &self,
        what: &'static str,
        pipe: &redis::Pipeline,
    ) -> Option<T> {
        if !self.breaker.allow(Instant::now()) {
            bump(&self.stats.redis_skipped);
            exported::REDIS_SKIPPED.increment(1);
            return None;
        }
        bump(&self.stats.redis_calls);
        let mut conn = self.conn.clone();
        let outcome = tokio::time::timeout(self.timeout, pipe.query_async::<T>(&mut conn)).await;
        let error = match outcome {
            Ok(Ok(v)) => {
                self.breaker.success();
                return Some(v);
            }
            Ok(Err(e)) => e.to_string(),
            Err(_) => format!("no answer within {:?}", self.timeout),
        };
        bump(&self.stats.redis_errors);
        exported::REDIS_ERRORS.increment(1);
        if self.breaker.failure(Instant::now()) {
            tracing::warn!(%error, op = what, "Redis failed: circuit open, using the database");
        } else {
            tracing::debug!(%error, op = what, "Redis failed");
        }
        None
    }

    /// The cached row bytes of a digest; `None` on a miss or a Redis failure. An entry that is
    /// not sealed for this digest with our key (see [`seal`]) is a miss too, and is deleted: it
    /// was copied from another digest, edited or forged, and is never trusted.
    pub(crate) async fn get(&self, digest: &[u8; 32]) -> Option<Vec<u8>> {
        let mut p = redis::pipe();
        p.get(self.key_name(digest));
        let value = self
            .run::<(Option<Vec<u8>>,)>("GET", &p)
            .await
            .and_then(|(v,)| v)?;
        if let Some(row) = seal::open(&self.entry_key, digest, &value) {
            return Some(row.to_vec());
        }
        tracing::warn!(
            "a Redis grant entry failed its integrity check; deleted, asking the database"
        );
        let mut p = redis::pipe();
        p.del(self.key_name(digest)).ignore();
        let _ = self.run::<()>("DEL", &p).await;
        None
    }

    /// Store `row` for `digest`, sealed (see [`seal`]).
    pub(crate) async fn set(&self, digest: &[u8; 32], row: &[u8]) {
        let Some(value) = seal::seal(&self.entry_key, digest, row) else {
            return;
        };
        let mut p = redis::pipe();
        p.set_ex(self.key_name(digest), value, self.ttl_secs)
            .ignore();
        let _ = self.run::<()>("SET", &p).await;
    }

    /// DEL the digests' entries and PUBLISH the invalidation, in one round trip.
    async fn deliver_once(&self, inv: &Invalidation, message: &str) -> bool {
        let mut p = redis::pipe();
        let keys: Vec<String> = inv
            .digests
            .iter()
            .map(|d| format!("{}{d}", self.prefix))
            .collect();
        if !keys.is_empty() {
            p.del(keys).ignore();
        }
        p.publish(&self.channel, message).ignore();
        self.run::<()>("DEL+PUBLISH", &p).await.is_some()
    }

    /// Deliver an invalidation: once now (awaited), and in the background retry it until it
    /// goes through (bounded by the Redis TTL, after which the entries are gone anyway), then
    /// repeat it once a little later.
    pub(crate) async fn deliver(self: &Arc<Self>, inv: Invalidation) {
        let Ok(message) = serde_json::to_string(&inv) else {
            return;
        };
        let delivered = self.deliver_once(&inv, &message).await;
        let this = Arc::clone(self);
        tokio::spawn(async move {
            let give_up = Instant::now() + Duration::from_secs(this.ttl_secs);
            let mut delivered = delivered;
            let mut delay = Duration::from_millis(100);
            while !delivered {
                if Instant::now() > give_up {
                    tracing::warn!("an invalidation could not be sent to Redis before its TTL");
                    return;
                }
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(MAX_RESUBSCRIBE_DELAY);
                delivered = this.deliver_once(&inv, &message).await;
            }
            tokio::time::sleep(SECOND_DELETE_AFTER).await;
            let _ = this.deliver_once(&inv, &message).await;
        });
    }

    /// Subscribe, flush the local cache once subscribed, evict on every message; reconnect with
    /// back-off when the connection is lost. Runs until aborted.
    pub(crate) async fn subscribe_forever(self: Arc<Self>, local: Arc<Local>) {
        let mut delay = Duration::from_millis(50);
        loop {
            match self.listen(&local).await {
                Ok(()) => {
                    tracing::warn!("Redis invalidation subscription lost; resubscribing");
                    delay = Duration::from_millis(50);
                }
                Err(e) => tracing::debug!(error = %e, "Redis subscription failed"),
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(MAX_RESUBSCRIBE_DELAY);
        }
    }

    async fn listen(&self, local: &Local) -> Result<(), String> {
        let subscribe = async {
            let mut pubsub = self.client.get_async_pubsub().await?;
            pubsub.subscribe(&self.channel).await?;
            redis::RedisResult::Ok(pubsub)
        };
        let pubsub = tokio::time::timeout(SUBSCRIBE_TIMEOUT, subscribe)
            .await
            .map_err(|_| "timed out".to_owned())?
            .map_err(|e| e.to_string())?;
        // Anything published while we were not listening is lost: start from empty.
        local.flush();
        bump(&self.stats.subscriptions);
        tracing::info!(channel = %self.channel, "subscribed to cache invalidations; local cache flushed");
        let mut messages = pubsub.into_on_message();
        while let Some(msg) = messages.next().await {
            bump(&self.stats.invalidations_received);
            exported::INVALIDATIONS_RECEIVED.increment(1);
            match serde_json::from_slice::<Invalidation>(msg.get_payload_bytes()) {
                Ok(inv) => {
                    let digests: Vec<[u8; 32]> =
                        inv.digests.iter().filter_map(|d| unhex(d)).collect();
                    local.evict(&digests, &inv.users, &inv.user_keys).await;
                }
                Err(e) => {
                    // Unknown message: the safe answer is to forget everything.
                    tracing::warn!(error = %e, "unreadable invalidation; flushing the local cache");
                    local.flush();
                }
            }
        }
        Ok(())
    }
}
