//! `identity-cache`: a caching decorator of the storage port ([`Repo`]).
//!
//! [`CachedRepo`] wraps any `Arc<dyn Repo>`; the domain does not know it is there.
//!
//! **Lookups** (`key_grant_by_digest`, `user_by_id`, `user_memberships`): in-process moka
//! (bounded, fresh for [`CacheConfig::fresh_ttl`]) → for keys, a bounded negative cache of
//! digests the database did not know → for keys, Redis (a short timeout and a circuit breaker; a
//! Redis error is logged and the lookup goes on to the database, it never decides anything) → the
//! inner repo, then both caches are filled. Concurrent misses of one key wait for a single
//! lookup. A database error is never cached. Expiry and revocation are checked by the caller on
//! every hit, so a cached row cannot make a key live longer. Redis holds grants: the key row, its
//! owner without the password hash, and the owner's memberships (JSON, under
//! `<namespace>:grant:<hex digest>`, with a TTL), so a replica with a cold memory answers a verify
//! with one Redis GET. Each value carries an HMAC over the digest it is stored under and the row
//! ([`seal`], keyed by [`CacheConfig::entry_key`]): an entry that does not verify (copied under
//! another digest, edited, forged) is a miss, deleted, and the database answers. User rows with their password hash are cached in-process only.
//!
//! **Key uses** (`touch_api_key`) are debounced per key and replica and written in batches, one
//! transaction every [`CacheConfig::touch_flush_every`], off the request path.
//!
//! **Writes** that change a key, a user or a membership are committed through the inner repo
//! first; then the affected entries are evicted locally, DEL'd in Redis and an invalidation is
//! PUBLISHed on `<namespace>:invalidate`. To know a key's digest, a write that names a key by id
//! fetches the row before (a digest never changes), and `revoke_api_key` gets it from the revoked
//! row; a change to a user or their memberships reads the digests of all their keys (their
//! grants embed the user). No secondary index is kept. A background task on every replica evicts on each message and
//! flushes the whole local cache whenever its subscription (re)connects. A failed
//! DEL/PUBLISH is retried in the background until it goes through (or the Redis TTL has passed),
//! and every delivered invalidation is repeated once a second later, to catch a reader that
//! refilled Redis with the old row in between.
//!
//! Without a Redis URL the cache is in-process only (fit for a single replica).

mod breaker;
mod local;
mod remote;
mod seal;
mod stats;
mod wire;

use std::{collections::HashMap, sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use identity_core::{
    Result,
    domain::{
        ApiKey, KeyGrant, Membership, NewApiKey, NewUser, OrgRole, Organization, Team,
        TeamMembership, TeamRole, User, UserFilter, UserId, UserPatch,
    },
    pagination::PageRequest,
    ports::Repo,
};
use uuid::Uuid;

pub use breaker::{BreakerState, CircuitBreaker};
pub use seal::EntryKey;
pub use stats::{CacheCounters, CacheStats};

use local::Local;
use remote::Remote;
use stats::{bump, exported};
use wire::{GrantRow, Invalidation};

/// Settings of the cache.
#[derive(Debug, Clone)]
pub struct CacheConfig {
    /// Redis URL; `None` keeps the cache in-process only.
    pub redis_url: Option<String>,
    /// Prefix of every Redis key and of the pub/sub channel (tests use a random one).
    pub namespace: String,
    /// How long an in-process entry is served without asking anyone: the bound on staleness
    /// when invalidation messages are lost.
    pub fresh_ttl: Duration,
    /// Entries of each in-process cache (keys, users, memberships).
    pub max_entries: u64,
    /// Entries of the negative cache.
    pub negative_max_entries: u64,
    /// Lifetime of a negative entry.
    pub negative_ttl: Duration,
    /// Lifetime of a key row in Redis.
    pub redis_ttl: Duration,
    /// Deadline of one Redis command.
    pub redis_timeout: Duration,
    /// Consecutive Redis failures that open the circuit breaker.
    pub breaker_threshold: u32,
    /// How long an open breaker skips Redis.
    pub breaker_cooldown: Duration,
    /// A key's use is written at most once per this period per replica.
    pub touch_every: Duration,
    /// Key uses are written in one batch this often.
    pub touch_flush_every: Duration,
    /// Key uses waiting for the next batch, at most (more are dropped: `last_used_at` is a
    /// hint, never worth unbounded memory).
    pub touch_batch_max: usize,
    /// The secret that seals Redis entries; replicas sharing a Redis need the same one.
    pub entry_key: EntryKey,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            redis_url: None,
            namespace: "identity".to_owned(),
            fresh_ttl: Duration::from_secs(5),
            max_entries: 50_000,
            negative_max_entries: 10_000,
            negative_ttl: Duration::from_secs(5),
            redis_ttl: Duration::from_secs(30),
            redis_timeout: Duration::from_millis(50),
            breaker_threshold: 5,
            breaker_cooldown: Duration::from_secs(1),
            touch_every: Duration::from_secs(60),
            touch_flush_every: Duration::from_secs(2),
            touch_batch_max: 10_000,
            entry_key: EntryKey::random(),
        }
    }
}

