//! The HTTP harness the gateway's test binaries share (each includes it with `mod common;`):
//! the macros that run a scenario on Postgres and on SQLite, a response read whole, a client for a
//! gateway, the administrator with an OWNER key of the default organization, and a router whose
//! upstream is closed. What a dialect sends and how it answers stays in its own file.
//!
//! A test binary uses only part of it: the items some binary does not use allow `dead_code`.

use std::time::Duration;

use anyhow::{Context as _, Result, ensure};
use axum::Router;
use http_body_util::BodyExt as _;
use identity_api::pb;
use identity_gateway::{GatewayConfig, router};
use identity_testkit::TestApp;
use reqwest::{Client, Method, RequestBuilder, StatusCode, header};
use serde_json::Value;
use tonic::transport::Endpoint;

/// `both!(scenario, …)`: each `async fn scenario(Backend) -> anyhow::Result<()>` as the tests
/// `scenario::postgres` and `scenario::sqlite`, on a multi-threaded runtime with two workers.
#[allow(unused_macros)]
macro_rules! both {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() -> anyhow::Result<()> {
                super::$name(identity_testkit::Backend::Postgres).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() -> anyhow::Result<()> {
                super::$name(identity_testkit::Backend::Sqlite).await
            }
        }
    )+};
}

/// `on_every_backend!(scenario, …)`: each `async fn scenario(Backend) -> anyhow::Result<()>` as
/// the tests `postgres::scenario` and `sqlite::scenario`, on tokio's default test runtime.
#[allow(unused_macros)]
macro_rules! on_every_backend {
    ($($name:ident),* $(,)?) => {
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() -> anyhow::Result<()> {
                    super::$name(identity_testkit::Backend::Postgres).await
                }
            )*
        }
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() -> anyhow::Result<()> {
                    super::$name(identity_testkit::Backend::Sqlite).await
                }
            )*
        }
    };
}

/// A response, read whole.
#[allow(dead_code)]
#[derive(Debug)]
pub(crate) struct Resp {
    pub(crate) status: StatusCode,
    pub(crate) headers: header::HeaderMap,
    /// The body.
    pub(crate) text: String,
}

#[allow(dead_code)]
impl Resp {
    /// Send `req` and read the response.
    pub(crate) async fn of(req: RequestBuilder) -> Result<Self> {
        let resp = req.send().await?;
        Ok(Self {
            status: resp.status(),
            headers: resp.headers().clone(),
            text: resp.text().await?,
        })
    }

    /// Read the response of a router driven with `oneshot`.
    pub(crate) async fn of_router(resp: axum::response::Response) -> Result<Self> {
        let (parts, body) = resp.into_parts();
        let bytes = body.collect().await?.to_bytes();
        Ok(Self {
            status: parts.status,
            headers: parts.headers,
            text: String::from_utf8(bytes.to_vec())?,
        })
    }

    /// The body as JSON.
    pub(crate) fn json(&self) -> Result<Value> {
        serde_json::from_str(&self.text)
            .with_context(|| format!("not JSON ({}): {:?}", self.status, self.text))
    }

    /// The value of the header `name`, when it is text.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Fails unless the response has `status`.
    pub(crate) fn status_is(&self, status: StatusCode) -> Result<()> {
        ensure!(
            self.status == status,
            "expected {status}, got {}: {}",
            self.status,
            self.text
        );
        Ok(())
    }

    /// The JSON body of a response that must have `status` (204: empty body, `null`).
    pub(crate) fn ok(&self, status: StatusCode) -> Result<Value> {
        self.status_is(status)?;
        if status == StatusCode::NO_CONTENT {
            ensure!(self.text.is_empty(), "204 with a body: {}", self.text);
            return Ok(Value::Null);
        }
        self.json()
    }

    /// The JSON body of an error, which must come as `application/json`.
    pub(crate) fn error_json(&self) -> Result<Value> {
        let ct = self.header(header::CONTENT_TYPE.as_str()).unwrap_or("");
        ensure!(ct == "application/json", "error content type {ct:?}");
        self.json()
    }
}

/// `http://<addr>` of the in-process gateway of `app`.
#[allow(dead_code)]
pub(crate) fn gateway_url(app: &TestApp) -> Result<String> {
    let addr = app.http_addr.context("the test server runs no gateway")?;
    Ok(format!("http://{addr}"))
}

/// An HTTP client for one gateway.
#[allow(dead_code)]
#[derive(Debug)]
pub(crate) struct Http {
    /// `http://<addr>`, and a path prefix where a dialect has one.
    pub(crate) base: String,
    /// The client, for requests `request` cannot build.
    pub(crate) client: Client,
}

#[allow(dead_code)]
impl Http {
    /// A client for the gateway at `base`, with a 30 s timeout per request.
    pub(crate) fn new(base: String) -> Result<Self> {
        Ok(Self {
            base,
            client: Client::builder().timeout(Duration::from_secs(30)).build()?,
        })
    }

    /// A client for the in-process gateway of `app`.
    pub(crate) fn to(app: &TestApp) -> Result<Self> {
        Self::new(gateway_url(app)?)
    }

    /// The URL of `path` (which may carry a query).
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A request for `path`.
    pub(crate) fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.client.request(method, self.url(path))
    }
}

/// The administrator (user 1, owner of the default organization), the default organization and
/// an OWNER key of the administrator bound to it.
#[allow(dead_code)]
#[derive(Debug)]
pub(crate) struct Owner {
    /// The administrator's session token.
    pub(crate) admin: String,
    /// The default organization.
    pub(crate) org: pb::Organization,
    /// The key's plaintext.
    pub(crate) key: String,
}

#[allow(dead_code)]
impl Owner {
    /// InitAdmin on `app`, then the key, named `key_name`.
    pub(crate) async fn init(app: &TestApp, key_name: &str) -> Self {
        let admin = app.init_admin().await;
        let org = app.default_organization(&admin).await;
        let (_, key) = app
            .create_api_key(
                &admin,
                pb::CreateApiKeyRequest {
                    name: key_name.into(),
                    role: pb::ApiKeyRole::Owner.into(),
                    organization_id: Some(org.id.clone()),
                    ..Default::default()
                },
            )
            .await;
        Self { admin, org, key }
    }
}

/// A router built with `config` whose upstream is a port nobody listens on.
#[allow(dead_code)]
pub(crate) fn closed_router(config: GatewayConfig) -> Result<Router> {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0")?;
        l.local_addr()?.port()
    };
    let channel = Endpoint::from_shared(format!("http://127.0.0.1:{port}"))?.connect_lazy();
    Ok(router(channel, config))
}
