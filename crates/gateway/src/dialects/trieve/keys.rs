//! API keys: the user routes (`/api/user/api_key…`, generations A–C) and the organization routes
//! of generation C (`/api/organization/api_key…`, with `TR-Organization`).

use axum::{
    Json,
    body::Body,
    extract::{Path, State, rejection::PathRejection},
};
use http::{HeaderMap, StatusCode};
use identity_api::pb;
use serde::Deserialize;
use tonic::Code;

use super::{
    auth::{TrieveAuth, role_in},
    check_header_org,
    error::TrieveError,
    model::{
        ApiKeyCreated, ApiKeyRespBody, canonical_uuid, key_cap, key_role_of, parse_time, rank,
    },
    read_body,
};
use crate::{AppState, credential::Credential, status::UpstreamError};

/// Most keys a list returns; the list is built in memory, so it is bounded.
pub(crate) const MAX_LISTED_KEYS: usize = 10_000;
/// Page size used to walk ListApiKeys (the server's maximum).
const PAGE_SIZE: i32 = 100;

/// `SetUserApiKeyRequest` (generation A) and `CreateApiKeyReqPayload` (generations B and C): the
/// shared fields plus A's `organization_ids` and B/C's `expires_at`. Unknown fields (B/C's
/// `default_params`) are ignored.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub(crate) struct CreateKey {
    /// The key's name.
    name: String,
    /// 0 read, 1 admin, 2 owner.
    #[schema(minimum = 0, maximum = 2)]
    role: i64,
    /// Datasets the key is restricted to (UUIDs).
    #[serde(default)]
    dataset_ids: Option<Vec<String>>,
    /// Organizations the key is restricted to (UUIDs; generation A).
    #[serde(default)]
    organization_ids: Option<Vec<String>>,
    /// Route scopes.
    #[serde(default)]
    scopes: Option<Vec<String>>,
    /// Expiry: RFC 3339, or a naive date-time taken as UTC (generations B and C).
    #[serde(default)]
    expires_at: Option<String>,
}

/// Canonical UUIDs of a list field; 400 naming the first bad entry.
fn uuid_list(field: &str, ids: Option<Vec<String>>) -> Result<Vec<String>, TrieveError> {
    ids.unwrap_or_default()
        .iter()
        .enumerate()
        .map(|(i, s)| {
            canonical_uuid(s)
                .ok_or_else(|| TrieveError::json(format!("{field}[{i}]: must be a UUID")))
        })
        .collect()
}

impl CreateKey {
    /// The CreateApiKey request for the caller; `organization` binds the key (generation C).
    fn into_request(
        self,
        organization: Option<String>,
        request_id: Option<String>,
    ) -> Result<pb::CreateApiKeyRequest, TrieveError> {
        let role = key_role_of(self.role).ok_or_else(|| {
            TrieveError::bad_request("role must be 0 (read), 1 (admin) or 2 (owner)")
        })?;
        let expires_at = match self.expires_at.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(s) => Some(parse_time(s).ok_or_else(|| {
                TrieveError::json("expires_at: must be an ISO-8601 date-time (UTC when naive)")
            })?),
        };
        Ok(pb::CreateApiKeyRequest {
            user_id: None,
            name: self.name,
            description: String::new(),
            role: role as i32,
            scopes: self.scopes.unwrap_or_default(),
            organization_id: organization,
            dataset_ids: uuid_list("dataset_ids", self.dataset_ids)?,
            organization_ids: uuid_list("organization_ids", self.organization_ids)?,
            expires_at,
            password: None,
            primary: false,
            request_id,
            expires_in_seconds: None,
        })
    }
}

/// The `{api_key_id}` of a delete route; 400 when it is not a UUID (Trieve's path extractor).
fn key_id(path: Result<Path<String>, PathRejection>) -> Result<String, TrieveError> {
    path.ok()
        .and_then(|Path(raw)| canonical_uuid(&raw))
        .ok_or_else(|| TrieveError::bad_request("api_key_id: must be a UUID"))
}

