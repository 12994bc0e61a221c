//! Reading a JSON request body under the size cap. Each dialect turns [`BodyError`] into its own
//! envelope and status.

use axum::body::Body;
use http::{HeaderMap, header::CONTENT_TYPE};
use http_body_util::{BodyExt as _, LengthLimitError, Limited};
use serde_json::Value;

/// Why a request body could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum BodyError {
    /// Larger than the configured limit.
    TooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// A `Content-Type` other than JSON.
    ContentType(String),
    /// Not valid JSON (the parser's message), or the connection failed while reading.
    Invalid(String),
}

/// Whether `headers` allow a JSON body: no `Content-Type` at all, `application/json`, or any
/// `+json` type. Anything else (forms, `text/plain`) is refused, which also keeps cookie-
/// authenticated browsers from posting cross-site without a CORS preflight.
fn json_content_type(headers: &HeaderMap) -> Result<(), BodyError> {
    let Some(value) = headers.get(CONTENT_TYPE) else {
        return Ok(());
    };
    let text = value
        .to_str()
        .map_err(|_| BodyError::ContentType("<invalid>".to_owned()))?;
    let essence = text
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
    {
        Ok(())
    } else {
        Err(BodyError::ContentType(text.to_owned()))
    }
}

/// Read the whole body (at most `limit` bytes) and parse it as JSON.
pub(crate) async fn read_json(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
) -> Result<Value, BodyError> {
    json_content_type(headers)?;
    // A declared length over the cap is refused before reading anything.
    let declared = headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(BodyError::TooLarge { limit });
    }
    let bytes = match Limited::new(body, limit).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => {
            return Err(BodyError::TooLarge { limit });
        }
        Err(e) => {
            return Err(BodyError::Invalid(format!(
                "cannot read the request body: {e}"
            )));
        }
    };
    if bytes.iter().all(u8::is_ascii_whitespace) {
        // What Go's decoder says for an empty body, which Portainer reports as its details.
        return Err(BodyError::Invalid("EOF".to_owned()));
    }
    serde_json::from_slice(&bytes).map_err(|e| BodyError::Invalid(e.to_string()))
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    fn headers(ct: Option<&'static str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Some(ct) = ct {
            h.insert(CONTENT_TYPE, HeaderValue::from_static(ct));
        }
        h
    }

    #[tokio::test]
    async fn json_is_parsed() {
        let v = read_json(
            &headers(Some("application/json; charset=utf-8")),
            Body::from(r#"{"a":1}"#),
            64,
        )
        .await;
        assert_eq!(v, Ok(serde_json::json!({"a": 1})));
        let v = read_json(&headers(None), Body::from("[]"), 64).await;
        assert_eq!(v, Ok(serde_json::json!([])));
    }

    #[tokio::test]
    async fn bad_bodies_are_classified() {
        let big = "x".repeat(65);
        assert_eq!(
            read_json(&headers(None), Body::from(big), 64).await,
            Err(BodyError::TooLarge { limit: 64 })
        );
        assert!(matches!(
            read_json(&headers(Some("text/plain")), Body::from("{}"), 64).await,
            Err(BodyError::ContentType(_))
        ));
        assert!(matches!(
            read_json(&headers(None), Body::from("{"), 64).await,
            Err(BodyError::Invalid(_))
        ));
        assert_eq!(
            read_json(&headers(None), Body::empty(), 64).await,
            Err(BodyError::Invalid("EOF".to_owned()))
        );
    }
}