/// Aborts the subscriber when the last handle of the cache goes away.
#[derive(Debug)]
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Key uses waiting to be written: key id → latest use.
type PendingTouches = Arc<std::sync::Mutex<HashMap<i64, DateTime<Utc>>>>;

/// Why a grant lookup produced no grant (shared by the callers that waited for it).
#[derive(Debug)]
enum Miss {
    Unknown,
    Failed(identity_core::Error),
}

/// A [`Repo`] that caches the hot lookups of another one.
pub struct CachedRepo {
    inner: Arc<dyn Repo>,
    local: Arc<Local>,
    remote: Option<Arc<Remote>>,
    stats: Arc<CacheStats>,
    touches: PendingTouches,
    touch_batch_max: usize,
    _subscriber: Option<AbortOnDrop>,
    _flusher: AbortOnDrop,
}

impl std::fmt::Debug for CachedRepo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachedRepo")
            .field("redis", &self.remote.is_some())
            .field("stats", &self.stats.snapshot())
            .finish_non_exhaustive()
    }
}

impl CachedRepo {
    /// Wrap `inner`. With a Redis URL, connects lazily and starts the invalidation subscriber
    /// (so it must be called inside a Tokio runtime); a Redis that is down is not an error.
    /// Fails only on an unparsable Redis URL.
    pub fn new(
        inner: Arc<dyn Repo>,
        config: &CacheConfig,
    ) -> std::result::Result<Self, ConfigError> {
        let stats = Arc::new(CacheStats::default());
        let local = Arc::new(Local::new(
            config.max_entries,
            config.fresh_ttl,
            config.negative_max_entries,
            config.negative_ttl,
            config.touch_every,
        ));
        let (remote, subscriber) = match &config.redis_url {
            Some(url) => {
                let remote = Arc::new(
                    Remote::new(
                        url,
                        &config.namespace,
                        config.redis_timeout,
                        config.redis_ttl,
                        CircuitBreaker::new(config.breaker_threshold, config.breaker_cooldown),
                        stats.clone(),
                        config.entry_key.clone(),
                    )
                    .map_err(|e| ConfigError(format!("invalid Redis URL: {e}")))?,
                );
                let task = tokio::spawn(remote.clone().subscribe_forever(local.clone()));
                (Some(remote), Some(AbortOnDrop(task)))
            }
            None => (None, None),
        };
        let touches = PendingTouches::default();
        let flusher = tokio::spawn(flush_forever(
            inner.clone(),
            touches.clone(),
            stats.clone(),
            config.touch_flush_every,
        ));
        Ok(Self {
            inner,
            local,
            remote,
            stats,
            touches,
            touch_batch_max: config.touch_batch_max,
            _subscriber: subscriber,
            _flusher: AbortOnDrop(flusher),
        })
    }

    /// Write the key uses waiting for the next batch now (at shutdown).
    pub async fn flush_touches(&self) -> Result<()> {
        flush_once(&*self.inner, &self.touches, &self.stats).await
    }

