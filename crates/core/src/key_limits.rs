//! The restrictions of an API key (organization binding, organization and dataset lists, scopes,
//! expiry) and the one rule for keys minted by keys: a child is never wider than its parent.
//!
//! Each restriction is "none" (empty list, no binding, no expiry) or a bound. A child is within
//! its parent when, for every restriction the parent has, the child has one that is the same or
//! narrower: the same binding, a subset of the lists, an expiry no later. When the child leaves a
//! restriction out, [`KeyLimits::inherit`] gives it the parent's.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::{Denial, Error, Result, domain::ApiKey};

/// The restrictions of a key being minted or rolled.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyLimits {
    /// Scopes (trimmed); empty means unrestricted.
    pub scopes: Vec<String>,
    /// Organization binding.
    pub organization_id: Option<Uuid>,
    /// Dataset restrictions; empty means unrestricted.
    pub dataset_ids: Vec<Uuid>,
    /// Organization restrictions; empty means unrestricted.
    pub organization_ids: Vec<Uuid>,
    /// Expiry.
    pub expires_at: Option<DateTime<Utc>>,
}

fn subset<T: PartialEq>(child: &[T], parent: &[T]) -> bool {
    parent.is_empty() || (!child.is_empty() && child.iter().all(|c| parent.contains(c)))
}

impl KeyLimits {
    /// The restrictions of an existing key.
    pub fn of(k: &ApiKey) -> Self {
        Self {
            scopes: k.scopes.clone(),
            organization_id: k.organization_id,
            dataset_ids: k.dataset_ids.clone(),
            organization_ids: k.organization_ids.clone(),
            expires_at: k.expires_at,
        }
    }

    /// Take every restriction of `parent` that this key leaves out.
    pub fn inherit(&mut self, parent: &ApiKey) {
        if self.scopes.is_empty() {
            self.scopes.clone_from(&parent.scopes);
        }
        if self.organization_id.is_none() {
            self.organization_id = parent.organization_id;
        }
        if self.dataset_ids.is_empty() {
            self.dataset_ids.clone_from(&parent.dataset_ids);
        }
        if self.organization_ids.is_empty() {
            self.organization_ids.clone_from(&parent.organization_ids);
        }
        if self.expires_at.is_none() {
            self.expires_at = parent.expires_at;
        }
    }

