//! `/api/v1/users…`: Tyk AI Studio's users resource and `roll-api-key`.

use axum::{
    Json,
    body::Body,
    extract::{
        Path, Query, State,
        rejection::{PathRejection, QueryRejection},
    },
    response::{IntoResponse as _, Response},
};
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use identity_api::pb;
use prost_types::FieldMask;
use tonic::Code;

use super::{
    auth::TykAdmin,
    error::TykError,
    model::{Data, UserInput, UserInputEnvelope, UserResponse},
    read_payload, user_id,
};
use crate::{AppState, status::UpstreamError};

/// Default `page_size` of `GET /api/v1/users` (Tyk's).
const DEFAULT_PAGE_SIZE: u64 = 10;
/// Largest `page_size` accepted (Tyk has no cap; this keeps one response bounded).
pub(crate) const MAX_PAGE_SIZE: u64 = 1_000;
/// Most users `all=true` returns.
pub(crate) const MAX_ALL_USERS: u64 = 10_000;
/// Page size of each ListUsers call (the server's maximum).
const CHUNK: u64 = 100;

const EMAIL_IN_USE: &str = "Email is already in use";

/// What `GET /api/v1/users` asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ListParams {
    search: Option<String>,
    page: u64,
    page_size: u64,
    all: bool,
    order_by: pb::UserOrderField,
    descending: bool,
}

impl ListParams {
    fn parse(pairs: &[(String, String)]) -> Result<Self, TykError> {
        let get = |name: &str| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        let number = |name: &str, default: u64, max: u64| -> Result<u64, TykError> {
            match get(name).filter(|v| !v.is_empty()) {
                None => Ok(default),
                Some(v) => v
                    .parse::<u64>()
                    .ok()
                    .filter(|n| (1..=max).contains(n))
                    .ok_or_else(|| TykError::bad_request(format!("Invalid {name} parameter"))),
            }
        };
        let page = number("page", 1, u64::from(u32::MAX))?;
        let page_size = number("page_size", DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)?;
        let sort = get("sort").unwrap_or("");
        let (descending, column) = match sort.strip_prefix('-') {
            Some(c) => (true, c),
            None => (false, sort),
        };
        let order_by = match column {
            "" | "id" => pb::UserOrderField::Id,
            "name" => pb::UserOrderField::DisplayName,
            "email" => pb::UserOrderField::Email,
            "created_at" => pb::UserOrderField::CreatedAt,
            "updated_at" => pb::UserOrderField::UpdatedAt,
            _ => {
                return Err(TykError::bad_request(format!(
                    "Invalid sort column {column:?}"
                )));
            }
        };
        Ok(Self {
            search: get("search").filter(|s| !s.is_empty()).map(str::to_owned),
            page,
            page_size,
            all: get("all") == Some("true"),
            order_by,
            descending,
        })
    }
}