    /// Redis, then the database; fills Redis from the database.
    async fn load_grant(
        &self,
        digest: &[u8; 32],
        generation: u64,
    ) -> std::result::Result<Arc<KeyGrant>, Miss> {
        if let Some(remote) = &self.remote
            && let Some(bytes) = remote.get(digest).await
        {
            // `Remote::get` returns only entries sealed for this digest by a holder of the key.
            match serde_json::from_slice::<GrantRow>(&bytes).map(|r| r.into_grant(*digest)) {
                Ok(Some(grant)) => {
                    bump(&self.stats.redis_hits);
                    exported::REDIS_HITS.increment(1);
                    return Ok(Arc::new(grant));
                }
                Ok(None) | Err(_) => {
                    tracing::warn!("unreadable grant in Redis; asking the database");
                }
            }
        }
        bump(&self.stats.db_key_lookups);
        exported::DB_KEY_LOOKUPS.increment(1);
        let grant = self
            .inner
            .key_grant_by_digest(digest)
            .await
            .map_err(Miss::Failed)?
            .ok_or(Miss::Unknown)?;
        if let Some(remote) = &self.remote
            && self.local.unchanged_since(generation)
            && let Ok(row) = serde_json::to_vec(&GrantRow::from_grant(&grant))
        {
            remote.set(digest, &row).await;
        }
        Ok(Arc::new(grant))
    }

    /// The live counters.
    pub fn stats(&self) -> Arc<CacheStats> {
        self.stats.clone()
    }

    /// Whether Redis is configured.
    pub fn has_redis(&self) -> bool {
        self.remote.is_some()
    }

    /// Evict locally, then DEL and PUBLISH (when Redis is configured).
    async fn invalidate(&self, inv: Invalidation) {
        if inv.is_empty() {
            return;
        }
        let digests: Vec<[u8; 32]> = inv.digests.iter().filter_map(|d| wire::unhex(d)).collect();
        self.local.evict(&digests, &inv.users, &inv.user_keys).await;
        if let Some(remote) = &self.remote {
            remote.deliver(inv).await;
        }
    }

    /// A user's row or memberships changed: their grants (in Redis too) embed them.
    async fn user_changed(&self, id: UserId) {
        let mut inv = Invalidation::user(id);
        inv.user_keys.push(id);
        match self.inner.api_key_digests_of_user(id).await {
            Ok(digests) => inv.digests = digests.iter().map(wire::hex).collect(),
            // The change is committed; without the digests, the Redis copies of this user's
            // grants live out their TTL (bounded staleness). Every local copy is still evicted.
            Err(e) => tracing::warn!(error = %e, "cannot list a changed user's keys"),
        }
        self.invalidate(inv).await;
    }
}

/// The cache could not be configured (an unparsable Redis URL).
#[derive(Debug)]
pub struct ConfigError(String);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

#[async_trait::async_trait]
impl Repo for CachedRepo {
    async fn ping(&self) -> Result<()> {
        self.inner.ping().await
    }

    async fn init_admin(
        &self,
        admin: NewUser,
        org_id: Uuid,
        org_name: String,
    ) -> Result<(User, Organization)> {
        let out = self.inner.init_admin(admin, org_id, org_name).await?;
        self.user_changed(out.0.id).await;
        Ok(out)
    }

    async fn admin_exists(&self) -> Result<bool> {
        self.inner.admin_exists().await
    }

    async fn count_admins(&self) -> Result<u64> {
        self.inner.count_admins().await
    }

    async fn default_organization(&self) -> Result<Option<Organization>> {
        self.inner.default_organization().await
    }

    async fn create_user(&self, user: NewUser, join: Option<(Uuid, OrgRole)>) -> Result<User> {
        let user = self.inner.create_user(user, join).await?;
        // Memberships of an id that did not exist yet may have been cached as empty.
        self.user_changed(user.id).await;
        Ok(user)
    }

    async fn user_by_id(&self, id: UserId) -> Result<Option<User>> {
        if let Some(u) = self.local.users.get(&id).await {
            bump(&self.stats.local_hits);
            exported::LOCAL_HITS.increment(1);
            return Ok(Some((*u).clone()));
        }
        bump(&self.stats.local_misses);
        exported::LOCAL_MISSES.increment(1);
        let generation = self.local.generation();
        bump(&self.stats.db_user_lookups);
        exported::DB_USER_LOOKUPS.increment(1);
        let found = self.inner.user_by_id(id).await?;
        if let Some(u) = &found
            && self.local.unchanged_since(generation)
        {
            self.local.users.insert(id, Arc::new(u.clone())).await;
        }
        Ok(found)
    }

    async fn user_by_uid(&self, uid: Uuid) -> Result<Option<User>> {
        self.inner.user_by_uid(uid).await
    }

    async fn user_by_username(&self, username_key: &str) -> Result<Option<User>> {
        self.inner.user_by_username(username_key).await
    }

    async fn user_by_email(&self, email_key: &str) -> Result<Option<User>> {
        self.inner.user_by_email(email_key).await
    }

