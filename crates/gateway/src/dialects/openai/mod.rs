//! OpenAI Administration API: organization users and admin API keys (`/v1/organization/…`),
//! per dialects.md §4.
//!
//! # Routes
//! - `GET /v1/organization/users` (`limit` 1–100, default 20; `after` = a user `id`; `emails[]=`
//!   as the SDK sends it, or repeated `emails=`) → `{"object":"list","data","first_id","last_id",
//!   "has_more"}`.
//! - `GET | POST | DELETE /v1/organization/users/{user_id}`; POST takes `{"role":"owner"|"reader"}`
//!   (absent or `null` changes nothing); DELETE removes the user from this organization only and
//!   answers 200 `{"object":"organization.user.deleted","id","deleted":true}`.
//! - `GET | POST /v1/organization/admin_api_keys` (`after`, `order` asc|desc, `limit` 1–100;
//!   create with `name` and optional `expires_in_seconds` 1…31536000, `value` shown once) and
//!   `GET | DELETE /v1/organization/admin_api_keys/{key_id}`.
//! - Any other `/v1/…` path: 404 "Invalid URL (METHOD /path)"; other methods on these paths: 405.
//!
//! # Mapping
//! - User `id` = the user handle `user-<32 hex>`; `name` = display name, else username; `email`
//!   or `null`; `role` = `owner` for organization owners **and admins**, `reader` for members
//!   (lossy); writing `owner` makes an owner, `reader` a member; `added_at` = membership time.
//! - Admin key = an API key of the caller bound to the organization with role OWNER. `id` =
//!   `key_` + the key UUID's 32 hex digits; `redacted_value` = the stored display prefix + `...`
//!   (only a digest is stored, so the key's last characters cannot be shown); `owner` = the key's
//!   user as `{"type":"user","object":"organization.user","id","name","created_at","role"}`.
//!
//! # Credentials and organization
//! `Authorization: Bearer <credential>`: an admin key (an organization-bound OWNER key) or any
//! other valid credential (session token, unbound key). The organization is the key's binding;
//! otherwise the `OpenAI-Organization` header (`org-…` handle; ignored for bound keys); otherwise
//! the default organization. The credential must have effective owner or admin rights there (or
//! be a global administrator): otherwise 403. No header → 401 (`code` null); refused credential →
//! 401 `invalid_api_key`; unknown `OpenAI-Organization` → 401 `no_such_organization`.
//!
//! # Errors (`{"error":{"message","type","param","code"}}`, all keys always present)
//! `type` is `invalid_request_error` for 4xx, `requests` for 429, `server_error` for 5xx.
//! `code`: `invalid_api_key` (401), `insufficient_permissions` (403), `user_not_found` /
//! `api_key_not_found` (404), `invalid_value` (400 with `param` naming the parameter), the
//! server's reason in lower case for other refusals (e.g. `last_owner` 400 when the last owner
//! would be removed or demoted), `rate_limit_exceeded` (429, with `Retry-After`),
//! `service_unavailable` (503), `timeout` (504). 4xx answers except 429 carry
//! `x-should-retry: false`.
//!
//! # Deviations from OpenAI
//! - Admin keys are listed per caller: the list shows the caller's own admin keys of the
//!   organization, not every owner's (keys of other users are 404 on GET/DELETE too).
//! - An unknown `after` (user or key id) is 400 `invalid_value` with `param: "after"`.
//! - Users of other organizations, and malformed ids, are 404 like unknown ones.

use axum::{
    Router,
    extract::{Query, rejection::PathRejection},
    http::{HeaderMap, Method, Uri},
    routing::any,
};
use http::header;
use identity_api::pb;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{AppState, credential::Credential};

mod error;
mod keys;
mod model;
mod users;

pub use error::OpenAiError;

/// Header naming the organization (the SDK's `organization=` option).
const ORGANIZATION_HEADER: &str = "openai-organization";

