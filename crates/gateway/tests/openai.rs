//! The OpenAI Administration API dialect over real HTTP, against a real identity server (with its
//! in-process gateway) on a fresh database, on Postgres and SQLite.
//!
//! Every route is checked for its success shape, each error status with its `code`, and the
//! `{"error":{"message","type","param","code"}}` envelope.

use anyhow::{Context as _, Result, ensure};
use identity_api::pb;
use identity_testkit::{Backend, TestApp, spawn_app, with_auth};
use reqwest::{Method, StatusCode, header};
use serde_json::{Value, json};

#[macro_use]
mod common;

use common::{Http, Owner, Resp};

impl Resp {
    /// An OpenAI error with `status` and `code`; returns the inner error object.
    fn err(&self, status: StatusCode, code: Option<&str>) -> Result<Value> {
        ensure!(
            self.status == status,
            "expected {status} {code:?}, got {}: {}",
            self.status,
            self.text
        );
        let body = self.error_json()?;
        let outer = body.as_object().context("error body is not an object")?;
        ensure!(outer.len() == 1, "extra keys in {body}");
        let inner = body["error"].as_object().context("no error object")?;
        let mut keys: Vec<&str> = inner.keys().map(String::as_str).collect();
        keys.sort_unstable();
        ensure!(
            keys == ["code", "message", "param", "type"],
            "keys of {body}"
        );
        ensure!(
            inner["message"].as_str().is_some_and(|m| !m.is_empty()),
            "message of {body}"
        );
        ensure!(inner["type"].is_string(), "type of {body}");
        ensure!(
            inner["param"].is_null() || inner["param"].is_string(),
            "param of {body}"
        );
        ensure!(
            inner["code"] == code.map_or(Value::Null, |c| json!(c)),
            "code of {body}, expected {code:?}"
        );
        if status.is_client_error() && status != StatusCode::TOO_MANY_REQUESTS {
            ensure!(
                self.header("x-should-retry") == Some("false"),
                "no x-should-retry: false on {status}"
            );
        }
        Ok(body["error"].clone())
    }

    /// A 400 naming `param`.
    fn bad(&self, param: &str) -> Result<()> {
        let e = self.err(StatusCode::BAD_REQUEST, Some("invalid_value"))?;
        ensure!(e["param"] == json!(param), "param of {e}, expected {param}");
        ensure!(e["type"] == "invalid_request_error", "type of {e}");
        Ok(())
    }
}

/// The server, its gateway and a few accounts.
struct Env {
    app: TestApp,
    http: Http,
    /// Session of the administrator (user 1, owner of the default organization).
    admin: String,
    /// The default organization.
    org: pb::Organization,
    /// An OWNER key of the administrator bound to the default organization.
    key: String,
}

