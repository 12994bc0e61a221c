//! Portainer's error envelope: `{"message": …, "details": …}` (`pkg/libhttp/error`).
//!
//! Built from the gRPC code, the `ErrorInfo` reason and the `BadRequest` field violations only.
//! Handlers override [`PortainerError::upstream`] where Portainer words one error differently on
//! one route (e.g. `NOT_RESOURCE_OWNER` is "Permission denied inspect user" on `GET /users/{id}`).

use axum::{
    Json,
    response::{IntoResponse, Response},
};
use http::StatusCode;
use serde::Serialize;
use tonic::Code;

use crate::{
    body::BodyError,
    status::{UpstreamError, reason},
};

/// Portainer's `details` for a refused credential or a refused non-owner (`httperrors.ErrUnauthorized`).
pub(crate) const UNAUTHORIZED: &str = "Unauthorized";
/// Portainer's `details` for a resource the caller may not see (`httperrors.ErrResourceAccessDenied`).
pub(crate) const RESOURCE_ACCESS_DENIED: &str = "Access denied to resource";
/// Portainer's `details` for a missing object (`dserrors.ErrObjectNotFound`, capitalised).
pub(crate) const OBJECT_NOT_FOUND: &str = "Object not found inside the database";
/// Portainer's message for an unknown user id.
pub(crate) const USER_NOT_FOUND: &str =
    "Unable to find a user with the specified identifier inside the database";

/// An error answer in Portainer's envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortainerError {
    status: StatusCode,
    message: String,
    details: String,
}

#[derive(Serialize)]
struct Envelope<'a> {
    #[serde(skip_serializing_if = "str::is_empty")]
    message: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    details: &'a str,
}

