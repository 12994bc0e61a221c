//! `Idempotency-Key` on every REST create route, over real HTTP against a real server on a fresh
//! database: the header reaches the server as the gRPC `request_id`, so a retried create returns
//! the first user (Portainer, Tyk) or creates no second key (Portainer, Trieve, OpenAI), each
//! refusal in the dialect's own envelope; a key reused for another request and a malformed key
//! are refused; racing retries make one row.

use anyhow::{Result, ensure};
use identity_api::pb;
use identity_testkit::{ADMIN_PASSWORD, Backend, TestApp, spawn_app, with_auth};
use reqwest::{Method, StatusCode, header};
use serde_json::{Value, json};

#[macro_use]
mod common;

use common::{Http, Owner, Resp};

both!(
    user_creates_replay_the_first_user,
    key_creates_make_one_key_per_idempotency_key,
    racing_retries_make_one_row,
);

struct Env {
    app: TestApp,
    http: Http,
    /// Session token of the administrator (user 1).
    admin: String,
    /// The default organization.
    org: String,
    /// An OWNER key of the administrator bound to the default organization.
    key: String,
}

impl Env {
    async fn start(backend: Backend) -> Result<Self> {
        let app = spawn_app(backend).await;
        let http = Http::to(&app)?;
        let Owner { admin, org, key } = Owner::init(&app, "owner").await;
        Ok(Self {
            app,
            http,
            admin,
            org: org.id,
            key,
        })
    }

    /// `POST path` with `headers` and a JSON body.
    async fn post(&self, path: &str, headers: &[(&str, &str)], body: &Value) -> Result<Resp> {
        let mut req = self.http.request(Method::POST, path).json(body);
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        Resp::of(req).await
    }

    /// How many keys the administrator has, revoked ones included.
    async fn admin_keys(&self) -> Result<usize> {
        Ok(self.app.all_api_keys(&self.admin).await.len())
    }

    /// How many users exist.
    async fn users(&self) -> Result<usize> {
        Ok(self
            .app
            .users()
            .list_users(with_auth(
                pb::ListUsersRequest {
                    page_size: 100,
                    ..Default::default()
                },
                &self.admin,
            ))
            .await?
            .into_inner()
            .users
            .len())
    }
}

const IDEM: &str = "Idempotency-Key";

fn portainer_user(name: &str) -> Value {
    json!({"username": name, "password": "portainer-password-1234", "role": 2})
}

fn tyk_user(email: &str) -> Value {
    json!({"data": {"type": "users", "attributes": {"email": email, "name": email, "password": "tyk-password-1234"}}})
}

