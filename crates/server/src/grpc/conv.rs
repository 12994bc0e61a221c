//! Conversions between domain values and `identity.v1` messages.

use chrono::{DateTime, Utc};
use identity_api::pb;
use identity_core::{
    domain::{
        self, ApiKey, GlobalRole, KeyRole, Membership, OrgRole, Organization, Team, TeamMembership,
        TeamRole, User,
    },
    principal::{Credential, Principal},
    service::MemberView,
};
use tonic::Status;

use super::status::invalid;

pub(crate) fn ts(t: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: i32::try_from(t.timestamp_subsec_nanos()).unwrap_or(0),
    }
}

pub(crate) fn from_ts(field: &str, t: &prost_types::Timestamp) -> Result<DateTime<Utc>, Status> {
    u32::try_from(t.nanos)
        .ok()
        .and_then(|n| DateTime::from_timestamp(t.seconds, n))
        .ok_or_else(|| invalid(field, "is not a valid timestamp"))
}

pub(crate) fn global_role(r: GlobalRole) -> pb::GlobalRole {
    match r {
        GlobalRole::Administrator => pb::GlobalRole::Administrator,
        GlobalRole::Standard => pb::GlobalRole::Standard,
    }
}

/// `Ok(None)` for UNSPECIFIED; unknown numbers are rejected.
pub(crate) fn parse_global_role(field: &str, v: i32) -> Result<Option<GlobalRole>, Status> {
    match pb::GlobalRole::try_from(v) {
        Ok(pb::GlobalRole::Unspecified) => Ok(None),
        Ok(pb::GlobalRole::Administrator) => Ok(Some(GlobalRole::Administrator)),
        Ok(pb::GlobalRole::Standard) => Ok(Some(GlobalRole::Standard)),
        Err(_) => Err(invalid(field, "is not a known role")),
    }
}

pub(crate) fn org_role(r: OrgRole) -> pb::OrganizationRole {
    match r {
        OrgRole::Member => pb::OrganizationRole::Member,
        OrgRole::Admin => pb::OrganizationRole::Admin,
        OrgRole::Owner => pb::OrganizationRole::Owner,
    }
}

pub(crate) fn parse_org_role(field: &str, v: i32) -> Result<Option<OrgRole>, Status> {
    match pb::OrganizationRole::try_from(v) {
        Ok(pb::OrganizationRole::Unspecified) => Ok(None),
        Ok(pb::OrganizationRole::Member) => Ok(Some(OrgRole::Member)),
        Ok(pb::OrganizationRole::Admin) => Ok(Some(OrgRole::Admin)),
        Ok(pb::OrganizationRole::Owner) => Ok(Some(OrgRole::Owner)),
        Err(_) => Err(invalid(field, "is not a known role")),
    }
}

pub(crate) fn team_role(r: TeamRole) -> pb::TeamRole {
    match r {
        TeamRole::Leader => pb::TeamRole::Leader,
        TeamRole::Member => pb::TeamRole::Member,
    }
}

pub(crate) fn parse_team_role(field: &str, v: i32) -> Result<Option<TeamRole>, Status> {
    match pb::TeamRole::try_from(v) {
        Ok(pb::TeamRole::Unspecified) => Ok(None),
        Ok(pb::TeamRole::Leader) => Ok(Some(TeamRole::Leader)),
        Ok(pb::TeamRole::Member) => Ok(Some(TeamRole::Member)),
        Err(_) => Err(invalid(field, "is not a known role")),
    }
}

pub(crate) fn key_role(r: KeyRole) -> pb::ApiKeyRole {
    match r {
        KeyRole::Inherit => pb::ApiKeyRole::Inherit,
        KeyRole::Read => pb::ApiKeyRole::Read,
        KeyRole::Write => pb::ApiKeyRole::Write,
        KeyRole::Admin => pb::ApiKeyRole::Admin,
        KeyRole::Owner => pb::ApiKeyRole::Owner,
    }
}

pub(crate) fn parse_key_role(field: &str, v: i32) -> Result<Option<KeyRole>, Status> {
    match pb::ApiKeyRole::try_from(v) {
        Ok(pb::ApiKeyRole::Unspecified) => Ok(None),
        Ok(pb::ApiKeyRole::Inherit) => Ok(Some(KeyRole::Inherit)),
        Ok(pb::ApiKeyRole::Read) => Ok(Some(KeyRole::Read)),
        Ok(pb::ApiKeyRole::Write) => Ok(Some(KeyRole::Write)),
        Ok(pb::ApiKeyRole::Admin) => Ok(Some(KeyRole::Admin)),
        Ok(pb::ApiKeyRole::Owner) => Ok(Some(KeyRole::Owner)),
        Err(_) => Err(invalid(field, "is not a known role")),
    }
}

pub(crate) fn preferences(p: &domain::Preferences) -> pb::Preferences {
    let domain::Preferences {
        theme_color,
        use_cache,
        show_chat,
        show_portal,
        notifications_enabled,
        access_to_sso_config,
    } = p;
    pb::Preferences {
        theme_color: theme_color.clone(),
        use_cache: *use_cache,
        show_chat: *show_chat,
        show_portal: *show_portal,
        notifications_enabled: *notifications_enabled,
        access_to_sso_config: *access_to_sso_config,
    }
}

