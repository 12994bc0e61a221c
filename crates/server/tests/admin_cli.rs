//! `identity-server admin …`, the real binary against a running server's database: the first
//! administrator is bootstrapped on an empty database, a user and a key created by the CLI
//! authenticate over gRPC and through the REST gateway, the listing shows them, and a revocation
//! by the CLI reaches the running server through Redis.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    io::Write as _,
    process::{Command, Output, Stdio},
    time::Duration,
};

use identity_api::pb;
use identity_testkit::{
    Backend, TestApp, purge_redis_namespace, spawn_app_with, test_redis_url, with_auth,
};
use secrecy::ExposeSecret as _;
use tonic::Code;

fn cli(app: &TestApp, namespace: &str, args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_identity-server"))
        .arg("admin")
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env(
            "IDENTITY_DATABASE_URL",
            app.settings.database_url.expose_secret(),
        )
        .env("IDENTITY_REDIS_URL", test_redis_url())
        .env("IDENTITY_CACHE_NAMESPACE", namespace)
        // Cheap hashing, as the test server uses.
        .env("IDENTITY_ARGON2_MEMORY_KIB", "8")
        .env("IDENTITY_ARGON2_ITERATIONS", "1")
        .env("IDENTITY_JWT_SECRET", app.jwt_secret())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input.as_bytes())
            .expect("writing stdin");
    }
    drop(child.stdin.take());
    child.wait_with_output().expect("the command ends")
}

/// The JSON objects printed on stdout (one per line).
fn objects(out: &Output) -> Vec<serde_json::Value> {
    assert!(
        out.status.success(),
        "admin command failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l:?}: {e}")))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_bootstraps_creates_keys_that_work_and_revokes_them() {
    let namespace = format!("identity-test-cli-{}", uuid::Uuid::new_v4().simple());
    let ns = namespace.clone();
    let app = spawn_app_with(Backend::Postgres, move |s| {
        s.redis_url = Some(test_redis_url().into());
        s.cache_namespace = ns;
        s.cache_fresh_ms = 60_000;
    })
    .await;
    let password = "cli-bootstrap-password-1";

    // No administrator yet: a standard user is refused, the first admin needs a password.
    let refused = cli(
        &app,
        &namespace,
        &["create-user", "--username", "early"],
        None,
    );
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--admin"));
    let root = objects(&cli(
        &app,
        &namespace,
        &[
            "create-user",
            "--username",
            "root",
            "--admin",
            "--password-stdin",
        ],
        Some(&format!("{password}\n")),
    ));
    assert_eq!(root[0]["global_role"], "administrator");
    assert_eq!(root[0]["id"], 1);
    // The password works over gRPC, and never shows in the output.
    let token = app.login("root", password).await;
    let root_out = cli(&app, &namespace, &["list-users"], None);
    assert!(!String::from_utf8_lossy(&root_out.stdout).contains(password));

    let alice = objects(&cli(
        &app,
        &namespace,
        &[
            "create-user",
            "--username",
            "alice",
            "--email",
            "alice@example.com",
        ],
        None,
    ));
    assert_eq!(alice[0]["global_role"], "standard");
    let created = objects(&cli(
        &app,
        &namespace,
        &["create-key", "--user", "alice", "--name", "from-cli"],
        None,
    ));
    let key = created[0]["key"].as_str().expect("the key is printed once");
    let key_id = created[0]["id"].as_i64().expect("key id");
    assert!(key.starts_with("idk_"));

    // gRPC: Authenticate with the key names alice.
    let who = app
        .auth()
        .authenticate(pb::AuthenticateRequest {
            credential: key.to_owned(),
        })
        .await
        .expect("the CLI's key authenticates over gRPC")
        .into_inner();
    assert_eq!(
        who.principal.and_then(|p| p.user).map(|u| u.username),
        Some("alice".to_owned())
    );
    // REST: the Portainer dialect's "who am I" with the key.
    let http = app.http_addr.expect("gateway");
    let me: serde_json::Value = reqwest::Client::new()
        .get(format!("http://{http}/api/users/me"))
        .header("x-api-key", key)
        .send()
        .await
        .expect("gateway answers")
        .error_for_status()
        .expect("200 for the CLI's key")
        .json()
        .await
        .expect("JSON");
    assert_eq!(me["Username"], "alice");

    // The listing shows both users and no secret.
    let listed = objects(&cli(&app, &namespace, &["list-users"], None));
    let names: Vec<_> = listed.iter().map(|u| u["username"].clone()).collect();
    assert_eq!(names, ["root", "alice"]);
    let raw =
        String::from_utf8_lossy(&cli(&app, &namespace, &["list-users"], None).stdout).into_owned();
    assert!(!raw.contains("argon2") && !raw.contains(key));

    // Revoked by the CLI: the server (whose in-process copy would live 60 s) refuses it within
    // 1 s, through the Redis invalidation.
    let revoked = objects(&cli(
        &app,
        &namespace,
        &["revoke-key", "--key", &key_id.to_string()],
        None,
    ));
    assert_eq!(revoked[0]["id"], key_id);
    let start = tokio::time::Instant::now();
    loop {
        match app
            .auth()
            .authenticate(pb::AuthenticateRequest {
                credential: key.to_owned(),
            })
            .await
        {
            Err(s) if s.code() == Code::Unauthenticated => break,
            Ok(_) => {}
            Err(s) => panic!("unexpected answer: {s:?}"),
        }
        assert!(
            start.elapsed() < Duration::from_secs(1),
            "the revoked key still works"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The admin token from the CLI-made password still works for the API.
    app.users()
        .get_user(with_auth(
            pb::GetUserRequest {
                lookup: Some(pb::get_user_request::Lookup::Id(1)),
            },
            &token,
        ))
        .await
        .expect("admin session");

    // Bad input is a clear failure, not a panic.
    let bad = cli(
        &app,
        &namespace,
        &["create-key", "--user", "nobody", "--name", "x"],
        None,
    );
    assert!(!bad.status.success());
    assert!(!String::from_utf8_lossy(&bad.stderr).contains("panicked"));
    drop(app);
    let _ = purge_redis_namespace(&namespace).await;
}
