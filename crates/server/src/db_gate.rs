//! Fail fast while the database is known to be down.
//!
//! The readiness watcher pings the database every `IDENTITY_READINESS_INTERVAL_MS` (on a
//! connection of its own, so that a saturated pool is not taken for an outage; a ping that fails
//! or stays unanswered for 1–2 s counts as down) and records the outcome in a [`DbGate`]. While the last ping failed, [`GatedRepo`] refuses every storage
//! call at once with `Error::Unavailable` (gRPC UNAVAILABLE with `RetryInfo`, 503 in each REST
//! dialect) instead of letting it wait for a pool connection: without this, a database that
//! vanished without closing its sockets (a partition, a dead host) would hold every request for
//! the pool's acquire timeout (`IDENTITY_DB_ACQUIRE_TIMEOUT_SECS`), piling requests up behind
//! it. The gate sits *below* the cache, so lookups the cache can answer (API-key verification of
//! recently seen keys) keep working during the outage. Only the watcher's ping goes through
//! while the gate is closed, and its first success opens the gate again: recovery needs no
//! restart. Calls made between the outage and the next failed ping still reach the pool and
//! fail on their own (at once for a refused or reset connection).

use std::sync::{
    Arc,
    atomic::{AtomicBool, Ordering},
};

use chrono::{DateTime, Utc};
use identity_core::{
    Error, Result,
    domain::{
        ApiKey, KeyGrant, Membership, NewApiKey, NewUser, OrgRole, Organization, Team,
        TeamMembership, TeamRole, User, UserFilter, UserId, UserPatch,
    },
    pagination::PageRequest,
    ports::{IdempotencyKey, IdempotencyRecord, LoginFailures, NewIdempotency, Repo},
};
use uuid::Uuid;

/// Whether the database answered the last readiness ping. Cheap to clone; starts open (the
/// server only starts once it has connected).
#[derive(Debug, Clone)]
pub struct DbGate(Arc<AtomicBool>);

impl Default for DbGate {
    fn default() -> Self {
        Self(Arc::new(AtomicBool::new(true)))
    }
}

impl DbGate {
    /// Record the outcome of a readiness ping.
    pub fn set_reachable(&self, reachable: bool) {
        self.0.store(reachable, Ordering::Release);
    }

    /// Whether storage calls are let through.
    pub fn is_open(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

/// A [`Repo`] decorator refusing every call but `ping` while its [`DbGate`] is closed.
pub struct GatedRepo {
    inner: Arc<dyn Repo>,
    gate: DbGate,
}

impl std::fmt::Debug for GatedRepo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatedRepo")
            .field("open", &self.gate.is_open())
            .finish_non_exhaustive()
    }
}

impl GatedRepo {
    /// Wrap `inner`.
    pub fn new(inner: Arc<dyn Repo>, gate: DbGate) -> Self {
        Self { inner, gate }
    }

    fn check(&self) -> Result<()> {
        if self.gate.is_open() {
            Ok(())
        } else {
            Err(Error::Unavailable(
                "the database did not answer the last readiness check".to_owned(),
            ))
        }
    }
}

#[async_trait::async_trait]
impl Repo for GatedRepo {
    /// Always reaches the database: the readiness watcher uses it to find out when to reopen.
    async fn ping(&self) -> Result<()> {
        self.inner.ping().await
    }

    async fn init_admin(
        &self,
        admin: NewUser,
        org_id: Uuid,
        org_name: String,
    ) -> Result<(User, Organization)> {
        self.check()?;
        self.inner.init_admin(admin, org_id, org_name).await
    }

    async fn admin_exists(&self) -> Result<bool> {
        self.check()?;
        self.inner.admin_exists().await
    }

    async fn count_admins(&self) -> Result<u64> {
        self.check()?;
        self.inner.count_admins().await
    }

    async fn default_organization(&self) -> Result<Option<Organization>> {
        self.check()?;
        self.inner.default_organization().await
    }

    async fn create_user(&self, user: NewUser, join: Option<(Uuid, OrgRole)>) -> Result<User> {
        self.check()?;
        self.inner.create_user(user, join).await
    }

    async fn user_by_id(&self, id: UserId) -> Result<Option<User>> {
        self.check()?;
        self.inner.user_by_id(id).await
    }

    async fn user_by_uid(&self, uid: Uuid) -> Result<Option<User>> {
        self.check()?;
        self.inner.user_by_uid(uid).await
    }

    async fn user_by_username(&self, username_key: &str) -> Result<Option<User>> {
        self.check()?;
        self.inner.user_by_username(username_key).await
    }

    async fn user_by_email(&self, email_key: &str) -> Result<Option<User>> {
        self.check()?;
        self.inner.user_by_email(email_key).await
    }