/// The documented OpenAI routes: each handler's `#[utoipa::path]` gives its method and path, so
/// the router and the OpenAPI document come from the same attributes.
pub(crate) fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(crate::openapi::openai::base())
        .routes(routes!(users::list))
        .routes(routes!(users::retrieve, users::update, users::delete))
        .routes(routes!(keys::list, keys::create))
        .routes(routes!(keys::retrieve, keys::delete))
}

/// The OpenAI routes, on their native paths.
pub(crate) fn routes() -> Router<AppState> {
    let (router, _) = api().split_for_parts();
    router
        // Not documented: OpenAI's "Invalid URL" 404 for every other `/v1` path and method.
        .route("/v1", any(invalid_url))
        .route("/v1/{*rest}", any(invalid_url))
        .method_not_allowed_fallback(method_not_allowed)
}

async fn invalid_url(method: Method, uri: Uri) -> OpenAiError {
    OpenAiError::invalid_url(&method, uri.path())
}

async fn method_not_allowed() -> OpenAiError {
    OpenAiError::method_not_allowed()
}

/// An authenticated caller with owner rights in the organization the request is about.
#[derive(Debug)]
pub(crate) struct Caller {
    /// The credential, forwarded on every call.
    pub(crate) cred: Credential,
    /// The caller's user.
    pub(crate) user: pb::User,
    /// The organization (UUID).
    pub(crate) org_id: String,
    /// The caller's own role there (for the `owner` object of admin keys).
    pub(crate) role: pb::OrganizationRole,
}

/// The bearer credential; 401 when there is none.
fn bearer(headers: &HeaderMap) -> Result<Credential, OpenAiError> {
    let value = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(OpenAiError::missing_key)?;
    let (scheme, token) = value
        .trim()
        .split_once(' ')
        .ok_or_else(OpenAiError::missing_key)?;
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
        return Err(OpenAiError::missing_key());
    }
    Ok(Credential::Bearer(token.to_owned()))
}

/// Authenticate, find the organization and require owner rights in it.
pub(crate) async fn caller(st: &AppState, headers: &HeaderMap) -> Result<Caller, OpenAiError> {
    let cred = bearer(headers)?;
    let principal = st.upstream.who_am_i(&cred).await?;
    let user = principal.user.clone().ok_or_else(OpenAiError::internal)?;
    let bound = principal
        .api_key
        .as_ref()
        .and_then(|k| k.organization_id.clone());
    let org_id = match bound {
        Some(id) => id,
        None => {
            let named = headers
                .get(ORGANIZATION_HEADER)
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
                .filter(|v| !v.is_empty());
            match named {
                Some(handle) => {
                    st.upstream
                        .get_organization_by(
                            &cred,
                            pb::organization_ref::Org::Handle(handle.into()),
                        )
                        .await
                        .map_err(|e| {
                            if matches!(
                                e.code,
                                tonic::Code::NotFound
                                    | tonic::Code::InvalidArgument
                                    | tonic::Code::PermissionDenied
                            ) {
                                OpenAiError::no_such_organization(handle)
                            } else {
                                OpenAiError::upstream(&e)
                            }
                        })?
                        .id
                }
                None => {
                    st.upstream
                        .get_organization_by(&cred, pb::organization_ref::Org::Default(true))
                        .await
                        .map_err(|e| {
                            if matches!(
                                e.code,
                                tonic::Code::NotFound | tonic::Code::PermissionDenied
                            ) {
                                OpenAiError::insufficient_permissions(
                                    "You are not a member of the default organization.",
                                )
                            } else {
                                OpenAiError::upstream(&e)
                            }
                        })?
                        .id
                }
            }
        }
    };
    let membership = principal
        .memberships
        .iter()
        .find(|m| m.organization_id == org_id);
    let effective = membership.map_or(pb::OrganizationRole::Unspecified, |m| m.effective_role());
    let is_owner = matches!(
        effective,
        pb::OrganizationRole::Owner | pb::OrganizationRole::Admin
    );
    if !is_owner && !principal.is_admin {
        return Err(OpenAiError::insufficient_permissions(
            "You have insufficient permissions for this operation: organization owner rights are \
             required.",
        ));
    }
    let role = match membership.map(|m| m.role()) {
        Some(r @ (pb::OrganizationRole::Owner | pb::OrganizationRole::Admin)) => r,
        Some(pb::OrganizationRole::Member | pb::OrganizationRole::Unspecified) | None => {
            // A global administrator acting in an organization counts as its owner.
            pb::OrganizationRole::Owner
        }
    };
    Ok(Caller {
        cred,
        user,
        org_id,
        role,
    })
}

