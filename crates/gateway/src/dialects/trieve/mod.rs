//! Trieve "UserApi" and the organization/key routes a REST-only Trieve user needs, per
//! dialects.md §2, serving both API generations from one gateway (§2.9): generation A (the seeds,
//! trieve-py-client 0.11.x) and generation C (0.12.x).
//!
//! # Routes
//! | route | generation | RPCs |
//! |---|---|---|
//! | `PUT /api/user` → 204 | A (`organization_id` in the body) and C (`TR-Organization`) | WhoAmI, ListMembers (by user handle, to find `user_id`), UpdateMemberRole |
//! | `POST /api/user/api_key` → 200 `{"api_key"}` | A (`SetUserApiKeyRequest`), B (`CreateApiKeyReqPayload`) | WhoAmI, CreateApiKey |
//! | `GET /api/user/api_key` → `[ApiKeyRespBody]` | A and C | WhoAmI, ListApiKeys |
//! | `DELETE /api/user/api_key/{api_key_id}` → 204 | A and C | WhoAmI, GetApiKey, RevokeApiKey |
//! | `GET /api/auth/me` → `SlimUser` | C | WhoAmI, ListUserOrganizations |
//! | `POST /api/organization` → `Organization` | C | WhoAmI, CreateOrganization |
//! | `GET /api/organization/users/{organization_id}` → `[SlimUser]` | C | WhoAmI, GetOrganization, ListMembers |
//! | `POST /api/organization/api_key` → 200 `{"api_key"}` | C (`TR-Organization` required) | WhoAmI, CreateApiKey (bound to the organization) |
//! | `GET /api/organization/api_key` → `[ApiKeyRespBody]` | C | WhoAmI, ListApiKeys (bound to the organization) |
//! | `DELETE /api/organization/api_key/{api_key_id}` → 204 | C | WhoAmI, GetApiKey, RevokeApiKey |
//!
//! # Role mapping
//! | Trieve | number | identity.v1 |
//! |---|---|---|
//! | organization role user / admin / owner | 0 / 1 / 2 | `ORGANIZATION_ROLE_MEMBER` / `_ADMIN` / `_OWNER` |
//! | key role (both key-creation routes) read | 0 | `API_KEY_ROLE_READ` (read-only; organization rights capped at member) |
//! | key role: generation A "read and write", generation B/C "admin" | 1 | `API_KEY_ROLE_ADMIN` (organization rights capped at admin) |
//! | key role: generation B/C "owner" | 2 | `API_KEY_ROLE_OWNER` (organization rights capped at owner) |
//! | listed key role | 0 / 1 / 2 | READ → 0; WRITE and ADMIN → 1; OWNER and INHERIT (keys made through other dialects) → 2 |
//!
//! Numbers outside 0..=2 are 400 (Trieve maps unknown numbers to the lowest role instead). No
//! Trieve key ever gets INHERIT, so no Trieve key carries its owner's global administrator rights.
//!
//! # Wire shapes
//! - Ids are UUIDs: users' `uid`, keys' `uid`, organizations' `id`. UUIDs are accepted hyphenated
//!   or simple, any case, braced or `urn:uuid:` (like Trieve's `uuid` crate) and sent lower-case
//!   hyphenated. A non-UUID path id, body id or `TR-Organization` is 400.
//! - Timestamps are naive ISO-8601 in UTC with microseconds (`2024-09-23T17:31:18.123456`).
//! - `SlimUser`: `{id, email, name, created_at, orgs, user_orgs}`; `email` is `""` when the user has
//!   none (0.12's model requires a string), `name` the display name or else the username.
//! - `Organization`: `{id, name, created_at, updated_at, registerable: true, deleted: 0}` (the 0.12
//!   model requires `deleted`; this service has no soft delete or sign-up flag).
//! - `UserOrganization`: `{id, user_id, organization_id, role, created_at, updated_at}`; this
//!   service has no membership row id, so `id` is a stable UUID derived from the user and the
//!   organization (XOR, version 8), and `updated_at` repeats the join time.
//! - `ApiKeyRespBody`: the superset of §2.9, `{id, user_id, organization_id, name, role,
//!   dataset_ids, organization_ids, created_at, updated_at}`; `organization_id` is the key's
//!   binding or the nil UUID; empty lists are `null` (Trieve's "unrestricted").
//! - Errors: `{"message"}` only, `application/json` ([`TrieveError`]).
//!
//! # Credentials and organizations
//! `Authorization: <credential>` (optional `Bearer `) or `x-api-key`; the credential is an API key
//! or a session token from login, forwarded as `authorization: Bearer <credential>`. None, or one
//! the server refuses: 401 `{"message":"Unauthorized"}`. The credential is checked first (WhoAmI),
//! before the body is read, as Trieve's middleware does. `TR-Organization` (alias
//! `x-organization`) must be a UUID on every route (400 "Could not convert Organization to UUID")
//! and, where it is sent, name an organization the credential may use (403 "Forbidden"), as
//! Trieve's middleware checks.
//!
//! # Statuses
//! - 400: bad JSON or a wrong JSON type ("Json Deserialization Error: …"), a non-UUID id, a role
//!   number outside 0..=2, a missing organization, a non-JSON `Content-Type`, and Trieve's role
//!   rules on `PUT /api/user` with Trieve's words: a role above the caller's ("Can not grant a user
//!   a higher role than that of the requesting user's"), another user without admin/owner ("You
//!   must have an admin or owner role to update other users"), a target outside the organization.
//! - 401: no or a refused credential.
//! - 403: the organization (header or path) is not one the credential may use: not a member, a key
//!   bound or restricted to other organizations (Trieve's key restriction answers 401 on dataset
//!   routes; 403 here because these routes name organizations), or an organization that does not
//!   exist. Also the server's other refusals (a read-only key writing, …), except that on `PUT
//!   /api/user` role refusals, a read-only key's included, are 400s as in Trieve's handler.
//! - 413 for a body over the gateway's cap; 503/504 when the server is down or silent; 405 for a
//!   known path with another method.
//!
//! # Choices and deviations (decided explicitly)
//! - **Generation A's key role 1 ("read and write at the level of the user") is ADMIN**, the same
//!   number-to-role table as generation C: the key acts at the user's level up to admin, so a key
//!   made by an owner cannot grant or take the owner role. WRITE would cap it at member and make it
//!   useless for role changes; OWNER would over-grant generation B's role 1 ("admin") on the same
//!   route. A generation-A key made with role 1 therefore also lists as 1.
//! - **`PUT /api/user`, not a member**: 403 when the organization came from `TR-Organization`
//!   (generation C's middleware), 400 "You are not a member of this organization" when it came from
//!   the body (generation A's handler). The header wins when both are sent. Neither → 400 (Trieve
//!   C answers a missing header with a 500).
//! - **A read key cannot change any role** (the server refuses every write by a read-only
//!   credential): 400 "A read-only API key can not update roles". Trieve would let a read key
//!   (downgraded to role 0) set its own user's role to 0.
//! - **The last owner of an organization cannot be demoted** (server rule; Trieve allows it): 400.
//!   Changing a member whose role is above the caller's is refused too (400).
//! - **A key restricted to one organization cannot act in another** (`organization_ids`, or the
//!   binding of a generation-C key): the server enforces it on every call; Trieve generation A
//!   only checked it on dataset routes.
//! - **`DELETE …/api_key/{id}`** is 204 when nothing matched (Trieve's semantics) and only ever
//!   revokes the caller's own active key — an administrator cannot delete another user's key
//!   through Trieve; the organization route also requires the key to be bound to the
//!   `TR-Organization` organization. Keys are revoked, not deleted: a revoked key stops working at
//!   once and is no longer listed.
//! - **`GET /api/user/api_key` lists every active key of the caller**, including keys bound to an
//!   organization (Trieve C keeps organization keys in another table).
//! - **`GET /api/organization/api_key` lists the caller's own keys bound to the organization**;
//!   Trieve lists every key of the organization for its admins, which this service does not expose
//!   to organization admins.
//! - **`POST /api/organization/api_key`**: any member may create a key for itself, of a role up to
//!   its own in the organization (400 otherwise); `default_params` is accepted and ignored (this
//!   service has no search parameters); `expires_at` is RFC 3339, or a naive date-time taken as UTC.
//! - **`GET /api/organization/users/{id}`** is open to every member (the server's rule for
//!   ListMembers); each `SlimUser` carries only that organization and membership. Other members'
//!   `email` is `""` unless the caller is an admin or owner there (or an administrator): the
//!   server withholds it, since every user is a member of the default organization. At most
//!   10,000 members are listed.
//! - **`GET /api/auth/me`** shows the organizations the credential may use, with the role it may
//!   use there (a read key shows 0, as in Trieve).
//! - **Organization name taken**: 400 with the server's message (Trieve has no 409).
//! - **A global administrator** (a session, or a key of another dialect that inherits its rights)
//!   counts as owner in every organization, as the server treats it; Trieve has no such role.
//! - Not served: Trieve's cookie sessions, `ADMIN_API_KEY`, `TR-Dataset`, scopes raising a key's
//!   role, and the rest of Trieve's API.

