//! User management.

use uuid::Uuid;

use super::{Identity, parse_uuid};
use crate::{
    Denial, Entity, Error, Precondition, Result, Violations,
    domain::{
        Email, GlobalRole, Name, NewUser, OrgRole, Password, Preferences, User, UserId, UserPatch,
        Username, check_text, parse_handle,
    },
    principal::Principal,
};

/// The id a single-tenant product treats as the undeletable initial administrator.
pub const BOOTSTRAP_ADMIN_ID: UserId = 1;

/// Input of CreateUser.
#[derive(Debug, Clone, Default)]
pub struct CreateUser {
    /// Username.
    pub username: String,
    /// E-mail.
    pub email: Option<String>,
    /// Display name.
    pub display_name: String,
    /// Initial password (checked against the policy after the caller's rights).
    pub password: Option<String>,
    /// Role; `None` means standard.
    pub global_role: Option<GlobalRole>,
    /// E-mail verified.
    pub email_verified: bool,
    /// Preferences.
    pub preferences: Preferences,
    /// Organization to join instead of the default one.
    pub organization_id: Option<String>,
    /// Role there; `None` means member.
    pub organization_role: Option<OrgRole>,
    /// Idempotency key: a retry with the same id returns the same user.
    pub request_id: Option<String>,
}

/// How a user is addressed.
#[derive(Debug, Clone)]
pub enum UserLookup {
    /// Numeric id.
    Id(UserId),
    /// UUID string.
    Uid(String),
    /// Handle string.
    Handle(String),
    /// Username.
    Username(String),
}

/// Input of UpdateUser.
#[derive(Debug, Clone, Default)]
pub struct UpdateUser {
    /// Mask paths.
    pub paths: Vec<String>,
    /// New username.
    pub username: String,
    /// New e-mail.
    pub email: Option<String>,
    /// New display name.
    pub display_name: String,
    /// New role (`None` = unspecified).
    pub global_role: Option<GlobalRole>,
    /// New verified flag.
    pub email_verified: bool,
    /// New preferences.
    pub preferences: Preferences,
}

impl Identity {
    async fn find_user(&self, lookup: &UserLookup) -> Result<Option<User>> {
        match lookup {
            UserLookup::Id(id) => self.repo.user_by_id(*id).await,
            UserLookup::Uid(s) => self.repo.user_by_uid(parse_uuid("uid", s)?).await,
            UserLookup::Handle(h) => {
                let uid = parse_handle("user", h)
                    .ok_or_else(|| Error::invalid("handle", "must look like user-<32 hex>"))?;
                self.repo.user_by_uid(uid).await
            }
            UserLookup::Username(u) => {
                if u.is_empty() {
                    return Err(Error::invalid("username", "must not be empty"));
                }
                check_text(u).map_err(|e| Error::invalid("username", e))?;
                self.repo.user_by_username(&u.to_lowercase()).await
            }
        }
    }

    /// A user the caller may see: self, or anyone for administrators. Others are told
    /// PERMISSION_DENIED whether or not the user exists, so ids cannot be probed.
    pub async fn get_user(&self, p: &Principal, lookup: &UserLookup) -> Result<User> {
        let user = self.find_user(lookup).await?;
        match user {
            Some(u) if p.is_self(u.id) || p.is_admin() => Ok(u),
            Some(_) => Err(Error::PermissionDenied(Denial::NotOwner)),
            None if p.is_admin() => Err(Error::not_found(Entity::User)),
            None => Err(Error::PermissionDenied(Denial::NotOwner)),
        }
    }

    /// Load a user that must exist (after authorization was checked).
    pub(crate) async fn existing_user(&self, id: UserId) -> Result<User> {
        self.repo
            .user_by_id(id)
            .await?
            .ok_or(Error::not_found(Entity::User))
    }

