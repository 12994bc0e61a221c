//! Tyk AI Studio ("Midsommar") users and `roll-api-key` (`/api/v1/users…`), per dialects.md §3.
//!
//! # Wire shapes
//! - Every success body is wrapped in `{"data": …}`. A user is
//!   `{"type":"users","id":"<id>","attributes":{"email","name","is_admin","show_chat",
//!   "show_portal","email_verified","api_key","notifications_enabled","access_to_sso_config",
//!   "role"}}`: `id` is the numeric user id as a string (paths take the integer), `name` the
//!   display name or else the username, `email` `""` when the user has none, `is_admin` the
//!   global administrator role, the four flags the user's preferences, `role` derived as Tyk's
//!   `GetRole()` ("Super Admin" = administrator with id 1, "Admin", "Developer" = `show_portal`,
//!   "Chat user"). `groups` is never sent (no Tyk groups here; Tyk omits an empty list).
//! - Errors: handlers `{"errors":[{"title","detail"}]}` (title = HTTP status text); the auth
//!   middleware `{"error":"Unauthorized"}` 401 and `{"error":"Forbidden"}` 403. Bad JSON, a wrong
//!   JSON type, a non-JSON content type, a non-numeric id or bad query parameters are 400, an
//!   oversized body 413, all in the handler envelope; never 500 for bad input.
//!
//! # Routes (all administrator-only, like Tyk's `/api/v1` group)
//! `GET|POST /api/v1/users`, `GET|PATCH|DELETE /api/v1/users/{id}`,
//! `POST /api/v1/users/{id}/roll-api-key`. Credentials: see [`auth`].
//!
//! # Deviations from Tyk, decided here
//! - **`api_key` is `""`** everywhere except in the roll response, which carries the new
//!   plaintext once: the service stores SHA-256 digests only, so Tyk's re-display of the key on
//!   every GET/list/PATCH cannot be served (the admin UI shows the key as missing).
//! - **Roll** revokes the user's current *primary* key (the one earlier rolls made) and creates a
//!   new primary key; the old key is refused at once. Keys made through other dialects stay
//!   valid. A user created here has no key until rolled (as in Tyk).
//! - **Unknown user id → 404** `"User not found"` on GET, PATCH, DELETE and roll; Tyk answers 500
//!   "record not found" on PATCH, DELETE and roll (and its swagger documents 404 for roll).
//! - **Create** uses the e-mail, lower-cased, as the username; the e-mail is required. The
//!   password is optional. The e-mail-domain allow-list and plugin hooks of Tyk do not exist.
//!   Any `groups` id is unknown here → 400 "groups not found"; `[]` is accepted.
//! - **PATCH** replaces every Tyk attribute (omitted booleans become false; an empty e-mail clears
//!   it); username, password and the other dialects' preferences are left alone.
//! - **Delete** refuses user 1 with Tyk's 403 body even when user 1 is no longer an
//!   administrator (the service protects its bootstrap administrator always); deleting oneself
//!   or the last administrator is 403 too (Tyk allows both).
//! - **List**: `search` matches username, e-mail and display name case-insensitively; `sort`
//!   takes `id`, `name` (display name), `email`, `created_at`, `updated_at`, with `-` for
//!   descending (another column → 400; Tyk would fail with 500); `page` ≥ 1 and
//!   `1 ≤ page_size ≤ 1000` (default 10; out of range → 400), mapped to the server's bounded
//!   `offset` (at most 100000 users are skippable); `all=true` returns up to 10000 users.
//!   `X-Total-Pages` = ceil(total ÷ page_size) (1 with `all=true`, 0 when there are no users).
//!   `exclude_group_id` has no effect (there are no groups).
//! - **Auth**: no Tyk session cookie. A session JWT is accepted wherever an API key is. API-key
//!   authentication also needs the user's `email_verified` (checked from the server's principal).

use axum::{
    Router,
    body::Body,
    extract::{Path, rejection::PathRejection},
};
use http::{HeaderMap, StatusCode};
use serde_json::Value;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{AppState, body::read_json};

mod auth;
mod error;
pub(crate) mod model;
mod users;

/// The documented Tyk routes: each handler's `#[utoipa::path]` gives its method and path, so
/// the router and the OpenAPI document come from the same attributes.
pub(crate) fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(crate::openapi::tyk::base())
        .routes(routes!(users::list, users::create))
        .routes(routes!(users::get, users::update, users::delete))
        .routes(routes!(users::roll_api_key))
}

/// The Tyk routes, on their native paths.
pub(crate) fn routes() -> Router<AppState> {
    let (router, _) = api().split_for_parts();
    router.method_not_allowed_fallback(method_not_allowed)
}

async fn method_not_allowed() -> error::TykError {
    error::TykError::new(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed")
}

/// Read the JSON body under the configured cap.
async fn read_payload(
    st: &AppState,
    headers: &HeaderMap,
    body: Body,
) -> Result<Value, error::TykError> {
    Ok(read_json(headers, body, st.config.body_limit).await?)
}

/// The `{id}` of a user route: an unsigned integer, else 400 "Invalid user ID".
fn user_id(path: Result<Path<String>, PathRejection>) -> Result<i64, error::TykError> {
    path.ok()
        .and_then(|Path(raw)| raw.parse::<u64>().ok())
        .and_then(|n| i64::try_from(n).ok())
        .ok_or_else(|| error::TykError::bad_request("Invalid user ID"))
}
