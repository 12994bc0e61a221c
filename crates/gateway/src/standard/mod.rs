//! Endpoints defined by standards rather than by a product: the JWK Set of the keys that verify
//! tokens (RFC 7517, at the RFC 8414 / OpenID Connect well-known path) and the OAuth 2.0 token
//! endpoint for API keys (`token`). Errors use the OAuth 2.0 error object (RFC 6749 §5.2):
//! `{"error": …, "error_description": …}`.

mod token;

use axum::{
    Json, Router,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use identity_api::pb;
use serde_json::{Map, Value, json};

use crate::{AppState, status::UpstreamError};

/// How long verifiers may cache the key set: short enough that a rotation's new key is fetched
/// well within the overlap window.
const JWKS_MAX_AGE_SECS: u32 = 300;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/.well-known/jwks.json", get(jwks))
        .route("/oauth/token", post(token::token))
}

/// An OAuth 2.0 error object with the status of the upstream failure.
pub(crate) fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    (
        status,
        [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
        Json(json!({"error": error, "error_description": description})),
    )
        .into_response()
}

fn upstream_failure(e: &UpstreamError) -> Response {
    oauth_error(
        StatusCode::SERVICE_UNAVAILABLE,
        "temporarily_unavailable",
        &e.message,
    )
}

/// One JWK as JSON, with only the members that are set.
fn jwk_json(k: pb::Jwk) -> Value {
    let mut m = Map::new();
    for (name, value) in [
        ("kty", k.kty),
        ("crv", k.crv),
        ("x", k.x),
        ("y", k.y),
        ("kid", k.kid),
        ("alg", k.alg),
        ("use", k.r#use),
    ] {
        if !value.is_empty() {
            m.insert(name.to_owned(), Value::String(value));
        }
    }
    Value::Object(m)
}

async fn jwks(axum::extract::State(state): axum::extract::State<AppState>) -> Response {
    match state.upstream.jwks().await {
        Ok(resp) => {
            let keys: Vec<Value> = resp.keys.into_iter().map(jwk_json).collect();
            let cache = format!("public, max-age={JWKS_MAX_AGE_SECS}");
            (
                [
                    (
                        header::CONTENT_TYPE,
                        HeaderValue::from_static("application/jwk-set+json"),
                    ),
                    (
                        header::CACHE_CONTROL,
                        HeaderValue::from_str(&cache)
                            .unwrap_or(HeaderValue::from_static("no-cache")),
                    ),
                ],
                Json(json!({ "keys": keys })),
            )
                .into_response()
        }
        Err(e) => upstream_failure(&e),
    }
}
