//! `GET /api/users/admin/check` and `POST /api/users/admin/init` (both public).

use axum::{Json, body::Body, extract::State};
use http::{HeaderMap, StatusCode};
use identity_api::pb;

use super::{
    error::{OBJECT_NOT_FOUND, PortainerError},
    model::User,
    payload::Payload,
    read_payload,
};
use crate::AppState;

/// `GET /api/users/admin/check` → 204 when an administrator exists, else 404.
#[utoipa::path(
    get, path = "/api/users/admin/check", operation_id = "UserAdminCheck", tag = "users",
    responses(
        (status = 204, description = "An administrator exists"),
        (status = 404, description = "No administrator yet", body = crate::openapi::portainer::ErrorBody),
        crate::openapi::portainer::ServerErrors,
    )
)]
pub(crate) async fn check(State(st): State<AppState>) -> Result<StatusCode, PortainerError> {
    let state = st.upstream.setup_state().await?;
    if state.admin_exists {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(PortainerError::new(
            StatusCode::NOT_FOUND,
            "No administrator account found inside the database",
            OBJECT_NOT_FOUND,
        ))
    }
}

/// `POST /api/users/admin/init` → 200 `User` (without any password field); 409 once an
/// administrator exists, which wins over a weak password as in Portainer.
#[utoipa::path(
    post, path = "/api/users/admin/init", operation_id = "UserAdminInit", tag = "users",
    request_body = crate::openapi::portainer::AdminInitPayload,
    responses(
        (status = 200, description = "The administrator (never with a password field)", body = User),
        (status = 400, description = "Invalid request payload or weak password", body = crate::openapi::portainer::ErrorBody),
        (status = 409, description = "An administrator already exists", body = crate::openapi::portainer::ErrorBody),
        (status = 413, description = "Body over the size limit", body = crate::openapi::portainer::ErrorBody),
        crate::openapi::portainer::ServerErrors,
    )
)]
pub(crate) async fn init(
    State(st): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<User>, PortainerError> {
    let value = read_payload(&st, &headers, body).await?;
    let p = Payload::object(&value, "users.adminInitPayload")?;
    let username = p.string("username")?;
    let password = p.string("password")?;
    if username.is_empty() || username.contains(char::is_whitespace) {
        return Err(PortainerError::invalid_payload(
            "Invalid username. Must not contain any whitespace",
        ));
    }
    if password.is_empty() {
        return Err(PortainerError::invalid_payload("Invalid password"));
    }
    let msg = pb::InitAdminRequest {
        username,
        password,
        email: None,
        display_name: String::new(),
        organization_name: String::new(),
    };
    let user = st.upstream.init_admin(msg).await?;
    Ok(Json(User::from(&user)))
}