    /// Create a user (administrators only).
    #[tracing::instrument(skip_all)]
    pub async fn create_user(&self, p: &Principal, input: CreateUser) -> Result<User> {
        p.require_admin()?;
        p.require_write()?;
        let mut v = Violations::new();
        let username = v.check("username", Username::parse(&input.username));
        let email = match input.email.as_deref() {
            Some(e) => v.check("email", Email::parse(e)).map(Some),
            None => Some(None),
        };
        let display = v.check("display_name", Name::parse(&input.display_name, 0, 256));
        let org = match input.organization_id.as_deref() {
            Some(s) => v
                .check(
                    "organization_id",
                    Uuid::try_parse(s).map_err(|_| "must be a UUID".to_owned()),
                )
                .map(Some),
            None => Some(None),
        };
        let password = match input.password.as_deref() {
            Some(pw) => v
                .check(
                    "password",
                    Password::parse_new(pw, self.settings.password_policy),
                )
                .map(Some),
            None => Some(None),
        };
        if let Some(id) = &input.request_id {
            v.check("request_id", super::idempotency::check_request_id(id));
        }
        v.finish()?;
        let (Some(username), Some(email), Some(display), Some(org), Some(password)) =
            (username, email, display, org, password)
        else {
            return Err(Error::Internal("validation inconsistency".into()));
        };
        // The password is not part of the fingerprint: nothing derived from it is stored.
        let replay = match &input.request_id {
            Some(id) => {
                let prefs = serde_json::to_string(&input.preferences)
                    .map_err(|e| Error::Internal(format!("preferences: {e}")))?;
                let role = input.global_role.unwrap_or(GlobalRole::Standard);
                let org_role = input.organization_role.unwrap_or(OrgRole::Member);
                let fp = super::idempotency::fingerprint(&[
                    username.lowercased().as_str(),
                    email.as_ref().map_or("", |e| e.as_str()),
                    &display.clone().into_inner(),
                    role.as_str(),
                    if input.email_verified { "1" } else { "0" },
                    &prefs,
                    &org.map(|o| o.to_string()).unwrap_or_default(),
                    org_role.as_str(),
                    if password.is_some() { "1" } else { "0" },
                ]);
                match self
                    .idempotency(p.user.id, super::idempotency::CREATE_USER, id, fp)
                    .await?
                {
                    super::idempotency::Replay::Same(user_id) => {
                        return self.existing_user(user_id).await;
                    }
                    super::idempotency::Replay::Fresh(idem) => Some(idem),
                }
            }
            None => None,
        };
        let join = match org {
            Some(id) => {
                self.repo
                    .organization_by_id(id)
                    .await?
                    .ok_or(Error::not_found(Entity::Organization))?;
                Some((id, input.organization_role.unwrap_or(OrgRole::Member)))
            }
            None if self.settings.join_default_organization => self
                .repo
                .default_organization()
                .await?
                .map(|o| (o.id, OrgRole::Member)),
            None => None,
        };
        let password_hash = match &password {
            Some(pw) => Some(self.hasher.hash(pw).await?),
            None => None,
        };
        let user = NewUser {
            uid: Uuid::new_v4(),
            username: username.lowercased(),
            email,
            display_name: display.into_inner(),
            global_role: input.global_role.unwrap_or(GlobalRole::Standard),
            email_verified: input.email_verified,
            password_hash,
            preferences: input.preferences,
            now: self.clock.now(),
        };
        match replay {
            None => self.repo.create_user(user, join).await,
            Some(idem) => match self
                .repo
                .create_user_idempotent(user, join, idem.clone())
                .await
            {
                Ok(u) => Ok(u),
                Err(e) => {
                    let id = self.lost_race(&idem, e).await?;
                    self.existing_user(id).await
                }
            },
        }
    }

