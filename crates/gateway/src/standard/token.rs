//! `POST /oauth/token`: the OAuth 2.0 client-credentials grant (RFC 6749 §4.4), where the client
//! secret is an API key, answered with a short-lived access token (AuthService/ExchangeApiKey).
//! The client authenticates with HTTP Basic (`client_id:client_secret`, §2.3.1) or with
//! `client_secret` in the form, not both; `client_id` is informational (the key identifies its
//! client). `scope` (space-separated) narrows the key's scopes.

use axum::{
    Json,
    body::Bytes,
    extract::State,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use base64::Engine as _;
use identity_api::pb;
use serde_json::json;
use tonic::Code;

use super::oauth_error;
use crate::AppState;

/// The form fields of a token request (each at most once).
#[derive(Debug, Default)]
struct TokenForm {
    grant_type: Option<String>,
    client_secret: Option<String>,
    scope: Option<String>,
    ttl: Option<String>,
}

/// An OAuth 2.0 error answer (RFC 6749 §5.2).
#[derive(Debug)]
struct OAuthError {
    status: StatusCode,
    error: &'static str,
    description: String,
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let mut r = oauth_error(self.status, self.error, &self.description);
        // §5.2: a client that tried HTTP Basic (or no authentication) gets the challenge.
        if self.status == StatusCode::UNAUTHORIZED {
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"identity\""),
            );
        }
        r
    }
}

fn error(status: StatusCode, error: &'static str, description: &str) -> OAuthError {
    OAuthError {
        status,
        error,
        description: description.to_owned(),
    }
}

fn invalid_request(description: &str) -> OAuthError {
    error(StatusCode::BAD_REQUEST, "invalid_request", description)
}

fn invalid_client() -> OAuthError {
    error(
        StatusCode::UNAUTHORIZED,
        "invalid_client",
        "client authentication failed",
    )
}

/// Parse an `application/x-www-form-urlencoded` body; a repeated parameter is an error (§3.2).
fn parse_form(body: &[u8]) -> Result<TokenForm, OAuthError> {
    let text = std::str::from_utf8(body).map_err(|_| invalid_request("the body is not UTF-8"))?;
    let mut form = TokenForm::default();
    for pair in text.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let decode = |s: &str| -> Result<String, OAuthError> {
            let s = s.replace('+', " ");
            percent_decode(&s).ok_or_else(|| invalid_request("malformed form encoding"))
        };
        let slot = match decode(k)?.as_str() {
            "grant_type" => &mut form.grant_type,
            "client_secret" => &mut form.client_secret,
            "scope" => &mut form.scope,
            "ttl" => &mut form.ttl,
            // client_id and unknown parameters are ignored (§3.2).
            _ => continue,
        };
        if slot.is_some() {
            return Err(invalid_request("a parameter is repeated"));
        }
        *slot = Some(decode(v)?);
    }
    Ok(form)
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The secret of `Authorization: Basic …`, if that header is used.
fn basic_secret(headers: &HeaderMap) -> Result<Option<String>, OAuthError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value.to_str().map_err(|_| invalid_client())?;
    let Some(encoded) = value
        .strip_prefix("Basic ")
        .or_else(|| value.strip_prefix("basic "))
    else {
        return Err(invalid_client());
    };
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|_| invalid_client())?;
    let decoded = String::from_utf8(decoded).map_err(|_| invalid_client())?;
    let (_, secret) = decoded.split_once(':').ok_or_else(invalid_client)?;
    percent_decode(secret).map(Some).ok_or_else(invalid_client)
}

pub(super) async fn token(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match issue(&state, &headers, &body).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|t| {
            t.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
}

/// The exchange request a token request stands for.
fn exchange_request(
    headers: &HeaderMap,
    body: &[u8],
) -> Result<pb::ExchangeApiKeyRequest, OAuthError> {
    if !is_form(headers) {
        return Err(invalid_request(
            "the body must be application/x-www-form-urlencoded",
        ));
    }
    let form = parse_form(body)?;
    match form.grant_type.as_deref() {
        None => return Err(invalid_request("grant_type is required")),
        Some("client_credentials") => {}
        Some(_) => {
            return Err(error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "only client_credentials is supported",
            ));
        }
    }
    let api_key = match (basic_secret(headers)?, form.client_secret) {
        (Some(_), Some(_)) => {
            return Err(invalid_request(
                "use one client authentication method, not two",
            ));
        }
        (Some(s), None) | (None, Some(s)) => s,
        (None, None) => return Err(invalid_client()),
    };
    let ttl_seconds = match form.ttl.as_deref().map(str::parse::<u32>) {
        None => 0,
        Some(Ok(t)) if t > 0 => t,
        Some(_) => return Err(invalid_request("ttl must be a positive number of seconds")),
    };
    let scopes = form
        .scope
        .as_deref()
        .unwrap_or_default()
        .split(' ')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    Ok(pb::ExchangeApiKeyRequest {
        api_key,
        ttl_seconds,
        scopes,
    })
}

async fn issue(state: &AppState, headers: &HeaderMap, body: &[u8]) -> Result<Response, OAuthError> {
    let msg = exchange_request(headers, body)?;
    let t = state.upstream.exchange_api_key(msg).await.map_err(|e| {
        if e.code == Code::Unauthenticated {
            invalid_client()
        } else if e.code == Code::InvalidArgument && e.violates("scopes") {
            error(StatusCode::BAD_REQUEST, "invalid_scope", &e.message)
        } else if matches!(e.code, Code::InvalidArgument | Code::OutOfRange) {
            invalid_request(&e.message)
        } else if matches!(
            e.code,
            Code::ResourceExhausted | Code::Unavailable | Code::DeadlineExceeded
        ) {
            error(
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                &e.message,
            )
        } else {
            error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "the token could not be issued",
            )
        }
    })?;
    Ok((
        [
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            (header::PRAGMA, HeaderValue::from_static("no-cache")),
        ],
        Json(json!({
            "access_token": t.access_token,
            "token_type": "Bearer",
            "expires_in": t.expires_in,
            "scope": t.scopes.join(" "),
        })),
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_are_decoded_and_repeats_refused() {
        let f = parse_form(b"grant_type=client_credentials&scope=a%3Ab+c&client_id=x")
            .unwrap_or_else(|_| panic!("a valid form"));
        assert_eq!(f.grant_type.as_deref(), Some("client_credentials"));
        assert_eq!(f.scope.as_deref(), Some("a:b c"));
        assert!(parse_form(b"scope=a&scope=b").is_err());
        assert!(parse_form(b"scope=%zz").is_err());
    }
}
