//! Trieve's JSON shapes (dialects.md §2.4, checked against the pydantic models of
//! trieve-py-client 0.11.9 and 0.12.12), the role tables, UUID handling and Trieve's naive
//! timestamps, and the projections of `identity.v1` messages onto them.

use std::fmt::Write as _;

use identity_api::pb;
use prost_types::Timestamp;
use serde::Serialize;

/// The nil UUID: Trieve's `organization_id` of a key that is not bound to an organization.
pub(crate) const NIL_UUID: &str = "00000000-0000-0000-0000-000000000000";

// === UUIDs ===

/// Parse a UUID as Trieve's `uuid` crate accepts it from clients: hyphenated (`8-4-4-4-12`) or
/// simple (32 hex digits), any case, optionally wrapped in braces or prefixed by `urn:uuid:`.
pub(crate) fn parse_uuid(s: &str) -> Option<[u8; 16]> {
    let s = s.trim();
    let s = s
        .strip_prefix("urn:uuid:")
        .or_else(|| s.strip_prefix('{').and_then(|r| r.strip_suffix('}')))
        .unwrap_or(s);
    let hex: String = match s.len() {
        32 => s.to_owned(),
        36 => {
            let dashes = [8, 13, 18, 23];
            for (i, c) in s.char_indices() {
                if (c == '-') != dashes.contains(&i) {
                    return None;
                }
            }
            s.chars().filter(|c| *c != '-').collect()
        }
        _ => return None,
    };
    let mut out = [0u8; 16];
    for (i, slot) in out.iter_mut().enumerate() {
        let pair = hex.get(2 * i..2 * i + 2)?;
        if !pair.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        *slot = u8::from_str_radix(pair, 16).ok()?;
    }
    Some(out)
}

/// Lower-case hyphenated form, as the identity server writes UUIDs.
pub(crate) fn format_uuid(b: &[u8; 16]) -> String {
    let mut s = String::with_capacity(36);
    for (i, byte) in b.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            s.push('-');
        }
        let _ = write!(s, "{byte:02x}");
    }
    s
}

/// A UUID in canonical (lower-case hyphenated) form, or `None` when `s` is not a UUID.
pub(crate) fn canonical_uuid(s: &str) -> Option<String> {
    parse_uuid(s).map(|b| format_uuid(&b))
}

/// Trieve's `UserOrganization.id` (a row id this service does not have): a stable UUID derived
/// from the user and the organization, the XOR of both UUIDs with the version set to 8 (custom)
/// and the RFC 4122 variant. The same membership always has the same id.
pub(crate) fn membership_id(user_uid: &str, organization_id: &str) -> String {
    let user = parse_uuid(user_uid).unwrap_or_default();
    let org = parse_uuid(organization_id).unwrap_or_default();
    let mut b = [0u8; 16];
    for (i, slot) in b.iter_mut().enumerate() {
        *slot = user[i] ^ org[i];
    }
    b[6] = (b[6] & 0x0f) | 0x80;
    b[8] = (b[8] & 0x3f) | 0x80;
    format_uuid(&b)
}

// === Timestamps ===

/// Trieve's naive (no offset) ISO-8601 timestamp in UTC with microseconds, as chrono's
/// `NaiveDateTime` is written: `2024-09-23T17:31:18.123456`. The epoch when absent.
pub(crate) fn naive_time(ts: Option<&Timestamp>) -> String {
    let mut t = ts.copied().unwrap_or_default();
    t.normalize();
    let micros = t.nanos / 1_000;
    let whole = Timestamp {
        seconds: t.seconds,
        nanos: 0,
    }
    .to_string();
    let whole = whole.strip_suffix('Z').unwrap_or(&whole);
    format!("{whole}.{micros:06}")
}

