//! REST regressions of the key items of the security review, on the routes the attacks used
//! (Trieve `/api/user/api_key…`, OpenAI `/v1/organization/admin_api_keys`, Tyk
//! `/api/v1/users/{id}/roll-api-key` and PATCH, Portainer tokens and role), on both backends. The
//! rules are the server's; here each refusal must come in the dialect's own envelope, never 500.

use std::time::Duration;

use anyhow::{Context as _, Result, ensure};
use identity_api::pb;
use identity_testkit::{ADMIN_EMAIL, Backend, TestApp, spawn_app, with_auth};
use reqwest::{Method, StatusCode, header};
use serde_json::{Value, json};

#[macro_use]
mod common;

use common::{Http, Resp};

const PASSWORD: &str = "keyholder-password-1";
const NEW_PASSWORD: &str = "keyholder-password-2";
/// Older than the server's recent-login window (10 minutes).
const STALE: Duration = Duration::from_secs(11 * 60);

both!(
    restricted_key_cannot_mint_a_wider_key,
    bound_key_acts_only_inside_its_binding,
    stolen_session_cannot_mint_keys_without_recent_login_or_password,
    password_change_revokes_keys_minted_by_sessions,
    only_the_bootstrap_admin_keys_itself
);

/// How a dialect carries the credential.
#[derive(Debug, Clone, Copy)]
enum Dialect<'a> {
    /// `Authorization: <credential>` (trieve-py-client), with an optional `TR-Organization`.
    Trieve(Option<&'a str>),
    /// `Authorization: Bearer <credential>` (OpenAI, Tyk, a Portainer JWT).
    Bearer,
    /// `X-API-KEY: <key>` (Portainer).
    PortainerKey,
}

struct Env {
    app: TestApp,
    http: Http,
    /// The bootstrap administrator's session.
    admin: String,
}

impl Env {
    async fn start(backend: Backend) -> Result<Self> {
        let app = spawn_app(backend).await;
        let admin = app.init_admin().await;
        Ok(Self {
            http: Http::to(&app)?,
            app,
            admin,
        })
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        dialect: Dialect<'_>,
        credential: &str,
        body: Option<Value>,
    ) -> Result<Resp> {
        let mut req = self.http.request(method, path);
        req = match dialect {
            Dialect::Trieve(org) => {
                let req = req.header(header::AUTHORIZATION, credential);
                match org {
                    Some(o) => req.header("TR-Organization", o),
                    None => req,
                }
            }
            Dialect::Bearer => req.header(header::AUTHORIZATION, format!("Bearer {credential}")),
            Dialect::PortainerKey => req.header("X-API-KEY", credential),
        };
        if let Some(b) = body {
            req = req.json(&b);
        }
        Resp::of(req).await
    }

    /// A user (standard or administrator, e-mail verified) and a fresh session of it.
    async fn user(&self, name: &str, admin: bool) -> (pb::User, String) {
        let role = if admin {
            pb::GlobalRole::Administrator
        } else {
            pb::GlobalRole::Standard
        };
        let user = self
            .app
            .create_user_with(
                &self.admin,
                pb::CreateUserRequest {
                    username: name.into(),
                    email: Some(format!("{name}@example.com")),
                    password: Some(PASSWORD.into()),
                    global_role: role.into(),
                    email_verified: true,
                    ..Default::default()
                },
            )
            .await;
        let session = self.app.login(name, PASSWORD).await;
        (user, session)
    }

    async fn bootstrap_admin(&self) -> Result<pb::User> {
        self.app
            .users()
            .get_user(with_auth(
                pb::GetUserRequest {
                    lookup: Some(pb::get_user_request::Lookup::Id(1)),
                },
                &self.admin,
            ))
            .await?
            .into_inner()
            .user
            .context("no user 1")
    }

    /// Whether `key` still authenticates.
    async fn works(&self, key: &str) -> bool {
        self.app
            .auth()
            .who_am_i(with_auth(pb::WhoAmIRequest {}, key))
            .await
            .is_ok()
    }
}

/// A Trieve refusal: `status` with exactly `{"message": <non-empty>}`.
fn trieve_refusal(r: &Resp, status: StatusCode) -> Result<()> {
    r.status_is(status)?;
    let body = r.error_json()?;
    let obj = body.as_object().context("not an object")?;
    ensure!(
        obj.len() == 1 && obj["message"].as_str().is_some_and(|m| !m.is_empty()),
        "not Trieve's envelope: {body}"
    );
    Ok(())
}

