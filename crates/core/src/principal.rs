//! Who is calling, and the authorization checks every use case applies.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::{
    Denial, Error, Result,
    domain::{ApiKey, KeyRole, Membership, OrgRole, User, UserId},
};

/// How the caller authenticated.
#[derive(Debug, Clone)]
pub enum Credential {
    /// A session token.
    Session {
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
}
