//! `POST /api/auth`: log in with a username and a password.

use axum::{
    Json,
    body::Body,
    extract::State,
    response::{IntoResponse as _, Response},
};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use identity_api::pb;
use tonic::Code;

use super::{
    auth::AUTH_COOKIE,
    error::{PortainerError, UNAUTHORIZED},
    model::AuthenticateResponse,
    read_payload,
};
use crate::AppState;

/// Portainer's answer to wrong credentials (an unknown user looks the same).
fn invalid_credentials() -> PortainerError {
    PortainerError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "Invalid credentials",
        UNAUTHORIZED,
    )
}

/// `POST /api/auth` → 200 `{"jwt"}` and the `portainer_api_key` cookie; 422 on wrong credentials.
#[utoipa::path(
    post, path = "/api/auth", operation_id = "AuthenticateUser", tag = "auth",
    request_body = crate::openapi::portainer::AuthenticatePayload,
    responses(
        (status = 200, description = "Logged in; the JWT is also set as the `portainer_api_key` cookie", body = AuthenticateResponse),
        (status = 400, description = "Invalid request payload", body = crate::openapi::portainer::ErrorBody),
        (status = 403, description = "Too many attempts", body = crate::openapi::portainer::ErrorBody),
        (status = 413, description = "Body over the size limit", body = crate::openapi::portainer::ErrorBody),
        (status = 422, description = "Invalid credentials", body = crate::openapi::portainer::ErrorBody),
        crate::openapi::portainer::ServerErrors,
    )
)]
pub(crate) async fn authenticate(
    State(st): State<AppState>,
    extensions: http::Extensions,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, PortainerError> {
    // The socket peer, never a client-sent header: the server's per-source login limit.
    let client = extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip());
    let value = read_payload(&st, &headers, body).await?;
    let p = super::payload::Payload::object(&value, "auth.authenticatePayload")?;
    let username = p.string("username")?;
    let password = p.string("password")?;
    if username.is_empty() {
        return Err(PortainerError::invalid_payload("invalid username"));
    }
    if password.is_empty() {
        return Err(PortainerError::invalid_payload("invalid password"));
    }
    // Public: no credential is forwarded (the server would refuse a stale one even here).
    let login = st
        .upstream
        .login(
            pb::LoginRequest {
                identifier: username,
                password,
            },
            client,
        )
        .await
        .map_err(|e| {
            match e.code {
                // A login name the server refuses to look up (control characters) is a bad
                // payload, as Portainer answers a payload it cannot decode.
                Code::InvalidArgument if e.violates("identifier") => {
                    PortainerError::invalid_payload("invalid username")
                }
                // A password the server will not even look at (e.g. too long) is a wrong password too.
                Code::Unauthenticated | Code::InvalidArgument => invalid_credentials(),
                Code::Ok
                | Code::Cancelled
                | Code::Unknown
                | Code::DeadlineExceeded
                | Code::NotFound
                | Code::AlreadyExists
                | Code::PermissionDenied
                | Code::ResourceExhausted
                | Code::FailedPrecondition
                | Code::Aborted
                | Code::OutOfRange
                | Code::Unimplemented
                | Code::Internal
                | Code::Unavailable
                | Code::DataLoss => PortainerError::upstream(&e),
            }
        })?;
    let pb::LoginResponse {
        session_token,
        expires_at,
        user: _,
        force_change_password: _,
    } = login;
    let mut response = Json(AuthenticateResponse {
        jwt: session_token.clone(),
    })
    .into_response();
    // Portainer also sets the JWT as an HttpOnly, SameSite=Strict cookie that expires with it.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let max_age = expires_at.map_or(0, |t| {
        u64::try_from(t.seconds).unwrap_or(0).saturating_sub(now)
    });
    let cookie = format!(
        "{AUTH_COOKIE}={session_token}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Strict"
    );
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, v);
    }
    Ok(response)
}