    /// `Ok` when this key is no wider than `parent` in any restriction. A different (or missing)
    /// organization binding is `ORGANIZATION_SCOPE`; anything else wider `KEY_RESTRICTIONS_EXCEEDED`.
    pub fn within(&self, parent: &ApiKey) -> Result<()> {
        if let Some(bound) = parent.organization_id
            && self.organization_id != Some(bound)
        {
            return Err(Error::PermissionDenied(Denial::OrganizationScope));
        }
        let org_allowed =
            |o: &Uuid| parent.organization_ids.is_empty() || parent.organization_ids.contains(o);
        let narrower = subset(&self.scopes, &parent.scopes)
            && subset(&self.dataset_ids, &parent.dataset_ids)
            && subset(&self.organization_ids, &parent.organization_ids)
            && self.organization_id.as_ref().is_none_or(org_allowed)
            && parent
                .expires_at
                .is_none_or(|pe| self.expires_at.is_some_and(|ce| ce <= pe));
        if narrower {
            Ok(())
        } else {
            Err(Error::PermissionDenied(Denial::KeyRestrictions))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::KeyRole;

    fn parent(limits: &KeyLimits) -> ApiKey {
        let t = DateTime::<Utc>::from_timestamp(1_700_000_000, 0).unwrap_or_default();
        ApiKey {
            id: 1,
            uid: Uuid::new_v4(),
            user_id: 2,
            name: "parent".into(),
            description: String::new(),
            prefix: "idk_abcdefgh".into(),
            digest: [0; 32],
            role: KeyRole::Write,
            scopes: limits.scopes.clone(),
            organization_id: limits.organization_id,
            dataset_ids: limits.dataset_ids.clone(),
            organization_ids: limits.organization_ids.clone(),
            expires_at: limits.expires_at,
            last_used_at: None,
            revoked_at: None,
            primary: false,
            minted_by_session: false,
            created_at: t,
            updated_at: t,
        }
    }

    fn denial(r: Result<()>) -> Option<Denial> {
        match r {
            Err(Error::PermissionDenied(d)) => Some(d),
            _ => None,
        }
    }

    #[test]
    fn an_unrestricted_parent_allows_anything() {
        let p = parent(&KeyLimits::default());
        let child = KeyLimits {
            scopes: vec!["admin:*".into()],
            organization_id: Some(Uuid::new_v4()),
            ..KeyLimits::default()
        };
        assert!(child.within(&p).is_ok());
        assert!(KeyLimits::default().within(&p).is_ok());
    }

    #[test]
    fn a_child_inherits_what_it_leaves_out_and_may_narrow_further() {
        let (o1, o2, d1, d2) = (
            Uuid::new_v4(),
            Uuid::new_v4(),
            Uuid::new_v4(),
            Uuid::new_v4(),
        );
        let expiry = DateTime::<Utc>::from_timestamp(1_900_000_000, 0);
        let limits = KeyLimits {
            scopes: vec!["read".into(), "write".into()],
            organization_id: None,
            dataset_ids: vec![d1, d2],
            organization_ids: vec![o1, o2],
            expires_at: expiry,
        };
        let p = parent(&limits);
        let mut child = KeyLimits::default();
        child.inherit(&p);
        assert_eq!(child, limits);
        assert!(child.within(&p).is_ok());
        let narrower = KeyLimits {
            scopes: vec!["read".into()],
            organization_id: Some(o1),
            dataset_ids: vec![d2],
            organization_ids: vec![o1],
            expires_at: expiry.map(|e| e - chrono::Duration::days(1)),
        };
        assert!(narrower.within(&p).is_ok());
    }

    #[test]
    fn every_wider_restriction_is_refused() {
        let (o1, d1) = (Uuid::new_v4(), Uuid::new_v4());
        let expiry = DateTime::<Utc>::from_timestamp(1_900_000_000, 0);
        let limits = KeyLimits {
            scopes: vec!["read".into()],
            organization_id: None,
            dataset_ids: vec![d1],
            organization_ids: vec![o1],
            expires_at: expiry,
        };
        let p = parent(&limits);
        let wider = [
            KeyLimits {
                scopes: vec!["read".into(), "admin:*".into()],
                ..limits.clone()
            },
            KeyLimits {
                scopes: Vec::new(),
                ..limits.clone()
            },
            KeyLimits {
                dataset_ids: vec![d1, Uuid::new_v4()],
                ..limits.clone()
            },
            KeyLimits {
                organization_ids: Vec::new(),
                ..limits.clone()
            },
            KeyLimits {
                organization_id: Some(Uuid::new_v4()),
                ..limits.clone()
            },
            KeyLimits {
                expires_at: None,
                ..limits.clone()
            },
            KeyLimits {
                expires_at: expiry.map(|e| e + chrono::Duration::seconds(1)),
                ..limits.clone()
            },
        ];
        for w in wider {
            assert_eq!(denial(w.within(&p)), Some(Denial::KeyRestrictions), "{w:?}");
        }
    }

    #[test]
    fn a_bound_parent_mints_only_keys_bound_to_its_organization() {
        let org = Uuid::new_v4();
        let p = parent(&KeyLimits {
            organization_id: Some(org),
            ..KeyLimits::default()
        });
        for o in [None, Some(Uuid::new_v4())] {
            let child = KeyLimits {
                organization_id: o,
                ..KeyLimits::default()
            };
            assert_eq!(denial(child.within(&p)), Some(Denial::OrganizationScope));
        }
        let mut child = KeyLimits::default();
        child.inherit(&p);
        assert_eq!(child.organization_id, Some(org));
        assert!(child.within(&p).is_ok());
    }
}
