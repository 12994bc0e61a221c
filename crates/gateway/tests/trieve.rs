//! The Trieve dialect over real HTTP, against a real identity server on a fresh database (the
//! testkit's server runs the gateway in-process; `app.http_addr` is the gateway).
//!
//! Every route is checked for its success shape, each documented error status and the
//! `{"message"}` envelope; effects are checked over gRPC (roles) or by using the credential (keys).
//! The `offline` module needs no server: it drives the router with `oneshot`.

use anyhow::{Context as _, Result, ensure};
use identity_api::pb;
use identity_testkit::{Backend, TestApp, spawn_app, with_auth};
use reqwest::{Method, StatusCode, header};
use serde_json::{Value, json};

#[macro_use]
mod common;

use common::{Http, Resp};

const PASSWORD: &str = "a-long-password-1";
const NIL: &str = "00000000-0000-0000-0000-000000000000";
/// A well-formed UUID that names nothing.
const UNKNOWN: &str = "0f0e0d0c-0b0a-4908-8706-050403020100";
const HIGHER_ROLE: &str = "Can not grant a user a higher role than that of the requesting user's";
const ADMIN_NEEDED: &str = "You must have an admin or owner role to update other users";
const NOT_IN_ORG: &str = "You are not a member of this organization";
const TARGET_NOT_IN_ORG: &str = "The user who you would like to update the role of must be added to the specified org first before their role can be updated";
const BAD_ORG_HEADER: &str = "Could not convert Organization to UUID";