/// Parse a client's `expires_at`: RFC 3339, or a naive date-time / date taken as UTC (Trieve's
/// doc: "This should be provided in UTC time").
pub(crate) fn parse_time(s: &str) -> Option<Timestamp> {
    s.trim().parse::<Timestamp>().ok()
}

// === Roles ===

/// Trieve's organization role number of a membership: 0 user, 1 admin, 2 owner.
pub(crate) fn trieve_org_role(role: i32) -> i32 {
    match pb::OrganizationRole::try_from(role) {
        Ok(pb::OrganizationRole::Owner) => 2,
        Ok(pb::OrganizationRole::Admin) => 1,
        Ok(pb::OrganizationRole::Member | pb::OrganizationRole::Unspecified) | Err(_) => 0,
    }
}

/// The organization role of Trieve's number; `None` outside 0..=2.
pub(crate) fn org_role_of(n: i64) -> Option<pb::OrganizationRole> {
    match n {
        0 => Some(pb::OrganizationRole::Member),
        1 => Some(pb::OrganizationRole::Admin),
        2 => Some(pb::OrganizationRole::Owner),
        _ => None,
    }
}

/// The key role of Trieve's number, on both key-creation routes: 0 read, 1 admin (generation A's
/// "read and write"), 2 owner; `None` outside 0..=2.
pub(crate) fn key_role_of(n: i64) -> Option<pb::ApiKeyRole> {
    match n {
        0 => Some(pb::ApiKeyRole::Read),
        1 => Some(pb::ApiKeyRole::Admin),
        2 => Some(pb::ApiKeyRole::Owner),
        _ => None,
    }
}

/// The highest organization role a key of `role` may use (its cap).
pub(crate) fn key_cap(role: pb::ApiKeyRole) -> pb::OrganizationRole {
    match role {
        pb::ApiKeyRole::Read | pb::ApiKeyRole::Write | pb::ApiKeyRole::Unspecified => {
            pb::OrganizationRole::Member
        }
        pb::ApiKeyRole::Admin => pb::OrganizationRole::Admin,
        pb::ApiKeyRole::Owner | pb::ApiKeyRole::Inherit => pb::OrganizationRole::Owner,
    }
}

/// Trieve's number of a stored key's role: read 0; write and admin 1; owner and inherit 2.
pub(crate) fn trieve_key_role(role: i32) -> i32 {
    match pb::ApiKeyRole::try_from(role) {
        Ok(pb::ApiKeyRole::Read | pb::ApiKeyRole::Unspecified) | Err(_) => 0,
        Ok(pb::ApiKeyRole::Write | pb::ApiKeyRole::Admin) => 1,
        Ok(pb::ApiKeyRole::Owner | pb::ApiKeyRole::Inherit) => 2,
    }
}

/// Rank of an organization role (UNSPECIFIED lowest), for comparisons.
pub(crate) fn rank(role: pb::OrganizationRole) -> u8 {
    match role {
        pb::OrganizationRole::Unspecified => 0,
        pb::OrganizationRole::Member => 1,
        pb::OrganizationRole::Admin => 2,
        pb::OrganizationRole::Owner => 3,
    }
}

// === Shapes ===

/// `Organization`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub(crate) struct Organization {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) created_at: String,
    pub(crate) updated_at: String,
    /// Whether users may sign up into it (Trieve's flag); always `true`: this service has no
    /// sign-up restriction per organization.
    pub(crate) registerable: bool,
    /// Trieve's soft-delete flag: 0 for every organization this service shows.
    pub(crate) deleted: i32,
}

impl From<&pb::Organization> for Organization {
    fn from(o: &pb::Organization) -> Self {
        let pb::Organization {
            id,
            handle: _,
            name,
            is_default: _,
            created_at,
            updated_at,
        } = o;
        Self {
            id: id.clone(),
            name: name.clone(),
            created_at: naive_time(created_at.as_ref()),
            updated_at: naive_time(updated_at.as_ref()),
            registerable: true,
            deleted: 0,
        }
    }
}

