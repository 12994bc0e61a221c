//! Portainer CE "UsersApi" and login (`/api/users…`, `/api/auth`), per dialects.md §1.
//!
//! # Wire shapes
//! - Users: `{"Id","Username","Role","TokenIssueAt","ThemeSettings":{"color"},"UseCache",
//!   "PortainerAuthorizations":null,"EndpointAuthorizations":null}` in Go's struct order. `Role` 1
//!   is an administrator, 2 a standard user. No password field is ever sent — not even by admin
//!   init, whose password-hash leak in Portainer is not copied.
//! - `GET /api/users` items carry only `Id`, `Username`, `Role` (Portainer's `sanitizeUser`).
//! - `GET /api/users/me` adds `forceChangePassword` (the session's flag from the server).
//! - API keys: `{"id","userId","description","prefix","dateCreated","lastUsed"}`, unix seconds,
//!   `lastUsed` 0 when never used. `digest` is never sent (Portainer's POST would include it).
//! - Errors: `{"message","details"}` with `details` capitalised, as `pkg/libhttp/error` writes it;
//!   derived from the gRPC code and `ErrorInfo` reason only ([`PortainerError`]).
//! - Request bodies: keys match case-insensitively, unknown keys are ignored, a wrong JSON type
//!   is 400 "Invalid request payload" (Go decoder semantics). Bodies are capped (413 in this
//!   envelope); a `Content-Type` other than JSON is 400; a missing one is accepted.
//!
//! # Credentials
//! `X-API-KEY` (or `?x-api-key=`), the `portainer_api_key` cookie, then `Authorization`
//! (`Bearer ` prefix optional) or `?token=`; forwarded as `x-api-key` / `authorization: Bearer`.
//! None → 401 "A valid authorization token is missing"; refused by the server → 401 "Invalid JWT
//! token"; non-administrator on an administrator route → 403 "Access denied"; an API key together
//! with an `Authorization` header → 403. Public routes (`/api/auth`, admin check and init) forward
//! no credential.
//!
//! # Choices where Portainer's spec and code differ (dialects.md §1.7), and other decisions
//! - **POST tokens answers 200** (spec and newer Portainer), not 2.23's 201: generated clients
//!   only parse a 200 and return `None` on 201.
//! - **DELETE of an unknown or revoked key is 404** "API Key not found" (spec), not the code's
//!   500: an unknown id is bad input, never a 500.
//! - **Deleting the last administrator is 403** (not the code's 500; the spec documents 403 for
//!   this operation). It is unreachable anyway: the caller must be another administrator. User 1
//!   and self-deletion are 403 as in Portainer. Demoting the last administrator through PUT,
//!   which Portainer allows, is refused by the server and answered 403.
//! - **The update payload is all-optional** (code), although the spec marks five fields required:
//!   `""`, role 0 and absent keys mean "unchanged"; only a username different from the current
//!   one (case-sensitive, like Portainer) is a rename.
//! - **Deprecated maps** are emitted as Go does (`PortainerAuthorizations`,
//!   `EndpointAuthorizations`, always `null`); the client reads the spec's lower-case names and
//!   simply finds them absent.
//! - **Key `prefix`** is the first 7 characters of the raw key, Portainer's definition (here
//!   `idk_` plus 3 characters; the server keeps a 12-character prefix).
//! - **Key description** is sent as both `name` and `description` of the gRPC key; Portainer's
//!   own limits apply first (not blank, at most 128 bytes).
//! - **`GET /api/users/{id}/memberships` for an unknown user is `[]`** (code), not 404.
//! - **`environmentId` on `GET /api/users`**: absent, 0 or non-numeric means no filter (as in
//!   Portainer); any other value names an environment this service does not have → 404.
//! - **Theme colours** must be `dark`, `light`, `highcontrast`, `auto` or `""` on input (400
//!   otherwise); a colour set through another dialect that Portainer does not know is shown as
//!   `""`, because the generated client rejects values outside that enum.
//! - **Rate limiting**: a server RESOURCE_EXHAUSTED is Portainer's ban answer, 403 "Access denied".
//! - **Upstream down**: 503 "Service unavailable" in this envelope; no answer within the deadline:
//!   504.
//! - **Password changes.** `PUT /users/{id}/passwd` always sends the current password, which the
//!   server verifies (403 "Specified password do not match actual password" when wrong). On
//!   `PUT /users/{id}` a non-empty `password` is sent as the current password and verified, also
//!   for administrators (Portainer ignores it for them); administrators may leave it empty. The
//!   password change runs after the attribute update, because it ends the caller's own session;
//!   the two calls are not atomic. Its `TokenIssueAt` is the gateway's clock (ChangePassword
//!   returns no user). The server checks the new password's length before the current password,
//!   so a wrong current password with a too-short new one is 400 here, 403 in Portainer.
//! - Not served: `POST /api/auth/logout` (no revocation RPC yet), newer Portainer's
//!   `X-Setup-Token`, and the per-IP limiter of Portainer (the server rate-limits logins).

