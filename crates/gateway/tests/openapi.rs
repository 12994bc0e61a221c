//! The OpenAPI documents of the four dialects, fetched from a running gateway (the in-process
//! gateway of a real server on a fresh database):
//! - each is served at `/openapi/{dialect}.json` as OpenAPI 3.1 with resolvable references (the
//!   full OpenAPI 3.1 schema validation runs in `tests/schemathesis/run.sh` with
//!   openapi-spec-validator), and Swagger UI at `/docs` lists all four;
//! - the documents and the router agree: every documented operation is routed (probed over HTTP),
//!   every other method on a documented path is 405, and every route registered outside
//!   `utoipa_axum::routes!` (which builds routes from the same attributes as the documents) is in
//!   the explicit `identity_gateway::openapi::UNDOCUMENTED` list.

use std::collections::BTreeSet;

use anyhow::{Context as _, Result, bail, ensure};
use identity_gateway::openapi::{DIALECTS, DOCS_PATH, UNDOCUMENTED};
use identity_testkit::{Backend, spawn_app};
use reqwest::{Client, Method, StatusCode};
use serde_json::Value;

mod common;

use common::gateway_url;

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

async fn fetch(client: &Client, base: &str, dialect: &str) -> Result<Value> {
    let resp = client
        .get(format!("{base}/openapi/{dialect}.json"))
        .send()
        .await?;
    ensure!(
        resp.status() == StatusCode::OK,
        "{dialect}: {}",
        resp.status()
    );
    let ct = resp
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    ensure!(ct.starts_with("application/json"), "{dialect}: {ct}");
    Ok(resp.json().await?)
}

/// Every `$ref` in `v`.
fn refs<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                match (k.as_str(), x) {
                    ("$ref", Value::String(r)) => out.push(r),
                    _ => refs(x, out),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| refs(x, out)),
        Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_) => {}
    }
}

/// `(METHOD, path)` of every operation of a document.
fn operations(doc: &Value) -> Result<BTreeSet<(String, String)>> {
    let paths = doc["paths"].as_object().context("no paths")?;
    let mut out = BTreeSet::new();
    for (path, item) in paths {
        let item = item.as_object().context("path item")?;
        for method in item.keys().filter(|m| METHODS.contains(&m.as_str())) {
            out.insert((method.to_uppercase(), path.clone()));
        }
    }
    Ok(out)
}

#[tokio::test]
async fn each_dialect_serves_an_openapi_3_1_document_and_swagger_ui_lists_them() -> Result<()> {
    let app = spawn_app(Backend::Sqlite).await;
    let base = gateway_url(&app)?;
    let client = Client::new();
    for dialect in DIALECTS {
        let doc = fetch(&client, &base, dialect).await?;
        ensure!(doc["openapi"] == "3.1.0", "{dialect}: {}", doc["openapi"]);
        let title = doc["info"]["title"].as_str().unwrap_or("");
        ensure!(
            title.to_lowercase().contains(dialect),
            "{dialect}: title {title:?}"
        );
        // The served document is the one the code builds.
        let built = identity_gateway::openapi::document(dialect).context("no document")?;
        ensure!(doc == serde_json::to_value(&built)?, "{dialect}: differs");

        let ops = operations(&doc)?;
        ensure!(!ops.is_empty(), "{dialect}: no operations");
        let mut ids = BTreeSet::new();
        let schemes = doc["components"]["securitySchemes"]
            .as_object()
            .context("no security schemes")?;
        ensure!(!schemes.is_empty(), "{dialect}: no security schemes");
        for (method, path) in &ops {
            let op = &doc["paths"][path][method.to_lowercase()];
            let id = op["operationId"].as_str().unwrap_or("");
            ensure!(
                !id.is_empty() && ids.insert(id.to_owned()),
                "{dialect} {method} {path}: missing or duplicate operationId {id:?}"
            );
            let responses = op["responses"].as_object().context("no responses")?;
            ensure!(
                responses.keys().any(|s| s.starts_with('2')),
                "{dialect} {method} {path}: no success response"
            );
            ensure!(
                responses.keys().any(|s| s.starts_with('4')),
                "{dialect} {method} {path}: no error response"
            );
            for req in op["security"].as_array().into_iter().flatten() {
                for name in req.as_object().into_iter().flat_map(|o| o.keys()) {
                    ensure!(
                        schemes.contains_key(name),
                        "{dialect} {method} {path}: unknown scheme {name}"
                    );
                }
            }
        }
        // Every reference resolves inside the document.
        let mut found = Vec::new();
        refs(&doc, &mut found);
        ensure!(!found.is_empty(), "{dialect}: no component schemas used");
        for r in found {
            let pointer = r
                .strip_prefix('#')
                .with_context(|| format!("{dialect}: external ref {r}"))?;
            ensure!(
                doc.pointer(pointer).is_some(),
                "{dialect}: dangling ref {r}"
            );
        }
    }

    // Swagger UI, offline (vendored), with the four documents.
    let resp = client.get(format!("{base}{DOCS_PATH}/")).send().await?;
    ensure!(resp.status() == StatusCode::OK, "/docs/: {}", resp.status());
    ensure!(
        resp.text().await?.contains("swagger-ui"),
        "/docs/ is not Swagger UI"
    );
    let init = client
        .get(format!("{base}{DOCS_PATH}/swagger-initializer.js"))
        .send()
        .await?
        .text()
        .await?;
    for dialect in DIALECTS {
        ensure!(
            init.contains(&format!("/openapi/{dialect}.json")),
            "Swagger UI does not list {dialect}: {init}"
        );
    }
    Ok(())
}

