//! Trieve's error envelope: `{"message": …}` (`ErrorResponseBody`, Trieve's `ServiceError`).
//!
//! Built from the gRPC code, the `ErrorInfo` reason and the `BadRequest` field violations only;
//! the status starts from the one code map in [`crate::status`] and is changed only where Trieve
//! answers differently (its role rules are 400s, not 403s). Handlers override
//! [`TrieveError::upstream`] where Trieve words an error differently on one route.

use axum::{
    Json,
    response::{IntoResponse, Response},
};
use http::StatusCode;
use serde::Serialize;
use tonic::Code;

use crate::{body::BodyError, status::UpstreamError};

/// `ErrorInfo.reason` values only this dialect reacts to (see `identity-core`'s `Error::reason`).
pub(crate) mod reasons {
    /// The caller's role is too low for the change.
    pub(crate) const ROLE_TOO_LOW: &str = "ROLE_TOO_LOW";
    /// The caller is not a member of the organization.
    pub(crate) const NOT_A_MEMBER: &str = "NOT_A_MEMBER";
    /// The credential is bound or restricted to other organizations.
    pub(crate) const ORGANIZATION_SCOPE: &str = "ORGANIZATION_SCOPE";
    /// The organization does not exist (or the caller may not see it).
    pub(crate) const ORGANIZATION_NOT_FOUND: &str = "ORGANIZATION_NOT_FOUND";
    /// The target user is not a member of the organization.
    pub(crate) const TARGET_NOT_A_MEMBER: &str = "TARGET_NOT_A_MEMBER";
    /// The last owner of an organization cannot be demoted.
    pub(crate) const LAST_OWNER: &str = "LAST_OWNER";
}

/// Trieve's message when the caller asks for more than its own role.
pub(crate) const HIGHER_ROLE: &str =
    "Can not grant a user a higher role than that of the requesting user's";
/// Trieve's message when a member (role 0) tries to change someone else.
pub(crate) const ADMIN_NEEDED: &str = "You must have an admin or owner role to update other users";
/// Trieve's message when the target user is not in the organization.
pub(crate) const TARGET_NOT_IN_ORG: &str = "The user who you would like to update the role of must be added to the specified org first before their role can be updated";
/// Trieve's message (generation A) when the caller is not in the organization named in the body.
pub(crate) const NOT_IN_ORG: &str = "You are not a member of this organization";
/// Trieve's message for a `TR-Organization` header that is not a UUID.
pub(crate) const BAD_ORG_HEADER: &str = "Could not convert Organization to UUID";

/// An error answer in Trieve's envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrieveError {
    status: StatusCode,
    message: String,
}

#[derive(Serialize)]
struct Envelope<'a> {
    message: &'a str,
}

impl TrieveError {
    /// An error with `status` and `message`.
    pub(crate) fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
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

    /// 400 with `message` (Trieve's `ServiceError::BadRequest`).
    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    /// 401 "Unauthorized": no credential, or one the server refused.
    pub(crate) fn unauthorized() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "Unauthorized")
    }

    /// 403 "Forbidden": not a member of the organization, or not allowed.
    pub(crate) fn forbidden() -> Self {
        Self::new(StatusCode::FORBIDDEN, "Forbidden")
    }

    /// 500 without any detail.
    pub(crate) fn internal() -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
    }

    /// A JSON body that does not fit the route's payload (Trieve's JSON error handler).
    pub(crate) fn json(detail: impl std::fmt::Display) -> Self {
        Self::bad_request(format!("Json Deserialization Error: {detail}"))
    }

    /// A body that could not be read.
    pub(crate) fn from_body(e: BodyError) -> Self {
        match e {
            BodyError::TooLarge { limit } => Self::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("Payload too large: the request body is larger than {limit} bytes"),
            ),
            BodyError::ContentType(ct) => Self::json(format!(
                "unsupported content type {ct:?}; expected application/json"
            )),
            BodyError::Invalid(text) => Self::json(text),
        }
    }

    /// Whether an upstream error means "the caller may not use this organization": not a member,
    /// a credential bound or restricted elsewhere, or an organization the caller cannot see.
    pub(crate) fn is_outside_org(e: &UpstreamError) -> bool {
        matches!(
            (e.code, e.reason()),
            (
                Code::PermissionDenied,
                reasons::NOT_A_MEMBER | reasons::ORGANIZATION_SCOPE
            ) | (Code::NotFound, reasons::ORGANIZATION_NOT_FOUND)
        )
    }

    /// The default translation of a failed upstream call.
    pub(crate) fn upstream(e: &UpstreamError) -> Self {
        let r = e.reason();
        match e.code {
            Code::InvalidArgument => {
                let message = e
                    .violations
                    .first()
                    .map(|v| format!("{}: {}", v.field, v.description))
                    .unwrap_or_else(|| e.message.clone());
                Self::bad_request(message)
            }
            Code::OutOfRange => Self::bad_request(e.message.clone()),
            Code::Unauthenticated => Self::unauthorized(),
            Code::PermissionDenied => match r {
                // Trieve's handlers refuse role problems with 400, not 403.
                reasons::ROLE_TOO_LOW => Self::bad_request(HIGHER_ROLE),
                // NOT_A_MEMBER, ORGANIZATION_SCOPE (Trieve: the key's organization is not this
                // one), READ_ONLY_CREDENTIAL (Trieve's role extractors refuse a read key),
                // ADMIN_ONLY, NOT_RESOURCE_OWNER, …
                _ => Self::forbidden(),
            },
            Code::NotFound => match r {
                // The organization of a request that the caller cannot see: Trieve's middleware
                // answers a non-member with 403.
                reasons::ORGANIZATION_NOT_FOUND => Self::forbidden(),
                _ => Self::new(StatusCode::NOT_FOUND, format!("Not Found: {}", e.message)),
            },
            Code::FailedPrecondition => match r {
                reasons::TARGET_NOT_A_MEMBER => Self::bad_request(TARGET_NOT_IN_ORG),
                reasons::LAST_OWNER => {
                    Self::bad_request("The last owner of an organization can not be demoted")
                }
                _ => Self::bad_request(e.message.clone()),
            },
            // Trieve answers a duplicate (e.g. an organization name) as bad input.
            Code::AlreadyExists => Self::bad_request(e.message.clone()),
            Code::ResourceExhausted => Self::new(e.http_status(), "Too Many Requests"),
            Code::Unavailable => Self::new(e.http_status(), "Service Unavailable"),
            Code::DeadlineExceeded => Self::new(e.http_status(), "Gateway Timeout"),
            Code::Cancelled => Self::new(e.http_status(), "Request cancelled"),
            Code::Aborted => Self::new(
                e.http_status(),
                "The request conflicted with another; retry",
            ),
            Code::Unimplemented => Self::new(e.http_status(), "Not Implemented"),
            // Opaque: the server never puts internal causes in its message, and neither do we.
            Code::Ok | Code::Unknown | Code::Internal | Code::DataLoss => Self::internal(),
        }
    }
}

