//! Observability: `/metrics` on the admin listener moves with traffic, with bounded labels; gRPC
//! request ids are accepted when sane, generated otherwise and returned in the response metadata.
//!
//! The metrics recorder is process-wide, so every assertion compares a scrape taken after the
//! traffic with one taken before it, on series this test's own traffic must move.

use std::{collections::BTreeMap, net::SocketAddr};

use identity_api::pb;
use identity_testkit::{ADMIN_PASSWORD, ADMIN_USERNAME, TestApp, with_auth};
use tonic::{Code, Request, metadata::MetadataValue};
use uuid::Uuid;

use crate::support::{Must as _, key_request};

both!(
    metrics_move_with_traffic,
    grpc_request_ids_are_echoed_or_generated
);

/// One scrape: every sample by metric name, with its labels.
#[derive(Debug)]
struct Scrape {
    text: String,
    samples: Vec<(String, BTreeMap<String, String>, f64)>,
}

impl Scrape {
    async fn take(admin: SocketAddr) -> Self {
        let resp = reqwest::get(format!("http://{admin}/metrics"))
            .await
            .unwrap_or_else(|e| panic!("GET /metrics: {e}"));
        assert_eq!(resp.status().as_u16(), 200, "GET /metrics status");
        let content_type = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        assert!(
            content_type.starts_with("text/plain"),
            "Prometheus text format, got {content_type:?}"
        );
        let text = resp
            .text()
            .await
            .unwrap_or_else(|e| panic!("reading /metrics: {e}"));
        let samples = text.lines().filter_map(parse_sample).collect();
        Self { text, samples }
    }

    /// The sum of the samples of `name` whose labels include every pair of `labels`.
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.samples
            .iter()
            .filter(|(n, l, _)| {
                n == name
                    && labels
                        .iter()
                        .all(|(k, v)| l.get(*k).is_some_and(|x| x == v))
            })
            .map(|(_, _, v)| v)
            .sum()
    }
}

/// `name{a="x",b="y"} 1.5` → its parts (label values here never contain `"` or `,`).
fn parse_sample(line: &str) -> Option<(String, BTreeMap<String, String>, f64)> {
    if line.starts_with('#') || line.trim().is_empty() {
        return None;
    }
    let (series, value) = line.rsplit_once(' ')?;
    let value: f64 = value.parse().ok()?;
    let (name, labels) = match series.split_once('{') {
        Some((name, rest)) => {
            let body = rest.strip_suffix('}')?;
            let labels = body
                .split(',')
                .filter(|p| !p.is_empty())
                .filter_map(|p| {
                    let (k, v) = p.split_once('=')?;
                    Some((k.to_owned(), v.trim_matches('"').to_owned()))
                })
                .collect();
            (name.to_owned(), labels)
        }
        None => (series.to_owned(), BTreeMap::new()),
    };
    Some((name, labels, value))
}

/// The series moved by exactly `by`: the test's server serves nothing but the test's own calls,
/// so a counter that counts twice (or misses a call) fails as surely as one that never moves.
#[track_caller]
fn assert_moved(before: &Scrape, after: &Scrape, name: &str, labels: &[(&str, &str)], by: f64) {
    let (b, a) = (before.value(name, labels), after.value(name, labels));
    assert!(
        (a - b - by).abs() < f64::EPSILON,
        "{name}{labels:?} moved from {b} to {a}, expected exactly +{by}\n{}",
        after.text
    );
}