/// `GET /api/v1/users` → 200 `{"data":[UserResponse…]}` (no `groups`), with `X-Total-Count`
/// and `X-Total-Pages`. `exclude_group_id` is accepted and has no effect: no user is in a group.
#[utoipa::path(
    get, path = "/api/v1/users", operation_id = "listUsers", tag = "users", security(("BearerAuth" = [])),
    params(
        ("page" = Option<u32>, Query, minimum = 1, description = "Page, from 1"),
        ("page_size" = Option<u32>, Query, minimum = 1, maximum = 1000, description = "Users per page (default 10)"),
        ("sort" = Option<String>, Query, description = "id, name, email, created_at or updated_at; a leading - sorts descending"),
        ("search" = Option<String>, Query, description = "Case-insensitive match on username, e-mail and name"),
        ("all" = Option<bool>, Query, description = "true: every user (at most 10000), no paging"),
        ("exclude_group_id" = Option<u64>, Query, description = "Accepted, no effect (there are no groups)"),
    ),
    responses(
        (status = 200, description = "A page of users", body = crate::openapi::tyk::UserList,
            headers(("X-Total-Count" = u64, description = "Users in total"), ("X-Total-Pages" = u64, description = "Pages in total"))),
        (status = 400, description = "Bad query parameter", body = crate::openapi::tyk::ErrorBody),
        crate::openapi::tyk::CommonErrors,
    )
)]
pub(crate) async fn list(
    State(st): State<AppState>,
    admin: TykAdmin,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, TykError> {
    let pairs = query
        .map(|q| q.0)
        .map_err(|e| TykError::bad_request(e.body_text()))?;
    let params = ListParams::parse(&pairs)?;
    let (start, want) = if params.all {
        (0, MAX_ALL_USERS)
    } else {
        let start = (params.page - 1)
            .checked_mul(params.page_size)
            .ok_or_else(|| TykError::bad_request("Invalid page parameter"))?;
        (start, params.page_size)
    };
    let mut users = Vec::new();
    let mut total = 0_u64;
    loop {
        let got = users.len() as u64;
        let chunk = CHUNK.min(want - got);
        let offset = i32::try_from(start + got)
            .map_err(|_| TykError::bad_request("Invalid page parameter"))?;
        let msg = pb::ListUsersRequest {
            page_size: i32::try_from(chunk).unwrap_or(i32::MAX),
            page_token: String::new(),
            emails: Vec::new(),
            username: None,
            search: params.search.clone(),
            order_by: params.order_by as i32,
            descending: params.descending,
            offset,
            include_total_count: got == 0,
        };
        let page = st.upstream.list_users(&admin.credential, msg).await?;
        if got == 0 {
            total = u64::try_from(page.total_count).unwrap_or(0);
        }
        let n = page.users.len() as u64;
        users.extend(page.users.iter().map(UserResponse::from));
        if n < chunk || users.len() as u64 >= want {
            break;
        }
    }
    if params.all && total > MAX_ALL_USERS {
        tracing::warn!(limit = MAX_ALL_USERS, "user list truncated");
    }
    let pages = if params.all {
        u64::from(total > 0)
    } else {
        total.div_ceil(params.page_size)
    };
    let mut resp = Json(Data { data: users }).into_response();
    let headers = resp.headers_mut();
    headers.insert(
        HeaderName::from_static("x-total-count"),
        HeaderValue::from(total),
    );
    headers.insert(
        HeaderName::from_static("x-total-pages"),
        HeaderValue::from(pages),
    );
    Ok(resp)
}

/// An e-mail clash (or a clash of the username derived from it) is Tyk's 400.
fn email_in_use(e: UpstreamError) -> TykError {
    if e.code == Code::AlreadyExists {
        TykError::bad_request(EMAIL_IN_USE)
    } else {
        TykError::upstream(&e)
    }
}

/// `POST /api/v1/users` → **201** `{"data":UserResponse}`. The username is the e-mail,
/// lower-cased; the password is optional (a user without one cannot log in with a password).
#[utoipa::path(
    post, path = "/api/v1/users", operation_id = "createUser", tag = "users", security(("BearerAuth" = [])), params(("Idempotency-Key" = Option<String>, Header, description = "Optional idempotency key (1-128 printable ASCII characters): a retry with the same key within 24 hours returns the first user instead of creating again")),
    request_body = UserInputEnvelope,
    responses(
        (status = 201, description = "The new user", body = crate::openapi::tyk::UserData),
        (status = 400, description = "Bad input", body = crate::openapi::tyk::ErrorBody),
        (status = 413, description = "Body over the size limit", body = crate::openapi::tyk::ErrorBody),
        crate::openapi::tyk::CommonErrors,
    )
)]
pub(crate) async fn create(
    State(st): State<AppState>,
    admin: TykAdmin,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<Data<UserResponse>>), TykError> {
    let request_id = crate::idempotency::key(&headers).map_err(TykError::bad_request)?;
    let input = UserInput::parse(read_payload(&st, &headers, body).await?)?;
    let email = input.email();
    if email.is_empty() {
        return Err(TykError::bad_request("email is required"));
    }
    let msg = pb::CreateUserRequest {
        username: email.to_lowercase(),
        email: Some(email),
        display_name: input.name.clone().unwrap_or_default(),
        password: input.password.clone().filter(|p| !p.is_empty()),
        global_role: input.global_role() as i32,
        email_verified: input.email_verified.unwrap_or(false),
        preferences: Some(input.preferences()),
        organization_id: None,
        organization_role: pb::OrganizationRole::Unspecified as i32,
        request_id,
    };
    let user = st
        .upstream
        .create_user(&admin.credential, msg)
        .await
        .map_err(email_in_use)?;
    Ok((
        StatusCode::CREATED,
        Json(Data {
            data: UserResponse::from(&user),
        }),
    ))
}