    /// Update a user's attributes named in the mask.
    #[tracing::instrument(skip_all, fields(user_id))]
    pub async fn update_user(
        &self,
        p: &Principal,
        user_id: UserId,
        input: UpdateUser,
    ) -> Result<User> {
        super::bounds::update_mask(&input.paths)?;
        p.require_self_or_admin(user_id)?;
        p.require_write()?;
        if input.paths.is_empty() {
            return Err(Error::invalid(
                "update_mask",
                "must name at least one field",
            ));
        }
        let target = self.existing_user(user_id).await?;
        let mut v = Violations::new();
        let mut patch = UserPatch::default();
        let mut prefs = target.preferences.clone();
        let mut prefs_changed = false;
        for path in &input.paths {
            if super::user_rules::admin_only_path(path) && !p.is_admin() {
                return Err(Error::PermissionDenied(Denial::AdminOnly));
            }
            match path.as_str() {
                "username" => {
                    patch.username = v.check("user.username", Username::parse(&input.username));
                }
                "global_role" => match input.global_role {
                    Some(r) => patch.global_role = Some(r),
                    None => v.push("user.global_role", "must be ADMINISTRATOR or STANDARD"),
                },
                "email_verified" => {
                    patch.email_verified = Some(input.email_verified);
                }
                "email" => {
                    patch.email = match input.email.as_deref() {
                        Some(e) => v.check("user.email", Email::parse(e)).map(Some),
                        None => Some(None),
                    };
                }
                "display_name" => {
                    patch.display_name = v
                        .check(
                            "user.display_name",
                            Name::parse(&input.display_name, 0, 256),
                        )
                        .map(Name::into_inner);
                }
                "preferences" => {
                    prefs = input.preferences.clone();
                    prefs_changed = true;
                }
                other => match other.strip_prefix("preferences.") {
                    Some("theme_color") => {
                        prefs.theme_color.clone_from(&input.preferences.theme_color);
                        prefs_changed = true;
                    }
                    Some("use_cache") => {
                        prefs.use_cache = input.preferences.use_cache;
                        prefs_changed = true;
                    }
                    Some("show_chat") => {
                        prefs.show_chat = input.preferences.show_chat;
                        prefs_changed = true;
                    }
                    Some("show_portal") => {
                        prefs.show_portal = input.preferences.show_portal;
                        prefs_changed = true;
                    }
                    Some("notifications_enabled") => {
                        prefs.notifications_enabled = input.preferences.notifications_enabled;
                        prefs_changed = true;
                    }
                    Some("access_to_sso_config") => {
                        prefs.access_to_sso_config = input.preferences.access_to_sso_config;
                        prefs_changed = true;
                    }
                    _ => v.push("update_mask", format!("unknown field path {other:?}")),
                },
            }
        }
        if prefs.theme_color.chars().count() > 64 {
            v.push(
                "user.preferences.theme_color",
                "must be at most 64 characters",
            );
        }
        v.finish()?;
        super::user_rules::check_preferences(
            p,
            &target.preferences,
            prefs_changed.then_some(&prefs),
        )?;
        super::user_rules::settle_verification(&target, &mut patch);
        if prefs_changed {
            patch.preferences = Some(prefs);
        }
        let now = self.clock.now();
        if let Some(role) = patch.global_role {
            if role != target.global_role {
                // Another administrator cannot demote the bootstrap administrator.
                if role != GlobalRole::Administrator {
                    p.require_bootstrap_self(target.id)?;
                }
                if target.is_admin() && self.repo.count_admins().await? <= 1 {
                    return Err(Error::FailedPrecondition(Precondition::LastAdmin));
                }
                // A role change ends every session of the user.
                patch.token_issued_at = Some(now);
            } else {
                patch.global_role = None;
            }
        }
        self.repo.update_user(user_id, patch, now).await
    }

    /// Delete a user (administrators only). Returns the digests of the revoked keys.
    #[tracing::instrument(skip_all, fields(user_id))]
    pub async fn delete_user(&self, p: &Principal, user_id: UserId) -> Result<Vec<[u8; 32]>> {
        p.require_admin()?;
        p.require_write()?;
        let target = self.existing_user(user_id).await?;
        if target.id == BOOTSTRAP_ADMIN_ID {
            return Err(Error::FailedPrecondition(Precondition::BootstrapAdmin));
        }
        if p.is_self(user_id) {
            return Err(Error::FailedPrecondition(Precondition::SelfDelete));
        }
        if target.is_admin() && self.repo.count_admins().await? <= 1 {
            return Err(Error::FailedPrecondition(Precondition::LastAdmin));
        }
        self.repo.delete_user(user_id).await
    }
}
