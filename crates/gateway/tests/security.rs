//! Gateway security regression suite, over real HTTP against a real server on a fresh database.
//!
//! - Every `{id}` route of every dialect (the list is read from the dialects' route tables in
//!   the source, so a new route without a case here fails `every_id_route_has_a_case`) is
//!   called by a standard user, Mallory, against another user's (the victim's) resources, and
//!   must answer the dialect's 401/403/404 envelope; afterwards nothing of the victim changed.
//! - Administrator-only functions with Mallory's credential → 403.
//! - A body over 64 KiB → 413 in each dialect's envelope.
//! - No response of any of these flows carries an argon2 hash, a key digest, a key plaintext
//!   or a password.

use std::collections::BTreeSet;

use anyhow::{Context as _, Result, ensure};
use identity_api::pb;
use identity_testkit::{Backend, TestApp, spawn_app, with_auth};
use reqwest::{Method, StatusCode, header};
use serde_json::{Value, json};

#[macro_use]
mod common;

use common::{Http, Resp};

const PASSWORD: &str = "victim-password-1234";
const MALLORY_PASSWORD: &str = "mallory-password-1234";

/// `METHOD path` of every route with a path parameter (catch-alls excluded): every route the
/// gateway serves is in its OpenAPI documents or in `openapi::UNDOCUMENTED`
/// (`tests/openapi.rs` proves that against the router), so both lists together are the
/// gateway's routes.
fn id_routes_in_source() -> BTreeSet<String> {
    use identity_gateway::openapi;
    let mut out = BTreeSet::new();
    for dialect in openapi::DIALECTS {
        let Some(doc) = openapi::document(dialect) else {
            continue;
        };
        for (path, item) in &doc.paths.paths {
            if !path.contains('{') || path.contains("{*") {
                continue;
            }
            for (method, op) in [
                ("GET", &item.get),
                ("POST", &item.post),
                ("PUT", &item.put),
                ("PATCH", &item.patch),
                ("DELETE", &item.delete),
            ] {
                if op.is_some() {
                    out.insert(format!("{method} {path}"));
                }
            }
        }
    }
    for (method, path, _) in openapi::UNDOCUMENTED {
        if path.contains('{') && !path.contains("{*") {
            out.insert(format!("{method} {path}"));
        }
    }
    out
}

/// What a call carries.
#[derive(Debug, Clone, Copy)]
enum Auth<'a> {
    /// `Authorization: Bearer …`.
    Bearer(&'a str),
    /// `Authorization: …` (Trieve's API key form) with `TR-Organization`.
    Trieve(&'a str, &'a str),
}

struct Env {
    app: TestApp,
    http: Http,
    /// Every response body seen, for the secret scan.
    seen: std::sync::Mutex<Vec<(String, String)>>,
}

impl Env {
    async fn start(backend: Backend) -> Result<Self> {
        Self::over(spawn_app(backend).await)
    }

    /// Requests to the in-process gateway of `app`.
    fn over(app: TestApp) -> Result<Self> {
        Ok(Self {
            http: Http::to(&app)?,
            app,
            seen: std::sync::Mutex::new(Vec::new()),
        })
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        auth: Auth<'_>,
        body: Option<Value>,
    ) -> Result<Resp> {
        let mut req = self.http.request(method.clone(), path);
        req = match auth {
            Auth::Bearer(t) => req.header(header::AUTHORIZATION, format!("Bearer {t}")),
            Auth::Trieve(k, org) => req
                .header(header::AUTHORIZATION, k)
                .header("TR-Organization", org),
        };
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = Resp::of(req).await?;
        if let Ok(mut seen) = self.seen.lock() {
            seen.push((format!("{method} {path} → {}", r.status), r.text.clone()));
        }
        Ok(r)
    }
}

/// A refusal: one of `allowed`, with a JSON body (each dialect's envelope is a JSON object).
fn refused(route: &str, r: &Resp, allowed: &[StatusCode]) -> Result<()> {
    ensure!(
        allowed.contains(&r.status),
        "{route}: expected one of {allowed:?}, got {}: {}",
        r.status,
        r.text
    );
    let v: Value = serde_json::from_str(&r.text)
        .with_context(|| format!("{route}: error body is not JSON: {:?}", r.text))?;
    ensure!(v.is_object(), "{route}: error body is not an object: {v}");
    Ok(())
}

