//! Use cases. Each takes the caller's [`Principal`](crate::principal::Principal), checks its
//! rights, validates the input (collecting every bad field) and calls the storage port.

mod api_keys;
mod auth;
pub mod bounds;
mod idempotency;
mod key_roll;
mod member_view;
mod orgs;
mod passwords;
mod teams;
mod tokens;
mod user_listing;
mod user_rules;
mod users;

use std::sync::Arc;

pub use api_keys::{CreateApiKey, KeyRef, RollTarget};
pub use auth::{LoginOutcome, MAX_IDENTIFIER_CHARS, SetupState};
pub use idempotency::MAX_REQUEST_ID_LEN;
pub use member_view::MemberView;
pub use orgs::OrgRef;
pub use tokens::{AccessToken, MAX_ACCESS_TOKEN_SECS, PublicJwk};
pub use user_listing::{ListUsers, MAX_LIST_OFFSET, MAX_SEARCH_CHARS, UserPage};
pub use users::{BOOTSTRAP_ADMIN_ID, CreateUser, UpdateUser, UserLookup};

use crate::{
    clock::Clock, domain::PasswordPolicy, password::PasswordHasher, ports::Repo,
    token::TokenService,
};

/// How long after its login a session may mint API keys without the password, by default.
pub const DEFAULT_RECENT_LOGIN: std::time::Duration = std::time::Duration::from_secs(10 * 60);

/// Settings of the use cases.
#[derive(Debug, Clone)]
pub struct CoreSettings {
    /// Password rules.
    pub password_policy: PasswordPolicy,
    /// New users without an explicit organization join the default organization.
    pub join_default_organization: bool,
    /// Name of the default organization created by InitAdmin when none is given.
    pub default_organization_name: String,
    /// Per-account login backoff.
    pub login: LoginProtection,
    /// How long a `request_id` of CreateUser/CreateApiKey is remembered.
    pub idempotency_ttl: std::time::Duration,
    /// How long after its login a session may create or roll API keys without the password.
    pub recent_login: std::time::Duration,
}

/// Login backoff per identifier and source: after `threshold` failures of one identifier from
/// one source within `failure_window`, each further attempt of that identifier from that source
/// before `last_failure + base * 2^(failures - threshold)` (at most `max_delay`) is refused
/// without looking at the password. Other sources are not affected, and refused attempts do not
/// count as failures, so nobody can keep an account locked: the owner's own source is never
/// backed off by a guesser's failures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginProtection {
    /// Failures allowed before the backoff starts; 0 disables it.
    pub threshold: u32,
    /// The first delay.
    pub base_delay: std::time::Duration,
    /// The longest delay.
    pub max_delay: std::time::Duration,
    /// Failures older than this are forgotten.
    pub failure_window: std::time::Duration,
}

impl Default for LoginProtection {
    fn default() -> Self {
        Self {
            threshold: 5,
            base_delay: std::time::Duration::from_secs(1),
            max_delay: std::time::Duration::from_secs(15 * 60),
            failure_window: std::time::Duration::from_secs(3600),
        }
    }
}

impl LoginProtection {
    /// The delay after `failures` failures, `None` below the threshold.
    pub fn delay(&self, failures: u32) -> Option<std::time::Duration> {
        if self.threshold == 0 || failures < self.threshold {
            return None;
        }
        let doublings = (failures - self.threshold).min(30);
        let delay = self
            .base_delay
            .checked_mul(1u32 << doublings)
            .unwrap_or(self.max_delay);
        Some(delay.min(self.max_delay))
    }
}

impl Default for CoreSettings {
    fn default() -> Self {
        Self {
            password_policy: PasswordPolicy::default(),
            join_default_organization: true,
            default_organization_name: "Default".to_owned(),
            login: LoginProtection::default(),
            idempotency_ttl: std::time::Duration::from_secs(24 * 3600),
            recent_login: DEFAULT_RECENT_LOGIN,
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

    /// The password hasher (its counter shows that the work of a login was done).
    pub fn hasher(&self) -> &PasswordHasher {
        &self.hasher
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

/// Convert a std duration to a chrono one, saturating.
pub(crate) fn chrono_dur(d: std::time::Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::LoginProtection;

    #[test]
    fn backoff_doubles_from_the_threshold_and_is_capped() {
        let p = LoginProtection {
            threshold: 3,
            base_delay: Duration::from_secs(2),
            max_delay: Duration::from_secs(60),
            failure_window: Duration::from_secs(600),
        };
        assert_eq!(p.delay(2), None);
        assert_eq!(p.delay(3), Some(Duration::from_secs(2)));
        assert_eq!(p.delay(4), Some(Duration::from_secs(4)));
        assert_eq!(p.delay(7), Some(Duration::from_secs(32)));
        assert_eq!(p.delay(8), Some(Duration::from_secs(60)));
        assert_eq!(p.delay(u32::MAX), Some(Duration::from_secs(60)));
        let off = LoginProtection { threshold: 0, ..p };
        assert_eq!(off.delay(100), None);
    }
}
