//! REST regressions of the users' security items, through the in-process gateway on both
//! backends: each dialect passes the server's decision through and maps it into its own envelope
//! (never a 500). Each test is named after the issue item it covers; the gRPC side is in
//! `tests/e2e/security_users.rs`.

use anyhow::{Context as _, Result, ensure};
use identity_api::pb;
use identity_testkit::{Backend, TestApp, email_of, spawn_app, with_auth};
use reqwest::{Method, StatusCode, header};
use serde_json::{Value, json};

#[macro_use]
mod common;

use common::{Http, Owner, Resp};

const PASSWORD: &str = "a-long-password-1234";

both!(
    member_lists_hide_other_members_emails_from_non_admins,
    standard_user_cannot_grant_itself_sso_or_portal_access,
    nul_byte_in_login_name_is_invalid_argument,
    confusable_usernames_are_refused,
);

struct Env {
    app: TestApp,
    http: Http,
}

impl Env {
    async fn start(backend: Backend) -> Result<Self> {
        let app = spawn_app(backend).await;
        Ok(Self {
            http: Http::to(&app)?,
            app,
        })
    }

    /// A request with `Authorization: <authorization>` (when given) and extra headers.
    async fn call(
        &self,
        method: Method,
        path: &str,
        authorization: Option<String>,
        headers: &[(&str, &str)],
        body: Option<Value>,
    ) -> Result<Resp> {
        let mut req = self.http.request(method, path);
        if let Some(a) = authorization {
            req = req.header(header::AUTHORIZATION, a);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        Resp::of(req).await
    }
}

/// The `{"message"}` of a Trieve/Portainer error, the `detail` of a Tyk one, or the
/// `error.message` of an OpenAI one; fails unless the status is `status`.
fn error_of(r: &Resp, status: StatusCode) -> Result<Value> {
    r.status_is(status)?;
    r.error_json()
}

/// GET /api/organization/users/{org}: any member lists the default organization, but only its
/// admins and owners (and administrators) see other members' e-mails.
async fn member_lists_hide_other_members_emails_from_non_admins(backend: Backend) -> Result<()> {
    let env = Env::start(backend).await?;
    let app = &env.app;
    let admin = app.init_admin().await;
    let org = app.default_organization(&admin).await.id;
    let alice = app.create_user(&admin, "alice", PASSWORD).await;
    let bob = app.create_user(&admin, "bob", PASSWORD).await;
    let b = app.login("bob", PASSWORD).await;
    let list = |token: String| {
        let path = format!("/api/organization/users/{org}");
        let org = org.clone();
        let env = &env;
        async move {
            env.call(
                Method::GET,
                &path,
                Some(token),
                &[("TR-Organization", &org)],
                None,
            )
            .await?
            .ok(StatusCode::OK)
        }
    };
    let email_by_id = |v: &Value| -> Result<Vec<(String, String)>> {
        let rows = v.as_array().context("not a list")?;
        Ok(rows
            .iter()
            .map(|u| {
                (
                    u["id"].as_str().unwrap_or_default().to_owned(),
                    u["email"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect())
    };
    let seen = email_by_id(&list(b.clone()).await?)?;
    ensure!(seen.len() == 3, "{seen:?}");
    for (uid, email) in &seen {
        if *uid == bob.uid {
            ensure!(*email == email_of("bob"), "own e-mail hidden: {seen:?}");
        } else {
            ensure!(email.is_empty(), "another member's e-mail shown: {seen:?}");
        }
    }
    let seen = email_by_id(&list(admin.clone()).await?)?;
    ensure!(
        seen.contains(&(alice.uid.clone(), email_of("alice"))),
        "{seen:?}"
    );
    Ok(())
}

/// A standard user cannot make itself a Tyk "Developer" or SSO editor: not through Tyk's PATCH
/// (administrators only) nor through UpdateUser, and Tyk keeps showing it as a chat user.
async fn standard_user_cannot_grant_itself_sso_or_portal_access(backend: Backend) -> Result<()> {
    let env = Env::start(backend).await?;
    let app = &env.app;
    let admin = app.init_admin().await;
    let bob = app.create_user(&admin, "bob", PASSWORD).await;
    let b = app.login("bob", PASSWORD).await;
    let path = format!("/api/v1/users/{}", bob.id);
    let grant = json!({"data": {"type": "users", "attributes": {
        "email": email_of("bob"), "name": "bob", "show_portal": true, "show_chat": true,
        "access_to_sso_config": true, "email_verified": true,
    }}});
    let r = env
        .call(
            Method::PATCH,
            &path,
            Some(format!("Bearer {b}")),
            &[],
            Some(grant),
        )
        .await?;
    ensure!(
        error_of(&r, StatusCode::FORBIDDEN)? == json!({"error": "Forbidden"}),
        "{}",
        r.text
    );
    // The same grant over gRPC is refused by the server.
    let status = app
        .users()
        .update_user(with_auth(
            pb::UpdateUserRequest {
                user_id: bob.id,
                user: Some(pb::UserUpdate {
                    preferences: Some(pb::Preferences {
                        show_portal: true,
                        access_to_sso_config: true,
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                update_mask: Some(prost_types::FieldMask {
                    paths: vec![
                        "preferences.show_portal".to_owned(),
                        "preferences.access_to_sso_config".to_owned(),
                    ],
                }),
            },
            &b,
        ))
        .await
        .err()
        .map(|s| s.code());
    ensure!(status == Some(tonic::Code::PermissionDenied), "{status:?}");
    let shown = env
        .call(
            Method::GET,
            &path,
            Some(format!("Bearer {admin}")),
            &[],
            None,
        )
        .await?
        .ok(StatusCode::OK)?;
    let a = &shown["data"]["attributes"];
    ensure!(
        a["role"] == "Chat user" && a["show_portal"] == false && a["access_to_sso_config"] == false,
        "{shown}"
    );
    Ok(())
}

/// Control characters in strings that reach the database are 400 in each dialect's envelope
/// (on Postgres a NUL used to be a 500): Portainer's login, Tyk's user search, OpenAI's e-mail
/// filter. Trieve has no login or free-text lookup; its organization name is checked the same way.
async fn nul_byte_in_login_name_is_invalid_argument(backend: Backend) -> Result<()> {
    let env = Env::start(backend).await?;
    let app = &env.app;
    let owner = Owner::init(app, "openai-owner").await;
    // Portainer, unauthenticated.
    for username in ["ad\u{0}min", "\u{0}", "admin\u{7}"] {
        let r = env
            .call(
                Method::POST,
                "/api/auth",
                None,
                &[],
                Some(json!({"username": username, "password": PASSWORD})),
            )
            .await?;
        let body = error_of(&r, StatusCode::BAD_REQUEST)?;
        ensure!(
            body["message"] == "Invalid request payload",
            "{username:?}: {body}"
        );
    }
    // Tyk.
    let r = env
        .call(
            Method::GET,
            "/api/v1/users?search=ad%00min",
            Some(format!("Bearer {}", owner.admin)),
            &[],
            None,
        )
        .await?;
    let body = error_of(&r, StatusCode::BAD_REQUEST)?;
    ensure!(body["errors"][0]["title"] == "Bad Request", "{body}");
    // OpenAI.
    let r = env
        .call(
            Method::GET,
            "/v1/organization/users?emails[]=a%00b%40example.com",
            Some(format!("Bearer {}", owner.key)),
            &[],
            None,
        )
        .await?;
    let body = error_of(&r, StatusCode::BAD_REQUEST)?;
    ensure!(body["error"]["type"] == "invalid_request_error", "{body}");
    // Trieve.
    let r = env
        .call(
            Method::POST,
            "/api/organization",
            Some(owner.admin.clone()),
            &[],
            Some(json!({"name": "nul\u{0}org"})),
        )
        .await?;
    let body = error_of(&r, StatusCode::BAD_REQUEST)?;
    ensure!(body.get("message").is_some(), "{body}");
    // The administrator still logs in through Portainer.
    let r = env
        .call(
            Method::POST,
            "/api/auth",
            None,
            &[],
            Some(json!({"username": identity_testkit::ADMIN_USERNAME,
                        "password": identity_testkit::ADMIN_PASSWORD})),
        )
        .await?;
    r.status_is(StatusCode::OK)?;
    Ok(())
}

/// Portainer's user creation: a look-alike of a taken name is Portainer's 409, a name with an
/// invisible or text-direction character 400.
async fn confusable_usernames_are_refused(backend: Backend) -> Result<()> {
    let env = Env::start(backend).await?;
    let app = &env.app;
    let admin = app.init_admin().await;
    app.create_user(&admin, "paypal", PASSWORD).await;
    let create = |name: &'static str| {
        let env = &env;
        let admin = admin.clone();
        async move {
            env.call(
                Method::POST,
                "/api/users",
                Some(format!("Bearer {admin}")),
                &[],
                Some(json!({"username": name, "password": PASSWORD, "role": 2})),
            )
            .await
        }
    };
    let r = create("p\u{0430}ypal").await?;
    let body = error_of(&r, StatusCode::CONFLICT)?;
    ensure!(body["details"] == "User already exists", "{body}");
    for name in ["pay\u{200B}pal", "\u{202E}lapyap", "pay\u{200D}pal"] {
        let r = create(name).await?;
        error_of(&r, StatusCode::BAD_REQUEST)?;
    }
    create("pavel").await?.status_is(StatusCode::OK)?;
    Ok(())
}
