//! `SeaRepo`: the SeaORM implementation of `identity_core::ports::Repo`.
//!
//! Multi-statement writes run in one transaction. On SQLite those begin `IMMEDIATE`, so the
//! write lock is taken (waiting up to the busy timeout) before the first read; a deferred
//! transaction that reads and then writes could fail with SQLITE_BUSY instead of waiting.

use chrono::{DateTime, Utc};
use identity_core::{
    Entity, Error, Precondition, Result,
    domain::{
        ApiKey, GlobalRole, KeyGrant, Membership, NewApiKey, NewUser, OrgRole, Organization, Team,
        TeamMembership, TeamRole, User, UserFilter, UserId, UserOrderField, UserPatch,
    },
    pagination::PageRequest,
    ports::{IdempotencyKey, IdempotencyRecord, LoginFailures, NewIdempotency, Repo},
};
use sea_orm::{
    ActiveModelTrait,
    ActiveValue::Set,
    ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, DatabaseTransaction, EntityTrait,
    IntoActiveModel, Order, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Select,
    SqliteTransactionMode, TransactionOptions, TransactionTrait,
    sea_query::{Expr, ExprTrait, Func, LikeExpr, LockType, OnConflict, SimpleExpr},
};
use uuid::Uuid;

use crate::{
    convert::{self, micros, to_json},
    entity::{
        api_keys, idempotency_records, login_failures, memberships, organizations,
        team_memberships, teams, users,
    },
    error::{db_err, map_db_err},
};

/// The marker value of the default organization (see the organizations migration).
const DEFAULT_MARKER: i32 = 1;

/// Record a use of key `id` at `at`. Uses arrive in batches and may be reordered: never move
/// `last_used_at` backwards.
fn touch(id: i64, at: DateTime<Utc>) -> sea_orm::UpdateMany<api_keys::Entity> {
    let at = micros(at);
    api_keys::Entity::update_many()
        .col_expr(api_keys::Column::LastUsedAt, Expr::value(at))
        .filter(api_keys::Column::Id.eq(id))
        .filter(
            api_keys::Column::LastUsedAt
                .is_null()
                .or(api_keys::Column::LastUsedAt.lt(at)),
        )
}

/// Storage of users, organizations, teams and API keys on Postgres or SQLite.
#[derive(Debug, Clone)]
pub struct SeaRepo {
    db: DatabaseConnection,
}

impl SeaRepo {
    /// A repository over an open (and migrated) connection pool.
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }

    /// The underlying connection pool.
    pub fn connection(&self) -> &DatabaseConnection {
        &self.db
    }

    /// Begin a write transaction (`BEGIN IMMEDIATE` on SQLite).
    async fn begin(&self) -> Result<DatabaseTransaction> {
        let options = TransactionOptions {
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            ..TransactionOptions::default()
        };
        self.db.begin_with_options(options).await.map_err(db_err)
    }
}

/// Commit on `Ok`, roll back on `Err`.
async fn finish<T>(txn: DatabaseTransaction, result: Result<T>) -> Result<T> {
    match result {
        Ok(value) => {
            txn.commit().await.map_err(db_err)?;
            Ok(value)
        }
        Err(e) => {
            if let Err(rollback) = txn.rollback().await {
                // The connection is discarded by the pool in that case; the original error
                // is the one worth reporting.
                tracing::warn!(error = %rollback, "rollback failed");
            }
            Err(e)
        }
    }
}

/// Rows to fetch for a page: one more than asked, to tell whether a next page exists.
fn fetch_limit(page: PageRequest) -> u64 {
    page.limit.saturating_add(1)
}

