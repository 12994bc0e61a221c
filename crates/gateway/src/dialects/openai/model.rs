//! JSON shapes of the OpenAI dialect, projected from `identity.v1` messages.

use identity_api::pb;
use serde::Serialize;

/// `organization.user`.
#[derive(Debug, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub(crate) struct OrgUser {
    #[schema(value_type = String)]
    pub(crate) object: &'static str,
    pub(crate) id: String,
    pub(crate) name: String,
    #[schema(required = true)]
    pub(crate) email: Option<String>,
    #[schema(value_type = Option<String>, required = true)]
    pub(crate) role: Option<&'static str>,
    pub(crate) added_at: i64,
}

/// A list page.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct List<T> {
    #[schema(value_type = String)]
    pub(crate) object: &'static str,
    pub(crate) data: Vec<T>,
    #[schema(required = true)]
    pub(crate) first_id: Option<String>,
    #[schema(required = true)]
    pub(crate) last_id: Option<String>,
    pub(crate) has_more: bool,
}

/// `{"object": "<…>.deleted", "id", "deleted": true}`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct Deleted {
    #[schema(value_type = String)]
    pub(crate) object: &'static str,
    pub(crate) id: String,
    pub(crate) deleted: bool,
}

/// The `owner` of an admin key.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct KeyOwner {
    #[serde(rename = "type")]
    #[schema(value_type = String)]
    pub(crate) kind: &'static str,
    #[schema(value_type = String)]
    pub(crate) object: &'static str,
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) created_at: i64,
    #[schema(value_type = Option<String>, required = true)]
    pub(crate) role: Option<&'static str>,
}

/// `organization.admin_api_key`, plus `value` on creation only.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct AdminKey {
    #[schema(value_type = String)]
    pub(crate) object: &'static str,
    pub(crate) id: String,
    #[schema(required = true)]
    pub(crate) name: Option<String>,
    pub(crate) redacted_value: String,
    pub(crate) created_at: i64,
    #[schema(required = true)]
    pub(crate) expires_at: Option<i64>,
    #[schema(required = true)]
    pub(crate) last_used_at: Option<i64>,
    pub(crate) owner: KeyOwner,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) value: Option<String>,
}

impl<T> List<T> {
    /// A page with `first_id`/`last_id` taken from the items.
    pub(crate) fn new(data: Vec<T>, has_more: bool, id: impl Fn(&T) -> String) -> Self {
        Self {
            object: "list",
            first_id: data.first().map(&id),
            last_id: data.last().map(&id),
            has_more,
            data,
        }
    }
}

/// OpenAI's name for an organization role (admin shows as owner; lossy).
pub(crate) fn role_name(r: pb::OrganizationRole) -> Option<&'static str> {
    match r {
        pb::OrganizationRole::Owner | pb::OrganizationRole::Admin => Some("owner"),
        pb::OrganizationRole::Member => Some("reader"),
        pb::OrganizationRole::Unspecified => None,
    }
}

/// The organization role an OpenAI role name writes; `None` for unknown names.
pub(crate) fn parse_role(s: &str) -> Option<pb::OrganizationRole> {
    match s {
        "owner" => Some(pb::OrganizationRole::Owner),
        "reader" => Some(pb::OrganizationRole::Member),
        _ => None,
    }
}

/// Display name, else username.
pub(crate) fn name_of(u: &pb::User) -> String {
    if u.display_name.trim().is_empty() {
        u.username.clone()
    } else {
        u.display_name.clone()
    }
}

fn secs(t: Option<&prost_types::Timestamp>) -> Option<i64> {
    t.map(|t| t.seconds)
}

/// A member as `organization.user`.
pub(crate) fn org_user(m: &pb::Member) -> OrgUser {
    let u = m.user.clone().unwrap_or_default();
    OrgUser {
        object: "organization.user",
        name: name_of(&u),
        email: u.email.clone().filter(|e| !e.is_empty()),
        role: role_name(m.role()),
        added_at: secs(m.added_at.as_ref()).unwrap_or_default(),
        id: u.handle,
    }
}

/// The dialect id of a key: `key_` + its UUID's hex digits.
pub(crate) fn key_id(k: &pb::ApiKey) -> String {
    format!("key_{}", k.uid.replace('-', "").to_ascii_lowercase())
}

/// The key UUID (hyphenated) from a dialect id, or `None` when malformed.
pub(crate) fn key_uid(id: &str) -> Option<String> {
    let h = super::hex_id(id, "key_")?.to_ascii_lowercase();
    Some(format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    ))
}

/// An admin key owned by `owner` (whose role in the organization is `role`).
pub(crate) fn admin_key(
    k: &pb::ApiKey,
    owner: &pb::User,
    role: pb::OrganizationRole,
    value: Option<String>,
) -> AdminKey {
    AdminKey {
        object: "organization.admin_api_key",
        id: key_id(k),
        name: Some(k.name.clone()).filter(|n| !n.is_empty()),
        redacted_value: format!("{}...", k.prefix),
        created_at: secs(k.created_at.as_ref()).unwrap_or_default(),
        expires_at: secs(k.expires_at.as_ref()),
        last_used_at: secs(k.last_used_at.as_ref()),
        owner: KeyOwner {
            kind: "user",
            object: "organization.user",
            id: owner.handle.clone(),
            name: name_of(owner),
            created_at: secs(owner.created_at.as_ref()).unwrap_or_default(),
            role: role_name(role),
        },
        value,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_projected_lossily() {
        assert_eq!(role_name(pb::OrganizationRole::Owner), Some("owner"));
        assert_eq!(role_name(pb::OrganizationRole::Admin), Some("owner"));
        assert_eq!(role_name(pb::OrganizationRole::Member), Some("reader"));
        assert_eq!(parse_role("owner"), Some(pb::OrganizationRole::Owner));
        assert_eq!(parse_role("reader"), Some(pb::OrganizationRole::Member));
        assert_eq!(parse_role("member"), None);
        assert_eq!(parse_role("Owner"), None);
    }

    #[test]
    fn key_ids_round_trip() {
        let k = pb::ApiKey {
            uid: "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b".into(),
            ..Default::default()
        };
        let id = key_id(&k);
        assert_eq!(id, "key_0190a1b2c3d47e5f8a9b0c1d2e3f4a5b");
        assert_eq!(key_uid(&id).as_deref(), Some(k.uid.as_str()));
        assert_eq!(key_uid("key_xyz"), None);
        assert_eq!(key_uid("0190a1b2c3d47e5f8a9b0c1d2e3f4a5b"), None);
    }

    #[test]
    fn names_fall_back_to_the_username() {
        let mut u = pb::User {
            username: "kim".into(),
            ..Default::default()
        };
        assert_eq!(name_of(&u), "kim");
        u.display_name = "Kim K".into();
        assert_eq!(name_of(&u), "Kim K");
    }
}