    async fn list_users(&self, filter: &UserFilter, page: PageRequest) -> Result<Vec<User>> {
        self.inner.list_users(filter, page).await
    }

    async fn count_users(&self, filter: &UserFilter) -> Result<u64> {
        self.inner.count_users(filter).await
    }

    async fn update_user(&self, id: UserId, patch: UserPatch, now: DateTime<Utc>) -> Result<User> {
        let user = self.inner.update_user(id, patch, now).await?;
        self.user_changed(id).await;
        Ok(user)
    }

    async fn delete_user(&self, id: UserId) -> Result<Vec<[u8; 32]>> {
        let digests = self.inner.delete_user(id).await?;
        let mut inv = Invalidation::digests(digests.iter().copied());
        inv.users.push(id);
        inv.user_keys.push(id);
        self.invalidate(inv).await;
        Ok(digests)
    }

    async fn create_api_key(&self, key: NewApiKey) -> Result<ApiKey> {
        // A primary key revokes the owner's current primary: learn its digest first.
        let old_primary = if key.primary {
            self.inner.primary_api_key(key.user_id).await?
        } else {
            None
        };
        let created = self.inner.create_api_key(key).await?;
        // A digest that was looked up before it existed may sit in the negative cache.
        self.local.negative.invalidate(&created.digest).await;
        if created.primary {
            let mut inv = Invalidation::digests(old_primary.map(|k| k.digest));
            inv.user_keys.push(created.user_id);
            self.invalidate(inv).await;
        }
        Ok(created)
    }

    async fn api_key_by_id(&self, id: i64) -> Result<Option<ApiKey>> {
        self.inner.api_key_by_id(id).await
    }

    async fn api_key_by_uid(&self, uid: Uuid) -> Result<Option<ApiKey>> {
        self.inner.api_key_by_uid(uid).await
    }

    async fn api_key_by_digest(&self, digest: &[u8; 32]) -> Result<Option<ApiKey>> {
        self.inner.api_key_by_digest(digest).await
    }

    async fn key_grant_by_digest(&self, digest: &[u8; 32]) -> Result<Option<KeyGrant>> {
        if let Some(g) = self.local.keys.get(digest).await {
            bump(&self.stats.local_hits);
            exported::LOCAL_HITS.increment(1);
            return Ok(Some((*g).clone()));
        }
        if self.local.negative.contains_key(digest) {
            bump(&self.stats.negative_hits);
            exported::NEGATIVE_HITS.increment(1);
            return Ok(None);
        }
        bump(&self.stats.local_misses);
        exported::LOCAL_MISSES.increment(1);
        let generation = self.local.generation();
        let mut ran = false;
        let loaded = self
            .local
            .keys
            .try_get_with(*digest, async {
                ran = true;
                self.load_grant(digest, generation).await
            })
            .await;
        if !ran {
            bump(&self.stats.coalesced);
        }
        if !self.local.unchanged_since(generation) {
            // A write raced with this lookup: what was read may predate it.
            self.local.keys.invalidate(digest).await;
        }
        match loaded {
            Ok(grant) => Ok(Some((*grant).clone())),
            Err(miss) => match &*miss {
                Miss::Unknown => {
                    if self.local.unchanged_since(generation) {
                        self.local.negative.insert(*digest, ()).await;
                    }
                    Ok(None)
                }
                // Every waiter gets the same kind of failure (the error is shared, not Clone).
                Miss::Failed(identity_core::Error::Unavailable(m)) => {
                    Err(identity_core::Error::Unavailable(m.clone()))
                }
                Miss::Failed(e) => Err(identity_core::Error::Internal(e.to_string())),
            },
        }
    }

    async fn api_key_digests_of_user(&self, user: UserId) -> Result<Vec<[u8; 32]>> {
        self.inner.api_key_digests_of_user(user).await
    }

    async fn list_api_keys(
        &self,
        user_id: UserId,
        include_revoked: bool,
        organization_id: Option<Uuid>,
        page: PageRequest,
    ) -> Result<Vec<ApiKey>> {
        self.inner
            .list_api_keys(user_id, include_revoked, organization_id, page)
            .await
    }

    async fn primary_api_key(&self, user_id: UserId) -> Result<Option<ApiKey>> {
        self.inner.primary_api_key(user_id).await
    }