/// `GET /api/v1/users/{id}` → 200 `{"data":UserResponse}`; unknown → 404 "User not found".
#[utoipa::path(
    get, path = "/api/v1/users/{id}", operation_id = "getUser", tag = "users", security(("BearerAuth" = [])), params(("id" = u64, Path, description = "User id", example = 1)),
    responses(
        (status = 200, description = "The user", body = crate::openapi::tyk::UserData),
        (status = 400, description = "Invalid user id", body = crate::openapi::tyk::ErrorBody),
        (status = 404, description = "No such user", body = crate::openapi::tyk::ErrorBody),
        crate::openapi::tyk::CommonErrors,
    )
)]
pub(crate) async fn get(
    State(st): State<AppState>,
    admin: TykAdmin,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<Data<UserResponse>>, TykError> {
    let id = user_id(path)?;
    let user = st.upstream.get_user(&admin.credential, id).await?;
    Ok(Json(Data {
        data: UserResponse::from(&user),
    }))
}

/// Every attribute a Tyk PATCH replaces.
const REPLACED: [&str; 8] = [
    "email",
    "display_name",
    "global_role",
    "email_verified",
    "preferences.show_chat",
    "preferences.show_portal",
    "preferences.notifications_enabled",
    "preferences.access_to_sso_config",
];

/// `PATCH /api/v1/users/{id}` → 200: a full replace of the attributes, as Tyk does (absent
/// booleans become false, an empty e-mail clears it). The password and the username are not
/// changed. Unknown → 404 (Tyk: 500 "record not found").
#[utoipa::path(
    patch, path = "/api/v1/users/{id}", operation_id = "updateUser", tag = "users", security(("BearerAuth" = [])), params(("id" = u64, Path, description = "User id", example = 1)),
    request_body = UserInputEnvelope,
    responses(
        (status = 200, description = "The updated user", body = crate::openapi::tyk::UserData),
        (status = 400, description = "Invalid user id or input", body = crate::openapi::tyk::ErrorBody),
        (status = 404, description = "No such user", body = crate::openapi::tyk::ErrorBody),
        (status = 413, description = "Body over the size limit", body = crate::openapi::tyk::ErrorBody),
        crate::openapi::tyk::CommonErrors,
    )
)]
pub(crate) async fn update(
    State(st): State<AppState>,
    admin: TykAdmin,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Data<UserResponse>>, TykError> {
    let id = user_id(path)?;
    let input = UserInput::parse(read_payload(&st, &headers, body).await?)?;
    let email = input.email();
    let change = pb::UserUpdate {
        username: String::new(),
        email: (!email.is_empty()).then_some(email),
        display_name: input.name.clone().unwrap_or_default(),
        global_role: input.global_role() as i32,
        email_verified: input.email_verified.unwrap_or(false),
        preferences: Some(input.preferences()),
    };
    let msg = pb::UpdateUserRequest {
        user_id: id,
        user: Some(change),
        update_mask: Some(FieldMask {
            paths: REPLACED.iter().map(|p| (*p).to_owned()).collect(),
        }),
    };
    let user = st
        .upstream
        .update_user(&admin.credential, msg)
        .await
        .map_err(email_in_use)?;
    Ok(Json(Data {
        data: UserResponse::from(&user),
    }))
}

/// `DELETE /api/v1/users/{id}` → 204. User 1 → 403 "super admin user cannot be deleted"; the
/// caller itself and the last administrator → 403; unknown → 404 (Tyk: 500).
#[utoipa::path(
    delete, path = "/api/v1/users/{id}", operation_id = "deleteUser", tag = "users", security(("BearerAuth" = [])), params(("id" = u64, Path, description = "User id", example = 1)),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "Invalid user id", body = crate::openapi::tyk::ErrorBody),
        (status = 404, description = "No such user", body = crate::openapi::tyk::ErrorBody),
        crate::openapi::tyk::CommonErrors,
    )
)]
pub(crate) async fn delete(
    State(st): State<AppState>,
    admin: TykAdmin,
    path: Result<Path<String>, PathRejection>,
) -> Result<StatusCode, TykError> {
    let id = user_id(path)?;
    st.upstream.delete_user(&admin.credential, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/v1/users/{id}/roll-api-key` → 200 `{"data":UserResponse}` whose `api_key` is the
/// new key, shown this once. The user's previous primary key is revoked at once; keys made
/// through other dialects are untouched. Unknown → 404 (Tyk: 500 "record not found").
#[utoipa::path(
    post, path = "/api/v1/users/{id}/roll-api-key", operation_id = "rollUserAPIKey", tag = "users", security(("BearerAuth" = [])), params(("id" = u64, Path, description = "User id", example = 1)),
    responses(
        (status = 200, description = "The user with the new key in `api_key` (shown only here)", body = crate::openapi::tyk::UserData),
        (status = 400, description = "Invalid user id", body = crate::openapi::tyk::ErrorBody),
        (status = 404, description = "No such user", body = crate::openapi::tyk::ErrorBody),
        crate::openapi::tyk::CommonErrors,
    )
)]
pub(crate) async fn roll_api_key(
    State(st): State<AppState>,
    admin: TykAdmin,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<Data<UserResponse>>, TykError> {
    let id = user_id(path)?;
    // Read first: the caller may be rolling the very key it authenticated with.
    let user = st.upstream.get_user(&admin.credential, id).await?;
    let rolled = st
        .upstream
        .roll_primary_api_key(&admin.credential, id)
        .await?;
    Ok(Json(Data {
        data: UserResponse::new(&user, rolled.plaintext),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(q: &[(&str, &str)]) -> Result<ListParams, TykError> {
        let pairs: Vec<(String, String)> = q
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        ListParams::parse(&pairs)
    }

    #[test]
    fn list_params_defaults_and_sort() -> Result<(), TykError> {
        let p = params(&[])?;
        assert_eq!((p.page, p.page_size, p.all), (1, 10, false));
        assert_eq!(p.order_by, pb::UserOrderField::Id);
        let p = params(&[
            ("sort", "-email"),
            ("page", "3"),
            ("page_size", "5"),
            ("all", "true"),
        ])?;
        assert_eq!(
            (p.page, p.page_size, p.all, p.descending),
            (3, 5, true, true)
        );
        assert_eq!(p.order_by, pb::UserOrderField::Email);
        assert_eq!(
            params(&[("sort", "name")])?.order_by,
            pb::UserOrderField::DisplayName
        );
        Ok(())
    }

    #[test]
    fn bad_list_params_are_400() {
        for q in [
            [("page", "x")],
            [("page", "0")],
            [("page_size", "-1")],
            [("page_size", "1001")],
            [("sort", "password_hash")],
        ] {
            let s = params(&q).err().map(|e| e.status().as_u16());
            assert_eq!(s, Some(400), "{q:?}");
        }
    }
}
