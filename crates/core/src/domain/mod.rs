//! Domain types. Validated values have private fields and are built only by `parse`.

mod access;
mod lookalike;
mod names;
mod roles;

pub use names::{
    Email, MAX_PASSWORD_BYTES, Name, Password, PasswordPolicy, Username, check_text,
    username_skeleton,
};
pub use roles::{GlobalRole, KeyRole, OrgRole, TeamRole};

use chrono::{DateTime, Utc};
use uuid::Uuid;

/// Numeric user id.
pub type UserId = i64;

/// The stable string handle of a user: `user-` + 32 hex digits of its UUID.
pub fn user_handle(uid: Uuid) -> String {
    format!("user-{}", uid.simple())
}

/// The stable string handle of an organization: `org-` + 32 hex digits of its UUID.
pub fn org_handle(id: Uuid) -> String {
    format!("org-{}", id.simple())
}

/// Parse a handle with the given prefix back to its UUID.
pub fn parse_handle(prefix: &str, handle: &str) -> Option<Uuid> {
    let hex = handle.strip_prefix(prefix)?.strip_prefix('-')?;
    if hex.len() != 32 {
        return None;
    }
    Uuid::try_parse(hex).ok()
}

/// Per-product preferences a client sets and reads back.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct Preferences {
    /// UI theme colour.
    pub theme_color: String,
    /// Portainer "use cache".
    pub use_cache: bool,
    /// Tyk: may use the chat UI.
    pub show_chat: bool,
    /// Tyk: may use the developer portal.
    pub show_portal: bool,
    /// Tyk: notifications enabled.
    pub notifications_enabled: bool,
    /// Tyk: may edit SSO configuration.
    pub access_to_sso_config: bool,
}

/// A stored user.
#[derive(Clone, PartialEq, Eq)]
pub struct User {
    /// Numeric id.
    pub id: UserId,
    /// UUID.
    pub uid: Uuid,
    /// Login name (as stored; compared case-insensitively).
    pub username: String,
    /// E-mail address.
    pub email: Option<String>,
    /// Display name.
    pub display_name: String,
    /// Global role.
    pub global_role: GlobalRole,
    /// E-mail verified.
    pub email_verified: bool,
    /// argon2id PHC string; never leaves the server.
    pub password_hash: Option<String>,
    /// Sessions issued before this are invalid.
    pub token_issued_at: DateTime<Utc>,
    /// Preferences.
    pub preferences: Preferences,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("uid", &self.uid)
            .field("username", &self.username)
            .field("global_role", &self.global_role)
            .field(
                "password_hash",
                &self.password_hash.as_ref().map(|_| "<redacted>"),
            )
            .finish_non_exhaustive()
    }
}

impl User {
    /// The user's handle.
    pub fn handle(&self) -> String {
        user_handle(self.uid)
    }

    /// Whether the user is a global administrator.
    pub fn is_admin(&self) -> bool {
        self.global_role == GlobalRole::Administrator
    }
}

/// A user to insert.
#[derive(Clone)]
pub struct NewUser {
    /// UUID.
    pub uid: Uuid,
    /// Login name.
    pub username: Username,
    /// E-mail.
    pub email: Option<Email>,
    /// Display name.
    pub display_name: String,
    /// Role.
    pub global_role: GlobalRole,
    /// E-mail verified.
    pub email_verified: bool,
    /// argon2id PHC string.
    pub password_hash: Option<String>,
    /// Preferences.
    pub preferences: Preferences,
    /// Creation time (also the initial `token_issued_at`).
    pub now: DateTime<Utc>,
}

impl std::fmt::Debug for NewUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewUser")
            .field("uid", &self.uid)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// Changes to a user; `None` leaves a field as it is.
#[derive(Clone, Default)]
pub struct UserPatch {
    /// New username.
    pub username: Option<Username>,
    /// New e-mail (`Some(None)` clears it).
    pub email: Option<Option<Email>>,
    /// New display name.
    pub display_name: Option<String>,
    /// New role.
    pub global_role: Option<GlobalRole>,
    /// New verified flag.
    pub email_verified: Option<bool>,
    /// New preferences.
    pub preferences: Option<Preferences>,
    /// New password hash.
    pub password_hash: Option<String>,
    /// New token-issued-at (invalidates older sessions).
    pub token_issued_at: Option<DateTime<Utc>>,
    /// In the same transaction, revoke the user's keys that were minted by a session without
    /// the password (see [`ApiKey::minted_by_session`]); set by a password change.
    pub revoke_session_minted_keys: bool,
}

impl std::fmt::Debug for UserPatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserPatch")
            .field("username", &self.username)
            .field("global_role", &self.global_role)
            .field(
                "password_hash",
                &self.password_hash.as_ref().map(|_| "<redacted>"),
            )
            .finish_non_exhaustive()
    }
}