const DENIED: &[StatusCode] = &[StatusCode::FORBIDDEN, StatusCode::NOT_FOUND];
const DENIED_OR_UNAUTH: &[StatusCode] = &[
    StatusCode::UNAUTHORIZED,
    StatusCode::FORBIDDEN,
    StatusCode::NOT_FOUND,
];

#[test]
fn every_id_route_has_a_case() {
    let in_source = id_routes_in_source();
    assert!(
        in_source.len() >= 15,
        "the route scan found too little: {in_source:?}"
    );
    let covered: BTreeSet<String> = CASES.iter().map(|s| (*s).to_owned()).collect();
    let missing: Vec<_> = in_source.difference(&covered).collect();
    assert!(
        missing.is_empty(),
        "`{{id}}` routes without a BOLA case: {missing:?}"
    );
    let stale: Vec<_> = covered.difference(&in_source).collect();
    assert!(
        stale.is_empty(),
        "cases of routes that no longer exist: {stale:?}"
    );
}

/// The `{id}` routes the scenario below exercises.
const CASES: &[&str] = &[
    "GET /api/users/{id}",
    "PUT /api/users/{id}",
    "DELETE /api/users/{id}",
    "PUT /api/users/{id}/passwd",
    "GET /api/users/{id}/memberships",
    "GET /api/users/{id}/tokens",
    "POST /api/users/{id}/tokens",
    "DELETE /api/users/{id}/tokens/{keyID}",
    "GET /api/v1/users/{id}",
    "PATCH /api/v1/users/{id}",
    "DELETE /api/v1/users/{id}",
    "POST /api/v1/users/{id}/roll-api-key",
    "GET /v1/organization/users/{user_id}",
    "POST /v1/organization/users/{user_id}",
    "DELETE /v1/organization/users/{user_id}",
    "GET /v1/organization/admin_api_keys/{key_id}",
    "DELETE /v1/organization/admin_api_keys/{key_id}",
    "DELETE /api/user/api_key/{api_key_id}",
    "GET /api/organization/users/{organization_id}",
    "DELETE /api/organization/api_key/{api_key_id}",
];

both!(
    id_routes_refuse_other_users_resources,
    oversized_bodies_are_413_in_every_dialect,
    portainer_login_is_limited_per_client_and_backed_off_per_account,
);

