//! RollApiKey: revoke a key (or a user's primary key) and create its replacement.

use uuid::Uuid;

use super::{Identity, RollTarget};
use crate::{
    Denial, Error, Result,
    domain::{ApiKey, KeyRole, NewApiKey},
    key_limits::KeyLimits,
    keys,
    principal::Principal,
};

impl Identity {
    /// Revoke a key (or a user's primary key) and create its replacement in one transaction.
    /// Returns the new key, its plaintext and the id of the revoked key.
    ///
    /// A roll mints a key, so the rules of CreateApiKey apply: a session needs a recent login
    /// (a roll carries no password), the replacement may be no wider than the calling key (it
    /// keeps the old key's restrictions, nothing is inherited), and nobody but the bootstrap
    /// administrator rolls its keys.
    #[tracing::instrument(skip_all)]
    pub async fn roll_api_key(
        &self,
        p: &Principal,
        target: &RollTarget,
    ) -> Result<(ApiKey, String, Option<i64>)> {
        p.require_write()?;
        let now = self.clock.now();
        p.require_recent_login(false, now, super::chrono_dur(self.settings.recent_login))?;
        let old = match target {
            RollTarget::Key(r) => {
                let k = self.visible_key(p, r).await?;
                if !k.is_active(now) {
                    return Err(Error::not_found(crate::Entity::ApiKey));
                }
                Some(k)
            }
            RollTarget::PrimaryOf(user_id) => {
                p.require_self_or_admin(*user_id)?;
                self.existing_user(*user_id).await?;
                self.repo
                    .primary_api_key(*user_id)
                    .await?
                    .filter(|k| k.is_active(now))
            }
        };
        let owner = match (&old, target) {
            (Some(k), _) => k.user_id,
            (None, RollTarget::PrimaryOf(user_id)) => *user_id,
            (None, RollTarget::Key(_)) => return Err(Error::not_found(crate::Entity::ApiKey)),
        };
        p.require_bootstrap_self(owner)?;
        let role = old.as_ref().map_or(KeyRole::Inherit, |k| k.role);
        if !p.may_mint(role) {
            return Err(Error::PermissionDenied(Denial::RoleTooLow));
        }
        let mut limits = old.as_ref().map(KeyLimits::of).unwrap_or_default();
        p.narrow_key_limits(&mut limits, false)?;
        let generated = keys::generate();
        let new = NewApiKey {
            uid: Uuid::new_v4(),
            user_id: owner,
            name: old
                .as_ref()
                .map_or_else(|| "primary".to_owned(), |k| k.name.clone()),
            description: old
                .as_ref()
                .map(|k| k.description.clone())
                .unwrap_or_default(),
            prefix: generated.prefix,
            digest: generated.digest,
            role,
            scopes: limits.scopes,
            organization_id: limits.organization_id,
            dataset_ids: limits.dataset_ids,
            organization_ids: limits.organization_ids,
            expires_at: limits.expires_at,
            primary: old.as_ref().is_none_or(|k| k.primary),
            // A replacement of a key minted by a bare session is revoked like the original.
            minted_by_session: p.mints_session_keys(false)
                || old.as_ref().is_some_and(|k| k.minted_by_session),
            now,
        };
        let old_id = old.map(|k| k.id);
        let key = self.repo.roll_api_key(old_id, new).await?;
        Ok((key, generated.plaintext, old_id))
    }
}