    async fn revoke_api_key(&self, id: i64, now: DateTime<Utc>) -> Result<Option<ApiKey>> {
        let revoked = self.inner.revoke_api_key(id, now).await?;
        if let Some(k) = &revoked {
            self.invalidate(Invalidation::digests([k.digest])).await;
        }
        Ok(revoked)
    }

    async fn roll_api_key(&self, old: Option<i64>, new: NewApiKey) -> Result<ApiKey> {
        let mut before = Vec::new();
        if let Some(id) = old
            && let Some(k) = self.inner.api_key_by_id(id).await?
        {
            before.push(k.digest);
        }
        if new.primary
            && let Some(k) = self.inner.primary_api_key(new.user_id).await?
        {
            before.push(k.digest);
        }
        let created = self.inner.roll_api_key(old, new).await?;
        self.local.negative.invalidate(&created.digest).await;
        let mut inv = Invalidation::digests(before);
        if created.primary {
            inv.user_keys.push(created.user_id);
        }
        self.invalidate(inv).await;
        Ok(created)
    }

    async fn touch_api_key(&self, id: i64, at: DateTime<Utc>) -> Result<()> {
        // A cached grant keeps its old `last_used_at`, so every cached hit asks for a touch:
        // queue at most one per period per key and replica; the flusher writes them in batches.
        if self.local.touched.contains_key(&id) {
            return Ok(());
        }
        self.local.touched.insert(id, ()).await;
        let mut pending = self
            .touches
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if pending.len() < self.touch_batch_max || pending.contains_key(&id) {
            record_use(&mut pending, id, at);
        }
        Ok(())
    }

    async fn touch_api_keys(&self, uses: &[(i64, DateTime<Utc>)]) -> Result<()> {
        self.inner.touch_api_keys(uses).await
    }

    async fn create_organization(
        &self,
        id: Uuid,
        name: String,
        owner: UserId,
        now: DateTime<Utc>,
    ) -> Result<Organization> {
        let org = self.inner.create_organization(id, name, owner, now).await?;
        self.user_changed(owner).await;
        Ok(org)
    }

    async fn organization_by_id(&self, id: Uuid) -> Result<Option<Organization>> {
        self.inner.organization_by_id(id).await
    }

    async fn membership(&self, org: Uuid, user: UserId) -> Result<Option<Membership>> {
        self.inner.membership(org, user).await
    }

    async fn add_member(
        &self,
        org: Uuid,
        user: UserId,
        role: OrgRole,
        now: DateTime<Utc>,
    ) -> Result<Membership> {
        let m = self.inner.add_member(org, user, role, now).await?;
        self.user_changed(user).await;
        Ok(m)
    }

    async fn set_member_role(&self, org: Uuid, user: UserId, role: OrgRole) -> Result<Membership> {
        let m = self.inner.set_member_role(org, user, role).await?;
        self.user_changed(user).await;
        Ok(m)
    }

    async fn remove_member(&self, org: Uuid, user: UserId) -> Result<bool> {
        let removed = self.inner.remove_member(org, user).await?;
        self.user_changed(user).await;
        Ok(removed)
    }

    async fn count_owners(&self, org: Uuid) -> Result<u64> {
        self.inner.count_owners(org).await
    }

    async fn list_members(
        &self,
        org: Uuid,
        emails: &[String],
        page: PageRequest,
    ) -> Result<Vec<(Membership, User)>> {
        self.inner.list_members(org, emails, page).await
    }

    async fn user_memberships(&self, user: UserId) -> Result<Vec<(Membership, Organization)>> {
        if let Some(m) = self.local.memberships.get(&user).await {
            bump(&self.stats.local_hits);
            exported::LOCAL_HITS.increment(1);
            return Ok((*m).clone());
        }
        bump(&self.stats.local_misses);
        exported::LOCAL_MISSES.increment(1);
        let generation = self.local.generation();
        bump(&self.stats.db_membership_lookups);
        exported::DB_MEMBERSHIP_LOOKUPS.increment(1);
        let found = self.inner.user_memberships(user).await?;
        if self.local.unchanged_since(generation) {
            self.local
                .memberships
                .insert(user, Arc::new(found.clone()))
                .await;
        }
        Ok(found)
    }

    async fn create_team(&self, name: String, now: DateTime<Utc>) -> Result<Team> {
        self.inner.create_team(name, now).await
    }

    async fn team_by_id(&self, id: i64) -> Result<Option<Team>> {
        self.inner.team_by_id(id).await
    }

