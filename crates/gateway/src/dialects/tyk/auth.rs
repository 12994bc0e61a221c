//! Tyk AI Studio's credential lookup and `AdminOnly` (dialects.md §3.2).
//!
//! The credential is the query parameter `token`, else the `Authorization` header split on single
//! spaces into **exactly two** parts `<word> <key>` (the word is not checked). It is forwarded as
//! `authorization: Bearer <key>`, so an API key and a session JWT both work. Tyk's session cookie
//! is not served (this service has no Tyk cookie). The server then describes the caller
//! (WhoAmI): an API key only counts when its user's e-mail is verified, as in Tyk, and every
//! route needs a global administrator.
//!
//! No credential, a malformed header, an invalid credential or an unverified e-mail behind an API
//! key → 401 `{"error":"Unauthorized"}`; a non-administrator → 403 `{"error":"Forbidden"}`.

use axum::extract::{FromRequestParts, Query};
use http::{HeaderMap, Uri, header, request::Parts};
use identity_api::pb;
use tonic::Code;

use super::error::TykError;
use crate::{AppState, credential::Credential};

/// The credential of a request, in Tyk's order; `None` when there is none or it is malformed.
pub(crate) fn credential(headers: &HeaderMap, uri: &Uri) -> Option<Credential> {
    let from_query = Query::<Vec<(String, String)>>::try_from_uri(uri)
        .ok()
        .and_then(|q| q.0.into_iter().find(|(k, _)| k == "token"))
        .map(|(_, v)| v)
        .filter(|v| !v.is_empty());
    if let Some(token) = from_query {
        return Some(Credential::Bearer(token));
    }
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let mut parts = value.split(' ');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(_word), Some(key), None) if !key.is_empty() => {
            Some(Credential::Bearer(key.to_owned()))
        }
        _ => None,
    }
}

/// An authenticated administrator's credential, to forward.
#[derive(Debug, Clone)]
pub(crate) struct TykAdmin {
    /// The caller's credential.
    pub(crate) credential: Credential,
}

impl TykAdmin {
    /// Check `credential` with the server: valid (with a verified e-mail behind an API key) and
    /// an administrator.
    pub(crate) async fn check(st: &AppState, credential: Credential) -> Result<Self, TykError> {
        let principal = st.upstream.who_am_i(&credential).await.map_err(|e| {
            if e.code == Code::Unauthenticated {
                TykError::Unauthorized
            } else {
                TykError::upstream(&e)
            }
        })?;
        let verified = principal.user.as_ref().is_some_and(|u| u.email_verified);
        if principal.credential_kind == pb::CredentialKind::ApiKey as i32 && !verified {
            return Err(TykError::Unauthorized);
        }
        if !principal.is_admin {
            return Err(TykError::Forbidden);
        }
        Ok(Self { credential })
    }
}

impl FromRequestParts<AppState> for TykAdmin {
    type Rejection = TykError;

    async fn from_request_parts(parts: &mut Parts, st: &AppState) -> Result<Self, TykError> {
        let credential = credential(&parts.headers, &parts.uri).ok_or(TykError::Unauthorized)?;
        Self::check(st, credential).await
    }
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    fn cred(auth: Option<&'static str>, uri: &'static str) -> Option<Credential> {
        let mut h = HeaderMap::new();
        if let Some(a) = auth {
            h.insert(header::AUTHORIZATION, HeaderValue::from_static(a));
        }
        credential(&h, &Uri::from_static(uri))
    }

    #[test]
    fn header_needs_exactly_two_parts_with_any_word() {
        let k = Some(Credential::Bearer("k".into()));
        assert_eq!(cred(Some("Bearer k"), "/"), k);
        assert_eq!(cred(Some("Token k"), "/"), k);
        assert_eq!(cred(Some("k"), "/"), None);
        assert_eq!(cred(Some("Bearer  k"), "/"), None);
        assert_eq!(cred(Some("Bearer k x"), "/"), None);
        assert_eq!(cred(Some("Bearer "), "/"), None);
        assert_eq!(cred(None, "/"), None);
    }

    #[test]
    fn query_token_wins() {
        assert_eq!(
            cred(Some("Bearer h"), "/api/v1/users?token=q"),
            Some(Credential::Bearer("q".into()))
        );
        assert_eq!(
            cred(Some("Bearer h"), "/api/v1/users?token="),
            Some(Credential::Bearer("h".into()))
        );
    }
}