    async fn list_users(&self, filter: &UserFilter, page: PageRequest) -> Result<Vec<User>> {
        self.check()?;
        self.inner.list_users(filter, page).await
    }

    async fn count_users(&self, filter: &UserFilter) -> Result<u64> {
        self.check()?;
        self.inner.count_users(filter).await
    }

    async fn update_user(&self, id: UserId, patch: UserPatch, now: DateTime<Utc>) -> Result<User> {
        self.check()?;
        self.inner.update_user(id, patch, now).await
    }

    async fn delete_user(&self, id: UserId) -> Result<Vec<[u8; 32]>> {
        self.check()?;
        self.inner.delete_user(id).await
    }

    async fn create_api_key(&self, key: NewApiKey) -> Result<ApiKey> {
        self.check()?;
        self.inner.create_api_key(key).await
    }

    async fn api_key_by_id(&self, id: i64) -> Result<Option<ApiKey>> {
        self.check()?;
        self.inner.api_key_by_id(id).await
    }

    async fn api_key_by_uid(&self, uid: Uuid) -> Result<Option<ApiKey>> {
        self.check()?;
        self.inner.api_key_by_uid(uid).await
    }

    async fn api_key_by_digest(&self, digest: &[u8; 32]) -> Result<Option<ApiKey>> {
        self.check()?;
        self.inner.api_key_by_digest(digest).await
    }

    async fn list_api_keys(
        &self,
        user_id: UserId,
        include_revoked: bool,
        organization_id: Option<Uuid>,
        page: PageRequest,
    ) -> Result<Vec<ApiKey>> {
        self.check()?;
        self.inner
            .list_api_keys(user_id, include_revoked, organization_id, page)
            .await
    }

    async fn primary_api_key(&self, user_id: UserId) -> Result<Option<ApiKey>> {
        self.check()?;
        self.inner.primary_api_key(user_id).await
    }

    async fn revoke_api_key(&self, id: i64, now: DateTime<Utc>) -> Result<Option<ApiKey>> {
        self.check()?;
        self.inner.revoke_api_key(id, now).await
    }

    async fn roll_api_key(&self, old: Option<i64>, new: NewApiKey) -> Result<ApiKey> {
        self.check()?;
        self.inner.roll_api_key(old, new).await
    }

    async fn touch_api_key(&self, id: i64, at: DateTime<Utc>) -> Result<()> {
        self.check()?;
        self.inner.touch_api_key(id, at).await
    }

    async fn touch_api_keys(&self, uses: &[(i64, DateTime<Utc>)]) -> Result<()> {
        self.check()?;
        self.inner.touch_api_keys(uses).await
    }

    async fn key_grant_by_digest(&self, digest: &[u8; 32]) -> Result<Option<KeyGrant>> {
        self.check()?;
        self.inner.key_grant_by_digest(digest).await
    }

    async fn api_key_digests_of_user(&self, user: UserId) -> Result<Vec<[u8; 32]>> {
        self.check()?;
        self.inner.api_key_digests_of_user(user).await
    }

    async fn create_organization(
        &self,
        id: Uuid,
        name: String,
        owner: UserId,
        now: DateTime<Utc>,
    ) -> Result<Organization> {
        self.check()?;
        self.inner.create_organization(id, name, owner, now).await
    }

    async fn organization_by_id(&self, id: Uuid) -> Result<Option<Organization>> {
        self.check()?;
        self.inner.organization_by_id(id).await
    }

    async fn membership(&self, org: Uuid, user: UserId) -> Result<Option<Membership>> {
        self.check()?;
        self.inner.membership(org, user).await
    }

    async fn add_member(
        &self,
        org: Uuid,
        user: UserId,
        role: OrgRole,
        now: DateTime<Utc>,
    ) -> Result<Membership> {
        self.check()?;
        self.inner.add_member(org, user, role, now).await
    }

    async fn set_member_role(&self, org: Uuid, user: UserId, role: OrgRole) -> Result<Membership> {
        self.check()?;
        self.inner.set_member_role(org, user, role).await
    }

    async fn remove_member(&self, org: Uuid, user: UserId) -> Result<bool> {
        self.check()?;
        self.inner.remove_member(org, user).await
    }

    async fn count_owners(&self, org: Uuid) -> Result<u64> {
        self.check()?;
        self.inner.count_owners(org).await
    }

    async fn list_members(
        &self,
        org: Uuid,
        emails: &[String],
        page: PageRequest,
    ) -> Result<Vec<(Membership, User)>> {
        self.check()?;
        self.inner.list_members(org, emails, page).await
    }

    async fn user_memberships(&self, user: UserId) -> Result<Vec<(Membership, Organization)>> {
        self.check()?;
        self.inner.user_memberships(user).await
    }

    async fn create_team(&self, name: String, now: DateTime<Utc>) -> Result<Team> {
        self.check()?;
        self.inner.create_team(name, now).await
    }

