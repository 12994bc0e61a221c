//! API key issuance, listing, revocation and rolling.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{
    Identity,
    bounds::{self, MAX_KEY_IDS as MAX_IDS, MAX_SCOPES},
    parse_uuid,
};
use crate::{
    Denial, Entity, Error, Result, Violations,
    domain::{ApiKey, KeyRole, Name, NewApiKey, Password, UserId},
    key_limits::KeyLimits,
    keys,
    pagination::{self, PageRequest},
    principal::Principal,
};

const MAX_SCOPE_LEN: usize = 256;

/// Longest relative expiry (ten years).
const MAX_EXPIRES_IN_SECS: u32 = 315_360_000;

/// Input of CreateApiKey.
#[derive(Debug, Clone, Default)]
pub struct CreateApiKey {
    /// Owner; `None` means the caller.
    pub user_id: Option<UserId>,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Role; `None` means inherit.
    pub role: Option<KeyRole>,
    /// Scopes.
    pub scopes: Vec<String>,
    /// Organization binding (UUID string).
    pub organization_id: Option<String>,
    /// Dataset restrictions (UUID strings).
    pub dataset_ids: Vec<String>,
    /// Organization restrictions (UUID strings).
    pub organization_ids: Vec<String>,
    /// Expiry.
    pub expires_at: Option<DateTime<Utc>>,
    /// Alternative to `expires_at`: seconds after the creation (server time).
    pub expires_in: Option<u32>,
    /// The owner's password, checked when given.
    pub password: Option<Password>,
    /// Make it the primary key.
    pub primary: bool,
    /// Idempotency key: a retry with the same id returns the same key's metadata (without the
    /// plaintext, which is never stored) instead of a second key.
    pub request_id: Option<String>,
}

/// How a key is addressed.
#[derive(Debug, Clone)]
pub enum KeyRef {
    /// Numeric id.
    Id(i64),
    /// UUID string.
    Uid(String),
}

/// What RollApiKey replaces.
#[derive(Debug, Clone)]
pub enum RollTarget {
    /// This key.
    Key(KeyRef),
    /// The user's primary key.
    PrimaryOf(UserId),
}

fn parse_uuids(v: &mut Violations, field: &str, ids: &[String]) -> Vec<Uuid> {
    if ids.len() > MAX_IDS {
        v.push(field, format!("at most {MAX_IDS} ids"));
        return Vec::new();
    }
    let mut out = Vec::with_capacity(ids.len());
    for (i, s) in ids.iter().enumerate() {
        match Uuid::try_parse(s) {
            Ok(u) => out.push(u),
            Err(_) => v.push(format!("{field}[{i}]"), "must be a UUID"),
        }
    }
    out
}

impl Identity {
    /// A key the caller may see ([`Principal::may_see_key`]: its own, or anyone's for
    /// administrators, and only keys of its organization for a bound key). Others get NOT_FOUND.
    pub(super) async fn visible_key(&self, p: &Principal, key: &KeyRef) -> Result<ApiKey> {
        let found = match key {
            KeyRef::Id(id) => self.repo.api_key_by_id(*id).await?,
            KeyRef::Uid(s) => self.repo.api_key_by_uid(parse_uuid("key.uid", s)?).await?,
        };
        found
            .filter(|k| p.may_see_key(k))
            .ok_or(Error::not_found(Entity::ApiKey))
    }