use axum::{Router, body::Body};
use http::{HeaderMap, StatusCode};
use identity_api::pb;
use serde::de::DeserializeOwned;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{AppState, body::read_json, credential::Credential, upstream::UpstreamResult};

mod auth;
mod error;
mod keys;
mod model;
mod orgs;
mod users;

pub use error::TrieveError;

/// Most members a member list or lookup walks; lists are built in memory, so they are bounded.
pub(crate) const MAX_LISTED_MEMBERS: usize = 10_000;
/// Page size used to walk ListMembers (the server's maximum).
pub(crate) const MEMBER_PAGE_SIZE: i32 = 100;

/// The documented Trieve routes: each handler's `#[utoipa::path]` gives its method and path, so
/// the router and the OpenAPI document come from the same attributes.
pub(crate) fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(crate::openapi::trieve::base())
        .routes(routes!(users::update_role))
        .routes(routes!(keys::list_user_keys, keys::create_user_key))
        .routes(routes!(keys::delete_user_key))
        .routes(routes!(users::me))
        .routes(routes!(orgs::create))
        .routes(routes!(orgs::users))
        .routes(routes!(keys::list_org_keys, keys::create_org_key))
        .routes(routes!(keys::delete_org_key))
}

/// The Trieve routes, on their native paths.
pub(crate) fn routes() -> Router<AppState> {
    let (router, _) = api().split_for_parts();
    router.method_not_allowed_fallback(method_not_allowed)
}