impl Env {
    async fn start(backend: Backend) -> Result<Self> {
        let app = spawn_app(backend).await;
        let http = Http::to(&app)?;
        let Owner { admin, org, key } = Owner::init(&app, "admin").await;
        Ok(Self {
            app,
            http,
            admin,
            org,
            key,
        })
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        bearer: Option<&str>,
        extra: &[(&str, &str)],
        body: Option<Value>,
    ) -> Result<Resp> {
        let mut req = self.http.request(method, path);
        if let Some(b) = bearer {
            req = req.header(header::AUTHORIZATION, format!("Bearer {b}"));
        }
        for (k, v) in extra {
            req = req.header(*k, *v);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        Resp::of(req).await
    }

    async fn get(&self, path: &str, bearer: &str) -> Result<Resp> {
        self.call(Method::GET, path, Some(bearer), &[], None).await
    }

    async fn post(&self, path: &str, bearer: &str, body: Value) -> Result<Resp> {
        self.call(Method::POST, path, Some(bearer), &[], Some(body))
            .await
    }

    async fn delete(&self, path: &str, bearer: &str) -> Result<Resp> {
        self.call(Method::DELETE, path, Some(bearer), &[], None)
            .await
    }

    /// A user without password, in the default organization unless `org` names another.
    async fn user(&self, username: &str, display: &str, org: Option<&str>) -> pb::User {
        self.app
            .create_user_with(
                &self.admin,
                pb::CreateUserRequest {
                    username: username.into(),
                    email: Some(format!("{username}@example.com")),
                    display_name: display.into(),
                    organization_id: org.map(str::to_owned),
                    ..Default::default()
                },
            )
            .await
    }

    /// A standard user with a password, logged in: (user, session).
    async fn member(&self, username: &str) -> Result<(pb::User, String)> {
        let u = self
            .app
            .create_user(&self.admin, username, "member-password-1234")
            .await;
        let t = self.app.login(username, "member-password-1234").await;
        Ok((u, t))
    }
}

fn check_user(v: &Value, u: &pb::User, name: &str, role: &str) -> Result<()> {
    ensure!(v["object"] == "organization.user", "object of {v}");
    ensure!(v["id"] == json!(u.handle), "id of {v}");
    ensure!(v["name"] == json!(name), "name of {v}");
    ensure!(v["email"] == json!(u.email), "email of {v}");
    ensure!(v["role"] == json!(role), "role of {v}");
    ensure!(
        v["added_at"].as_i64().is_some_and(|t| t > 1_600_000_000),
        "added_at of {v}"
    );
    Ok(())
}

fn ids(list: &Value) -> Vec<String> {
    list["data"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|u| u["id"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

async fn list_users(backend: Backend) -> Result<()> {
    let env = Env::start(backend).await?;
    let ann = env.user("ann", "Ann A", None).await;
    let bob = env
        .app
        .create_user_with(
            &env.admin,
            pb::CreateUserRequest {
                username: "bob".into(),
                ..Default::default()
            },
        )
        .await;
    let me = env
        .app
        .users()
        .get_user(with_auth(
            pb::GetUserRequest {
                lookup: Some(pb::get_user_request::Lookup::Id(1)),
            },
            &env.admin,
        ))
        .await?
        .into_inner()
        .user
        .context("no user")?;

    let all = env
        .get("/v1/organization/users", &env.key)
        .await?
        .ok(StatusCode::OK)?;
    ensure!(all["object"] == "list", "{all}");
    ensure!(
        ids(&all) == [me.handle.clone(), ann.handle.clone(), bob.handle.clone()],
        "{all}"
    );
    ensure!(all["has_more"] == false, "{all}");
    ensure!(all["first_id"] == json!(me.handle), "{all}");
    ensure!(all["last_id"] == json!(bob.handle), "{all}");
    check_user(&all["data"][0], &me, "Administrator", "owner")?;
    check_user(&all["data"][1], &ann, "Ann A", "reader")?;
    // No display name: the username; no e-mail: null.
    check_user(&all["data"][2], &bob, "bob", "reader")?;
    ensure!(all["data"][2]["email"].is_null(), "{all}");

    // Pages: limit and after.
    let first = env
        .get("/v1/organization/users?limit=2", &env.key)
        .await?
        .ok(StatusCode::OK)?;
    ensure!(ids(&first) == [me.handle.clone(), ann.handle.clone()]);
    ensure!(first["has_more"] == true, "{first}");
    let last_id = first["last_id"].as_str().context("no last_id")?;
    let rest = env
        .get(
            &format!("/v1/organization/users?limit=2&after={last_id}"),
            &env.key,
        )
        .await?
        .ok(StatusCode::OK)?;
    ensure!(ids(&rest) == [bob.handle.clone()], "{rest}");
    ensure!(rest["has_more"] == false, "{rest}");
    let empty = env
        .get(
            &format!("/v1/organization/users?after={}", bob.handle),
            &env.key,
        )
        .await?
        .ok(StatusCode::OK)?;
    ensure!(
        empty["data"] == json!([]) && empty["first_id"].is_null() && empty["last_id"].is_null(),
        "{empty}"
    );

    // E-mail filters: the SDK's brackets (encoded or not) and repeated plain keys.
    for q in [
        "emails%5B%5D=ANN%40example.com",
        "emails[]=ann@example.com",
        "emails=ann@example.com&emails=nobody@example.com",
    ] {
        let v = env
            .get(&format!("/v1/organization/users?{q}"), &env.key)
            .await?
            .ok(StatusCode::OK)?;
        ensure!(ids(&v) == [ann.handle.clone()], "{q}: {v}");
    }

    // Bad parameters.
    for q in ["limit=0", "limit=101", "limit=ten", "limit=-5"] {
        env.get(&format!("/v1/organization/users?{q}"), &env.key)
            .await?
            .bad("limit")?;
    }
    let unknown = format!("user-{}", "f".repeat(32));
    for q in ["after=user_abc".to_owned(), format!("after={unknown}")] {
        env.get(&format!("/v1/organization/users?{q}"), &env.key)
            .await?
            .bad("after")?;
    }
    let many: Vec<String> = (0..101).map(|i| format!("emails[]=u{i}@x.com")).collect();
    env.get(
        &format!("/v1/organization/users?{}", many.join("&")),
        &env.key,
    )
    .await?
    .bad("emails")?;
    env.get("/v1/organization/users?limit=%ZZ", &env.key)
        .await?
        .err(StatusCode::BAD_REQUEST, Some("invalid_value"))?;
    Ok(())
}

async fn retrieve_update_delete(backend: Backend) -> Result<()> {
    let env = Env::start(backend).await?;
    let ann = env.user("ann", "Ann A", None).await;
    let path = format!("/v1/organization/users/{}", ann.handle);

    let v = env.get(&path, &env.key).await?.ok(StatusCode::OK)?;
    check_user(&v, &ann, "Ann A", "reader")?;

    // owner ↔ reader; nothing asked, nothing changed; extra fields ignored.
    let v = env
        .post(&path, &env.key, json!({"role": "owner"}))
        .await?
        .ok(StatusCode::OK)?;
    check_user(&v, &ann, "Ann A", "owner")?;
    let v = env
        .post(
            &path,
            &env.key,
            json!({"role_id": "x", "technical_level": null}),
        )
        .await?
        .ok(StatusCode::OK)?;
    check_user(&v, &ann, "Ann A", "owner")?;
    let v = env
        .post(&path, &env.key, json!({"role": "reader"}))
        .await?
        .ok(StatusCode::OK)?;
    check_user(&v, &ann, "Ann A", "reader")?;
    // An organization admin shows as owner (lossy).
    env.app
        .orgs()
        .update_member_role(with_auth(
            pb::UpdateMemberRoleRequest {
                organization_id: env.org.id.clone(),
                user_id: ann.id,
                role: pb::OrganizationRole::Admin.into(),
            },
            &env.admin,
        ))
        .await?;
    let v = env.get(&path, &env.key).await?.ok(StatusCode::OK)?;
    check_user(&v, &ann, "Ann A", "owner")?;

    // Bad roles and bodies.
    for body in [
        json!({"role": "member"}),
        json!({"role": "admin"}),
        json!({"role": 3}),
    ] {
        env.post(&path, &env.key, body).await?.bad("role")?;
    }
    env.post(&path, &env.key, json!(["owner"]))
        .await?
        .bad("body")?;
    let r = Resp::of(
        env.http
            .request(Method::POST, &path)
            .bearer_auth(&env.key)
            .header(header::CONTENT_TYPE, "application/json")
            .body("{not json"),
    )
    .await?;
    r.err(StatusCode::BAD_REQUEST, None)?;
    let big = json!({"role": "x".repeat(100_000)});
    env.post(&path, &env.key, big)
        .await?
        .err(StatusCode::PAYLOAD_TOO_LARGE, None)?;

    // Unknown and malformed ids.
    let unknown = format!("/v1/organization/users/user-{}", "0".repeat(32));
    for p in [unknown.as_str(), "/v1/organization/users/user_abc"] {
        env.get(p, &env.key)
            .await?
            .err(StatusCode::NOT_FOUND, Some("user_not_found"))?;
        env.post(p, &env.key, json!({"role": "owner"}))
            .await?
            .err(StatusCode::NOT_FOUND, Some("user_not_found"))?;
        env.delete(p, &env.key)
            .await?
            .err(StatusCode::NOT_FOUND, Some("user_not_found"))?;
    }

    // DELETE removes the membership only; the user still exists.
    let v = env.delete(&path, &env.key).await?.ok(StatusCode::OK)?;
    ensure!(
        v == json!({"object": "organization.user.deleted", "id": ann.handle, "deleted": true}),
        "{v}"
    );
    env.get(&path, &env.key)
        .await?
        .err(StatusCode::NOT_FOUND, Some("user_not_found"))?;
    env.delete(&path, &env.key)
        .await?
        .err(StatusCode::NOT_FOUND, Some("user_not_found"))?;
    let still = env
        .app
        .users()
        .get_user(with_auth(
            pb::GetUserRequest {
                lookup: Some(pb::get_user_request::Lookup::Handle(ann.handle.clone())),
            },
            &env.admin,
        ))
        .await?
        .into_inner();
    ensure!(still.user.map(|u| u.id) == Some(ann.id));

    // The last owner cannot leave or be demoted.
    let me = env
        .get("/v1/organization/users?limit=1", &env.key)
        .await?
        .ok(StatusCode::OK)?;
    let me_path = format!(
        "/v1/organization/users/{}",
        me["first_id"].as_str().context("no first id")?
    );
    env.delete(&me_path, &env.key)
        .await?
        .err(StatusCode::BAD_REQUEST, Some("last_owner"))?;
    env.post(&me_path, &env.key, json!({"role": "reader"}))
        .await?
        .err(StatusCode::BAD_REQUEST, Some("last_owner"))?;
    Ok(())
}

async fn credentials_and_organizations(backend: Backend) -> Result<()> {
    let env = Env::start(backend).await?;
    let path = "/v1/organization/users";

    // No or malformed Authorization: 401 without a code; a refused credential: invalid_api_key.
    let none = env.call(Method::GET, path, None, &[], None).await?;
    none.err(StatusCode::UNAUTHORIZED, None)?;
    let basic = env
        .call(
            Method::GET,
            path,
            None,
            &[("authorization", "Basic eDp5")],
            None,
        )
        .await?;
    basic.err(StatusCode::UNAUTHORIZED, None)?;
    env.get(path, "sk-admin-not-a-key")
        .await?
        .err(StatusCode::UNAUTHORIZED, Some("invalid_api_key"))?;

    // The administrator's session works as well (default organization).
    env.get(path, &env.admin).await?.ok(StatusCode::OK)?;

    // A reader is refused; so is a READ key of an owner.
    let (sam, sam_t) = env.member("sam").await?;
    env.get(path, &sam_t)
        .await?
        .err(StatusCode::FORBIDDEN, Some("insufficient_permissions"))?;
    let (_, read_key) = env
        .app
        .create_api_key(
            &env.admin,
            pb::CreateApiKeyRequest {
                name: "read".into(),
                role: pb::ApiKeyRole::Read.into(),
                organization_id: Some(env.org.id.clone()),
                ..Default::default()
            },
        )
        .await;
    env.get(path, &read_key)
        .await?
        .err(StatusCode::FORBIDDEN, Some("insufficient_permissions"))?;

    // Sam owns another organization and chooses it with OpenAI-Organization.
    let acme = env
        .app
        .orgs()
        .create_organization(with_auth(
            pb::CreateOrganizationRequest {
                name: "acme".into(),
            },
            &sam_t,
        ))
        .await?
        .into_inner()
        .organization
        .context("no org")?;
    let zed = env.user("zed", "", Some(&acme.id)).await;
    let in_acme = [("openai-organization", acme.handle.as_str())];
    let v = env
        .call(Method::GET, path, Some(&sam_t), &in_acme, None)
        .await?
        .ok(StatusCode::OK)?;
    ensure!(ids(&v) == [sam.handle.clone(), zed.handle.clone()], "{v}");
    check_user(&v["data"][0], &sam, "sam", "owner")?;
    // A bound key ignores the header, whatever it names.
    let nowhere = format!("org-{}", "a".repeat(32));
    for h in [nowhere.as_str(), "org_bad", acme.handle.as_str()] {
        let r = env
            .call(
                Method::GET,
                path,
                Some(&read_key),
                &[("openai-organization", h)],
                None,
            )
            .await?;
        // The READ key is bound to the default organization: the header is ignored.
        r.err(StatusCode::FORBIDDEN, Some("insufficient_permissions"))?;
    }
    // Unknown organizations (and malformed handles) for an unbound credential.
    for h in [nowhere.as_str(), "org_bad"] {
        env.call(
            Method::GET,
            path,
            Some(&sam_t),
            &[("openai-organization", h)],
            None,
        )
        .await?
        .err(StatusCode::UNAUTHORIZED, Some("no_such_organization"))?;
    }
    // A bound key ignores the header; users of other organizations are invisible.
    let zed_path = format!("/v1/organization/users/{}", zed.handle);
    env.call(Method::GET, &zed_path, Some(&env.key), &in_acme, None)
        .await?
        .err(StatusCode::NOT_FOUND, Some("user_not_found"))?;
    env.delete(&zed_path, &env.key)
        .await?
        .err(StatusCode::NOT_FOUND, Some("user_not_found"))?;
    env.call(Method::GET, &zed_path, Some(&sam_t), &in_acme, None)
        .await?
        .ok(StatusCode::OK)?;
    // Sam may not act in the default organization, where it is a reader.
    let sam_path = format!("/v1/organization/users/{}", sam.handle);
    env.post(&sam_path, &sam_t, json!({"role": "owner"}))
        .await?
        .err(StatusCode::FORBIDDEN, Some("insufficient_permissions"))?;

    // Routing: unknown /v1 paths and wrong methods, in this envelope.
    let e = env
        .get("/v1/organization/projects", &env.key)
        .await?
        .err(StatusCode::NOT_FOUND, None)?;
    ensure!(
        e["message"] == "Invalid URL (GET /v1/organization/projects)",
        "{e}"
    );
    env.call(Method::PUT, path, Some(&env.key), &[], Some(json!({})))
        .await?
        .err(StatusCode::METHOD_NOT_ALLOWED, None)?;
    Ok(())
}

fn check_key(v: &Value, name: &str, owner: &pb::User) -> Result<()> {
    ensure!(v["object"] == "organization.admin_api_key", "{v}");
    let id = v["id"].as_str().context("no id")?;
    ensure!(id.len() == 36 && id.starts_with("key_"), "id {id}");
    ensure!(v["name"] == json!(name), "{v}");
    ensure!(
        v["redacted_value"]
            .as_str()
            .is_some_and(|r| r.ends_with("...") && r.len() > 3),
        "{v}"
    );
    ensure!(
        v["created_at"].as_i64().is_some_and(|t| t > 1_600_000_000),
        "{v}"
    );
    ensure!(
        v["last_used_at"].is_null() || v["last_used_at"].is_i64(),
        "{v}"
    );
    let o = &v["owner"];
    ensure!(
        o["type"] == "user"
            && o["object"] == "organization.user"
            && o["id"] == json!(owner.handle)
            && o["name"] == json!(owner.display_name)
            && o["role"] == "owner"
            && o["created_at"].is_i64(),
        "owner of {v}"
    );
    Ok(())
}

async fn admin_api_keys(backend: Backend) -> Result<()> {
    let env = Env::start(backend).await?;
    let path = "/v1/organization/admin_api_keys";
    let me = env
        .app
        .users()
        .get_user(with_auth(
            pb::GetUserRequest {
                lookup: Some(pb::get_user_request::Lookup::Id(1)),
            },
            &env.admin,
        ))
        .await?
        .into_inner()
        .user
        .context("no user")?;

    // Create with a session; the value is shown once and works as an admin key.
    let created = env
        .post(
            path,
            &env.admin,
            json!({"name": "ci", "expires_in_seconds": 3600}),
        )
        .await?
        .ok(StatusCode::OK)?;
    check_key(&created, "ci", &me)?;
    let value = created["value"].as_str().context("no value")?.to_owned();
    let exp = created["expires_at"].as_i64().context("no expires_at")?;
    let made = created["created_at"].as_i64().context("no created_at")?;
    ensure!(
        exp - made == 3600,
        "expires exactly one hour after creation: {created}"
    );
    ensure!(
        value.starts_with(
            created["redacted_value"]
                .as_str()
                .unwrap_or("-")
                .trim_end_matches("...")
        ),
        "{created}"
    );
    env.get("/v1/organization/users", &value)
        .await?
        .ok(StatusCode::OK)?;
    let second = env
        .post(path, &value, json!({"name": "second"}))
        .await?
        .ok(StatusCode::OK)?;
    // A key never mints a longer-lived key: without an expiry of its own, the new key expires
    // with the key that created it.
    ensure!(second["expires_at"] == created["expires_at"], "{second}");
    let id1 = created["id"].as_str().context("id")?.to_owned();
    let id2 = second["id"].as_str().context("id")?.to_owned();

    // The list: the environment's own key, then the two new ones; never the value.
    let all = env.get(path, &env.key).await?.ok(StatusCode::OK)?;
    let listed = ids(&all);
    ensure!(
        listed.len() == 3 && listed[1..] == [id1.clone(), id2.clone()],
        "{all}"
    );
    ensure!(all["object"] == "list" && all["has_more"] == false, "{all}");
    ensure!(!all.to_string().contains(&value), "the value leaked: {all}");
    let desc = env
        .get(&format!("{path}?order=desc&limit=2"), &env.key)
        .await?
        .ok(StatusCode::OK)?;
    ensure!(ids(&desc) == [id2.clone(), id1.clone()], "{desc}");
    ensure!(
        desc["has_more"] == true && desc["last_id"] == json!(id1),
        "{desc}"
    );
    let after = env
        .get(&format!("{path}?order=desc&after={id1}"), &env.key)
        .await?
        .ok(StatusCode::OK)?;
    ensure!(ids(&after) == [listed[0].clone()], "{after}");
    let asc = env
        .get(&format!("{path}?limit=1&after={id1}"), &env.key)
        .await?
        .ok(StatusCode::OK)?;
    ensure!(
        ids(&asc) == [id2.clone()] && asc["has_more"] == false,
        "{asc}"
    );

    // Get and delete.
    let one = env
        .get(&format!("{path}/{id1}"), &env.key)
        .await?
        .ok(StatusCode::OK)?;
    check_key(&one, "ci", &me)?;
    ensure!(one.get("value").is_none(), "{one}");
    let v = env
        .delete(&format!("{path}/{id1}"), &env.key)
        .await?
        .ok(StatusCode::OK)?;
    ensure!(
        v == json!({"object": "organization.admin_api_key.deleted", "id": id1, "deleted": true}),
        "{v}"
    );
    env.get("/v1/organization/users", &value)
        .await?
        .err(StatusCode::UNAUTHORIZED, Some("invalid_api_key"))?;
    for p in [
        format!("{path}/{id1}"),
        format!("{path}/key_{}", "0".repeat(32)),
        format!("{path}/sk-admin-x"),
    ] {
        env.get(&p, &env.key)
            .await?
            .err(StatusCode::NOT_FOUND, Some("api_key_not_found"))?;
        env.delete(&p, &env.key)
            .await?
            .err(StatusCode::NOT_FOUND, Some("api_key_not_found"))?;
    }

    // Keys that are not admin keys of this caller are not shown: a READ key, another user's.
    let (_, read) = env
        .app
        .create_api_key(
            &env.admin,
            pb::CreateApiKeyRequest {
                name: "read".into(),
                role: pb::ApiKeyRole::Read.into(),
                organization_id: Some(env.org.id.clone()),
                ..Default::default()
            },
        )
        .await;
    let (_, sam_t) = env.member("sam").await?;
    let acme = env
        .app
        .orgs()
        .create_organization(with_auth(
            pb::CreateOrganizationRequest {
                name: "acme".into(),
            },
            &sam_t,
        ))
        .await?
        .into_inner()
        .organization
        .context("no org")?;
    let sam_key = env
        .call(
            Method::POST,
            path,
            Some(&sam_t),
            &[("openai-organization", acme.handle.as_str())],
            Some(json!({"name": "sam"})),
        )
        .await?
        .ok(StatusCode::OK)?;
    let sam_id = sam_key["id"].as_str().context("id")?;
    env.get(&format!("{path}/{sam_id}"), &env.key)
        .await?
        .err(StatusCode::NOT_FOUND, Some("api_key_not_found"))?;
    let all = env.get(path, &env.key).await?.ok(StatusCode::OK)?;
    ensure!(ids(&all).len() == 2, "{all}");
    env.get(path, &read)
        .await?
        .err(StatusCode::FORBIDDEN, Some("insufficient_permissions"))?;

    // Bad input.
    for (body, param) in [
        (json!({}), "name"),
        (json!({"name": 5}), "name"),
        (
            json!({"name": "x", "expires_in_seconds": 0}),
            "expires_in_seconds",
        ),
        (
            json!({"name": "x", "expires_in_seconds": 31_536_001}),
            "expires_in_seconds",
        ),
        (json!({"name": "x".repeat(200)}), "name"),
    ] {
        env.post(path, &env.key, body).await?.bad(param)?;
    }
    env.get(&format!("{path}?order=sideways"), &env.key)
        .await?
        .bad("order")?;
    env.get(&format!("{path}?limit=0"), &env.key)
        .await?
        .bad("limit")?;
    env.get(&format!("{path}?after=key_nope"), &env.key)
        .await?
        .bad("after")?;
    env.call(Method::GET, path, None, &[], None)
        .await?
        .err(StatusCode::UNAUTHORIZED, None)?;
    Ok(())
}

on_every_backend!(
    list_users,
    retrieve_update_delete,
    credentials_and_organizations,
    admin_api_keys,
);
