//! The one error type of the domain. Its variants follow `google.rpc.Code` meanings so that each
//! transport can map it exhaustively (gRPC in the server, HTTP in the gateway).

use std::fmt;

/// One invalid field of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldViolation {
    /// Field path, e.g. `username` or `update_mask`.
    pub field: String,
    /// Human-readable description of what is wrong.
    pub description: String,
}

impl FieldViolation {
    /// A violation of `field`.
    pub fn new(field: impl Into<String>, description: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            description: description.into(),
        }
    }
}

/// The kind of entity an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entity {
    /// A user.
    User,
    /// An API key.
    ApiKey,
    /// An organization.
    Organization,
    /// An organization membership.
    Membership,
    /// A team.
    Team,
    /// A team membership.
    TeamMembership,
    /// The administrator created by InitAdmin.
    Administrator,
}

impl Entity {
    /// Upper-case name used in machine-readable reasons.
    pub fn code(self) -> &'static str {
        match self {
            Entity::User => "USER",
            Entity::ApiKey => "API_KEY",
            Entity::Organization => "ORGANIZATION",
            Entity::Membership => "MEMBERSHIP",
            Entity::Team => "TEAM",
            Entity::TeamMembership => "TEAM_MEMBERSHIP",
            Entity::Administrator => "ADMINISTRATOR",
        }
    }
}

impl fmt::Display for Entity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            Entity::User => "user",
            Entity::ApiKey => "API key",
            Entity::Organization => "organization",
            Entity::Membership => "membership",
            Entity::Team => "team",
            Entity::TeamMembership => "team membership",
            Entity::Administrator => "administrator",
        };
        f.write_str(s)
    }
}

/// Why a request was refused although it was well-formed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precondition {
    /// The bootstrap administrator (user 1) cannot be deleted.
    BootstrapAdmin,
    /// A caller cannot delete itself.
    SelfDelete,
    /// The last administrator cannot be deleted or demoted.
    LastAdmin,
    /// The last owner of an organization cannot be removed or demoted.
    LastOwner,
    /// The default organization must exist (run InitAdmin first).
    NotInitialized,
    /// The user has no password set.
    NoPassword,
    /// The target user must already be a member of the organization.
    NotAMember,
    /// An idempotency key (`request_id`) was reused with a different request.
    IdempotencyKeyReused,
}

impl Precondition {
    /// Stable machine-readable reason.
    pub fn reason(self) -> &'static str {
        match self {
            Precondition::BootstrapAdmin => "BOOTSTRAP_ADMIN_PROTECTED",
            Precondition::SelfDelete => "SELF_DELETE_FORBIDDEN",
            Precondition::LastAdmin => "LAST_ADMINISTRATOR",
            Precondition::LastOwner => "LAST_OWNER",
            Precondition::NotInitialized => "NOT_INITIALIZED",
            Precondition::NoPassword => "NO_PASSWORD",
            Precondition::NotAMember => "TARGET_NOT_A_MEMBER",
            Precondition::IdempotencyKeyReused => "IDEMPOTENCY_KEY_REUSED",
        }
    }

    fn message(self) -> &'static str {
        match self {
            Precondition::BootstrapAdmin => "the initial administrator cannot be deleted",
            Precondition::SelfDelete => "you cannot delete yourself",
            Precondition::LastAdmin => "the last administrator cannot be removed",
            Precondition::LastOwner => "the last owner of an organization cannot be removed",
            Precondition::NotInitialized => "no administrator exists yet; run InitAdmin first",
            Precondition::NoPassword => "the user has no password",
            Precondition::NotAMember => "the user is not a member of this organization",
            Precondition::IdempotencyKeyReused => {
                "this request_id was already used for a different request"
            }
        }
    }
}

/// Why a caller was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denial {
    /// The caller is not an administrator.
    AdminOnly,
    /// The caller may only act on itself.
    NotOwner,
    /// The credential is read-only.
    ReadOnly,
    /// The caller's role is too low for the change.
    RoleTooLow,
    /// The caller is not a member of the organization.
    NotAMember,
    /// The current password is wrong.
    WrongPassword,
    /// The credential is bound to another organization.
    OrganizationScope,
    /// A key may only mint or roll keys at most as wide as itself.
    KeyRestrictions,
    /// A session may mint keys only shortly after its login, unless the password is given.
    RecentLoginRequired,
    /// Only the bootstrap administrator manages its own keys and demotes itself.
    BootstrapAdminSelfOnly,
}