/// How the credential is sent.
#[derive(Debug, Clone, Copy)]
enum Cred<'a> {
    None,
    /// `Authorization: <credential>` (what trieve-py-client sends).
    Raw(&'a str),
    /// `Authorization: Bearer <credential>`.
    Bearer(&'a str),
    /// `x-api-key: <credential>`.
    XApiKey(&'a str),
}

impl Resp {
    /// A Trieve error: `status`, JSON, exactly `{"message": message}`.
    fn err(&self, status: StatusCode, message: &str) -> Result<()> {
        let body = self.err_any(status)?;
        ensure!(
            body["message"] == json!(message),
            "message of {body}, expected {message:?}"
        );
        Ok(())
    }

    /// A Trieve error with any message; returns it.
    fn err_any(&self, status: StatusCode) -> Result<Value> {
        self.status_is(status)?;
        let body = self.error_json()?;
        let obj = body.as_object().context("error body is not an object")?;
        ensure!(
            obj.len() == 1 && obj.get("message").is_some_and(Value::is_string),
            "not a {{\"message\"}} envelope: {body}"
        );
        ensure!(
            !obj["message"].as_str().unwrap_or("").is_empty(),
            "empty message"
        );
        Ok(body)
    }
}

fn is_uuid(v: &Value) -> bool {
    v.as_str().is_some_and(|s| {
        s.len() == 36
            && s.char_indices().all(|(i, c)| {
                if matches!(i, 8 | 13 | 18 | 23) {
                    c == '-'
                } else {
                    c.is_ascii_digit() || ('a'..='f').contains(&c)
                }
            })
    })
}

/// Trieve's naive timestamp: `YYYY-MM-DDTHH:MM:SS.ffffff`, no offset.
fn is_naive_time(v: &Value) -> bool {
    v.as_str().is_some_and(|s| {
        s.len() == 26
            && s.char_indices().all(|(i, c)| match i {
                4 | 7 => c == '-',
                10 => c == 'T',
                13 | 16 => c == ':',
                19 => c == '.',
                _ => c.is_ascii_digit(),
            })
    })
}

fn keys_of(v: &Value) -> Vec<&str> {
    let mut k: Vec<&str> = v
        .as_object()
        .map(|o| o.keys().map(String::as_str).collect())
        .unwrap_or_default();
    k.sort_unstable();
    k
}

/// An `Organization`.
fn check_org(v: &Value, id: &str, name: &str) -> Result<()> {
    ensure!(
        keys_of(v)
            == [
                "created_at",
                "deleted",
                "id",
                "name",
                "registerable",
                "updated_at"
            ],
        "organization keys {v}"
    );
    ensure!(v["id"] == json!(id) && v["name"] == json!(name), "{v}");
    ensure!(
        v["deleted"] == json!(0) && v["registerable"] == json!(true),
        "{v}"
    );
    ensure!(
        is_naive_time(&v["created_at"]) && is_naive_time(&v["updated_at"]),
        "{v}"
    );
    Ok(())
}

/// A `UserOrganization`.
fn check_user_org(v: &Value, user: &str, org: &str, role: i64) -> Result<()> {
    ensure!(
        keys_of(v)
            == [
                "created_at",
                "id",
                "organization_id",
                "role",
                "updated_at",
                "user_id"
            ],
        "user_org keys {v}"
    );
    ensure!(is_uuid(&v["id"]), "{v}");
    ensure!(
        v["user_id"] == json!(user)
            && v["organization_id"] == json!(org)
            && v["role"] == json!(role),
        "expected {user} in {org} as {role}: {v}"
    );
    ensure!(
        is_naive_time(&v["created_at"]) && is_naive_time(&v["updated_at"]),
        "{v}"
    );
    Ok(())
}

/// An `ApiKeyRespBody` (the superset item).
fn check_key(v: &Value, user: &str, org: &str, name: &str, role: i64) -> Result<()> {
    ensure!(
        keys_of(v)
            == [
                "created_at",
                "dataset_ids",
                "id",
                "name",
                "organization_id",
                "organization_ids",
                "role",
                "updated_at",
                "user_id"
            ],
        "key keys {v}"
    );
    ensure!(is_uuid(&v["id"]), "{v}");
    ensure!(
        v["user_id"] == json!(user)
            && v["organization_id"] == json!(org)
            && v["name"] == json!(name)
            && v["role"] == json!(role),
        "expected key {name:?} of {user} in {org} with role {role}: {v}"
    );
    ensure!(
        is_naive_time(&v["created_at"]) && is_naive_time(&v["updated_at"]),
        "{v}"
    );
    Ok(())
}

/// A user of the tests: numeric id, UUID and session token.
#[derive(Debug, Clone)]
struct Who {
    id: i64,
    uid: String,
    jwt: String,
}

/// A server on a fresh database; its in-process gateway.
struct Gw {
    app: TestApp,
    http: Http,
}

impl Gw {
    async fn start(backend: Backend) -> Result<Self> {
        let app = spawn_app(backend).await;
        Ok(Self {
            http: Http::to(&app)?,
            app,
        })
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        cred: Cred<'_>,
        headers: &[(&str, &str)],
        body: Option<String>,
    ) -> Result<Resp> {
        let mut req = self.http.request(method, path);
        req = match cred {
            Cred::None => req,
            Cred::Raw(c) => req.header(header::AUTHORIZATION, c),
            Cred::Bearer(c) => req.header(header::AUTHORIZATION, format!("Bearer {c}")),
            Cred::XApiKey(c) => req.header("x-api-key", c),
        };
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(b) = body {
            req = req.body(b);
        }
        Resp::of(req).await
    }

    /// A JSON call with an optional `TR-Organization`.
    async fn call(
        &self,
        method: Method,
        path: &str,
        cred: Cred<'_>,
        org: Option<&str>,
        body: Option<Value>,
    ) -> Result<Resp> {
        let mut headers = vec![];
        if let Some(o) = org {
            headers.push(("TR-Organization", o));
        }
        if body.is_some() {
            headers.push(("content-type", "application/json"));
        }
        self.send(method, path, cred, &headers, body.map(|b| b.to_string()))
            .await
    }

    async fn me(&self, cred: Cred<'_>) -> Result<Value> {
        self.call(Method::GET, "/api/auth/me", cred, None, None)
            .await?
            .ok(StatusCode::OK)
    }

    /// `PUT /api/user` with the organization in the body (generation A).
    async fn put_role_a(
        &self,
        cred: &str,
        org: &str,
        user: Option<&str>,
        role: i64,
    ) -> Result<Resp> {
        let mut body = json!({"organization_id": org, "role": role});
        if let Some(u) = user {
            body["user_id"] = json!(u);
        }
        self.call(Method::PUT, "/api/user", Cred::Raw(cred), None, Some(body))
            .await
    }

    /// `PUT /api/user` with `TR-Organization` (generation C).
    async fn put_role_c(
        &self,
        cred: &str,
        org: &str,
        user: Option<&str>,
        role: i64,
    ) -> Result<Resp> {
        let mut body = json!({"role": role});
        if let Some(u) = user {
            body["user_id"] = json!(u);
        }
        self.call(
            Method::PUT,
            "/api/user",
            Cred::Raw(cred),
            Some(org),
            Some(body),
        )
        .await
    }

    /// `POST /api/user/api_key` → the plaintext key.
    async fn user_key(&self, cred: &str, body: Value) -> Result<String> {
        let v = self
            .call(
                Method::POST,
                "/api/user/api_key",
                Cred::Raw(cred),
                None,
                Some(body),
            )
            .await?
            .ok(StatusCode::OK)?;
        ensure!(keys_of(&v) == ["api_key"], "{v}");
        v["api_key"]
            .as_str()
            .map(str::to_owned)
            .context("no api_key")
    }

    /// `POST /api/organization/api_key` → the plaintext key.
    async fn org_key(&self, cred: &str, org: &str, name: &str, role: i64) -> Result<String> {
        let v = self
            .call(
                Method::POST,
                "/api/organization/api_key",
                Cred::Raw(cred),
                Some(org),
                Some(json!({"name": name, "role": role})),
            )
            .await?
            .ok(StatusCode::OK)?;
        v["api_key"]
            .as_str()
            .map(str::to_owned)
            .context("no api_key")
    }

    async fn user_keys(&self, cred: &str) -> Result<Vec<Value>> {
        let v = self
            .call(
                Method::GET,
                "/api/user/api_key",
                Cred::Raw(cred),
                None,
                None,
            )
            .await?
            .ok(StatusCode::OK)?;
        v.as_array().cloned().context("not a list")
    }

    /// `POST /api/organization` → the organization id.
    async fn create_org(&self, cred: &str, name: &str) -> Result<String> {
        let v = self
            .call(
                Method::POST,
                "/api/organization",
                Cred::Raw(cred),
                None,
                Some(json!({"name": name})),
            )
            .await?
            .ok(StatusCode::OK)?;
        let id = v["id"].as_str().context("no id")?.to_owned();
        check_org(&v, &id, name)?;
        Ok(id)
    }

    /// The administrator (owner of the default organization) and the default organization id.
    async fn admin(&self) -> Result<(Who, String)> {
        let jwt = self.app.init_admin().await;
        let me = self.me(Cred::Raw(&jwt)).await?;
        let org = me["orgs"][0]["id"].as_str().context("no org")?.to_owned();
        let user = self.grpc_me(&jwt).await?;
        Ok((
            Who {
                id: user.id,
                uid: user.uid,
                jwt,
            },
            org,
        ))
    }

    async fn grpc_me(&self, cred: &str) -> Result<pb::User> {
        self.app
            .auth()
            .who_am_i(with_auth(pb::WhoAmIRequest {}, cred))
            .await?
            .into_inner()
            .principal
            .and_then(|p| p.user)
            .context("no user")
    }

    /// A standard user (member of the default organization), logged in.
    async fn user(&self, admin: &Who, name: &str) -> Result<Who> {
        let u = self.app.create_user(&admin.jwt, name, PASSWORD).await;
        let jwt = self.app.login(name, PASSWORD).await;
        Ok(Who {
            id: u.id,
            uid: u.uid,
            jwt,
        })
    }

    /// The role of `user` in `org`, over gRPC (as the administrator).
    async fn role_of(&self, admin: &Who, org: &str, user: i64) -> Result<i32> {
        let m = self
            .app
            .orgs()
            .get_member(with_auth(
                pb::GetMemberRequest {
                    organization_id: org.to_owned(),
                    user_id: user,
                },
                &admin.jwt,
            ))
            .await?
            .into_inner()
            .member
            .context("no member")?;
        Ok(m.role)
    }
}

const MEMBER: i32 = pb::OrganizationRole::Member as i32;
const ADMIN: i32 = pb::OrganizationRole::Admin as i32;
const OWNER: i32 = pb::OrganizationRole::Owner as i32;

// === Tests, each run on Postgres and SQLite (see the macro at the end) ===

async fn me(backend: Backend) -> Result<()> {
    let gw = Gw::start(backend).await?;
    let (admin, org) = gw.admin().await?;
    let bob = gw.user(&admin, "bob").await?;

    // Every header form; a session token as well as a key.
    let v = gw.me(Cred::Raw(&admin.jwt)).await?;
    ensure!(
        keys_of(&v) == ["created_at", "email", "id", "name", "orgs", "user_orgs"],
        "{v}"
    );
    ensure!(
        v["id"] == json!(admin.uid)
            && v["email"] == json!("admin@example.com")
            && v["name"] == json!("Administrator"),
        "{v}"
    );
    ensure!(is_naive_time(&v["created_at"]), "{v}");
    check_org(&v["orgs"][0], &org, "Default")?;
    check_user_org(&v["user_orgs"][0], &admin.uid, &org, 2)?;
    ensure!(gw.me(Cred::Bearer(&admin.jwt)).await? == v, "Bearer form");
    ensure!(
        gw.me(Cred::XApiKey(&admin.jwt)).await? == v,
        "x-api-key form"
    );

    let b = gw.me(Cred::Raw(&bob.jwt)).await?;
    ensure!(
        b["id"] == json!(bob.uid)
            && b["name"] == json!("bob")
            && b["email"] == json!("bob@example.com"),
        "{b}"
    );
    check_user_org(&b["user_orgs"][0], &bob.uid, &org, 0)?;
    // The membership id is stable and differs per user.
    ensure!(
        gw.me(Cred::Raw(&bob.jwt)).await?["user_orgs"][0]["id"] == b["user_orgs"][0]["id"]
            && b["user_orgs"][0]["id"] != v["user_orgs"][0]["id"],
        "membership ids"
    );

    // A user without e-mail shows "".
    gw.app
        .create_user_with(
            &admin.jwt,
            pb::CreateUserRequest {
                username: "noemail".into(),
                password: Some(PASSWORD.into()),
                display_name: "No Mail".into(),
                ..Default::default()
            },
        )
        .await;
    let jwt = gw.app.login("noemail", PASSWORD).await;
    let n = gw.me(Cred::Raw(&jwt)).await?;
    ensure!(
        n["email"] == json!("") && n["name"] == json!("No Mail"),
        "{n}"
    );

    // A read key of the owner uses role 0.
    let read = gw
        .user_key(&admin.jwt, json!({"name": "r", "role": 0}))
        .await?;
    let r = gw.me(Cred::Raw(&read)).await?;
    ensure!(r["id"] == json!(admin.uid), "{r}");
    check_user_org(&r["user_orgs"][0], &admin.uid, &org, 0)?;

    // Errors.
    gw.call(Method::GET, "/api/auth/me", Cred::None, None, None)
        .await?
        .err(StatusCode::UNAUTHORIZED, "Unauthorized")?;
    gw.call(
        Method::GET,
        "/api/auth/me",
        Cred::Raw("idk_nope"),
        None,
        None,
    )
    .await?
    .err(StatusCode::UNAUTHORIZED, "Unauthorized")?;
    gw.call(
        Method::GET,
        "/api/auth/me",
        Cred::Raw(&bob.jwt),
        Some("x"),
        None,
    )
    .await?
    .err(StatusCode::BAD_REQUEST, BAD_ORG_HEADER)?;
    gw.call(
        Method::GET,
        "/api/auth/me",
        Cred::Raw(&bob.jwt),
        Some(UNKNOWN),
        None,
    )
    .await?
    .err(StatusCode::FORBIDDEN, "Forbidden")?;
    gw.call(
        Method::GET,
        "/api/auth/me",
        Cred::Raw(&bob.jwt),
        Some(&org),
        None,
    )
    .await?
    .ok(StatusCode::OK)?;
    gw.call(
        Method::POST,
        "/api/auth/me",
        Cred::Raw(&bob.jwt),
        None,
        None,
    )
    .await?
    .err(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed")?;
    Ok(())
}

async fn create_organization(backend: Backend) -> Result<()> {
    let gw = Gw::start(backend).await?;
    let (admin, _) = gw.admin().await?;
    let bob = gw.user(&admin, "bob").await?;

    let acme = gw.create_org(&bob.jwt, "Acme").await?;
    ensure!(is_uuid(&json!(acme)), "{acme}");
    let me = gw.me(Cred::Raw(&bob.jwt)).await?;
    let orgs = me["user_orgs"].as_array().context("user_orgs")?;
    let mine = orgs
        .iter()
        .find(|o| o["organization_id"] == json!(acme))
        .context("new organization not in /me")?;
    check_user_org(mine, &bob.uid, &acme, 2)?;
    ensure!(
        gw.role_of(&admin, &acme, bob.id).await? == OWNER,
        "owner over gRPC"
    );

    // Errors.
    let r = gw
        .call(
            Method::POST,
            "/api/organization",
            Cred::Raw(&bob.jwt),
            None,
            Some(json!({"name": "Acme"})),
        )
        .await?;
    r.err_any(StatusCode::BAD_REQUEST)?;
    for body in ["{", "[1,2]", r#"{"name": 5}"#, "{}", ""] {
        let r = gw
            .send(
                Method::POST,
                "/api/organization",
                Cred::Raw(&bob.jwt),
                &[("content-type", "application/json")],
                Some(body.to_owned()),
            )
            .await?;
        let m = r.err_any(StatusCode::BAD_REQUEST)?;
        ensure!(
            m["message"]
                .as_str()
                .is_some_and(|s| s.starts_with("Json Deserialization Error")),
            "{body:?}: {m}"
        );
    }
    let r = gw
        .send(
            Method::POST,
            "/api/organization",
            Cred::Raw(&bob.jwt),
            &[("content-type", "text/plain")],
            Some(r#"{"name":"Plain"}"#.to_owned()),
        )
        .await?;
    r.err_any(StatusCode::BAD_REQUEST)?;
    gw.call(
        Method::POST,
        "/api/organization",
        Cred::Raw(&bob.jwt),
        None,
        Some(json!({"name": ""})),
    )
    .await?
    .err_any(StatusCode::BAD_REQUEST)?;
    let big = json!({"name": "x".repeat(70 * 1024)});
    gw.call(
        Method::POST,
        "/api/organization",
        Cred::Raw(&bob.jwt),
        None,
        Some(big),
    )
    .await?
    .err_any(StatusCode::PAYLOAD_TOO_LARGE)?;
    gw.call(
        Method::POST,
        "/api/organization",
        Cred::None,
        None,
        Some(json!({"name": "Anon"})),
    )
    .await?
    .err(StatusCode::UNAUTHORIZED, "Unauthorized")?;
    let read = gw
        .user_key(&bob.jwt, json!({"name": "r", "role": 0}))
        .await?;
    gw.call(
        Method::POST,
        "/api/organization",
        Cred::Raw(&read),
        None,
        Some(json!({"name": "ReadOnly"})),
    )
    .await?
    .err(StatusCode::FORBIDDEN, "Forbidden")?;
    Ok(())
}

async fn update_role_generation_a(backend: Backend) -> Result<()> {
    let gw = Gw::start(backend).await?;
    let (admin, org) = gw.admin().await?;
    let bob = gw.user(&admin, "bob").await?;
    let carol = gw.user(&admin, "carol").await?;
    let dave = gw.user(&admin, "dave").await?;

    // The owner promotes bob to admin; visible over gRPC.
    gw.put_role_a(&admin.jwt, &org, Some(&bob.uid), 1)
        .await?
        .ok(StatusCode::NO_CONTENT)?;
    ensure!(
        gw.role_of(&admin, &org, bob.id).await? == ADMIN,
        "bob admin"
    );
    // UUIDs are accepted in any case.
    gw.put_role_a(
        &bob.jwt,
        &org.to_uppercase(),
        Some(&carol.uid.to_uppercase()),
        1,
    )
    .await?
    .ok(StatusCode::NO_CONTENT)?;
    ensure!(
        gw.role_of(&admin, &org, carol.id).await? == ADMIN,
        "carol admin"
    );

    // Trieve's rules, in its order, all 400.
    gw.put_role_a(&bob.jwt, &org, Some(&dave.uid), 2)
        .await?
        .err(StatusCode::BAD_REQUEST, HIGHER_ROLE)?;
    gw.put_role_a(&dave.jwt, &org, Some(&carol.uid), 0)
        .await?
        .err(StatusCode::BAD_REQUEST, ADMIN_NEEDED)?;
    gw.put_role_a(&dave.jwt, &org, None, 1)
        .await?
        .err(StatusCode::BAD_REQUEST, HIGHER_ROLE)?;
    let other_org = gw.create_org(&admin.jwt, "Other").await?;
    let erin = gw
        .app
        .create_user_with(
            &admin.jwt,
            pb::CreateUserRequest {
                username: "erin".into(),
                password: Some(PASSWORD.into()),
                organization_id: Some(other_org.clone()),
                ..Default::default()
            },
        )
        .await;
    gw.put_role_a(&admin.jwt, &org, Some(&erin.uid), 0)
        .await?
        .err(StatusCode::BAD_REQUEST, TARGET_NOT_IN_ORG)?;
    gw.put_role_a(&bob.jwt, &org, Some(UNKNOWN), 0)
        .await?
        .err(StatusCode::BAD_REQUEST, TARGET_NOT_IN_ORG)?;
    // Not a member of the body's organization: 400 (generation A's handler).
    gw.put_role_a(&bob.jwt, &other_org, None, 0)
        .await?
        .err(StatusCode::BAD_REQUEST, NOT_IN_ORG)?;
    gw.put_role_a(&bob.jwt, UNKNOWN, None, 0)
        .await?
        .err(StatusCode::BAD_REQUEST, NOT_IN_ORG)?;
    // An admin cannot change an owner, and the last owner cannot step down.
    gw.put_role_a(&bob.jwt, &org, Some(&admin.uid), 0)
        .await?
        .err_any(StatusCode::BAD_REQUEST)?;
    gw.put_role_a(&admin.jwt, &org, None, 0)
        .await?
        .err_any(StatusCode::BAD_REQUEST)?;
    ensure!(
        gw.role_of(&admin, &org, admin.id).await? == OWNER,
        "still owner"
    );

    // Self: without user_id, or with one's own id.
    gw.put_role_a(&carol.jwt, &org, None, 0)
        .await?
        .ok(StatusCode::NO_CONTENT)?;
    ensure!(
        gw.role_of(&admin, &org, carol.id).await? == MEMBER,
        "carol member"
    );
    gw.put_role_a(&bob.jwt, &org, Some(&bob.uid), 0)
        .await?
        .ok(StatusCode::NO_CONTENT)?;
    ensure!(
        gw.role_of(&admin, &org, bob.id).await? == MEMBER,
        "bob member"
    );

    // Bad input.
    for body in [
        json!({"organization_id": "nope", "role": 0}),
        json!({"organization_id": org, "role": 0, "user_id": "nope"}),
        json!({"organization_id": org, "role": "0"}),
        json!({"organization_id": org}),
        json!({"organization_id": org, "role": 3}),
        json!({"organization_id": org, "role": -1}),
        json!({"role": 0}),
    ] {
        gw.call(
            Method::PUT,
            "/api/user",
            Cred::Raw(&admin.jwt),
            None,
            Some(body.clone()),
        )
        .await?
        .err_any(StatusCode::BAD_REQUEST)
        .with_context(|| body.to_string())?;
    }
    gw.send(
        Method::PUT,
        "/api/user",
        Cred::Raw(&admin.jwt),
        &[("content-type", "application/json")],
        Some("{\"role\":".to_owned()),
    )
    .await?
    .err_any(StatusCode::BAD_REQUEST)?;
    gw.call(
        Method::PUT,
        "/api/user",
        Cred::None,
        None,
        Some(json!({"organization_id": org, "role": 0})),
    )
    .await?
    .err(StatusCode::UNAUTHORIZED, "Unauthorized")?;
    gw.call(Method::GET, "/api/user", Cred::Raw(&admin.jwt), None, None)
        .await?
        .err(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed")?;
    Ok(())
}

async fn update_role_generation_c(backend: Backend) -> Result<()> {
    let gw = Gw::start(backend).await?;
    let (admin, org) = gw.admin().await?;
    let bob = gw.user(&admin, "bob").await?;
    let other = gw.create_org(&admin.jwt, "Other").await?;

    gw.put_role_c(&admin.jwt, &org, Some(&bob.uid), 2)
        .await?
        .ok(StatusCode::NO_CONTENT)?;
    ensure!(
        gw.role_of(&admin, &org, bob.id).await? == OWNER,
        "bob owner"
    );
    // The header wins over a body organization.
    gw.call(
        Method::PUT,
        "/api/user",
        Cred::Raw(&admin.jwt),
        Some(&org),
        Some(json!({"organization_id": other, "role": 1, "user_id": bob.uid})),
    )
    .await?
    .ok(StatusCode::NO_CONTENT)?;
    ensure!(
        gw.role_of(&admin, &org, bob.id).await? == ADMIN,
        "bob admin in default"
    );
    // Not a member of the header's organization: 403 (generation C's middleware).
    gw.put_role_c(&bob.jwt, &other, None, 0)
        .await?
        .err(StatusCode::FORBIDDEN, "Forbidden")?;
    gw.put_role_c(&bob.jwt, UNKNOWN, None, 0)
        .await?
        .err(StatusCode::FORBIDDEN, "Forbidden")?;
    gw.put_role_c(&bob.jwt, "not-a-uuid", None, 0)
        .await?
        .err(StatusCode::BAD_REQUEST, BAD_ORG_HEADER)?;
    gw.call(
        Method::PUT,
        "/api/user",
        Cred::Raw(&bob.jwt),
        None,
        Some(json!({"role": 0})),
    )
    .await?
    .err_any(StatusCode::BAD_REQUEST)?;

    // A read key cannot change any role.
    let read = gw
        .user_key(&admin.jwt, json!({"name": "read", "role": 0}))
        .await?;
    gw.put_role_c(&read, &org, Some(&bob.uid), 0)
        .await?
        .err(StatusCode::BAD_REQUEST, ADMIN_NEEDED)?;
    gw.put_role_c(&read, &org, None, 2)
        .await?
        .err(StatusCode::BAD_REQUEST, HIGHER_ROLE)?;
    gw.put_role_c(&read, &org, None, 0).await?.err(
        StatusCode::BAD_REQUEST,
        "A read-only API key can not update roles",
    )?;
    ensure!(
        gw.role_of(&admin, &org, bob.id).await? == ADMIN,
        "unchanged"
    );
    ensure!(
        gw.role_of(&admin, &org, admin.id).await? == OWNER,
        "unchanged"
    );

    // A key restricted to one organization cannot act in another.
    let carol = gw.user(&admin, "carol").await?;
    gw.put_role_c(&admin.jwt, &other, None, 2)
        .await?
        .ok(StatusCode::NO_CONTENT)?; // the owner re-sets its own role: allowed, no change
    let restricted = gw
        .user_key(
            &admin.jwt,
            json!({"name": "only-other", "role": 2, "organization_ids": [other]}),
        )
        .await?;
    gw.put_role_c(&restricted, &org, Some(&carol.uid), 1)
        .await?
        .err(StatusCode::FORBIDDEN, "Forbidden")?;
    gw.put_role_a(&restricted, &org, Some(&carol.uid), 1)
        .await?
        .err(StatusCode::BAD_REQUEST, NOT_IN_ORG)?;
    ensure!(
        gw.role_of(&admin, &org, carol.id).await? == MEMBER,
        "carol unchanged"
    );
    // …but can in its own organization.
    gw.put_role_c(&restricted, &other, None, 2)
        .await?
        .ok(StatusCode::NO_CONTENT)?;
    // A generation-C key bound to one organization cannot act in another.
    let bound = gw.org_key(&admin.jwt, &other, "bound", 2).await?;
    gw.put_role_c(&bound, &org, Some(&carol.uid), 1)
        .await?
        .err(StatusCode::FORBIDDEN, "Forbidden")?;
    ensure!(
        gw.role_of(&admin, &org, carol.id).await? == MEMBER,
        "carol unchanged"
    );
    // An admin-role key (1) acts up to admin.
    let admin_key = gw
        .user_key(&admin.jwt, json!({"name": "rw", "role": 1}))
        .await?;
    gw.put_role_c(&admin_key, &org, Some(&carol.uid), 1)
        .await?
        .ok(StatusCode::NO_CONTENT)?;
    ensure!(
        gw.role_of(&admin, &org, carol.id).await? == ADMIN,
        "carol admin"
    );
    gw.put_role_c(&admin_key, &org, Some(&carol.uid), 2)
        .await?
        .err(StatusCode::BAD_REQUEST, HIGHER_ROLE)?;
    Ok(())
}

async fn user_keys(backend: Backend) -> Result<()> {
    let gw = Gw::start(backend).await?;
    let (admin, org) = gw.admin().await?;
    let bob = gw.user(&admin, "bob").await?;

    // Generation A: name + role (+ optional lists); the key authenticates as bob.
    let k0 = gw
        .user_key(&bob.jwt, json!({"name": "ci", "role": 0}))
        .await?;
    ensure!(
        gw.me(Cred::Raw(&k0)).await?["id"] == json!(bob.uid),
        "k0 is bob"
    );
    ensure!(
        gw.me(Cred::Bearer(&k0)).await?["id"] == json!(bob.uid),
        "Bearer k0"
    );
    let k1 = gw
        .user_key(
            &bob.jwt,
            json!({
                "name": "rw", "role": 1,
                "dataset_ids": [UNKNOWN], "organization_ids": [org],
                "scopes": ["GET /api/dataset"]
            }),
        )
        .await?;
    ensure!(
        gw.me(Cred::XApiKey(&k1)).await?["id"] == json!(bob.uid),
        "k1"
    );
    // Generation B's payload: expires_at and default_params.
    let k2 = gw
        .user_key(
            &bob.jwt,
            json!({"name": "b", "role": 0, "expires_at": "2099-01-01T00:00:00", "default_params": {}}),
        )
        .await?;
    ensure!(gw.me(Cred::Raw(&k2)).await?["id"] == json!(bob.uid), "k2");

    // The list: the superset item, oldest first.
    let list = gw.user_keys(&bob.jwt).await?;
    ensure!(list.len() == 3, "{list:?}");
    check_key(&list[0], &bob.uid, NIL, "ci", 0)?;
    check_key(&list[1], &bob.uid, NIL, "rw", 1)?;
    check_key(&list[2], &bob.uid, NIL, "b", 0)?;
    ensure!(
        list[0]["dataset_ids"].is_null() && list[0]["organization_ids"].is_null(),
        "{}",
        list[0]
    );
    ensure!(
        list[1]["dataset_ids"] == json!([UNKNOWN]) && list[1]["organization_ids"] == json!([org]),
        "{}",
        list[1]
    );
    // A key lists its owner's keys too.
    ensure!(gw.user_keys(&k0).await?.len() == 3, "listed with a key");
    // Other users see only their own.
    ensure!(gw.user_keys(&admin.jwt).await?.is_empty(), "admin has none");

    // Delete: 204; the key stops working; deleting again or an unknown id is still 204.
    let id0 = list[0]["id"].as_str().context("id")?.to_owned();
    let del = |cred: String, id: String| {
        let gw = &gw;
        async move {
            gw.call(
                Method::DELETE,
                &format!("/api/user/api_key/{id}"),
                Cred::Raw(&cred),
                None,
                None,
            )
            .await
        }
    };
    del(bob.jwt.clone(), id0.clone())
        .await?
        .ok(StatusCode::NO_CONTENT)?;
    gw.call(Method::GET, "/api/auth/me", Cred::Raw(&k0), None, None)
        .await?
        .err(StatusCode::UNAUTHORIZED, "Unauthorized")?;
    del(bob.jwt.clone(), id0)
        .await?
        .ok(StatusCode::NO_CONTENT)?;
    del(bob.jwt.clone(), UNKNOWN.to_owned())
        .await?
        .ok(StatusCode::NO_CONTENT)?;
    ensure!(gw.user_keys(&bob.jwt).await?.len() == 2, "one revoked");
    // Never another user's key, not even for the administrator.
    let id1 = list[1]["id"].as_str().context("id")?.to_owned();
    del(admin.jwt.clone(), id1.clone())
        .await?
        .ok(StatusCode::NO_CONTENT)?;
    ensure!(
        gw.me(Cred::Raw(&k1)).await?["id"] == json!(bob.uid),
        "k1 alive"
    );
    // A read key cannot delete keys; a key can delete itself (uppercase id accepted).
    del(k2.clone(), id1.clone())
        .await?
        .err(StatusCode::FORBIDDEN, "Forbidden")?;
    del(k1.clone(), id1.to_uppercase())
        .await?
        .ok(StatusCode::NO_CONTENT)?;
    gw.call(Method::GET, "/api/auth/me", Cred::Raw(&k1), None, None)
        .await?
        .err(StatusCode::UNAUTHORIZED, "Unauthorized")?;

    // Errors.
    del(bob.jwt.clone(), "not-a-uuid".to_owned())
        .await?
        .err_any(StatusCode::BAD_REQUEST)?;
    gw.call(
        Method::DELETE,
        &format!("/api/user/api_key/{UNKNOWN}"),
        Cred::None,
        None,
        None,
    )
    .await?
    .err(StatusCode::UNAUTHORIZED, "Unauthorized")?;
    for body in [
        json!({"role": 0}),
        json!({"name": "x"}),
        json!({"name": "x", "role": 7}),
        json!({"name": "x", "role": 0, "dataset_ids": ["nope"]}),
        json!({"name": "x", "role": 0, "organization_ids": "nope"}),
        json!({"name": "x", "role": 0, "expires_at": "someday"}),
        json!({"name": "x", "role": 0, "expires_at": "2001-01-01T00:00:00"}),
        json!({"name": "", "role": 0}),
    ] {
        gw.call(
            Method::POST,
            "/api/user/api_key",
            Cred::Raw(&bob.jwt),
            None,
            Some(body.clone()),
        )
        .await?
        .err_any(StatusCode::BAD_REQUEST)
        .with_context(|| body.to_string())?;
    }
    gw.send(
        Method::POST,
        "/api/user/api_key",
        Cred::Raw(&bob.jwt),
        &[("content-type", "application/json")],
        Some("not json".to_owned()),
    )
    .await?
    .err_any(StatusCode::BAD_REQUEST)?;
    gw.call(
        Method::POST,
        "/api/user/api_key",
        Cred::None,
        None,
        Some(json!({"name": "x", "role": 0})),
    )
    .await?
    .err(StatusCode::UNAUTHORIZED, "Unauthorized")?;
    gw.call(Method::GET, "/api/user/api_key", Cred::None, None, None)
        .await?
        .err(StatusCode::UNAUTHORIZED, "Unauthorized")?;
    gw.call(
        Method::GET,
        "/api/user/api_key",
        Cred::Raw(&bob.jwt),
        Some(UNKNOWN),
        None,
    )
    .await?
    .err(StatusCode::FORBIDDEN, "Forbidden")?;
    gw.call(
        Method::PUT,
        "/api/user/api_key",
        Cred::Raw(&bob.jwt),
        None,
        Some(json!({})),
    )
    .await?
    .err(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed")?;
    Ok(())
}

async fn organization_keys(backend: Backend) -> Result<()> {
    let gw = Gw::start(backend).await?;
    let (admin, org) = gw.admin().await?;
    let bob = gw.user(&admin, "bob").await?;
    let acme = gw.create_org(&bob.jwt, "Acme").await?;

    // An owner key bound to Acme: works there, not elsewhere.
    let owner_key = gw.org_key(&bob.jwt, &acme, "acme-owner", 2).await?;
    ensure!(
        gw.me(Cred::Raw(&owner_key)).await?["id"] == json!(bob.uid),
        "authenticates"
    );
    gw.call(
        Method::GET,
        &format!("/api/organization/users/{acme}"),
        Cred::Raw(&owner_key),
        Some(&acme),
        None,
    )
    .await?
    .ok(StatusCode::OK)?;
    gw.call(
        Method::GET,
        &format!("/api/organization/users/{org}"),
        Cred::Raw(&owner_key),
        Some(&org),
        None,
    )
    .await?
    .err(StatusCode::FORBIDDEN, "Forbidden")?;
    let read_key = gw.org_key(&bob.jwt, &acme, "acme-read", 0).await?;
    let admin_key = gw.org_key(&owner_key, &acme, "acme-admin", 1).await?;

    // Listed per organization, with the binding.
    let v = gw
        .call(
            Method::GET,
            "/api/organization/api_key",
            Cred::Raw(&bob.jwt),
            Some(&acme),
            None,
        )
        .await?
        .ok(StatusCode::OK)?;
    let list = v.as_array().context("list")?;
    ensure!(list.len() == 3, "{v}");
    check_key(&list[0], &bob.uid, &acme, "acme-owner", 2)?;
    check_key(&list[1], &bob.uid, &acme, "acme-read", 0)?;
    check_key(&list[2], &bob.uid, &acme, "acme-admin", 1)?;
    let v = gw
        .call(
            Method::GET,
            "/api/organization/api_key",
            Cred::Raw(&bob.jwt),
            Some(&org),
            None,
        )
        .await?
        .ok(StatusCode::OK)?;
    ensure!(v == json!([]), "{v}");
    // The user list shows them too.
    ensure!(gw.user_keys(&bob.jwt).await?.len() == 3, "user list");

    // The role may not exceed the caller's there: a member of the default organization.
    gw.call(
        Method::POST,
        "/api/organization/api_key",
        Cred::Raw(&bob.jwt),
        Some(&org),
        Some(json!({"name": "too-high", "role": 1})),
    )
    .await?
    .err_any(StatusCode::BAD_REQUEST)?;
    gw.org_key(&bob.jwt, &org, "default-read", 0).await?;
    // A key bound to Acme cannot mint keys for another organization.
    gw.call(
        Method::POST,
        "/api/organization/api_key",
        Cred::Raw(&owner_key),
        Some(&org),
        Some(json!({"name": "escape", "role": 0})),
    )
    .await?
    .err(StatusCode::FORBIDDEN, "Forbidden")?;
    // A read key cannot create keys.
    gw.call(
        Method::POST,
        "/api/organization/api_key",
        Cred::Raw(&read_key),
        Some(&acme),
        Some(json!({"name": "r2", "role": 0})),
    )
    .await?
    .err(StatusCode::FORBIDDEN, "Forbidden")?;

    // Delete: only with the key's organization; 204 either way.
    let admin_key_id = list[2]["id"].as_str().context("id")?.to_owned();
    let path = format!("/api/organization/api_key/{admin_key_id}");
    gw.call(Method::DELETE, &path, Cred::Raw(&bob.jwt), Some(&org), None)
        .await?
        .ok(StatusCode::NO_CONTENT)?;
    ensure!(
        gw.me(Cred::Raw(&admin_key)).await?["id"] == json!(bob.uid),
        "still valid: wrong organization"
    );
    // A non-member of Acme is refused; the global administrator counts as an owner everywhere
    // (the server's rule) but still cannot touch bob's key.
    let carol = gw.user(&admin, "carol").await?;
    gw.call(
        Method::DELETE,
        &path,
        Cred::Raw(&carol.jwt),
        Some(&acme),
        None,
    )
    .await?
    .err(StatusCode::FORBIDDEN, "Forbidden")?;
    gw.call(
        Method::DELETE,
        &path,
        Cred::Raw(&admin.jwt),
        Some(&acme),
        None,
    )
    .await?
    .ok(StatusCode::NO_CONTENT)?;
    ensure!(
        gw.me(Cred::Raw(&admin_key)).await?["id"] == json!(bob.uid),
        "still valid: not the administrator's key"
    );
    gw.call(
        Method::DELETE,
        &path,
        Cred::Raw(&bob.jwt),
        Some(&acme),
        None,
    )
    .await?
    .ok(StatusCode::NO_CONTENT)?;
    gw.call(
        Method::GET,
        "/api/auth/me",
        Cred::Raw(&admin_key),
        None,
        None,
    )
    .await?
    .err(StatusCode::UNAUTHORIZED, "Unauthorized")?;
    gw.call(
        Method::DELETE,
        &path,
        Cred::Raw(&bob.jwt),
        Some(&acme),
        None,
    )
    .await?
    .ok(StatusCode::NO_CONTENT)?;

    // Errors.
    gw.call(
        Method::POST,
        "/api/organization/api_key",
        Cred::Raw(&bob.jwt),
        None,
        Some(json!({"name": "x", "role": 0})),
    )
    .await?
    .err_any(StatusCode::BAD_REQUEST)?;
    gw.call(
        Method::POST,
        "/api/organization/api_key",
        Cred::Raw(&bob.jwt),
        Some("acme"),
        Some(json!({"name": "x", "role": 0})),
    )
    .await?
    .err(StatusCode::BAD_REQUEST, BAD_ORG_HEADER)?;
    gw.call(
        Method::POST,
        "/api/organization/api_key",
        Cred::Raw(&admin.jwt.clone()),
        Some(UNKNOWN),
        Some(json!({"name": "x", "role": 0})),
    )
    .await?
    .err(StatusCode::FORBIDDEN, "Forbidden")?;
    for body in [
        json!({"name": "x", "role": 9}),
        json!({"name": "x"}),
        json!({"name": "x", "role": 0, "expires_at": "yesterday"}),
    ] {
        gw.call(
            Method::POST,
            "/api/organization/api_key",
            Cred::Raw(&bob.jwt),
            Some(&acme),
            Some(body.clone()),
        )
        .await?
        .err_any(StatusCode::BAD_REQUEST)
        .with_context(|| body.to_string())?;
    }
    gw.call(
        Method::GET,
        "/api/organization/api_key",
        Cred::Raw(&bob.jwt),
        None,
        None,
    )
    .await?
    .err_any(StatusCode::BAD_REQUEST)?;
    gw.call(
        Method::GET,
        "/api/organization/api_key",
        Cred::None,
        Some(&acme),
        None,
    )
    .await?
    .err(StatusCode::UNAUTHORIZED, "Unauthorized")?;
    gw.call(
        Method::DELETE,
        "/api/organization/api_key/123",
        Cred::Raw(&bob.jwt),
        Some(&acme),
        None,
    )
    .await?
    .err_any(StatusCode::BAD_REQUEST)?;
    gw.call(
        Method::DELETE,
        &path,
        Cred::Raw(&bob.jwt),
        Some(UNKNOWN),
        None,
    )
    .await?
    .err(StatusCode::FORBIDDEN, "Forbidden")?;
    Ok(())
}

async fn organization_users(backend: Backend) -> Result<()> {
    let gw = Gw::start(backend).await?;
    let (admin, org) = gw.admin().await?;
    let bob = gw.user(&admin, "bob").await?;
    let acme = gw.create_org(&bob.jwt, "Acme").await?;

    let path = format!("/api/organization/users/{org}");
    let v = gw
        .call(Method::GET, &path, Cred::Raw(&bob.jwt), Some(&org), None)
        .await?
        .ok(StatusCode::OK)?;
    let users = v.as_array().context("list")?;
    ensure!(users.len() == 2, "{v}");
    ensure!(
        users[0]["id"] == json!(admin.uid) && users[1]["id"] == json!(bob.uid),
        "{v}"
    );
    for (u, uid, role) in [(&users[0], &admin.uid, 2), (&users[1], &bob.uid, 0)] {
        ensure!(
            keys_of(u) == ["created_at", "email", "id", "name", "orgs", "user_orgs"],
            "{u}"
        );
        ensure!(u["orgs"].as_array().map(Vec::len) == Some(1), "{u}");
        check_org(&u["orgs"][0], &org, "Default")?;
        check_user_org(&u["user_orgs"][0], uid, &org, role)?;
    }
    // The membership id is the one /me shows.
    let me = gw.me(Cred::Raw(&bob.jwt)).await?;
    let mine = me["user_orgs"]
        .as_array()
        .and_then(|a| a.iter().find(|o| o["organization_id"] == json!(org)))
        .context("default org in /me")?;
    ensure!(
        mine["id"] == users[1]["user_orgs"][0]["id"],
        "membership ids"
    );
    // A role change is visible here.
    gw.put_role_c(&admin.jwt, &org, Some(&bob.uid), 1)
        .await?
        .ok(StatusCode::NO_CONTENT)?;
    let v = gw
        .call(Method::GET, &path, Cred::Raw(&admin.jwt), None, None)
        .await?
        .ok(StatusCode::OK)?;
    ensure!(v[1]["user_orgs"][0]["role"] == json!(1), "{v}");

    // Errors.
    gw.call(
        Method::GET,
        &format!("/api/organization/users/{acme}"),
        Cred::Raw(&gw.user(&admin, "carol").await?.jwt),
        None,
        None,
    )
    .await?
    .err(StatusCode::FORBIDDEN, "Forbidden")?;
    gw.call(Method::GET, &path, Cred::Raw(&bob.jwt), Some(&acme), None)
        .await?
        .err(StatusCode::FORBIDDEN, "Forbidden")?;
    gw.call(
        Method::GET,
        &format!("/api/organization/users/{UNKNOWN}"),
        Cred::Raw(&bob.jwt),
        None,
        None,
    )
    .await?
    .err(StatusCode::FORBIDDEN, "Forbidden")?;
    gw.call(
        Method::GET,
        &format!("/api/organization/users/{UNKNOWN}"),
        Cred::Raw(&admin.jwt),
        None,
        None,
    )
    .await?
    .err(StatusCode::FORBIDDEN, "Forbidden")?;
    gw.call(
        Method::GET,
        "/api/organization/users/default",
        Cred::Raw(&bob.jwt),
        None,
        None,
    )
    .await?
    .err_any(StatusCode::BAD_REQUEST)?;
    gw.call(Method::GET, &path, Cred::Raw(&bob.jwt), Some("x"), None)
        .await?
        .err(StatusCode::BAD_REQUEST, BAD_ORG_HEADER)?;
    gw.call(Method::GET, &path, Cred::None, None, None)
        .await?
        .err(StatusCode::UNAUTHORIZED, "Unauthorized")?;
    Ok(())
}

on_every_backend!(
    me,
    create_organization,
    update_role_generation_a,
    update_role_generation_c,
    user_keys,
    organization_keys,
    organization_users,
);

/// Router-level checks that need no server: what is refused before any call, and a missing server
/// is a 503 in Trieve's envelope.
mod offline {
    use axum::body::Body;
    use identity_gateway::GatewayConfig;
    use tower::ServiceExt as _;

    use super::*;
    use crate::common::closed_router;

    async fn send(method: &str, uri: &str, headers: &[(&str, &str)], body: &str) -> Result<Resp> {
        let mut b = http::Request::builder().method(method).uri(uri);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        let resp = closed_router(GatewayConfig::default())?
            .oneshot(b.body(Body::from(body.to_owned()))?)
            .await?;
        Resp::of_router(resp).await
    }

    const KEY: (&str, &str) = ("authorization", "idk_some_key");

    #[tokio::test]
    async fn no_credential_is_401_before_any_call() -> Result<()> {
        for (method, uri) in [
            ("PUT", "/api/user"),
            ("POST", "/api/user/api_key"),
            ("GET", "/api/user/api_key"),
            (
                "DELETE",
                "/api/user/api_key/67e55044-10b1-426f-9247-bb680e5fe0c8",
            ),
            ("GET", "/api/auth/me"),
            ("POST", "/api/organization"),
            (
                "GET",
                "/api/organization/users/67e55044-10b1-426f-9247-bb680e5fe0c8",
            ),
            ("POST", "/api/organization/api_key"),
            ("GET", "/api/organization/api_key"),
            (
                "DELETE",
                "/api/organization/api_key/67e55044-10b1-426f-9247-bb680e5fe0c8",
            ),
        ] {
            send(method, uri, &[("authorization", "Bearer ")], "{}")
                .await?
                .err(StatusCode::UNAUTHORIZED, "Unauthorized")
                .with_context(|| format!("{method} {uri}"))?;
        }
        Ok(())
    }

    #[tokio::test]
    async fn bad_organization_header_is_400_before_any_call() -> Result<()> {
        for (method, uri) in [
            ("PUT", "/api/user"),
            ("GET", "/api/auth/me"),
            ("POST", "/api/organization/api_key"),
            ("GET", "/api/organization/api_key"),
        ] {
            send(method, uri, &[KEY, ("TR-Organization", "42")], "{}")
                .await?
                .err(StatusCode::BAD_REQUEST, BAD_ORG_HEADER)
                .with_context(|| format!("{method} {uri}"))?;
        }
        send("GET", "/api/organization/api_key", &[KEY], "")
            .await?
            .err(
                StatusCode::BAD_REQUEST,
                "The TR-Organization header is required",
            )?;
        Ok(())
    }

    #[tokio::test]
    async fn upstream_down_is_503_in_trieve_envelope() -> Result<()> {
        for (method, uri, headers) in [
            ("GET", "/api/auth/me", vec![KEY]),
            ("GET", "/api/user/api_key", vec![("x-api-key", "k")]),
            ("PUT", "/api/user", vec![KEY]),
        ] {
            send(method, uri, &headers, "{}")
                .await?
                .err(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable")
                .with_context(|| format!("{method} {uri}"))?;
        }
        Ok(())
    }

    #[tokio::test]
    async fn other_methods_are_405_and_unknown_paths_404() -> Result<()> {
        for (method, uri) in [
            ("GET", "/api/user"),
            ("DELETE", "/api/user/api_key"),
            ("PUT", "/api/auth/me"),
            ("GET", "/api/organization"),
            ("POST", "/api/organization/users/x"),
            ("PUT", "/api/organization/api_key"),
            ("GET", "/api/organization/api_key/x"),
        ] {
            send(method, uri, &[KEY], "")
                .await?
                .err(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed")
                .with_context(|| format!("{method} {uri}"))?;
        }
        send("GET", "/api/user/nothing", &[KEY], "")
            .await?
            .err(StatusCode::NOT_FOUND, "Not Found")?;
        Ok(())
    }
}