/// The query string as pairs (keys percent-decoded, so `emails%5B%5D` is `emails[]`).
fn query_pairs(uri: &Uri) -> Result<Vec<(String, String)>, OpenAiError> {
    Query::<Vec<(String, String)>>::try_from_uri(uri)
        .map(|q| q.0)
        .map_err(|_| {
            OpenAiError::new(
                http::StatusCode::BAD_REQUEST,
                "The query string could not be parsed.",
                error::INVALID_REQUEST,
                None,
                Some("invalid_value"),
            )
        })
}

/// The last value of query parameter `name`.
fn query_value<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .rev()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// `limit`: 1–100, default 20.
fn parse_limit(pairs: &[(String, String)]) -> Result<i32, OpenAiError> {
    match query_value(pairs, "limit") {
        None => Ok(20),
        Some(raw) => match raw.trim().parse::<i64>() {
            Ok(n @ 1..=100) => i32::try_from(n).map_err(|_| OpenAiError::internal()),
            Ok(_) | Err(_) => Err(OpenAiError::invalid(
                "limit",
                format!("Invalid 'limit': expected an integer between 1 and 100, got {raw:?}."),
            )),
        },
    }
}

/// A path segment, or 404 when it could not be decoded.
fn path_segment(
    path: Result<axum::extract::Path<String>, PathRejection>,
    what: &str,
) -> Result<String, OpenAiError> {
    match path {
        Ok(axum::extract::Path(s)) => Ok(s),
        Err(_) => Err(OpenAiError::not_found(
            format!("No such {what}."),
            &format!("{}_not_found", what.replace(' ', "_")),
        )),
    }
}

/// Whether `s` is `<prefix><32 hex digits>`; returns the hex digits.
fn hex_id<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    s.strip_prefix(prefix)
        .filter(|h| h.len() == 32 && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    #[test]
    fn bearer_is_required() {
        let mut h = HeaderMap::new();
        assert!(bearer(&h).is_err());
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic abc"));
        assert!(bearer(&h).is_err());
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer  "));
        assert!(bearer(&h).is_err());
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("bearer sk-1"),
        );
        assert_eq!(bearer(&h).ok(), Some(Credential::Bearer("sk-1".into())));
    }

    #[test]
    fn limits_are_checked() {
        let q = |v: &str| vec![("limit".to_owned(), v.to_owned())];
        assert_eq!(parse_limit(&[]).ok(), Some(20));
        assert_eq!(parse_limit(&q("100")).ok(), Some(100));
        assert_eq!(parse_limit(&q("1")).ok(), Some(1));
        for bad in ["0", "101", "-1", "x", "", "99999999999999999999"] {
            let e = parse_limit(&q(bad)).err();
            assert_eq!(e.as_ref().and_then(|e| e.param()), Some("limit"), "{bad}");
        }
    }

    #[test]
    fn hex_ids() {
        let h = "0123456789abcdef0123456789ABCDEF";
        assert_eq!(hex_id(&format!("user-{h}"), "user-"), Some(h));
        assert_eq!(hex_id("user-abc", "user-"), None);
        assert_eq!(hex_id(&format!("key_{h}"), "user-"), None);
    }
}