/// Go's `libhttp/error` upper-cases the first letter of the inner error's text.
fn capitalise(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

impl PortainerError {
    /// An error with `status`, `message` and `details` (capitalised like Portainer does).
    pub(crate) fn new(status: StatusCode, message: &str, details: &str) -> Self {
        Self {
            status,
            message: message.to_owned(),
            details: capitalise(details),
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The `message` field.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The `details` field.
    pub fn details(&self) -> &str {
        &self.details
    }

    /// 401: no credential at all (bouncer).
    pub(crate) fn missing_token() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "A valid authorization token is missing",
            UNAUTHORIZED,
        )
    }

    /// 401: a credential the server refused; Portainer says the same for bad JWTs and bad keys.
    pub(crate) fn invalid_token() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "Invalid JWT token", UNAUTHORIZED)
    }

    /// 403: a non-administrator on an administrator route (bouncer).
    pub(crate) fn access_denied() -> Self {
        Self::new(StatusCode::FORBIDDEN, "Access denied", UNAUTHORIZED)
    }

    /// 403 with a route-specific message.
    pub(crate) fn forbidden(message: &str, details: &str) -> Self {
        Self::new(StatusCode::FORBIDDEN, message, details)
    }

    /// 400 "Invalid request payload" with the decoder's or validator's text.
    pub(crate) fn invalid_payload(details: &str) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "Invalid request payload", details)
    }

    /// 400: the password strength check failed (Portainer has no inner error here, so `details`
    /// repeats the message).
    pub(crate) fn weak_password() -> Self {
        let m = "Password does not meet the requirements";
        Self::new(StatusCode::BAD_REQUEST, m, m)
    }

    /// 403: the current password given does not match.
    pub(crate) fn wrong_current_password() -> Self {
        Self::forbidden(
            "Current password doesn't match",
            "Current password does not match the password provided. Please try again",
        )
    }

    /// 500 without any detail.
    pub(crate) fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Internal server error",
            "Something went wrong",
        )
    }

    /// 404 for an unknown user id.
    pub(crate) fn user_not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, USER_NOT_FOUND, OBJECT_NOT_FOUND)
    }

    /// 400 for a route variable that is not a number, worded like Portainer
    /// (`RetrieveNumericRouteVariableValue` → `strconv.Atoi`).
    pub(crate) fn invalid_route_variable(message: &str, raw: &str) -> Self {
        let why = if !raw.is_empty()
            && raw
                .trim_start_matches(['-', '+'])
                .bytes()
                .all(|b| b.is_ascii_digit())
        {
            "value out of range"
        } else {
            "invalid syntax"
        };
        Self::new(
            StatusCode::BAD_REQUEST,
            message,
            &format!("strconv.Atoi: parsing {raw:?}: {why}"),
        )
    }

    /// A body that could not be read.
    pub(crate) fn from_body(e: BodyError) -> Self {
        match e {
            BodyError::TooLarge { limit } => Self::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "Invalid request payload",
                &format!("request body is larger than {limit} bytes"),
            ),
            BodyError::ContentType(ct) => Self::invalid_payload(&format!(
                "unsupported content type {ct:?}; expected application/json"
            )),
            BodyError::Invalid(text) => Self::invalid_payload(&text),
        }
    }

    /// The default translation of a failed upstream call.
    pub(crate) fn upstream(e: &UpstreamError) -> Self {
        let r = e.reason();
        match e.code {
            Code::InvalidArgument => {
                // The only rule Portainer reports on passwords is its strength check.
                if e.violates("password") || e.violates("new_password") {
                    return Self::weak_password();
                }
                let details = e
                    .violations
                    .first()
                    .map(|v| format!("{}: {}", v.field, v.description))
                    .unwrap_or_else(|| e.message.clone());
                Self::invalid_payload(&details)
            }
            Code::NotFound => match r {
                reason::USER_NOT_FOUND => Self::user_not_found(),
                reason::API_KEY_NOT_FOUND => {
                    Self::new(StatusCode::NOT_FOUND, "API Key not found", OBJECT_NOT_FOUND)
                }
                _ => Self::new(StatusCode::NOT_FOUND, OBJECT_NOT_FOUND, OBJECT_NOT_FOUND),
            },
            Code::AlreadyExists => match r {
                reason::USER_USERNAME_TAKEN => Self::new(
                    StatusCode::CONFLICT,
                    "Another user with the same username already exists",
                    "User already exists",
                ),
                reason::ADMINISTRATOR_SETUP_TAKEN => Self::new(
                    StatusCode::CONFLICT,
                    "Unable to create administrator user",
                    "An administrator user already exists",
                ),
                _ => Self::new(StatusCode::CONFLICT, "Object already exists", &e.message),
            },
            Code::PermissionDenied => match r {
                reason::ADMIN_ONLY => Self::access_denied(),
                reason::WRONG_PASSWORD => Self::wrong_current_password(),
                _ => Self::forbidden("Access denied", RESOURCE_ACCESS_DENIED),
            },
            Code::Unauthenticated => Self::invalid_token(),
            Code::FailedPrecondition => match r {
                reason::BOOTSTRAP_ADMIN_PROTECTED => {
                    let m = "Cannot remove the initial admin account";
                    Self::forbidden(m, m)
                }
                reason::SELF_DELETE_FORBIDDEN => {
                    let m = "Cannot remove your own user account. Contact another administrator";
                    Self::forbidden(m, m)
                }
                reason::LAST_ADMINISTRATOR => {
                    let m = "Cannot remove the last administrator account";
                    Self::forbidden(m, m)
                }
                _ => Self::new(e.http_status(), "Invalid request", &e.message),
            },
            // Portainer answers its rate-limit ban with this 403.
            Code::ResourceExhausted => Self::forbidden("Access denied", RESOURCE_ACCESS_DENIED),
            Code::Unavailable => Self::new(
                e.http_status(),
                "Service unavailable",
                "The identity service is unavailable; retry later",
            ),
            Code::DeadlineExceeded => Self::new(
                e.http_status(),
                "Gateway timeout",
                "The identity service did not answer in time",
            ),
            Code::Cancelled => Self::new(e.http_status(), "Request cancelled", "Request cancelled"),
            Code::Aborted => Self::new(
                e.http_status(),
                "Conflict",
                "The request conflicted with another; retry",
            ),
            Code::OutOfRange => Self::invalid_payload(&e.message),
            Code::Unimplemented => Self::new(e.http_status(), "Not implemented", "Not implemented"),
            // Opaque: the server never puts internal causes in its message, and neither do we.
            Code::Ok | Code::Unknown | Code::Internal | Code::DataLoss => Self::internal(),
        }
    }
}

impl From<UpstreamError> for PortainerError {
    fn from(e: UpstreamError) -> Self {
        Self::upstream(&e)
    }
}

impl From<BodyError> for PortainerError {
    fn from(e: BodyError) -> Self {
        Self::from_body(e)
    }
}

impl IntoResponse for PortainerError {
    fn into_response(self) -> Response {
        let body = Envelope {
            message: &self.message,
            details: &self.details,
        };
        (self.status, Json(body)).into_response()
    }
}

#[cfg(test)]
mod tests {
    use http_body_util::BodyExt as _;

    use super::*;
    use crate::status::FieldViolation;

    fn upstream(code: Code, reason: &str) -> UpstreamError {
        UpstreamError {
            reason: Some(reason.to_owned()),
            ..UpstreamError::new(code, "server text")
        }
    }