use axum::{
    Router,
    body::Body,
    extract::{Path, rejection::PathRejection},
    middleware,
    routing::put,
};
use http::{HeaderMap, StatusCode};
use serde_json::Value;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{AppState, body::read_json};

mod admin;
mod auth;
mod error;
mod login;
mod model;
mod payload;
mod tokens;
mod users;

pub use error::PortainerError;

/// The documented Portainer routes: each handler's `#[utoipa::path]` gives its method and path, so
/// the router and the OpenAPI document come from the same attributes.
pub(crate) fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(crate::openapi::portainer::base())
        .routes(routes!(login::authenticate))
        .routes(routes!(users::list, users::create))
        .routes(routes!(users::me))
        .routes(routes!(admin::check))
        .routes(routes!(admin::init))
        .routes(routes!(users::inspect, users::update, users::delete))
        .routes(routes!(users::update_password))
        .routes(routes!(users::memberships))
        .routes(routes!(tokens::list, tokens::create))
        .routes(routes!(tokens::remove))
}

/// The Portainer routes, on their native paths.
pub(crate) fn routes() -> Router<AppState> {
    let (router, _) = api().split_for_parts();
    router
        // Static segments win over `{id}` in the router; Portainer would take "me" as an id for
        // the other methods and refuse it as non-numeric. Not documented: these are
        // `/api/users/{id}` with a non-numeric id, whose 400 that path documents.
        .route(
            "/api/users/me",
            put(me_is_not_an_id).delete(me_is_not_an_id),
        )
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn(auth::reject_conflicting_credentials))
}

async fn method_not_allowed() -> PortainerError {
    PortainerError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "Method not allowed",
        "Method not allowed",
    )
}

async fn me_is_not_an_id() -> PortainerError {
    PortainerError::invalid_route_variable("Invalid user identifier route variable", "me")
}

/// Read the JSON body under the configured cap.
async fn read_payload(
    st: &AppState,
    headers: &HeaderMap,
    body: Body,
) -> Result<Value, PortainerError> {
    Ok(read_json(headers, body, st.config.body_limit).await?)
}

/// A numeric route variable, refused like `RetrieveNumericRouteVariableValue`.
fn parse_id(raw: &str, message: &str) -> Result<i64, PortainerError> {
    raw.parse::<i64>()
        .map_err(|_| PortainerError::invalid_route_variable(message, raw))
}

/// The `{id}` of a user route.
fn user_id(path: Result<Path<String>, PathRejection>) -> Result<i64, PortainerError> {
    const MESSAGE: &str = "Invalid user identifier route variable";
    match path {
        Ok(Path(raw)) => parse_id(&raw, MESSAGE),
        Err(_) => Err(PortainerError::invalid_route_variable(MESSAGE, "")),
    }
}
