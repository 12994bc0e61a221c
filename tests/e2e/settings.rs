//! The embedded gateway takes its settings from the server's (it used to start with defaults and
//! ignore `IDENTITY_GATEWAY_BODY_LIMIT` / `IDENTITY_GATEWAY_DEADLINE_MS`).

use identity_testkit::{Backend, spawn_app_with};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_gateway_follows_its_body_limit() {
    let app = spawn_app_with(Backend::Sqlite, |s| s.gateway_body_limit = 1024).await;
    app.init_admin().await;
    let http = app
        .http_addr
        .unwrap_or_else(|| panic!("the test server runs the gateway"));
    let login = |password: String| async move {
        reqwest::Client::new()
            .post(format!("http://{http}/api/auth"))
            .json(&serde_json::json!({"username": "admin", "password": password}))
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST /api/auth: {e}"))
            .status()
            .as_u16()
    };
    // Under the configured 1 KiB: an ordinary wrong-password answer; over it: 413.
    assert_eq!(login("x".repeat(900)).await, 422);
    assert_eq!(login("x".repeat(2048)).await, 413);
}
