//! Trieve's credential and organization headers (`get_api_key_from_headers`,
//! `get_org_id_from_headers` in Trieve's auth middleware).
//!
//! - Credential: `Authorization: <key>` with an optional `Bearer ` prefix, else
//!   `x-api-key: <key>` (same optional prefix). The first header present is the one used, as in
//!   Trieve. A session token from login is accepted the same way; the server tells them apart.
//!   Forwarded as `authorization: Bearer <credential>`.
//! - Organization: `TR-Organization`, alias `x-organization`.

use std::convert::Infallible;

use axum::extract::FromRequestParts;
use http::{HeaderMap, header, request::Parts};
use identity_api::pb;

use super::{
    error::{BAD_ORG_HEADER, TrieveError},
    model::{canonical_uuid, rank},
};
use crate::credential::Credential;

/// The Trieve headers of a request.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct TrieveAuth {
    credential: Option<String>,
    organization: Option<String>,
}

fn strip_bearer(v: &str) -> &str {
    v.strip_prefix("Bearer ").unwrap_or(v).trim()
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).map(|v| v.to_str().unwrap_or("\u{fffd}"))
}

impl TrieveAuth {
    /// Read the headers.
    pub(crate) fn from_headers(headers: &HeaderMap) -> Self {
        let credential = headers
            .get(header::AUTHORIZATION)
            .or_else(|| headers.get("x-api-key"))
            .and_then(|v| v.to_str().ok())
            .map(strip_bearer)
            .filter(|v| !v.is_empty())
            .map(str::to_owned);
        let organization = header_str(headers, "tr-organization")
            .or_else(|| header_str(headers, "x-organization"))
            .map(str::to_owned);
        Self {
            credential,
            organization,
        }
    }

    /// The credential; 401 "Unauthorized" when there is none.
    pub(crate) fn credential(&self) -> Result<Credential, TrieveError> {
        self.credential
            .as_ref()
            .map(|c| Credential::Bearer(c.clone()))
            .ok_or_else(TrieveError::unauthorized)
    }

    /// The `TR-Organization` header as a canonical UUID, when present; 400 "Could not convert
    /// Organization to UUID" when it is not a UUID.
    pub(crate) fn organization(&self) -> Result<Option<String>, TrieveError> {
        match &self.organization {
            None => Ok(None),
            Some(raw) => canonical_uuid(raw)
                .map(Some)
                .ok_or_else(|| TrieveError::bad_request(BAD_ORG_HEADER)),
        }
    }

    /// The `TR-Organization` header, required by the route (generation C). Trieve answers a
    /// missing header with a 500 from its extractor; here it is bad input.
    pub(crate) fn required_organization(&self) -> Result<String, TrieveError> {
        self.organization()?
            .ok_or_else(|| TrieveError::bad_request("The TR-Organization header is required"))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for TrieveAuth {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self::from_headers(&parts.headers))
    }
}

/// The role the principal may use in `organization_id` (its membership's effective role, after
/// the credential's cap); a global administrator counts as owner where it is not a member, as the
/// server treats it. `None`: not a member, or the credential may not use that organization.
pub(crate) fn role_in(p: &pb::Principal, organization_id: &str) -> Option<pb::OrganizationRole> {
    let member = p
        .memberships
        .iter()
        .find(|m| m.organization_id == organization_id)
        .map(|m| {
            pb::OrganizationRole::try_from(m.effective_role)
                .unwrap_or(pb::OrganizationRole::Unspecified)
        })
        .filter(|r| rank(*r) > 0);
    match member {
        Some(r) => Some(r),
        None if p.is_admin => Some(pb::OrganizationRole::Owner),
        None => None,
    }
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    fn auth(pairs: &[(&'static str, &'static str)]) -> TrieveAuth {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        TrieveAuth::from_headers(&h)
    }

    #[test]
    fn authorization_with_or_without_bearer_then_x_api_key() {
        let raw = Ok(Credential::Bearer("k1".into()));
        assert_eq!(auth(&[("authorization", "k1")]).credential(), raw);
        assert_eq!(auth(&[("authorization", "Bearer k1")]).credential(), raw);
        assert_eq!(auth(&[("x-api-key", "k1")]).credential(), raw);
        assert_eq!(auth(&[("x-api-key", "Bearer k1")]).credential(), raw);
        // Authorization wins, as in Trieve.
        assert_eq!(
            auth(&[("authorization", "k1"), ("x-api-key", "k2")]).credential(),
            raw
        );
        for headers in [
            vec![],
            vec![("authorization", "")],
            vec![("x-api-key", "Bearer ")],
        ] {
            let e = auth(&headers).credential().err();
            assert_eq!(e.map(|e| e.status().as_u16()), Some(401), "{headers:?}");
        }
    }

    #[test]
    fn organization_header_and_alias() {
        let id = "67e55044-10b1-426f-9247-bb680e5fe0c8";
        assert_eq!(
            auth(&[("TR-Organization", "67E55044-10B1-426F-9247-BB680E5FE0C8")]).organization(),
            Ok(Some(id.to_owned()))
        );
        assert_eq!(
            auth(&[("x-organization", id)]).required_organization(),
            Ok(id.to_owned())
        );
        assert_eq!(auth(&[]).organization(), Ok(None));
        let e = auth(&[("tr-organization", "nope")]).organization().err();
        assert_eq!(
            e.map(|e| (e.status().as_u16(), e.message().to_owned())),
            Some((400, BAD_ORG_HEADER.to_owned()))
        );
        let e = auth(&[]).required_organization().err();
        assert_eq!(e.map(|e| e.status().as_u16()), Some(400));
    }

    #[test]
    fn roles_come_from_the_effective_membership() {
        let p = pb::Principal {
            memberships: vec![pb::PrincipalMembership {
                organization_id: "o1".into(),
                role: pb::OrganizationRole::Owner as i32,
                effective_role: pb::OrganizationRole::Member as i32,
            }],
            ..Default::default()
        };
        assert_eq!(role_in(&p, "o1"), Some(pb::OrganizationRole::Member));
        assert_eq!(role_in(&p, "o2"), None);
        let admin = pb::Principal {
            is_admin: true,
            ..p
        };
        assert_eq!(role_in(&admin, "o2"), Some(pb::OrganizationRole::Owner));
    }
}