pub(crate) fn parse_preferences(p: Option<pb::Preferences>) -> domain::Preferences {
    let pb::Preferences {
        theme_color,
        use_cache,
        show_chat,
        show_portal,
        notifications_enabled,
        access_to_sso_config,
    } = p.unwrap_or_default();
    domain::Preferences {
        theme_color,
        use_cache,
        show_chat,
        show_portal,
        notifications_enabled,
        access_to_sso_config,
    }
}

pub(crate) fn user(u: &User) -> pb::User {
    pb::User {
        id: u.id,
        uid: u.uid.to_string(),
        handle: u.handle(),
        username: u.username.clone(),
        email: u.email.clone(),
        display_name: u.display_name.clone(),
        global_role: global_role(u.global_role).into(),
        email_verified: u.email_verified,
        preferences: Some(preferences(&u.preferences)),
        token_issued_at: Some(ts(u.token_issued_at)),
        created_at: Some(ts(u.created_at)),
        updated_at: Some(ts(u.updated_at)),
        has_password: u.password_hash.is_some(),
    }
}

pub(crate) fn api_key(k: &ApiKey, owner_uid: Option<uuid::Uuid>) -> pb::ApiKey {
    pb::ApiKey {
        id: k.id,
        uid: k.uid.to_string(),
        user_id: k.user_id,
        user_uid: owner_uid.map(|u| u.to_string()).unwrap_or_default(),
        name: k.name.clone(),
        description: k.description.clone(),
        prefix: k.prefix.clone(),
        role: key_role(k.role).into(),
        scopes: k.scopes.clone(),
        organization_id: k.organization_id.map(|o| o.to_string()),
        dataset_ids: k.dataset_ids.iter().map(ToString::to_string).collect(),
        organization_ids: k.organization_ids.iter().map(ToString::to_string).collect(),
        expires_at: k.expires_at.map(ts),
        last_used_at: k.last_used_at.map(ts),
        revoked_at: k.revoked_at.map(ts),
        primary: k.primary,
        created_at: Some(ts(k.created_at)),
        updated_at: Some(ts(k.updated_at)),
    }
}

pub(crate) fn organization(o: &Organization) -> pb::Organization {
    pb::Organization {
        id: o.id.to_string(),
        handle: domain::org_handle(o.id),
        name: o.name.clone(),
        is_default: o.is_default,
        created_at: Some(ts(o.created_at)),
        updated_at: Some(ts(o.updated_at)),
    }
}

pub(crate) fn member(m: &Membership, u: &User) -> pb::Member {
    pb::Member {
        user: Some(user(u)),
        organization_id: m.organization_id.to_string(),
        role: org_role(m.role).into(),
        added_at: Some(ts(m.added_at)),
    }
}

/// A member as the core let the caller see it: withheld private fields are absent (the role
/// UNSPECIFIED, no preferences, no session time) rather than shown with default values.
pub(crate) fn member_view(v: &MemberView) -> pb::Member {
    let mut out = member(&v.membership, &v.user);
    if v.private_withheld
        && let Some(u) = out.user.as_mut()
    {
        u.email = None;
        u.global_role = pb::GlobalRole::Unspecified.into();
        u.email_verified = false;
        u.preferences = None;
        u.token_issued_at = None;
        u.has_password = false;
    }
    out
}

pub(crate) fn team(t: &Team) -> pb::Team {
    pb::Team {
        id: t.id,
        name: t.name.clone(),
        created_at: Some(ts(t.created_at)),
    }
}

pub(crate) fn team_membership(m: &TeamMembership) -> pb::TeamMembership {
    pb::TeamMembership {
        id: m.id,
        team_id: m.team_id,
        user_id: m.user_id,
        role: team_role(m.role).into(),
        added_at: Some(ts(m.added_at)),
    }
}

pub(crate) fn principal(p: &Principal, memberships: &[Membership]) -> pb::Principal {
    let (kind, key, expires_at, fcp) = match &p.credential {
        Credential::Session {
            expires_at,
            force_change_password,
            ..
        } => (
            pb::CredentialKind::Session,
            None,
            Some(ts(*expires_at)),
            *force_change_password,
        ),
        Credential::ApiKey(k) => (
            pb::CredentialKind::ApiKey,
            Some(api_key(k, Some(p.user.uid))),
            k.expires_at.map(ts),
            false,
        ),
    };
    pb::Principal {
        user: Some(user(&p.user)),
        credential_kind: kind.into(),
        api_key: key,
        is_admin: p.is_admin(),
        read_only: p.read_only(),
        scopes: p.api_key().map(|k| k.scopes.clone()).unwrap_or_default(),
        memberships: memberships
            .iter()
            .filter(|m| p.may_use_org(m.organization_id))
            .map(|m| pb::PrincipalMembership {
                organization_id: m.organization_id.to_string(),
                role: org_role(m.role).into(),
                effective_role: p
                    .effective_org_role(m.organization_id, Some(m.role))
                    .map_or(pb::OrganizationRole::Unspecified, org_role)
                    .into(),
            })
            .collect(),
        expires_at,
        force_change_password: fcp,
    }
}