    async fn team_by_id(&self, id: i64) -> Result<Option<Team>> {
        self.check()?;
        self.inner.team_by_id(id).await
    }

    async fn list_teams(&self, page: PageRequest) -> Result<Vec<Team>> {
        self.check()?;
        self.inner.list_teams(page).await
    }

    async fn add_team_member(
        &self,
        team: i64,
        user: UserId,
        role: TeamRole,
        now: DateTime<Utc>,
    ) -> Result<TeamMembership> {
        self.check()?;
        self.inner.add_team_member(team, user, role, now).await
    }

    async fn remove_team_member(&self, team: i64, user: UserId) -> Result<bool> {
        self.check()?;
        self.inner.remove_team_member(team, user).await
    }

    async fn team_membership(&self, team: i64, user: UserId) -> Result<Option<TeamMembership>> {
        self.check()?;
        self.inner.team_membership(team, user).await
    }

    async fn user_team_memberships(&self, user: UserId) -> Result<Vec<TeamMembership>> {
        self.check()?;
        self.inner.user_team_memberships(user).await
    }

    async fn login_failures(&self, identifier_key: &str) -> Result<Option<LoginFailures>> {
        self.check()?;
        self.inner.login_failures(identifier_key).await
    }

    async fn record_login_failure(
        &self,
        identifier_key: &str,
        now: DateTime<Utc>,
        reset_before: DateTime<Utc>,
    ) -> Result<LoginFailures> {
        self.check()?;
        self.inner
            .record_login_failure(identifier_key, now, reset_before)
            .await
    }

    async fn clear_login_failures(&self, identifier_key: &str) -> Result<()> {
        self.check()?;
        self.inner.clear_login_failures(identifier_key).await
    }

    async fn idempotency_record(
        &self,
        key: &IdempotencyKey,
        not_before: DateTime<Utc>,
    ) -> Result<Option<IdempotencyRecord>> {
        self.check()?;
        self.inner.idempotency_record(key, not_before).await
    }

    async fn create_user_idempotent(
        &self,
        user: NewUser,
        join: Option<(Uuid, OrgRole)>,
        idem: NewIdempotency,
    ) -> Result<User> {
        self.check()?;
        self.inner.create_user_idempotent(user, join, idem).await
    }

