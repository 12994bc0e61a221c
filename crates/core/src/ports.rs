//! Ports: what the domain needs from storage. `identity-store` implements them with SeaORM.
//!
//! Conventions for every implementation:
//! - Unique clashes become `Error::AlreadyExists`, connection/pool failures `Error::Unavailable`,
//!   anything else `Error::Internal`; never a panic.
//! - Listing methods return up to `page.limit + 1` rows (the extra row tells that a next page
//!   exists) with key strictly greater than `page.after`, in ascending key order.
//! - Usernames and e-mails are compared through their lower-cased keys.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::{
    Result,
    domain::{
        ApiKey, KeyGrant, Membership, NewApiKey, NewUser, OrgRole, Organization, Team,
        TeamMembership, TeamRole, User, UserFilter, UserId, UserPatch,
    },
    pagination::PageRequest,
};

/// Storage of users, organizations, teams and API keys.
#[async_trait::async_trait]
pub trait Repo: Send + Sync + 'static {
    /// Check that the database answers (readiness).
    async fn ping(&self) -> Result<()>;

    // --- setup ---

    /// In one transaction, and race-safe (of two concurrent calls exactly one succeeds): fail with
    /// `AlreadyExists { entity: Administrator, field: "setup" }` when an administrator exists;
    /// otherwise insert `admin`, the default organization (`org_id`, `org_name`, is_default) and
    /// the administrator's `owner` membership.
    async fn init_admin(
        &self,
        admin: NewUser,
        org_id: Uuid,
        org_name: String,
    ) -> Result<(User, Organization)>;
    /// Whether any user has the administrator role.
    async fn admin_exists(&self) -> Result<bool>;
    /// Number of administrators.
    async fn count_admins(&self) -> Result<u64>;
    /// The default organization, once InitAdmin has run.
    async fn default_organization(&self) -> Result<Option<Organization>>;

    // --- users ---

    /// Insert a user and, when `join` is given, its membership, in one transaction.
    /// `AlreadyExists { User, "username" | "email" }` on a case-insensitive clash.
    async fn create_user(&self, user: NewUser, join: Option<(Uuid, OrgRole)>) -> Result<User>;
    /// A user by numeric id.
    async fn user_by_id(&self, id: UserId) -> Result<Option<User>>;
    /// A user by UUID.
    async fn user_by_uid(&self, uid: Uuid) -> Result<Option<User>>;
    /// A user by lower-cased username.
    async fn user_by_username(&self, username_key: &str) -> Result<Option<User>>;
    /// A user by lower-cased e-mail.
    async fn user_by_email(&self, email_key: &str) -> Result<Option<User>>;
    /// Users matching `filter`, keyed by id (see the listing convention).
    async fn list_users(&self, filter: &UserFilter, page: PageRequest) -> Result<Vec<User>>;
    /// Number of users matching `filter` (its order and offset are ignored).
    async fn count_users(&self, filter: &UserFilter) -> Result<u64>;
    /// Apply `patch` and set `updated_at = now`. `NotFound` when absent; `AlreadyExists` on clash;
    /// `FailedPrecondition(LastAdmin)` when it would demote the last administrator (checked
    /// atomically with the change, so concurrent demotions cannot remove every administrator).
    async fn update_user(&self, id: UserId, patch: UserPatch, now: DateTime<Utc>) -> Result<User>;
    /// Delete a user with its memberships, team memberships and API keys, in one transaction.
    /// Returns the digests of the deleted keys (for cache eviction). `NotFound` when absent;
    /// `FailedPrecondition(LastAdmin)` for the last administrator (atomically, as above).
    async fn delete_user(&self, id: UserId) -> Result<Vec<[u8; 32]>>;

    // --- API keys ---

    /// Insert a key. When `key.primary`, first revoke (at `key.now`) and un-flag the owner's
    /// current primary key, in the same transaction.
    async fn create_api_key(&self, key: NewApiKey) -> Result<ApiKey>;
    /// A key by numeric id (revoked ones included).
    async fn api_key_by_id(&self, id: i64) -> Result<Option<ApiKey>>;
    /// A key by UUID (revoked ones included).
    async fn api_key_by_uid(&self, uid: Uuid) -> Result<Option<ApiKey>>;
    /// A key by SHA-256 digest (revoked ones included; the caller checks).
    async fn api_key_by_digest(&self, digest: &[u8; 32]) -> Result<Option<ApiKey>>;
    /// The owner's keys, keyed by id, optionally with revoked ones and bound to one organization.
    async fn list_api_keys(
        &self,
        user_id: UserId,
        include_revoked: bool,
        organization_id: Option<Uuid>,
        page: PageRequest,
    ) -> Result<Vec<ApiKey>>;
    /// The owner's active (unrevoked) primary key.
    async fn primary_api_key(&self, user_id: UserId) -> Result<Option<ApiKey>>;
    /// Set `revoked_at = now` (and `primary = false`) if not yet revoked; returns the key as it is
    /// afterwards, `None` when absent.
    async fn revoke_api_key(&self, id: i64, now: DateTime<Utc>) -> Result<Option<ApiKey>>;
    /// In one transaction: revoke `old` (conditionally on it being unrevoked; otherwise
    /// `NotFound { ApiKey }` and nothing changes) and insert `new`.
    async fn roll_api_key(&self, old: Option<i64>, new: NewApiKey) -> Result<ApiKey>;
    /// Record a use of a key.
    async fn touch_api_key(&self, id: i64, at: DateTime<Utc>) -> Result<()>;
    /// Record the uses of many keys (one `(key id, used at)` per key), never moving
    /// `last_used_at` backwards. The default writes them one by one.
    async fn touch_api_keys(&self, uses: &[(i64, DateTime<Utc>)]) -> Result<()> {
        for &(id, at) in uses {
            self.touch_api_key(id, at).await?;
        }
        Ok(())
    }
    /// A key with its owner (without the password hash) and the owner's memberships: the whole
    /// read of an API-key authentication. `None` when no key has this digest or its owner is
    /// gone. The default composes the single lookups; stores should answer in one round trip.
    async fn key_grant_by_digest(&self, digest: &[u8; 32]) -> Result<Option<KeyGrant>> {
        let Some(key) = self.api_key_by_digest(digest).await? else {
            return Ok(None);
        };
        let Some(mut user) = self.user_by_id(key.user_id).await? else {
            return Ok(None);
        };
        user.password_hash = None;
        let memberships = self.user_memberships(user.id).await?;
        Ok(Some(KeyGrant {
            key,
            user,
            memberships,
        }))
    }
    /// The digests of every key of a user, revoked ones included (to invalidate caches).
    async fn api_key_digests_of_user(&self, user: UserId) -> Result<Vec<[u8; 32]>>;

    // --- organizations ---

    /// Insert an organization and `owner` as its owner, in one transaction.
    /// `AlreadyExists { Organization, "name" }` on a clash.
    async fn create_organization(
        &self,
        id: Uuid,
        name: String,
        owner: UserId,
        now: DateTime<Utc>,
    ) -> Result<Organization>;
    /// An organization by id.
    async fn organization_by_id(&self, id: Uuid) -> Result<Option<Organization>>;
    /// One membership.
    async fn membership(&self, org: Uuid, user: UserId) -> Result<Option<Membership>>;
    /// Add a member. `AlreadyExists { Membership, "user" }` when already a member.
    async fn add_member(
        &self,
        org: Uuid,
        user: UserId,
        role: OrgRole,
        now: DateTime<Utc>,
    ) -> Result<Membership>;
    /// Change a member's role. `NotFound { Membership }` when not a member;
    /// `FailedPrecondition(LastOwner)` when it would demote the organization's last owner
    /// (atomically with the change).
    async fn set_member_role(&self, org: Uuid, user: UserId, role: OrgRole) -> Result<Membership>;
    /// Remove a member; `false` when it was not one. `FailedPrecondition(LastOwner)` for the
    /// organization's last owner (atomically with the removal).
    async fn remove_member(&self, org: Uuid, user: UserId) -> Result<bool>;
    /// Number of owners of an organization.
    async fn count_owners(&self, org: Uuid) -> Result<u64>;
    /// Members with their users, keyed by user id, optionally only those with one of the
    /// lower-cased `emails`.
    async fn list_members(
        &self,
        org: Uuid,
        emails: &[String],
        page: PageRequest,
    ) -> Result<Vec<(Membership, User)>>;
    /// All memberships of a user with their organizations, oldest first.
    async fn user_memberships(&self, user: UserId) -> Result<Vec<(Membership, Organization)>>;

    // --- teams ---

    /// Insert a team. `AlreadyExists { Team, "name" }` on a clash.
    async fn create_team(&self, name: String, now: DateTime<Utc>) -> Result<Team>;
    /// A team by id.
    async fn team_by_id(&self, id: i64) -> Result<Option<Team>>;
    /// Teams keyed by id.
    async fn list_teams(&self, page: PageRequest) -> Result<Vec<Team>>;
    /// Add a team member. `AlreadyExists { TeamMembership, "user" }` when already one.
    async fn add_team_member(
        &self,
        team: i64,
        user: UserId,
        role: TeamRole,
        now: DateTime<Utc>,
    ) -> Result<TeamMembership>;
    /// Remove a team member; `false` when it was not one.
    async fn remove_team_member(&self, team: i64, user: UserId) -> Result<bool>;
    /// One team membership.
    async fn team_membership(&self, team: i64, user: UserId) -> Result<Option<TeamMembership>>;
    /// All team memberships of a user, by id.
    async fn user_team_memberships(&self, user: UserId) -> Result<Vec<TeamMembership>>;

    // --- login protection ---

    /// The recent failed logins recorded under `identifier_key` (a lower-cased login identifier).
    async fn login_failures(&self, identifier_key: &str) -> Result<Option<LoginFailures>>;
    /// Atomically record one failed login at `now`: the count restarts at 1 when the previous
    /// failure is older than `reset_before`, otherwise it grows by one. Rows whose last failure
    /// is older than `reset_before` may be purged along the way. Returns the state afterwards.
    async fn record_login_failure(
        &self,
        identifier_key: &str,
        now: DateTime<Utc>,
        reset_before: DateTime<Utc>,
    ) -> Result<LoginFailures>;
    /// Forget the failed logins of `identifier_key` (after a successful login).
    async fn clear_login_failures(&self, identifier_key: &str) -> Result<()>;

    // --- idempotency ---

    /// The record of `key`, unless it was created before `not_before` (expired).
    async fn idempotency_record(
        &self,
        key: &IdempotencyKey,
        not_before: DateTime<Utc>,
    ) -> Result<Option<IdempotencyRecord>>;
    /// Like `create_user`, and in the same transaction record `idem` pointing at the new user
    /// (first dropping an expired record of the same key). When a live record of the key exists,
    /// `AlreadyExists { User, "request_id" }` and nothing is created.
    async fn create_user_idempotent(
        &self,
        user: NewUser,
        join: Option<(Uuid, OrgRole)>,
        idem: NewIdempotency,
    ) -> Result<User>;
    /// Like `create_api_key`, and in the same transaction record `idem` pointing at the new key.
    /// When a live record of the key exists, `AlreadyExists { ApiKey, "request_id" }` and nothing
    /// is created.
    async fn create_api_key_idempotent(
        &self,
        key: NewApiKey,
        idem: NewIdempotency,
    ) -> Result<ApiKey>;
}

/// Recent failed logins of one login identifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginFailures {
    /// Failures since the count last restarted.
    pub failures: u32,
    /// The latest failure.
    pub last_failure_at: DateTime<Utc>,
}

/// Who made a request, which operation, under which client-chosen `request_id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey {
    /// The caller.
    pub caller: UserId,
    /// The operation, e.g. `CreateUser`.
    pub operation: &'static str,
    /// The client's request id (1-128 printable ASCII characters).
    pub request_id: String,
}

/// What an earlier request with the same idempotency key produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyRecord {
    /// SHA-256 of the earlier request's canonical form (secrets excluded).
    pub fingerprint: [u8; 32],
    /// Numeric id of the user or key it created.
    pub resource_id: i64,
    /// When it was recorded.
    pub created_at: DateTime<Utc>,
}

/// A record to store along with a create.
#[derive(Debug, Clone)]
pub struct NewIdempotency {
    /// The key.
    pub key: IdempotencyKey,
    /// SHA-256 of the request's canonical form.
    pub fingerprint: [u8; 32],
    /// Now.
    pub now: DateTime<Utc>,
    /// Records created before this instant are expired and may be replaced or purged.
    pub expired_before: DateTime<Utc>,
}
