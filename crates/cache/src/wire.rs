//! What goes over Redis: grants (a key row with its owner and the owner's memberships, by
//! digest) and invalidation messages. Never a plaintext key, never a password hash: a grant's
//! user row has no hash field at all.

use chrono::{DateTime, Utc};
use identity_core::domain::{
    ApiKey, GlobalRole, KeyGrant, KeyRole, Membership, OrgRole, Organization, Preferences, User,
    UserId,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The columns needed to rebuild an [`ApiKey`]; the digest is the Redis key's name.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct KeyRow {
    id: i64,
    uid: Uuid,
    user_id: UserId,
    name: String,
    #[serde(default)]
    description: String,
    prefix: String,
    role: String,
    #[serde(default)]
    scopes: Vec<String>,
    organization_id: Option<Uuid>,
    #[serde(default)]
    dataset_ids: Vec<Uuid>,
    #[serde(default)]
    organization_ids: Vec<Uuid>,
    expires_at: Option<DateTime<Utc>>,
    last_used_at: Option<DateTime<Utc>>,
    revoked_at: Option<DateTime<Utc>>,
    primary: bool,
    #[serde(default)]
    minted_by_session: bool,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl KeyRow {
    pub(crate) fn from_key(k: &ApiKey) -> Self {
        Self {
            id: k.id,
            uid: k.uid,
            user_id: k.user_id,
            name: k.name.clone(),
            description: k.description.clone(),
            prefix: k.prefix.clone(),
            role: k.role.as_str().to_owned(),
            scopes: k.scopes.clone(),
            organization_id: k.organization_id,
            dataset_ids: k.dataset_ids.clone(),
            organization_ids: k.organization_ids.clone(),
            expires_at: k.expires_at,
            last_used_at: k.last_used_at,
            revoked_at: k.revoked_at,
            primary: k.primary,
            minted_by_session: k.minted_by_session,
            created_at: k.created_at,
            updated_at: k.updated_at,
        }
    }

    /// The key, or `None` when the row names an unknown role (then the database decides).
    pub(crate) fn into_key(self, digest: [u8; 32]) -> Option<ApiKey> {
        Some(ApiKey {
            id: self.id,
            uid: self.uid,
            user_id: self.user_id,
            name: self.name,
            description: self.description,
            prefix: self.prefix,
            digest,
            role: KeyRole::parse(&self.role)?,
            scopes: self.scopes,
            organization_id: self.organization_id,
            dataset_ids: self.dataset_ids,
            organization_ids: self.organization_ids,
            expires_at: self.expires_at,
            last_used_at: self.last_used_at,
            revoked_at: self.revoked_at,
            primary: self.primary,
            minted_by_session: self.minted_by_session,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

/// A user without its password hash.
#[derive(Debug, Serialize, Deserialize)]
struct UserRow {
    id: UserId,
    uid: Uuid,
    username: String,
    email: Option<String>,
    display_name: String,
    global_role: String,
    email_verified: bool,
    token_issued_at: DateTime<Utc>,
    #[serde(default)]
    preferences: Preferences,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

/// A membership with its organization.
#[derive(Debug, Serialize, Deserialize)]
struct MembershipRow {
    organization_id: Uuid,
    role: String,
    added_at: DateTime<Utc>,
    organization_name: String,
    organization_is_default: bool,
    organization_created_at: DateTime<Utc>,
    organization_updated_at: DateTime<Utc>,
}

/// A [`KeyGrant`] as stored in Redis; the digest is the Redis key's name.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct GrantRow {
    key: KeyRow,
    user: UserRow,
    memberships: Vec<MembershipRow>,
}

impl GrantRow {
    pub(crate) fn from_grant(g: &KeyGrant) -> Self {
        let u = &g.user;
        Self {
            key: KeyRow::from_key(&g.key),
            user: UserRow {
                id: u.id,
                uid: u.uid,
                username: u.username.clone(),
                email: u.email.clone(),
                display_name: u.display_name.clone(),
                global_role: u.global_role.as_str().to_owned(),
                email_verified: u.email_verified,
                token_issued_at: u.token_issued_at,
                preferences: u.preferences.clone(),
                created_at: u.created_at,
                updated_at: u.updated_at,
            },
            memberships: g
                .memberships
                .iter()
                .map(|(m, o)| MembershipRow {
                    organization_id: m.organization_id,
                    role: m.role.as_str().to_owned(),
                    added_at: m.added_at,
                    organization_name: o.name.clone(),
                    organization_is_default: o.is_default,
                    organization_created_at: o.created_at,
                    organization_updated_at: o.updated_at,
                })
                .collect(),
        }
    }

    /// The grant, or `None` when the row names an unknown role (then the database decides).
    pub(crate) fn into_grant(self, digest: [u8; 32]) -> Option<KeyGrant> {
        let key = self.key.into_key(digest)?;
        let u = self.user;
        let user = User {
            id: u.id,
            uid: u.uid,
            username: u.username,
            email: u.email,
            display_name: u.display_name,
            global_role: GlobalRole::parse(&u.global_role)?,
            email_verified: u.email_verified,
            password_hash: None,
            token_issued_at: u.token_issued_at,
            preferences: u.preferences,
            created_at: u.created_at,
            updated_at: u.updated_at,
        };
        let mut memberships = Vec::with_capacity(self.memberships.len());
        for m in self.memberships {
            memberships.push((
                Membership {
                    organization_id: m.organization_id,
                    user_id: user.id,
                    role: OrgRole::parse(&m.role)?,
                    added_at: m.added_at,
                },
                Organization {
                    id: m.organization_id,
                    name: m.organization_name,
                    is_default: m.organization_is_default,
                    created_at: m.organization_created_at,
                    updated_at: m.organization_updated_at,
                },
            ));
        }
        Some(KeyGrant {
            key,
            user,
            memberships,
        })
    }
}

/// An invalidation, applied locally and published to every replica.
#[derive(Debug, Default, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct Invalidation {
    /// Key digests (hex) whose rows changed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) digests: Vec<String>,
    /// Users whose row or memberships changed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) users: Vec<UserId>,
    /// Users all of whose cached keys are to be dropped.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) user_keys: Vec<UserId>,
}

impl Invalidation {
    pub(crate) fn digests(digests: impl IntoIterator<Item = [u8; 32]>) -> Self {
        Self {
            digests: digests.into_iter().map(|d| hex(&d)).collect(),
            ..Self::default()
        }
    }

    pub(crate) fn user(id: UserId) -> Self {
        Self {
            users: vec![id],
            ..Self::default()
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.digests.is_empty() && self.users.is_empty() && self.user_keys.is_empty()
    }
}

/// Lower-case hex of a digest.
pub(crate) fn hex(bytes: &[u8; 32]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(64);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    s
}

/// The digest of a 64-character hex string.
pub(crate) fn unhex(s: &str) -> Option<[u8; 32]> {
    let raw = s.as_bytes();
    if raw.len() != 64 {
        return None;
    }
    let nibble = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    };
    let mut out = [0u8; 32];
    for (i, pair) in raw.chunks_exact(2).enumerate() {
        out[i] = (nibble(pair[0])? << 4) | nibble(pair[1])?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips() {
        let mut d = [0u8; 32];
        for (i, b) in d.iter_mut().enumerate() {
            *b = u8::try_from(i * 7 % 256).unwrap_or(0);
        }
        assert_eq!(unhex(&hex(&d)), Some(d));
        assert_eq!(unhex("zz"), None);
        assert_eq!(unhex(&"g".repeat(64)), None);
    }

    #[test]
    fn invalidation_messages_round_trip() -> Result<(), serde_json::Error> {
        let inv = Invalidation {
            digests: vec![hex(&[1; 32])],
            users: vec![4],
            user_keys: vec![],
        };
        let text = serde_json::to_string(&inv)?;
        assert!(!text.contains("user_keys"));
        assert_eq!(serde_json::from_str::<Invalidation>(&text)?, inv);
        Ok(())
    }
}