async fn id_routes_refuse_other_users_resources(backend: Backend) -> Result<()> {
    let env = Env::start(backend).await?;
    let app = &env.app;
    let admin = app.init_admin().await;
    let mallory = app.create_user(&admin, "mallory", MALLORY_PASSWORD).await;
    let victim = app.create_user(&admin, "victim", PASSWORD).await;
    let m = app.login("mallory", MALLORY_PASSWORD).await;
    let v = app.login("victim", PASSWORD).await;
    let default_org = app.default_organization(&admin).await;
    // The victim's own organization, with a key bound to it.
    let victim_org = app
        .orgs()
        .create_organization(with_auth(
            pb::CreateOrganizationRequest {
                name: "victim corp".to_owned(),
            },
            &v,
        ))
        .await?
        .into_inner()
        .organization
        .context("no organization")?;
    let (victim_key, victim_plain) = app
        .create_api_key(
            &v,
            pb::CreateApiKeyRequest {
                name: "victim default-org key".to_owned(),
                organization_id: Some(default_org.id.clone()),
                ..Default::default()
            },
        )
        .await;
    let (victim_org_key, victim_org_plain) = app
        .create_api_key(
            &v,
            pb::CreateApiKeyRequest {
                name: "victim org key".to_owned(),
                role: pb::ApiKeyRole::Owner.into(),
                organization_id: Some(victim_org.id.clone()),
                ..Default::default()
            },
        )
        .await;
    // Mallory's key for the org-scoped dialects, bound to the default organization (where she
    // is a plain member) and to her own organization (where she is the owner).
    let (_, m_key) = app
        .create_api_key(
            &m,
            pb::CreateApiKeyRequest {
                name: "mallory".to_owned(),
                organization_id: Some(default_org.id.clone()),
                ..Default::default()
            },
        )
        .await;
    let mallory_org = app
        .orgs()
        .create_organization(with_auth(
            pb::CreateOrganizationRequest {
                name: "mallory corp".to_owned(),
            },
            &m,
        ))
        .await?
        .into_inner()
        .organization
        .context("no organization")?;
    let (_, m_owner_key) = app
        .create_api_key(
            &m,
            pb::CreateApiKeyRequest {
                name: "mallory owner".to_owned(),
                role: pb::ApiKeyRole::Owner.into(),
                organization_id: Some(mallory_org.id.clone()),
                ..Default::default()
            },
        )
        .await;

    let bearer = Auth::Bearer(&m);
    let vid = victim.id;
    let vkey = victim_key.id;

    // --- Portainer: numeric ids, session token ---
    for (method, path, body, allowed) in [
        (Method::GET, format!("/api/users/{vid}"), None, DENIED),
        (
            Method::PUT,
            format!("/api/users/{vid}"),
            Some(json!({"username": "pwned", "role": 1})),
            DENIED,
        ),
        (Method::DELETE, format!("/api/users/{vid}"), None, DENIED),
        (
            Method::PUT,
            format!("/api/users/{vid}/passwd"),
            Some(json!({"password": PASSWORD, "newPassword": "mallory-owns-it-now"})),
            DENIED,
        ),
        (
            Method::GET,
            format!("/api/users/{vid}/memberships"),
            None,
            DENIED,
        ),
        (
            Method::GET,
            format!("/api/users/{vid}/tokens"),
            None,
            DENIED,
        ),
        (
            Method::POST,
            format!("/api/users/{vid}/tokens"),
            Some(json!({"description": "planted", "password": PASSWORD})),
            DENIED,
        ),
        (
            Method::DELETE,
            format!("/api/users/{vid}/tokens/{vkey}"),
            None,
            DENIED,
        ),
        // Mallory's own id with the victim's key id.
        (
            Method::DELETE,
            format!("/api/users/{}/tokens/{vkey}", mallory.id),
            None,
            DENIED,
        ),
        // BFLA: administrator-only.
        (
            Method::POST,
            "/api/users".to_owned(),
            Some(json!({"username": "sock", "password": "sock-password-12345", "role": 1})),
            DENIED,
        ),
    ] {
        let route = format!("Portainer {method} {path}");
        let r = env.call(method, &path, bearer, body).await?;
        refused(&route, &r, allowed)?;
    }

    // --- Tyk AI Studio: administrator-only user routes ---
    for (method, path, body) in [
        (Method::GET, format!("/api/v1/users/{vid}"), None),
        (
            Method::PATCH,
            format!("/api/v1/users/{vid}"),
            Some(
                json!({"data": {"type": "User", "attributes": {"name": "pwned", "email": "victim@example.com", "is_admin": true}}}),
            ),
        ),
        (Method::DELETE, format!("/api/v1/users/{vid}"), None),
        (
            Method::POST,
            format!("/api/v1/users/{vid}/roll-api-key"),
            None,
        ),
        (Method::GET, "/api/v1/users".to_owned(), None),
        (
            Method::POST,
            "/api/v1/users".to_owned(),
            Some(
                json!({"data": {"type": "User", "attributes": {"name": "sock", "email": "sock@example.com", "password": "sock-password-12345", "is_admin": true}}}),
            ),
        ),
    ] {
        let route = format!("Tyk {method} {path}");
        let r = env.call(method, &path, bearer, body).await?;
        refused(&route, &r, &[StatusCode::FORBIDDEN])?;
    }

    // --- OpenAI admin: org-scoped admin keys ---
    let victim_handle = victim.handle.clone();
    let victim_key_id = format!("key_{}", victim_key.uid.replace('-', ""));
    let victim_org_key_id = format!("key_{}", victim_org_key.uid.replace('-', ""));
    for (cred, method, path, body) in [
        // A plain member's key in the shared organization: no admin powers over others.
        (
            m_key.as_str(),
            Method::POST,
            format!("/v1/organization/users/{victim_handle}"),
            Some(json!({"role": "owner"})),
        ),
        (
            m_key.as_str(),
            Method::DELETE,
            format!("/v1/organization/users/{victim_handle}"),
            None,
        ),
        (
            m_key.as_str(),
            Method::GET,
            format!("/v1/organization/admin_api_keys/{victim_key_id}"),
            None,
        ),
        (
            m_key.as_str(),
            Method::DELETE,
            format!("/v1/organization/admin_api_keys/{victim_key_id}"),
            None,
        ),
        // An owner of another organization: the victim is not in it, nor the victim's keys.
        (
            m_owner_key.as_str(),
            Method::GET,
            format!("/v1/organization/users/{victim_handle}"),
            None,
        ),
        (
            m_owner_key.as_str(),
            Method::POST,
            format!("/v1/organization/users/{victim_handle}"),
            Some(json!({"role": "reader"})),
        ),
        (
            m_owner_key.as_str(),
            Method::DELETE,
            format!("/v1/organization/users/{victim_handle}"),
            None,
        ),
        (
            m_owner_key.as_str(),
            Method::GET,
            format!("/v1/organization/admin_api_keys/{victim_org_key_id}"),
            None,
        ),
        (
            m_owner_key.as_str(),
            Method::DELETE,
            format!("/v1/organization/admin_api_keys/{victim_org_key_id}"),
            None,
        ),
    ] {
        let route = format!("OpenAI {method} {path}");
        let r = env.call(method, &path, Auth::Bearer(cred), body).await?;
        refused(&route, &r, DENIED_OR_UNAUTH)?;
    }

    // --- Trieve: raw API key + TR-Organization ---
    // Trieve deletes a key with a filter on the caller's own keys, so another user's key id is
    // a 204 that changes nothing (as upstream); the after-state check below proves that.
    let victim_key_uid = victim_key.uid.clone();
    let victim_org_key_uid = victim_org_key.uid.clone();
    let trieve_refusals = &[
        StatusCode::BAD_REQUEST,
        StatusCode::UNAUTHORIZED,
        StatusCode::FORBIDDEN,
        StatusCode::NOT_FOUND,
    ];
    for (cred, org, method, path, filtered_delete) in [
        (
            m_owner_key.as_str(),
            mallory_org.id.as_str(),
            Method::DELETE,
            format!("/api/user/api_key/{victim_key_uid}"),
            true,
        ),
        (
            m_owner_key.as_str(),
            mallory_org.id.as_str(),
            Method::GET,
            format!("/api/organization/users/{}", victim_org.id),
            false,
        ),
        (
            m_owner_key.as_str(),
            victim_org.id.as_str(),
            Method::GET,
            format!("/api/organization/users/{}", victim_org.id),
            false,
        ),
        (
            m_owner_key.as_str(),
            mallory_org.id.as_str(),
            Method::DELETE,
            format!("/api/organization/api_key/{victim_org_key_uid}"),
            true,
        ),
        (
            m_owner_key.as_str(),
            victim_org.id.as_str(),
            Method::DELETE,
            format!("/api/organization/api_key/{victim_org_key_uid}"),
            false,
        ),
    ] {
        let route = format!("Trieve {method} {path} (org {org})");
        let r = env
            .call(method, &path, Auth::Trieve(cred, org), None)
            .await?;
        if filtered_delete && r.status == StatusCode::NO_CONTENT {
            ensure!(r.text.is_empty(), "{route}: 204 with a body");
            continue;
        }
        refused(&route, &r, trieve_refusals)?;
    }

    // Nothing of the victim changed: same user, password, keys and memberships.
    let after = app
        .users()
        .get_user(with_auth(
            pb::GetUserRequest {
                lookup: Some(pb::get_user_request::Lookup::Id(vid)),
            },
            &admin,
        ))
        .await?
        .into_inner()
        .user
        .context("victim gone")?;
    ensure!(after.username == "victim" && after.global_role == victim.global_role);
    app.login("victim", PASSWORD).await;
    for plain in [&victim_plain, &victim_org_plain] {
        app.auth()
            .authenticate(pb::AuthenticateRequest {
                credential: plain.clone(),
            })
            .await
            .context("a victim key stopped working")?;
    }
    let keys = app.all_api_keys(&v).await;
    ensure!(keys.len() == 2, "victim keys changed: {keys:?}");
    let mallory_now = app
        .users()
        .get_user(with_auth(
            pb::GetUserRequest {
                lookup: Some(pb::get_user_request::Lookup::Id(mallory.id)),
            },
            &admin,
        ))
        .await?
        .into_inner()
        .user
        .context("mallory gone")?;
    ensure!(mallory_now.global_role == pb::GlobalRole::Standard as i32);

    // No response carried a hash, a digest, a plaintext or a password.
    let mut needles: Vec<(String, String)> = vec![
        ("an argon2 hash".into(), "$argon2".into()),
        ("the victim's password".into(), PASSWORD.into()),
        ("Mallory's password".into(), MALLORY_PASSWORD.into()),
        ("a victim key".into(), victim_plain.clone()),
        ("a victim key".into(), victim_org_plain.clone()),
    ];
    for plain in [&victim_plain, &victim_org_plain, &m_key, &m_owner_key] {
        let hex: String = identity_core_digest(plain);
        needles.push(("a key digest".into(), hex.clone()));
        needles.push(("a key digest".into(), hex.to_uppercase()));
    }
    let seen = env.seen.lock().map(|s| s.clone()).unwrap_or_default();
    ensure!(seen.len() >= 30, "only {} responses seen", seen.len());
    for (what, body) in &seen {
        for (label, needle) in &needles {
            ensure!(
                !body.contains(needle.as_str()),
                "{what} contains {label}: {body}"
            );
        }
    }
    Ok(())
}

