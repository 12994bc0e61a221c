//! OpenAI's error envelope: `{"error":{"message","type","param","code"}}`, all four keys always
//! present (`param` and `code` are `null` when they do not apply).
//!
//! Built from the gRPC code, the `ErrorInfo` reason and the `BadRequest` field violations only.
//! Every 4xx except 429 carries `x-should-retry: false`, so that the SDK never retries a request
//! that cannot succeed (it would retry 409 otherwise); 429 carries `Retry-After` when the server
//! said how long to wait.

use axum::{
    Json,
    response::{IntoResponse, Response},
};
use http::{HeaderValue, StatusCode};
use serde::Serialize;
use tonic::Code;

use crate::{body::BodyError, status::UpstreamError};

/// `type` of client errors (OpenAI's most common public value).
pub(crate) const INVALID_REQUEST: &str = "invalid_request_error";
/// `type` of server-side failures.
pub(crate) const SERVER_ERROR: &str = "server_error";
/// `type` of rate-limit answers (OpenAI uses `requests` / `tokens`).
pub(crate) const REQUESTS: &str = "requests";

/// An error answer in OpenAI's envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenAiError {
    status: StatusCode,
    message: String,
    kind: &'static str,
    param: Option<String>,
    code: Option<String>,
    retryable: bool,
    retry_after: Option<u64>,
}

#[derive(Serialize)]
struct Inner<'a> {
    message: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
    param: Option<&'a str>,
    code: Option<&'a str>,
}

#[derive(Serialize)]
struct Envelope<'a> {
    error: Inner<'a>,
}