    async fn create_api_key_idempotent(
        &self,
        key: NewApiKey,
        idem: NewIdempotency,
    ) -> Result<ApiKey> {
        self.check()?;
        self.inner.create_api_key_idempotent(key, idem).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A repo whose every call but `ping` panics: a refused call must not reach it.
    struct Unreachable;

    #[async_trait::async_trait]
    impl Repo for Unreachable {
        async fn ping(&self) -> Result<()> {
            Ok(())
        }
        async fn init_admin(&self, _: NewUser, _: Uuid, _: String) -> Result<(User, Organization)> {
            unreachable!()
        }
        async fn admin_exists(&self) -> Result<bool> {
            Ok(true)
        }
        async fn count_admins(&self) -> Result<u64> {
            unreachable!()
        }
        async fn default_organization(&self) -> Result<Option<Organization>> {
            unreachable!()
        }
        async fn create_user(&self, _: NewUser, _: Option<(Uuid, OrgRole)>) -> Result<User> {
            unreachable!()
        }
        async fn user_by_id(&self, _: UserId) -> Result<Option<User>> {
            unreachable!()
        }
        async fn user_by_uid(&self, _: Uuid) -> Result<Option<User>> {
            unreachable!()
        }
        async fn user_by_username(&self, _: &str) -> Result<Option<User>> {
            unreachable!()
        }
        async fn user_by_email(&self, _: &str) -> Result<Option<User>> {
            unreachable!()
        }
        async fn list_users(&self, _: &UserFilter, _: PageRequest) -> Result<Vec<User>> {
            unreachable!()
        }
        async fn count_users(&self, _: &UserFilter) -> Result<u64> {
            unreachable!()
        }
        async fn update_user(&self, _: UserId, _: UserPatch, _: DateTime<Utc>) -> Result<User> {
            unreachable!()
        }
        async fn delete_user(&self, _: UserId) -> Result<Vec<[u8; 32]>> {
            unreachable!()
        }
        async fn create_api_key(&self, _: NewApiKey) -> Result<ApiKey> {
            unreachable!()
        }
        async fn api_key_by_id(&self, _: i64) -> Result<Option<ApiKey>> {
            unreachable!()
        }
        async fn api_key_by_uid(&self, _: Uuid) -> Result<Option<ApiKey>> {
            unreachable!()
        }
        async fn api_key_by_digest(&self, _: &[u8; 32]) -> Result<Option<ApiKey>> {
            unreachable!()
        }
        async fn list_api_keys(
            &self,
            _: UserId,
            _: bool,
            _: Option<Uuid>,
            _: PageRequest,
        ) -> Result<Vec<ApiKey>> {
            unreachable!()
        }
        async fn primary_api_key(&self, _: UserId) -> Result<Option<ApiKey>> {
            unreachable!()
        }
        async fn revoke_api_key(&self, _: i64, _: DateTime<Utc>) -> Result<Option<ApiKey>> {
            unreachable!()
        }
        async fn roll_api_key(&self, _: Option<i64>, _: NewApiKey) -> Result<ApiKey> {
            unreachable!()
        }
        async fn touch_api_key(&self, _: i64, _: DateTime<Utc>) -> Result<()> {
            unreachable!()
        }
        async fn api_key_digests_of_user(&self, _: UserId) -> Result<Vec<[u8; 32]>> {
            unreachable!()
        }
        async fn login_failures(&self, _: &str) -> Result<Option<LoginFailures>> {
            unreachable!()
        }
        async fn record_login_failure(
            &self,
            _: &str,
            _: DateTime<Utc>,
            _: DateTime<Utc>,
        ) -> Result<LoginFailures> {
            unreachable!()
        }
        async fn clear_login_failures(&self, _: &str) -> Result<()> {
            unreachable!()
        }
        async fn idempotency_record(
            &self,
            _: &IdempotencyKey,
            _: DateTime<Utc>,
        ) -> Result<Option<IdempotencyRecord>> {
            unreachable!()
        }
        async fn create_user_idempotent(
            &self,
            _: NewUser,
            _: Option<(Uuid, OrgRole)>,
            _: NewIdempotency,
        ) -> Result<User> {
            unreachable!()
        }
        async fn create_api_key_idempotent(
            &self,
            _: NewApiKey,
            _: NewIdempotency,
        ) -> Result<ApiKey> {
            unreachable!()
        }
        async fn create_organization(
            &self,
            _: Uuid,
            _: String,
            _: UserId,
            _: DateTime<Utc>,
        ) -> Result<Organization> {
            unreachable!()
        }
        async fn organization_by_id(&self, _: Uuid) -> Result<Option<Organization>> {
            unreachable!()
        }
        async fn membership(&self, _: Uuid, _: UserId) -> Result<Option<Membership>> {
            unreachable!()
        }
        async fn add_member(
            &self,
            _: Uuid,
            _: UserId,
            _: OrgRole,
            _: DateTime<Utc>,
        ) -> Result<Membership> {
            unreachable!()
        }
        async fn set_member_role(&self, _: Uuid, _: UserId, _: OrgRole) -> Result<Membership> {
            unreachable!()
        }
        async fn remove_member(&self, _: Uuid, _: UserId) -> Result<bool> {
            unreachable!()
        }
        async fn count_owners(&self, _: Uuid) -> Result<u64> {
            unreachable!()
        }
        async fn list_members(
            &self,
            _: Uuid,
            _: &[String],
            _: PageRequest,
        ) -> Result<Vec<(Membership, User)>> {
            unreachable!()
        }
        async fn user_memberships(&self, _: UserId) -> Result<Vec<(Membership, Organization)>> {
            unreachable!()
        }
        async fn create_team(&self, _: String, _: DateTime<Utc>) -> Result<Team> {
            unreachable!()
        }
        async fn team_by_id(&self, _: i64) -> Result<Option<Team>> {
            unreachable!()
        }
        async fn list_teams(&self, _: PageRequest) -> Result<Vec<Team>> {
            unreachable!()
        }
        async fn add_team_member(
            &self,
            _: i64,
            _: UserId,
            _: TeamRole,
            _: DateTime<Utc>,
        ) -> Result<TeamMembership> {
            unreachable!()
        }
        async fn remove_team_member(&self, _: i64, _: UserId) -> Result<bool> {
            unreachable!()
        }
        async fn team_membership(&self, _: i64, _: UserId) -> Result<Option<TeamMembership>> {
            unreachable!()
        }
        async fn user_team_memberships(&self, _: UserId) -> Result<Vec<TeamMembership>> {
            unreachable!()
        }
    }

    #[tokio::test]
    async fn a_closed_gate_refuses_without_calling_the_database_and_ping_reopens_it() {
        let gate = DbGate::default();
        let repo = GatedRepo::new(Arc::new(Unreachable), gate.clone());
        assert!(matches!(repo.admin_exists().await, Ok(true)));
        gate.set_reachable(false);
        assert!(matches!(
            repo.count_admins().await,
            Err(Error::Unavailable(_))
        ));
        assert!(matches!(
            repo.user_by_id(1).await,
            Err(Error::Unavailable(_))
        ));
        // The ping is never refused (the readiness watcher needs it).
        assert!(repo.ping().await.is_ok());
        gate.set_reachable(true);
        assert!(matches!(repo.admin_exists().await, Ok(true)));
    }
}