/// An OpenAI refusal: `status`, `{"error":{message,type,param,code}}` with `code`; returns the
/// message.
fn openai_refusal(r: &Resp, status: StatusCode, code: &str) -> Result<String> {
    r.status_is(status)?;
    let body = r.error_json()?;
    let e = body["error"].as_object().context("no error object")?;
    ensure!(
        e.len() == 4
            && ["message", "type", "param", "code"]
                .iter()
                .all(|k| e.contains_key(*k)),
        "not OpenAI's envelope: {body}"
    );
    ensure!(e["code"] == json!(code), "{body}");
    Ok(e["message"].as_str().unwrap_or_default().to_owned())
}

/// A Tyk handler refusal: `status`, `{"errors":[{"title": <status text>, "detail"}]}`.
fn tyk_refusal(r: &Resp, status: StatusCode) -> Result<()> {
    r.status_is(status)?;
    let body = r.error_json()?;
    let errors = body["errors"].as_array().context("no errors array")?;
    ensure!(
        errors.len() == 1 && errors[0]["title"] == json!(status.canonical_reason().unwrap_or("")),
        "not Tyk's envelope: {body}"
    );
    Ok(())
}

/// A Portainer refusal: `status`, `{"message","details"}`.
fn portainer_refusal(r: &Resp, status: StatusCode) -> Result<()> {
    r.status_is(status)?;
    let body = r.error_json()?;
    ensure!(
        body["message"].is_string() && body["details"].is_string(),
        "not Portainer's envelope: {body}"
    );
    Ok(())
}

async fn restricted_key_cannot_mint_a_wider_key(backend: Backend) -> Result<()> {
    let env = Env::start(backend).await?;
    let (_, session) = env.user("rita", false).await;
    let dataset = uuid::Uuid::new_v4().to_string();
    let (_, restricted) = env
        .app
        .create_api_key(
            &session,
            pb::CreateApiKeyRequest {
                name: "restricted".into(),
                role: pb::ApiKeyRole::Admin.into(),
                scopes: vec!["GET /api/dataset".into()],
                dataset_ids: vec![dataset.clone()],
                ..Default::default()
            },
        )
        .await;
    let path = "/api/user/api_key";
    let trieve = Dialect::Trieve(None);

    // Trieve `POST /api/user/api_key` with the restricted key: nothing wider.
    for body in [
        json!({"name": "escalated", "role": 1, "scopes": ["admin:*"]}),
        json!({"name": "more datasets", "role": 1, "dataset_ids": [dataset, uuid::Uuid::new_v4().to_string()]}),
    ] {
        let r = env
            .call(Method::POST, path, trieve, &restricted, Some(body.clone()))
            .await?;
        trieve_refusal(&r, StatusCode::FORBIDDEN).with_context(|| body.to_string())?;
    }
    // Left out, the restrictions are the parent's.
    env.call(
        Method::POST,
        path,
        trieve,
        &restricted,
        Some(json!({"name": "child", "role": 1})),
    )
    .await?
    .ok(StatusCode::OK)?;
    let keys = env.app.all_api_keys(&session).await;
    ensure!(keys.len() == 2, "{keys:?}");
    let child = keys
        .iter()
        .find(|k| k.name == "child")
        .context("no child")?;
    ensure!(
        child.scopes == ["GET /api/dataset"] && child.dataset_ids == [dataset.clone()],
        "{child:?}"
    );

    // OpenAI: an admin key that expires cannot mint a longer-lived admin key.
    let org = env.app.default_organization(&env.admin).await;
    let (parent, admin_key) = env
        .app
        .create_api_key(
            &env.admin,
            pb::CreateApiKeyRequest {
                name: "expiring admin key".into(),
                role: pb::ApiKeyRole::Owner.into(),
                organization_id: Some(org.id.clone()),
                expires_at: Some(prost_types::Timestamp {
                    seconds: parent_expiry(),
                    nanos: 0,
                }),
                ..Default::default()
            },
        )
        .await;
    let keys_path = "/v1/organization/admin_api_keys";
    let r = env
        .call(
            Method::POST,
            keys_path,
            Dialect::Bearer,
            &admin_key,
            Some(json!({"name": "longer", "expires_in_seconds": 7200})),
        )
        .await?;
    openai_refusal(&r, StatusCode::FORBIDDEN, "insufficient_permissions")?;
    let same = env
        .call(
            Method::POST,
            keys_path,
            Dialect::Bearer,
            &admin_key,
            Some(json!({"name": "same"})),
        )
        .await?
        .ok(StatusCode::OK)?;
    ensure!(
        same["expires_at"] == json!(parent.expires_at.map(|t| t.seconds)),
        "{same}"
    );
    Ok(())
}

/// One hour from now, in seconds since the epoch.
fn parent_expiry() -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    i64::try_from(now).unwrap_or(0) + 3600
}