    async fn body_of(e: PortainerError) -> (StatusCode, serde_json::Value) {
        let resp = e.into_response();
        let status = resp.status();
        assert_eq!(
            resp.headers()
                .get(http::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok()),
            Some("application/json")
        );
        let bytes = resp
            .into_body()
            .collect()
            .await
            .map(|c| c.to_bytes())
            .unwrap_or_default();
        (status, serde_json::from_slice(&bytes).unwrap_or_default())
    }

    #[tokio::test]
    async fn envelope_has_message_and_details() {
        let (status, body) = body_of(PortainerError::missing_token()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(
            body,
            serde_json::json!({"message":"A valid authorization token is missing","details":"Unauthorized"})
        );
    }

    #[test]
    fn details_are_capitalised_like_go() {
        let e = PortainerError::invalid_payload("invalid username");
        assert_eq!(e.details(), "Invalid username");
        let e =
            PortainerError::invalid_route_variable("Invalid user identifier route variable", "abc");
        assert_eq!(e.status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            e.details(),
            r#"Strconv.Atoi: parsing "abc": invalid syntax"#
        );
        let e = PortainerError::invalid_route_variable("m", "99999999999999999999");
        assert!(e.details().ends_with("value out of range"));
    }

    #[test]
    fn reasons_pick_portainer_answers() {
        let cases = [
            (
                Code::Unauthenticated,
                reason::UNAUTHENTICATED,
                401,
                "Invalid JWT token",
            ),
            (
                Code::PermissionDenied,
                reason::ADMIN_ONLY,
                403,
                "Access denied",
            ),
            (
                Code::PermissionDenied,
                reason::WRONG_PASSWORD,
                403,
                "Current password doesn't match",
            ),
            (Code::NotFound, reason::USER_NOT_FOUND, 404, USER_NOT_FOUND),
            (
                Code::NotFound,
                reason::API_KEY_NOT_FOUND,
                404,
                "API Key not found",
            ),
            (
                Code::AlreadyExists,
                reason::USER_USERNAME_TAKEN,
                409,
                "Another user with the same username already exists",
            ),
            (
                Code::AlreadyExists,
                reason::ADMINISTRATOR_SETUP_TAKEN,
                409,
                "Unable to create administrator user",
            ),
            (
                Code::FailedPrecondition,
                reason::BOOTSTRAP_ADMIN_PROTECTED,
                403,
                "Cannot remove the initial admin account",
            ),
            (
                Code::FailedPrecondition,
                reason::SELF_DELETE_FORBIDDEN,
                403,
                "Cannot remove your own user account. Contact another administrator",
            ),
            (
                Code::FailedPrecondition,
                reason::LAST_ADMINISTRATOR,
                403,
                "Cannot remove the last administrator account",
            ),
            (
                Code::ResourceExhausted,
                "RATE_LIMITED",
                403,
                "Access denied",
            ),
            (Code::Unavailable, "", 503, "Service unavailable"),
            (Code::DeadlineExceeded, "", 504, "Gateway timeout"),
            (Code::Internal, "INTERNAL", 500, "Internal server error"),
        ];
        for (code, r, status, message) in cases {
            let e = PortainerError::upstream(&upstream(code, r));
            assert_eq!(
                (e.status().as_u16(), e.message()),
                (status, message),
                "{code:?} {r}"
            );
        }
    }

    #[test]
    fn a_password_violation_is_the_strength_check() {
        let mut e = upstream(Code::InvalidArgument, reason::INVALID_ARGUMENT);
        e.violations.push(FieldViolation {
            field: "new_password".into(),
            description: "too short".into(),
        });
        let p = PortainerError::upstream(&e);
        assert_eq!(p.status(), StatusCode::BAD_REQUEST);
        assert_eq!(p.message(), "Password does not meet the requirements");
        assert_eq!(p.details(), "Password does not meet the requirements");

        let mut e = upstream(Code::InvalidArgument, reason::INVALID_ARGUMENT);
        e.violations.push(FieldViolation {
            field: "username".into(),
            description: "must not be empty".into(),
        });
        let p = PortainerError::upstream(&e);
        assert_eq!(
            (p.message(), p.details()),
            ("Invalid request payload", "Username: must not be empty")
        );
    }

    #[test]
    fn internal_text_never_leaks() {
        let p =
            PortainerError::upstream(&UpstreamError::new(Code::Internal, "db password=hunter2"));
        assert!(!p.details().contains("hunter2") && !p.message().contains("hunter2"));
    }
}
