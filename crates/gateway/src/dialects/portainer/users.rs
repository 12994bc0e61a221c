//! `/api/users…`: the user routes of Portainer's UsersApi.

use axum::{
    Json,
    body::Body,
    extract::{
        Path, Query, State,
        rejection::{PathRejection, QueryRejection},
    },
};
use http::{HeaderMap, StatusCode};
use identity_api::pb;
use prost_types::FieldMask;

use super::{
    auth::PortainerAuth,
    error::{OBJECT_NOT_FOUND, PortainerError, RESOURCE_ACCESS_DENIED, UNAUTHORIZED},
    model::{CurrentUser, THEME_COLORS, TeamMembership, User, UserListItem},
    payload::Payload,
    read_payload, user_id,
};
use crate::{AppState, status::reason};

/// Most users `GET /api/users` returns; the list is built in memory, so it is bounded.
pub(crate) const MAX_LISTED_USERS: usize = 10_000;
/// Page size used to walk ListUsers (the server's maximum).
const PAGE_SIZE: i32 = 100;

/// `GET /api/users/me` → the caller, plus `forceChangePassword`.
#[utoipa::path(
    get, path = "/api/users/me", operation_id = "CurrentUserInspect", tag = "users", security(("jwt" = []), ("ApiKeyAuth" = [])),
    responses(
        (status = 200, description = "The caller", body = CurrentUser),
        crate::openapi::portainer::AuthErrors,
        crate::openapi::portainer::ServerErrors,
    )
)]
pub(crate) async fn me(
    State(st): State<AppState>,
    auth: PortainerAuth,
) -> Result<Json<CurrentUser>, PortainerError> {
    let cred = auth.credential()?;
    let principal = st.upstream.who_am_i(&cred).await?;
    let user = principal
        .user
        .as_ref()
        .ok_or_else(PortainerError::user_not_found)?;
    Ok(Json(CurrentUser {
        user: User::from(user),
        force_change_password: principal.force_change_password,
    }))
}

