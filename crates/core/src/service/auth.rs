//! Login, credential authentication and first-run setup.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::Identity;
use crate::{
    Entity, Error, Limit, Result, Violations,
    domain::{
        Email, GlobalRole, Membership, Name, NewUser, Organization, Password, Preferences, User,
        Username,
    },
    keys,
    login_source::{LoginSource, failure_key},
    principal::{Credential, Principal},
    token::TokenService,
};

/// A successful login.
#[derive(Debug, Clone)]
pub struct LoginOutcome {
    /// The session token.
    pub token: String,
    /// Its expiry.
    pub expires_at: DateTime<Utc>,
    /// The user.
    pub user: User,
    /// The password is below the current policy.
    pub force_change_password: bool,
}

/// Whether the service is set up.
#[derive(Debug, Clone)]
pub struct SetupState {
    /// An administrator exists.
    pub admin_exists: bool,
    /// The default organization.
    pub default_organization: Option<Organization>,
}

const BAD_CREDENTIALS: &str = "invalid credentials";
/// Longest login identifier (a username or an e-mail address), in characters.
pub const MAX_IDENTIFIER_CHARS: usize = 320;

impl Identity {
    /// Log in with a username or e-mail and a password, from `source` (the client address the
    /// server determined; `None` when it has none).
    ///
    /// Failures are counted per presented identifier (lower-cased) *and* source
    /// ([`failure_key`]), whether or not an account has the identifier, so the backoff tells
    /// nothing about which accounts exist, and a guesser elsewhere cannot keep the owner out:
    /// his failures back off his own source only. A backed-off attempt still runs a (dummy)
    /// verify, so it costs the same time as any other attempt, and it does not count as a
    /// failure: once the delay has passed, the right password works again.
    #[tracing::instrument(skip_all)]
    pub async fn login(
        &self,
        identifier: &str,
        password: &str,
        source: Option<LoginSource>,
    ) -> Result<LoginOutcome> {
        let mut v = Violations::new();
        if identifier.trim().is_empty() {
            v.push("identifier", "must not be empty");
        } else if identifier.chars().count() > MAX_IDENTIFIER_CHARS {
            v.push(
                "identifier",
                format!("must be at most {MAX_IDENTIFIER_CHARS} characters"),
            );
        } else {
            v.text("identifier", identifier);
        }
        let pw = v.check("password", Password::parse_presented(password));
        v.finish()?;
        let Some(pw) = pw else {
            return Err(Error::Unauthenticated(BAD_CREDENTIALS));
        };

        let identifier_key = identifier.trim().to_lowercase();
        let key = failure_key(&identifier_key, source);
        let now = self.clock.now();
        let protection = self.settings.login;
        let reset_before = now - super::chrono_dur(protection.failure_window);
        let failures = self.repo.login_failures(&key).await?;
        let backed_off = match failures {
            Some(f) if f.last_failure_at >= reset_before => protection
                .delay(f.failures)
                .map(|d| f.last_failure_at + super::chrono_dur(d))
                .filter(|until| *until > now),
            Some(_) | None => None,
        };
        if let Some(until) = backed_off {
            // Same work as a real attempt; the password is not looked at.
            self.hasher.verify_dummy(&pw).await?;
            let ms = u64::try_from((until - now).num_milliseconds()).unwrap_or(0);
            return Err(Error::ResourceExhausted {
                retry_after_secs: ms.div_ceil(1000).max(1),
                limit: Limit::LoginBackoff,
            });
        }

        let mut user = self.repo.user_by_username(&identifier_key).await?;
        if user.is_none() && identifier_key.contains('@') {
            user = self.repo.user_by_email(&identifier_key).await?;
        }
        // Always verify something, so that unknown users cost the same as wrong passwords.
        let hash = user.as_ref().and_then(|u| u.password_hash.as_deref());
        let ok = self.hasher.verify(&pw, hash).await?;
        let (true, Some(user)) = (ok, user) else {
            if protection.threshold > 0 {
                self.repo
                    .record_login_failure(&key, now, reset_before)
                    .await?;
            }
            return Err(Error::Unauthenticated(BAD_CREDENTIALS));
        };
        if failures.is_some() {
            self.repo.clear_login_failures(&key).await?;
        }
        let fcp = pw.below(self.settings.password_policy);
        let (token, expires_at) = self.tokens.issue(
            user.uid,
            user.id,
            user.token_issued_at,
            fcp,
            self.clock.now(),
        )?;
        Ok(LoginOutcome {
            token,
            expires_at,
            user,
            force_change_password: fcp,
        })
    }