impl OpenAiError {
    /// An error with every field given.
    pub(crate) fn new(
        status: StatusCode,
        message: impl Into<String>,
        kind: &'static str,
        param: Option<&str>,
        code: Option<&str>,
    ) -> Self {
        Self {
            status,
            message: message.into(),
            kind,
            param: param.map(str::to_owned),
            code: code.map(str::to_owned),
            retryable: false,
            retry_after: None,
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

    /// The `type` field.
    pub fn kind(&self) -> &str {
        self.kind
    }

    /// The `param` field.
    pub fn param(&self) -> Option<&str> {
        self.param.as_deref()
    }

    /// The `code` field.
    pub fn code(&self) -> Option<&str> {
        self.code.as_deref()
    }

    /// 400 `invalid_request_error` about `param`.
    pub(crate) fn invalid(param: &str, message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            message,
            INVALID_REQUEST,
            Some(param),
            Some("invalid_value"),
        )
    }

    /// 401: no `Authorization: Bearer` header.
    pub(crate) fn missing_key() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "You didn't provide an API key. You need to provide your API key in an Authorization \
             header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
            INVALID_REQUEST,
            None,
            None,
        )
    }

    /// 401: a credential the server refused (never echoed back).
    pub(crate) fn invalid_key() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "Incorrect API key provided.",
            INVALID_REQUEST,
            None,
            Some("invalid_api_key"),
        )
    }

    /// 401: the `OpenAI-Organization` header names no organization the caller can see.
    pub(crate) fn no_such_organization(handle: &str) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            format!("No such organization: {handle}."),
            INVALID_REQUEST,
            None,
            Some("no_such_organization"),
        )
    }

    /// 403: the credential lacks organization owner rights.
    pub(crate) fn insufficient_permissions(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            message,
            INVALID_REQUEST,
            None,
            Some("insufficient_permissions"),
        )
    }

    /// 404 with `code`.
    pub(crate) fn not_found(message: impl Into<String>, code: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            message,
            INVALID_REQUEST,
            None,
            Some(code),
        )
    }

    /// 404 for a route no handler serves (OpenAI's "Invalid URL" answer).
    pub(crate) fn invalid_url(method: &http::Method, path: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            format!("Invalid URL ({method} {path})"),
            INVALID_REQUEST,
            None,
            None,
        )
    }

    /// 405 on a served path.
    pub(crate) fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "Method not allowed on this URL.",
            INVALID_REQUEST,
            None,
            None,
        )
    }

    /// 500 without any detail.
    pub(crate) fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "The server had an error while processing your request. Sorry about that!",
            SERVER_ERROR,
            None,
            None,
        )
    }

    /// A body that could not be read.
    pub(crate) fn from_body(e: BodyError) -> Self {
        match e {
            BodyError::TooLarge { limit } => Self::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("The request body is larger than {limit} bytes."),
                INVALID_REQUEST,
                None,
                None,
            ),
            BodyError::ContentType(ct) => Self::new(
                StatusCode::BAD_REQUEST,
                format!("Unsupported content type {ct:?}; expected application/json."),
                INVALID_REQUEST,
                None,
                None,
            ),
            BodyError::Invalid(text) => Self::new(
                StatusCode::BAD_REQUEST,
                format!("We could not parse the JSON body of your request ({text})."),
                INVALID_REQUEST,
                None,
                None,
            ),
        }
    }

    /// The default translation of a failed upstream call. `param_of` maps a server field name
    /// (e.g. `after_user_handle`) to this dialect's parameter name (e.g. `after`).
    pub(crate) fn upstream_with(e: &UpstreamError, param_of: impl Fn(&str) -> String) -> Self {
        let reason_code = e.reason.as_deref().map(str::to_ascii_lowercase);
        let status = e.http_status();
        match e.code {
            Code::InvalidArgument | Code::OutOfRange => {
                let param = e.violations.first().map(|v| param_of(&v.field));
                let message = e
                    .violations
                    .first()
                    .map(|v| format!("Invalid '{}': {}.", param_of(&v.field), v.description))
                    .unwrap_or_else(|| e.message.clone());
                Self::new(
                    StatusCode::BAD_REQUEST,
                    message,
                    INVALID_REQUEST,
                    param.as_deref(),
                    Some("invalid_value"),
                )
            }
            Code::Unauthenticated => Self::invalid_key(),
            Code::PermissionDenied => Self::new(
                status,
                capitalised_sentence(&e.message),
                INVALID_REQUEST,
                None,
                Some("insufficient_permissions"),
            ),
            Code::NotFound => Self::new(
                status,
                capitalised_sentence(&e.message),
                INVALID_REQUEST,
                None,
                reason_code.as_deref().or(Some("not_found")),
            ),
            Code::AlreadyExists | Code::FailedPrecondition => Self::new(
                status,
                capitalised_sentence(&e.message),
                INVALID_REQUEST,
                None,
                reason_code.as_deref(),
            ),
            Code::Aborted => Self {
                retryable: true,
                ..Self::new(
                    status,
                    "The request conflicted with another one; retry.",
                    INVALID_REQUEST,
                    None,
                    Some("conflict"),
                )
            },
            Code::ResourceExhausted => Self {
                retryable: true,
                retry_after: e.retry_after.map(|d| d.as_secs().max(1)),
                ..Self::new(
                    status,
                    "Rate limit reached; retry later.",
                    REQUESTS,
                    None,
                    Some("rate_limit_exceeded"),
                )
            },
            Code::Unavailable => Self::new(
                status,
                "The identity service is unavailable; retry later.",
                SERVER_ERROR,
                None,
                Some("service_unavailable"),
            ),
            Code::DeadlineExceeded => Self::new(
                status,
                "The identity service did not answer in time.",
                SERVER_ERROR,
                None,
                Some("timeout"),
            ),
            Code::Cancelled => Self::new(status, "Request cancelled.", INVALID_REQUEST, None, None),
            Code::Unimplemented => Self::new(status, "Not implemented.", SERVER_ERROR, None, None),
            // Opaque: internal causes are never shown.
            Code::Ok | Code::Unknown | Code::Internal | Code::DataLoss => Self::internal(),
        }
    }

    /// [`OpenAiError::upstream_with`] with server field names kept as they are.
    pub(crate) fn upstream(e: &UpstreamError) -> Self {
        Self::upstream_with(e, str::to_owned)
    }
}

/// The server's message as a sentence: first letter upper-cased, a final full stop.
fn capitalised_sentence(s: &str) -> String {
    let mut chars = s.chars();
    let mut out: String = match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    };
    if !out.is_empty() && !out.ends_with('.') {
        out.push('.');
    }
    out
}

impl From<UpstreamError> for OpenAiError {
    fn from(e: UpstreamError) -> Self {
        Self::upstream(&e)
    }
}

impl From<BodyError> for OpenAiError {
    fn from(e: BodyError) -> Self {
        Self::from_body(e)
    }
}