/// `GET /api/users` → `[{Id, Username, Role}]`: administrators see everyone, team leaders the
/// standard users, others get 403.
#[utoipa::path(
    get, path = "/api/users", operation_id = "UserList", tag = "users", security(("jwt" = []), ("ApiKeyAuth" = [])),
    params(("environmentId" = Option<i64>, Query, description = "Only users with access to this environment; this service has none, so any id but 0 is 404")),
    responses(
        (status = 200, description = "Users (at most 10000), each with Id, Username and Role only", body = Vec<UserListItem>),
        (status = 404, description = "Unknown environment", body = crate::openapi::portainer::ErrorBody),
        crate::openapi::portainer::AuthErrors,
        crate::openapi::portainer::ServerErrors,
    )
)]
pub(crate) async fn list(
    State(st): State<AppState>,
    auth: PortainerAuth,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Json<Vec<UserListItem>>, PortainerError> {
    let cred = auth.credential()?;
    // Portainer ignores a non-numeric `environmentId` (it reads as 0 = no filter). This service
    // has no environments, so any other id names one that does not exist.
    let environment = query
        .ok()
        .and_then(|q| q.0.into_iter().find(|(k, _)| k == "environmentId"))
        .and_then(|(_, v)| v.parse::<i64>().ok())
        .unwrap_or(0);
    if environment != 0 {
        return Err(PortainerError::new(
            StatusCode::NOT_FOUND,
            "Unable to find an environment with the specified identifier inside the database",
            OBJECT_NOT_FOUND,
        ));
    }
    let mut users = Vec::new();
    let mut page_token = String::new();
    loop {
        let msg = pb::ListUsersRequest {
            page_size: PAGE_SIZE,
            page_token,
            emails: Vec::new(),
            username: None,
            search: None,
            order_by: pb::UserOrderField::Unspecified as i32,
            descending: false,
            offset: 0,
            include_total_count: false,
        };
        let page = st
            .upstream
            .list_users(&cred, msg)
            .await
            .map_err(|e| match e.reason() {
                reason::ADMIN_ONLY => PortainerError::forbidden(
                    "Permission denied to access users list",
                    RESOURCE_ACCESS_DENIED,
                ),
                _ => PortainerError::upstream(&e),
            })?;
        users.extend(page.users.iter().map(UserListItem::from));
        if users.len() >= MAX_LISTED_USERS {
            if !page.next_page_token.is_empty() || users.len() > MAX_LISTED_USERS {
                tracing::warn!(limit = MAX_LISTED_USERS, "user list truncated");
            }
            users.truncate(MAX_LISTED_USERS);
            break;
        }
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    Ok(Json(users))
}

/// `POST /api/users` (administrators) → 200 `User`; the username is stored lower-cased.
#[utoipa::path(
    post, path = "/api/users", operation_id = "UserCreate", tag = "users", security(("jwt" = []), ("ApiKeyAuth" = [])), params(("Idempotency-Key" = Option<String>, Header, description = "Optional idempotency key (1-128 printable ASCII characters): a retry with the same key within 24 hours returns the first result instead of creating again")),
    request_body = crate::openapi::portainer::UserCreatePayload,
    responses(
        (status = 200, description = "The new user", body = User),
        (status = 400, description = "Invalid request payload or weak password", body = crate::openapi::portainer::ErrorBody),
        (status = 409, description = "Username taken", body = crate::openapi::portainer::ErrorBody),
        (status = 413, description = "Body over the size limit", body = crate::openapi::portainer::ErrorBody),
        crate::openapi::portainer::AuthErrors,
        crate::openapi::portainer::ServerErrors,
    )
)]
pub(crate) async fn create(
    State(st): State<AppState>,
    auth: PortainerAuth,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<User>, PortainerError> {
    let cred = auth.credential()?;
    let request_id = crate::idempotency::key(&headers).map_err(PortainerError::invalid_payload)?;
    let value = read_payload(&st, &headers, body).await?;
    let p = Payload::object(&value, "users.userCreatePayload")?;
    let username = p.string("username")?;
    let password = p.string("password")?;
    let role = p.int("role")?;
    if username.is_empty() || username.contains(char::is_whitespace) {
        return Err(PortainerError::invalid_payload(
            "Invalid username. Must not contain any whitespace",
        ));
    }
    let global_role = match role {
        1 => pb::GlobalRole::Administrator,
        2 => pb::GlobalRole::Standard,
        _ => {
            return Err(PortainerError::invalid_payload(
                "Invalid role value. Value must be one of: 1 (administrator) or 2 (regular user)",
            ));
        }
    };
    let msg = pb::CreateUserRequest {
        username,
        email: None,
        display_name: String::new(),
        // Always sent, even empty: Portainer's strength check refuses an empty password (400),
        // it never creates a password-less internal user.
        password: Some(password),
        global_role: global_role as i32,
        email_verified: false,
        preferences: None,
        organization_id: None,
        organization_role: pb::OrganizationRole::Unspecified as i32,
        request_id,
    };
    let user = st.upstream.create_user(&cred, msg).await?;
    Ok(Json(User::from(&user)))
}

/// `GET /api/users/{id}` → 200 `User`; self or administrator.
#[utoipa::path(
    get, path = "/api/users/{id}", operation_id = "UserInspect", tag = "users", security(("jwt" = []), ("ApiKeyAuth" = [])), params(("id" = i64, Path, description = "User identifier", example = 1)),
    responses(
        (status = 200, description = "The user", body = User),
        (status = 400, description = "Invalid user identifier", body = crate::openapi::portainer::ErrorBody),
        (status = 404, description = "No such user", body = crate::openapi::portainer::ErrorBody),
        crate::openapi::portainer::AuthErrors,
        crate::openapi::portainer::ServerErrors,
    )
)]
pub(crate) async fn inspect(
    State(st): State<AppState>,
    auth: PortainerAuth,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<User>, PortainerError> {
    let cred = auth.credential()?;
    let id = user_id(path)?;
    let user = st
        .upstream
        .get_user(&cred, id)
        .await
        .map_err(|e| match e.reason() {
            reason::NOT_RESOURCE_OWNER => {
                PortainerError::forbidden("Permission denied inspect user", RESOURCE_ACCESS_DENIED)
            }
            _ => PortainerError::upstream(&e),
        })?;
    Ok(Json(User::from(&user)))
}

/// `DELETE /api/users/{id}` (administrators) → 204. User 1, the caller itself and the last
/// administrator are refused with 403.
#[utoipa::path(
    delete, path = "/api/users/{id}", operation_id = "UserDelete", tag = "users", security(("jwt" = []), ("ApiKeyAuth" = [])), params(("id" = i64, Path, description = "User identifier", example = 1)),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "Invalid user identifier", body = crate::openapi::portainer::ErrorBody),
        (status = 404, description = "No such user", body = crate::openapi::portainer::ErrorBody),
        crate::openapi::portainer::AuthErrors,
        crate::openapi::portainer::ServerErrors,
    )
)]
pub(crate) async fn delete(
    State(st): State<AppState>,
    auth: PortainerAuth,
    path: Result<Path<String>, PathRejection>,
) -> Result<StatusCode, PortainerError> {
    let cred = auth.credential()?;
    let id = user_id(path)?;
    st.upstream.delete_user(&cred, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/users/{id}/memberships` → `[TeamMembership]`; self or administrator.
#[utoipa::path(
    get, path = "/api/users/{id}/memberships", operation_id = "UserMembershipsInspect", tag = "users", security(("jwt" = []), ("ApiKeyAuth" = [])), params(("id" = i64, Path, description = "User identifier", example = 1)),
    responses(
        (status = 200, description = "The user's team memberships (empty for an unknown user)", body = Vec<TeamMembership>),
        (status = 400, description = "Invalid user identifier", body = crate::openapi::portainer::ErrorBody),
        crate::openapi::portainer::AuthErrors,
        crate::openapi::portainer::ServerErrors,
    )
)]
pub(crate) async fn memberships(
    State(st): State<AppState>,
    auth: PortainerAuth,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<Vec<TeamMembership>>, PortainerError> {
    let cred = auth.credential()?;
    let id = user_id(path)?;
    match st.upstream.user_team_memberships(&cred, id).await {
        Ok(list) => Ok(Json(list.iter().map(TeamMembership::from).collect())),
        // Portainer lists memberships by user id without loading the user: an unknown id has none.
        Err(e) if e.reason() == reason::USER_NOT_FOUND => Ok(Json(Vec::new())),
        Err(e) if e.reason() == reason::NOT_RESOURCE_OWNER => Err(PortainerError::forbidden(
            "Permission denied to update user memberships",
            UNAUTHORIZED,
        )),
        Err(e) => Err(PortainerError::upstream(&e)),
    }
}

fn not_owner_update() -> PortainerError {
    PortainerError::forbidden("Permission denied to update user", UNAUTHORIZED)
}

/// What `PUT /api/users/{id}` asks for, validated as Portainer's `userUpdatePayload.Validate`.
struct UpdatePayload {
    username: String,
    password: String,
    new_password: String,
    role: Option<pb::GlobalRole>,
    theme_color: Option<String>,
    use_cache: Option<bool>,
}

impl UpdatePayload {
    fn parse(p: &Payload<'_>) -> Result<Self, PortainerError> {
        let username = p.string("username")?;
        let password = p.string("password")?;
        let new_password = p.string("newPassword")?;
        let role = p.int("role")?;
        let use_cache = p.opt_bool("useCache")?;
        let theme_color = match p.opt_object("theme", "users.themePayload")? {
            Some(theme) => theme.opt_string("color")?,
            None => None,
        };
        if username.contains(char::is_whitespace) {
            return Err(PortainerError::invalid_payload(
                "invalid username. Must not contain any whitespace",
            ));
        }
        let role = match role {
            0 => None,
            1 => Some(pb::GlobalRole::Administrator),
            2 => Some(pb::GlobalRole::Standard),
            _ => {
                return Err(PortainerError::invalid_payload(
                    "invalid role value. Value must be one of: 1 (administrator) or 2 (regular user)",
                ));
            }
        };
        if let Some(c) = &theme_color
            && !THEME_COLORS.contains(&c.as_str())
        {
            return Err(PortainerError::invalid_payload(
                "invalid theme color. Value must be one of: dark, light, highcontrast, auto",
            ));
        }
        if !password.is_empty() && new_password.is_empty() {
            return Err(PortainerError::new(
                StatusCode::BAD_REQUEST,
                "Invalid payload",
                "Invalid password payload",
            ));
        }
        Ok(Self {
            username,
            password,
            new_password,
            role,
            theme_color,
            use_cache,
        })
    }
}

/// `PUT /api/users/{id}` → 200 `User`. Every field is optional (empty string / role 0 / absent
/// means unchanged). Username and role changes are for administrators; a new password needs the
/// current one unless the caller is an administrator.
#[utoipa::path(
    put, path = "/api/users/{id}", operation_id = "UserUpdate", tag = "users", security(("jwt" = []), ("ApiKeyAuth" = [])), params(("id" = i64, Path, description = "User identifier", example = 1)),
    request_body = crate::openapi::portainer::UserUpdatePayload,
    responses(
        (status = 200, description = "The updated user", body = User),
        (status = 400, description = "Invalid user identifier or payload", body = crate::openapi::portainer::ErrorBody),
        (status = 404, description = "No such user", body = crate::openapi::portainer::ErrorBody),
        (status = 409, description = "Username taken", body = crate::openapi::portainer::ErrorBody),
        (status = 413, description = "Body over the size limit", body = crate::openapi::portainer::ErrorBody),
        crate::openapi::portainer::AuthErrors,
        crate::openapi::portainer::ServerErrors,
    )
)]
pub(crate) async fn update(
    State(st): State<AppState>,
    auth: PortainerAuth,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<User>, PortainerError> {
    let cred = auth.credential()?;
    let id = user_id(path)?;
    let value = read_payload(&st, &headers, body).await?;
    let payload = UpdatePayload::parse(&Payload::object(&value, "users.userUpdatePayload")?)?;

    let current = st
        .upstream
        .get_user(&cred, id)
        .await
        .map_err(|e| match e.reason() {
            reason::NOT_RESOURCE_OWNER => not_owner_update(),
            _ => PortainerError::upstream(&e),
        })?;

    let UpdatePayload {
        username,
        password,
        new_password,
        role,
        theme_color,
        use_cache,
    } = payload;
    let mut paths = Vec::new();
    let mut change = pb::UserUpdate {
        username: String::new(),
        email: None,
        display_name: String::new(),
        global_role: pb::GlobalRole::Unspecified as i32,
        email_verified: false,
        preferences: Some(pb::Preferences::default()),
    };
    // Portainer compares the username case-sensitively; only a different one is a rename.
    let renames = !username.is_empty() && username != current.username;
    if renames {
        paths.push("username".to_owned());
        change.username = username;
    }
    if let Some(r) = role {
        paths.push("global_role".to_owned());
        change.global_role = r as i32;
    }
    if let Some(prefs) = change.preferences.as_mut() {
        if let Some(c) = theme_color {
            paths.push("preferences.theme_color".to_owned());
            prefs.theme_color = c;
        }
        if let Some(u) = use_cache {
            paths.push("preferences.use_cache".to_owned());
            prefs.use_cache = u;
        }
    }

    // Attributes first, password last: a password change ends the caller's own session, so
    // nothing may be sent with that session after it.
    let mut user = if paths.is_empty() {
        current
    } else {
        let msg = pb::UpdateUserRequest {
            user_id: id,
            user: Some(change),
            update_mask: Some(FieldMask { paths }),
        };
        st.upstream
            .update_user(&cred, msg)
            .await
            .map_err(|e| match e.reason() {
                reason::ADMIN_ONLY if renames => PortainerError::forbidden(
                    "Permission denied. Unable to update username",
                    UNAUTHORIZED,
                ),
                reason::ADMIN_ONLY => PortainerError::forbidden(
                    "Permission denied. Unable to update user role",
                    UNAUTHORIZED,
                ),
                reason::NOT_RESOURCE_OWNER => not_owner_update(),
                reason::LAST_ADMINISTRATOR => {
                    let m = "Cannot demote the last administrator account";
                    PortainerError::forbidden(m, m)
                }
                _ => PortainerError::upstream(&e),
            })?
    };

    if !new_password.is_empty() {
        let msg = pb::ChangePasswordRequest {
            user_id: id,
            // Administrators may leave it empty; when given, the server checks it.
            current_password: (!password.is_empty()).then_some(password),
            new_password,
        };
        let changed = st.upstream.change_password(&cred, msg).await.map_err(|e| {
            if e.violates("current_password") {
                // A non-administrator without the current password: Portainer compares "" and fails.
                PortainerError::wrong_current_password()
            } else {
                match e.reason() {
                    reason::NOT_RESOURCE_OWNER => not_owner_update(),
                    _ => PortainerError::upstream(&e),
                }
            }
        })?;
        // The server moved `token_issued_at`; report the user as it is now.
        if let Some(changed) = changed {
            user = changed;
        }
    }
    Ok(Json(User::from(&user)))
}

/// `PUT /api/users/{id}/passwd` → 204. The current password is always required and checked, even
/// for administrators.
#[utoipa::path(
    put, path = "/api/users/{id}/passwd", operation_id = "UserUpdatePassword", tag = "users", security(("jwt" = []), ("ApiKeyAuth" = [])), params(("id" = i64, Path, description = "User identifier", example = 1)),
    request_body = crate::openapi::portainer::UserUpdatePasswordPayload,
    responses(
        (status = 204, description = "Password changed"),
        (status = 400, description = "Invalid user identifier or payload, or weak password", body = crate::openapi::portainer::ErrorBody),
        (status = 404, description = "No such user", body = crate::openapi::portainer::ErrorBody),
        (status = 413, description = "Body over the size limit", body = crate::openapi::portainer::ErrorBody),
        crate::openapi::portainer::AuthErrors,
        crate::openapi::portainer::ServerErrors,
    )
)]
pub(crate) async fn update_password(
    State(st): State<AppState>,
    auth: PortainerAuth,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Body,
) -> Result<StatusCode, PortainerError> {
    let cred = auth.credential()?;
    let id = user_id(path)?;
    let value = read_payload(&st, &headers, body).await?;
    let p = Payload::object(&value, "users.userUpdatePasswordPayload")?;
    let password = p.string("password")?;
    let new_password = p.string("newPassword")?;
    if password.is_empty() {
        return Err(PortainerError::invalid_payload("invalid current password"));
    }
    if new_password.is_empty() {
        return Err(PortainerError::invalid_payload("invalid new password"));
    }
    let msg = pb::ChangePasswordRequest {
        user_id: id,
        current_password: Some(password),
        new_password,
    };
    st.upstream.change_password(&cred, msg).await.map_err(|e| {
        let wrong = || {
            PortainerError::forbidden(
                "Specified password do not match actual password",
                UNAUTHORIZED,
            )
        };
        if e.violates("current_password") {
            return wrong();
        }
        match e.reason() {
            reason::WRONG_PASSWORD => wrong(),
            reason::NOT_RESOURCE_OWNER => not_owner_update(),
            _ => PortainerError::upstream(&e),
        }
    })?;
    Ok(StatusCode::NO_CONTENT)
}
