//! Reading a JSON request body under the size cap. Each dialect turns [`BodyError`] into its own
//! envelope and status.

use axum::body::Body;
use http::{HeaderMap, header::CONTENT_TYPE};
use http_body_util::BodyExt as _;
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

/// How much of a body over the limit is still read (and dropped) before the 413. A client is
/// usually still sending when the answer is ready; closing a connection with unread data makes
/// the kernel reset it, and the client then sees a reset instead of the 413. Larger bodies are
/// refused without reading them.
const DRAIN_LIMIT: usize = 1024 * 1024;

/// Read the whole body (at most `limit` bytes) and parse it as JSON.
pub(crate) async fn read_json(
    headers: &HeaderMap,
    mut body: Body,
    limit: usize,
) -> Result<Value, BodyError> {
    json_content_type(headers)?;
    // A declared length beyond what is worth draining is refused before reading anything.
    let declared = headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > DRAIN_LIMIT.max(limit) as u64) {
        return Err(BodyError::TooLarge { limit });
    }
    let mut bytes = Vec::new();
    let mut seen = 0usize;
    while let Some(frame) = body.frame().await {
        let frame =
            frame.map_err(|e| BodyError::Invalid(format!("cannot read the request body: {e}")))?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        seen = seen.saturating_add(data.len());
        if seen <= limit {
            bytes.extend_from_slice(&data);
        } else if seen > DRAIN_LIMIT {
            break;
        }
    }
    if seen > limit {
        return Err(BodyError::TooLarge { limit });
    }
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

    /// A body of `chunks` × 10 KiB that counts how many chunks were read.
    fn counted(chunks: usize) -> (Body, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let read = std::sync::Arc::new(AtomicUsize::new(0));
        let counter = read.clone();
        let stream = futures::StreamExt::map(futures::stream::iter(0..chunks), move |_| {
            counter.fetch_add(1, Ordering::SeqCst);
            Ok::<_, std::io::Error>(vec![b' '; 10 * 1024])
        });
        (Body::from_stream(stream), read)
    }

    #[tokio::test]
    async fn an_over_limit_body_is_drained_up_to_the_drain_limit() {
        use std::sync::atomic::Ordering;
        // 200 KiB over a 64 KiB limit: all of it is read before the 413.
        let (body, read) = counted(20);
        assert_eq!(
            read_json(&headers(None), body, 64 * 1024).await,
            Err(BodyError::TooLarge { limit: 64 * 1024 })
        );
        assert_eq!(read.load(Ordering::SeqCst), 20);
        // Without a declared length, reading stops once the drain limit is passed.
        let (body, read) = counted(1000);
        assert_eq!(
            read_json(&headers(None), body, 64 * 1024).await,
            Err(BodyError::TooLarge { limit: 64 * 1024 })
        );
        assert_eq!(read.load(Ordering::SeqCst), DRAIN_LIMIT / (10 * 1024) + 1);
        // A declared length beyond the drain limit: nothing is read.
        let (body, read) = counted(1000);
        let mut h = headers(None);
        h.insert(
            http::header::CONTENT_LENGTH,
            HeaderValue::from_static("10240000"),
        );
        assert_eq!(
            read_json(&h, body, 64 * 1024).await,
            Err(BodyError::TooLarge { limit: 64 * 1024 })
        );
        assert_eq!(read.load(Ordering::SeqCst), 0);
    }
}