impl From<UpstreamError> for TrieveError {
    fn from(e: UpstreamError) -> Self {
        Self::upstream(&e)
    }
}

impl From<BodyError> for TrieveError {
    fn from(e: BodyError) -> Self {
        Self::from_body(e)
    }
}

impl IntoResponse for TrieveError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(Envelope {
                message: &self.message,
            }),
        )
            .into_response()
    }
}

#[cfg(test)]
mod tests {
    use http_body_util::BodyExt as _;

    use super::*;
    use crate::status::{FieldViolation, reason};

    fn upstream(code: Code, reason: &str) -> UpstreamError {
        UpstreamError {
            reason: Some(reason.to_owned()),
            ..UpstreamError::new(code, "server text")
        }
    }

    #[tokio::test]
    async fn envelope_is_message_only() {
        let resp = TrieveError::forbidden().into_response();
        assert_eq!(resp.status(), StatusCode::FORBIDDEN);
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
        let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
        assert_eq!(body, serde_json::json!({"message": "Forbidden"}));
    }

    #[test]
    fn reasons_pick_trieve_answers() {
        let cases = [
            (Code::Unauthenticated, reason::UNAUTHENTICATED, 401),
            (Code::PermissionDenied, reasons::ROLE_TOO_LOW, 400),
            (Code::PermissionDenied, reasons::NOT_A_MEMBER, 403),
            (Code::PermissionDenied, reasons::ORGANIZATION_SCOPE, 403),
            (Code::PermissionDenied, reason::READ_ONLY_CREDENTIAL, 403),
            (Code::NotFound, reasons::ORGANIZATION_NOT_FOUND, 403),
            (Code::NotFound, reason::API_KEY_NOT_FOUND, 404),
            (Code::FailedPrecondition, reasons::TARGET_NOT_A_MEMBER, 400),
            (Code::FailedPrecondition, reasons::LAST_OWNER, 400),
            (Code::AlreadyExists, "ORGANIZATION_NAME_TAKEN", 400),
            (Code::ResourceExhausted, "RATE_LIMITED", 429),
            (Code::Unavailable, "", 503),
            (Code::DeadlineExceeded, "", 504),
            (Code::Internal, "INTERNAL", 500),
        ];
        for (code, r, status) in cases {
            let e = TrieveError::upstream(&upstream(code, r));
            assert_eq!(e.status().as_u16(), status, "{code:?} {r}");
            assert!(!e.message().is_empty());
        }
        assert_eq!(
            TrieveError::upstream(&upstream(Code::PermissionDenied, reasons::ROLE_TOO_LOW))
                .message(),
            HIGHER_ROLE
        );
        assert_eq!(
            TrieveError::upstream(&upstream(
                Code::FailedPrecondition,
                reasons::TARGET_NOT_A_MEMBER
            ))
            .message(),
            TARGET_NOT_IN_ORG
        );
    }

    #[test]
    fn outside_org_errors_are_recognised() {
        assert!(TrieveError::is_outside_org(&upstream(
            Code::PermissionDenied,
            reasons::NOT_A_MEMBER
        )));
        assert!(TrieveError::is_outside_org(&upstream(
            Code::NotFound,
            reasons::ORGANIZATION_NOT_FOUND
        )));
        assert!(!TrieveError::is_outside_org(&upstream(
            Code::PermissionDenied,
            reasons::ROLE_TOO_LOW
        )));
    }

    #[test]
    fn violations_and_internal_text() {
        let mut e = upstream(Code::InvalidArgument, reason::INVALID_ARGUMENT);
        e.violations.push(FieldViolation {
            field: "name".into(),
            description: "must not be empty".into(),
        });
        assert_eq!(
            TrieveError::upstream(&e).message(),
            "name: must not be empty"
        );
        let t = TrieveError::upstream(&UpstreamError::new(Code::Internal, "db password=hunter2"));
        assert!(!t.message().contains("hunter2"));
    }
}
