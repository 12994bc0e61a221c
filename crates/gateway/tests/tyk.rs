//! The Tyk AI Studio dialect over real HTTP, against a real identity server on a fresh database
//! (the in-process gateway of the test server, at `TestApp::http_addr`).
//!
//! Every route is checked for its success shape (`{"data": …}`), each documented error status,
//! and both error envelopes: the middleware's `{"error"}` and the handlers' `{"errors":[…]}`.

use anyhow::{Context as _, Result, ensure};
use identity_api::pb;
use identity_testkit::{ADMIN_EMAIL, Backend, TestApp, spawn_app};
use reqwest::{Method, StatusCode, header};
use serde_json::{Value, json};

#[macro_use]
mod common;

use common::{Http, Resp, gateway_url};

const PASSWORD: &str = "a-long-password-1";

impl Resp {
    /// The `data` of a success with `status` (`Null` for 204, which must have no body).
    fn data(&self, status: StatusCode) -> Result<Value> {
        let body = self.ok(status)?;
        if status == StatusCode::NO_CONTENT {
            return Ok(body);
        }
        let obj = body.as_object().context("body is not an object")?;
        ensure!(obj.len() == 1, "more than data in {body}");
        obj.get("data").cloned().context("no data")
    }

    /// A handler error: `status`, `{"errors":[{"title": <status text>, "detail": detail}]}`.
    fn err(&self, status: StatusCode, detail: &str) -> Result<()> {
        ensure!(
            self.status == status,
            "expected {status} {detail:?}, got {}: {}",
            self.status,
            self.text
        );
        let title = status.canonical_reason().unwrap_or("");
        ensure!(
            self.json()? == json!({"errors": [{"title": title, "detail": detail}]}),
            "body {} , expected detail {detail:?}",
            self.text
        );
        Ok(())
    }

    /// A handler error whose detail is not fixed: status and envelope shape only.
    fn err_shape(&self, status: StatusCode) -> Result<String> {
        self.status_is(status)?;
        let body = self.json()?;
        let errors = body["errors"].as_array().context("no errors array")?;
        ensure!(errors.len() == 1 && body.as_object().is_some_and(|o| o.len() == 1));
        ensure!(errors[0]["title"] == json!(status.canonical_reason().unwrap_or("")));
        let detail = errors[0]["detail"].as_str().context("no detail")?;
        ensure!(!detail.is_empty());
        Ok(detail.to_owned())
    }

    fn unauthorized(&self) -> Result<()> {
        ensure!(
            self.status == StatusCode::UNAUTHORIZED
                && self.json()? == json!({"error": "Unauthorized"}),
            "expected 401 Unauthorized, got {}: {}",
            self.status,
            self.text
        );
        Ok(())
    }

    fn forbidden(&self) -> Result<()> {
        ensure!(
            self.status == StatusCode::FORBIDDEN && self.json()? == json!({"error": "Forbidden"}),
            "expected 403 Forbidden, got {}: {}",
            self.status,
            self.text
        );
        Ok(())
    }
}

