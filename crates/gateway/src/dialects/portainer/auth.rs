//! Portainer's credential lookup (`api/http/security/bouncer.go`), first match wins:
//! 1. an API key: header `X-API-KEY`, or a query parameter named `x-api-key` in any case;
//! 2. the cookie `portainer_api_key` (a JWT, set by `POST /api/auth`);
//! 3. a JWT: query parameter `token`, or `Authorization` with a literal `Bearer ` prefix removed
//!    (without the prefix the value is taken as it is).
//!
//! An API key is forwarded as `x-api-key`, a JWT as `authorization: Bearer`. Sending an API key
//! together with an `Authorization` header is refused with 403, as Portainer's CSRF guard does.

use std::convert::Infallible;

use axum::{
    extract::{FromRequestParts, Query, Request},
    middleware::Next,
    response::{IntoResponse as _, Response},
};
use http::{HeaderMap, StatusCode, Uri, header, request::Parts};

use super::error::PortainerError;
use crate::credential::Credential;

/// Name of the session cookie Portainer sets on login.
pub(crate) const AUTH_COOKIE: &str = "portainer_api_key";

/// The credentials a request carries, in Portainer's terms.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct PortainerAuth {
    api_key: Option<String>,
    cookie_jwt: Option<String>,
    bearer_jwt: Option<String>,
    has_authorization_header: bool,
}

fn non_empty(s: &str) -> Option<String> {
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_owned())
}

fn query_pairs(uri: &Uri) -> Vec<(String, String)> {
    Query::<Vec<(String, String)>>::try_from_uri(uri)
        .map(|q| q.0)
        .unwrap_or_default()
}

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| k.trim() == name)
        .and_then(|(_, v)| non_empty(v.trim().trim_matches('"')))
}

impl PortainerAuth {
    /// Collect the credentials from a request's headers and query string.
    pub(crate) fn from_parts(headers: &HeaderMap, uri: &Uri) -> Self {
        let query = query_pairs(uri);
        let api_key = headers
            .get("x-api-key")
            .and_then(|v| v.to_str().ok())
            .and_then(non_empty)
            .or_else(|| {
                query
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case("x-api-key"))
                    .and_then(|(_, v)| non_empty(v))
            });
        let authorization = headers.get(header::AUTHORIZATION);
        let bearer_jwt = query
            .iter()
            .find(|(k, _)| k == "token")
            .and_then(|(_, v)| non_empty(v))
            .or_else(|| {
                authorization
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| non_empty(v.strip_prefix("Bearer ").unwrap_or(v)))
            });
        Self {
            api_key,
            cookie_jwt: cookie(headers, AUTH_COOKIE),
            bearer_jwt,
            has_authorization_header: authorization.is_some_and(|v| !v.is_empty()),
        }
    }

    /// Any credential, in Portainer's order; 401 when there is none.
    pub(crate) fn credential(&self) -> Result<Credential, PortainerError> {
        if let Some(key) = &self.api_key {
            return Ok(Credential::ApiKey(key.clone()));
        }
        self.jwt().ok_or_else(PortainerError::missing_token)
    }

    /// A JWT only (cookie or bearer), for the routes that refuse API keys; 401 otherwise.
    pub(crate) fn session(&self) -> Result<Credential, PortainerError> {
        match (self.jwt(), &self.api_key) {
            (Some(jwt), _) => Ok(jwt),
            (None, Some(_)) => Err(Self::auth_not_supported()),
            (None, None) => Err(PortainerError::missing_token()),
        }
    }

    /// Portainer's answer when a route needs a JWT and got only an API key.
    pub(crate) fn auth_not_supported() -> PortainerError {
        PortainerError::new(
            StatusCode::UNAUTHORIZED,
            "Auth not supported",
            "JWT Authentication required",
        )
    }

    fn jwt(&self) -> Option<Credential> {
        self.cookie_jwt
            .as_ref()
            .or(self.bearer_jwt.as_ref())
            .map(|t| Credential::Bearer(t.clone()))
    }

    /// An API key and an `Authorization` header at once.
    pub(crate) fn conflicting(&self) -> bool {
        self.api_key.is_some() && self.has_authorization_header
    }
}

impl<S: Send + Sync> FromRequestParts<S> for PortainerAuth {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self::from_parts(&parts.headers, &parts.uri))
    }
}

/// Middleware: refuse an API key sent together with an `Authorization` header (403), on every
/// Portainer route, before the handler runs.
pub(crate) async fn reject_conflicting_credentials(req: Request, next: Next) -> Response {
    if PortainerAuth::from_parts(req.headers(), req.uri()).conflicting() {
        let m = "api key and auth header are not allowed at the same time";
        return PortainerError::forbidden(m, m).into_response();
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    fn auth(pairs: &[(&'static str, &'static str)], uri: &'static str) -> PortainerAuth {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        PortainerAuth::from_parts(&h, &Uri::from_static(uri))
    }

    #[test]
    fn api_key_wins_over_jwt() {
        let a = auth(
            &[("x-api-key", "k1"), ("cookie", "portainer_api_key=j1")],
            "/api/users",
        );
        assert_eq!(a.credential(), Ok(Credential::ApiKey("k1".into())));
        assert!(!a.conflicting());
    }

    #[test]
    fn bearer_prefix_is_optional_and_query_forms_work() {
        assert_eq!(
            auth(&[("authorization", "Bearer j")], "/").credential(),
            Ok(Credential::Bearer("j".into()))
        );
        assert_eq!(
            auth(&[("authorization", "j")], "/").credential(),
            Ok(Credential::Bearer("j".into()))
        );
        assert_eq!(
            auth(&[], "/?token=q").credential(),
            Ok(Credential::Bearer("q".into()))
        );
        assert_eq!(
            auth(&[], "/?X-Api-Key=k").credential(),
            Ok(Credential::ApiKey("k".into()))
        );
        assert_eq!(
            auth(&[("cookie", "a=b; portainer_api_key=c")], "/").credential(),
            Ok(Credential::Bearer("c".into()))
        );
    }

    #[test]
    fn nothing_is_401_missing() {
        let e = auth(&[("x-api-key", "")], "/").credential().err();
        assert_eq!(
            e.map(|e| e.message().to_owned()).as_deref(),
            Some("A valid authorization token is missing")
        );
    }

    #[test]
    fn session_routes_refuse_api_keys() {
        let e = auth(&[("x-api-key", "k")], "/").session().err();
        assert_eq!(
            e.map(|e| (e.status().as_u16(), e.message().to_owned())),
            Some((401, "Auth not supported".into()))
        );
        assert_eq!(
            auth(&[("authorization", "Bearer j")], "/").session(),
            Ok(Credential::Bearer("j".into()))
        );
    }

    #[test]
    fn key_and_authorization_conflict() {
        assert!(auth(&[("x-api-key", "k"), ("authorization", "Bearer j")], "/").conflicting());
        assert!(!auth(&[("authorization", "Bearer j")], "/?token=x").conflicting());
    }
}