async fn metrics_move_with_traffic(app: TestApp) {
    let admin_addr = app
        .admin_addr
        .unwrap_or_else(|| panic!("the test server has an admin listener"));
    let http = app
        .http_addr
        .unwrap_or_else(|| panic!("the test server runs the gateway"));
    let before = Scrape::take(admin_addr).await;

    // gRPC: InitAdmin + Login, a failed login, a key verified three times (cached after once).
    let admin = app.init_admin().await;
    app.auth()
        .login(pb::LoginRequest {
            identifier: ADMIN_USERNAME.to_owned(),
            password: format!("{ADMIN_PASSWORD}-wrong"),
        })
        .await
        .must_fail(Code::Unauthenticated);
    let (_, key) = app.create_api_key(&admin, key_request("metrics")).await;
    // The cache counters also count the session's user look-ups: they are read around the
    // three verifications alone.
    let before_verify = Scrape::take(admin_addr).await;
    for _ in 0..3 {
        app.auth()
            .authenticate(pb::AuthenticateRequest {
                credential: key.clone(),
            })
            .await
            .must();
    }
    let after_verify = Scrape::take(admin_addr).await;
    // A refused API key (well-formed enough to reach the authentication layer).
    app.auth()
        .who_am_i(with_auth(pb::WhoAmIRequest {}, "not-a-key"))
        .await
        .must_fail(Code::Unauthenticated);

    // The gateway: a route without and one with an id in the path.
    let client = reqwest::Client::new();
    let check = client
        .get(format!("http://{http}/api/users/admin/check"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET admin/check: {e}"));
    assert_eq!(check.status().as_u16(), 204);
    let user = client
        .get(format!("http://{http}/api/users/1"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET /api/users/1: {e}"));
    assert_eq!(user.status().as_u16(), 200);

    let after = Scrape::take(admin_addr).await;
    let rpc = |service: &'static str, method: &'static str, code: &'static str| {
        [("service", service), ("method", method), ("code", code)]
    };
    let requests = "identity_grpc_requests_total";
    assert_moved(
        &before,
        &after,
        requests,
        &rpc("identity.v1.AuthService", "Login", "OK"),
        1.0,
    );
    assert_moved(
        &before,
        &after,
        requests,
        &rpc("identity.v1.AuthService", "Login", "UNAUTHENTICATED"),
        1.0,
    );
    assert_moved(
        &before,
        &after,
        requests,
        &rpc("identity.v1.AuthService", "Authenticate", "OK"),
        3.0,
    );
    assert_moved(
        &before,
        &after,
        requests,
        &rpc("identity.v1.ApiKeyService", "CreateApiKey", "OK"),
        1.0,
    );
    // The gateway's upstream calls are RPCs too.
    assert_moved(
        &before,
        &after,
        requests,
        &rpc("identity.v1.AuthService", "GetSetupState", "OK"),
        1.0,
    );
    // Latency histograms, as real Prometheus histograms.
    let login = [("service", "identity.v1.AuthService"), ("method", "Login")];
    assert_moved(
        &before,
        &after,
        "identity_grpc_request_duration_seconds_count",
        &login,
        2.0,
    );
    // Latency buckets are cumulative: the +Inf bucket counts every Login.
    assert_moved(
        &before,
        &after,
        "identity_grpc_request_duration_seconds_bucket",
        &[("method", "Login"), ("le", "+Inf")],
        2.0,
    );

    assert_moved(
        &before,
        &after,
        "identity_login_failures_total",
        &[("reason", "bad_credentials")],
        1.0,
    );
    assert_moved(
        &before,
        &after,
        "identity_auth_failures_total",
        &[("credential", "api_key")],
        1.0,
    );
    // The first verify read the database, the other two the in-process cache.
    assert_moved(
        &before_verify,
        &after_verify,
        "identity_cache_hits_total",
        &[("layer", "local")],
        2.0,
    );
    assert_moved(
        &before_verify,
        &after_verify,
        "identity_cache_db_lookups_total",
        &[("entity", "api_key")],
        1.0,
    );

    // Gateway routes are labelled with their pattern, never the raw path.
    assert_moved(
        &before,
        &after,
        "identity_http_requests_total",
        &[
            ("route", "/api/users/admin/check"),
            ("method", "GET"),
            ("status", "204"),
        ],
        1.0,
    );
    assert_moved(
        &before,
        &after,
        "identity_http_requests_total",
        &[
            ("route", "/api/users/{id}"),
            ("method", "GET"),
            ("status", "200"),
        ],
        1.0,
    );
    assert_moved(
        &before,
        &after,
        "identity_http_request_duration_seconds_count",
        &[("route", "/api/users/{id}")],
        1.0,
    );
    assert!(
        !after.text.contains("route=\"/api/users/1\""),
        "a raw path became a label:\n{}",
        after.text
    );
    // Nothing secret in the scrape.
    assert!(!after.text.contains(&key), "the API key is in /metrics");
    assert!(
        !after.text.contains(&admin),
        "the session token is in /metrics"
    );
}

/// The `x-request-id` of a response's metadata.
fn response_id<T>(resp: &tonic::Response<T>) -> String {
    resp.metadata()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("no x-request-id in {:?}", resp.metadata()))
        .to_owned()
}

async fn grpc_request_ids_are_echoed_or_generated(app: TestApp) {
    let call = |id: Option<String>| {
        let mut auth = app.auth();
        async move {
            let mut req = Request::new(pb::GetSetupStateRequest {});
            if let Some(id) = id {
                let value = MetadataValue::try_from(id.as_str())
                    .unwrap_or_else(|e| panic!("metadata {id:?}: {e}"));
                req.metadata_mut().insert("x-request-id", value);
            }
            auth.get_setup_state(req)
                .await
                .unwrap_or_else(|s| panic!("GetSetupState: {s:?}"))
        }
    };
    let mine = format!("client-{}", Uuid::new_v4().simple());
    assert_eq!(response_id(&call(Some(mine.clone())).await), mine);
    // Too long, or not visible ASCII: replaced with a fresh UUID.
    for bad in ["x".repeat(129), "with space".to_owned()] {
        let got = response_id(&call(Some(bad.clone())).await);
        assert_ne!(got, bad);
        assert!(Uuid::parse_str(&got).is_ok(), "{got:?} is not a UUID");
    }
    let generated = response_id(&call(None).await);
    assert!(Uuid::parse_str(&generated).is_ok(), "{generated:?}");
    assert_ne!(
        generated,
        response_id(&call(None).await),
        "a new id per call"
    );
    // Error responses (trailers-only) carry it too.
    let mut req = Request::new(pb::WhoAmIRequest {});
    req.metadata_mut()
        .insert("x-request-id", MetadataValue::from_static("error-path-id"));
    let status = app
        .auth()
        .who_am_i(req)
        .await
        .must_fail(Code::Unauthenticated);
    assert_eq!(
        status
            .metadata()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok()),
        Some("error-path-id")
    );
}