/// Hex SHA-256 of a key plaintext: what the store keeps.
fn identity_core_digest(plaintext: &str) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(plaintext.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

async fn oversized_bodies_are_413_in_every_dialect(backend: Backend) -> Result<()> {
    let env = Env::start(backend).await?;
    let admin = env.app.init_admin().await;
    let big = "x".repeat(70 * 1024);
    for (dialect, path, body) in [
        (
            "Portainer",
            "/api/auth",
            json!({"username": "admin", "password": big}),
        ),
        (
            "Portainer",
            "/api/users",
            json!({"username": big, "password": big}),
        ),
        (
            "Tyk",
            "/api/v1/users",
            json!({"data": {"attributes": {"name": big}}}),
        ),
        (
            "OpenAI",
            "/v1/organization/admin_api_keys",
            json!({"name": big}),
        ),
        ("Trieve", "/api/organization", json!({"name": big})),
    ] {
        let r = env
            .call(Method::POST, path, Auth::Bearer(&admin), Some(body))
            .await?;
        refused(
            &format!("{dialect} POST {path} with 70 KiB"),
            &r,
            &[StatusCode::PAYLOAD_TOO_LARGE],
        )?;
    }
    Ok(())
}

/// The gateway forwards its socket peer, so the server's per-source limit applies to REST
/// clients one by one; both login refusals come out as Portainer's ban answer.
async fn portainer_login_is_limited_per_client_and_backed_off_per_account(
    backend: Backend,
) -> Result<()> {
    let app = identity_testkit::spawn_app_with(backend, |s| {
        s.login_per_source_burst = 4;
        s.login_per_source_per_minute = 1;
        s.login_backoff_threshold = 2;
        s.login_backoff_base_ms = 30_000;
    })
    .await;
    let env = Env::over(app)?;
    let _admin = env.app.init_admin().await; // a gRPC login from 127.0.0.1 too
    let login = |password: &str| json!({"username": "admin", "password": password});
    let post = |body: Value| {
        let req = env.http.request(Method::POST, "/api/auth").json(&body);
        async move { req.send().await }
    };
    // Two wrong passwords: Portainer's 422; then the account is backed off (403 ban).
    for _ in 0..2 {
        let r = post(login("wrong-password-123")).await?;
        ensure!(
            r.status() == StatusCode::UNPROCESSABLE_ENTITY,
            "{}",
            r.status()
        );
    }
    let r = post(login("admin-password-1234")).await?;
    ensure!(
        r.status() == StatusCode::FORBIDDEN,
        "backed off: {}",
        r.status()
    );
    let body: Value = r.json().await?;
    ensure!(body["message"] == json!("Access denied"), "{body}");
    // The source (127.0.0.1, counted through the gateway) is now out of attempts: another,
    // un-backed-off account is refused too (it would be a 422 otherwise).
    let r = post(json!({"username": "someone-else", "password": "anything-at-all-1"})).await?;
    ensure!(
        r.status() == StatusCode::FORBIDDEN,
        "rate limited: {}",
        r.status()
    );
    Ok(())
}
