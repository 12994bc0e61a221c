//! The one map from domain errors to gRPC statuses, with `google.rpc` details.

use std::collections::HashMap;

use identity_core::Error;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt as _};

/// Domain of every `ErrorInfo` this service emits.
pub const ERROR_DOMAIN: &str = "identity";

/// The `RetryInfo` delay of an UNAVAILABLE status (a lost database is retried after this).
const UNAVAILABLE_RETRY_AFTER: std::time::Duration = std::time::Duration::from_secs(1);

/// Convert a domain error. Internal and unavailable causes are logged here and never shown.
pub(crate) fn to_status(e: Error) -> Status {
    let mut details = ErrorDetails::new();
    let reason = e.reason();
    let (code, message) = match &e {
        Error::InvalidArgument(violations) => {
            for v in violations {
                details.add_bad_request_violation(v.field.clone(), v.description.clone());
            }
            (Code::InvalidArgument, e.to_string())
        }
        Error::NotFound { .. } => (Code::NotFound, e.to_string()),
        Error::AlreadyExists { .. } => (Code::AlreadyExists, e.to_string()),
        Error::Unauthenticated(_) => (Code::Unauthenticated, e.to_string()),
        Error::PermissionDenied(_) => (Code::PermissionDenied, e.to_string()),
        Error::FailedPrecondition(_) => (Code::FailedPrecondition, e.to_string()),
        Error::ResourceExhausted {
            retry_after_secs, ..
        } => {
            details.set_retry_info(Some(std::time::Duration::from_secs(*retry_after_secs)));
            (Code::ResourceExhausted, e.to_string())
        }
        Error::Unavailable(cause) => {
            tracing::warn!(error.cause = %cause, "dependency unavailable");
            details.set_retry_info(Some(UNAVAILABLE_RETRY_AFTER));
            (
                Code::Unavailable,
                "the service is temporarily unavailable; retry later".to_owned(),
            )
        }
        Error::Internal(cause) => {
            tracing::error!(error.cause = %cause, "internal error");
            (Code::Internal, "internal error".to_owned())
        }
    };
    details.set_error_info(reason, ERROR_DOMAIN, HashMap::<String, String>::new());
    Status::with_error_details(code, message, details)
}

/// An INVALID_ARGUMENT status for one field, built like every other validation error.
pub(crate) fn invalid(field: &str, description: &str) -> Status {
    to_status(Error::invalid(field, description))
}

#[cfg(test)]
mod tests {
    use identity_core::{Denial, Entity};
    use tonic_types::StatusExt as _;

    use super::*;

    #[test]
    fn every_variant_maps_to_its_code_with_a_reason() {
        let cases = [
            (Error::invalid("username", "bad"), Code::InvalidArgument),
            (Error::not_found(Entity::User), Code::NotFound),
            (
                Error::AlreadyExists {
                    entity: Entity::User,
                    field: "email",
                },
                Code::AlreadyExists,
            ),
            (Error::Unauthenticated("x"), Code::Unauthenticated),
            (
                Error::PermissionDenied(Denial::AdminOnly),
                Code::PermissionDenied,
            ),
            (
                Error::FailedPrecondition(identity_core::Precondition::LastAdmin),
                Code::FailedPrecondition,
            ),
            (
                Error::ResourceExhausted {
                    retry_after_secs: 3,
                    limit: identity_core::Limit::LoginBackoff,
                },
                Code::ResourceExhausted,
            ),
            (Error::Unavailable("db".into()), Code::Unavailable),
            (Error::Internal("secret detail".into()), Code::Internal),
        ];
        for (e, code) in cases {
            let reason = e.reason();
            let s = to_status(e);
            assert_eq!(s.code(), code);
            assert_eq!(s.get_details_error_info().map(|i| i.reason), Some(reason));
            assert!(!s.message().contains("secret detail"));
        }
    }

    #[test]
    fn violations_become_bad_request_details() {
        let s = to_status(Error::InvalidArgument(vec![
            identity_core::FieldViolation::new("username", "must not be empty"),
            identity_core::FieldViolation::new("email", "must be an e-mail address"),
        ]));
        let fields: Vec<String> = s
            .get_details_bad_request()
            .map(|b| b.field_violations.into_iter().map(|v| v.field).collect())
            .unwrap_or_default();
        assert_eq!(fields, vec!["username".to_owned(), "email".to_owned()]);
    }
}
