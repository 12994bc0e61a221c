//! `/api/users/{id}/tokens…`: a user's API keys.

use axum::{
    Json,
    body::Body,
    extract::{Path, State, rejection::PathRejection},
};
use http::{HeaderMap, StatusCode};
use identity_api::pb;
use tonic::Code;

use super::{
    auth::PortainerAuth,
    error::{OBJECT_NOT_FOUND, PortainerError, UNAUTHORIZED},
    model::{AccessTokenResponse, ApiKey},
    parse_id,
    payload::Payload,
    read_payload, user_id,
};
use crate::{AppState, status::reason};

/// Longest description Portainer accepts (bytes, as Go's `len`).
const MAX_DESCRIPTION: usize = 128;
/// Most keys `GET /api/users/{id}/tokens` returns.
pub(crate) const MAX_LISTED_KEYS: usize = 10_000;
/// Page size used to walk ListApiKeys (the server's maximum).
const PAGE_SIZE: i32 = 100;

/// `POST /api/users/{id}/tokens` → **200** `{rawAPIKey, apiKey}`.
///
/// Needs a session (JWT by cookie or `Authorization`); an API key alone gets 401 "Auth not
/// supported", because a key must never mint another key. Only the caller may create keys for
/// itself, administrators included (403), and the caller's password is verified by the server.
#[utoipa::path(
    post, path = "/api/users/{id}/tokens", operation_id = "UserGenerateAPIKey", tag = "users", security(("jwt" = [])), params(("id" = i64, Path, description = "User identifier", example = 1), ("Idempotency-Key" = Option<String>, Header, description = "Optional idempotency key (1-128 printable ASCII characters): a retry with the same key within 24 hours creates nothing again")),
    request_body = crate::openapi::portainer::UserAccessTokenCreatePayload,
    responses(
        (status = 200, description = "The new key: `rawAPIKey` is shown only here", body = AccessTokenResponse),
        (status = 400, description = "Invalid user identifier or payload", body = crate::openapi::portainer::ErrorBody),
        (status = 404, description = "No such user", body = crate::openapi::portainer::ErrorBody),
        (status = 413, description = "Body over the size limit", body = crate::openapi::portainer::ErrorBody),
        crate::openapi::portainer::AuthErrors,
        (status = 409, description = "The Idempotency-Key already created a key (its secret is not shown again)", body = crate::openapi::portainer::ErrorBody),
        crate::openapi::portainer::ServerErrors,
    )
)]
pub(crate) async fn create(
    State(st): State<AppState>,
    auth: PortainerAuth,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<AccessTokenResponse>, PortainerError> {
    let cred = auth.session()?;
    let request_id = crate::idempotency::key(&headers).map_err(PortainerError::invalid_payload)?;
    let value = read_payload(&st, &headers, body).await?;
    let p = Payload::object(&value, "users.userAccessTokenCreatePayload")?;
    let description = p.string("description")?;
    let password = p.string("password")?;
    if description.trim().is_empty() {
        return Err(PortainerError::invalid_payload(
            "invalid description: cannot be empty",
        ));
    }
    if description.len() > MAX_DESCRIPTION {
        return Err(PortainerError::invalid_payload(
            "invalid description: cannot be longer than 128 characters",
        ));
    }
    let id = user_id(path)?;

    // The server knows how the credential authenticated; a Bearer value may be an API key.
    let principal = st.upstream.who_am_i(&cred).await?;
    if principal.credential_kind != pb::CredentialKind::Session as i32 {
        return Err(PortainerAuth::auth_not_supported());
    }
    if principal.user.as_ref().map(|u| u.id) != Some(id) {
        return Err(PortainerError::forbidden(
            "Permission denied to create user access token",
            UNAUTHORIZED,
        ));
    }
    if password.is_empty() {
        return Err(PortainerError::invalid_payload(
            "invalid password: cannot be empty",
        ));
    }

    let msg = pb::CreateApiKeyRequest {
        user_id: Some(id),
        // pb `name` is required (1-128 characters); Portainer has only a description.
        name: description.clone(),
        description,
        role: pb::ApiKeyRole::Unspecified as i32,
        scopes: Vec::new(),
        organization_id: None,
        dataset_ids: Vec::new(),
        organization_ids: Vec::new(),
        expires_at: None,
        password: Some(password),
        primary: false,
        request_id,
        expires_in_seconds: None,
    };
    let created = st.upstream.create_api_key(&cred, msg).await.map_err(|e| {
        // The only password check here is "does it match": any refusal of it is a mismatch.
        if e.code == Code::InvalidArgument && e.violates("password") {
            return PortainerError::wrong_current_password();
        }
        PortainerError::upstream(&e)
    })?;
    let pb::CreateApiKeyResponse {
        api_key,
        plaintext,
        replayed: _,
    } = created;
    let key = api_key.ok_or_else(PortainerError::internal)?;
    Ok(Json(AccessTokenResponse {
        raw_api_key: plaintext,
        api_key: ApiKey::from(&key),
    }))
}

/// `GET /api/users/{id}/tokens` → `[APIKey]` (no digest). Self; or an administrator, but only
/// for a user who is not an administrator.
#[utoipa::path(
    get, path = "/api/users/{id}/tokens", operation_id = "UserGetAPIKeys", tag = "users", security(("jwt" = []), ("ApiKeyAuth" = [])), params(("id" = i64, Path, description = "User identifier", example = 1)),
    responses(
        (status = 200, description = "The user's API keys (never a digest)", body = Vec<ApiKey>),
        (status = 400, description = "Invalid user identifier", body = crate::openapi::portainer::ErrorBody),
        (status = 404, description = "No such user", body = crate::openapi::portainer::ErrorBody),
        crate::openapi::portainer::AuthErrors,
        crate::openapi::portainer::ServerErrors,
    )
)]
pub(crate) async fn list(
    State(st): State<AppState>,
    auth: PortainerAuth,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<Vec<ApiKey>>, PortainerError> {
    let cred = auth.credential()?;
    let id = user_id(path)?;
    let denied =
        || PortainerError::forbidden("Permission denied to get user access tokens", UNAUTHORIZED);
    let principal = st.upstream.who_am_i(&cred).await?;
    if principal.user.as_ref().map(|u| u.id) != Some(id) {
        if !principal.is_admin {
            return Err(denied());
        }
        let target = st
            .upstream
            .get_user(&cred, id)
            .await
            .map_err(|e| match e.reason() {
                reason::NOT_RESOURCE_OWNER => denied(),
                _ => PortainerError::upstream(&e),
            })?;
        if target.global_role == pb::GlobalRole::Administrator as i32 {
            return Err(denied());
        }
    }
    let mut keys = Vec::new();
    let mut page_token = String::new();
    loop {
        let msg = pb::ListApiKeysRequest {
            user_id: Some(id),
            include_revoked: false,
            page_size: PAGE_SIZE,
            page_token,
            organization_id: None,
        };
        let page = st
            .upstream
            .list_api_keys(&cred, msg)
            .await
            .map_err(|e| match e.reason() {
                reason::NOT_RESOURCE_OWNER => denied(),
                _ => PortainerError::upstream(&e),
            })?;
        keys.extend(page.api_keys.iter().map(ApiKey::from));
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
    Ok(Json(keys))
}

/// `DELETE /api/users/{id}/tokens/{keyID}` → 204; self or administrator, and the key must belong
/// to that user (403 otherwise). An unknown key is 404 (Portainer's code says 500, its spec 404).
#[utoipa::path(
    delete, path = "/api/users/{id}/tokens/{keyID}", operation_id = "UserRemoveAPIKey", tag = "users", security(("jwt" = []), ("ApiKeyAuth" = [])),
    params(("id" = i64, Path, description = "User identifier", example = 1), ("keyID" = i64, Path, description = "API key identifier", example = 1)),
    responses(
        (status = 204, description = "Revoked"),
        (status = 400, description = "Invalid identifier", body = crate::openapi::portainer::ErrorBody),
        (status = 404, description = "No such key", body = crate::openapi::portainer::ErrorBody),
        crate::openapi::portainer::AuthErrors,
        crate::openapi::portainer::ServerErrors,
    )
)]
pub(crate) async fn remove(
    State(st): State<AppState>,
    auth: PortainerAuth,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Result<StatusCode, PortainerError> {
    let cred = auth.credential()?;
    let Ok(Path((raw_user, raw_key))) = path else {
        return Err(PortainerError::invalid_route_variable(
            "Invalid user identifier route variable",
            "",
        ));
    };
    let id = parse_id(&raw_user, "Invalid user identifier route variable")?;
    let key_id = parse_id(&raw_key, "Invalid api-key identifier route variable")?;
    st.upstream
        .get_user(&cred, id)
        .await
        .map_err(|e| match e.reason() {
            reason::NOT_RESOURCE_OWNER => PortainerError::forbidden(
                "Permission denied to remove user access token",
                UNAUTHORIZED,
            ),
            _ => PortainerError::upstream(&e),
        })?;
    let key = st.upstream.get_api_key(&cred, key_id).await?;
    if key.revoked_at.is_some() {
        return Err(PortainerError::new(
            StatusCode::NOT_FOUND,
            "API Key not found",
            OBJECT_NOT_FOUND,
        ));
    }
    if key.user_id != id {
        return Err(PortainerError::forbidden(
            "Permission denied to remove api-key",
            UNAUTHORIZED,
        ));
    }
    st.upstream.revoke_api_key(&cred, key_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
