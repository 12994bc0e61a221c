//! Who is calling, and the authorization checks every use case applies.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::{
    Denial, Error, Result,
    domain::{ApiKey, KeyRole, Membership, OrgRole, User, UserId},
    key_limits::KeyLimits,
    service::BOOTSTRAP_ADMIN_ID,
};

/// How the caller authenticated.
#[derive(Debug, Clone)]
pub enum Credential {
    /// A session token.
    Session {
        /// When the session token was issued (its login).
        issued_at: DateTime<Utc>,
        /// Expiry of the session.
        expires_at: DateTime<Utc>,
        /// The login password was below the policy.
        force_change_password: bool,
    },
    /// An API key.
    ApiKey(Box<ApiKey>),
}

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Principal {
    /// The user, as currently stored.
    pub user: User,
    /// The credential.
    pub credential: Credential,
    /// The user's memberships, when authentication already read them (API keys).
    pub memberships: Option<Vec<Membership>>,
}

fn key_rank(r: KeyRole) -> u8 {
    match r {
        KeyRole::Read => 1,
        KeyRole::Write => 2,
        KeyRole::Admin => 3,
        KeyRole::Owner => 4,
        KeyRole::Inherit => 5,
    }
}

impl Principal {
    /// The caller's user id.
    pub fn user_id(&self) -> UserId {
        self.user.id
    }

    /// The API key, when the caller used one.
    pub fn api_key(&self) -> Option<&ApiKey> {
        match &self.credential {
            Credential::ApiKey(k) => Some(k),
            Credential::Session { .. } => None,
        }
    }

    fn key_role(&self) -> KeyRole {
        self.api_key().map_or(KeyRole::Inherit, |k| k.role)
    }

    /// Whether the credential may act as a global administrator.
    pub fn is_admin(&self) -> bool {
        self.user.is_admin() && self.key_role().keeps_global_admin()
    }

    /// Whether the credential may only read.
    pub fn read_only(&self) -> bool {
        self.key_role().read_only()
    }

    /// Whether the caller is `user`.
    pub fn is_self(&self, user: UserId) -> bool {
        self.user.id == user
    }

    /// Require administrator rights.
    pub fn require_admin(&self) -> Result<()> {
        if self.is_admin() {
            Ok(())
        } else {
            Err(Error::PermissionDenied(Denial::AdminOnly))
        }
    }

    /// Require a credential that may change state.
    pub fn require_write(&self) -> Result<()> {
        if self.read_only() {
            Err(Error::PermissionDenied(Denial::ReadOnly))
        } else {
            Ok(())
        }
    }

    /// Require that the caller is `user` or an administrator.
    pub fn require_self_or_admin(&self, user: UserId) -> Result<()> {
        if self.is_self(user) || self.is_admin() {
            Ok(())
        } else {
            Err(Error::PermissionDenied(Denial::NotOwner))
        }
    }

    /// Whether a key of `role` may be minted by this credential (never above its own).
    pub fn may_mint(&self, role: KeyRole) -> bool {
        key_rank(role) <= key_rank(self.key_role())
    }

    /// Whether the credential may touch organization `org` at all (key binding and restrictions).
    pub fn may_use_org(&self, org: Uuid) -> bool {
        match self.api_key() {
            None => true,
            Some(k) => {
                k.organization_id.is_none_or(|o| o == org)
                    && (k.organization_ids.is_empty() || k.organization_ids.contains(&org))
            }
        }
    }

    /// The organization role this credential may use, given the user's membership role.
    pub fn effective_org_role(&self, org: Uuid, membership: Option<OrgRole>) -> Option<OrgRole> {
        if !self.may_use_org(org) {
            return None;
        }
        let role = membership?;
        Some(match self.key_role().org_cap() {
            Some(cap) => role.min(cap),
            None => role,
        })
    }

    /// The organization the credential is bound to, if any.
    pub fn bound_org(&self) -> Option<Uuid> {
        self.api_key().and_then(|k| k.organization_id)
    }

    /// Whether the credential may see (and so revoke or roll) key `k`: its owner or an
    /// administrator, and a credential bound to an organization only keys bound to the same one.
    pub fn may_see_key(&self, k: &ApiKey) -> bool {
        (self.is_self(k.user_id) || self.is_admin())
            && self
                .bound_org()
                .is_none_or(|o| k.organization_id == Some(o))
    }

    /// The organization a key listing may show: a bound credential only its own organization.
    pub fn key_listing_org(&self, asked: Option<Uuid>) -> Result<Option<Uuid>> {
        match (self.bound_org(), asked) {
            (Some(bound), Some(o)) if o != bound => {
                Err(Error::PermissionDenied(Denial::OrganizationScope))
            }
            (Some(bound), _) => Ok(Some(bound)),
            (None, o) => Ok(o),
        }
    }

    /// Only the bootstrap administrator (user 1) creates or rolls its keys and changes its own
    /// role: nobody else, administrators included, may act on `owner`'s keys or role when it is
    /// user 1.
    pub fn require_bootstrap_self(&self, owner: UserId) -> Result<()> {
        if owner == BOOTSTRAP_ADMIN_ID && !self.is_self(owner) {
            Err(Error::PermissionDenied(Denial::BootstrapAdminSelfOnly))
        } else {
            Ok(())
        }
    }

    /// A session mints keys only within `window` of its login, unless the request carries the
    /// password (checked by the caller); API keys are judged by [`Principal::narrow_key_limits`].
    pub fn require_recent_login(
        &self,
        password_given: bool,
        now: DateTime<Utc>,
        window: chrono::Duration,
    ) -> Result<()> {
        match &self.credential {
            Credential::Session { issued_at, .. }
                if !password_given && now - *issued_at > window =>
            {
                Err(Error::PermissionDenied(Denial::RecentLoginRequired))
            }
            Credential::Session { .. } | Credential::ApiKey(_) => Ok(()),
        }
    }

    /// Whether a key this credential mints is revoked by the owner's next password change: minted
    /// by a session without the password, or by a key that was itself minted so.
    pub fn mints_session_keys(&self, password_given: bool) -> bool {
        match &self.credential {
            Credential::Session { .. } => !password_given,
            Credential::ApiKey(k) => k.minted_by_session,
        }
    }

    /// Make the restrictions of a key this credential mints at most as wide as its own: what the
    /// new key leaves out is inherited from the calling key when `inherit`, and anything wider is
    /// refused. A session is unrestricted.
    pub fn narrow_key_limits(&self, limits: &mut KeyLimits, inherit: bool) -> Result<()> {
        let Some(parent) = self.api_key() else {
            return Ok(());
        };
        if inherit {
            limits.inherit(parent);
        }
        limits.within(parent)
    }
}