impl Denial {
    /// Stable machine-readable reason.
    pub fn reason(self) -> &'static str {
        match self {
            Denial::AdminOnly => "ADMIN_ONLY",
            Denial::NotOwner => "NOT_RESOURCE_OWNER",
            Denial::ReadOnly => "READ_ONLY_CREDENTIAL",
            Denial::RoleTooLow => "ROLE_TOO_LOW",
            Denial::NotAMember => "NOT_A_MEMBER",
            Denial::WrongPassword => "WRONG_PASSWORD",
            Denial::OrganizationScope => "ORGANIZATION_SCOPE",
            Denial::KeyRestrictions => "KEY_RESTRICTIONS_EXCEEDED",
            Denial::RecentLoginRequired => "RECENT_LOGIN_REQUIRED",
            Denial::BootstrapAdminSelfOnly => "BOOTSTRAP_ADMIN_SELF_ONLY",
        }
    }

    fn message(self) -> &'static str {
        match self {
            Denial::AdminOnly => "administrator rights are required",
            Denial::NotOwner => "you may only act on your own account",
            Denial::ReadOnly => "this credential is read-only",
            Denial::RoleTooLow => "you cannot grant a role higher than your own",
            Denial::NotAMember => "you are not a member of this organization",
            Denial::WrongPassword => "the current password is wrong",
            Denial::OrganizationScope => "this credential is bound to another organization",
            Denial::KeyRestrictions => {
                "a key may only create keys restricted at least as narrowly as itself"
            }
            Denial::RecentLoginRequired => {
                "creating an API key with a session needs a recent login or the current password"
            }
            Denial::BootstrapAdminSelfOnly => {
                "only the initial administrator may manage its own API keys or role"
            }
        }
    }
}

/// Which limit refused a call (see [`Error::ResourceExhausted`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// A generic rate limit.
    Rate,
    /// The account had too many failed logins recently; it is backed off, not locked.
    LoginBackoff,
    /// Too many login attempts from one client address.
    LoginSource,
}

impl Limit {
    /// Stable machine-readable reason.
    pub fn reason(self) -> &'static str {
        match self {
            Limit::Rate => "RATE_LIMITED",
            Limit::LoginBackoff => "LOGIN_BACKOFF",
            Limit::LoginSource => "LOGIN_RATE_LIMITED",
        }
    }
}

/// The domain error.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request is malformed; every bad field is listed.
    #[error("invalid argument: {}", describe(.0))]
    InvalidArgument(Vec<FieldViolation>),
    /// The addressed entity does not exist (or the caller may not know it exists).
    #[error("{entity} not found")]
    NotFound {
        /// What was looked for.
        entity: Entity,
    },
    /// A unique attribute is taken.
    #[error("{entity} with this {field} already exists")]
    AlreadyExists {
        /// What would be duplicated.
        entity: Entity,
        /// Which attribute clashes.
        field: &'static str,
    },
    /// No valid credential.
    #[error("{0}")]
    Unauthenticated(&'static str),
    /// The caller may not do this.
    #[error("{}", .0.message())]
    PermissionDenied(Denial),
    /// The state does not allow this.
    #[error("{}", .0.message())]
    FailedPrecondition(Precondition),
    /// Too many attempts; retry later.
    #[error("too many attempts; retry in {retry_after_secs} s")]
    ResourceExhausted {
        /// Seconds until a retry may succeed.
        retry_after_secs: u64,
        /// Which limit refused the call.
        limit: Limit,
    },
    /// A dependency (the database) is unavailable; retrying may help.
    #[error("service unavailable: {0}")]
    Unavailable(String),
    /// A bug or an unexpected dependency failure. The message is never shown to callers.
    #[error("internal error: {0}")]
    Internal(String),
}

fn describe(v: &[FieldViolation]) -> String {
    v.iter()
        .map(|f| format!("{}: {}", f.field, f.description))
        .collect::<Vec<_>>()
        .join("; ")
}

impl Error {
    /// A single-field invalid-argument error.
    pub fn invalid(field: impl Into<String>, description: impl Into<String>) -> Self {
        Error::InvalidArgument(vec![FieldViolation::new(field, description)])
    }

    /// A not-found error.
    pub fn not_found(entity: Entity) -> Self {
        Error::NotFound { entity }
    }

    /// Stable machine-readable reason (`google.rpc.ErrorInfo.reason`).
    pub fn reason(&self) -> String {
        match self {
            Error::InvalidArgument(_) => "INVALID_ARGUMENT".to_owned(),
            Error::NotFound { entity } => format!("{}_NOT_FOUND", entity.code()),
            Error::AlreadyExists { entity, field } => {
                format!("{}_{}_TAKEN", entity.code(), field.to_ascii_uppercase())
            }
            Error::Unauthenticated(_) => "UNAUTHENTICATED".to_owned(),
            Error::PermissionDenied(d) => d.reason().to_owned(),
            Error::FailedPrecondition(p) => p.reason().to_owned(),
            Error::ResourceExhausted { limit, .. } => limit.reason().to_owned(),
            Error::Unavailable(_) => "UNAVAILABLE".to_owned(),
            Error::Internal(_) => "INTERNAL".to_owned(),
        }
    }
}