    /// Create a key; returns its metadata and the plaintext (shown once). A retry with a known
    /// `request_id` returns the first key's metadata and an empty plaintext.
    #[tracing::instrument(skip_all)]
    pub async fn create_api_key(
        &self,
        p: &Principal,
        input: CreateApiKey,
    ) -> Result<(ApiKey, String)> {
        bounds::create_api_key(&input)?;
        let owner_id = input.user_id.unwrap_or(p.user.id);
        p.require_self_or_admin(owner_id)?;
        p.require_write()?;
        p.require_bootstrap_self(owner_id)?;
        let role = input.role.unwrap_or(KeyRole::Inherit);
        if !p.may_mint(role) {
            return Err(Error::PermissionDenied(Denial::RoleTooLow));
        }
        let now = self.clock.now();
        let password_given = input.password.is_some();
        p.require_recent_login(
            password_given,
            now,
            super::chrono_dur(self.settings.recent_login),
        )?;
        let mut v = Violations::new();
        let name = v.check("name", Name::parse(&input.name, 1, 128));
        let description = v.check("description", Name::parse(&input.description, 0, 1024));
        if input.scopes.len() > MAX_SCOPES {
            v.push("scopes", format!("at most {MAX_SCOPES} scopes"));
        }
        for (i, s) in input.scopes.iter().enumerate() {
            if s.trim().is_empty() || s.len() > MAX_SCOPE_LEN || s.chars().any(char::is_control) {
                v.push(
                    format!("scopes[{i}]"),
                    format!("must be 1-{MAX_SCOPE_LEN} printable characters"),
                );
            }
        }
        let org = match input.organization_id.as_deref() {
            Some(s) => v.check(
                "organization_id",
                Uuid::try_parse(s).map_err(|_| "must be a UUID".to_owned()),
            ),
            None => None,
        };
        let dataset_ids = parse_uuids(&mut v, "dataset_ids", &input.dataset_ids);
        let organization_ids = parse_uuids(&mut v, "organization_ids", &input.organization_ids);
        if input.expires_at.is_some_and(|e| e <= now) {
            v.push("expires_at", "must be in the future");
        }
        match input.expires_in {
            Some(_) if input.expires_at.is_some() => {
                v.push("expires_in_seconds", "not together with expires_at");
            }
            Some(s) if s == 0 || s > MAX_EXPIRES_IN_SECS => v.push(
                "expires_in_seconds",
                format!("must be 1-{MAX_EXPIRES_IN_SECS}"),
            ),
            _ => {}
        }
        let expires_at = input.expires_at.or_else(|| {
            input
                .expires_in
                .map(|s| now + chrono::Duration::seconds(i64::from(s)))
        });
        if let Some(id) = &input.request_id {
            v.check("request_id", super::idempotency::check_request_id(id));
        }
        v.finish()?;
        let (Some(name), Some(description)) = (name, description) else {
            return Err(Error::Internal("validation inconsistency".into()));
        };
        let owner = self.existing_user(owner_id).await?;
        // A key mints only keys at most as restricted as itself; what is left out is inherited.
        let mut limits = KeyLimits {
            scopes: input.scopes.iter().map(|s| s.trim().to_owned()).collect(),
            organization_id: org,
            dataset_ids,
            organization_ids,
            expires_at,
        };
        p.narrow_key_limits(&mut limits, true)?;
        if let Some(o) = limits.organization_id {
            self.repo
                .organization_by_id(o)
                .await?
                .ok_or(Error::not_found(Entity::Organization))?;
            if self.repo.membership(o, owner.id).await?.is_none() {
                return Err(Error::PermissionDenied(Denial::NotAMember));
            }
        }
        // A replay is answered before the password check and the minting: the first request
        // passed them, and its key exists. The password is not part of the fingerprint.
        let replay = match &input.request_id {
            Some(id) => {
                let parts = serde_json::json!([
                    owner.id,
                    name.clone().into_inner(),
                    description.clone().into_inner(),
                    role.as_str(),
                    limits.scopes,
                    limits.organization_id.map(|o| o.to_string()),
                    limits.dataset_ids,
                    limits.organization_ids,
                    // A relative expiry is the request's own; its absolute time differs
                    // between a request and its retry.
                    match input.expires_in {
                        Some(secs) => serde_json::json!(format!("+{secs}s")),
                        None => serde_json::json!(limits.expires_at.map(|e| e.timestamp_micros())),
                    },
                    input.primary,
                ])
                .to_string();
                let fp = super::idempotency::fingerprint(&[&parts]);
                match self
                    .idempotency(p.user.id, super::idempotency::CREATE_API_KEY, id, fp)
                    .await?
                {
                    super::idempotency::Replay::Same(key_id) => {
                        let key = self.visible_key(p, &KeyRef::Id(key_id)).await?;
                        return Ok((key, String::new()));
                    }
                    super::idempotency::Replay::Fresh(idem) => Some(idem),
                }
            }
            None => None,
        };
        if let Some(pw) = &input.password
            && !self
                .hasher
                .verify(pw, owner.password_hash.as_deref())
                .await?
        {
            return Err(Error::PermissionDenied(Denial::WrongPassword));
        }
        let generated = keys::generate();
        let new = NewApiKey {
            uid: Uuid::new_v4(),
            user_id: owner.id,
            name: name.into_inner(),
            description: description.into_inner(),
            prefix: generated.prefix,
            digest: generated.digest,
            role,
            scopes: limits.scopes,
            organization_id: limits.organization_id,
            dataset_ids: limits.dataset_ids,
            organization_ids: limits.organization_ids,
            expires_at: limits.expires_at,
            primary: input.primary,
            minted_by_session: p.mints_session_keys(password_given),
            now,
        };
        let Some(idem) = replay else {
            let key = self.repo.create_api_key(new).await?;
            return Ok((key, generated.plaintext));
        };
        match self.repo.create_api_key_idempotent(new, idem.clone()).await {
            Ok(key) => Ok((key, generated.plaintext)),
            Err(e) => {
                let key_id = self.lost_race(&idem, e).await?;
                let key = self.visible_key(p, &KeyRef::Id(key_id)).await?;
                Ok((key, String::new()))
            }
        }
    }

    /// List a user's keys.
    pub async fn list_api_keys(
        &self,
        p: &Principal,
        user_id: Option<UserId>,
        include_revoked: bool,
        organization_id: Option<&str>,
        page: PageRequest,
    ) -> Result<(Vec<ApiKey>, String)> {
        let owner = user_id.unwrap_or(p.user.id);
        p.require_self_or_admin(owner)?;
        let org = organization_id
            .map(|s| parse_uuid("organization_id", s))
            .transpose()?;
        let org = p.key_listing_org(org)?;
        let mut keys = self
            .repo
            .list_api_keys(owner, include_revoked, org, page)
            .await?;
        let next = pagination::next_token(&mut keys, page.limit, |k| k.id);
        Ok((keys, next))
    }

    /// One key's metadata.
    pub async fn get_api_key(&self, p: &Principal, key: &KeyRef) -> Result<ApiKey> {
        self.visible_key(p, key).await
    }

    /// Revoke a key. Returns it as revoked.
    #[tracing::instrument(skip_all)]
    pub async fn revoke_api_key(&self, p: &Principal, key: &KeyRef) -> Result<ApiKey> {
        p.require_write()?;
        let k = self.visible_key(p, key).await?;
        self.repo
            .revoke_api_key(k.id, self.clock.now())
            .await?
            .ok_or(Error::not_found(Entity::ApiKey))
    }
}
