//! Password changes.

use super::Identity;
use crate::{
    Denial, Error, Result,
    domain::{Password, User, UserId, UserPatch},
    principal::Principal,
};

impl Identity {
    /// Change a password. Non-administrators must give the current one; when given it is checked
    /// first (like Portainer), and only then is the new one judged against the policy. Returns
    /// the user with its new `token_issued_at`.
    #[tracing::instrument(skip_all, fields(user_id))]
    pub async fn change_password(
        &self,
        p: &Principal,
        user_id: UserId,
        current: Option<&str>,
        new: &str,
    ) -> Result<User> {
        p.require_self_or_admin(user_id)?;
        p.require_write()?;
        let current = match current {
            Some(c) => Some(
                Password::parse_presented(c).map_err(|e| Error::invalid("current_password", e))?,
            ),
            None if !p.is_admin() => return Err(Error::invalid("current_password", "is required")),
            None => None,
        };
        let target = self.existing_user(user_id).await?;
        if let Some(cur) = current
            && !self
                .hasher
                .verify(&cur, target.password_hash.as_deref())
                .await?
        {
            return Err(Error::PermissionDenied(Denial::WrongPassword));
        }
        let new = Password::parse_new(new, self.settings.password_policy)
            .map_err(|e| Error::invalid("new_password", e))?;
        let hash = self.hasher.hash(&new).await?;
        let now = self.clock.now();
        // A new password ends every session, and every key a bare session minted: a stolen
        // session leaves nothing behind once the victim changes the password.
        let patch = UserPatch {
            password_hash: Some(hash),
            token_issued_at: Some(now),
            revoke_session_minted_keys: true,
            ..UserPatch::default()
        };
        self.repo.update_user(user_id, patch, now).await
    }
}
