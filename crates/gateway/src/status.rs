//! The one `tonic::Code → HTTP status` map, and the parts of a gRPC error every dialect reads.
//!
//! Dialects build their own error bodies from [`UpstreamError`]: the code, the message, the
//! `google.rpc.ErrorInfo` reason and the `google.rpc.BadRequest` field violations. Nothing here or
//! in a dialect looks inside the message text.

use std::time::Duration;

use http::StatusCode;
use tonic::Code;
use tonic_types::StatusExt as _;

/// Stable `ErrorInfo.reason` values the dialects react to (see `identity-core`'s `Error::reason`).
pub mod reason {
    /// The user does not exist.
    pub const USER_NOT_FOUND: &str = "USER_NOT_FOUND";
    /// The API key does not exist (or is not visible to the caller).
    pub const API_KEY_NOT_FOUND: &str = "API_KEY_NOT_FOUND";
    /// The username is taken.
    pub const USER_USERNAME_TAKEN: &str = "USER_USERNAME_TAKEN";
    /// An administrator already exists (InitAdmin).
    pub const ADMINISTRATOR_SETUP_TAKEN: &str = "ADMINISTRATOR_SETUP_TAKEN";
    /// Administrator rights are required.
    pub const ADMIN_ONLY: &str = "ADMIN_ONLY";
    /// The caller may only act on itself.
    pub const NOT_RESOURCE_OWNER: &str = "NOT_RESOURCE_OWNER";
    /// The current password is wrong.
    pub const WRONG_PASSWORD: &str = "WRONG_PASSWORD";
    /// The credential is read-only.
    pub const READ_ONLY_CREDENTIAL: &str = "READ_ONLY_CREDENTIAL";
    /// The bootstrap administrator (user 1) cannot be deleted.
    pub const BOOTSTRAP_ADMIN_PROTECTED: &str = "BOOTSTRAP_ADMIN_PROTECTED";
    /// A caller cannot delete itself.
    pub const SELF_DELETE_FORBIDDEN: &str = "SELF_DELETE_FORBIDDEN";
    /// The last administrator cannot be deleted or demoted.
    pub const LAST_ADMINISTRATOR: &str = "LAST_ADMINISTRATOR";
    /// Request validation failed (field violations attached).
    pub const INVALID_ARGUMENT: &str = "INVALID_ARGUMENT";
    /// No valid credential.
    pub const UNAUTHENTICATED: &str = "UNAUTHENTICATED";
}

/// The HTTP status of a gRPC code, as `google/rpc/code.proto` documents it.
pub fn http_status(code: Code) -> StatusCode {
    match code {
        Code::Ok => StatusCode::OK,
        // 499 "Client Closed Request" has no constant; it is a valid status code.
        Code::Cancelled => StatusCode::from_u16(499).unwrap_or(StatusCode::BAD_REQUEST),
        Code::Unknown => StatusCode::INTERNAL_SERVER_ERROR,
        Code::InvalidArgument => StatusCode::BAD_REQUEST,
        Code::DeadlineExceeded => StatusCode::GATEWAY_TIMEOUT,
        Code::NotFound => StatusCode::NOT_FOUND,
        Code::AlreadyExists => StatusCode::CONFLICT,
        Code::PermissionDenied => StatusCode::FORBIDDEN,
        Code::ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
        Code::FailedPrecondition => StatusCode::BAD_REQUEST,
        Code::Aborted => StatusCode::CONFLICT,
        Code::OutOfRange => StatusCode::BAD_REQUEST,
        Code::Unimplemented => StatusCode::NOT_IMPLEMENTED,
        Code::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        Code::DataLoss => StatusCode::INTERNAL_SERVER_ERROR,
        Code::Unauthenticated => StatusCode::UNAUTHORIZED,
    }
}

/// One invalid field reported by the server (`google.rpc.BadRequest.FieldViolation`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldViolation {
    /// Field path, e.g. `password` or `user.username`.
    pub field: String,
    /// What is wrong with it.
    pub description: String,
}

/// A failed upstream call, reduced to what the dialects need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamError {
    /// The gRPC code.
    pub code: Code,
    /// The server's message (already safe to show: internal causes are never in it).
    pub message: String,
    /// `ErrorInfo.reason`, when the server attached one.
    pub reason: Option<String>,
    /// `BadRequest` field violations.
    pub violations: Vec<FieldViolation>,
    /// `RetryInfo.retry_delay`, when present.
    pub retry_after: Option<Duration>,
}