/// Filters of a user listing.
#[derive(Debug, Clone, Default)]
pub struct UserFilter {
    /// Lower-cased e-mails; empty means any.
    pub emails: Vec<String>,
    /// Lower-cased username.
    pub username: Option<String>,
    /// Only standard users.
    pub standard_only: bool,
    /// Lower-cased substring of the username key, e-mail key or lower-cased display name.
    pub search: Option<String>,
    /// Order of the listing (ignored by counts).
    pub order: UserOrder,
    /// Matching users to skip before the page starts (ignored by counts).
    pub offset: u64,
}

/// A column a user listing is ordered by.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum UserOrderField {
    /// Numeric id.
    #[default]
    Id,
    /// Username key.
    Username,
    /// E-mail key (none sorts as the empty string).
    Email,
    /// Lower-cased display name.
    DisplayName,
    /// Creation time.
    CreatedAt,
    /// Last modification time.
    UpdatedAt,
}

/// The order of a user listing; ties are broken by id in the same direction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UserOrder {
    /// Column.
    pub field: UserOrderField,
    /// Descending instead of ascending.
    pub descending: bool,
}

impl UserOrder {
    /// Whether this is the default order (id ascending), the only one page tokens work with.
    pub fn is_default(self) -> bool {
        self.field == UserOrderField::Id && !self.descending
    }
}

/// An organization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Organization {
    /// UUID.
    pub id: Uuid,
    /// Unique name.
    pub name: String,
    /// The default organization.
    pub is_default: bool,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// A membership of a user in an organization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    /// Organization.
    pub organization_id: Uuid,
    /// User.
    pub user_id: UserId,
    /// Role.
    pub role: OrgRole,
    /// When the user joined.
    pub added_at: DateTime<Utc>,
}

/// What authenticating with an API key needs, read together: the key, its owner (never with the
/// password hash) and the owner's memberships with their organizations.
#[derive(Debug, Clone)]
pub struct KeyGrant {
    /// The key (revoked or expired ones included; the caller checks).
    pub key: ApiKey,
    /// The owner; `password_hash` is always `None`.
    pub user: User,
    /// The owner's memberships, oldest first.
    pub memberships: Vec<(Membership, Organization)>,
}

/// A team.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Team {
    /// Numeric id.
    pub id: i64,
    /// Unique name.
    pub name: String,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

/// A membership of a user in a team.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TeamMembership {
    /// Numeric id.
    pub id: i64,
    /// Team.
    pub team_id: i64,
    /// User.
    pub user_id: UserId,
    /// Role.
    pub role: TeamRole,
    /// When the user joined.
    pub added_at: DateTime<Utc>,
}

/// A stored API key (metadata and digest; never the plaintext).
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey {
    /// Numeric id.
    pub id: i64,
    /// UUID.
    pub uid: Uuid,
    /// Owner.
    pub user_id: UserId,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Display prefix.
    pub prefix: String,
    /// SHA-256 of the full key.
    pub digest: [u8; 32],
    /// Capability.
    pub role: KeyRole,
    /// Product scopes.
    pub scopes: Vec<String>,
    /// Organization binding.
    pub organization_id: Option<Uuid>,
    /// Dataset restrictions.
    pub dataset_ids: Vec<Uuid>,
    /// Organization restrictions.
    pub organization_ids: Vec<Uuid>,
    /// Expiry.
    pub expires_at: Option<DateTime<Utc>>,
    /// Last use.
    pub last_used_at: Option<DateTime<Utc>>,
    /// Revocation time.
    pub revoked_at: Option<DateTime<Utc>>,
    /// Primary key of the user (the one a Tyk roll replaces).
    pub primary: bool,
    /// Minted by a session without the owner's password (or by, or rolled from, such a key):
    /// revoked when the owner's password changes.
    pub minted_by_session: bool,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKey")
            .field("id", &self.id)
            .field("user_id", &self.user_id)
            .field("prefix", &self.prefix)
            .field("digest", &"<redacted>")
            .finish_non_exhaustive()
    }
}

impl ApiKey {
    /// Whether the key may be used at `now`.
    pub fn is_active(&self, now: DateTime<Utc>) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|e| e > now)
    }
}

/// An API key to insert.
#[derive(Clone)]
pub struct NewApiKey {
    /// UUID.
    pub uid: Uuid,
    /// Owner.
    pub user_id: UserId,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Display prefix.
    pub prefix: String,
    /// SHA-256 of the full key.
    pub digest: [u8; 32],
    /// Capability.
    pub role: KeyRole,
    /// Scopes.
    pub scopes: Vec<String>,
    /// Organization binding.
    pub organization_id: Option<Uuid>,
    /// Dataset restrictions.
    pub dataset_ids: Vec<Uuid>,
    /// Organization restrictions.
    pub organization_ids: Vec<Uuid>,
    /// Expiry.
    pub expires_at: Option<DateTime<Utc>>,
    /// Primary flag.
    pub primary: bool,
    /// See [`ApiKey::minted_by_session`].
    pub minted_by_session: bool,
    /// Creation time.
    pub now: DateTime<Utc>,
}

impl std::fmt::Debug for NewApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewApiKey")
            .field("uid", &self.uid)
            .field("user_id", &self.user_id)
            .finish_non_exhaustive()
    }
}