/// `UserOrganization`: one membership.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub(crate) struct UserOrganization {
    pub(crate) id: String,
    pub(crate) user_id: String,
    pub(crate) organization_id: String,
    pub(crate) role: i32,
    pub(crate) created_at: String,
    pub(crate) updated_at: String,
}

impl UserOrganization {
    /// The membership of `user_uid` in `organization_id` with `role` (a pb role), joined at
    /// `added_at` (memberships have no modification time: `updated_at` repeats it).
    pub(crate) fn new(
        user_uid: &str,
        organization_id: &str,
        role: i32,
        added_at: Option<&Timestamp>,
    ) -> Self {
        let at = naive_time(added_at);
        Self {
            id: membership_id(user_uid, organization_id),
            user_id: user_uid.to_owned(),
            organization_id: organization_id.to_owned(),
            role: trieve_org_role(role),
            created_at: at.clone(),
            updated_at: at,
        }
    }
}

/// `SlimUser`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub(crate) struct SlimUser {
    pub(crate) id: String,
    pub(crate) email: String,
    pub(crate) name: String,
    pub(crate) created_at: String,
    pub(crate) orgs: Vec<Organization>,
    pub(crate) user_orgs: Vec<UserOrganization>,
}

impl SlimUser {
    /// The user with the given organizations and memberships.
    pub(crate) fn new(
        u: &pb::User,
        orgs: Vec<Organization>,
        user_orgs: Vec<UserOrganization>,
    ) -> Self {
        let name = if u.display_name.trim().is_empty() {
            u.username.clone()
        } else {
            u.display_name.clone()
        };
        Self {
            id: u.uid.clone(),
            email: u.email.clone().unwrap_or_default(),
            name,
            created_at: naive_time(u.created_at.as_ref()),
            orgs,
            user_orgs,
        }
    }
}

/// `ApiKeyRespBody`: the superset both client generations parse (dialects.md §2.9).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub(crate) struct ApiKeyRespBody {
    pub(crate) id: String,
    pub(crate) user_id: String,
    pub(crate) organization_id: String,
    pub(crate) name: String,
    pub(crate) role: i32,
    #[schema(required = true)]
    pub(crate) dataset_ids: Option<Vec<String>>,
    #[schema(required = true)]
    pub(crate) organization_ids: Option<Vec<String>>,
    pub(crate) created_at: String,
    pub(crate) updated_at: String,
}

fn optional_list(v: &[String]) -> Option<Vec<String>> {
    (!v.is_empty()).then(|| v.to_vec())
}

impl ApiKeyRespBody {
    /// A key of the user `owner_uid` (used when the server did not fill `user_uid`).
    pub(crate) fn new(k: &pb::ApiKey, owner_uid: &str) -> Self {
        let pb::ApiKey {
            id: _,
            uid,
            user_id: _,
            user_uid,
            name,
            description: _,
            prefix: _,
            role,
            scopes: _,
            organization_id,
            dataset_ids,
            organization_ids,
            expires_at: _,
            last_used_at: _,
            revoked_at: _,
            primary: _,
            created_at,
            updated_at,
        } = k;
        Self {
            id: uid.clone(),
            user_id: if user_uid.is_empty() {
                owner_uid.to_owned()
            } else {
                user_uid.clone()
            },
            organization_id: organization_id
                .clone()
                .unwrap_or_else(|| NIL_UUID.to_owned()),
            name: name.clone(),
            role: trieve_key_role(*role),
            dataset_ids: optional_list(dataset_ids),
            organization_ids: optional_list(organization_ids),
            created_at: naive_time(created_at.as_ref()),
            updated_at: naive_time(updated_at.as_ref()),
        }
    }
}

