//! One module per product dialect. Each serves its product's native paths and owns its headers,
//! JSON shapes, statuses and error envelope; all of them share the upstream clients.
//!
//! Dispatch is by path only (dialects.md §5): Portainer owns `/api/users…` and `/api/auth`;
//! Trieve (`/api/user…`), Tyk (`/api/v1/users…`) and OpenAI (`/v1/organization/…`) will add
//! their own routers next to it.

use axum::{Json, http::StatusCode, response::IntoResponse};

pub mod openai;
pub mod portainer;
pub mod trieve;
pub mod tyk;

/// Answer for paths no dialect serves. `{"message"}` is valid in both the Portainer and the
/// Trieve envelope, the dialects whose paths share the `/api` prefix.
pub(crate) async fn not_found() -> impl IntoResponse {
    (
        StatusCode::NOT_FOUND,
        Json(serde_json::json!({ "message": "Not Found" })),
    )
}