/// Result alias of the domain.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Most violations one error carries: a request with more bad fields gets the first
/// `MAX_VIOLATIONS` only (each at most [`MAX_VIOLATION_CHARS`] long), so no request can make
/// the server build an unbounded error (the count
/// limit of each repeated field is checked before its entries, see `service::bounds`).
pub const MAX_VIOLATIONS: usize = 16;

/// Longest field path or description a recorded violation keeps, in characters (a description
/// may quote the input, e.g. an unknown field-mask path); longer ones are cut and end with `…`.
pub const MAX_VIOLATION_CHARS: usize = 256;

/// `s` cut to [`MAX_VIOLATION_CHARS`] characters.
fn clipped(mut s: String) -> String {
    if let Some((end, _)) = s.char_indices().nth(MAX_VIOLATION_CHARS) {
        s.truncate(end);
        s.push('…');
    }
    s
}

/// Accumulates field violations while a request is parsed; keeps the first [`MAX_VIOLATIONS`]
/// (each cut to [`MAX_VIOLATION_CHARS`]) and only counts the rest.
#[derive(Debug, Default)]
pub struct Violations {
    kept: Vec<FieldViolation>,
    dropped: usize,
}

impl Violations {
    /// An empty collector.
    pub fn new() -> Self {
        Self::default()
    }

    /// Record the error of `result` under `field` and return its value, if any.
    pub fn check<T>(&mut self, field: &str, result: std::result::Result<T, String>) -> Option<T> {
        match result {
            Ok(v) => Some(v),
            Err(e) => {
                self.push(field, e);
                None
            }
        }
    }

    /// Record a violation of `field` when `s` contains control characters
    /// ([`crate::domain::check_text`]).
    pub fn text(&mut self, field: impl Into<String>, s: &str) {
        if let Err(e) = crate::domain::check_text(s) {
            self.push(field, e);
        }
    }

    /// Record a violation (dropped, but counted, once [`MAX_VIOLATIONS`] are kept).
    pub fn push(&mut self, field: impl Into<String>, description: impl Into<String>) {
        if self.kept.len() < MAX_VIOLATIONS {
            self.kept.push(FieldViolation::new(
                clipped(field.into()),
                clipped(description.into()),
            ));
        } else {
            self.dropped = self.dropped.saturating_add(1);
        }
    }

    /// Whether anything was recorded.
    pub fn is_empty(&self) -> bool {
        self.kept.is_empty()
    }

    /// `Ok(())` when nothing was recorded.
    pub fn finish(self) -> Result<()> {
        if self.kept.is_empty() {
            return Ok(());
        }
        if self.dropped > 0 {
            tracing::debug!(
                kept = self.kept.len(),
                dropped = self.dropped,
                "further field violations not reported"
            );
        }
        Err(Error::InvalidArgument(self.kept))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn violations_keeps_at_most_max_violations() {
        let mut v = Violations::new();
        for i in 0..100_000 {
            v.push(format!("scopes[{i}]"), "must not be empty");
            let _: Option<()> = v.check("name", Err("bad".to_owned()));
        }
        assert_eq!(v.dropped, 2 * 100_000 - MAX_VIOLATIONS);
        match v.finish() {
            Err(Error::InvalidArgument(kept)) => {
                assert_eq!(kept.len(), MAX_VIOLATIONS);
                // The first ones, in order.
                assert_eq!(
                    kept[0],
                    FieldViolation::new("scopes[0]", "must not be empty")
                );
                assert_eq!(kept[1], FieldViolation::new("name", "bad"));
            }
            other => panic!("expected INVALID_ARGUMENT, got {other:?}"),
        }
    }

    #[test]
    fn violations_quoting_long_input_are_cut() {
        let mut v = Violations::new();
        v.push(
            "update_mask",
            format!("unknown field path {:?}", "é".repeat(70_000)),
        );
        v.push("x".repeat(300), "short");
        match v.finish() {
            Err(Error::InvalidArgument(kept)) => {
                assert_eq!(kept[0].description.chars().count(), MAX_VIOLATION_CHARS + 1);
                assert!(kept[0].description.starts_with("unknown field path \"é"));
                assert!(kept[0].description.ends_with('…'));
                assert_eq!(kept[1].field.chars().count(), MAX_VIOLATION_CHARS + 1);
                assert_eq!(kept[1].description, "short");
            }
            other => panic!("expected INVALID_ARGUMENT, got {other:?}"),
        }
    }

    #[test]
    fn violations_below_the_cap_are_all_kept() {
        let mut v = Violations::new();
        assert!(v.is_empty());
        v.push("a", "x");
        v.push("b", "y");
        assert!(!v.is_empty());
        match v.finish() {
            Err(Error::InvalidArgument(kept)) => assert_eq!(kept.len(), 2),
            other => panic!("expected INVALID_ARGUMENT, got {other:?}"),
        }
        assert!(Violations::new().finish().is_ok());
    }
}
