//! The rules of UpdateUser beyond "self or administrator": which attributes only administrators
//! change, and what an e-mail change does to its verification.

use crate::{
    Denial, Error, Result,
    domain::{Preferences, User, UserPatch},
    principal::Principal,
};

/// Mask paths only an administrator may set: the login name, the global role, the verification
/// flag, and the e-mail address. A user changing its own address would learn from the answer
/// (taken or not) whether someone else registered it; and Tyk's key login trusts the
/// verification, which only an administrator may vouch for.
pub(super) fn admin_only_path(path: &str) -> bool {
    matches!(
        path,
        "username" | "global_role" | "email_verified" | "email"
    )
}

/// Refuse the change unless the caller is an administrator or the new preferences grant exactly
/// the access the current ones grant (see [`Preferences::same_privileges`]).
pub(super) fn check_preferences(
    p: &Principal,
    current: &Preferences,
    new: Option<&Preferences>,
) -> Result<()> {
    match new {
        Some(new) if !p.is_admin() && !new.same_privileges(current) => {
            Err(Error::PermissionDenied(Denial::AdminOnly))
        }
        Some(_) | None => Ok(()),
    }
}

/// A change of e-mail address clears its verification, unless the same update sets the flag
/// explicitly (only administrators may). A change of case only is no change.
pub(super) fn settle_verification(target: &User, patch: &mut UserPatch) {
    let Some(new) = &patch.email else {
        return;
    };
    if patch.email_verified.is_some() {
        return;
    }
    let old_key = target.email.as_deref().map(str::to_lowercase);
    if new.as_ref().map(|e| e.key()) != old_key {
        patch.email_verified = Some(false);
    }
}