impl UpstreamError {
    /// An error made by the gateway itself (no details).
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            reason: None,
            violations: Vec::new(),
            retry_after: None,
        }
    }

    /// The reason, or `""` when there is none.
    pub fn reason(&self) -> &str {
        self.reason.as_deref().unwrap_or("")
    }

    /// Whether a field violation names `field`.
    pub fn violates(&self, field: &str) -> bool {
        self.violations.iter().any(|v| v.field == field)
    }

    /// The HTTP status of the code.
    pub fn http_status(&self) -> StatusCode {
        http_status(self.code)
    }

    /// Log the error once, at the level its code deserves. Client errors are not logged here:
    /// the trace layer records their status.
    pub fn log(&self) {
        match self.code {
            Code::Unknown | Code::Internal | Code::DataLoss | Code::Unimplemented => {
                tracing::error!(code = ?self.code, message = %self.message, "upstream call failed");
            }
            Code::Unavailable | Code::DeadlineExceeded | Code::Cancelled | Code::Aborted => {
                tracing::warn!(code = ?self.code, message = %self.message, "upstream call failed");
            }
            Code::Ok
            | Code::InvalidArgument
            | Code::NotFound
            | Code::AlreadyExists
            | Code::PermissionDenied
            | Code::ResourceExhausted
            | Code::FailedPrecondition
            | Code::OutOfRange
            | Code::Unauthenticated => {}
        }
    }
}

impl From<tonic::Status> for UpstreamError {
    fn from(s: tonic::Status) -> Self {
        let reason = s
            .get_details_error_info()
            .map(|i| i.reason)
            .filter(|r| !r.is_empty());
        let violations = s
            .get_details_bad_request()
            .map(|b| {
                b.field_violations
                    .into_iter()
                    .map(|v| FieldViolation {
                        field: v.field,
                        description: v.description,
                    })
                    .collect()
            })
            .unwrap_or_default();
        let retry_after = s.get_details_retry_info().and_then(|r| r.retry_delay);
        Self {
            code: s.code(),
            message: s.message().to_owned(),
            reason,
            violations,
            retry_after,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use tonic_types::ErrorDetails;

    use super::*;

    #[test]
    fn every_code_has_the_documented_status() {
        let expected = [
            (Code::Ok, 200),
            (Code::Cancelled, 499),
            (Code::Unknown, 500),
            (Code::InvalidArgument, 400),
            (Code::DeadlineExceeded, 504),
            (Code::NotFound, 404),
            (Code::AlreadyExists, 409),
            (Code::PermissionDenied, 403),
            (Code::ResourceExhausted, 429),
            (Code::FailedPrecondition, 400),
            (Code::Aborted, 409),
            (Code::OutOfRange, 400),
            (Code::Unimplemented, 501),
            (Code::Internal, 500),
            (Code::Unavailable, 503),
            (Code::DataLoss, 500),
            (Code::Unauthenticated, 401),
        ];
        for (code, status) in expected {
            assert_eq!(http_status(code).as_u16(), status, "{code:?}");
        }
        // Every one of the 17 codes is listed once.
        for n in 0..=16 {
            assert!(
                expected.iter().any(|(c, _)| *c == Code::from_i32(n)),
                "code {n} missing"
            );
        }
    }

    #[test]
    fn details_are_read_from_the_status_not_the_message() {
        let mut details = ErrorDetails::new();
        details.add_bad_request_violation("password", "must be at least 12 characters");
        details.set_error_info(
            reason::INVALID_ARGUMENT,
            "identity",
            HashMap::<String, String>::new(),
        );
        details.set_retry_info(Some(Duration::from_secs(3)));
        let s = tonic::Status::with_error_details(
            Code::InvalidArgument,
            "USER_NOT_FOUND in the text",
            details,
        );
        let e = UpstreamError::from(s);
        assert_eq!(e.code, Code::InvalidArgument);
        assert_eq!(e.reason(), reason::INVALID_ARGUMENT);
        assert!(e.violates("password"));
        assert!(!e.violates("username"));
        assert_eq!(e.retry_after, Some(Duration::from_secs(3)));
        assert_eq!(e.http_status(), StatusCode::BAD_REQUEST);
    }

    #[test]
    fn a_bare_status_has_no_reason() {
        let e = UpstreamError::from(tonic::Status::unavailable("tcp connect error"));
        assert_eq!(e.reason, None);
        assert_eq!(e.reason(), "");
        assert!(e.violations.is_empty());
        assert_eq!(e.http_status(), StatusCode::SERVICE_UNAVAILABLE);
    }
}
