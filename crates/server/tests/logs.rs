//! The real `identity-server` binary with JSON logs at debug level, on a fresh Postgres database
//! and ports picked by the OS: a full flow over gRPC and over the in-process gateway, then the
//! captured stdout+stderr is searched. A client's request id must appear in a gateway line and a
//! server line; no password, raw API key, key digest (hex or base64), argon2 hash, JWT or the JWT
//! secret may appear anywhere.

use std::{
    fs::File,
    net::SocketAddr,
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::Duration,
};

use base64::Engine as _;
use identity_api::pb::{
    self, api_key_service_client::ApiKeyServiceClient, auth_service_client::AuthServiceClient,
    user_service_client::UserServiceClient,
};
use identity_testkit::{Backend, TestDatabase};
use serde_json::{Value, json};
use tonic::{
    Code, Request,
    metadata::MetadataValue,
    transport::{Channel, Endpoint},
};

const START_DEADLINE: Duration = Duration::from_secs(60);
const ADMIN_PASSWORD: &str = "Adm1n-pass-phrase-xyz";
const USER_PASSWORD: &str = "Us3r-pass-phrase-qrs";
const REST_USER_PASSWORD: &str = "R3st-pass-phrase-tuv";
const WRONG_PASSWORD: &str = "Wr0ng-pass-phrase-abc";

/// The server process; killed on drop when still running.
struct Server {
    child: Child,
    log: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        if std::env::var_os("KEEP_LOG").is_none() {
            let _ = std::fs::remove_file(&self.log);
        }
    }
}