/// `text` as a LIKE pattern matching it anywhere, with `!` escaping the wildcards.
fn contains_pattern(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len() + 2);
    pattern.push('%');
    for c in text.chars() {
        if matches!(c, '!' | '%' | '_') {
            pattern.push('!');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// The users matching `filter` (its order and offset are applied by the caller).
fn filtered_users(filter: &UserFilter) -> Select<users::Entity> {
    let mut query = users::Entity::find();
    if !filter.emails.is_empty() {
        query = query.filter(users::Column::EmailKey.is_in(filter.emails.iter().cloned()));
    }
    if let Some(username) = &filter.username {
        query = query.filter(users::Column::UsernameKey.eq(username.as_str()));
    }
    if filter.standard_only {
        query = query.filter(users::Column::GlobalRole.eq(GlobalRole::Standard.as_str()));
    }
    if let Some(search) = filter.search.as_deref().filter(|s| !s.is_empty()) {
        let like = || LikeExpr::new(contains_pattern(search)).escape('!');
        query = query.filter(
            Condition::any()
                .add(Expr::col(users::Column::UsernameKey).like(like()))
                .add(Expr::col(users::Column::EmailKey).like(like()))
                .add(Expr::expr(Func::lower(Expr::col(users::Column::DisplayName))).like(like())),
        );
    }
    query
}

fn new_user_model(user: NewUser) -> Result<users::ActiveModel> {
    let now = micros(user.now);
    Ok(users::ActiveModel {
        uid: Set(user.uid),
        username_key: Set(user.username.key()),
        username_skeleton: Set(Some(user.username.skeleton())),
        username: Set(user.username.as_str().to_owned()),
        email_key: Set(user.email.as_ref().map(|e| e.key())),
        email: Set(user.email.as_ref().map(|e| e.as_str().to_owned())),
        display_name: Set(user.display_name),
        global_role: Set(user.global_role.as_str().to_owned()),
        email_verified: Set(user.email_verified),
        password_hash: Set(user.password_hash),
        token_issued_at: Set(now),
        preferences: Set(to_json(&user.preferences, "preferences")?),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    })
}

fn membership_model(
    org: Uuid,
    user: UserId,
    role: OrgRole,
    now: DateTime<Utc>,
) -> memberships::ActiveModel {
    memberships::ActiveModel {
        organization_id: Set(org),
        user_id: Set(user),
        role: Set(role.as_str().to_owned()),
        added_at: Set(micros(now)),
    }
}

fn organization_model(
    id: Uuid,
    name: String,
    default: bool,
    now: DateTime<Utc>,
) -> organizations::ActiveModel {
    let now = micros(now);
    organizations::ActiveModel {
        id: Set(id),
        name: Set(name),
        is_default: Set(default),
        default_marker: Set(default.then_some(DEFAULT_MARKER)),
        created_at: Set(now),
        updated_at: Set(now),
    }
}

async fn insert_user<C: ConnectionTrait>(conn: &C, user: NewUser) -> Result<users::Model> {
    new_user_model(user)?.insert(conn).await.map_err(db_err)
}

async fn insert_membership<C: ConnectionTrait>(
    conn: &C,
    org: Uuid,
    user: UserId,
    role: OrgRole,
    now: DateTime<Utc>,
    fk_entity: Entity,
) -> Result<memberships::Model> {
    membership_model(org, user, role, now)
        .insert(conn)
        .await
        .map_err(|e| map_db_err(e, fk_entity))
}

async fn any_admin<C: ConnectionTrait>(conn: &C) -> Result<bool> {
    let row = users::Entity::find()
        .select_only()
        .column(users::Column::Id)
        .filter(users::Column::GlobalRole.eq(GlobalRole::Administrator.as_str()))
        .limit(1)
        .into_tuple::<i64>()
        .one(conn)
        .await
        .map_err(db_err)?;
    Ok(row.is_some())
}

/// Lock every administrator row (Postgres `FOR UPDATE`; SQLite's `BEGIN IMMEDIATE` already
/// serialises writers) and return their ids. Called first in a write transaction that may take
/// the administrator role away, so that "is `id` the last administrator?" and the change are
/// atomic: two concurrent demotions or deletions of the last two administrators cannot both pass
/// (a count taken before the transaction could, under READ COMMITTED).
async fn lock_admins(txn: &DatabaseTransaction) -> Result<Vec<UserId>> {
    users::Entity::find()
        .select_only()
        .column(users::Column::Id)
        .filter(users::Column::GlobalRole.eq(GlobalRole::Administrator.as_str()))
        .order_by_asc(users::Column::Id)
        .lock(LockType::Update)
        .into_tuple::<i64>()
        .all(txn)
        .await
        .map_err(db_err)
}

/// [`lock_admins`] for the owners of `org` (their membership rows); returns the owners' ids.
async fn lock_owners(txn: &DatabaseTransaction, org: Uuid) -> Result<Vec<UserId>> {
    memberships::Entity::find()
        .select_only()
        .column(memberships::Column::UserId)
        .filter(memberships::Column::OrganizationId.eq(org))
        .filter(memberships::Column::Role.eq(OrgRole::Owner.as_str()))
        .order_by_asc(memberships::Column::UserId)
        .lock(LockType::Update)
        .into_tuple::<i64>()
        .all(txn)
        .await
        .map_err(db_err)
}

/// `LastAdmin` when `id` is the only administrator in `admins`.
fn check_last(ids: &[UserId], id: UserId, last: Precondition) -> Result<()> {
    if ids.contains(&id) && ids.len() <= 1 {
        Err(Error::FailedPrecondition(last))
    } else {
        Ok(())
    }
}

async fn find_default_org<C: ConnectionTrait>(conn: &C) -> Result<Option<organizations::Model>> {
    organizations::Entity::find()
        .filter(organizations::Column::DefaultMarker.eq(DEFAULT_MARKER))
        .one(conn)
        .await
        .map_err(db_err)
}

/// Set `revoked_at` (and clear the primary flag) on the keys matching `which` that are not
/// revoked yet; the number of keys changed.
async fn revoke_active<C: ConnectionTrait>(
    conn: &C,
    which: Condition,
    now: DateTime<Utc>,
) -> Result<u64> {
    let now = micros(now);
    let res = api_keys::Entity::update_many()
        .col_expr(api_keys::Column::RevokedAt, Expr::value(now))
        .col_expr(api_keys::Column::IsPrimary, Expr::value(false))
        .col_expr(api_keys::Column::UpdatedAt, Expr::value(now))
        .filter(which)
        .filter(api_keys::Column::RevokedAt.is_null())
        .exec(conn)
        .await
        .map_err(db_err)?;
    Ok(res.rows_affected)
}

/// Revoke key `id` if it is active.
async fn revoke_if_active<C: ConnectionTrait>(
    conn: &C,
    id: i64,
    now: DateTime<Utc>,
) -> Result<u64> {
    revoke_active(conn, Condition::all().add(api_keys::Column::Id.eq(id)), now).await
}

/// Revoke every active key of `user` minted by a bare session.
async fn revoke_session_minted<C: ConnectionTrait>(
    conn: &C,
    user: UserId,
    now: DateTime<Utc>,
) -> Result<u64> {
    let which = Condition::all()
        .add(api_keys::Column::UserId.eq(user))
        .add(api_keys::Column::MintedBySession.eq(true));
    revoke_active(conn, which, now).await
}

/// Insert a key inside `txn`; a primary key first revokes and un-flags the owner's current one.
async fn insert_api_key(txn: &DatabaseTransaction, key: NewApiKey) -> Result<ApiKey> {
    // Lock the owner's row (Postgres; SQLite's IMMEDIATE transaction already serialises
    // writers) so that concurrent primary-key creations queue up instead of clashing on
    // uq_api_keys_one_primary, and so that a missing owner is a clean NotFound. NO KEY UPDATE
    // does not block inserts elsewhere that merely reference the user.
    let owner = users::Entity::find_by_id(key.user_id)
        .select_only()
        .column(users::Column::Id)
        .lock(LockType::NoKeyUpdate)
        .into_tuple::<i64>()
        .one(txn)
        .await
        .map_err(db_err)?;
    if owner.is_none() {
        return Err(Error::not_found(Entity::User));
    }
    let now = micros(key.now);
    if key.primary {
        api_keys::Entity::update_many()
            .col_expr(api_keys::Column::RevokedAt, Expr::value(now))
            .col_expr(api_keys::Column::IsPrimary, Expr::value(false))
            .col_expr(api_keys::Column::UpdatedAt, Expr::value(now))
            .filter(api_keys::Column::UserId.eq(key.user_id))
            .filter(api_keys::Column::IsPrimary.eq(true))
            .filter(api_keys::Column::RevokedAt.is_null())
            .exec(txn)
            .await
            .map_err(db_err)?;
    }
    let model = api_keys::ActiveModel {
        uid: Set(key.uid),
        user_id: Set(key.user_id),
        name: Set(key.name),
        description: Set(key.description),
        prefix: Set(key.prefix),
        digest: Set(key.digest.to_vec()),
        role: Set(key.role.as_str().to_owned()),
        scopes: Set(to_json(&key.scopes, "key scopes")?),
        organization_id: Set(key.organization_id),
        dataset_ids: Set(to_json(&key.dataset_ids, "key dataset ids")?),
        organization_ids: Set(to_json(&key.organization_ids, "key organization ids")?),
        expires_at: Set(key.expires_at.map(micros)),
        last_used_at: Set(None),
        revoked_at: Set(None),
        is_primary: Set(key.primary),
        minted_by_session: Set(key.minted_by_session),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    };
    let row = model.insert(txn).await.map_err(db_err)?;
    convert::api_key(row)
}

/// Drop idempotency records created before `expired_before` (the TTL is over).
async fn purge_idempotency<C: ConnectionTrait>(
    conn: &C,
    expired_before: DateTime<Utc>,
) -> Result<()> {
    idempotency_records::Entity::delete_many()
        .filter(idempotency_records::Column::CreatedAt.lt(expired_before))
        .exec(conn)
        .await
        .map_err(db_err)?;
    Ok(())
}

/// Record `idem` → `resource_id`; a live record of the same key is `AlreadyExists { entity,
/// "request_id" }`.
async fn insert_idempotency<C: ConnectionTrait>(
    conn: &C,
    idem: NewIdempotency,
    resource_id: i64,
    entity: Entity,
) -> Result<()> {
    let model = idempotency_records::ActiveModel {
        caller_id: Set(idem.key.caller),
        operation: Set(idem.key.operation.to_owned()),
        request_id: Set(idem.key.request_id),
        fingerprint: Set(idem.fingerprint.to_vec()),
        resource_id: Set(resource_id),
        created_at: Set(micros(idem.now)),
        ..Default::default()
    };
    model.insert(conn).await.map_err(|e| {
        let e = db_err(e);
        if matches!(e, Error::AlreadyExists { .. }) {
            Error::AlreadyExists {
                entity,
                field: "request_id",
            }
        } else {
            e
        }
    })?;
    Ok(())
}

fn users_of(rows: Vec<users::Model>) -> Result<Vec<User>> {
    rows.into_iter().map(convert::user).collect()
}

fn keys_of(rows: Vec<api_keys::Model>) -> Result<Vec<ApiKey>> {
    rows.into_iter().map(convert::api_key).collect()
}

#[async_trait::async_trait]
impl Repo for SeaRepo {
    async fn ping(&self) -> Result<()> {
        self.db.ping().await.map_err(|e| {
            crate::error::count_db_error("unavailable");
            Error::Unavailable(e.to_string())
        })
    }

    // --- setup ---

    async fn init_admin(
        &self,
        admin: NewUser,
        org_id: Uuid,
        org_name: String,
    ) -> Result<(User, Organization)> {
        let setup_taken = || Error::AlreadyExists {
            entity: Entity::Administrator,
            field: "setup",
        };
        let now = admin.now;
        let txn = self.begin().await?;
        let result = async {
            if any_admin(&txn).await? {
                return Err(setup_taken());
            }
            // The default organization goes first: its unique marker makes a concurrent
            // InitAdmin wait here (Postgres) until this one commits, and then fail, before it
            // inserts a user and uses up an id, so the administrator is user 1.
            let org = organization_model(org_id, org_name, true, now)
                .insert(&txn)
                .await
                .map_err(db_err)?;
            let user = insert_user(&txn, admin).await?;
            insert_membership(&txn, org.id, user.id, OrgRole::Owner, now, Entity::User).await?;
            Ok((convert::user(user)?, convert::organization(org)))
        }
        .await;
        match finish(txn, result).await {
            // A concurrent InitAdmin won while this one was past its check (or the clash was on
            // the organization name or username they both chose).
            Err(e @ Error::AlreadyExists { .. }) if self.admin_exists().await.unwrap_or(false) => {
                tracing::debug!(clash = %e, "InitAdmin lost a race");
                Err(setup_taken())
            }
            other => other,
        }
    }

    async fn admin_exists(&self) -> Result<bool> {
        any_admin(&self.db).await
    }

    async fn count_admins(&self) -> Result<u64> {
        users::Entity::find()
            .filter(users::Column::GlobalRole.eq(GlobalRole::Administrator.as_str()))
            .count(&self.db)
            .await
            .map_err(db_err)
    }

    async fn default_organization(&self) -> Result<Option<Organization>> {
        Ok(find_default_org(&self.db).await?.map(convert::organization))
    }

    // --- users ---

    async fn create_user(&self, user: NewUser, join: Option<(Uuid, OrgRole)>) -> Result<User> {
        let now = user.now;
        let txn = self.begin().await?;
        let result = async {
            let row = insert_user(&txn, user).await?;
            if let Some((org, role)) = join {
                insert_membership(&txn, org, row.id, role, now, Entity::Organization).await?;
            }
            convert::user(row)
        }
        .await;
        finish(txn, result).await
    }

    async fn user_by_id(&self, id: UserId) -> Result<Option<User>> {
        users::Entity::find_by_id(id)
            .one(&self.db)
            .await
            .map_err(db_err)?
            .map(convert::user)
            .transpose()
    }

    async fn user_by_uid(&self, uid: Uuid) -> Result<Option<User>> {
        users::Entity::find()
            .filter(users::Column::Uid.eq(uid))
            .one(&self.db)
            .await
            .map_err(db_err)?
            .map(convert::user)
            .transpose()
    }

    async fn user_by_username(&self, username_key: &str) -> Result<Option<User>> {
        users::Entity::find()
            .filter(users::Column::UsernameKey.eq(username_key))
            .one(&self.db)
            .await
            .map_err(db_err)?
            .map(convert::user)
            .transpose()
    }

    async fn user_by_email(&self, email_key: &str) -> Result<Option<User>> {
        users::Entity::find()
            .filter(users::Column::EmailKey.eq(email_key))
            .one(&self.db)
            .await
            .map_err(db_err)?
            .map(convert::user)
            .transpose()
    }

    async fn list_users(&self, filter: &UserFilter, page: PageRequest) -> Result<Vec<User>> {
        let mut query = filtered_users(filter);
        if let Some(after) = page.after {
            query = query.filter(users::Column::Id.gt(after));
        }
        let order = if filter.order.descending {
            Order::Desc
        } else {
            Order::Asc
        };
        let key: Option<SimpleExpr> = match filter.order.field {
            UserOrderField::Id => None,
            UserOrderField::Username => Some(Expr::col(users::Column::UsernameKey)),
            UserOrderField::Email => {
                Some(Func::coalesce([Expr::col(users::Column::EmailKey), Expr::val("")]).into())
            }
            UserOrderField::DisplayName => {
                Some(Func::lower(Expr::col(users::Column::DisplayName)).into())
            }
            UserOrderField::CreatedAt => Some(Expr::col(users::Column::CreatedAt)),
            UserOrderField::UpdatedAt => Some(Expr::col(users::Column::UpdatedAt)),
        };
        if let Some(key) = key {
            query = query.order_by(key, order.clone());
        }
        let mut query = query.order_by(users::Column::Id, order);
        if filter.offset > 0 {
            query = query.offset(filter.offset);
        }
        let rows = query
            .limit(fetch_limit(page))
            .all(&self.db)
            .await
            .map_err(db_err)?;
        users_of(rows)
    }

    async fn count_users(&self, filter: &UserFilter) -> Result<u64> {
        filtered_users(filter).count(&self.db).await.map_err(db_err)
    }

    async fn update_user(&self, id: UserId, patch: UserPatch, now: DateTime<Utc>) -> Result<User> {
        let txn = self.begin().await?;
        let result = async {
            // A role change never leaves the service without an administrator (see
            // `lock_admins`; the service checks first for the common case).
            let admins = match patch.global_role {
                Some(role) if role != GlobalRole::Administrator => Some(lock_admins(&txn).await?),
                Some(_) | None => None,
            };
            // Locked so that a concurrent delete cannot slip between the read and the update.
            let current = users::Entity::find_by_id(id)
                .lock(LockType::NoKeyUpdate)
                .one(&txn)
                .await
                .map_err(db_err)?
                .ok_or(Error::not_found(Entity::User))?;
            if let Some(admins) = &admins {
                check_last(admins, id, Precondition::LastAdmin)?;
            }
            let mut m = current.into_active_model();
            let UserPatch {
                username,
                email,
                display_name,
                global_role,
                email_verified,
                preferences,
                password_hash,
                token_issued_at,
                revoke_session_minted_keys,
            } = patch;
            if revoke_session_minted_keys {
                revoke_session_minted(&txn, id, now).await?;
            }
            if let Some(u) = username {
                m.username_key = Set(u.key());
                m.username_skeleton = Set(Some(u.skeleton()));
                m.username = Set(u.as_str().to_owned());
            }
            if let Some(e) = email {
                m.email_key = Set(e.as_ref().map(|e| e.key()));
                m.email = Set(e.map(|e| e.as_str().to_owned()));
            }
            if let Some(d) = display_name {
                m.display_name = Set(d);
            }
            if let Some(r) = global_role {
                m.global_role = Set(r.as_str().to_owned());
            }
            if let Some(v) = email_verified {
                m.email_verified = Set(v);
            }
            if let Some(p) = preferences {
                m.preferences = Set(to_json(&p, "preferences")?);
            }
            if let Some(h) = password_hash {
                m.password_hash = Set(Some(h));
            }
            if let Some(t) = token_issued_at {
                m.token_issued_at = Set(micros(t));
            }
            m.updated_at = Set(micros(now));
            let row = m.update(&txn).await.map_err(db_err)?;
            convert::user(row)
        }
        .await;
        finish(txn, result).await
    }

    async fn delete_user(&self, id: UserId) -> Result<Vec<[u8; 32]>> {
        let txn = self.begin().await?;
        let result = async {
            let admins = lock_admins(&txn).await?;
            check_last(&admins, id, Precondition::LastAdmin)?;
            let exists = users::Entity::find_by_id(id)
                .select_only()
                .column(users::Column::Id)
                .into_tuple::<i64>()
                .one(&txn)
                .await
                .map_err(db_err)?;
            if exists.is_none() {
                return Err(Error::not_found(Entity::User));
            }
            let digests = api_keys::Entity::find()
                .select_only()
                .column(api_keys::Column::Digest)
                .filter(api_keys::Column::UserId.eq(id))
                .order_by_asc(api_keys::Column::Id)
                .into_tuple::<Vec<u8>>()
                .all(&txn)
                .await
                .map_err(db_err)?
                .into_iter()
                .map(convert::digest)
                .collect::<Result<Vec<_>>>()?;
            // The foreign keys cascade too; deleting explicitly keeps this correct even where
            // foreign-key enforcement is off (a SQLite connection opened by another tool).
            api_keys::Entity::delete_many()
                .filter(api_keys::Column::UserId.eq(id))
                .exec(&txn)
                .await
                .map_err(db_err)?;
            team_memberships::Entity::delete_many()
                .filter(team_memberships::Column::UserId.eq(id))
                .exec(&txn)
                .await
                .map_err(db_err)?;
            memberships::Entity::delete_many()
                .filter(memberships::Column::UserId.eq(id))
                .exec(&txn)
                .await
                .map_err(db_err)?;
            users::Entity::delete_by_id(id)
                .exec(&txn)
                .await
                .map_err(db_err)?;
            Ok(digests)
        }
        .await;
        finish(txn, result).await
    }

    // --- API keys ---

    async fn create_api_key(&self, key: NewApiKey) -> Result<ApiKey> {
        let txn = self.begin().await?;
        let result = insert_api_key(&txn, key).await;
        finish(txn, result).await
    }

    async fn api_key_by_id(&self, id: i64) -> Result<Option<ApiKey>> {
        api_keys::Entity::find_by_id(id)
            .one(&self.db)
            .await
            .map_err(db_err)?
            .map(convert::api_key)
            .transpose()
    }

    async fn api_key_by_uid(&self, uid: Uuid) -> Result<Option<ApiKey>> {
        api_keys::Entity::find()
            .filter(api_keys::Column::Uid.eq(uid))
            .one(&self.db)
            .await
            .map_err(db_err)?
            .map(convert::api_key)
            .transpose()
    }

    async fn api_key_by_digest(&self, digest: &[u8; 32]) -> Result<Option<ApiKey>> {
        api_keys::Entity::find()
            .filter(api_keys::Column::Digest.eq(digest.to_vec()))
            .one(&self.db)
            .await
            .map_err(db_err)?
            .map(convert::api_key)
            .transpose()
    }

    async fn list_api_keys(
        &self,
        user_id: UserId,
        include_revoked: bool,
        organization_id: Option<Uuid>,
        page: PageRequest,
    ) -> Result<Vec<ApiKey>> {
        let mut query = api_keys::Entity::find().filter(api_keys::Column::UserId.eq(user_id));
        if let Some(after) = page.after {
            query = query.filter(api_keys::Column::Id.gt(after));
        }
        if !include_revoked {
            query = query.filter(api_keys::Column::RevokedAt.is_null());
        }
        if let Some(org) = organization_id {
            query = query.filter(api_keys::Column::OrganizationId.eq(org));
        }
        let rows = query
            .order_by_asc(api_keys::Column::Id)
            .limit(fetch_limit(page))
            .all(&self.db)
            .await
            .map_err(db_err)?;
        keys_of(rows)
    }

    async fn primary_api_key(&self, user_id: UserId) -> Result<Option<ApiKey>> {
        api_keys::Entity::find()
            .filter(api_keys::Column::UserId.eq(user_id))
            .filter(api_keys::Column::IsPrimary.eq(true))
            .filter(api_keys::Column::RevokedAt.is_null())
            .order_by_desc(api_keys::Column::Id)
            .one(&self.db)
            .await
            .map_err(db_err)?
            .map(convert::api_key)
            .transpose()
    }

    async fn revoke_api_key(&self, id: i64, now: DateTime<Utc>) -> Result<Option<ApiKey>> {
        revoke_if_active(&self.db, id, now).await?;
        self.api_key_by_id(id).await
    }

    async fn roll_api_key(&self, old: Option<i64>, new: NewApiKey) -> Result<ApiKey> {
        let txn = self.begin().await?;
        let result = async {
            if let Some(old) = old
                && revoke_if_active(&txn, old, new.now).await? == 0
            {
                return Err(Error::not_found(Entity::ApiKey));
            }
            insert_api_key(&txn, new).await
        }
        .await;
        finish(txn, result).await
    }

    async fn touch_api_key(&self, id: i64, at: DateTime<Utc>) -> Result<()> {
        touch(id, at).exec(&self.db).await.map_err(db_err)?;
        Ok(())
    }

    async fn touch_api_keys(&self, uses: &[(i64, DateTime<Utc>)]) -> Result<()> {
        if uses.is_empty() {
            return Ok(());
        }
        // One transaction per batch: one commit (one fsync) however many keys were used.
        let tx = self.begin().await?;
        for &(id, at) in uses {
            touch(id, at).exec(&tx).await.map_err(db_err)?;
        }
        tx.commit().await.map_err(db_err)
    }

    async fn key_grant_by_digest(&self, digest: &[u8; 32]) -> Result<Option<KeyGrant>> {
        crate::grant::by_digest(&self.db, digest).await
    }

    async fn api_key_digests_of_user(&self, user: UserId) -> Result<Vec<[u8; 32]>> {
        let rows: Vec<Vec<u8>> = api_keys::Entity::find()
            .select_only()
            .column(api_keys::Column::Digest)
            .filter(api_keys::Column::UserId.eq(user))
            .into_tuple()
            .all(&self.db)
            .await
            .map_err(db_err)?;
        rows.into_iter().map(convert::digest).collect()
    }

    // --- organizations ---

    async fn create_organization(
        &self,
        id: Uuid,
        name: String,
        owner: UserId,
        now: DateTime<Utc>,
    ) -> Result<Organization> {
        let txn = self.begin().await?;
        let result = async {
            let org = organization_model(id, name, false, now)
                .insert(&txn)
                .await
                .map_err(db_err)?;
            insert_membership(&txn, org.id, owner, OrgRole::Owner, now, Entity::User).await?;
            Ok(convert::organization(org))
        }
        .await;
        finish(txn, result).await
    }

    async fn organization_by_id(&self, id: Uuid) -> Result<Option<Organization>> {
        Ok(organizations::Entity::find_by_id(id)
            .one(&self.db)
            .await
            .map_err(db_err)?
            .map(convert::organization))
    }

    async fn membership(&self, org: Uuid, user: UserId) -> Result<Option<Membership>> {
        memberships::Entity::find_by_id((org, user))
            .one(&self.db)
            .await
            .map_err(db_err)?
            .map(convert::membership)
            .transpose()
    }

    async fn add_member(
        &self,
        org: Uuid,
        user: UserId,
        role: OrgRole,
        now: DateTime<Utc>,
    ) -> Result<Membership> {
        let row = insert_membership(&self.db, org, user, role, now, Entity::User).await?;
        convert::membership(row)
    }

    async fn set_member_role(&self, org: Uuid, user: UserId, role: OrgRole) -> Result<Membership> {
        let txn = self.begin().await?;
        let result = async {
            if role != OrgRole::Owner {
                let owners = lock_owners(&txn, org).await?;
                check_last(&owners, user, Precondition::LastOwner)?;
            }
            let res = memberships::Entity::update_many()
                .col_expr(memberships::Column::Role, Expr::value(role.as_str()))
                .filter(memberships::Column::OrganizationId.eq(org))
                .filter(memberships::Column::UserId.eq(user))
                .exec(&txn)
                .await
                .map_err(db_err)?;
            if res.rows_affected == 0 {
                return Err(Error::not_found(Entity::Membership));
            }
            let row = memberships::Entity::find_by_id((org, user))
                .one(&txn)
                .await
                .map_err(db_err)?
                .ok_or(Error::not_found(Entity::Membership))?;
            convert::membership(row)
        }
        .await;
        finish(txn, result).await
    }

    async fn remove_member(&self, org: Uuid, user: UserId) -> Result<bool> {
        let txn = self.begin().await?;
        let result = async {
            let owners = lock_owners(&txn, org).await?;
            check_last(&owners, user, Precondition::LastOwner)?;
            let res = memberships::Entity::delete_many()
                .filter(memberships::Column::OrganizationId.eq(org))
                .filter(memberships::Column::UserId.eq(user))
                .exec(&txn)
                .await
                .map_err(db_err)?;
            Ok(res.rows_affected > 0)
        }
        .await;
        finish(txn, result).await
    }

    async fn count_owners(&self, org: Uuid) -> Result<u64> {
        memberships::Entity::find()
            .filter(memberships::Column::OrganizationId.eq(org))
            .filter(memberships::Column::Role.eq(OrgRole::Owner.as_str()))
            .count(&self.db)
            .await
            .map_err(db_err)
    }

    async fn list_members(
        &self,
        org: Uuid,
        emails: &[String],
        page: PageRequest,
    ) -> Result<Vec<(Membership, User)>> {
        let mut query = memberships::Entity::find()
            .find_also_related(users::Entity)
            .filter(memberships::Column::OrganizationId.eq(org));
        if let Some(after) = page.after {
            query = query.filter(memberships::Column::UserId.gt(after));
        }
        if !emails.is_empty() {
            query = query.filter(users::Column::EmailKey.is_in(emails.iter().cloned()));
        }
        let rows = query
            .order_by_asc(memberships::Column::UserId)
            .limit(fetch_limit(page))
            .all(&self.db)
            .await
            .map_err(db_err)?;
        rows.into_iter()
            .map(|(m, u)| {
                let u = u.ok_or_else(|| Error::Internal("membership without its user".into()))?;
                Ok((convert::membership(m)?, convert::user(u)?))
            })
            .collect()
    }

    async fn user_memberships(&self, user: UserId) -> Result<Vec<(Membership, Organization)>> {
        let rows = memberships::Entity::find()
            .find_also_related(organizations::Entity)
            .filter(memberships::Column::UserId.eq(user))
            .order_by_asc(memberships::Column::AddedAt)
            .order_by_asc(memberships::Column::OrganizationId)
            .all(&self.db)
            .await
            .map_err(db_err)?;
        rows.into_iter()
            .map(|(m, o)| {
                let o =
                    o.ok_or_else(|| Error::Internal("membership without its organization".into()))?;
                Ok((convert::membership(m)?, convert::organization(o)))
            })
            .collect()
    }

    // --- teams ---

    async fn create_team(&self, name: String, now: DateTime<Utc>) -> Result<Team> {
        let row = teams::ActiveModel {
            name: Set(name),
            created_at: Set(micros(now)),
            ..Default::default()
        }
        .insert(&self.db)
        .await
        .map_err(db_err)?;
        Ok(convert::team(row))
    }

    async fn team_by_id(&self, id: i64) -> Result<Option<Team>> {
        Ok(teams::Entity::find_by_id(id)
            .one(&self.db)
            .await
            .map_err(db_err)?
            .map(convert::team))
    }

    async fn list_teams(&self, page: PageRequest) -> Result<Vec<Team>> {
        let mut query = teams::Entity::find();
        if let Some(after) = page.after {
            query = query.filter(teams::Column::Id.gt(after));
        }
        let rows = query
            .order_by_asc(teams::Column::Id)
            .limit(fetch_limit(page))
            .all(&self.db)
            .await
            .map_err(db_err)?;
        Ok(rows.into_iter().map(convert::team).collect())
    }

    async fn add_team_member(
        &self,
        team: i64,
        user: UserId,
        role: TeamRole,
        now: DateTime<Utc>,
    ) -> Result<TeamMembership> {
        let row = team_memberships::ActiveModel {
            team_id: Set(team),
            user_id: Set(user),
            role: Set(role.as_str().to_owned()),
            added_at: Set(micros(now)),
            ..Default::default()
        }
        .insert(&self.db)
        .await
        .map_err(|e| map_db_err(e, Entity::Team))?;
        convert::team_membership(row)
    }

    async fn remove_team_member(&self, team: i64, user: UserId) -> Result<bool> {
        let res = team_memberships::Entity::delete_many()
            .filter(team_memberships::Column::TeamId.eq(team))
            .filter(team_memberships::Column::UserId.eq(user))
            .exec(&self.db)
            .await
            .map_err(db_err)?;
        Ok(res.rows_affected > 0)
    }

    async fn team_membership(&self, team: i64, user: UserId) -> Result<Option<TeamMembership>> {
        team_memberships::Entity::find()
            .filter(team_memberships::Column::TeamId.eq(team))
            .filter(team_memberships::Column::UserId.eq(user))
            .one(&self.db)
            .await
            .map_err(db_err)?
            .map(convert::team_membership)
            .transpose()
    }

    async fn user_team_memberships(&self, user: UserId) -> Result<Vec<TeamMembership>> {
        team_memberships::Entity::find()
            .filter(team_memberships::Column::UserId.eq(user))
            .order_by_asc(team_memberships::Column::Id)
            .all(&self.db)
            .await
            .map_err(db_err)?
            .into_iter()
            .map(convert::team_membership)
            .collect()
    }

    // --- login protection ---

    async fn login_failures(&self, identifier_key: &str) -> Result<Option<LoginFailures>> {
        let row = login_failures::Entity::find_by_id(identifier_key.to_owned())
            .one(&self.db)
            .await
            .map_err(db_err)?;
        Ok(row.map(|r| LoginFailures {
            failures: u32::try_from(r.failures).unwrap_or(0),
            last_failure_at: r.last_failure_at,
        }))
    }

    async fn record_login_failure(
        &self,
        identifier_key: &str,
        now: DateTime<Utc>,
        reset_before: DateTime<Utc>,
    ) -> Result<LoginFailures> {
        let now = micros(now);
        let key = identifier_key.to_owned();
        let txn = self.begin().await?;
        let result = async {
            // Forgotten failures go first, so the upsert below restarts their count at 1.
            login_failures::Entity::delete_many()
                .filter(login_failures::Column::LastFailureAt.lt(reset_before))
                .exec(&txn)
                .await
                .map_err(db_err)?;
            let model = login_failures::ActiveModel {
                identifier_key: Set(key.clone()),
                failures: Set(1),
                last_failure_at: Set(now),
            };
            // One statement, so concurrent failures on several replicas all count.
            login_failures::Entity::insert(model)
                .on_conflict(
                    OnConflict::column(login_failures::Column::IdentifierKey)
                        .value(
                            login_failures::Column::Failures,
                            Expr::col((login_failures::Entity, login_failures::Column::Failures))
                                .add(1),
                        )
                        .value(login_failures::Column::LastFailureAt, Expr::value(now))
                        .to_owned(),
                )
                .exec_without_returning(&txn)
                .await
                .map_err(db_err)?;
            let row = login_failures::Entity::find_by_id(key)
                .one(&txn)
                .await
                .map_err(db_err)?
                .ok_or_else(|| Error::Internal("login failure row vanished".into()))?;
            Ok(LoginFailures {
                failures: u32::try_from(row.failures).unwrap_or(0),
                last_failure_at: row.last_failure_at,
            })
        }
        .await;
        finish(txn, result).await
    }

    async fn clear_login_failures(&self, identifier_key: &str) -> Result<()> {
        login_failures::Entity::delete_by_id(identifier_key.to_owned())
            .exec(&self.db)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    // --- idempotency ---

    async fn idempotency_record(
        &self,
        key: &IdempotencyKey,
        not_before: DateTime<Utc>,
    ) -> Result<Option<IdempotencyRecord>> {
        let row = idempotency_records::Entity::find()
            .filter(idempotency_records::Column::CallerId.eq(key.caller))
            .filter(idempotency_records::Column::Operation.eq(key.operation))
            .filter(idempotency_records::Column::RequestId.eq(key.request_id.as_str()))
            .filter(idempotency_records::Column::CreatedAt.gte(not_before))
            .one(&self.db)
            .await
            .map_err(db_err)?;
        row.map(|r| {
            let fingerprint = <[u8; 32]>::try_from(r.fingerprint.as_slice())
                .map_err(|_| Error::Internal("idempotency fingerprint is not 32 bytes".into()))?;
            Ok(IdempotencyRecord {
                fingerprint,
                resource_id: r.resource_id,
                created_at: r.created_at,
            })
        })
        .transpose()
    }

    async fn create_user_idempotent(
        &self,
        user: NewUser,
        join: Option<(Uuid, OrgRole)>,
        idem: NewIdempotency,
    ) -> Result<User> {
        let now = user.now;
        let txn = self.begin().await?;
        let result = async {
            purge_idempotency(&txn, idem.expired_before).await?;
            let row = insert_user(&txn, user).await?;
            if let Some((org, role)) = join {
                insert_membership(&txn, org, row.id, role, now, Entity::Organization).await?;
            }
            insert_idempotency(&txn, idem, row.id, Entity::User).await?;
            convert::user(row)
        }
        .await;
        finish(txn, result).await
    }

    async fn create_api_key_idempotent(
        &self,
        key: NewApiKey,
        idem: NewIdempotency,
    ) -> Result<ApiKey> {
        let txn = self.begin().await?;
        let result = async {
            purge_idempotency(&txn, idem.expired_before).await?;
            let created = insert_api_key(&txn, key).await?;
            insert_idempotency(&txn, idem, created.id, Entity::ApiKey).await?;
            Ok(created)
        }
        .await;
        finish(txn, result).await
    }
}
