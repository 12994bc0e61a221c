//! What a caller sees of the members of an organization, and whom AddMember may add.
//!
//! Every user is a member of the default organization, so "members may see each other" would
//! show every user's profile to every user. Only the organization's admins and owners (global
//! administrators count as owners) see other members' private fields (e-mail and its
//! verification, the global role, preferences, password and session state); everyone else sees
//! their public profile ([`User::public_profile`]) and filters by e-mail only their own address,
//! so a member list is no oracle of which addresses are registered.

use crate::{
    Denial, Error, Result,
    domain::{Membership, OrgRole, User, UserId},
    principal::Principal,
};

/// A member of an organization as the caller may see it.
#[derive(Debug, Clone)]
pub struct MemberView {
    /// The membership.
    pub membership: Membership,
    /// The user; its public profile when `private_withheld`.
    pub user: User,
    /// The user's private fields were withheld from the caller.
    pub private_withheld: bool,
}

/// Whether a caller with role `caller_role` in an organization sees its members' private fields.
fn sees_private_fields(caller_role: OrgRole) -> bool {
    caller_role >= OrgRole::Admin
}

/// The member `user` as seen by `p`, whose role in the organization is `caller_role`.
pub(super) fn view(
    p: &Principal,
    caller_role: OrgRole,
    membership: Membership,
    user: User,
) -> MemberView {
    if sees_private_fields(caller_role) || p.is_self(user.id) {
        MemberView {
            membership,
            user,
            private_withheld: false,
        }
    } else {
        MemberView {
            membership,
            user: user.public_profile(),
            private_withheld: true,
        }
    }
}

/// Every row as seen by `p`.
pub(super) fn view_all(
    p: &Principal,
    caller_role: OrgRole,
    rows: Vec<(Membership, User)>,
) -> Vec<MemberView> {
    rows.into_iter()
        .map(|(m, u)| view(p, caller_role, m, u))
        .collect()
}

/// The e-mail filter a caller may apply (lower-cased keys), or `None` when it can match nobody
/// the caller may see. Callers who do not see e-mails may only find their own address.
pub(super) fn email_filter(
    p: &Principal,
    caller_role: OrgRole,
    emails: &[String],
) -> Option<Vec<String>> {
    let keys: Vec<String> = emails.iter().map(|e| e.trim().to_lowercase()).collect();
    if keys.is_empty() || sees_private_fields(caller_role) {
        return Some(keys);
    }
    let own = p.user.email.as_deref().map(str::to_lowercase)?;
    keys.contains(&own).then(|| vec![own])
}

/// Adding someone else to an organization needs their consent or administrator rights: there is
/// no invitation to accept yet, so only global administrators add other users.
pub(super) fn check_may_add(p: &Principal, user: UserId) -> Result<()> {
    if p.is_admin() || p.is_self(user) {
        Ok(())
    } else {
        Err(Error::PermissionDenied(Denial::AdminOnly))
    }
}
