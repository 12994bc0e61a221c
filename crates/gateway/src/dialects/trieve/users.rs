//! `PUT /api/user` (a member's role in an organization) and `GET /api/auth/me`.

use axum::{Json, body::Body, extract::State};
use http::{HeaderMap, StatusCode};
use identity_api::pb;
use serde::Deserialize;

use super::{
    auth::{TrieveAuth, role_in},
    check_header_org,
    error::{ADMIN_NEEDED, HIGHER_ROLE, NOT_IN_ORG, TARGET_NOT_IN_ORG, TrieveError, reasons},
    find_member,
    model::{Organization, SlimUser, UserOrganization, canonical_uuid, org_role_of, rank},
    read_body,
};
use crate::{AppState, status::reason};

/// `UpdateUserOrgRoleData` (generation A: `organization_id` in the body) and
/// `UpdateUserOrgRoleReqPayload` (generation C: the organization in `TR-Organization`).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub(crate) struct UpdateUserOrgRole {
    /// Generation A: the organization (`TR-Organization` wins when both are sent).
    #[serde(default)]
    #[schema(format = Uuid)]
    organization_id: Option<String>,
    /// 0 user, 1 admin, 2 owner.
    #[schema(minimum = 0, maximum = 2)]
    role: i64,
    /// The member to change; the caller when absent.
    #[serde(default)]
    #[schema(format = Uuid)]
    user_id: Option<String>,
}

/// `PUT /api/user` → 204.
///
/// The organization is `TR-Organization` when present (generation C; a non-member gets 403 from
/// Trieve's middleware), else the body's `organization_id` (generation A; a non-member gets 400
/// "You are not a member of this organization"). Then, in Trieve's order, all 400: a role above
/// the caller's, another user without admin/owner, a target who is not a member. The server
/// applies the same rules again (and refuses to demote the last owner).
#[utoipa::path(
    put, path = "/api/user", operation_id = "update_user_org_role", tag = "user", security(("ApiKey" = [])),
    params(("TR-Organization" = Option<String>, Header, format = Uuid, description = "Organization the request acts in (alias `x-organization`)")),
    request_body = UpdateUserOrgRole,
    responses(
        (status = 204, description = "Role updated"),
        crate::openapi::trieve::CommonErrors,
        (status = 413, description = "Body over the size limit", body = crate::openapi::trieve::ErrorBody),
    )
)]
pub(crate) async fn update_role(
    State(st): State<AppState>,
    auth: TrieveAuth,
    headers: HeaderMap,
    body: Body,
) -> Result<StatusCode, TrieveError> {
    let cred = auth.credential()?;
    let header_org = auth.organization()?;
    let principal = st.upstream.who_am_i(&cred).await?;
    check_header_org(&principal, header_org.as_deref())?;
    let payload: UpdateUserOrgRole = read_body(&st, &headers, body).await?;

    let (org, from_header) = match (header_org, &payload.organization_id) {
        (Some(h), _) => (h, true),
        (None, Some(b)) => (
            canonical_uuid(b)
                .ok_or_else(|| TrieveError::json("organization_id: must be a UUID"))?,
            false,
        ),
        (None, None) => {
            return Err(TrieveError::bad_request(
                "The TR-Organization header or organization_id is required",
            ));
        }
    };
    let role = org_role_of(payload.role)
        .ok_or_else(|| TrieveError::bad_request("role must be 0 (user), 1 (admin) or 2 (owner)"))?;
    let target_uid = payload
        .user_id
        .as_deref()
        .map(|s| canonical_uuid(s).ok_or_else(|| TrieveError::json("user_id: must be a UUID")))
        .transpose()?;
    let not_member = || {
        if from_header {
            TrieveError::forbidden()
        } else {
            TrieveError::bad_request(NOT_IN_ORG)
        }
    };
    let on_error = |e: crate::status::UpstreamError| {
        if TrieveError::is_outside_org(&e) {
            return not_member();
        }
        match e.reason() {
            // A read key is a role-0 key to Trieve; its refusals here are 400s.
            reason::READ_ONLY_CREDENTIAL => {
                TrieveError::bad_request("A read-only API key can not update roles")
            }
            reasons::ROLE_TOO_LOW => TrieveError::bad_request(HIGHER_ROLE),
            _ => TrieveError::upstream(&e),
        }
    };

    let me = principal.user.as_ref().ok_or_else(TrieveError::internal)?;
    let mine = role_in(&principal, &org).ok_or_else(not_member)?;
    if rank(role) > rank(mine) {
        return Err(TrieveError::bad_request(HIGHER_ROLE));
    }
    let target_id = match target_uid.filter(|u| *u != me.uid) {
        None => me.id,
        Some(uid) => {
            if rank(mine) < rank(pb::OrganizationRole::Admin) {
                return Err(TrieveError::bad_request(ADMIN_NEEDED));
            }
            let member = find_member(&st, &cred, &org, &uid)
                .await
                .map_err(on_error)?
                .ok_or_else(|| TrieveError::bad_request(TARGET_NOT_IN_ORG))?;
            member
                .user
                .as_ref()
                .map(|u| u.id)
                .ok_or_else(TrieveError::internal)?
        }
    };
    let msg = pb::UpdateMemberRoleRequest {
        organization_id: org,
        user_id: target_id,
        role: role as i32,
    };
    st.upstream
        .update_member_role(&cred, msg)
        .await
        .map_err(on_error)?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/auth/me` → `SlimUser`: the caller with the organizations its credential may use.
///
/// `user_orgs[].role` is the role the credential may use there (a read key shows 0, as Trieve
/// downgrades a read key's memberships).
#[utoipa::path(
    get, path = "/api/auth/me", operation_id = "get_me", tag = "auth", security(("ApiKey" = [])),
    params(("TR-Organization" = Option<String>, Header, format = Uuid, description = "Organization the request acts in (alias `x-organization`)")),
    responses(
        (status = 200, description = "The caller with the organizations its credential may use", body = SlimUser),
        crate::openapi::trieve::CommonErrors,
    )
)]
pub(crate) async fn me(
    State(st): State<AppState>,
    auth: TrieveAuth,
) -> Result<Json<SlimUser>, TrieveError> {
    let cred = auth.credential()?;
    let header_org = auth.organization()?;
    let principal = st.upstream.who_am_i(&cred).await?;
    check_header_org(&principal, header_org.as_deref())?;
    let user = principal.user.as_ref().ok_or_else(TrieveError::internal)?;
    let rows = st.upstream.list_user_organizations(&cred).await?;
    let mut orgs = Vec::with_capacity(rows.len());
    let mut user_orgs = Vec::with_capacity(rows.len());
    for row in &rows {
        let Some(org) = row.organization.as_ref() else {
            continue;
        };
        let role = principal
            .memberships
            .iter()
            .find(|m| m.organization_id == org.id)
            .map_or(row.role, |m| m.effective_role);
        orgs.push(Organization::from(org));
        user_orgs.push(UserOrganization::new(
            &user.uid,
            &org.id,
            role,
            row.added_at.as_ref(),
        ));
    }
    Ok(Json(SlimUser::new(user, orgs, user_orgs)))
}
