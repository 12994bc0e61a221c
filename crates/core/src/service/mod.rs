//! Use cases. Each takes the caller's [`Principal`](crate::principal::Principal), checks its
//! rights, validates the input (collecting every bad field) and calls the storage port.

mod api_keys;
mod auth;
mod orgs;
mod teams;
mod users;

use std::sync::Arc;

pub use api_keys::{CreateApiKey, KeyRef, RollTarget};
pub use auth::{LoginOutcome, SetupState};
pub use orgs::OrgRef;
pub use users::{
    BOOTSTRAP_ADMIN_ID, CreateUser, ListUsers, MAX_LIST_OFFSET, MAX_SEARCH_CHARS, UpdateUser,
    UserLookup, UserPage,
};

use crate::{
    clock::Clock, domain::PasswordPolicy, password::PasswordHasher, ports::Repo,
    token::TokenService,
};

/// Settings of the use cases.
#[derive(Debug, Clone)]
pub struct CoreSettings {
    /// Password rules.
    pub password_policy: PasswordPolicy,
    /// New users without an explicit organization join the default organization.
    pub join_default_organization: bool,
    /// Name of the default organization created by InitAdmin when none is given.
    pub default_organization_name: String,
}

impl Default for CoreSettings {
    fn default() -> Self {
        Self {
            password_policy: PasswordPolicy::default(),
            join_default_organization: true,
            default_organization_name: "Default".to_owned(),
        }
    }
}

/// The identity use cases over a storage port.
#[derive(Clone)]
pub struct Identity {
    repo: Arc<dyn Repo>,
    hasher: PasswordHasher,
    tokens: TokenService,
    clock: Arc<dyn Clock>,
    settings: CoreSettings,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl Identity {
    /// Assemble the use cases.
    pub fn new(
        repo: Arc<dyn Repo>,
        hasher: PasswordHasher,
        tokens: TokenService,
        clock: Arc<dyn Clock>,
        settings: CoreSettings,
    ) -> Self {
        Self {
            repo,
            hasher,
            tokens,
            clock,
            settings,
        }
    }

    /// The storage port (for readiness checks).
    pub fn repo(&self) -> &Arc<dyn Repo> {
        &self.repo
    }
}

/// Parse an optional UUID field.
pub(crate) fn parse_uuid(field: &str, s: &str) -> crate::Result<uuid::Uuid> {
    uuid::Uuid::try_parse(s).map_err(|_| crate::Error::invalid(field, "must be a UUID"))
}