async fn method_not_allowed() -> TrieveError {
    TrieveError::new(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed")
}

/// Read the JSON body under the configured cap and decode it as `T` (unknown keys ignored).
async fn read_body<T: DeserializeOwned>(
    st: &AppState,
    headers: &HeaderMap,
    body: Body,
) -> Result<T, TrieveError> {
    let value = read_json(headers, body, st.config.body_limit).await?;
    serde_json::from_value(value).map_err(TrieveError::json)
}

/// Trieve's middleware: a `TR-Organization` header must name an organization the credential may
/// use (403 otherwise).
fn check_header_org(p: &pb::Principal, organization: Option<&str>) -> Result<(), TrieveError> {
    match organization {
        Some(org) if auth::role_in(p, org).is_none() => Err(TrieveError::forbidden()),
        Some(_) | None => Ok(()),
    }
}

/// The member of `organization_id` whose user UUID is `uid` (canonical), if any: ListMembers
/// filtered by the user's handle (`user-` and the 32 hex digits of the UUID).
async fn find_member(
    st: &AppState,
    cred: &Credential,
    organization_id: &str,
    uid: &str,
) -> UpstreamResult<Option<pb::Member>> {
    let msg = pb::ListMembersRequest {
        organization_id: organization_id.to_owned(),
        page_size: 1,
        page_token: String::new(),
        emails: Vec::new(),
        after_user_handle: None,
        user_handles: vec![format!("user-{}", uid.replace('-', ""))],
    };
    let page = st.upstream.list_members(cred, msg).await?;
    Ok(page
        .members
        .into_iter()
        .find(|m| m.user.as_ref().is_some_and(|u| u.uid == uid)))
}