async fn user_creates_replay_the_first_user(backend: Backend) -> Result<()> {
    let env = Env::start(backend).await?;
    let bearer = format!("Bearer {}", env.admin);
    let auth = [(header::AUTHORIZATION.as_str(), bearer.as_str())];

    // Portainer: the retry is the first answer (200, same Id), not 409 "User already exists".
    let with_key = [auth[0], (IDEM, "portainer-create-erin")];
    let first = env
        .post("/api/users", &with_key, &portainer_user("erin"))
        .await?;
    let first = first.ok(StatusCode::OK)?;
    let users = env.users().await?;
    let retry = env
        .post("/api/users", &with_key, &portainer_user("erin"))
        .await?;
    ensure!(retry.ok(StatusCode::OK)?["Id"] == first["Id"], "{retry:?}");
    ensure!(env.users().await? == users, "the retry created a user");
    // Without the header the same body is the usual clash.
    let plain = env
        .post("/api/users", &auth, &portainer_user("erin"))
        .await?;
    ensure!(
        plain.ok(StatusCode::CONFLICT)?["details"] == "User already exists",
        "{plain:?}"
    );
    // The same key for another request: Portainer's 400 envelope, nothing created.
    let reused = env
        .post("/api/users", &with_key, &portainer_user("frank"))
        .await?;
    let body = reused.ok(StatusCode::BAD_REQUEST)?;
    ensure!(body["message"].is_string(), "{body}");
    ensure!(
        body["details"]
            .as_str()
            .is_some_and(|d| d.contains("Idempotency-Key")),
        "{body}"
    );
    ensure!(env.users().await? == users);
    // A malformed key never reaches the server.
    for bad in ["has space", &"k".repeat(129)] {
        let r = env
            .post(
                "/api/users",
                &[auth[0], (IDEM, bad)],
                &portainer_user("grace"),
            )
            .await?;
        let body = r.ok(StatusCode::BAD_REQUEST)?;
        ensure!(
            body["details"]
                .as_str()
                .is_some_and(|d| d.contains("Idempotency-Key")),
            "{body}"
        );
    }
    ensure!(env.users().await? == users);

    // Tyk AI Studio: 201 both times, same id.
    let with_key = [auth[0], (IDEM, "tyk-create-heidi")];
    let first = env
        .post("/api/v1/users", &with_key, &tyk_user("heidi@example.com"))
        .await?;
    let first_id = first.ok(StatusCode::CREATED)?["data"]["id"].clone();
    ensure!(!first_id.is_null(), "{first:?}");
    let users = env.users().await?;
    let retry = env
        .post("/api/v1/users", &with_key, &tyk_user("heidi@example.com"))
        .await?;
    ensure!(
        retry.ok(StatusCode::CREATED)?["data"]["id"] == first_id,
        "{retry:?}"
    );
    ensure!(env.users().await? == users, "the retry created a user");
    let reused = env
        .post("/api/v1/users", &with_key, &tyk_user("ivan@example.com"))
        .await?;
    let body = reused.ok(StatusCode::BAD_REQUEST)?;
    ensure!(body.to_string().contains("Idempotency-Key"), "{body}");
    let bad = env
        .post(
            "/api/v1/users",
            &[auth[0], (IDEM, "")],
            &tyk_user("ivan@example.com"),
        )
        .await?;
    bad.ok(StatusCode::BAD_REQUEST)?;
    ensure!(env.users().await? == users);
    Ok(())
}

