//! Count limits of every repeated field of a request, checked before anything else looks at the
//! request: a list over its limit is refused at once with one violation, and none of its entries
//! is read, copied or judged (see also [`crate::Violations`], which keeps at most
//! [`crate::MAX_VIOLATIONS`]). The gRPC server additionally caps the decoded message size per
//! service, so no list can be longer than that cap allows in the first place.
//!
//! The repeated fields of `identity.v1` requests, and where each is bounded here:
//! `CreateApiKeyRequest.{scopes, dataset_ids, organization_ids}` ([`create_api_key`]),
//! `ListUsersRequest.emails` ([`list_users`]), `UpdateUserRequest.update_mask.paths`
//! ([`update_mask`]), `ListMembersRequest.{emails, user_handles}` ([`member_filters`]). No request
//! has a map field.

use super::CreateApiKey;
use crate::{Error, Result};

/// Scopes of one API key.
pub const MAX_SCOPES: usize = 64;
/// Dataset or organization restrictions of one API key (each list).
pub const MAX_KEY_IDS: usize = 256;
/// E-mails of a user or member listing filter.
pub const MAX_FILTER_EMAILS: usize = 100;
/// User handles of a member listing filter.
pub const MAX_FILTER_HANDLES: usize = 100;
/// Paths of an UpdateUser field mask: twelve paths exist, a few repeats are tolerated.
pub const MAX_MASK_PATHS: usize = 32;

/// INVALID_ARGUMENT on `field` when `len` is over `max`.
fn count(field: &str, len: usize, max: usize, what: &str) -> Result<()> {
    if len > max {
        Err(Error::invalid(field, format!("at most {max} {what}")))
    } else {
        Ok(())
    }
}

/// The lists of a CreateApiKey request.
pub(crate) fn create_api_key(input: &CreateApiKey) -> Result<()> {
    count("scopes", input.scopes.len(), MAX_SCOPES, "scopes")?;
    count("dataset_ids", input.dataset_ids.len(), MAX_KEY_IDS, "ids")?;
    count(
        "organization_ids",
        input.organization_ids.len(),
        MAX_KEY_IDS,
        "ids",
    )
}

/// The e-mail filter of a user listing.
pub(crate) fn list_users(emails: &[String]) -> Result<()> {
    count("emails", emails.len(), MAX_FILTER_EMAILS, "e-mails")
}

/// The field mask of UpdateUser.
pub(crate) fn update_mask(paths: &[String]) -> Result<()> {
    count("update_mask", paths.len(), MAX_MASK_PATHS, "field paths")
}

/// The filters of a member listing.
pub(crate) fn member_filters(emails: &[String], handles: &[String]) -> Result<()> {
    count("emails", emails.len(), MAX_FILTER_EMAILS, "e-mails")?;
    count("user_handles", handles.len(), MAX_FILTER_HANDLES, "handles")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn violations(r: Result<()>) -> Vec<crate::FieldViolation> {
        match r {
            Err(Error::InvalidArgument(v)) => v,
            other => panic!("expected INVALID_ARGUMENT, got {other:?}"),
        }
    }

    #[test]
    fn two_million_empty_scopes_are_one_violation() {
        let input = CreateApiKey {
            scopes: vec![String::new(); 2_000_000],
            dataset_ids: vec![String::new(); 2_000_000],
            ..CreateApiKey::default()
        };
        let v = violations(create_api_key(&input));
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].field, "scopes");
    }

    #[test]
    fn every_list_is_refused_one_over_its_limit_and_accepted_at_it() {
        let at = |n: usize| vec![String::new(); n];
        for (field, f) in [
            (
                "scopes",
                Box::new(|n| {
                    create_api_key(&CreateApiKey {
                        scopes: at(n),
                        ..CreateApiKey::default()
                    })
                }) as Box<dyn Fn(usize) -> Result<()>>,
            ),
            (
                "dataset_ids",
                Box::new(|n| {
                    create_api_key(&CreateApiKey {
                        dataset_ids: at(n),
                        ..CreateApiKey::default()
                    })
                }),
            ),
            (
                "organization_ids",
                Box::new(|n| {
                    create_api_key(&CreateApiKey {
                        organization_ids: at(n),
                        ..CreateApiKey::default()
                    })
                }),
            ),
            ("emails", Box::new(|n| list_users(&at(n)))),
            ("update_mask", Box::new(|n| update_mask(&at(n)))),
            ("emails", Box::new(|n| member_filters(&at(n), &[]))),
            ("user_handles", Box::new(|n| member_filters(&[], &at(n)))),
        ] {
            let max = match field {
                "scopes" => MAX_SCOPES,
                "dataset_ids" | "organization_ids" => MAX_KEY_IDS,
                "emails" => MAX_FILTER_EMAILS,
                "user_handles" => MAX_FILTER_HANDLES,
                _ => MAX_MASK_PATHS,
            };
            assert!(f(max).is_ok(), "{field} at its limit");
            let v = violations(f(max + 1));
            assert_eq!(v.len(), 1, "{field}");
            assert_eq!(v[0].field, field);
        }
    }
}