async fn bound_key_acts_only_inside_its_binding(backend: Backend) -> Result<()> {
    let env = Env::start(backend).await?;
    let (_, session) = env.user("bob", false).await;
    let acme = env
        .app
        .orgs()
        .create_organization(with_auth(
            pb::CreateOrganizationRequest {
                name: "acme".into(),
            },
            &session,
        ))
        .await?
        .into_inner()
        .organization
        .context("no organization")?;
    let (unbound, unbound_key) = env
        .app
        .create_api_key(
            &session,
            pb::CreateApiKeyRequest {
                name: "unbound".into(),
                ..Default::default()
            },
        )
        .await;
    // A Trieve organization key of acme, made on Trieve's route.
    let created = env
        .call(
            Method::POST,
            "/api/organization/api_key",
            Dialect::Trieve(Some(&acme.id)),
            &session,
            Some(json!({"name": "org key", "role": 2})),
        )
        .await?
        .ok(StatusCode::OK)?;
    let org_key = created["api_key"]
        .as_str()
        .context("no api_key")?
        .to_owned();

    // It lists only keys bound to acme, on the user route too.
    let listed = env
        .call(
            Method::GET,
            "/api/user/api_key",
            Dialect::Trieve(None),
            &org_key,
            None,
        )
        .await?
        .ok(StatusCode::OK)?;
    let names: Vec<&str> = listed
        .as_array()
        .context("not a list")?
        .iter()
        .filter_map(|k| k["name"].as_str())
        .collect();
    ensure!(names == ["org key"], "{listed}");
    // Trieve answers 204 to any delete; the unbound key must survive it.
    env.call(
        Method::DELETE,
        &format!("/api/user/api_key/{}", unbound.uid),
        Dialect::Trieve(None),
        &org_key,
        None,
    )
    .await?
    .ok(StatusCode::NO_CONTENT)?;
    ensure!(
        env.works(&unbound_key).await,
        "the bound key revoked an unbound key"
    );

    // The same key as an OpenAI admin key of acme: another organization's key is not its own.
    let (other, _) = env
        .app
        .create_api_key(
            &session,
            pb::CreateApiKeyRequest {
                name: "default org key".into(),
                role: pb::ApiKeyRole::Owner.into(),
                organization_id: Some(env.app.default_organization(&session).await.id),
                ..Default::default()
            },
        )
        .await;
    let r = env
        .call(
            Method::DELETE,
            &format!(
                "/v1/organization/admin_api_keys/key_{}",
                other.uid.replace('-', "")
            ),
            Dialect::Bearer,
            &org_key,
            None,
        )
        .await?;
    openai_refusal(&r, StatusCode::NOT_FOUND, "api_key_not_found")?;
    let keys = env.app.all_api_keys(&session).await;
    ensure!(
        keys.iter().all(|k| k.revoked_at.is_none()) && keys.len() == 3,
        "{keys:?}"
    );
    Ok(())
}

async fn stolen_session_cannot_mint_keys_without_recent_login_or_password(
    backend: Backend,
) -> Result<()> {
    let env = Env::start(backend).await?;
    let (vic, _) = env.user("vic", false).await;
    let stolen = env.app.session_issued_ago(&vic, STALE);

    // Trieve: refused in Trieve's envelope; a fresh login may.
    let path = "/api/user/api_key";
    let r = env
        .call(
            Method::POST,
            path,
            Dialect::Trieve(None),
            &stolen,
            Some(json!({"name": "thief", "role": 0})),
        )
        .await?;
    trieve_refusal(&r, StatusCode::FORBIDDEN)?;
    ensure!(env.app.all_api_keys(&stolen).await.is_empty());
    let fresh = env.app.login("vic", PASSWORD).await;
    env.call(
        Method::POST,
        path,
        Dialect::Trieve(None),
        &fresh,
        Some(json!({"name": "owner", "role": 0})),
    )
    .await?
    .ok(StatusCode::OK)?;

    // Portainer sends the password: a session of any age may.
    env.call(
        Method::POST,
        &format!("/api/users/{}/tokens", vic.id),
        Dialect::Bearer,
        &stolen,
        Some(json!({"description": "with the password", "password": PASSWORD})),
    )
    .await?
    .ok(StatusCode::OK)?;

    // OpenAI and Tyk, with a stale session of the bootstrap administrator.
    let admin = env.bootstrap_admin().await?;
    let stale_admin = env.app.session_issued_ago(&admin, STALE);
    let r = env
        .call(
            Method::POST,
            "/v1/organization/admin_api_keys",
            Dialect::Bearer,
            &stale_admin,
            Some(json!({"name": "thief"})),
        )
        .await?;
    let message = openai_refusal(&r, StatusCode::FORBIDDEN, "insufficient_permissions")?;
    ensure!(message.contains("recent login"), "{message}");
    let r = env
        .call(
            Method::POST,
            &format!("/api/v1/users/{}/roll-api-key", vic.id),
            Dialect::Bearer,
            &stale_admin,
            None,
        )
        .await?;
    tyk_refusal(&r, StatusCode::FORBIDDEN)?;
    ensure!(env.app.all_api_keys(&stale_admin).await.is_empty());
    ensure!(env.app.all_api_keys(&fresh).await.len() == 2);
    env.call(
        Method::POST,
        "/v1/organization/admin_api_keys",
        Dialect::Bearer,
        &env.admin,
        Some(json!({"name": "fresh"})),
    )
    .await?
    .ok(StatusCode::OK)?;
    Ok(())
}

