//! Tyk AI Studio's two error bodies (dialects.md §3.4):
//! - the auth middleware's `{"error":"Unauthorized"}` (401) and `{"error":"Forbidden"}` (403);
//! - the handlers' JSON:API-like `{"errors":[{"title","detail"}]}`, where `title` is the HTTP
//!   status text (`SendErrorResponse`).
//!
//! Upstream errors are mapped from the gRPC code and `ErrorInfo` reason only; the detail of a
//! client error is the server's message (which never carries internal causes), and server errors
//! get a fixed text.

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

/// Detail of a 404 for a user, as Tyk's GET writes it.
pub(crate) const USER_NOT_FOUND: &str = "User not found";

/// An error answer of the Tyk dialect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TykError {
    /// The middleware's 401 `{"error":"Unauthorized"}`.
    Unauthorized,
    /// The middleware's 403 `{"error":"Forbidden"}` (not an administrator).
    Forbidden,
    /// A handler error `{"errors":[{"title","detail"}]}`.
    Handler {
        /// HTTP status; the title is its canonical text.
        status: StatusCode,
        /// What went wrong.
        detail: String,
    },
}

#[derive(Serialize)]
struct MiddlewareBody<'a> {
    error: &'a str,
}

#[derive(Serialize)]
struct ErrorItem<'a> {
    title: &'a str,
    detail: &'a str,
}

#[derive(Serialize)]
struct HandlerBody<'a> {
    errors: [ErrorItem<'a>; 1],
}

impl TykError {
    /// A handler error with `status` and `detail`.
    pub(crate) fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        Self::Handler {
            status,
            detail: detail.into(),
        }
    }

    /// 400 with `detail`.
    pub(crate) fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, detail)
    }

    /// 404 "User not found".
    pub(crate) fn user_not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, USER_NOT_FOUND)
    }

    /// 500 without any cause.
    pub(crate) fn internal() -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "Internal server error")
    }

    /// The HTTP status.
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            TykError::Unauthorized => StatusCode::UNAUTHORIZED,
            TykError::Forbidden => StatusCode::FORBIDDEN,
            TykError::Handler { status, .. } => *status,
        }
    }

    /// A failed upstream call: auth failures in the middleware envelope, the rest as handler
    /// errors.
    pub(crate) fn upstream(e: &UpstreamError) -> Self {
        let status = e.http_status();
        match e.code {
            Code::Unauthenticated => Self::Unauthorized,
            Code::PermissionDenied => match e.reason() {
                reason::ADMIN_ONLY => Self::Forbidden,
                _ => Self::new(status, e.message.clone()),
            },
            Code::NotFound => match e.reason() {
                reason::USER_NOT_FOUND => Self::user_not_found(),
                _ => Self::new(status, e.message.clone()),
            },
            Code::FailedPrecondition => match e.reason() {
                reason::BOOTSTRAP_ADMIN_PROTECTED => {
                    Self::new(StatusCode::FORBIDDEN, "super admin user cannot be deleted")
                }
                reason::SELF_DELETE_FORBIDDEN | reason::LAST_ADMINISTRATOR => {
                    Self::new(StatusCode::FORBIDDEN, e.message.clone())
                }
                _ => Self::new(status, e.message.clone()),
            },
            Code::InvalidArgument => {
                let detail = e
                    .violations
                    .iter()
                    .map(|v| format!("{}: {}", v.field, v.description))
                    .collect::<Vec<_>>()
                    .join("; ");
                Self::bad_request(if detail.is_empty() {
                    e.message.clone()
                } else {
                    detail
                })
            }
            Code::AlreadyExists
            | Code::ResourceExhausted
            | Code::OutOfRange
            | Code::Aborted
            | Code::Cancelled => Self::new(status, e.message.clone()),
            Code::Unavailable => {
                Self::new(status, "The identity service is unavailable; retry later")
            }
            Code::DeadlineExceeded => {
                Self::new(status, "The identity service did not answer in time")
            }
            Code::Unimplemented => Self::new(status, "Not implemented"),
            // Opaque: nothing internal is ever shown.
            Code::Ok | Code::Unknown | Code::Internal | Code::DataLoss => Self::internal(),
        }
    }
}

impl From<UpstreamError> for TykError {
    fn from(e: UpstreamError) -> Self {
        Self::upstream(&e)
    }
}

impl From<BodyError> for TykError {
    fn from(e: BodyError) -> Self {
        match e {
            BodyError::TooLarge { limit } => Self::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("request body larger than {limit} bytes"),
            ),
            BodyError::ContentType(ct) => {
                Self::bad_request(format!("unsupported content type {ct:?}; send JSON"))
            }
            BodyError::Invalid(m) => Self::bad_request(m),
        }
    }
}

impl IntoResponse for TykError {
    fn into_response(self) -> Response {
        let status = self.status();
        match &self {
            TykError::Unauthorized => (
                status,
                Json(MiddlewareBody {
                    error: "Unauthorized",
                }),
            )
                .into_response(),
            TykError::Forbidden => {
                (status, Json(MiddlewareBody { error: "Forbidden" })).into_response()
            }
            TykError::Handler { detail, .. } => {
                let title = status.canonical_reason().unwrap_or("Error");
                let body = HandlerBody {
                    errors: [ErrorItem { title, detail }],
                };
                (status, Json(body)).into_response()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use http_body_util::BodyExt as _;
    use serde_json::{Value, json};

    use super::*;

    async fn body_of(e: TykError) -> (u16, Value) {
        let resp = e.into_response();
        let status = resp.status().as_u16();
        let bytes = resp
            .into_body()
            .collect()
            .await
            .map(|c| c.to_bytes())
            .unwrap_or_default();
        (status, serde_json::from_slice(&bytes).unwrap_or_default())
    }

    fn upstream(code: Code, r: &str) -> UpstreamError {
        UpstreamError {
            reason: Some(r.to_owned()),
            ..UpstreamError::new(code, "server text")
        }
    }

    #[tokio::test]
    async fn both_envelopes() {
        assert_eq!(
            body_of(TykError::Unauthorized).await,
            (401, json!({"error": "Unauthorized"}))
        );
        assert_eq!(
            body_of(TykError::Forbidden).await,
            (403, json!({"error": "Forbidden"}))
        );
        assert_eq!(
            body_of(TykError::user_not_found()).await,
            (
                404,
                json!({"errors": [{"title": "Not Found", "detail": "User not found"}]})
            )
        );
    }

    #[test]
    fn reasons_pick_tyk_answers() {
        let cases = [
            (
                Code::Unauthenticated,
                reason::UNAUTHENTICATED,
                TykError::Unauthorized,
            ),
            (
                Code::PermissionDenied,
                reason::ADMIN_ONLY,
                TykError::Forbidden,
            ),
            (
                Code::NotFound,
                reason::USER_NOT_FOUND,
                TykError::user_not_found(),
            ),
            (
                Code::FailedPrecondition,
                reason::BOOTSTRAP_ADMIN_PROTECTED,
                TykError::new(StatusCode::FORBIDDEN, "super admin user cannot be deleted"),
            ),
            (Code::Internal, "INTERNAL", TykError::internal()),
        ];
        for (code, r, want) in cases {
            assert_eq!(TykError::upstream(&upstream(code, r)), want, "{code:?} {r}");
        }
        let e = TykError::upstream(&UpstreamError::new(Code::Internal, "db password=hunter2"));
        assert!(!format!("{e:?}").contains("hunter2"));
    }
}