/// Every active key of the caller, optionally only those bound to `organization`.
async fn list_own(
    st: &AppState,
    cred: &Credential,
    owner_uid: &str,
    organization: Option<String>,
) -> Result<Vec<ApiKeyRespBody>, TrieveError> {
    let mut keys = Vec::new();
    let mut page_token = String::new();
    loop {
        let msg = pb::ListApiKeysRequest {
            user_id: None,
            include_revoked: false,
            page_size: PAGE_SIZE,
            page_token,
            organization_id: organization.clone(),
        };
        let page = st.upstream.list_api_keys(cred, msg).await?;
        keys.extend(
            page.api_keys
                .iter()
                .map(|k| ApiKeyRespBody::new(k, owner_uid)),
        );
        if keys.len() >= MAX_LISTED_KEYS {
            tracing::warn!(limit = MAX_LISTED_KEYS, "API key list truncated");
            keys.truncate(MAX_LISTED_KEYS);
            break;
        }
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    Ok(keys)
}

/// Revoke key `uid` if it is the caller's own active key (and bound to `organization`, when
/// given); anything else is left alone. Trieve's delete matches on (user, id) and answers 204
/// whether or not a row matched.
async fn revoke_own(
    st: &AppState,
    cred: &Credential,
    principal: &pb::Principal,
    uid: String,
    organization: Option<&str>,
) -> Result<StatusCode, TrieveError> {
    let me = principal.user.as_ref().ok_or_else(TrieveError::internal)?;
    let not_found = |e: &UpstreamError| e.code == Code::NotFound;
    let key = match st.upstream.get_api_key_by_uid(cred, uid.clone()).await {
        Ok(k) => k,
        Err(e) if not_found(&e) => return Ok(StatusCode::NO_CONTENT),
        Err(e) => return Err(TrieveError::upstream(&e)),
    };
    let mine = key.user_id == me.id;
    let in_org = organization.is_none_or(|o| key.organization_id.as_deref() == Some(o));
    if !mine || !in_org || key.revoked_at.is_some() {
        return Ok(StatusCode::NO_CONTENT);
    }
    match st.upstream.revoke_api_key_by_uid(cred, uid).await {
        Ok(()) => Ok(StatusCode::NO_CONTENT),
        Err(e) if not_found(&e) => Ok(StatusCode::NO_CONTENT),
        Err(e) => Err(TrieveError::upstream(&e)),
    }
}

/// `POST /api/user/api_key` → 200 `{"api_key"}`: a key of the caller (generation A's
/// `set_user_api_key`, B's `create_user_api_key`). Roles 0 read, 1 admin, 2 owner; the key's
/// `dataset_ids`, `organization_ids`, `scopes` and `expires_at` restrict it on the server.
#[utoipa::path(
    post, path = "/api/user/api_key", operation_id = "create_user_api_key", tag = "user", security(("ApiKey" = [])),
    params(("TR-Organization" = Option<String>, Header, format = Uuid, description = "Organization the request acts in (alias `x-organization`)"), ("Idempotency-Key" = Option<String>, Header, description = "Optional idempotency key (1-128 printable ASCII characters): a retry with the same key within 24 hours creates nothing again")),
    request_body = CreateKey,
    responses(
        (status = 200, description = "The new key, shown only here", body = ApiKeyCreated),
        crate::openapi::trieve::CommonErrors,
        (status = 413, description = "Body over the size limit", body = crate::openapi::trieve::ErrorBody),
    )
)]
pub(crate) async fn create_user_key(
    State(st): State<AppState>,
    auth: TrieveAuth,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<ApiKeyCreated>, TrieveError> {
    let cred = auth.credential()?;
    let header_org = auth.organization()?;
    let principal = st.upstream.who_am_i(&cred).await?;
    check_header_org(&principal, header_org.as_deref())?;
    let request_id = crate::idempotency::key(&headers).map_err(TrieveError::bad_request)?;
    let payload: CreateKey = read_body(&st, &headers, body).await?;
    let msg = payload.into_request(None, request_id)?;
    let created = st.upstream.create_api_key(&cred, msg).await?;
    Ok(Json(ApiKeyCreated {
        api_key: created.plaintext,
    }))
}

/// `GET /api/user/api_key` → `[ApiKeyRespBody]`: the caller's active keys.
#[utoipa::path(
    get, path = "/api/user/api_key", operation_id = "get_user_api_keys", tag = "user", security(("ApiKey" = [])),
    params(("TR-Organization" = Option<String>, Header, format = Uuid, description = "Organization the request acts in (alias `x-organization`)")),
    responses(
        (status = 200, description = "The caller's active keys", body = Vec<ApiKeyRespBody>),
        crate::openapi::trieve::CommonErrors,
    )
)]
pub(crate) async fn list_user_keys(
    State(st): State<AppState>,
    auth: TrieveAuth,
) -> Result<Json<Vec<ApiKeyRespBody>>, TrieveError> {
    let cred = auth.credential()?;
    let header_org = auth.organization()?;
    let principal = st.upstream.who_am_i(&cred).await?;
    check_header_org(&principal, header_org.as_deref())?;
    let me = principal.user.as_ref().ok_or_else(TrieveError::internal)?;
    Ok(Json(list_own(&st, &cred, &me.uid, None).await?))
}