impl IntoResponse for OpenAiError {
    fn into_response(self) -> Response {
        let body = Envelope {
            error: Inner {
                message: &self.message,
                kind: self.kind,
                param: self.param.as_deref(),
                code: self.code.as_deref(),
            },
        };
        let mut resp = (self.status, Json(body)).into_response();
        if self.status.is_client_error() && !self.retryable {
            resp.headers_mut()
                .insert("x-should-retry", HeaderValue::from_static("false"));
        }
        if let Some(secs) = self.retry_after {
            resp.headers_mut()
                .insert(http::header::RETRY_AFTER, HeaderValue::from(secs));
        }
        resp
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use http_body_util::BodyExt as _;

    use super::*;
    use crate::status::{FieldViolation, reason};

    async fn body_of(e: OpenAiError) -> (StatusCode, HeaderMapLite, serde_json::Value) {
        let resp = e.into_response();
        let status = resp.status();
        let headers = HeaderMapLite {
            should_retry: resp
                .headers()
                .get("x-should-retry")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
            retry_after: resp
                .headers()
                .get(http::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
        };
        let bytes = resp
            .into_body()
            .collect()
            .await
            .map(|c| c.to_bytes())
            .unwrap_or_default();
        (
            status,
            headers,
            serde_json::from_slice(&bytes).unwrap_or_default(),
        )
    }

    #[derive(Debug)]
    struct HeaderMapLite {
        should_retry: Option<String>,
        retry_after: Option<String>,
    }

    fn upstream(code: Code, r: &str, message: &str) -> UpstreamError {
        UpstreamError {
            reason: Some(r.to_owned()),
            ..UpstreamError::new(code, message)
        }
    }

    #[tokio::test]
    async fn envelope_has_all_four_keys() {
        let (status, headers, body) = body_of(OpenAiError::missing_key()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(headers.should_retry.as_deref(), Some("false"));
        let inner = &body["error"];
        for key in ["message", "type", "param", "code"] {
            assert!(inner.get(key).is_some(), "{key} missing in {body}");
        }
        assert_eq!(inner["param"], serde_json::Value::Null);
        assert_eq!(inner["code"], serde_json::Value::Null);
        assert_eq!(inner["type"], "invalid_request_error");
    }

    #[tokio::test]
    async fn rate_limits_may_be_retried_and_say_when() {
        let mut e = upstream(Code::ResourceExhausted, "RATE_LIMITED", "slow down");
        e.retry_after = Some(Duration::from_secs(7));
        let (status, headers, body) = body_of(OpenAiError::upstream(&e)).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(headers.should_retry, None);
        assert_eq!(headers.retry_after.as_deref(), Some("7"));
        assert_eq!(body["error"]["type"], "requests");
        assert_eq!(body["error"]["code"], "rate_limit_exceeded");
    }

    #[tokio::test]
    async fn server_errors_are_opaque_and_not_marked() {
        let e = UpstreamError::new(Code::Internal, "db password=hunter2");
        let (status, headers, body) = body_of(OpenAiError::upstream(&e)).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(headers.should_retry, None);
        assert!(!body.to_string().contains("hunter2"));
        assert_eq!(body["error"]["type"], "server_error");
    }

    #[test]
    fn codes_pick_statuses_and_codes() {
        let cases = [
            (
                Code::Unauthenticated,
                reason::UNAUTHENTICATED,
                401,
                Some("invalid_api_key"),
            ),
            (
                Code::PermissionDenied,
                "ROLE_TOO_LOW",
                403,
                Some("insufficient_permissions"),
            ),
            (
                Code::NotFound,
                "MEMBERSHIP_NOT_FOUND",
                404,
                Some("membership_not_found"),
            ),
            (
                Code::AlreadyExists,
                "USER_USERNAME_TAKEN",
                409,
                Some("user_username_taken"),
            ),
            (
                Code::FailedPrecondition,
                "LAST_OWNER",
                400,
                Some("last_owner"),
            ),
            (Code::Aborted, "", 409, Some("conflict")),
            (Code::Unavailable, "", 503, Some("service_unavailable")),
            (Code::DeadlineExceeded, "", 504, Some("timeout")),
        ];
        for (code, r, status, c) in cases {
            let e = OpenAiError::upstream(&upstream(code, r, "text"));
            assert_eq!((e.status().as_u16(), e.code()), (status, c), "{code:?} {r}");
        }
    }

    #[test]
    fn violations_name_the_dialect_parameter() {
        let mut e = upstream(Code::InvalidArgument, reason::INVALID_ARGUMENT, "bad");
        e.violations.push(FieldViolation {
            field: "after_user_handle".into(),
            description: "names no user".into(),
        });
        let o = OpenAiError::upstream_with(&e, |f| {
            if f == "after_user_handle" {
                "after".to_owned()
            } else {
                f.to_owned()
            }
        });
        assert_eq!(o.status(), StatusCode::BAD_REQUEST);
        assert_eq!(o.param(), Some("after"));
        assert_eq!(o.kind(), INVALID_REQUEST);
        assert_eq!(o.message(), "Invalid 'after': names no user.");
    }
}
