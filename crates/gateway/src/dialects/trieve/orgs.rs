//! `POST /api/organization` and `GET /api/organization/users/{organization_id}`: what a REST-only
//! Trieve user needs to find and create organizations.

use axum::{
    Json,
    body::Body,
    extract::{Path, State, rejection::PathRejection},
};
use http::HeaderMap;
use identity_api::pb;
use serde::Deserialize;

use super::{
    MAX_LISTED_MEMBERS, MEMBER_PAGE_SIZE,
    auth::TrieveAuth,
    check_header_org,
    error::TrieveError,
    model::{Organization, SlimUser, UserOrganization, canonical_uuid},
    read_body,
};
use crate::AppState;

/// `CreateOrganizationReqPayload`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub(crate) struct CreateOrganization {
    name: String,
}

/// `POST /api/organization` → 200 `Organization`; the caller becomes its owner.
#[utoipa::path(
    post, path = "/api/organization", operation_id = "create_organization", tag = "organization", security(("ApiKey" = [])),
    params(("TR-Organization" = Option<String>, Header, format = Uuid, description = "Organization the request acts in (alias `x-organization`)")),
    request_body = CreateOrganization,
    responses(
        (status = 200, description = "The new organization; the caller is its owner", body = Organization),
        crate::openapi::trieve::CommonErrors,
        (status = 413, description = "Body over the size limit", body = crate::openapi::trieve::ErrorBody),
    )
)]
pub(crate) async fn create(
    State(st): State<AppState>,
    auth: TrieveAuth,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Organization>, TrieveError> {
    let cred = auth.credential()?;
    let header_org = auth.organization()?;
    let principal = st.upstream.who_am_i(&cred).await?;
    check_header_org(&principal, header_org.as_deref())?;
    let payload: CreateOrganization = read_body(&st, &headers, body).await?;
    let org = st.upstream.create_organization(&cred, payload.name).await?;
    Ok(Json(Organization::from(&org)))
}

/// `GET /api/organization/users/{organization_id}` → `[SlimUser]`, each with that organization
/// and its membership only (members and administrators; others 403). A `TR-Organization` header
/// naming another organization is 403.
#[utoipa::path(
    get, path = "/api/organization/users/{organization_id}", operation_id = "get_organization_users", tag = "organization", security(("ApiKey" = [])),
    params(("organization_id" = String, Path, format = Uuid, description = "Organization id"), ("TR-Organization" = Option<String>, Header, format = Uuid, description = "Organization the request acts in (alias `x-organization`)")),
    responses(
        (status = 200, description = "Members (at most 10000), each with this organization only", body = Vec<SlimUser>),
        crate::openapi::trieve::CommonErrors,
    )
)]
pub(crate) async fn users(
    State(st): State<AppState>,
    auth: TrieveAuth,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<Vec<SlimUser>>, TrieveError> {
    let cred = auth.credential()?;
    let header_org = auth.organization()?;
    let principal = st.upstream.who_am_i(&cred).await?;
    let org_id = path
        .ok()
        .and_then(|Path(raw)| canonical_uuid(&raw))
        .ok_or_else(|| TrieveError::bad_request("organization_id: must be a UUID"))?;
    if header_org.as_ref().is_some_and(|h| *h != org_id) {
        return Err(TrieveError::forbidden());
    }
    check_header_org(&principal, Some(&org_id))?;
    let outside = |e: crate::status::UpstreamError| {
        if TrieveError::is_outside_org(&e) {
            TrieveError::forbidden()
        } else {
            TrieveError::upstream(&e)
        }
    };
    let org = st
        .upstream
        .get_organization(&cred, org_id.clone())
        .await
        .map_err(outside)?;
    let org_json = Organization::from(&org);
    let mut out = Vec::new();
    let mut page_token = String::new();
    loop {
        let msg = pb::ListMembersRequest {
            organization_id: org_id.clone(),
            page_size: MEMBER_PAGE_SIZE,
            page_token,
            emails: Vec::new(),
            after_user_handle: None,
            user_handles: Vec::new(),
        };
        let page = st
            .upstream
            .list_members(&cred, msg)
            .await
            .map_err(outside)?;
        for m in &page.members {
            let Some(u) = m.user.as_ref() else {
                continue;
            };
            let membership = UserOrganization::new(&u.uid, &org_id, m.role, m.added_at.as_ref());
            out.push(SlimUser::new(u, vec![org_json.clone()], vec![membership]));
        }
        if out.len() >= MAX_LISTED_MEMBERS {
            tracing::warn!(limit = MAX_LISTED_MEMBERS, "member list truncated");
            out.truncate(MAX_LISTED_MEMBERS);
            break;
        }
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    Ok(Json(out))
}