/// `DELETE /api/user/api_key/{api_key_id}` → 204, also when no key of the caller matched; never
/// touches another user's key, not even for an administrator.
#[utoipa::path(
    delete, path = "/api/user/api_key/{api_key_id}", operation_id = "delete_user_api_key", tag = "user", security(("ApiKey" = [])),
    params(("api_key_id" = String, Path, format = Uuid, description = "Key id"), ("TR-Organization" = Option<String>, Header, format = Uuid, description = "Organization the request acts in (alias `x-organization`)")),
    responses(
        (status = 204, description = "Revoked, or no key of the caller matched"),
        crate::openapi::trieve::CommonErrors,
    )
)]
pub(crate) async fn delete_user_key(
    State(st): State<AppState>,
    auth: TrieveAuth,
    path: Result<Path<String>, PathRejection>,
) -> Result<StatusCode, TrieveError> {
    let cred = auth.credential()?;
    let header_org = auth.organization()?;
    let principal = st.upstream.who_am_i(&cred).await?;
    check_header_org(&principal, header_org.as_deref())?;
    let uid = key_id(path)?;
    revoke_own(&st, &cred, &principal, uid, None).await
}

/// The caller's role in the `TR-Organization` organization; 403 when it has none.
fn org_role(
    principal: &pb::Principal,
    organization: &str,
) -> Result<pb::OrganizationRole, TrieveError> {
    role_in(principal, organization).ok_or_else(TrieveError::forbidden)
}

/// `POST /api/organization/api_key` → 200 `{"api_key"}`: a key of the caller bound to the
/// `TR-Organization` organization; its role may not exceed the caller's there (400).
#[utoipa::path(
    post, path = "/api/organization/api_key", operation_id = "create_organization_api_key", tag = "organization", security(("ApiKey" = [])),
    params(("TR-Organization" = String, Header, format = Uuid, description = "Organization the request acts in (alias `x-organization`)"), ("Idempotency-Key" = Option<String>, Header, description = "Optional idempotency key (1-128 printable ASCII characters): a retry with the same key within 24 hours creates nothing again")),
    request_body = CreateKey,
    responses(
        (status = 200, description = "The new key bound to the organization, shown only here", body = ApiKeyCreated),
        crate::openapi::trieve::CommonErrors,
        (status = 413, description = "Body over the size limit", body = crate::openapi::trieve::ErrorBody),
    )
)]
pub(crate) async fn create_org_key(
    State(st): State<AppState>,
    auth: TrieveAuth,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<ApiKeyCreated>, TrieveError> {
    let cred = auth.credential()?;
    let org = auth.required_organization()?;
    let principal = st.upstream.who_am_i(&cred).await?;
    let mine = org_role(&principal, &org)?;
    let request_id = crate::idempotency::key(&headers).map_err(TrieveError::bad_request)?;
    let payload: CreateKey = read_body(&st, &headers, body).await?;
    let msg = payload.into_request(Some(org), request_id)?;
    let cap = key_cap(pb::ApiKeyRole::try_from(msg.role).unwrap_or(pb::ApiKeyRole::Unspecified));
    if rank(cap) > rank(mine) {
        return Err(TrieveError::bad_request(
            "Can not create an API key with a higher role than that of the requesting user's",
        ));
    }
    let created = st.upstream.create_api_key(&cred, msg).await.map_err(|e| {
        if TrieveError::is_outside_org(&e) {
            TrieveError::forbidden()
        } else {
            TrieveError::upstream(&e)
        }
    })?;
    Ok(Json(ApiKeyCreated {
        api_key: created.plaintext,
    }))
}

/// `GET /api/organization/api_key` → `[ApiKeyRespBody]`: the caller's active keys bound to the
/// `TR-Organization` organization.
#[utoipa::path(
    get, path = "/api/organization/api_key", operation_id = "get_organization_api_keys", tag = "organization", security(("ApiKey" = [])),
    params(("TR-Organization" = String, Header, format = Uuid, description = "Organization the request acts in (alias `x-organization`)")),
    responses(
        (status = 200, description = "The caller's active keys bound to the organization", body = Vec<ApiKeyRespBody>),
        crate::openapi::trieve::CommonErrors,
    )
)]
pub(crate) async fn list_org_keys(
    State(st): State<AppState>,
    auth: TrieveAuth,
) -> Result<Json<Vec<ApiKeyRespBody>>, TrieveError> {
    let cred = auth.credential()?;
    let org = auth.required_organization()?;
    let principal = st.upstream.who_am_i(&cred).await?;
    org_role(&principal, &org)?;
    let me = principal.user.as_ref().ok_or_else(TrieveError::internal)?;
    Ok(Json(list_own(&st, &cred, &me.uid, Some(org)).await?))
}