/// Whether an answer came from a route rather than from "no such route" (the gateway's fallback
/// `{"message":"Not Found"}` or OpenAI's `Invalid URL` catch-all).
fn routed(status: StatusCode, body: &str) -> bool {
    let unrouted_404 = status == StatusCode::NOT_FOUND
        && (body.trim() == r#"{"message":"Not Found"}"# || body.contains("Invalid URL"));
    status != StatusCode::METHOD_NOT_ALLOWED && !unrouted_404
}

/// A concrete path for a template: every `{param}` becomes `1`.
fn concrete(template: &str) -> String {
    let mut out = String::new();
    let mut in_param = false;
    for c in template.chars() {
        match c {
            '{' => {
                in_param = true;
                out.push('1');
            }
            '}' => in_param = false,
            _ if in_param => {}
            _ => out.push(c),
        }
    }
    out
}

fn undocumented(method: &str, path: &str) -> bool {
    UNDOCUMENTED
        .iter()
        .any(|&(m, p, _)| p == path && (m == "*" || m.eq_ignore_ascii_case(method)))
}

/// `(method, path)` of every `.route("path", m(...).n(...))` call in the dialect sources and
/// `standard.rs`: routes
/// registered outside `utoipa_axum::routes!`, hence not documented by construction. (The
/// `/openapi/*.json` and `/docs` routes of `openapi.rs` describe the API and are not part of it.)
fn explicit_routes() -> Result<Vec<(String, String)>> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/dialects");
    // The standard (non-product) endpoints are undocumented routes too.
    let mut files = vec![std::path::PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/src/standard/mod.rs"
    ))];
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            for f in std::fs::read_dir(&path)? {
                files.push(f?.path());
            }
        } else {
            files.push(path);
        }
    }
    let mut out = Vec::new();
    for file in files
        .iter()
        .filter(|f| f.extension().is_some_and(|e| e == "rs"))
    {
        let src = std::fs::read_to_string(file)?;
        let mut rest = src.as_str();
        while let Some(i) = rest.find(".route(") {
            rest = &rest[i + ".route(".len()..];
            // The call's arguments: up to the parenthesis that closes `.route(`.
            let mut depth = 1_usize;
            let call_end = rest
                .char_indices()
                .find(|&(_, c)| {
                    match c {
                        '(' => depth += 1,
                        ')' => depth -= 1,
                        _ => {}
                    }
                    depth == 0
                })
                .map_or(rest.len(), |(i, _)| i);
            let call = &rest[..call_end];
            let path = call
                .split('"')
                .nth(1)
                .with_context(|| format!("{}: unparsed .route({call}", file.display()))?;
            let after = &call[call.find(path).unwrap_or(0) + path.len()..];
            let mut methods = Vec::new();
            for m in ["get", "post", "put", "patch", "delete", "any"] {
                if after.contains(&format!("{m}(")) {
                    methods.push(if m == "any" {
                        "*".to_owned()
                    } else {
                        m.to_uppercase()
                    });
                }
            }
            if methods.is_empty() {
                bail!("{}: no method in .route({call}", file.display());
            }
            for m in methods {
                out.push((m, path.to_owned()));
            }
        }
    }
    Ok(out)
}

#[tokio::test]
async fn documents_describe_exactly_the_routes_the_gateway_serves() -> Result<()> {
    // Routes registered outside `routes!` must be the explicit, commented exceptions.
    let explicit = explicit_routes()?;
    ensure!(
        !explicit.is_empty(),
        "the source scan found no .route( call at all"
    );
    for (m, p) in &explicit {
        ensure!(
            undocumented(m, p),
            "{m} {p} is served but neither documented nor listed in UNDOCUMENTED"
        );
    }
    for &(m, p, _) in UNDOCUMENTED {
        ensure!(
            explicit.iter().any(|(em, ep)| em == m && ep == p),
            "UNDOCUMENTED lists {m} {p}, which no .route( call serves"
        );
    }

    let app = spawn_app(Backend::Sqlite).await;
    let base = gateway_url(&app)?;
    let client = Client::new();

    // The probe tells routed from unrouted answers.
    let probe = |method: Method, path: String| {
        let client = client.clone();
        let url = format!("{base}{path}");
        async move {
            let resp = client
                .request(method, url)
                .header("content-type", "application/json")
                .body("{}")
                .send()
                .await?;
            let status = resp.status();
            let body = resp.text().await?;
            anyhow::Ok((status, body))
        }
    };
    let (s, b) = probe(Method::GET, "/api/no-such-route".into()).await?;
    ensure!(
        !routed(s, &b),
        "the probe takes the fallback for a route: {s} {b}"
    );
    let (s, b) = probe(Method::GET, "/v1/no-such-route".into()).await?;
    ensure!(
        !routed(s, &b),
        "the probe takes OpenAI's Invalid URL for a route: {s} {b}"
    );

    let mut documented = BTreeSet::new();
    for dialect in DIALECTS {
        let doc = fetch(&client, &base, dialect).await?;
        for op in operations(&doc)? {
            ensure!(
                documented.insert(op.clone()),
                "{} {} is documented twice",
                op.0,
                op.1
            );
        }
    }
    let paths: BTreeSet<&String> = documented.iter().map(|(_, p)| p).collect();
    for path in paths {
        for method in METHODS {
            let m = method.to_uppercase();
            let (status, body) = probe(Method::from_bytes(m.as_bytes())?, concrete(path)).await?;
            if documented.contains(&(m.clone(), path.clone())) {
                ensure!(
                    routed(status, &body),
                    "{m} {path} is documented but not served: {status} {body}"
                );
            } else if !undocumented(&m, path) {
                ensure!(
                    status == StatusCode::METHOD_NOT_ALLOWED,
                    "{m} {path} is served ({status} {body}) but not documented"
                );
            }
        }
    }
    Ok(())
}
