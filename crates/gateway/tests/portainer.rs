//! The Portainer dialect over real HTTP, against a real identity server on a fresh database.
//!
//! Every route is checked for its success shape, each documented error status and the error
//! envelope. The `offline` module needs no server: it drives the router with `oneshot` (bad input,
//! the envelope) and points it at a closed port (503).

use anyhow::{Context as _, Result, ensure};
use identity_api::pb;
use identity_gateway::{GatewayConfig, router, serve};
use identity_testkit::{Backend, TestApp, spawn_app, spawn_app_with, with_auth};
use reqwest::{Method, StatusCode, header};
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tonic::transport::Endpoint;

#[macro_use]
mod common;

use common::{Http, Resp};

const ADMIN: &str = "admin";
const ADMIN_PASSWORD: &str = "admin-password-1234";
const PASSWORD: &str = "a-long-password-1";
const WEAK: &str = "short";

/// The credential a request carries.
#[derive(Debug, Clone, Copy)]
enum Cred<'a> {
    None,
    Jwt(&'a str),
    Key(&'a str),
}

impl Resp {
    /// A Portainer error: `status`, JSON content type, exactly `message` and `details`.
    fn err(&self, status: StatusCode, message: &str) -> Result<Value> {
        ensure!(
            self.status == status,
            "expected {status} {message:?}, got {}: {}",
            self.status,
            self.text
        );
        let body = self.error_json()?;
        let obj = body.as_object().context("error body is not an object")?;
        ensure!(
            obj.keys().all(|k| k == "message" || k == "details"),
            "unexpected keys in {body}"
        );
        ensure!(
            obj.get("message") == Some(&json!(message)),
            "message of {body}, expected {message:?}"
        );
        let details = obj.get("details").and_then(Value::as_str).unwrap_or("");
        ensure!(!details.is_empty(), "no details in {body}");
        ensure!(
            details.chars().next().is_some_and(|c| !c.is_lowercase()),
            "details not capitalised: {body}"
        );
        Ok(body)
    }
}

/// A server on a fresh database and a gateway of the test's own in front of it.
struct Gateway {
    app: TestApp,
    http: Http,
    shutdown: Option<oneshot::Sender<()>>,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

impl Gateway {
    async fn start(backend: Backend) -> Result<Self> {
        Self::over(spawn_app(backend).await).await
    }

    /// The gateway in front of an already running server.
    async fn over(app: TestApp) -> Result<Self> {
        let channel = Endpoint::from_shared(format!("http://{}", app.grpc_addr))?.connect_lazy();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let http = Http::new(format!("http://{}", listener.local_addr()?))?;
        let (tx, rx) = oneshot::channel::<()>();
        tokio::spawn(serve(
            listener,
            router(channel, GatewayConfig::default()),
            async move {
                let _ = rx.await;
            },
        ));
        Ok(Self {
            app,
            http,
            shutdown: Some(tx),
        })
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        cred: Cred<'_>,
        body: Option<Value>,
    ) -> Result<Resp> {
        let mut req = self.http.request(method, path);
        req = match cred {
            Cred::None => req,
            Cred::Jwt(t) => req.header(header::AUTHORIZATION, format!("Bearer {t}")),
            Cred::Key(k) => req.header("X-API-KEY", k),
        };
        if let Some(b) = body {
            req = req.json(&b);
        }
        Resp::of(req).await
    }

    async fn get(&self, path: &str, cred: Cred<'_>) -> Result<Resp> {
        self.call(Method::GET, path, cred, None).await
    }

    async fn post(&self, path: &str, cred: Cred<'_>, body: Value) -> Result<Resp> {
        self.call(Method::POST, path, cred, Some(body)).await
    }

    async fn put(&self, path: &str, cred: Cred<'_>, body: Value) -> Result<Resp> {
        self.call(Method::PUT, path, cred, Some(body)).await
    }

    async fn delete(&self, path: &str, cred: Cred<'_>) -> Result<Resp> {
        self.call(Method::DELETE, path, cred, None).await
    }

    /// `POST /api/auth` → the JWT.
    async fn login(&self, username: &str, password: &str) -> Result<String> {
        let body = self
            .post(
                "/api/auth",
                Cred::None,
                json!({"username": username, "password": password}),
            )
            .await?;
        let v = body.ok(StatusCode::OK)?;
        v["jwt"].as_str().map(str::to_owned).context("no jwt")
    }

    /// Admin init through the gateway, then log in.
    async fn init_admin(&self) -> Result<String> {
        let r = self.post(
            "/api/users/admin/init",
            Cred::None,
            json!({"username": ADMIN, "password": ADMIN_PASSWORD}),
        );
        r.await?.ok(StatusCode::OK)?;
        self.login(ADMIN, ADMIN_PASSWORD).await
    }

    /// `POST /api/users` as `admin` → the new user's id.
    async fn create_user(&self, admin: &str, username: &str, role: i64) -> Result<i64> {
        let body = json!({"username": username, "password": PASSWORD, "role": role});
        let v = self
            .post("/api/users", Cred::Jwt(admin), body)
            .await?
            .ok(StatusCode::OK)?;
        v["Id"].as_i64().context("no Id")
    }

    /// `POST /api/users/{id}/tokens` with a session → (key id, raw key).
    async fn create_key(
        &self,
        jwt: &str,
        id: i64,
        password: &str,
        description: &str,
    ) -> Result<(i64, String)> {
        let body = json!({"description": description, "password": password});
        let v = self
            .post(&format!("/api/users/{id}/tokens"), Cred::Jwt(jwt), body)
            .await?
            .ok(StatusCode::OK)?;
        let key_id = v["apiKey"]["id"].as_i64().context("no apiKey.id")?;
        let raw = v["rawAPIKey"].as_str().context("no rawAPIKey")?.to_owned();
        Ok((key_id, raw))
    }

    /// Admin, plus a standard user "bob" (logged in): (admin jwt, bob id, bob jwt).
    async fn with_bob(&self) -> Result<(String, i64, String)> {
        let admin = self.init_admin().await?;
        let bob = self.create_user(&admin, "bob", 2).await?;
        let bob_jwt = self.login("bob", PASSWORD).await?;
        Ok((admin, bob, bob_jwt))
    }
}

fn keys_of(v: &Value) -> Vec<String> {
    v.as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default()
}

/// A full Portainer user, without any password field.
fn check_user(v: &Value, id: i64, username: &str, role: i64) -> Result<()> {
    ensure!(
        v["Id"] == json!(id) && v["Username"] == json!(username) && v["Role"] == json!(role),
        "user {v}"
    );
    ensure!(v["TokenIssueAt"].is_i64(), "TokenIssueAt in {v}");
    ensure!(
        v["ThemeSettings"]["color"].is_string(),
        "ThemeSettings in {v}"
    );
    ensure!(v["UseCache"].is_boolean(), "UseCache in {v}");
    ensure!(
        v["PortainerAuthorizations"].is_null() && v["EndpointAuthorizations"].is_null(),
        "maps in {v}"
    );
    let keys = keys_of(v);
    let leaked = keys
        .iter()
        .any(|k| k.to_lowercase().contains("password") && k != "forceChangePassword");
    ensure!(!leaked, "a password field in {v}");
    Ok(())
}

// === Tests, each run on Postgres and SQLite (see the macro at the end) ===

async fn login(backend: Backend) -> Result<()> {
    let gw = Gateway::start(backend).await?;
    gw.init_admin().await?;

    let r = gw
        .post(
            "/api/auth",
            Cred::None,
            json!({"username": ADMIN, "password": ADMIN_PASSWORD}),
        )
        .await?;
    let v = r.ok(StatusCode::OK)?;
    ensure!(keys_of(&v) == ["jwt"], "login body {v}");
    let jwt = v["jwt"].as_str().context("jwt")?;
    let cookie = r
        .headers
        .get(header::SET_COOKIE)
        .and_then(|c| c.to_str().ok())
        .context("no cookie")?;
    ensure!(
        cookie.starts_with(&format!("portainer_api_key={jwt};")),
        "cookie {cookie}"
    );
    ensure!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "cookie {cookie}"
    );

    // Keys are matched case-insensitively; usernames too.
    let r = gw
        .post(
            "/api/auth",
            Cred::None,
            json!({"Username": "ADMIN", "PASSWORD": ADMIN_PASSWORD}),
        )
        .await?;
    r.ok(StatusCode::OK)?;

    // The cookie is a credential.
    let me = gw
        .http
        .request(Method::GET, "/api/users/me")
        .header(header::COOKIE, format!("portainer_api_key={jwt}"))
        .send()
        .await?;
    ensure!(me.status() == StatusCode::OK, "cookie auth {}", me.status());

    let wrong = gw
        .post(
            "/api/auth",
            Cred::None,
            json!({"username": ADMIN, "password": "wrong-password"}),
        )
        .await?;
    let body = wrong.err(StatusCode::UNPROCESSABLE_ENTITY, "Invalid credentials")?;
    ensure!(
        body == json!({"message":"Invalid credentials","details":"Unauthorized"}),
        "{body}"
    );
    let nobody = gw
        .post(
            "/api/auth",
            Cred::None,
            json!({"username": "nobody", "password": "whatever-it-is"}),
        )
        .await?;
    nobody.err(StatusCode::UNPROCESSABLE_ENTITY, "Invalid credentials")?;

    gw.post("/api/auth", Cred::None, json!({"password": "x"}))
        .await?
        .err(StatusCode::BAD_REQUEST, "Invalid request payload")?;
    gw.post("/api/auth", Cred::None, json!({"username": "a"}))
        .await?
        .err(StatusCode::BAD_REQUEST, "Invalid request payload")?;
    gw.post(
        "/api/auth",
        Cred::None,
        json!({"username": 1, "password": "x"}),
    )
    .await?
    .err(StatusCode::BAD_REQUEST, "Invalid request payload")?;
    // A stale credential on a public route is ignored, as in Portainer.
    gw.post(
        "/api/auth",
        Cred::Jwt("garbage"),
        json!({"username": ADMIN, "password": ADMIN_PASSWORD}),
    )
    .await?
    .ok(StatusCode::OK)?;
    Ok(())
}

async fn admin_check_and_init(backend: Backend) -> Result<()> {
    let gw = Gateway::start(backend).await?;
    let body = gw.get("/api/users/admin/check", Cred::None).await?.err(
        StatusCode::NOT_FOUND,
        "No administrator account found inside the database",
    )?;
    ensure!(
        body["details"] == json!("Object not found inside the database"),
        "{body}"
    );

    let init = |b: Value| gw.post("/api/users/admin/init", Cred::None, b);
    init(json!({"username": ADMIN, "password": WEAK}))
        .await?
        .err(
            StatusCode::BAD_REQUEST,
            "Password does not meet the requirements",
        )?;
    init(json!({"username": "ad min", "password": ADMIN_PASSWORD}))
        .await?
        .err(StatusCode::BAD_REQUEST, "Invalid request payload")?;
    init(json!({"username": ADMIN}))
        .await?
        .err(StatusCode::BAD_REQUEST, "Invalid request payload")?;

    let v = init(json!({"Username": "Admin", "Password": ADMIN_PASSWORD}))
        .await?
        .ok(StatusCode::OK)?;
    check_user(&v, 1, "admin", 1)?;

    gw.get("/api/users/admin/check", Cred::None)
        .await?
        .ok(StatusCode::NO_CONTENT)?;
    let again = init(json!({"username": "other", "password": ADMIN_PASSWORD})).await?;
    let body = again.err(StatusCode::CONFLICT, "Unable to create administrator user")?;
    ensure!(
        body["details"] == json!("An administrator user already exists"),
        "{body}"
    );
    // "Already initialised" wins over a weak password.
    init(json!({"username": "other", "password": WEAK}))
        .await?
        .err(StatusCode::CONFLICT, "Unable to create administrator user")?;
    Ok(())
}

async fn me(backend: Backend) -> Result<()> {
    let gw = Gateway::start(backend).await?;
    let (admin, bob, bob_jwt) = gw.with_bob().await?;
    let v = gw
        .get("/api/users/me", Cred::Jwt(&bob_jwt))
        .await?
        .ok(StatusCode::OK)?;
    check_user(&v, bob, "bob", 2)?;
    ensure!(v["forceChangePassword"] == json!(false), "{v}");

    let (_, key) = gw.create_key(&admin, 1, ADMIN_PASSWORD, "me-test").await?;
    let v = gw
        .get("/api/users/me", Cred::Key(&key))
        .await?
        .ok(StatusCode::OK)?;
    check_user(&v, 1, "admin", 1)?;
    ensure!(v["forceChangePassword"] == json!(false), "{v}");

    let missing = gw.get("/api/users/me", Cred::None).await?;
    let body = missing.err(
        StatusCode::UNAUTHORIZED,
        "A valid authorization token is missing",
    )?;
    ensure!(body["details"] == json!("Unauthorized"), "{body}");
    gw.get("/api/users/me", Cred::Jwt("not.a.jwt"))
        .await?
        .err(StatusCode::UNAUTHORIZED, "Invalid JWT token")?;
    gw.get("/api/users/me", Cred::Key("idk_nope"))
        .await?
        .err(StatusCode::UNAUTHORIZED, "Invalid JWT token")?;

    let both = gw
        .http
        .request(Method::GET, "/api/users/me")
        .header("X-API-KEY", &key)
        .header(header::AUTHORIZATION, format!("Bearer {bob_jwt}"))
        .send()
        .await?;
    ensure!(
        both.status() == StatusCode::FORBIDDEN,
        "both headers: {}",
        both.status()
    );
    Ok(())
}

async fn me_force_change_password(backend: Backend) -> Result<()> {
    // A server with a lenient policy gives bob a password that the default policy (12) finds
    // short; logging in through a default server on the same database sets the flag.
    let lenient = spawn_app_with(backend, |s| s.password_min_length = 8).await;
    let admin = lenient.init_admin().await;
    lenient.create_user(&admin, "bob", "nine-char").await;
    let shared = lenient.settings.database_url.clone();
    let strict = spawn_app_with(backend, move |s| s.database_url = shared).await;
    let gw = Gateway::over(strict).await?;
    let jwt = gw.login("bob", "nine-char").await?;
    let v = gw
        .get("/api/users/me", Cred::Jwt(&jwt))
        .await?
        .ok(StatusCode::OK)?;
    ensure!(v["forceChangePassword"] == json!(true), "{v}");
    ensure!(v["Username"] == json!("bob"), "{v}");
    // The strict server goes first; the lenient one owns the database.
    drop(gw);
    drop(lenient);
    Ok(())
}

async fn create_user(backend: Backend) -> Result<()> {
    let gw = Gateway::start(backend).await?;
    let (admin, _bob, bob_jwt) = gw.with_bob().await?;
    let create = |cred, b: Value| gw.post("/api/users", cred, b);

    let v = create(
        Cred::Jwt(&admin),
        json!({"Username": "Carol", "PASSWORD": PASSWORD, "Role": 2}),
    )
    .await?
    .ok(StatusCode::OK)?;
    let carol = v["Id"].as_i64().context("Id")?;
    check_user(&v, carol, "carol", 2)?;
    let v = create(
        Cred::Jwt(&admin),
        json!({"username": "dave", "password": PASSWORD, "role": 1}),
    )
    .await?
    .ok(StatusCode::OK)?;
    check_user(&v, v["Id"].as_i64().context("Id")?, "dave", 1)?;

    let dup = create(
        Cred::Jwt(&admin),
        json!({"username": "CAROL", "password": PASSWORD, "role": 2}),
    )
    .await?;
    let body = dup.err(
        StatusCode::CONFLICT,
        "Another user with the same username already exists",
    )?;
    ensure!(body["details"] == json!("User already exists"), "{body}");

    for (body, message) in [
        (
            json!({"username": "erin", "password": WEAK, "role": 2}),
            "Password does not meet the requirements",
        ),
        (
            json!({"username": "erin", "role": 2}),
            "Password does not meet the requirements",
        ),
        (
            json!({"username": "erin", "password": PASSWORD, "role": 3}),
            "Invalid request payload",
        ),
        (
            json!({"username": "erin", "password": PASSWORD}),
            "Invalid request payload",
        ),
        (
            json!({"username": "er in", "password": PASSWORD, "role": 2}),
            "Invalid request payload",
        ),
        (
            json!({"username": "erin", "password": PASSWORD, "role": "2"}),
            "Invalid request payload",
        ),
    ] {
        create(Cred::Jwt(&admin), body)
            .await?
            .err(StatusCode::BAD_REQUEST, message)?;
    }
    create(
        Cred::Jwt(&bob_jwt),
        json!({"username": "erin", "password": PASSWORD, "role": 2}),
    )
    .await?
    .err(StatusCode::FORBIDDEN, "Access denied")?;
    create(
        Cred::None,
        json!({"username": "erin", "password": PASSWORD, "role": 2}),
    )
    .await?
    .err(
        StatusCode::UNAUTHORIZED,
        "A valid authorization token is missing",
    )?;
    Ok(())
}

async fn inspect_user(backend: Backend) -> Result<()> {
    let gw = Gateway::start(backend).await?;
    let (admin, bob, bob_jwt) = gw.with_bob().await?;
    let v = gw
        .get(&format!("/api/users/{bob}"), Cred::Jwt(&admin))
        .await?
        .ok(StatusCode::OK)?;
    check_user(&v, bob, "bob", 2)?;
    let v = gw
        .get(&format!("/api/users/{bob}"), Cred::Jwt(&bob_jwt))
        .await?
        .ok(StatusCode::OK)?;
    check_user(&v, bob, "bob", 2)?;

    // A standard user cannot read another user, existing or not.
    let body = gw
        .get("/api/users/1", Cred::Jwt(&bob_jwt))
        .await?
        .err(StatusCode::FORBIDDEN, "Permission denied inspect user")?;
    ensure!(
        body["details"] == json!("Access denied to resource"),
        "{body}"
    );
    gw.get("/api/users/999", Cred::Jwt(&bob_jwt))
        .await?
        .err(StatusCode::FORBIDDEN, "Permission denied inspect user")?;

    let body = gw.get("/api/users/999", Cred::Jwt(&admin)).await?.err(
        StatusCode::NOT_FOUND,
        "Unable to find a user with the specified identifier inside the database",
    )?;
    ensure!(
        body["details"] == json!("Object not found inside the database"),
        "{body}"
    );
    let body = gw.get("/api/users/abc", Cred::Jwt(&admin)).await?.err(
        StatusCode::BAD_REQUEST,
        "Invalid user identifier route variable",
    )?;
    ensure!(
        body["details"] == json!("Strconv.Atoi: parsing \"abc\": invalid syntax"),
        "{body}"
    );
    gw.get("/api/users/1", Cred::None).await?.err(
        StatusCode::UNAUTHORIZED,
        "A valid authorization token is missing",
    )?;
    Ok(())
}

async fn list_users(backend: Backend) -> Result<()> {
    let gw = Gateway::start(backend).await?;
    let (admin, bob, bob_jwt) = gw.with_bob().await?;
    let carol = gw.create_user(&admin, "carol", 2).await?;

    let v = gw
        .get("/api/users", Cred::Jwt(&admin))
        .await?
        .ok(StatusCode::OK)?;
    let expected = json!([
        {"Id": 1, "Username": "admin", "Role": 1},
        {"Id": bob, "Username": "bob", "Role": 2},
        {"Id": carol, "Username": "carol", "Role": 2},
    ]);
    ensure!(v == expected, "list {v}");
    gw.get("/api/users?environmentId=abc", Cred::Jwt(&admin))
        .await?
        .ok(StatusCode::OK)?;
    gw.get("/api/users?environmentId=3", Cred::Jwt(&admin))
        .await?
        .err(
            StatusCode::NOT_FOUND,
            "Unable to find an environment with the specified identifier inside the database",
        )?;

    let body = gw.get("/api/users", Cred::Jwt(&bob_jwt)).await?.err(
        StatusCode::FORBIDDEN,
        "Permission denied to access users list",
    )?;
    ensure!(
        body["details"] == json!("Access denied to resource"),
        "{body}"
    );

    // A team leader sees the standard users only.
    let team = gw
        .app
        .teams()
        .create_team(with_auth(
            pb::CreateTeamRequest { name: "ops".into() },
            &admin,
        ))
        .await?
        .into_inner()
        .team
        .context("team")?;
    let add = pb::AddTeamMemberRequest {
        team_id: team.id,
        user_id: bob,
        role: pb::TeamRole::Leader as i32,
    };
    gw.app
        .teams()
        .add_team_member(with_auth(add, &admin))
        .await?;
    let v = gw
        .get("/api/users", Cred::Jwt(&bob_jwt))
        .await?
        .ok(StatusCode::OK)?;
    let ids: Vec<i64> = v
        .as_array()
        .context("array")?
        .iter()
        .filter_map(|u| u["Id"].as_i64())
        .collect();
    ensure!(ids == [bob, carol], "leader sees {v}");
    gw.get("/api/users", Cred::None).await?.err(
        StatusCode::UNAUTHORIZED,
        "A valid authorization token is missing",
    )?;
    Ok(())
}

async fn delete_user(backend: Backend) -> Result<()> {
    let gw = Gateway::start(backend).await?;
    let (admin, bob, bob_jwt) = gw.with_bob().await?;
    let carol = gw.create_user(&admin, "carol", 2).await?;
    let dave = gw.create_user(&admin, "dave", 1).await?;
    let dave_jwt = gw.login("dave", PASSWORD).await?;

    gw.delete(&format!("/api/users/{carol}"), Cred::Jwt(&bob_jwt))
        .await?
        .err(StatusCode::FORBIDDEN, "Access denied")?;
    gw.delete(&format!("/api/users/{carol}"), Cred::Jwt(&admin))
        .await?
        .ok(StatusCode::NO_CONTENT)?;
    gw.get(&format!("/api/users/{carol}"), Cred::Jwt(&admin))
        .await?
        .err(
            StatusCode::NOT_FOUND,
            "Unable to find a user with the specified identifier inside the database",
        )?;
    gw.delete(&format!("/api/users/{carol}"), Cred::Jwt(&admin))
        .await?
        .err(
            StatusCode::NOT_FOUND,
            "Unable to find a user with the specified identifier inside the database",
        )?;
    gw.delete("/api/users/1", Cred::Jwt(&dave_jwt)).await?.err(
        StatusCode::FORBIDDEN,
        "Cannot remove the initial admin account",
    )?;
    gw.delete(&format!("/api/users/{dave}"), Cred::Jwt(&dave_jwt))
        .await?
        .err(
            StatusCode::FORBIDDEN,
            "Cannot remove your own user account. Contact another administrator",
        )?;
    gw.delete("/api/users/x1", Cred::Jwt(&admin)).await?.err(
        StatusCode::BAD_REQUEST,
        "Invalid user identifier route variable",
    )?;
    gw.delete(&format!("/api/users/{bob}"), Cred::None)
        .await?
        .err(
            StatusCode::UNAUTHORIZED,
            "A valid authorization token is missing",
        )?;
    // Deleting revokes the user's sessions too.
    gw.delete(&format!("/api/users/{bob}"), Cred::Jwt(&dave_jwt))
        .await?
        .ok(StatusCode::NO_CONTENT)?;
    gw.get("/api/users/me", Cred::Jwt(&bob_jwt))
        .await?
        .err(StatusCode::UNAUTHORIZED, "Invalid JWT token")?;
    Ok(())
}

async fn update_user(backend: Backend) -> Result<()> {
    let gw = Gateway::start(backend).await?;
    let (admin, bob, bob_jwt) = gw.with_bob().await?;
    let carol = gw.create_user(&admin, "carol", 2).await?;
    let path = format!("/api/users/{bob}");

    // What the generated client sends: every field, empty meaning "unchanged".
    let v = gw
        .put(&path, Cred::Jwt(&admin), json!({"username": "", "password": "", "newPassword": "", "role": 0, "useCache": true, "theme": {"color": "dark"}}))
        .await?
        .ok(StatusCode::OK)?;
    check_user(&v, bob, "bob", 2)?;
    ensure!(
        v["ThemeSettings"]["color"] == json!("dark") && v["UseCache"] == json!(true),
        "{v}"
    );

    // A user may change their own preferences (keys in any case), and send their own username.
    let v = gw
        .put(
            &path,
            Cred::Jwt(&bob_jwt),
            json!({"Username": "bob", "Theme": {"Color": "light"}, "UseCache": false}),
        )
        .await?
        .ok(StatusCode::OK)?;
    ensure!(
        v["ThemeSettings"]["color"] == json!("light") && v["UseCache"] == json!(false),
        "{v}"
    );

    // Only administrators rename or change roles.
    gw.put(&path, Cred::Jwt(&bob_jwt), json!({"username": "robert"}))
        .await?
        .err(
            StatusCode::FORBIDDEN,
            "Permission denied. Unable to update username",
        )?;
    gw.put(&path, Cred::Jwt(&bob_jwt), json!({"role": 1}))
        .await?
        .err(
            StatusCode::FORBIDDEN,
            "Permission denied. Unable to update user role",
        )?;
    gw.put(
        &format!("/api/users/{carol}"),
        Cred::Jwt(&bob_jwt),
        json!({"useCache": true}),
    )
    .await?
    .err(StatusCode::FORBIDDEN, "Permission denied to update user")?;

    let v = gw
        .put(
            &path,
            Cred::Jwt(&admin),
            json!({"username": "robert", "role": 1}),
        )
        .await?
        .ok(StatusCode::OK)?;
    check_user(&v, bob, "robert", 1)?;
    gw.put(&path, Cred::Jwt(&admin), json!({"username": "carol"}))
        .await?
        .err(
            StatusCode::CONFLICT,
            "Another user with the same username already exists",
        )?;
    let v = gw
        .put(&path, Cred::Jwt(&admin), json!({"role": 2}))
        .await?
        .ok(StatusCode::OK)?;
    check_user(&v, bob, "robert", 2)?;

    for body in [
        json!({"role": 5}),
        json!({"theme": {"color": "purple"}}),
        json!({"username": "a b"}),
        json!({"useCache": "yes"}),
    ] {
        gw.put(&path, Cred::Jwt(&admin), body)
            .await?
            .err(StatusCode::BAD_REQUEST, "Invalid request payload")?;
    }
    let body = gw
        .put(&path, Cred::Jwt(&admin), json!({"password": PASSWORD}))
        .await?
        .err(StatusCode::BAD_REQUEST, "Invalid payload")?;
    ensure!(
        body["details"] == json!("Invalid password payload"),
        "{body}"
    );
    gw.put(
        "/api/users/999",
        Cred::Jwt(&admin),
        json!({"useCache": true}),
    )
    .await?
    .err(
        StatusCode::NOT_FOUND,
        "Unable to find a user with the specified identifier inside the database",
    )?;
    gw.put("/api/users/me", Cred::Jwt(&admin), json!({}))
        .await?
        .err(
            StatusCode::BAD_REQUEST,
            "Invalid user identifier route variable",
        )?;

    // Password changes: a standard user needs the current password; the new one must be strong.
    let bob_jwt = gw.login("robert", PASSWORD).await?;
    gw.put(
        &path,
        Cred::Jwt(&bob_jwt),
        json!({"newPassword": "another-long-password"}),
    )
    .await?
    .err(StatusCode::FORBIDDEN, "Current password doesn't match")?;
    gw.put(
        &path,
        Cred::Jwt(&bob_jwt),
        json!({"password": "wrong-password!", "newPassword": "another-long-password"}),
    )
    .await?
    .err(StatusCode::FORBIDDEN, "Current password doesn't match")?;
    gw.put(
        &path,
        Cred::Jwt(&bob_jwt),
        json!({"password": PASSWORD, "newPassword": WEAK}),
    )
    .await?
    .err(
        StatusCode::BAD_REQUEST,
        "Password does not meet the requirements",
    )?;
    let before = v["TokenIssueAt"].as_i64().context("TokenIssueAt")?;
    let v = gw
        .put(
            &path,
            Cred::Jwt(&bob_jwt),
            json!({"password": PASSWORD, "newPassword": "another-long-password", "useCache": true}),
        )
        .await?
        .ok(StatusCode::OK)?;
    ensure!(
        v["UseCache"] == json!(true) && v["TokenIssueAt"].as_i64() >= Some(before),
        "{v}"
    );
    // The old session ended; the new password works.
    gw.get("/api/users/me", Cred::Jwt(&bob_jwt))
        .await?
        .err(StatusCode::UNAUTHORIZED, "Invalid JWT token")?;
    gw.login("robert", "another-long-password").await?;
    // An administrator needs no current password.
    gw.put(
        &path,
        Cred::Jwt(&admin),
        json!({"newPassword": "a-third-long-password"}),
    )
    .await?
    .ok(StatusCode::OK)?;
    gw.login("robert", "a-third-long-password").await?;

    // The last administrator cannot be demoted.
    gw.put("/api/users/1", Cred::Jwt(&admin), json!({"role": 2}))
        .await?
        .err(
            StatusCode::FORBIDDEN,
            "Cannot demote the last administrator account",
        )?;
    gw.put(&path, Cred::None, json!({})).await?.err(
        StatusCode::UNAUTHORIZED,
        "A valid authorization token is missing",
    )?;
    Ok(())
}

async fn update_password(backend: Backend) -> Result<()> {
    let gw = Gateway::start(backend).await?;
    let (admin, bob, bob_jwt) = gw.with_bob().await?;
    let carol = gw.create_user(&admin, "carol", 2).await?;
    let path = format!("/api/users/{bob}/passwd");

    let body = gw
        .put(
            &path,
            Cred::Jwt(&bob_jwt),
            json!({"password": "wrong-password!", "newPassword": "another-long-password"}),
        )
        .await?
        .err(
            StatusCode::FORBIDDEN,
            "Specified password do not match actual password",
        )?;
    ensure!(body["details"] == json!("Unauthorized"), "{body}");
    gw.put(
        &path,
        Cred::Jwt(&bob_jwt),
        json!({"password": PASSWORD, "newPassword": WEAK}),
    )
    .await?
    .err(
        StatusCode::BAD_REQUEST,
        "Password does not meet the requirements",
    )?;
    gw.put(&path, Cred::Jwt(&bob_jwt), json!({"password": PASSWORD}))
        .await?
        .err(StatusCode::BAD_REQUEST, "Invalid request payload")?;
    gw.put(
        &path,
        Cred::Jwt(&bob_jwt),
        json!({"newPassword": "another-long-password"}),
    )
    .await?
    .err(StatusCode::BAD_REQUEST, "Invalid request payload")?;
    gw.put(
        &format!("/api/users/{carol}/passwd"),
        Cred::Jwt(&bob_jwt),
        json!({"password": PASSWORD, "newPassword": "another-long-password"}),
    )
    .await?
    .err(StatusCode::FORBIDDEN, "Permission denied to update user")?;

    gw.put(
        &path,
        Cred::Jwt(&bob_jwt),
        json!({"Password": PASSWORD, "NewPassword": "another-long-password"}),
    )
    .await?
    .ok(StatusCode::NO_CONTENT)?;
    gw.login("bob", "another-long-password").await?;

    // Even an administrator must give the user's current password here.
    gw.put(
        &path,
        Cred::Jwt(&admin),
        json!({"password": PASSWORD, "newPassword": "a-third-long-password"}),
    )
    .await?
    .err(
        StatusCode::FORBIDDEN,
        "Specified password do not match actual password",
    )?;
    gw.put(
        &path,
        Cred::Jwt(&admin),
        json!({"password": "another-long-password", "newPassword": "a-third-long-password"}),
    )
    .await?
    .ok(StatusCode::NO_CONTENT)?;
    gw.put(
        "/api/users/999/passwd",
        Cred::Jwt(&admin),
        json!({"password": PASSWORD, "newPassword": "a-third-long-password"}),
    )
    .await?
    .err(
        StatusCode::NOT_FOUND,
        "Unable to find a user with the specified identifier inside the database",
    )?;
    gw.put(
        "/api/users/abc/passwd",
        Cred::Jwt(&admin),
        json!({"password": PASSWORD, "newPassword": "a-third-long-password"}),
    )
    .await?
    .err(
        StatusCode::BAD_REQUEST,
        "Invalid user identifier route variable",
    )?;
    Ok(())
}

async fn memberships(backend: Backend) -> Result<()> {
    let gw = Gateway::start(backend).await?;
    let (admin, bob, bob_jwt) = gw.with_bob().await?;
    let carol = gw.create_user(&admin, "carol", 2).await?;
    let path = format!("/api/users/{bob}/memberships");
    ensure!(
        gw.get(&path, Cred::Jwt(&bob_jwt))
            .await?
            .ok(StatusCode::OK)?
            == json!([]),
        "no memberships"
    );

    let team = gw
        .app
        .teams()
        .create_team(with_auth(
            pb::CreateTeamRequest {
                name: "devs".into(),
            },
            &admin,
        ))
        .await?
        .into_inner()
        .team
        .context("team")?;
    let add = pb::AddTeamMemberRequest {
        team_id: team.id,
        user_id: bob,
        role: pb::TeamRole::Member as i32,
    };
    let m = gw
        .app
        .teams()
        .add_team_member(with_auth(add, &admin))
        .await?
        .into_inner()
        .membership
        .context("m")?;
    let v = gw
        .get(&path, Cred::Jwt(&bob_jwt))
        .await?
        .ok(StatusCode::OK)?;
    ensure!(
        v == json!([{"Id": m.id, "UserID": bob, "TeamID": team.id, "Role": 2}]),
        "{v}"
    );
    let v = gw.get(&path, Cred::Jwt(&admin)).await?.ok(StatusCode::OK)?;
    ensure!(v.as_array().map(Vec::len) == Some(1), "{v}");

    gw.get(
        &format!("/api/users/{carol}/memberships"),
        Cred::Jwt(&bob_jwt),
    )
    .await?
    .err(
        StatusCode::FORBIDDEN,
        "Permission denied to update user memberships",
    )?;
    ensure!(
        gw.get("/api/users/999/memberships", Cred::Jwt(&admin))
            .await?
            .ok(StatusCode::OK)?
            == json!([]),
        "unknown user"
    );
    gw.get("/api/users/x/memberships", Cred::Jwt(&admin))
        .await?
        .err(
            StatusCode::BAD_REQUEST,
            "Invalid user identifier route variable",
        )?;
    Ok(())
}

async fn create_token(backend: Backend) -> Result<()> {
    let gw = Gateway::start(backend).await?;
    let (admin, bob, bob_jwt) = gw.with_bob().await?;
    let path = format!("/api/users/{bob}/tokens");

    let r = gw
        .post(
            &path,
            Cred::Jwt(&bob_jwt),
            json!({"description": "ci key", "password": PASSWORD}),
        )
        .await?;
    let v = r.ok(StatusCode::OK)?;
    ensure!(keys_of(&v) == ["apiKey", "rawAPIKey"], "{v}");
    let raw = v["rawAPIKey"].as_str().context("rawAPIKey")?;
    let key = &v["apiKey"];
    ensure!(
        keys_of(key)
            == [
                "dateCreated",
                "description",
                "id",
                "lastUsed",
                "prefix",
                "userId"
            ],
        "{key}"
    );
    ensure!(
        key["userId"] == json!(bob)
            && key["description"] == json!("ci key")
            && key["lastUsed"] == json!(0),
        "{key}"
    );
    ensure!(key["prefix"].as_str() == Some(&raw[..7]), "prefix {key}");
    ensure!(
        key["dateCreated"]
            .as_i64()
            .is_some_and(|t| t > 1_600_000_000),
        "{key}"
    );
    // The key works as X-API-KEY.
    let me = gw
        .get("/api/users/me", Cred::Key(raw))
        .await?
        .ok(StatusCode::OK)?;
    ensure!(me["Id"] == json!(bob), "{me}");

    // Only a session may create keys, only for itself, with the right password.
    let body = gw
        .post(
            &path,
            Cred::Key(raw),
            json!({"description": "x", "password": PASSWORD}),
        )
        .await?
        .err(StatusCode::UNAUTHORIZED, "Auth not supported")?;
    ensure!(
        body["details"] == json!("JWT Authentication required"),
        "{body}"
    );
    gw.post(
        &path,
        Cred::Jwt(raw),
        json!({"description": "x", "password": PASSWORD}),
    )
    .await?
    .err(StatusCode::UNAUTHORIZED, "Auth not supported")?;
    gw.post(
        &path,
        Cred::Jwt(&admin),
        json!({"description": "x", "password": ADMIN_PASSWORD}),
    )
    .await?
    .err(
        StatusCode::FORBIDDEN,
        "Permission denied to create user access token",
    )?;
    gw.post(
        "/api/users/1/tokens",
        Cred::Jwt(&bob_jwt),
        json!({"description": "x", "password": PASSWORD}),
    )
    .await?
    .err(
        StatusCode::FORBIDDEN,
        "Permission denied to create user access token",
    )?;
    gw.post(
        &path,
        Cred::Jwt(&bob_jwt),
        json!({"description": "x", "password": "wrong-password!"}),
    )
    .await?
    .err(StatusCode::FORBIDDEN, "Current password doesn't match")?;
    for body in [
        json!({"description": "   ", "password": PASSWORD}),
        json!({"description": "x".repeat(129), "password": PASSWORD}),
        json!({"description": "x"}),
        json!({"description": "x", "password": 5}),
    ] {
        gw.post(&path, Cred::Jwt(&bob_jwt), body)
            .await?
            .err(StatusCode::BAD_REQUEST, "Invalid request payload")?;
    }
    gw.post(
        &path,
        Cred::None,
        json!({"description": "x", "password": PASSWORD}),
    )
    .await?
    .err(
        StatusCode::UNAUTHORIZED,
        "A valid authorization token is missing",
    )?;
    gw.post(
        "/api/users/b/tokens",
        Cred::Jwt(&bob_jwt),
        json!({"description": "x", "password": PASSWORD}),
    )
    .await?
    .err(
        StatusCode::BAD_REQUEST,
        "Invalid user identifier route variable",
    )?;
    // 128 characters are allowed.
    gw.create_key(&bob_jwt, bob, PASSWORD, &"y".repeat(128))
        .await?;
    Ok(())
}

async fn list_tokens(backend: Backend) -> Result<()> {
    let gw = Gateway::start(backend).await?;
    let (admin, bob, bob_jwt) = gw.with_bob().await?;
    let dave = gw.create_user(&admin, "dave", 1).await?;
    let carol = gw.create_user(&admin, "carol", 2).await?;
    let (k1, raw1) = gw.create_key(&bob_jwt, bob, PASSWORD, "first").await?;
    let (k2, _) = gw.create_key(&bob_jwt, bob, PASSWORD, "second").await?;
    let path = format!("/api/users/{bob}/tokens");

    let v = gw
        .get(&path, Cred::Jwt(&bob_jwt))
        .await?
        .ok(StatusCode::OK)?;
    let list = v.as_array().context("array")?;
    ensure!(list.len() == 2, "{v}");
    ensure!(
        list[0]["id"] == json!(k1) && list[1]["id"] == json!(k2),
        "{v}"
    );
    ensure!(
        list[0]["description"] == json!("first") && list[0]["prefix"].as_str() == Some(&raw1[..7]),
        "{v}"
    );
    ensure!(
        list.iter().all(|k| keys_of(k)
            == [
                "dateCreated",
                "description",
                "id",
                "lastUsed",
                "prefix",
                "userId"
            ]),
        "{v}"
    );
    // With the key itself, and by an administrator for a standard user.
    gw.get(&path, Cred::Key(&raw1)).await?.ok(StatusCode::OK)?;
    ensure!(
        gw.get(&path, Cred::Jwt(&admin))
            .await?
            .ok(StatusCode::OK)?
            .as_array()
            .map(Vec::len)
            == Some(2),
        "admin view"
    );

    // Nobody lists an administrator's keys but that administrator.
    gw.get(&format!("/api/users/{dave}/tokens"), Cred::Jwt(&admin))
        .await?
        .err(
            StatusCode::FORBIDDEN,
            "Permission denied to get user access tokens",
        )?;
    gw.get("/api/users/1/tokens", Cred::Jwt(&bob_jwt))
        .await?
        .err(
            StatusCode::FORBIDDEN,
            "Permission denied to get user access tokens",
        )?;
    gw.get(&format!("/api/users/{carol}/tokens"), Cred::Jwt(&bob_jwt))
        .await?
        .err(
            StatusCode::FORBIDDEN,
            "Permission denied to get user access tokens",
        )?;
    ensure!(
        gw.get("/api/users/1/tokens", Cred::Jwt(&admin))
            .await?
            .ok(StatusCode::OK)?
            == json!([]),
        "own"
    );
    gw.get("/api/users/999/tokens", Cred::Jwt(&admin))
        .await?
        .err(
            StatusCode::NOT_FOUND,
            "Unable to find a user with the specified identifier inside the database",
        )?;
    gw.get("/api/users/-/tokens", Cred::Jwt(&admin))
        .await?
        .err(
            StatusCode::BAD_REQUEST,
            "Invalid user identifier route variable",
        )?;
    Ok(())
}

async fn remove_token(backend: Backend) -> Result<()> {
    let gw = Gateway::start(backend).await?;
    let (admin, bob, bob_jwt) = gw.with_bob().await?;
    let carol = gw.create_user(&admin, "carol", 2).await?;
    let carol_jwt = gw.login("carol", PASSWORD).await?;
    let (k1, raw1) = gw.create_key(&bob_jwt, bob, PASSWORD, "one").await?;
    let (k2, _) = gw.create_key(&bob_jwt, bob, PASSWORD, "two").await?;
    let (kc, _) = gw
        .create_key(&carol_jwt, carol, PASSWORD, "carol's")
        .await?;

    // Someone else cannot, whatever the key.
    gw.delete(
        &format!("/api/users/{bob}/tokens/{k1}"),
        Cred::Jwt(&carol_jwt),
    )
    .await?
    .err(
        StatusCode::FORBIDDEN,
        "Permission denied to remove user access token",
    )?;
    // The key must belong to the user in the path.
    gw.delete(&format!("/api/users/{bob}/tokens/{kc}"), Cred::Jwt(&admin))
        .await?
        .err(StatusCode::FORBIDDEN, "Permission denied to remove api-key")?;

    gw.delete(
        &format!("/api/users/{bob}/tokens/{k1}"),
        Cred::Jwt(&bob_jwt),
    )
    .await?
    .ok(StatusCode::NO_CONTENT)?;
    gw.get("/api/users/me", Cred::Key(&raw1))
        .await?
        .err(StatusCode::UNAUTHORIZED, "Invalid JWT token")?;
    gw.delete(
        &format!("/api/users/{bob}/tokens/{k1}"),
        Cred::Jwt(&bob_jwt),
    )
    .await?
    .err(StatusCode::NOT_FOUND, "API Key not found")?;
    gw.delete(&format!("/api/users/{bob}/tokens/9999"), Cred::Jwt(&admin))
        .await?
        .err(StatusCode::NOT_FOUND, "API Key not found")?;
    gw.delete(&format!("/api/users/{bob}/tokens/{k2}"), Cred::Jwt(&admin))
        .await?
        .ok(StatusCode::NO_CONTENT)?;
    ensure!(
        gw.get(&format!("/api/users/{bob}/tokens"), Cred::Jwt(&bob_jwt))
            .await?
            .ok(StatusCode::OK)?
            == json!([]),
        "all revoked"
    );

    gw.delete("/api/users/999/tokens/1", Cred::Jwt(&admin))
        .await?
        .err(
            StatusCode::NOT_FOUND,
            "Unable to find a user with the specified identifier inside the database",
        )?;
    gw.delete(&format!("/api/users/{bob}/tokens/k"), Cred::Jwt(&admin))
        .await?
        .err(
            StatusCode::BAD_REQUEST,
            "Invalid api-key identifier route variable",
        )?;
    gw.delete(&format!("/api/users/{bob}/tokens/{k2}"), Cred::None)
        .await?
        .err(
            StatusCode::UNAUTHORIZED,
            "A valid authorization token is missing",
        )?;
    Ok(())
}

on_every_backend!(
    login,
    admin_check_and_init,
    me,
    me_force_change_password,
    create_user,
    inspect_user,
    list_users,
    delete_user,
    update_user,
    update_password,
    memberships,
    create_token,
    list_tokens,
    remove_token,
);

/// Router-level checks that need no server: bad input never reaches it, and a missing server is a
/// 503 in Portainer's envelope.
mod offline {
    use std::time::Duration;

    use axum::body::Body;
    use tower::ServiceExt as _;

    use super::*;
    use crate::common::closed_router;

    async fn send(app: axum::Router, req: http::Request<Body>) -> Result<Resp> {
        Resp::of_router(app.oneshot(req).await?).await
    }

    fn request(
        method: &str,
        uri: &str,
        headers: &[(&str, &str)],
        body: impl Into<Body>,
    ) -> Result<http::Request<Body>> {
        let mut b = http::Request::builder().method(method).uri(uri);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        Ok(b.body(body.into())?)
    }

    const JSON: (&str, &str) = ("content-type", "application/json");
    const JWT: (&str, &str) = ("authorization", "Bearer some.jwt.token");

    #[tokio::test]
    async fn bad_json_is_400_in_portainer_envelope() -> Result<()> {
        let app = closed_router(GatewayConfig::default())?;
        for (uri, body) in [
            ("/api/users/admin/init", "{"),
            ("/api/auth", "not json"),
            ("/api/users", "[1,2]"),
            ("/api/users/admin/init", ""),
        ] {
            let r = send(app.clone(), request("POST", uri, &[JSON, JWT], body)?).await?;
            r.err(StatusCode::BAD_REQUEST, "Invalid request payload")?;
        }
        let r = send(app, request("POST", "/api/users/admin/init", &[JSON], "")?).await?;
        ensure!(
            r.err(StatusCode::BAD_REQUEST, "Invalid request payload")?["details"] == json!("EOF"),
            "{}",
            r.text
        );
        Ok(())
    }

    #[tokio::test]
    async fn wrong_content_type_is_400() -> Result<()> {
        let app = closed_router(GatewayConfig::default())?;
        let body = r#"{"username":"admin","password":"admin-password-1234"}"#;
        for ct in [
            "text/plain",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
        ] {
            let r = send(
                app.clone(),
                request("POST", "/api/auth", &[("content-type", ct)], body)?,
            )
            .await?;
            r.err(StatusCode::BAD_REQUEST, "Invalid request payload")?;
        }
        Ok(())
    }

    #[tokio::test]
    async fn oversized_bodies_are_413() -> Result<()> {
        let config = GatewayConfig {
            body_limit: 1024,
            ..GatewayConfig::default()
        };
        let app = closed_router(config)?;
        let big = format!(
            r#"{{"username":"admin","password":"{}"}}"#,
            "x".repeat(2048)
        );
        let r = send(
            app.clone(),
            request("POST", "/api/auth", &[JSON], big.clone())?,
        )
        .await?;
        r.err(StatusCode::PAYLOAD_TOO_LARGE, "Invalid request payload")?;
        // Also without a Content-Length (a streamed body).
        let chunks = futures::stream::iter(
            big.into_bytes()
                .chunks(256)
                .map(|c| Ok::<_, std::io::Error>(c.to_vec()))
                .collect::<Vec<_>>(),
        );
        let stream = Body::from_stream(chunks);
        let r = send(app, request("PUT", "/api/users/2", &[JSON, JWT], stream)?).await?;
        r.err(StatusCode::PAYLOAD_TOO_LARGE, "Invalid request payload")?;
        Ok(())
    }

    #[tokio::test]
    async fn non_numeric_ids_are_400() -> Result<()> {
        let app = closed_router(GatewayConfig::default())?;
        for (method, uri, message) in [
            (
                "GET",
                "/api/users/abc",
                "Invalid user identifier route variable",
            ),
            (
                "DELETE",
                "/api/users/1.5",
                "Invalid user identifier route variable",
            ),
            (
                "GET",
                "/api/users/me/tokens",
                "Invalid user identifier route variable",
            ),
            (
                "GET",
                "/api/users/admin",
                "Invalid user identifier route variable",
            ),
            (
                "DELETE",
                "/api/users/2/tokens/x",
                "Invalid api-key identifier route variable",
            ),
            (
                "DELETE",
                "/api/users/me",
                "Invalid user identifier route variable",
            ),
        ] {
            let r = send(app.clone(), request(method, uri, &[JWT], Body::empty())?).await?;
            r.err(StatusCode::BAD_REQUEST, message)
                .with_context(|| format!("{method} {uri}"))?;
        }
        Ok(())
    }

    #[tokio::test]
    async fn credentials_are_checked_before_any_call() -> Result<()> {
        let app = closed_router(GatewayConfig::default())?;
        let r = send(
            app.clone(),
            request("GET", "/api/users", &[], Body::empty())?,
        )
        .await?;
        r.err(
            StatusCode::UNAUTHORIZED,
            "A valid authorization token is missing",
        )?;
        let r = send(
            app.clone(),
            request(
                "GET",
                "/api/users",
                &[("x-api-key", "k"), JWT],
                Body::empty(),
            )?,
        )
        .await?;
        r.err(
            StatusCode::FORBIDDEN,
            "api key and auth header are not allowed at the same time",
        )?;
        let r = send(
            app,
            request(
                "POST",
                "/api/users/1/tokens",
                &[("x-api-key", "k"), JSON],
                r#"{"description":"d","password":"p"}"#,
            )?,
        )
        .await?;
        r.err(StatusCode::UNAUTHORIZED, "Auth not supported")?;
        Ok(())
    }

    #[tokio::test]
    async fn unknown_paths_and_methods() -> Result<()> {
        let app = closed_router(GatewayConfig::default())?;
        let r = send(
            app.clone(),
            request("GET", "/api/nothing", &[], Body::empty())?,
        )
        .await?;
        ensure!(
            r.status == StatusCode::NOT_FOUND && r.json()?["message"] == json!("Not Found"),
            "{r:?}"
        );
        let r = send(
            app,
            request("PATCH", "/api/users/1", &[JWT], Body::empty())?,
        )
        .await?;
        r.err(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed")?;
        Ok(())
    }

    #[tokio::test]
    async fn upstream_down_is_503_in_portainer_envelope() -> Result<()> {
        let app = closed_router(GatewayConfig::default())?;
        for (method, uri, headers, body) in [
            ("GET", "/api/users/admin/check", vec![], ""),
            ("GET", "/api/users/me", vec![JWT], ""),
            (
                "POST",
                "/api/auth",
                vec![JSON],
                r#"{"username":"a","password":"b"}"#,
            ),
            ("GET", "/api/users", vec![("x-api-key", "k")], ""),
        ] {
            let r = send(app.clone(), request(method, uri, &headers, body)?).await?;
            r.err(StatusCode::SERVICE_UNAVAILABLE, "Service unavailable")
                .with_context(|| format!("{method} {uri}"))?;
        }
        Ok(())
    }

    #[tokio::test]
    async fn a_silent_upstream_hits_the_deadline() -> Result<()> {
        // A listener that accepts and never answers.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let hold = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((s, _)) = listener.accept().await {
                held.push(s);
            }
        });
        let channel = Endpoint::from_shared(format!("http://{addr}"))?.connect_lazy();
        let config = GatewayConfig {
            upstream_deadline: Duration::from_millis(300),
            ..GatewayConfig::default()
        };
        let started = std::time::Instant::now();
        let r = send(
            router(channel, config),
            request("GET", "/api/users/admin/check", &[], Body::empty())?,
        )
        .await?;
        hold.abort();
        r.err(StatusCode::GATEWAY_TIMEOUT, "Gateway timeout")?;
        ensure!(
            started.elapsed() < Duration::from_secs(5),
            "took {:?}",
            started.elapsed()
        );
        Ok(())
    }

    #[test]
    fn config_defaults() {
        let c = GatewayConfig::default();
        assert_eq!(c.body_limit, 64 * 1024);
        assert_eq!(c.upstream_deadline, Duration::from_secs(10));
    }
}
