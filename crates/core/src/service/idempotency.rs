//! Idempotent creates: a client-chosen `request_id` makes a retried CreateUser/CreateApiKey
//! return the first result instead of creating a second user or key.

use sha2::{Digest as _, Sha256};

use super::Identity;
use crate::{
    Error, Precondition, Result,
    domain::UserId,
    ports::{IdempotencyKey, IdempotencyRecord, NewIdempotency},
};

/// Longest `request_id`, in bytes.
pub const MAX_REQUEST_ID_LEN: usize = 128;

/// Operation names stored with the records.
pub(crate) const CREATE_USER: &str = "CreateUser";
pub(crate) const CREATE_API_KEY: &str = "CreateApiKey";

/// Check a `request_id`: 1-128 printable ASCII characters.
pub(crate) fn check_request_id(id: &str) -> std::result::Result<(), String> {
    if id.is_empty() || id.len() > MAX_REQUEST_ID_LEN {
        return Err(format!("must be 1-{MAX_REQUEST_ID_LEN} characters"));
    }
    if !id.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("must be printable ASCII without spaces".to_owned());
    }
    Ok(())
}

/// SHA-256 over length-prefixed parts: the canonical form of a request (secrets excluded).
pub(crate) fn fingerprint(parts: &[&str]) -> [u8; 32] {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_be_bytes());
        h.update(p.as_bytes());
    }
    h.finalize().into()
}

/// What to do with a request that carries a `request_id`.
pub(crate) enum Replay {
    /// A live record with the same fingerprint: return what it points to.
    Same(i64),
    /// No live record: create, and record.
    Fresh(NewIdempotency),
}

impl Identity {
    /// Look up `request_id` for `caller`/`operation`: the earlier result, or what to record.
    pub(crate) async fn idempotency(
        &self,
        caller: UserId,
        operation: &'static str,
        request_id: &str,
        fingerprint: [u8; 32],
    ) -> Result<Replay> {
        let key = IdempotencyKey {
            caller,
            operation,
            request_id: request_id.to_owned(),
        };
        let now = self.clock.now();
        let expired_before = now - super::chrono_dur(self.settings.idempotency_ttl);
        match self.repo.idempotency_record(&key, expired_before).await? {
            Some(r) => matching(&r, fingerprint).map(Replay::Same),
            None => Ok(Replay::Fresh(NewIdempotency {
                key,
                fingerprint,
                now,
                expired_before,
            })),
        }
    }

    /// After a create with `idem` failed with `err`: when a concurrent request with the same
    /// key won the race, its result; otherwise `err`.
    pub(crate) async fn lost_race(&self, idem: &NewIdempotency, err: Error) -> Result<i64> {
        if !matches!(err, Error::AlreadyExists { .. }) {
            return Err(err);
        }
        match self
            .repo
            .idempotency_record(&idem.key, idem.expired_before)
            .await?
        {
            Some(r) => matching(&r, idem.fingerprint),
            None => Err(err),
        }
    }
}

fn matching(r: &IdempotencyRecord, fingerprint: [u8; 32]) -> Result<i64> {
    if r.fingerprint == fingerprint {
        Ok(r.resource_id)
    } else {
        Err(Error::FailedPrecondition(
            Precondition::IdempotencyKeyReused,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_bounded_printable_ascii() {
        assert!(check_request_id("retry-1_ABC.x").is_ok());
        assert!(check_request_id("").is_err());
        assert!(check_request_id("with space").is_err());
        assert!(check_request_id("é").is_err());
        assert!(check_request_id(&"a".repeat(MAX_REQUEST_ID_LEN)).is_ok());
        assert!(check_request_id(&"a".repeat(MAX_REQUEST_ID_LEN + 1)).is_err());
    }

    #[test]
    fn fingerprints_separate_parts() {
        assert_ne!(fingerprint(&["ab", "c"]), fingerprint(&["a", "bc"]));
        assert_eq!(fingerprint(&["a", "b"]), fingerprint(&["a", "b"]));
    }
}