    async fn list_teams(&self, page: PageRequest) -> Result<Vec<Team>> {
        self.inner.list_teams(page).await
    }

    async fn add_team_member(
        &self,
        team: i64,
        user: UserId,
        role: TeamRole,
        now: DateTime<Utc>,
    ) -> Result<TeamMembership> {
        self.inner.add_team_member(team, user, role, now).await
    }

    async fn remove_team_member(&self, team: i64, user: UserId) -> Result<bool> {
        self.inner.remove_team_member(team, user).await
    }

    async fn team_membership(&self, team: i64, user: UserId) -> Result<Option<TeamMembership>> {
        self.inner.team_membership(team, user).await
    }

    async fn user_team_memberships(&self, user: UserId) -> Result<Vec<TeamMembership>> {
        self.inner.user_team_memberships(user).await
    }

    // --- login protection and idempotency (not cached) ---

    async fn login_failures(
        &self,
        identifier_key: &str,
    ) -> Result<Option<identity_core::ports::LoginFailures>> {
        self.inner.login_failures(identifier_key).await
    }

    async fn record_login_failure(
        &self,
        identifier_key: &str,
        now: DateTime<Utc>,
        reset_before: DateTime<Utc>,
    ) -> Result<identity_core::ports::LoginFailures> {
        self.inner
            .record_login_failure(identifier_key, now, reset_before)
            .await
    }

    async fn clear_login_failures(&self, identifier_key: &str) -> Result<()> {
        self.inner.clear_login_failures(identifier_key).await
    }

    async fn idempotency_record(
        &self,
        key: &identity_core::ports::IdempotencyKey,
        not_before: DateTime<Utc>,
    ) -> Result<Option<identity_core::ports::IdempotencyRecord>> {
        self.inner.idempotency_record(key, not_before).await
    }

    async fn create_user_idempotent(
        &self,
        user: NewUser,
        join: Option<(Uuid, OrgRole)>,
        idem: identity_core::ports::NewIdempotency,
    ) -> Result<User> {
        let user = self.inner.create_user_idempotent(user, join, idem).await?;
        // As in `create_user`.
        self.user_changed(user.id).await;
        Ok(user)
    }

    async fn create_api_key_idempotent(
        &self,
        key: NewApiKey,
        idem: identity_core::ports::NewIdempotency,
    ) -> Result<ApiKey> {
        // As in `create_api_key`.
        let old_primary = if key.primary {
            self.inner.primary_api_key(key.user_id).await?
        } else {
            None
        };
        let created = self.inner.create_api_key_idempotent(key, idem).await?;
        self.local.negative.invalidate(&created.digest).await;
        if created.primary {
            let mut inv = Invalidation::digests(old_primary.map(|k| k.digest));
            inv.user_keys.push(created.user_id);
            self.invalidate(inv).await;
        }
        Ok(created)
    }
}

/// Keep the latest use of key `id` among the pending ones.
fn record_use(pending: &mut HashMap<i64, DateTime<Utc>>, id: i64, at: DateTime<Utc>) {
    let slot = pending.entry(id).or_insert(at);
    *slot = (*slot).max(at);
}

/// Take the pending key uses and write them in one batch; on failure, put them back (bounded).
async fn flush_once(inner: &dyn Repo, touches: &PendingTouches, stats: &CacheStats) -> Result<()> {
    let batch: Vec<(i64, DateTime<Utc>)> = {
        let mut pending = touches
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        pending.drain().collect()
    };
    if batch.is_empty() {
        return Ok(());
    }
    match inner.touch_api_keys(&batch).await {
        Ok(()) => {
            bump(&stats.touch_batches);
            stats
                .db_touches
                .fetch_add(batch.len() as u64, std::sync::atomic::Ordering::Relaxed);
            Ok(())
        }
        Err(e) => {
            let mut pending = touches
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            for (id, at) in batch {
                record_use(&mut pending, id, at);
            }
            Err(e)
        }
    }
}

async fn flush_forever(
    inner: Arc<dyn Repo>,
    touches: PendingTouches,
    stats: Arc<CacheStats>,
    every: Duration,
) {
    let mut tick = tokio::time::interval(every.max(Duration::from_millis(10)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(e) = flush_once(&*inner, &touches, &stats).await {
            tracing::warn!(error = %e, "could not record key uses; retrying with the next batch");
        }
    }
}
