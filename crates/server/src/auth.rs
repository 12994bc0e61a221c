//! The authentication layer: turns `authorization: Bearer …` or `x-api-key` metadata into a
//! [`Principal`] in the request extensions. Authorization is decided by each use case.
//!
//! Health and reflection need no credential. Requests without one pass through (the public RPCs
//! need none; the others answer UNAUTHENTICATED); a credential that is present but invalid is
//! refused here, before any handler runs.

use std::{
    sync::Arc,
    task::{Context, Poll},
};

use futures::future::BoxFuture;
use http::{HeaderMap, Request, Response};
use identity_core::{Error, principal::Principal, service::Identity, token::TokenService};
use tonic::Status;
use tower::{Layer, Service};

use crate::grpc::status::to_status;

const UNAUTHENTICATED_PATHS: [&str; 3] = [
    "/grpc.health.v1.Health/",
    "/grpc.reflection.v1.ServerReflection/",
    "/grpc.reflection.v1alpha.ServerReflection/",
];

/// Largest credential accepted; anything longer is rejected without work.
const MAX_CREDENTIAL_LEN: usize = 4096;

/// Layer that authenticates every request.
#[derive(Debug, Clone)]
pub struct AuthLayer {
    identity: Identity,
}

impl AuthLayer {
    /// Authenticate through `identity`.
    pub fn new(identity: Identity) -> Self {
        Self { identity }
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = Auth<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Auth {
            inner,
            identity: self.identity.clone(),
        }
    }
}

/// The service made by [`AuthLayer`].
#[derive(Debug, Clone)]
pub struct Auth<S> {
    inner: S,
    identity: Identity,
}

/// Extract the credential: `authorization: Bearer <x>` or `x-api-key: <x>`.
pub(crate) fn credential(headers: &HeaderMap) -> Result<Option<String>, Error> {
    let bad = Error::Unauthenticated("malformed credential");
    if let Some(v) = headers.get(http::header::AUTHORIZATION) {
        let v = v
            .to_str()
            .map_err(|_| Error::Unauthenticated("malformed credential"))?;
        let Some(token) = v
            .strip_prefix("Bearer ")
            .or_else(|| v.strip_prefix("bearer "))
        else {
            return Err(Error::Unauthenticated(
                "the authorization scheme must be Bearer",
            ));
        };
        let token = token.trim();
        if token.is_empty() || token.len() > MAX_CREDENTIAL_LEN {
            return Err(bad);
        }
        return Ok(Some(token.to_owned()));
    }
    if let Some(v) = headers.get("x-api-key") {
        let v = v
            .to_str()
            .map_err(|_| Error::Unauthenticated("malformed credential"))?
            .trim();
        if v.is_empty() || v.len() > MAX_CREDENTIAL_LEN {
            return Err(bad);
        }
        return Ok(Some(v.to_owned()));
    }
    Ok(None)
}

impl<S, B> Service<Request<B>> for Auth<S>
where
    S: Service<Request<B>, Response = Response<tonic::body::Body>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        // The clone-and-replace idiom: the instance that was polled ready is the one called.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let identity = self.identity.clone();
        Box::pin(async move {
            let path = req.uri().path();
            if UNAUTHENTICATED_PATHS.iter().any(|p| path.starts_with(p)) {
                return inner.call(req).await;
            }
            match credential(req.headers()) {
                Ok(None) => {}
                Ok(Some(cred)) => match identity.authenticate(&cred).await {
                    Ok(p) => {
                        req.extensions_mut().insert(Arc::new(p));
                    }
                    Err(e) => {
                        if matches!(e, Error::Unauthenticated(_)) {
                            let kind = if TokenService::looks_like_jwt(&cred) {
                                "session"
                            } else {
                                "api_key"
                            };
                            count_auth_failure(kind);
                        }
                        return Ok(to_status(e).into_http());
                    }
                },
                Err(e) => {
                    count_auth_failure("malformed");
                    return Ok(to_status(e).into_http());
                }
            }
            inner.call(req).await
        })
    }
}

/// Count a refused credential (`identity_auth_failures_total`) by kind.
fn count_auth_failure(kind: &'static str) {
    metrics::counter!(identity_telemetry::AUTH_FAILURES, "credential" => kind).increment(1);
}

/// The caller of an authenticated RPC.
pub(crate) fn principal<T>(req: &tonic::Request<T>) -> Result<Arc<Principal>, Status> {
    req.extensions()
        .get::<Arc<Principal>>()
        .cloned()
        .ok_or_else(|| to_status(Error::Unauthenticated("authentication required")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            if let Ok(v) = v.parse() {
                h.insert(*k, v);
            }
        }
        h
    }

    #[test]
    fn credentials_are_extracted() {
        assert!(matches!(credential(&headers(&[])), Ok(None)));
        assert_eq!(
            credential(&headers(&[("authorization", "Bearer abc")]))
                .ok()
                .flatten()
                .as_deref(),
            Some("abc")
        );
        assert_eq!(
            credential(&headers(&[("x-api-key", "k")]))
                .ok()
                .flatten()
                .as_deref(),
            Some("k")
        );
        assert!(credential(&headers(&[("authorization", "Basic abc")])).is_err());
        assert!(credential(&headers(&[("authorization", "Bearer ")])).is_err());
        let long = "x".repeat(MAX_CREDENTIAL_LEN + 1);
        assert!(credential(&headers(&[("x-api-key", long.as_str())])).is_err());
    }
}