/// `DELETE /api/organization/api_key/{api_key_id}` → 204, also when no key of the caller bound to
/// the `TR-Organization` organization matched.
#[utoipa::path(
    delete, path = "/api/organization/api_key/{api_key_id}", operation_id = "delete_organization_api_key", tag = "organization", security(("ApiKey" = [])),
    params(("api_key_id" = String, Path, format = Uuid, description = "Key id"), ("TR-Organization" = String, Header, format = Uuid, description = "Organization the request acts in (alias `x-organization`)")),
    responses(
        (status = 204, description = "Revoked, or no key of the caller bound to the organization matched"),
        crate::openapi::trieve::CommonErrors,
    )
)]
pub(crate) async fn delete_org_key(
    State(st): State<AppState>,
    auth: TrieveAuth,
    path: Result<Path<String>, PathRejection>,
) -> Result<StatusCode, TrieveError> {
    let cred = auth.credential()?;
    let org = auth.required_organization()?;
    let principal = st.upstream.who_am_i(&cred).await?;
    org_role(&principal, &org)?;
    let uid = key_id(path)?;
    revoke_own(&st, &cred, &principal, uid, Some(&org)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload(v: serde_json::Value) -> Result<pb::CreateApiKeyRequest, TrieveError> {
        let p: CreateKey = serde_json::from_value(v).map_err(TrieveError::json)?;
        p.into_request(None, None)
    }

    #[test]
    fn generation_a_and_c_payloads() {
        let r = payload(serde_json::json!({"name": "ci", "role": 0}));
        assert_eq!(r.as_ref().map(|r| r.role), Ok(pb::ApiKeyRole::Read as i32));
        let r = payload(serde_json::json!({
            "name": "ci", "role": 1,
            "dataset_ids": ["67E55044-10B1-426F-9247-BB680E5FE0C8"],
            "organization_ids": null,
            "scopes": ["GET /api/dataset"],
            "expires_at": "2099-01-01T00:00:00",
            "default_params": {"search_type": "semantic"}
        }));
        let r = r.unwrap_or_default();
        assert_eq!(r.role, pb::ApiKeyRole::Admin as i32);
        assert_eq!(r.dataset_ids, vec!["67e55044-10b1-426f-9247-bb680e5fe0c8"]);
        assert!(r.organization_ids.is_empty());
        assert_eq!(r.scopes, vec!["GET /api/dataset"]);
        assert!(r.expires_at.is_some());
    }

    #[test]
    fn bad_payloads_are_400() {
        for v in [
            serde_json::json!({"name": "ci"}),
            serde_json::json!({"name": "ci", "role": "0"}),
            serde_json::json!({"name": "ci", "role": 3}),
            serde_json::json!({"name": "ci", "role": -1}),
            serde_json::json!({"name": "ci", "role": 0, "dataset_ids": ["x"]}),
            serde_json::json!({"name": "ci", "role": 0, "expires_at": "soon"}),
            serde_json::json!([1, 2]),
        ] {
            let e = payload(v.clone()).err();
            assert_eq!(e.map(|e| e.status().as_u16()), Some(400), "{v}");
        }
    }
}