/// `SetUserApiKeyResponse` (generation A) and `CreateApiKeyResponse` (B and C): the plaintext key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub(crate) struct ApiKeyCreated {
    pub(crate) api_key: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_in_every_accepted_form() {
        let canon = "67e55044-10b1-426f-9247-bb680e5fe0c8";
        for s in [
            canon,
            "67E55044-10B1-426F-9247-BB680E5FE0C8",
            "67e5504410b1426f9247bb680e5fe0c8",
            "{67e55044-10b1-426f-9247-bb680e5fe0c8}",
            "urn:uuid:67e55044-10b1-426f-9247-bb680e5fe0c8",
        ] {
            assert_eq!(canonical_uuid(s).as_deref(), Some(canon), "{s}");
        }
        for s in [
            "",
            "abc",
            "67e55044-10b1-426f-9247-bb680e5fe0c",
            "67e55044-10b1-426f-9247-bb680e5fe0cg",
            "67e5504410b1-426f-9247-bb680e5fe0c8-",
            "67e55044+10b1-426f-9247-bb680e5fe0c8",
            "ééééééééééééééééé",
        ] {
            assert_eq!(canonical_uuid(s), None, "{s}");
        }
    }

    #[test]
    fn membership_ids_are_stable_uuids() {
        let u = "67e55044-10b1-426f-9247-bb680e5fe0c8";
        let o = "a1a2a3a4-b1b2-41c2-81d2-d3d4d5d6d7d8";
        let id = membership_id(u, o);
        assert_eq!(id, membership_id(u, o));
        assert_ne!(id, membership_id(o, NIL_UUID));
        assert_eq!(canonical_uuid(&id).as_deref(), Some(id.as_str()));
        assert_eq!(&id[14..15], "8");
    }

    #[test]
    fn timestamps_are_naive_with_microseconds() {
        let t = Timestamp {
            seconds: 1_727_112_678,
            nanos: 123_456_789,
        };
        assert_eq!(naive_time(Some(&t)), "2024-09-23T17:31:18.123456");
        let t = Timestamp {
            seconds: 1_727_112_678,
            nanos: 0,
        };
        assert_eq!(naive_time(Some(&t)), "2024-09-23T17:31:18.000000");
        assert_eq!(naive_time(None), "1970-01-01T00:00:00.000000");
        assert_eq!(
            parse_time("2024-09-23T17:31:18.123456").map(|t| t.seconds),
            Some(1_727_112_678)
        );
        assert_eq!(
            parse_time("2024-09-23T19:31:18+02:00").map(|t| t.seconds),
            Some(1_727_112_678)
        );
        assert_eq!(parse_time("tomorrow"), None);
    }

    #[test]
    fn role_tables() {
        for (n, r) in [
            (0, pb::OrganizationRole::Member),
            (1, pb::OrganizationRole::Admin),
            (2, pb::OrganizationRole::Owner),
        ] {
            assert_eq!(org_role_of(n), Some(r));
            assert_eq!(i64::from(trieve_org_role(r as i32)), n);
        }
        assert_eq!(org_role_of(3), None);
        assert_eq!(org_role_of(-1), None);
        for (n, r) in [
            (0, pb::ApiKeyRole::Read),
            (1, pb::ApiKeyRole::Admin),
            (2, pb::ApiKeyRole::Owner),
        ] {
            assert_eq!(key_role_of(n), Some(r));
            assert_eq!(i64::from(trieve_key_role(r as i32)), n);
        }
        assert_eq!(key_role_of(3), None);
        assert_eq!(trieve_key_role(pb::ApiKeyRole::Write as i32), 1);
        assert_eq!(trieve_key_role(pb::ApiKeyRole::Inherit as i32), 2);
        assert_eq!(key_cap(pb::ApiKeyRole::Read), pb::OrganizationRole::Member);
        assert_eq!(key_cap(pb::ApiKeyRole::Admin), pb::OrganizationRole::Admin);
        assert!(rank(pb::OrganizationRole::Owner) > rank(pb::OrganizationRole::Admin));
    }
}
