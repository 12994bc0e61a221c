//! `Idempotency-Key` on the REST create routes: the header becomes the gRPC `request_id` of
//! CreateUser/CreateApiKey, so a client that retries a create after a lost answer gets the first
//! result instead of a second user or key.
//!
//! The header follows the IETF draft `draft-ietf-httpapi-idempotency-key-header` (and Stripe's
//! practice): optional; a retry with the same key and the same request within 24 hours returns the
//! first user; a retry of a key creation creates nothing and is refused with a conflict that names
//! the first key, because a key's secret is shown once and never stored; the same key with a
//! different request is refused as a bad request. Each dialect puts these in its own envelope.

use http::HeaderMap;

use crate::status::UpstreamError;

/// The request header.
pub(crate) const HEADER: &str = "idempotency-key";

/// Longest key, in bytes (the wire contract's `request_id` limit).
const MAX_LEN: usize = 128;

/// The server's reason for a `request_id` reused with a different request.
const REUSED: &str = "IDEMPOTENCY_KEY_REUSED";

/// The message of a malformed header.
pub(crate) const INVALID: &str =
    "Idempotency-Key must be 1-128 printable ASCII characters without spaces";

/// The `Idempotency-Key` of a request: `Ok(None)` when absent, `Err(INVALID)` when malformed or
/// repeated.
pub(crate) fn key(headers: &HeaderMap) -> Result<Option<String>, &'static str> {
    let mut values = headers.get_all(HEADER).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(INVALID);
    }
    let bytes = value.as_bytes();
    if bytes.is_empty() || bytes.len() > MAX_LEN || !bytes.iter().all(u8::is_ascii_graphic) {
        return Err(INVALID);
    }
    // All graphic ASCII, so this cannot fail.
    value
        .to_str()
        .map(|s| Some(s.to_owned()))
        .map_err(|_| INVALID)
}

/// The server's refusal of a reused key, worded for the HTTP header instead of the gRPC field.
pub(crate) fn reworded(mut e: UpstreamError) -> UpstreamError {
    if e.reason() == REUSED {
        "this Idempotency-Key was already used for a different request".clone_into(&mut e.message);
    }
    e
}

/// The refusal of a retried key creation: the key exists, its secret cannot be shown again.
pub(crate) fn key_replayed(key_name: &str) -> UpstreamError {
    let mut e = UpstreamError::new(
        tonic::Code::AlreadyExists,
        format!(
            "this Idempotency-Key already created the API key {key_name:?}; its secret is shown \
             only once: revoke that key and create another if the secret was lost"
        ),
    );
    e.reason = Some("IDEMPOTENT_REPLAY".to_owned());
    e
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    fn headers(values: &[&[u8]]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            let value =
                HeaderValue::from_bytes(v).unwrap_or_else(|e| panic!("header value {v:?}: {e}"));
            h.append(HEADER, value);
        }
        h
    }

    #[test]
    fn absent_is_none_and_a_good_key_passes_through() {
        assert_eq!(key(&HeaderMap::new()), Ok(None));
        let uuid = "3f0e4b8a-8c1d-4a57-9a43-0f6d2b9d8e11";
        assert_eq!(key(&headers(&[uuid.as_bytes()])), Ok(Some(uuid.to_owned())));
        let longest = "k".repeat(MAX_LEN);
        assert_eq!(
            key(&headers(&[longest.as_bytes()])),
            Ok(Some(longest.clone()))
        );
    }

    #[test]
    fn malformed_or_repeated_keys_are_refused() {
        let too_long = "k".repeat(MAX_LEN + 1);
        for bad in [
            &b""[..],
            b"has space",
            b"tab\there",
            "caf\u{e9}".as_bytes(),
            too_long.as_bytes(),
        ] {
            assert_eq!(key(&headers(&[bad])), Err(INVALID), "{bad:?}");
        }
        assert_eq!(key(&headers(&[b"a", b"b"])), Err(INVALID));
    }

    #[test]
    fn only_the_reused_reason_is_reworded() {
        let mut reused = UpstreamError::new(tonic::Code::FailedPrecondition, "request_id reused");
        reused.reason = Some(REUSED.to_owned());
        assert!(reworded(reused).message.contains("Idempotency-Key"));
        let other = UpstreamError::new(tonic::Code::FailedPrecondition, "something else");
        assert_eq!(reworded(other.clone()), other);
    }
}
