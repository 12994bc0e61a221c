//! Rows ↔ domain types. Stored values that do not parse (an unknown role, a digest of the
//! wrong length) are reported as `Error::Internal`, never a panic.

use chrono::{DateTime, SubsecRound, Utc};
use identity_core::{
    Error, Result,
    domain::{
        ApiKey, GlobalRole, KeyRole, Membership, OrgRole, Organization, Preferences, Team,
        TeamMembership, TeamRole, User,
    },
};
use serde_json::Value as Json;
use uuid::Uuid;

use crate::entity::{api_keys, memberships, organizations, team_memberships, teams, users};

/// Both backends keep microseconds (Postgres truncates, SQLite would keep nanoseconds as
/// text); truncating before every write makes them behave the same.
pub(crate) fn micros(t: DateTime<Utc>) -> DateTime<Utc> {
    t.trunc_subsecs(6)
}

pub(crate) fn to_json<T: serde::Serialize>(value: &T, what: &str) -> Result<Json> {
    serde_json::to_value(value).map_err(|e| Error::Internal(format!("cannot encode {what}: {e}")))
}

fn from_json<T: serde::de::DeserializeOwned>(value: Json, what: &str) -> Result<T> {
    serde_json::from_value(value)
        .map_err(|e| Error::Internal(format!("stored {what} is malformed: {e}")))
}

/// Stored preferences laid over the defaults, so that rows written before a preference was
/// added still load.
fn preferences(stored: Json) -> Result<Preferences> {
    let mut merged = to_json(&Preferences::default(), "preferences")?;
    if let (Json::Object(base), Json::Object(stored)) = (&mut merged, stored) {
        base.extend(stored);
    }
    from_json(merged, "preferences")
}

fn bad(what: &str, value: &str) -> Error {
    Error::Internal(format!("stored {what} {value:?} is unknown"))
}

pub(crate) fn user(m: users::Model) -> Result<User> {
    Ok(User {
        id: m.id,
        uid: m.uid,
        global_role: GlobalRole::parse(&m.global_role)
            .ok_or_else(|| bad("global role", &m.global_role))?,
        username: m.username,
        email: m.email,
        display_name: m.display_name,
        email_verified: m.email_verified,
        password_hash: m.password_hash,
        token_issued_at: m.token_issued_at,
        preferences: preferences(m.preferences)?,
        created_at: m.created_at,
        updated_at: m.updated_at,
    })
}

pub(crate) fn organization(m: organizations::Model) -> Organization {
    Organization {
        id: m.id,
        name: m.name,
        is_default: m.is_default,
        created_at: m.created_at,
        updated_at: m.updated_at,
    }
}

pub(crate) fn membership(m: memberships::Model) -> Result<Membership> {
    Ok(Membership {
        organization_id: m.organization_id,
        user_id: m.user_id,
        role: OrgRole::parse(&m.role).ok_or_else(|| bad("organization role", &m.role))?,
        added_at: m.added_at,
    })
}

pub(crate) fn team(m: teams::Model) -> Team {
    Team {
        id: m.id,
        name: m.name,
        created_at: m.created_at,
    }
}

pub(crate) fn team_membership(m: team_memberships::Model) -> Result<TeamMembership> {
    Ok(TeamMembership {
        id: m.id,
        team_id: m.team_id,
        user_id: m.user_id,
        role: TeamRole::parse(&m.role).ok_or_else(|| bad("team role", &m.role))?,
        added_at: m.added_at,
    })
}

pub(crate) fn digest(bytes: Vec<u8>) -> Result<[u8; 32]> {
    <[u8; 32]>::try_from(bytes)
        .map_err(|b| Error::Internal(format!("stored key digest has {} bytes, not 32", b.len())))
}

pub(crate) fn api_key(m: api_keys::Model) -> Result<ApiKey> {
    Ok(ApiKey {
        id: m.id,
        uid: m.uid,
        user_id: m.user_id,
        name: m.name,
        description: m.description,
        prefix: m.prefix,
        digest: digest(m.digest)?,
        role: KeyRole::parse(&m.role).ok_or_else(|| bad("key role", &m.role))?,
        scopes: from_json::<Vec<String>>(m.scopes, "key scopes")?,
        organization_id: m.organization_id,
        dataset_ids: from_json::<Vec<Uuid>>(m.dataset_ids, "key dataset ids")?,
        organization_ids: from_json::<Vec<Uuid>>(m.organization_ids, "key organization ids")?,
        expires_at: m.expires_at,
        last_used_at: m.last_used_at,
        revoked_at: m.revoked_at,
        primary: m.is_primary,
        minted_by_session: m.minted_by_session,
        created_at: m.created_at,
        updated_at: m.updated_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preferences_tolerate_missing_and_unknown_fields() -> Result<()> {
        let p = preferences(serde_json::json!({ "theme_color": "dark", "future_flag": true }))?;
        assert_eq!(
            p,
            Preferences {
                theme_color: "dark".into(),
                ..Preferences::default()
            }
        );
        Ok(())
    }

    #[test]
    fn short_digests_are_internal_errors() {
        assert!(matches!(digest(vec![1, 2, 3]), Err(Error::Internal(_))));
        assert!(digest(vec![0; 32]).is_ok());
    }

    #[test]
    fn micros_truncates_nanoseconds() {
        let t = DateTime::<Utc>::from_timestamp(1_700_000_000, 123_456_789).unwrap_or_default();
        assert_eq!(micros(t).timestamp_subsec_nanos(), 123_456_000);
    }
}