/// How a request authenticates.
#[derive(Debug, Clone, Copy)]
enum Auth<'a> {
    None,
    /// `Authorization: Bearer <credential>`.
    Bearer(&'a str),
    /// `Authorization: <raw header value>`.
    Raw(&'a str),
    /// `?token=<credential>`.
    Query(&'a str),
}

struct Tyk {
    app: TestApp,
    /// For the gateway's `/api/v1`.
    http: Http,
    admin: String,
}

impl Tyk {
    /// A server with its administrator (user 1, whose session token is `admin`).
    async fn start(backend: Backend) -> Result<Self> {
        let app = spawn_app(backend).await;
        let http = Http::new(format!("{}/api/v1", gateway_url(&app)?))?;
        let admin = app.init_admin().await;
        Ok(Self { http, admin, app })
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        auth: Auth<'_>,
        body: Option<Value>,
    ) -> Result<Resp> {
        let mut url = self.http.url(path);
        let mut req = match auth {
            Auth::None => self.http.client.request(method, url),
            Auth::Bearer(c) => self
                .http
                .client
                .request(method, url)
                .header(header::AUTHORIZATION, format!("Bearer {c}")),
            Auth::Raw(v) => self
                .http
                .client
                .request(method, url)
                .header(header::AUTHORIZATION, v),
            Auth::Query(c) => {
                url.push(if path.contains('?') { '&' } else { '?' });
                url.push_str("token=");
                url.push_str(c);
                self.http.client.request(method, url)
            }
        };
        if let Some(b) = body {
            req = req.json(&b);
        }
        Resp::of(req).await
    }

    fn admin(&self) -> Auth<'_> {
        Auth::Bearer(&self.admin)
    }

    async fn get(&self, path: &str) -> Result<Resp> {
        self.call(Method::GET, path, self.admin(), None).await
    }

    async fn post(&self, path: &str, body: Value) -> Result<Resp> {
        self.call(Method::POST, path, self.admin(), Some(body))
            .await
    }

    async fn patch(&self, path: &str, body: Value) -> Result<Resp> {
        self.call(Method::PATCH, path, self.admin(), Some(body))
            .await
    }

    async fn delete(&self, path: &str) -> Result<Resp> {
        self.call(Method::DELETE, path, self.admin(), None).await
    }

    /// Create a user through the dialect; returns its `data`.
    async fn create(&self, attributes: Value) -> Result<Value> {
        self.post(
            "/users",
            json!({"data": {"type": "users", "attributes": attributes}}),
        )
        .await?
        .data(StatusCode::CREATED)
    }

    /// Roll `id`'s key; returns the new plaintext.
    async fn roll(&self, auth: Auth<'_>, id: &str) -> Result<String> {
        let d = self
            .call(
                Method::POST,
                &format!("/users/{id}/roll-api-key"),
                auth,
                None,
            )
            .await?
            .data(StatusCode::OK)?;
        let key = d["attributes"]["api_key"].as_str().context("no api_key")?;
        ensure!(!key.is_empty(), "empty key in {d}");
        Ok(key.to_owned())
    }
}

fn input(attributes: Value) -> Value {
    json!({"data": {"type": "users", "attributes": attributes}})
}

/// Every attribute, with exactly Tyk's names, and no `groups`.
fn check_user(d: &Value, id: &str, email: &str, name: &str, role: &str) -> Result<()> {
    ensure!(d["type"] == json!("users") && d["id"] == json!(id), "{d}");
    let a = d["attributes"].as_object().context("no attributes")?;
    let mut keys: Vec<&str> = a.keys().map(String::as_str).collect();
    keys.sort_unstable();
    ensure!(
        keys == [
            "access_to_sso_config",
            "api_key",
            "email",
            "email_verified",
            "is_admin",
            "name",
            "notifications_enabled",
            "role",
            "show_chat",
            "show_portal"
        ],
        "attribute names {keys:?}"
    );
    ensure!(
        a["email"] == json!(email) && a["name"] == json!(name) && a["role"] == json!(role),
        "{d}"
    );
    Ok(())
}

async fn auth_rules(backend: Backend) -> Result<()> {
    let t = Tyk::start(backend).await?;
    t.call(Method::GET, "/users", Auth::None, None)
        .await?
        .unauthorized()?;
    for raw in ["Bearer", "Bearer  x", "Bearer a b", "Bearer "] {
        t.call(Method::GET, "/users", Auth::Raw(raw), None)
            .await?
            .unauthorized()?;
    }
    t.call(Method::GET, "/users", Auth::Bearer("not-a-key"), None)
        .await?
        .unauthorized()?;
    // Any scheme word, and the query parameter, carry the session token too.
    let raw = format!("Token {}", t.admin);
    t.call(Method::GET, "/users/1", Auth::Raw(&raw), None)
        .await?
        .data(StatusCode::OK)?;
    t.call(Method::GET, "/users", Auth::Query(&t.admin), None)
        .await?
        .data(StatusCode::OK)?;

    // A non-administrator: 403 in the middleware envelope, on every route.
    let bob = t.app.create_user(&t.admin, "bob", PASSWORD).await;
    let bob_jwt = t.app.login("bob", PASSWORD).await;
    let b = Auth::Bearer(&bob_jwt);
    for (m, p) in [
        (Method::GET, "/users".to_owned()),
        (Method::POST, "/users".to_owned()),
        (Method::GET, format!("/users/{}", bob.id)),
        (Method::PATCH, format!("/users/{}", bob.id)),
        (Method::DELETE, "/users/1".to_owned()),
        (Method::POST, format!("/users/{}/roll-api-key", bob.id)),
    ] {
        t.call(m, &p, b, Some(input(json!({"email": "x@example.com"}))))
            .await?
            .forbidden()?;
    }

    // An administrator's API key needs a verified e-mail.
    let ops = t
        .create(json!({"email": "ops@example.com", "name": "Ops", "is_admin": true}))
        .await?;
    let ops_id = ops["id"].as_str().context("id")?.to_owned();
    ensure!(ops["attributes"]["email_verified"] == json!(false));
    let key = t.roll(t.admin(), &ops_id).await?;
    t.call(Method::GET, "/users", Auth::Bearer(&key), None)
        .await?
        .unauthorized()?;
    t.call(Method::GET, "/users", Auth::Query(&key), None)
        .await?
        .unauthorized()?;
    t.patch(
        &format!("/users/{ops_id}"),
        input(json!({"email": "ops@example.com", "name": "Ops", "is_admin": true, "email_verified": true})),
    )
    .await?
    .data(StatusCode::OK)?;
    t.call(Method::GET, "/users", Auth::Bearer(&key), None)
        .await?
        .data(StatusCode::OK)?;
    t.call(Method::GET, "/users", Auth::Query(&key), None)
        .await?
        .data(StatusCode::OK)?;
    // A standard user's verified key is valid but not an administrator's.
    t.patch(
        &format!("/users/{}", bob.id),
        input(json!({"email": "bob@example.com", "email_verified": true})),
    )
    .await?
    .data(StatusCode::OK)?;
    let bob_key = t.roll(t.admin(), &bob.id.to_string()).await?;
    t.call(Method::GET, "/users", Auth::Bearer(&bob_key), None)
        .await?
        .forbidden()?;
    Ok(())
}

async fn create_user(backend: Backend) -> Result<()> {
    let t = Tyk::start(backend).await?;
    let d = t
        .create(json!({"email": "Dev@Example.com", "name": "Dev", "password": PASSWORD, "show_chat": true, "show_portal": true, "email_verified": true, "groups": []}))
        .await?;
    let id = d["id"].as_str().context("id")?.to_owned();
    check_user(&d, &id, "Dev@Example.com", "Dev", "Developer")?;
    let a = &d["attributes"];
    ensure!(a["is_admin"] == json!(false) && a["show_chat"] == json!(true));
    ensure!(a["email_verified"] == json!(true) && a["api_key"] == json!(""));
    // The username is the e-mail, lower-cased; the password works.
    t.app.login("dev@example.com", PASSWORD).await;

    let d = t.create(json!({"email": "chat@example.com"})).await?;
    check_user(
        &d,
        d["id"].as_str().context("id")?,
        "chat@example.com",
        "chat@example.com",
        "Chat user",
    )?;
    let d = t
        .create(json!({"email": "ops@example.com", "name": "Ops", "is_admin": true, "notifications_enabled": true, "access_to_sso_config": true}))
        .await?;
    check_user(
        &d,
        d["id"].as_str().context("id")?,
        "ops@example.com",
        "Ops",
        "Admin",
    )?;
    ensure!(d["attributes"]["notifications_enabled"] == json!(true));

    // Tyk's rules.
    let post = |a: Value| t.post("/users", input(a));
    post(json!({"email": "DEV@example.COM"}))
        .await?
        .err(StatusCode::BAD_REQUEST, "Email is already in use")?;
    post(json!({"email": "n@example.com", "notifications_enabled": true}))
        .await?
        .err(
            StatusCode::BAD_REQUEST,
            "notifications can only be enabled for admin users",
        )?;
    post(json!({"email": "s@example.com", "access_to_sso_config": true}))
        .await?
        .err(
            StatusCode::BAD_REQUEST,
            "access to SSO config can only be granted to admin users",
        )?;
    post(json!({"email": "g@example.com", "groups": [1]}))
        .await?
        .err(StatusCode::BAD_REQUEST, "groups not found")?;
    post(json!({"name": "No Mail"}))
        .await?
        .err(StatusCode::BAD_REQUEST, "email is required")?;
    post(json!({"email": "not an email"}))
        .await?
        .err_shape(StatusCode::BAD_REQUEST)?;
    post(json!({"email": "weak@example.com", "password": "short"}))
        .await?
        .err_shape(StatusCode::BAD_REQUEST)?;
    post(json!({"email": "t@example.com", "is_admin": "yes"}))
        .await?
        .err_shape(StatusCode::BAD_REQUEST)?;
    t.post("/users", json!({"email": "flat@example.com"}))
        .await?
        .err(StatusCode::BAD_REQUEST, "data.attributes is required")?;
    t.post("/users", json!([1]))
        .await?
        .err_shape(StatusCode::BAD_REQUEST)?;
    Ok(())
}

async fn get_user(backend: Backend) -> Result<()> {
    let t = Tyk::start(backend).await?;
    let d = t.get("/users/1").await?.data(StatusCode::OK)?;
    check_user(&d, "1", ADMIN_EMAIL, "Administrator", "Super Admin")?;
    ensure!(d["attributes"]["is_admin"] == json!(true));
    // A user made elsewhere without e-mail or display name.
    let u = t
        .app
        .create_user_with(
            &t.admin,
            pb::CreateUserRequest {
                username: "plain".into(),
                ..Default::default()
            },
        )
        .await;
    let d = t
        .get(&format!("/users/{}", u.id))
        .await?
        .data(StatusCode::OK)?;
    check_user(&d, &u.id.to_string(), "", "plain", "Chat user")?;

    t.get("/users/999")
        .await?
        .err(StatusCode::NOT_FOUND, "User not found")?;
    for bad in ["abc", "-1", "1.5", "99999999999999999999"] {
        t.get(&format!("/users/{bad}"))
            .await?
            .err(StatusCode::BAD_REQUEST, "Invalid user ID")?;
    }
    Ok(())
}

async fn update_user(backend: Backend) -> Result<()> {
    let t = Tyk::start(backend).await?;
    let d = t
        .create(json!({"email": "dev@example.com", "name": "Dev", "show_chat": true, "show_portal": true, "email_verified": true}))
        .await?;
    let id = d["id"].as_str().context("id")?.to_owned();
    let path = format!("/users/{id}");

    // A full replace: omitted booleans become false.
    let d = t
        .patch(
            &path,
            input(json!({"email": "Dev2@example.com", "name": "Dev Two", "show_chat": true})),
        )
        .await?
        .data(StatusCode::OK)?;
    check_user(&d, &id, "Dev2@example.com", "Dev Two", "Chat user")?;
    let a = &d["attributes"];
    ensure!(
        a["show_portal"] == json!(false) && a["email_verified"] == json!(false),
        "{d}"
    );
    // Promotion, with the admin-only flags.
    let d = t
        .patch(&path, input(json!({"email": "dev2@example.com", "name": "Dev Two", "is_admin": true, "notifications_enabled": true, "access_to_sso_config": true})))
        .await?
        .data(StatusCode::OK)?;
    check_user(&d, &id, "dev2@example.com", "Dev Two", "Admin")?;
    ensure!(d["attributes"]["access_to_sso_config"] == json!(true));
    ensure!(
        t.get(&path).await?.data(StatusCode::OK)? == d,
        "GET agrees with PATCH"
    );
    // The username did not change (it was the first e-mail).
    let u = t
        .app
        .users()
        .get_user(identity_testkit::with_auth(
            pb::GetUserRequest {
                lookup: Some(pb::get_user_request::Lookup::Id(id.parse()?)),
            },
            &t.admin,
        ))
        .await?
        .into_inner()
        .user
        .context("user")?;
    ensure!(
        u.username == "dev@example.com" && u.global_role == pb::GlobalRole::Administrator as i32
    );

    t.patch(
        &path,
        input(json!({"email": "x@example.com", "notifications_enabled": true})),
    )
    .await?
    .err(
        StatusCode::BAD_REQUEST,
        "notifications can only be enabled for admin users",
    )?;
    t.patch(&path, input(json!({"email": "ADMIN@example.com"})))
        .await?
        .err(StatusCode::BAD_REQUEST, "Email is already in use")?;
    t.patch("/users/999", input(json!({"email": "z@example.com"})))
        .await?
        .err(StatusCode::NOT_FOUND, "User not found")?;
    t.patch("/users/x", input(json!({"email": "z@example.com"})))
        .await?
        .err(StatusCode::BAD_REQUEST, "Invalid user ID")?;
    t.patch(&path, json!({"data": {"attributes": {"show_chat": 1}}}))
        .await?
        .err_shape(StatusCode::BAD_REQUEST)?;
    Ok(())
}

async fn delete_user(backend: Backend) -> Result<()> {
    let t = Tyk::start(backend).await?;
    let d = t.create(json!({"email": "gone@example.com"})).await?;
    let path = format!("/users/{}", d["id"].as_str().context("id")?);
    t.delete(&path).await?.data(StatusCode::NO_CONTENT)?;
    t.get(&path)
        .await?
        .err(StatusCode::NOT_FOUND, "User not found")?;
    t.delete(&path)
        .await?
        .err(StatusCode::NOT_FOUND, "User not found")?;
    t.delete("/users/1")
        .await?
        .err(StatusCode::FORBIDDEN, "super admin user cannot be deleted")?;
    t.delete("/users/abc")
        .await?
        .err(StatusCode::BAD_REQUEST, "Invalid user ID")?;
    Ok(())
}

async fn roll_api_key(backend: Backend) -> Result<()> {
    let t = Tyk::start(backend).await?;
    // Verify the administrator's e-mail, so that its API keys authenticate.
    t.patch(
        "/users/1",
        input(json!({"email": ADMIN_EMAIL, "name": "Administrator", "is_admin": true, "email_verified": true})),
    )
    .await?
    .data(StatusCode::OK)?;

    let d = t
        .post("/users/1/roll-api-key", Value::Null)
        .await?
        .data(StatusCode::OK)?;
    check_user(&d, "1", ADMIN_EMAIL, "Administrator", "Super Admin")?;
    let first = d["attributes"]["api_key"]
        .as_str()
        .context("key")?
        .to_owned();
    ensure!(!first.is_empty());
    // The key is never shown again.
    ensure!(t.get("/users/1").await?.data(StatusCode::OK)?["attributes"]["api_key"] == json!(""));
    t.call(Method::GET, "/users", Auth::Bearer(&first), None)
        .await?
        .data(StatusCode::OK)?;

    // Rolling with the key itself: the answer carries the new key, the old one is refused at once.
    let second = t.roll(Auth::Bearer(&first), "1").await?;
    ensure!(second != first);
    t.call(Method::GET, "/users", Auth::Bearer(&first), None)
        .await?
        .unauthorized()?;
    t.call(
        Method::GET,
        "/users/1",
        Auth::Raw(&format!("Key {second}")),
        None,
    )
    .await?
    .data(StatusCode::OK)?;

    // Another user's key: only the primary key is replaced.
    let bob = t.app.create_user(&t.admin, "bob", PASSWORD).await;
    let (_, other) = t
        .app
        .create_api_key(
            &t.admin,
            pb::CreateApiKeyRequest {
                user_id: Some(1),
                name: "ci".into(),
                ..Default::default()
            },
        )
        .await;
    let bob_key = t.roll(t.admin(), &bob.id.to_string()).await?;
    ensure!(!bob_key.is_empty());
    t.roll(t.admin(), "1").await?;
    t.call(Method::GET, "/users", Auth::Bearer(&second), None)
        .await?
        .unauthorized()?;
    t.call(Method::GET, "/users", Auth::Bearer(&other), None)
        .await?
        .data(StatusCode::OK)?;

    t.post("/users/999/roll-api-key", Value::Null)
        .await?
        .err(StatusCode::NOT_FOUND, "User not found")?;
    t.post("/users/abc/roll-api-key", Value::Null)
        .await?
        .err(StatusCode::BAD_REQUEST, "Invalid user ID")?;
    Ok(())
}

async fn list_users(backend: Backend) -> Result<()> {
    let t = Tyk::start(backend).await?;
    for i in 0..12 {
        t.create(json!({"email": format!("user{i:02}@example.com"), "name": format!("User {i:02}"), "show_portal": i % 2 == 0}))
            .await?;
    }
    t.create(json!({"email": "a_zed@other.org", "name": "Aaron Zed 100%"}))
        .await?;
    let ids = |d: &Value| -> Vec<String> {
        d.as_array()
            .map(|a| {
                a.iter()
                    .map(|u| u["id"].as_str().unwrap_or("").to_owned())
                    .collect()
            })
            .unwrap_or_default()
    };

    // Defaults: page 1 of 10, ascending id, totals in the headers.
    let r = t.get("/users").await?;
    let d = r.data(StatusCode::OK)?;
    ensure!(
        ids(&d) == (1..=10).map(|i: i32| i.to_string()).collect::<Vec<_>>(),
        "{d}"
    );
    ensure!((r.header("x-total-count"), r.header("x-total-pages")) == (Some("14"), Some("2")));
    for u in d.as_array().context("array")? {
        ensure!(u["attributes"].get("groups").is_none() && u["attributes"]["api_key"] == json!(""));
    }
    check_user(&d[0], "1", ADMIN_EMAIL, "Administrator", "Super Admin")?;
    check_user(&d[1], "2", "user00@example.com", "User 00", "Developer")?;
    let r = t.get("/users?page=2").await?;
    ensure!(ids(&r.data(StatusCode::OK)?) == ["11", "12", "13", "14"]);
    let r = t.get("/users?page=3&page_size=5").await?;
    ensure!(ids(&r.data(StatusCode::OK)?) == ["11", "12", "13", "14"]);
    ensure!(r.header("x-total-pages") == Some("3"));
    let r = t.get("/users?page=9").await?;
    ensure!(r.data(StatusCode::OK)? == json!([]));

    // Search: case-insensitive over e-mail, username and name; wildcards are literal.
    let r = t.get("/users?search=USER1").await?;
    ensure!(ids(&r.data(StatusCode::OK)?) == ["12", "13"]);
    ensure!((r.header("x-total-count"), r.header("x-total-pages")) == (Some("2"), Some("1")));
    let r = t.get("/users?search=other.ORG").await?;
    ensure!(ids(&r.data(StatusCode::OK)?) == ["14"]);
    let r = t.get("/users?search=%25").await?;
    ensure!(ids(&r.data(StatusCode::OK)?) == ["14"]);
    let r = t.get("/users?search=a_z").await?;
    ensure!(ids(&r.data(StatusCode::OK)?) == ["14"]);
    let r = t.get("/users?search=nobody").await?;
    ensure!(r.data(StatusCode::OK)? == json!([]));
    ensure!((r.header("x-total-count"), r.header("x-total-pages")) == (Some("0"), Some("0")));

    // Sort.
    let r = t.get("/users?sort=-id&page_size=3").await?;
    ensure!(ids(&r.data(StatusCode::OK)?) == ["14", "13", "12"]);
    let r = t.get("/users?sort=-email&page_size=2").await?;
    ensure!(ids(&r.data(StatusCode::OK)?) == ["13", "12"]);
    let r = t.get("/users?sort=email&page_size=2").await?;
    ensure!(ids(&r.data(StatusCode::OK)?) == ["14", "1"]);
    let r = t.get("/users?sort=name&page_size=2").await?;
    ensure!(ids(&r.data(StatusCode::OK)?) == ["14", "1"]);
    let r = t.get("/users?sort=name&page_size=2&page=2").await?;
    ensure!(ids(&r.data(StatusCode::OK)?) == ["2", "3"]);
    t.get("/users?sort=created_at")
        .await?
        .data(StatusCode::OK)?;
    t.get("/users?sort=-updated_at&exclude_group_id=3")
        .await?
        .data(StatusCode::OK)?;

    // all=true.
    let r = t.get("/users?all=true&page_size=2").await?;
    ensure!(ids(&r.data(StatusCode::OK)?).len() == 14);
    ensure!((r.header("x-total-count"), r.header("x-total-pages")) == (Some("14"), Some("1")));

    // Bad parameters: 400 in the handler envelope.
    for (q, detail) in [
        ("page=x", "Invalid page parameter"),
        ("page=0", "Invalid page parameter"),
        ("page_size=0", "Invalid page_size parameter"),
        ("page_size=5000", "Invalid page_size parameter"),
        (
            "sort=password_hash",
            "Invalid sort column \"password_hash\"",
        ),
    ] {
        t.get(&format!("/users?{q}"))
            .await?
            .err(StatusCode::BAD_REQUEST, detail)?;
    }
    // Beyond the server's offset bound.
    t.get("/users?page=2000000&page_size=1000")
        .await?
        .err_shape(StatusCode::BAD_REQUEST)?;
    Ok(())
}

async fn bad_input(backend: Backend) -> Result<()> {
    let t = Tyk::start(backend).await?;
    let auth = format!("Bearer {}", t.admin);
    let send = |body: &str, ct: &'static str| {
        let req = t
            .http
            .request(Method::POST, "/users")
            .header(header::AUTHORIZATION, &auth)
            .header(header::CONTENT_TYPE, ct)
            .body(body.to_owned());
        Resp::of(req)
    };
    send("{", "application/json")
        .await?
        .err_shape(StatusCode::BAD_REQUEST)?;
    send("", "application/json")
        .await?
        .err_shape(StatusCode::BAD_REQUEST)?;
    send("{}", "text/plain")
        .await?
        .err_shape(StatusCode::BAD_REQUEST)?;
    let big = format!("{{\"data\":\"{}\"}}", "x".repeat(100 * 1024));
    send(&big, "application/json")
        .await?
        .err_shape(StatusCode::PAYLOAD_TOO_LARGE)?;
    // Unknown method on a Tyk path.
    t.call(Method::PUT, "/users/1", t.admin(), Some(json!({})))
        .await?
        .err(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed")?;
    Ok(())
}

on_every_backend!(
    auth_rules,
    create_user,
    get_user,
    update_user,
    delete_user,
    roll_api_key,
    list_users,
    bad_input,
);