impl Server {
    fn start(database_url: &str, jwt_secret: &str) -> Self {
        let log = std::env::temp_dir().join(format!(
            "identity-logs-{}.log",
            uuid::Uuid::new_v4().simple()
        ));
        let out = File::create(&log).unwrap_or_else(|e| panic!("creating {}: {e}", log.display()));
        let err = out
            .try_clone()
            .unwrap_or_else(|e| panic!("cloning the log handle: {e}"));
        let mut command = Command::new(env!("CARGO_BIN_EXE_identity-server"));
        for (name, _) in std::env::vars_os() {
            let name_text = name.to_string_lossy();
            if name_text.starts_with("IDENTITY_") || name_text == "RUST_LOG" {
                command.env_remove(&name);
            }
        }
        command
            .env("IDENTITY_DATABASE_URL", database_url)
            .env("IDENTITY_JWT_SECRET", jwt_secret)
            .env("IDENTITY_GRPC_ADDR", "127.0.0.1:0")
            .env("IDENTITY_HTTP_ADDR", "127.0.0.1:0")
            .env("IDENTITY_ADMIN_ADDR", "127.0.0.1:0")
            .env("IDENTITY_LOG_FORMAT", "json")
            .env("IDENTITY_ARGON2_MEMORY_KIB", "8")
            .env("IDENTITY_ARGON2_ITERATIONS", "1")
            .env("IDENTITY_ARGON2_PARALLELISM", "1")
            .env("IDENTITY_PASSWORD_MIN_LENGTH", "12")
            .env("RUST_LOG", "debug")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("starting identity-server: {e}"));
        Self { child, log }
    }

    fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The JSON log lines (other lines are kept for the secret scan, not parsed).
    fn json_lines(&self) -> Vec<Value> {
        self.logs()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// The address a start-up line with `message` reports in `field`.
    fn logged_addr(&self, message: &str, field: &str) -> Option<SocketAddr> {
        identity_testkit::logged_addr(&self.logs(), message, field)
    }

    /// Wait until the three listeners are logged; returns (gRPC, gateway, admin).
    async fn addresses(&mut self) -> (SocketAddr, SocketAddr, SocketAddr) {
        let start = tokio::time::Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().ok().flatten() {
                panic!(
                    "identity-server exited while starting ({status}); log:\n{}",
                    self.logs()
                );
            }
            let found = (
                self.logged_addr("gRPC listening", "addr"),
                self.logged_addr("gateway listening", "http_addr"),
                self.logged_addr("admin listening (GET /metrics)", "admin_addr"),
            );
            if let (Some(g), Some(h), Some(a)) = found {
                return (g, h, a);
            }
            assert!(
                start.elapsed() < START_DEADLINE,
                "identity-server did not log its listeners within {START_DEADLINE:?}; log:\n{}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// SIGTERM, then wait (bounded) so that everything is flushed.
    async fn stop(&mut self) {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let start = tokio::time::Instant::now();
        while self.child.try_wait().ok().flatten().is_none() {
            if start.elapsed() > Duration::from_secs(20) {
                let _ = self.child.kill();
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn with_metadata<T>(message: T, pairs: &[(&'static str, &str)]) -> Request<T> {
    let mut req = Request::new(message);
    for (name, value) in pairs {
        let v = MetadataValue::try_from(*value)
            .unwrap_or_else(|e| panic!("{name}: not valid metadata: {e}"));
        req.metadata_mut().insert(*name, v);
    }
    req
}

/// Every spelling of the stored digest of `key` that a careless log line could contain.
fn digest_spellings(key: &str) -> Vec<String> {
    let digest = identity_core::keys::digest(key);
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    vec![
        hex.to_uppercase(),
        hex,
        base64::engine::general_purpose::STANDARD.encode(digest),
        base64::engine::general_purpose::STANDARD_NO_PAD.encode(digest),
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest),
    ]
}

/// Whether some JSON line has a span named `span` carrying `request_id`.
fn has_span_with_id(lines: &[Value], span: &str, request_id: &str) -> bool {
    let matches = |s: &Value| s["name"] == span && s["request_id"] == request_id;
    lines.iter().any(|line| {
        matches(&line["span"])
            || line["spans"]
                .as_array()
                .is_some_and(|spans| spans.iter().any(matches))
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_carry_request_ids_and_never_secrets() {
    let (db, url) = TestDatabase::create(Backend::Postgres)
        .await
        .unwrap_or_else(|e| panic!("creating a test database: {e:#}"));
    let jwt_secret = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    let mut server = Server::start(&url, &jwt_secret);
    let (grpc, http, admin_addr) = server.addresses().await;
    let channel: Channel = Endpoint::from_shared(format!("http://{grpc}"))
        .unwrap_or_else(|e| panic!("endpoint: {e}"))
        .connect_timeout(Duration::from_secs(5))
        .connect_lazy();
    let mut auth = AuthServiceClient::new(channel.clone());
    let mut users = UserServiceClient::new(channel.clone());
    let mut keys = ApiKeyServiceClient::new(channel);
    let rest = reqwest::Client::new();
    let base = format!("http://{http}");
    // Everything that must never be logged.
    let mut secrets: Vec<(String, String)> = vec![
        ("the admin password".into(), ADMIN_PASSWORD.into()),
        ("a user password".into(), USER_PASSWORD.into()),
        ("a REST user password".into(), REST_USER_PASSWORD.into()),
        ("a wrong password".into(), WRONG_PASSWORD.into()),
        ("the JWT secret".into(), jwt_secret.clone()),
    ];
    let forbid_key = |secrets: &mut Vec<(String, String)>, label: &str, key: &str| {
        secrets.push((format!("{label} (raw)"), key.to_owned()));
        for d in digest_spellings(key) {
            secrets.push((format!("{label} (digest)"), d));
        }
    };

    // --- gRPC ---
    auth.init_admin(pb::InitAdminRequest {
        username: "admin".into(),
        password: ADMIN_PASSWORD.into(),
        email: Some("admin@example.com".into()),
        ..Default::default()
    })
    .await
    .unwrap_or_else(|s| panic!("InitAdmin: {s:?}"));
    let grpc_id = format!("grpc-flow-{}", uuid::Uuid::new_v4().simple());
    let token = auth
        .login(with_metadata(
            pb::LoginRequest {
                identifier: "admin".into(),
                password: ADMIN_PASSWORD.into(),
            },
            &[("x-request-id", &grpc_id)],
        ))
        .await
        .unwrap_or_else(|s| panic!("Login: {s:?}"))
        .into_inner()
        .session_token;
    secrets.push(("the admin session token".into(), token.clone()));
    let bearer = format!("Bearer {token}");
    let wrong = auth
        .login(pb::LoginRequest {
            identifier: "admin".into(),
            password: WRONG_PASSWORD.into(),
        })
        .await;
    assert_eq!(wrong.err().map(|s| s.code()), Some(Code::Unauthenticated));
    let user = users
        .create_user(with_metadata(
            pb::CreateUserRequest {
                username: "alice".into(),
                email: Some("alice@example.com".into()),
                password: Some(USER_PASSWORD.into()),
                ..Default::default()
            },
            &[("authorization", &bearer)],
        ))
        .await
        .unwrap_or_else(|s| panic!("CreateUser: {s:?}"))
        .into_inner()
        .user
        .unwrap_or_else(|| panic!("CreateUser returned no user"));
    let created = keys
        .create_api_key(with_metadata(
            pb::CreateApiKeyRequest {
                name: "ci".into(),
                ..Default::default()
            },
            &[("authorization", &bearer)],
        ))
        .await
        .unwrap_or_else(|s| panic!("CreateApiKey: {s:?}"))
        .into_inner();
    let key = created.plaintext.clone();
    let key_id = created.api_key.map(|k| k.id).unwrap_or_default();
    forbid_key(&mut secrets, "the API key", &key);
    // Authenticate with it: as x-api-key metadata, as a bearer, and as the Authenticate RPC.
    for (name, value) in [
        ("x-api-key", key.clone()),
        ("authorization", format!("Bearer {key}")),
    ] {
        auth.who_am_i(with_metadata(pb::WhoAmIRequest {}, &[(name, &value)]))
            .await
            .unwrap_or_else(|s| panic!("WhoAmI with {name}: {s:?}"));
    }
    auth.authenticate(pb::AuthenticateRequest {
        credential: key.clone(),
    })
    .await
    .unwrap_or_else(|s| panic!("Authenticate: {s:?}"));

    // --- REST (Portainer dialect through the in-process gateway) ---
    let rest_id = format!("rest-flow-{}", uuid::Uuid::new_v4().simple());
    let resp = rest
        .post(format!("{base}/api/auth"))
        .header("x-request-id", &rest_id)
        .json(&json!({"username": "admin", "password": ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap_or_else(|e| panic!("POST /api/auth: {e}"));
    assert_eq!(
        resp.headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok()),
        Some(rest_id.as_str()),
        "the gateway echoes the request id"
    );
    let jwt: Value = resp
        .json()
        .await
        .unwrap_or_else(|e| panic!("login body: {e}"));
    let rest_token = jwt["jwt"].as_str().unwrap_or_default().to_owned();
    assert!(!rest_token.is_empty(), "REST login gave a JWT: {jwt}");
    secrets.push(("the REST session token".into(), rest_token.clone()));
    let status = rest
        .post(format!("{base}/api/auth"))
        .json(&json!({"username": "admin", "password": WRONG_PASSWORD}))
        .send()
        .await
        .unwrap_or_else(|e| panic!("POST /api/auth (wrong): {e}"))
        .status();
    assert!(
        status.is_client_error(),
        "wrong password over REST: {status}"
    );
    let created: Value = rest
        .post(format!("{base}/api/users"))
        .bearer_auth(&rest_token)
        .json(&json!({"username": "bob", "password": REST_USER_PASSWORD, "role": 2}))
        .send()
        .await
        .unwrap_or_else(|e| panic!("POST /api/users: {e}"))
        .json()
        .await
        .unwrap_or_else(|e| panic!("POST /api/users body: {e}"));
    assert_eq!(created["Username"], "bob", "{created}");
    let token_resp: Value = rest
        .post(format!("{base}/api/users/1/tokens"))
        .bearer_auth(&rest_token)
        .json(&json!({"description": "rest key", "password": ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap_or_else(|e| panic!("POST tokens: {e}"))
        .json()
        .await
        .unwrap_or_else(|e| panic!("POST tokens body: {e}"));
    let rest_key = token_resp["rawAPIKey"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(!rest_key.is_empty(), "{token_resp}");
    forbid_key(&mut secrets, "the REST API key", &rest_key);
    // The key in the X-API-KEY header and in the query string.
    for url in [
        format!("{base}/api/users/{}", user.id),
        format!("{base}/api/users/{}?x-api-key={rest_key}", user.id),
    ] {
        let mut req = rest.get(&url);
        if !url.contains('?') {
            req = req.header("x-api-key", &rest_key);
        }
        let status = req
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {url}: {e}"))
            .status();
        assert_eq!(status.as_u16(), 200, "GET with the API key");
    }

    // --- roll and revoke (gRPC) ---
    let rolled = keys
        .roll_api_key(with_metadata(
            pb::RollApiKeyRequest {
                target: Some(pb::roll_api_key_request::Target::Key(pb::ApiKeyRef {
                    key: Some(pb::api_key_ref::Key::Id(key_id)),
                })),
            },
            &[("authorization", &bearer)],
        ))
        .await
        .unwrap_or_else(|s| panic!("RollApiKey: {s:?}"))
        .into_inner();
    forbid_key(&mut secrets, "the rolled API key", &rolled.plaintext);
    let new_id = rolled.api_key.map(|k| k.id).unwrap_or_default();
    keys.revoke_api_key(with_metadata(
        pb::RevokeApiKeyRequest {
            key: Some(pb::ApiKeyRef {
                key: Some(pb::api_key_ref::Key::Id(new_id)),
            }),
        },
        &[("authorization", &bearer)],
    ))
    .await
    .unwrap_or_else(|s| panic!("RevokeApiKey: {s:?}"));
    // The revoked and the rolled-away keys are refused (and that refusal is logged safely).
    for k in [&key, &rolled.plaintext] {
        let refused = auth
            .who_am_i(with_metadata(pb::WhoAmIRequest {}, &[("x-api-key", k)]))
            .await;
        assert_eq!(refused.err().map(|s| s.code()), Some(Code::Unauthenticated));
    }
    // A scrape, so the admin listener is exercised in the captured run too.
    let metrics = rest
        .get(format!("http://{admin_addr}/metrics"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET /metrics: {e}"))
        .text()
        .await
        .unwrap_or_default();
    assert!(
        metrics.contains("identity_login_failures_total"),
        "{metrics}"
    );

    server.stop().await;
    let logs = server.logs();
    let lines = server.json_lines();
    assert!(
        lines.len() > 20,
        "expected JSON log lines, got {}:\n{logs}",
        lines.len()
    );

    // The client's request id is on the gateway's and on the server's lines of that request.
    assert!(
        has_span_with_id(&lines, "http", &rest_id),
        "no gateway line carries {rest_id}:\n{logs}"
    );
    assert!(
        has_span_with_id(&lines, "grpc", &rest_id),
        "no server line carries the gateway's {rest_id}:\n{logs}"
    );
    assert!(
        has_span_with_id(&lines, "grpc", &grpc_id),
        "no server line carries {grpc_id}:\n{logs}"
    );

    // No secret, anywhere in stdout+stderr.
    for (label, secret) in &secrets {
        assert!(!secret.is_empty(), "{label} is empty");
        assert!(!logs.contains(secret.as_str()), "the logs contain {label}");
    }
    assert!(!logs.contains("$argon2"), "the logs contain an argon2 hash");
    // Every JWT starts with a base64url JSON header (`{"` → `eyJ`).
    assert!(!logs.contains("eyJ"), "the logs contain a JWT");
    drop(server);
    drop(db);
}