async fn key_creates_make_one_key_per_idempotency_key(backend: Backend) -> Result<()> {
    let env = Env::start(backend).await?;
    let bearer = format!("Bearer {}", env.admin);
    let session = [(header::AUTHORIZATION.as_str(), bearer.as_str())];

    // Portainer: the first answer has the secret; the retry creates nothing and is 409.
    let tokens = "/api/users/1/tokens";
    let body = json!({"description": "ci", "password": ADMIN_PASSWORD});
    let with_key = [session[0], (IDEM, "portainer-token-1")];
    let keys = env.admin_keys().await?;
    let first = env.post(tokens, &with_key, &body).await?;
    let raw = first.ok(StatusCode::OK)?["rawAPIKey"].clone();
    ensure!(raw.as_str().is_some_and(|k| !k.is_empty()), "{first:?}");
    let retry = env.post(tokens, &with_key, &body).await?;
    let conflict = retry.ok(StatusCode::CONFLICT)?;
    ensure!(conflict["message"].is_string(), "{conflict}");
    ensure!(
        conflict["details"]
            .as_str()
            .is_some_and(|d| d.contains("Idempotency-Key") && d.contains("\"ci\"")),
        "{conflict}"
    );
    ensure!(
        !conflict.to_string().contains(raw.as_str().unwrap_or("-")),
        "the retry shows the secret"
    );
    ensure!(env.admin_keys().await? == keys + 1, "one key, not two");
    // The same key for another description: 400, nothing created.
    let other = json!({"description": "other", "password": ADMIN_PASSWORD});
    env.post(tokens, &with_key, &other)
        .await?
        .ok(StatusCode::BAD_REQUEST)?;
    ensure!(env.admin_keys().await? == keys + 1);

    // Trieve: 200 {"api_key"}, then Trieve's 400 {"message"} for the retry.
    let trieve = [
        (header::AUTHORIZATION.as_str(), env.key.as_str()),
        ("TR-Organization", env.org.as_str()),
        (IDEM, "trieve-key-1"),
    ];
    let body = json!({"name": "trieve ci", "role": 1});
    let first = env.post("/api/user/api_key", &trieve, &body).await?;
    ensure!(
        first.ok(StatusCode::OK)?["api_key"]
            .as_str()
            .is_some_and(|k| !k.is_empty()),
        "{first:?}"
    );
    let retry = env.post("/api/user/api_key", &trieve, &body).await?;
    let refused = retry.ok(StatusCode::BAD_REQUEST)?;
    ensure!(
        refused["message"]
            .as_str()
            .is_some_and(|m| m.contains("Idempotency-Key")),
        "{refused}"
    );
    ensure!(
        env.admin_keys().await? == keys + 2,
        "one Trieve key, not two"
    );
    let malformed = [trieve[0], trieve[1], (IDEM, "two words")];
    env.post("/api/user/api_key", &malformed, &body)
        .await?
        .ok(StatusCode::BAD_REQUEST)?;

    // OpenAI admin keys: 200 with `value`, then 409 in OpenAI's error envelope.
    let bearer_key = format!("Bearer {}", env.key);
    let openai = [
        (header::AUTHORIZATION.as_str(), bearer_key.as_str()),
        (IDEM, "openai-key-1"),
    ];
    let body = json!({"name": "openai ci"});
    let path = "/v1/organization/admin_api_keys";
    let first = env.post(path, &openai, &body).await?;
    ensure!(
        first.ok(StatusCode::OK)?["value"]
            .as_str()
            .is_some_and(|k| !k.is_empty()),
        "{first:?}"
    );
    let retry = env.post(path, &openai, &body).await?;
    let conflict = retry.ok(StatusCode::CONFLICT)?;
    let err = &conflict["error"];
    ensure!(err["type"] == "invalid_request_error", "{err}");
    ensure!(
        err["message"]
            .as_str()
            .is_some_and(|m| m.contains("Idempotency-Key")),
        "{err}"
    );
    let long = "k".repeat(129);
    let bad = env.post(path, &[openai[0], (IDEM, &long)], &body).await?;
    ensure!(
        bad.ok(StatusCode::BAD_REQUEST)?["error"]["param"] == "Idempotency-Key",
        "{bad:?}"
    );
    ensure!(
        env.admin_keys().await? == keys + 3,
        "one OpenAI key, not two"
    );
    Ok(())
}

async fn racing_retries_make_one_row(backend: Backend) -> Result<()> {
    const RACERS: usize = 8;
    let env = Env::start(backend).await?;
    let bearer = format!("Bearer {}", env.admin);
    let users = env.users().await?;
    let headers = [
        (header::AUTHORIZATION.as_str(), bearer.as_str()),
        (IDEM, "tyk-race"),
    ];
    let body = tyk_user("judy@example.com");
    let race = (0..RACERS).map(|_| env.post("/api/v1/users", &headers, &body));
    let mut ids = Vec::new();
    for r in futures::future::join_all(race).await {
        ids.push(r?.ok(StatusCode::CREATED)?["data"]["id"].clone());
    }
    ids.dedup();
    ensure!(ids.len() == 1, "racing retries answer one user: {ids:?}");
    ensure!(env.users().await? == users + 1);

    let keys = env.admin_keys().await?;
    let headers = [
        (header::AUTHORIZATION.as_str(), bearer.as_str()),
        (IDEM, "portainer-race"),
    ];
    let body = json!({"description": "raced", "password": ADMIN_PASSWORD});
    let race = (0..RACERS).map(|_| env.post("/api/users/1/tokens", &headers, &body));
    let mut created = 0;
    let mut replayed = 0;
    for r in futures::future::join_all(race).await {
        let r = r?;
        match r.status {
            StatusCode::OK => created += 1,
            StatusCode::CONFLICT => replayed += 1,
            other => anyhow::bail!("unexpected {other}: {}", r.text),
        }
    }
    ensure!(
        (created, replayed) == (1, RACERS - 1),
        "{created} created, {replayed} replayed"
    );
    ensure!(env.admin_keys().await? == keys + 1);
    Ok(())
}
