//! `/v1/organization/admin_api_keys…`: the caller's OWNER keys bound to the organization.

use axum::{
    Json,
    body::Body,
    extract::{Path, State, rejection::PathRejection},
    http::{HeaderMap, Uri},
};
use identity_api::pb;
use serde_json::Value;

use super::{
    Caller, OpenAiError, caller,
    model::{self, AdminKey, Deleted, List},
    parse_limit, path_segment, query_pairs, query_value,
};
use crate::{AppState, body::read_json};

/// Longest `expires_in_seconds` (one year), as OpenAI documents.
const MAX_EXPIRES_IN: i64 = 31_536_000;
/// Pages of 100 keys read at most when listing (the list is assembled in the gateway).
const MAX_PAGES: usize = 100;

fn key_not_found(id: &str) -> OpenAiError {
    OpenAiError::not_found(format!("No such admin API key: {id}."), "api_key_not_found")
}

/// Whether `k` is an admin key of the caller in the caller's organization.
fn is_admin_key(c: &Caller, k: &pb::ApiKey) -> bool {
    k.user_id == c.user.id
        && k.organization_id.as_deref() == Some(c.org_id.as_str())
        && k.role() == pb::ApiKeyRole::Owner
        && k.revoked_at.is_none()
}

/// Every admin key of the caller in the organization, ascending by creation (id).
async fn all_keys(st: &AppState, c: &Caller) -> Result<Vec<pb::ApiKey>, OpenAiError> {
    let mut out = Vec::new();
    let mut token = String::new();
    for _ in 0..MAX_PAGES {
        let msg = pb::ListApiKeysRequest {
            user_id: None,
            include_revoked: false,
            page_size: 100,
            page_token: std::mem::take(&mut token),
            organization_id: Some(c.org_id.clone()),
        };
        let page = st.upstream.list_api_keys(&c.cred, msg).await?;
        out.extend(page.api_keys.into_iter().filter(|k| is_admin_key(c, k)));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    out.sort_by_key(|k| k.id);
    Ok(out)
}

/// `GET /v1/organization/admin_api_keys`.
#[utoipa::path(
    get, path = "/v1/organization/admin_api_keys", operation_id = "admin-api-keys-list", tag = "admin_api_keys", security(("ApiKeyAuth" = [])),
    params(
        ("limit" = Option<i32>, Query, minimum = 1, maximum = 100, description = "Page size (default 20)"),
        ("after" = Option<String>, Query, description = "A key id (key_…): list after it"),
        ("order" = Option<String>, Query, description = "asc (default) or desc"),
        ("OpenAI-Organization" = Option<String>, Header, description = "Organization handle (org-…); ignored for organization-bound keys; default organization otherwise"),
    ),
    responses(
        (status = 200, description = "A page of the caller's admin keys", body = List<AdminKey>),
        (status = 400, description = "Invalid parameter (`param` names it)", body = crate::openapi::openai::ErrorBody),
        crate::openapi::openai::CommonErrors,
    )
)]
pub(crate) async fn list(
    State(st): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Json<List<AdminKey>>, OpenAiError> {
    let c = caller(&st, &headers).await?;
    let pairs = query_pairs(&uri)?;
    let limit = usize::try_from(parse_limit(&pairs)?).map_err(|_| OpenAiError::internal())?;
    let descending = match query_value(&pairs, "order") {
        None | Some("asc") => false,
        Some("desc") => true,
        Some(other) => {
            return Err(OpenAiError::invalid(
                "order",
                format!("Invalid 'order': {other:?}. Expected one of 'asc' or 'desc'."),
            ));
        }
    };
    let after = query_value(&pairs, "after").filter(|a| !a.is_empty());
    let mut keys = all_keys(&st, &c).await?;
    if descending {
        keys.reverse();
    }
    let start = match after {
        None => 0,
        Some(a) => {
            let pos = keys.iter().position(|k| model::key_id(k) == a);
            pos.map(|p| p + 1).ok_or_else(|| {
                OpenAiError::invalid(
                    "after",
                    format!("Invalid 'after': no admin API key {a:?} in this organization."),
                )
            })?
        }
    };
    let rest = keys.get(start..).unwrap_or_default();
    let has_more = rest.len() > limit;
    let data: Vec<AdminKey> = rest
        .iter()
        .take(limit)
        .map(|k| model::admin_key(k, &c.user, c.role, None))
        .collect();
    Ok(Json(List::new(data, has_more, |k| k.id.clone())))
}

/// `name` and `expires_in_seconds` of a create body.
fn create_fields(body: &Value) -> Result<(String, Option<i64>), OpenAiError> {
    let Value::Object(map) = body else {
        return Err(OpenAiError::invalid(
            "body",
            "The request body must be a JSON object.",
        ));
    };
    let name = match map.get("name") {
        Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
        Some(Value::String(_)) => {
            return Err(OpenAiError::invalid(
                "name",
                "Invalid 'name': must not be empty.",
            ));
        }
        None | Some(Value::Null) => {
            return Err(OpenAiError::invalid(
                "name",
                "Missing required parameter: 'name'.",
            ));
        }
        Some(other) => {
            return Err(OpenAiError::invalid(
                "name",
                format!("Invalid 'name': expected a string, got {other}."),
            ));
        }
    };
    let expires_in = match map.get("expires_in_seconds") {
        None | Some(Value::Null) => None,
        Some(v) => match v.as_i64() {
            Some(n @ 1..=MAX_EXPIRES_IN) => Some(n),
            _ => {
                return Err(OpenAiError::invalid(
                    "expires_in_seconds",
                    format!(
                        "Invalid 'expires_in_seconds': expected an integer between 1 and \
                         {MAX_EXPIRES_IN}, got {v}."
                    ),
                ));
            }
        },
    };
    Ok((name, expires_in))
}

/// `POST /v1/organization/admin_api_keys`: the new key's `value` is in this answer only.
#[utoipa::path(
    post, path = "/v1/organization/admin_api_keys", operation_id = "admin-api-keys-create", tag = "admin_api_keys", security(("ApiKeyAuth" = [])),
    params(("OpenAI-Organization" = Option<String>, Header, description = "Organization handle (org-…); ignored for organization-bound keys; default organization otherwise"), ("Idempotency-Key" = Option<String>, Header, description = "Optional idempotency key (1-128 printable ASCII characters): a retry with the same key within 24 hours creates nothing again")),
    request_body = crate::openapi::openai::AdminApiKeyCreateRequest,
    responses(
        (status = 200, description = "The new admin key; `value` is shown only here", body = AdminKey),
        (status = 400, description = "Invalid parameter (`param` names it)", body = crate::openapi::openai::ErrorBody),
        (status = 413, description = "Body over the size limit", body = crate::openapi::openai::ErrorBody),
        crate::openapi::openai::CommonErrors,
    )
)]
pub(crate) async fn create(
    State(st): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<AdminKey>, OpenAiError> {
    let c = caller(&st, &headers).await?;
    let request_id = crate::idempotency::key(&headers)
        .map_err(|m| OpenAiError::invalid("Idempotency-Key", m))?;
    let body = read_json(&headers, body, st.config.body_limit).await?;
    let (name, expires_in) = create_fields(&body)?;
    // Relative to the server's own creation time, so `expires_at - created_at` is exact.
    let expires_in_seconds = expires_in.map(|s| u32::try_from(s).unwrap_or(u32::MAX));
    let msg = pb::CreateApiKeyRequest {
        name,
        role: pb::ApiKeyRole::Owner.into(),
        organization_id: Some(c.org_id.clone()),
        expires_in_seconds,
        request_id,
        ..Default::default()
    };
    let created = st
        .upstream
        .create_api_key(&c.cred, msg)
        .await
        .map_err(|e| OpenAiError::upstream_with(&e, str::to_owned))?;
    let key = created.api_key.ok_or_else(OpenAiError::internal)?;
    Ok(Json(model::admin_key(
        &key,
        &c.user,
        c.role,
        Some(created.plaintext),
    )))
}

/// The caller's admin key named by the path; 404 otherwise.
async fn find(st: &AppState, c: &Caller, id: &str) -> Result<pb::ApiKey, OpenAiError> {
    let uid = model::key_uid(id).ok_or_else(|| key_not_found(id))?;
    match st.upstream.get_api_key_by_uid(&c.cred, uid).await {
        Ok(k) if is_admin_key(c, &k) => Ok(k),
        Ok(_) => Err(key_not_found(id)),
        Err(e) if e.code == tonic::Code::NotFound => Err(key_not_found(id)),
        Err(e) => Err(OpenAiError::upstream(&e)),
    }
}

/// `GET /v1/organization/admin_api_keys/{key_id}`.
#[utoipa::path(
    get, path = "/v1/organization/admin_api_keys/{key_id}", operation_id = "admin-api-keys-get", tag = "admin_api_keys", security(("ApiKeyAuth" = [])),
    params(("key_id" = String, Path, description = "Admin key id (key_…)"), ("OpenAI-Organization" = Option<String>, Header, description = "Organization handle (org-…); ignored for organization-bound keys; default organization otherwise")),
    responses(
        (status = 200, description = "The admin key", body = AdminKey),
        (status = 404, description = "No such admin key of the caller", body = crate::openapi::openai::ErrorBody),
        crate::openapi::openai::CommonErrors,
    )
)]
pub(crate) async fn retrieve(
    State(st): State<AppState>,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<AdminKey>, OpenAiError> {
    let c = caller(&st, &headers).await?;
    let id = path_segment(path, "admin API key")?;
    let k = find(&st, &c, &id).await?;
    Ok(Json(model::admin_key(&k, &c.user, c.role, None)))
}

/// `DELETE /v1/organization/admin_api_keys/{key_id}`: revokes the key at once.
#[utoipa::path(
    delete, path = "/v1/organization/admin_api_keys/{key_id}", operation_id = "admin-api-keys-delete", tag = "admin_api_keys", security(("ApiKeyAuth" = [])),
    params(("key_id" = String, Path, description = "Admin key id (key_…)"), ("OpenAI-Organization" = Option<String>, Header, description = "Organization handle (org-…); ignored for organization-bound keys; default organization otherwise")),
    responses(
        (status = 200, description = "Revoked", body = Deleted),
        (status = 404, description = "No such admin key of the caller", body = crate::openapi::openai::ErrorBody),
        crate::openapi::openai::CommonErrors,
    )
)]
pub(crate) async fn delete(
    State(st): State<AppState>,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<Deleted>, OpenAiError> {
    let c = caller(&st, &headers).await?;
    let id = path_segment(path, "admin API key")?;
    let k = find(&st, &c, &id).await?;
    match st
        .upstream
        .revoke_api_key_by_uid(&c.cred, k.uid.clone())
        .await
    {
        Ok(()) => {}
        Err(e) if e.code == tonic::Code::NotFound => return Err(key_not_found(&id)),
        Err(e) => return Err(OpenAiError::upstream(&e)),
    }
    Ok(Json(Deleted {
        object: "organization.admin_api_key.deleted",
        id,
        deleted: true,
    }))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn create_bodies_are_validated() {
        assert_eq!(
            create_fields(&json!({"name": "ci"})).ok(),
            Some(("ci".to_owned(), None))
        );
        assert_eq!(
            create_fields(&json!({"name": "ci", "expires_in_seconds": 31_536_000})).ok(),
            Some(("ci".to_owned(), Some(31_536_000)))
        );
        for (bad, param) in [
            (json!({}), "name"),
            (json!({"name": ""}), "name"),
            (json!({"name": 3}), "name"),
            (
                json!({"name": "x", "expires_in_seconds": 0}),
                "expires_in_seconds",
            ),
            (
                json!({"name": "x", "expires_in_seconds": 31_536_001}),
                "expires_in_seconds",
            ),
            (
                json!({"name": "x", "expires_in_seconds": "60"}),
                "expires_in_seconds",
            ),
            (
                json!({"name": "x", "expires_in_seconds": 1.5}),
                "expires_in_seconds",
            ),
            (json!("x"), "body"),
        ] {
            let e = create_fields(&bad).err();
            assert_eq!(e.as_ref().and_then(|e| e.param()), Some(param), "{bad}");
        }
    }
}