async fn password_change_revokes_keys_minted_by_sessions(backend: Backend) -> Result<()> {
    let env = Env::start(backend).await?;
    let (pat, session) = env.user("pat", false).await;
    // Minted by the bare session on Trieve's route; and with the password on Portainer's.
    let by_session = env
        .call(
            Method::POST,
            "/api/user/api_key",
            Dialect::Trieve(None),
            &session,
            Some(json!({"name": "session", "role": 2})),
        )
        .await?
        .ok(StatusCode::OK)?["api_key"]
        .as_str()
        .context("no api_key")?
        .to_owned();
    let by_password = env
        .call(
            Method::POST,
            &format!("/api/users/{}/tokens", pat.id),
            Dialect::Bearer,
            &session,
            Some(json!({"description": "password", "password": PASSWORD})),
        )
        .await?
        .ok(StatusCode::OK)?["rawAPIKey"]
        .as_str()
        .context("no rawAPIKey")?
        .to_owned();
    for k in [&by_session, &by_password] {
        env.call(
            Method::GET,
            "/api/user/api_key",
            Dialect::Trieve(None),
            k,
            None,
        )
        .await?
        .ok(StatusCode::OK)?;
    }

    // The victim changes the password (Portainer's route, with a key).
    env.call(
        Method::PUT,
        &format!("/api/users/{}/passwd", pat.id),
        Dialect::PortainerKey,
        &by_password,
        Some(json!({"password": PASSWORD, "newPassword": NEW_PASSWORD})),
    )
    .await?
    .ok(StatusCode::NO_CONTENT)?;

    let r = env
        .call(
            Method::GET,
            "/api/user/api_key",
            Dialect::Trieve(None),
            &by_session,
            None,
        )
        .await?;
    trieve_refusal(&r, StatusCode::UNAUTHORIZED)?;
    env.call(
        Method::GET,
        "/api/user/api_key",
        Dialect::Trieve(None),
        &by_password,
        None,
    )
    .await?
    .ok(StatusCode::OK)?;
    Ok(())
}

async fn only_the_bootstrap_admin_keys_itself(backend: Backend) -> Result<()> {
    let env = Env::start(backend).await?;
    let (_, second) = env.user("second", true).await;
    let tyk_user_1 = json!({"data": {"type": "users", "attributes": {
        "email": ADMIN_EMAIL, "name": "Administrator", "is_admin": false, "email_verified": true
    }}});

    // Tyk: neither a roll of user 1's key nor its demotion, by another administrator.
    let r = env
        .call(
            Method::POST,
            "/api/v1/users/1/roll-api-key",
            Dialect::Bearer,
            &second,
            None,
        )
        .await?;
    tyk_refusal(&r, StatusCode::FORBIDDEN)?;
    let r = env
        .call(
            Method::PATCH,
            "/api/v1/users/1",
            Dialect::Bearer,
            &second,
            Some(tyk_user_1.clone()),
        )
        .await?;
    tyk_refusal(&r, StatusCode::FORBIDDEN)?;
    // Portainer: the same demotion.
    let r = env
        .call(
            Method::PUT,
            "/api/users/1",
            Dialect::Bearer,
            &second,
            Some(json!({"role": 2})),
        )
        .await?;
    portainer_refusal(&r, StatusCode::FORBIDDEN)?;
    let admin = env.bootstrap_admin().await?;
    ensure!(
        admin.global_role() == pb::GlobalRole::Administrator,
        "{admin:?}"
    );
    ensure!(env.app.all_api_keys(&env.admin).await.is_empty());

    // User 1 itself may roll its key.
    let rolled = env
        .call(
            Method::POST,
            "/api/v1/users/1/roll-api-key",
            Dialect::Bearer,
            &env.admin,
            None,
        )
        .await?
        .ok(StatusCode::OK)?;
    ensure!(
        rolled["data"]["attributes"]["api_key"]
            .as_str()
            .is_some_and(|k| !k.is_empty()),
        "{rolled}"
    );
    Ok(())
}