    /// Turn a session token or an API key into a principal.
    pub async fn authenticate(&self, credential: &str) -> Result<Principal> {
        let credential = credential.trim();
        if credential.is_empty() {
            return Err(Error::Unauthenticated("missing credential"));
        }
        if TokenService::looks_like_jwt(credential) {
            let claims = self.tokens.verify(credential)?;
            let user = self
                .repo
                .user_by_id(claims.uid)
                .await?
                .filter(|u| {
                    u.uid.to_string() == claims.sub
                        && u.token_issued_at.timestamp_micros() == claims.tia
                })
                .ok_or(Error::Unauthenticated("invalid or expired session token"))?;
            let expires_at = DateTime::from_timestamp(claims.exp, 0).unwrap_or_default();
            // An unrepresentable `iat` counts as issued long ago (never as a recent login).
            let issued_at = DateTime::from_timestamp(claims.iat, 0).unwrap_or_default();
            return Ok(Principal {
                user,
                credential: Credential::Session {
                    issued_at,
                    expires_at,
                    force_change_password: claims.fcp,
                },
                memberships: None,
            });
        }
        // Malformed and checksum-failing keys never reach storage.
        let parsed = keys::parse(credential).ok_or(Error::Unauthenticated("invalid API key"))?;
        let now = self.clock.now();
        let grant = self
            .repo
            .key_grant_by_digest(&parsed.digest())
            .await?
            .filter(|g| g.key.is_active(now))
            .ok_or(Error::Unauthenticated("invalid API key"))?;
        let key = grant.key;
        if key
            .last_used_at
            .is_none_or(|t| now - t > chrono::Duration::seconds(60))
        {
            // Best effort, off the request path: a failure only delays `last_used_at`.
            let repo = self.repo.clone();
            let id = key.id;
            tokio::spawn(async move {
                if let Err(e) = repo.touch_api_key(id, now).await {
                    tracing::warn!(error = %e, key_id = id, "could not record key use");
                }
            });
        }
        Ok(Principal {
            user: grant.user,
            credential: Credential::ApiKey(Box::new(key)),
            memberships: Some(grant.memberships.into_iter().map(|(m, _)| m).collect()),
        })
    }

    /// The memberships of a principal (for Authenticate/WhoAmI).
    pub async fn memberships_of(&self, p: &Principal) -> Result<Vec<Membership>> {
        if let Some(m) = &p.memberships {
            return Ok(m.clone());
        }
        Ok(self
            .repo
            .user_memberships(p.user.id)
            .await?
            .into_iter()
            .map(|(m, _)| m)
            .collect())
    }

    /// Whether an administrator exists.
    pub async fn setup_state(&self) -> Result<SetupState> {
        Ok(SetupState {
            admin_exists: self.repo.admin_exists().await?,
            default_organization: self.repo.default_organization().await?,
        })
    }

    /// Create the first administrator and the default organization.
    #[tracing::instrument(skip_all)]
    pub async fn init_admin(
        &self,
        username: &str,
        password: &str,
        email: Option<&str>,
        display_name: &str,
        organization_name: &str,
    ) -> Result<(User, Organization)> {
        // Like Portainer: "already initialised" wins over a weak password.
        if self.repo.admin_exists().await? {
            return Err(Error::AlreadyExists {
                entity: Entity::Administrator,
                field: "setup",
            });
        }
        let mut v = Violations::new();
        let username = v.check("username", Username::parse(username));
        let pw = v.check(
            "password",
            Password::parse_new(password, self.settings.password_policy),
        );
        let email = match email {
            Some(e) => v.check("email", Email::parse(e)).map(Some),
            None => Some(None),
        };
        let display = v.check("display_name", Name::parse(display_name, 0, 256));
        let org_name = if organization_name.trim().is_empty() {
            Some(self.settings.default_organization_name.clone())
        } else {
            v.check(
                "organization_name",
                Name::parse(organization_name, 1, 256).map(Name::into_inner),
            )
        };
        v.finish()?;
        let (Some(username), Some(pw), Some(email), Some(display), Some(org_name)) =
            (username, pw, email, display, org_name)
        else {
            return Err(Error::Internal("validation inconsistency".into()));
        };
        let hash = self.hasher.hash(&pw).await?;
        let now = self.clock.now();
        let admin = NewUser {
            uid: Uuid::new_v4(),
            username: username.lowercased(),
            email,
            display_name: display.into_inner(),
            global_role: GlobalRole::Administrator,
            email_verified: true,
            password_hash: Some(hash),
            preferences: Preferences::default(),
            now,
        };
        self.repo.init_admin(admin, Uuid::new_v4(), org_name).await
    }
}
