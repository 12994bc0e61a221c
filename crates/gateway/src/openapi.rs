//! OpenAPI 3.1 documents, one per dialect, and an offline Swagger UI.
//!
//! Every documented handler carries `#[utoipa::path]`; each dialect registers its handlers with
//! `utoipa_axum::routes!`, so the router a dialect serves and its document are built from the same
//! attributes. This module holds what the handlers' attributes refer to but the dialects do not
//! otherwise need: each document's info and security schemes, the request-body shapes (the
//! dialects read bodies leniently from JSON values, as their products do) and the error envelopes.
//!
//! Served at `GET /openapi/{portainer,trieve,tyk,openai}.json`; Swagger UI at `/docs` lists all
//! four. Both are public and static: they describe the API, never any data.

use axum::Router;
use utoipa::openapi::{
    ComponentsBuilder, InfoBuilder, OpenApi, OpenApiBuilder,
    security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme},
};
use utoipa_swagger_ui::{SwaggerUi, Url};

use crate::{AppState, dialects};

/// Path of the Swagger UI.
pub const DOCS_PATH: &str = "/docs";

/// The dialects, by the name used in `/openapi/{name}.json`.
pub const DIALECTS: [&str; 4] = ["portainer", "trieve", "tyk", "openai"];

/// Where each dialect's document is served.
const DOCUMENT_PATHS: [(&str, &str); 4] = [
    ("portainer", "/openapi/portainer.json"),
    ("trieve", "/openapi/trieve.json"),
    ("tyk", "/openapi/tyk.json"),
    ("openai", "/openapi/openai.json"),
];

/// Routes a dialect serves on purpose without documenting them, as `(method, path, why)`.
pub const UNDOCUMENTED: &[(&str, &str, &str)] = &[
    (
        "GET",
        "/.well-known/jwks.json",
        "RFC 7517 JWK Set of the session-token keys: a standard, not a product's API",
    ),
    (
        "POST",
        "/oauth/token",
        "RFC 6749 §4.4 client-credentials grant (an API key as the client secret): a standard",
    ),
    (
        "PUT",
        "/api/users/me",
        "Portainer: `/api/users/{id}` with the non-numeric id `me` (its documented 400)",
    ),
    (
        "DELETE",
        "/api/users/me",
        "Portainer: `/api/users/{id}` with the non-numeric id `me` (its documented 400)",
    ),
    (
        "*",
        "/v1",
        "OpenAI: the `Invalid URL` 404 of every path the dialect does not serve",
    ),
    (
        "*",
        "/v1/{*rest}",
        "OpenAI: the `Invalid URL` 404 of every path the dialect does not serve",
    ),
];

/// The document of `dialect` (one of [`DIALECTS`]).
pub fn document(dialect: &str) -> Option<OpenApi> {
    Some(match dialect {
        "portainer" => dialects::portainer::api().into_openapi(),
        "trieve" => dialects::trieve::api().into_openapi(),
        "tyk" => dialects::tyk::api().into_openapi(),
        "openai" => dialects::openai::api().into_openapi(),
        _ => return None,
    })
}

/// `GET /openapi/{dialect}.json` for every dialect, and the Swagger UI at [`DOCS_PATH`].
pub(crate) fn routes() -> Router<AppState> {
    let urls = DOCUMENT_PATHS
        .iter()
        .filter_map(|&(name, path)| Some((Url::new(name, path), document(name)?)))
        .collect();
    SwaggerUi::new(DOCS_PATH).urls(urls).into()
}

/// A document's skeleton: OpenAPI 3.1, its info and security schemes.
fn base(
    title: &str,
    description: &str,
    schemes: impl IntoIterator<Item = (&'static str, SecurityScheme)>,
) -> OpenApi {
    let mut components = ComponentsBuilder::new();
    for (name, scheme) in schemes {
        components = components.security_scheme(name, scheme);
    }
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title(title)
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(description))
                .build(),
        )
        .components(Some(components.build()))
        .build()
}

fn bearer(format: Option<&str>, description: &str) -> SecurityScheme {
    let mut http = HttpBuilder::new().scheme(HttpAuthScheme::Bearer);
    if let Some(f) = format {
        http = http.bearer_format(f);
    }
    SecurityScheme::Http(http.description(Some(description)).build())
}

fn header_key(name: &str, description: &str) -> SecurityScheme {
    SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
        name,
        description,
    )))
}

/// Portainer CE users and login (dialects.md §1).
pub(crate) mod portainer {
    use serde::Deserialize;
    use utoipa::{ToSchema, openapi::OpenApi};

    /// The document's skeleton.
    pub(crate) fn base() -> OpenApi {
        super::base(
            "Identity service: Portainer dialect",
            "Portainer CE's UsersApi and login on their native paths. Request bodies are read \
             like Go's decoder: keys match case-insensitively, unknown keys are ignored, a value \
             of the wrong JSON type is 400.",
            [
                (
                    "jwt",
                    super::bearer(
                        Some("JWT"),
                        "A session JWT from `POST /api/auth` (`Bearer ` optional; also the \
                         `portainer_api_key` cookie or `?token=`).",
                    ),
                ),
                (
                    "ApiKeyAuth",
                    super::header_key(
                        "X-API-KEY",
                        "A Portainer API key (also `?x-api-key=`); never together with an \
                         `Authorization` header.",
                    ),
                ),
            ],
        )
    }

    /// Portainer's error envelope (`pkg/libhttp/error`); empty fields are left out.
    #[derive(Debug, Deserialize, ToSchema)]
    #[allow(dead_code)]
    pub(crate) struct ErrorBody {
        /// What failed.
        #[serde(default)]
        message: String,
        /// Why, capitalised.
        #[serde(default)]
        details: String,
    }

    /// `auth.authenticatePayload`.
    #[derive(Debug, Deserialize, ToSchema)]
    #[allow(dead_code)]
    pub(crate) struct AuthenticatePayload {
        /// Username (required, non-empty).
        username: String,
        /// Password (required, non-empty).
        password: String,
    }

    /// `users.adminInitPayload`.
    #[derive(Debug, Deserialize, ToSchema)]
    #[allow(dead_code)]
    pub(crate) struct AdminInitPayload {
        /// Username without whitespace.
        username: String,
        /// Password meeting the strength rules.
        password: String,
    }

    /// `users.userCreatePayload`.
    #[derive(Debug, Deserialize, ToSchema)]
    #[allow(dead_code)]
    pub(crate) struct UserCreatePayload {
        /// Username without whitespace; stored lower-cased.
        username: String,
        /// Password meeting the strength rules.
        password: String,
        /// 1 = administrator, 2 = standard user.
        #[schema(minimum = 1, maximum = 2)]
        role: i64,
    }

    /// `users.themePayload`.
    #[derive(Debug, Deserialize, ToSchema)]
    #[allow(dead_code)]
    pub(crate) struct ThemePayload {
        /// `dark`, `light`, `highcontrast`, `auto` or `""`.
        color: Option<String>,
    }

    /// `users.userUpdatePayload`: every field optional; `""`, role 0 or absent mean unchanged.
    #[derive(Debug, Deserialize, ToSchema)]
    #[serde(rename_all = "camelCase")]
    #[allow(dead_code)]
    pub(crate) struct UserUpdatePayload {
        /// A new username (administrators).
        username: Option<String>,
        /// The current password (required with `newPassword` unless the caller is an
        /// administrator).
        password: Option<String>,
        /// A new password.
        new_password: Option<String>,
        /// 1 = administrator, 2 = standard user, 0 = unchanged.
        #[schema(minimum = 0, maximum = 2)]
        role: Option<i64>,
        /// The UI's cache flag.
        use_cache: Option<bool>,
        /// The UI theme.
        theme: Option<ThemePayload>,
    }

    /// `users.userUpdatePasswordPayload`.
    #[derive(Debug, Deserialize, ToSchema)]
    #[serde(rename_all = "camelCase")]
    #[allow(dead_code)]
    pub(crate) struct UserUpdatePasswordPayload {
        /// The current password.
        password: String,
        /// The new password.
        new_password: String,
    }

    /// `users.userAccessTokenCreatePayload`.
    #[derive(Debug, Deserialize, ToSchema)]
    #[allow(dead_code)]
    pub(crate) struct UserAccessTokenCreatePayload {
        /// Not blank, at most 128 bytes.
        description: String,
        /// The caller's password.
        password: String,
    }

    /// The server-side failures every route of this dialect can answer.
    #[derive(utoipa::IntoResponses)]
    #[allow(dead_code)]
    pub(crate) enum ServerErrors {
        /// 500.
        #[response(status = 500, description = "Internal error")]
        Internal(ErrorBody),
        /// 503.
        #[response(status = 503, description = "Identity service unavailable")]
        Unavailable(ErrorBody),
        /// 504.
        #[response(status = 504, description = "Identity service timed out")]
        Timeout(ErrorBody),
    }

    /// The refusals of a route that needs a credential.
    #[derive(utoipa::IntoResponses)]
    #[allow(dead_code)]
    pub(crate) enum AuthErrors {
        /// 401.
        #[response(status = 401, description = "No credential, or one the server refused")]
        Unauthorized(ErrorBody),
        /// 403.
        #[response(status = 403, description = "Access denied")]
        Forbidden(ErrorBody),
    }
}

/// Trieve's user, organization and key routes (dialects.md §2).
pub(crate) mod trieve {
    use utoipa::{ToSchema, openapi::OpenApi};

    /// The document's skeleton.
    pub(crate) fn base() -> OpenApi {
        super::base(
            "Identity service: Trieve dialect",
            "Trieve's user, organization and API-key routes (both API generations) on their \
             native paths. The credential is checked first; `TR-Organization` must be a UUID \
             naming an organization the credential may use.",
            [(
                "ApiKey",
                super::header_key(
                    "Authorization",
                    "An API key or a session token, raw (`Bearer ` optional); also `x-api-key`.",
                ),
            )],
        )
    }

    /// Trieve's error envelope.
    #[derive(Debug, ToSchema)]
    #[allow(dead_code)]
    pub(crate) struct ErrorBody {
        /// What failed.
        message: String,
    }

    /// The error answers every route of this dialect documents, in its own envelope.
    #[derive(utoipa::IntoResponses)]
    #[allow(dead_code)]
    pub(crate) enum CommonErrors {
        /// 400.
        #[response(
            status = 400,
            description = "Bad input: JSON, UUIDs, roles, TR-Organization, Trieve's role rules"
        )]
        BadRequest(ErrorBody),
        /// 401.
        #[response(status = 401, description = "No credential, or one the server refused")]
        Unauthorized(ErrorBody),
        /// 403.
        #[response(
            status = 403,
            description = "The organization is not one the credential may use, or the server refused"
        )]
        Forbidden(ErrorBody),
        /// 404.
        #[response(status = 404, description = "Not found")]
        NotFound(ErrorBody),
        /// 429.
        #[response(status = 429, description = "Rate limited")]
        RateLimited(ErrorBody),
        /// 500.
        #[response(status = 500, description = "Internal error")]
        Internal(ErrorBody),
        /// 503.
        #[response(status = 503, description = "Identity service unavailable")]
        Unavailable(ErrorBody),
        /// 504.
        #[response(status = 504, description = "Identity service timed out")]
        Timeout(ErrorBody),
    }
}

/// Tyk AI Studio's users (dialects.md §3).
pub(crate) mod tyk {
    use serde::Serialize;
    use utoipa::{ToSchema, openapi::OpenApi};

    use crate::dialects::tyk::model::UserResponse;

    /// The document's skeleton.
    pub(crate) fn base() -> OpenApi {
        let mut doc = super::base(
            "Identity service: Tyk AI Studio dialect",
            "Tyk AI Studio's `/api/v1/users` routes on their native paths; every route is for \
             administrators.",
            [(
                "BearerAuth",
                super::bearer(
                    None,
                    "`Authorization: <word> <key>` (exactly two parts; `Bearer` is one such \
                     word) or `?token=`: an API key of a user with a verified e-mail, or a \
                     session token.",
                ),
            )],
        );
        // Referenced only from `CommonErrors` (an `IntoResponses` type, whose body schemas
        // utoipa does not collect): registered here so that every `$ref` resolves.
        let schemas = utoipa::openapi::ComponentsBuilder::new()
            .schema_from::<AuthErrorBody>()
            .schema_from::<AnyErrorBody>()
            .build()
            .schemas;
        doc.components
            .get_or_insert_with(Default::default)
            .schemas
            .extend(schemas);
        doc
    }

    /// `{"data": UserResponse}`.
    #[derive(Debug, ToSchema)]
    #[allow(dead_code)]
    pub(crate) struct UserData {
        data: UserResponse,
    }

    /// `{"data": [UserResponse]}`.
    #[derive(Debug, ToSchema)]
    #[allow(dead_code)]
    pub(crate) struct UserList {
        data: Vec<UserResponse>,
    }

    /// One handler error.
    #[derive(Debug, Serialize, ToSchema)]
    pub(crate) struct ErrorItem {
        /// The HTTP status text.
        title: String,
        /// What went wrong.
        detail: String,
    }

    /// The handlers' error envelope.
    #[derive(Debug, Serialize, ToSchema)]
    pub(crate) struct ErrorBody {
        errors: Vec<ErrorItem>,
    }

    /// The auth middleware's envelope: `Unauthorized` or `Forbidden`.
    #[derive(Debug, Serialize, ToSchema)]
    pub(crate) struct AuthErrorBody {
        error: String,
    }

    /// A 403 comes from the middleware (not an administrator) or from a handler.
    #[derive(Debug, Serialize, ToSchema)]
    #[serde(untagged)]
    #[allow(dead_code)]
    pub(crate) enum AnyErrorBody {
        /// From a handler.
        Handler(ErrorBody),
        /// From the auth middleware.
        Auth(AuthErrorBody),
    }

    /// The error answers every route of this dialect documents, in its own envelope.
    #[derive(utoipa::IntoResponses)]
    #[allow(dead_code)]
    pub(crate) enum CommonErrors {
        /// 401.
        #[response(
            status = 401,
            description = "No, malformed or refused credential, or an API key of an unverified user"
        )]
        Unauthorized(AuthErrorBody),
        /// 403.
        #[response(
            status = 403,
            description = "Not an administrator, or a refused change"
        )]
        Forbidden(AnyErrorBody),
        /// 409.
        #[response(status = 409, description = "Conflict")]
        Conflict(ErrorBody),
        /// 429.
        #[response(status = 429, description = "Rate limited")]
        RateLimited(ErrorBody),
        /// 500.
        #[response(status = 500, description = "Internal error")]
        Internal(ErrorBody),
        /// 503.
        #[response(status = 503, description = "Identity service unavailable")]
        Unavailable(ErrorBody),
        /// 504.
        #[response(status = 504, description = "Identity service timed out")]
        Timeout(ErrorBody),
    }
}

/// OpenAI's Administration API: organization users and admin API keys (dialects.md §4).
pub(crate) mod openai {
    use serde::Deserialize;
    use utoipa::{ToSchema, openapi::OpenApi};

    /// The document's skeleton.
    pub(crate) fn base() -> OpenApi {
        super::base(
            "Identity service: OpenAI Administration API dialect",
            "OpenAI's organization users and admin API keys on their native paths. Every other \
             `/v1` path answers 404 `Invalid URL` in the same envelope (not listed here).",
            [(
                "ApiKeyAuth",
                super::bearer(
                    None,
                    "`Authorization: Bearer <admin key>` (an organization-bound owner key) or \
                     another credential with owner rights in the organization.",
                ),
            )],
        )
    }

    /// The error object; every key is always present.
    #[derive(Debug, ToSchema)]
    #[allow(dead_code)]
    pub(crate) struct ErrorObject {
        /// What failed.
        message: String,
        /// `invalid_request_error` (4xx), `requests` (429) or `server_error` (5xx).
        #[schema(rename = "type")]
        kind: String,
        /// The parameter at fault.
        #[schema(required = true)]
        param: Option<String>,
        /// A machine-readable code.
        #[schema(required = true)]
        code: Option<String>,
    }

    /// OpenAI's error envelope.
    #[derive(Debug, ToSchema)]
    #[allow(dead_code)]
    pub(crate) struct ErrorBody {
        error: ErrorObject,
    }

    /// `POST /v1/organization/users/{user_id}`.
    #[derive(Debug, Deserialize, ToSchema)]
    #[allow(dead_code)]
    pub(crate) struct UserRoleUpdateRequest {
        /// `owner` or `reader`; absent or `null` changes nothing.
        role: Option<Role>,
    }

    /// An organization role.
    #[derive(Debug, Deserialize, ToSchema)]
    #[serde(rename_all = "lowercase")]
    #[allow(dead_code)]
    pub(crate) enum Role {
        /// Owner (also shown for admins).
        Owner,
        /// Reader (a member).
        Reader,
    }

    /// `POST /v1/organization/admin_api_keys`.
    #[derive(Debug, Deserialize, ToSchema)]
    #[allow(dead_code)]
    pub(crate) struct AdminApiKeyCreateRequest {
        /// Not empty.
        #[schema(min_length = 1)]
        name: String,
        /// Lifetime in seconds, 1 to 31536000.
        #[schema(minimum = 1, maximum = 31_536_000)]
        expires_in_seconds: Option<i64>,
    }

    /// The error answers every route of this dialect documents, in its own envelope.
    #[derive(utoipa::IntoResponses)]
    #[allow(dead_code)]
    pub(crate) enum CommonErrors {
        /// 401.
        #[response(
            status = 401,
            description = "No, or a refused, credential; unknown OpenAI-Organization"
        )]
        Unauthorized(ErrorBody),
        /// 403.
        #[response(status = 403, description = "No owner rights in the organization")]
        Forbidden(ErrorBody),
        /// 409.
        #[response(status = 409, description = "Conflict")]
        Conflict(ErrorBody),
        /// 429.
        #[response(status = 429, description = "Rate limited (Retry-After)")]
        RateLimited(ErrorBody),
        /// 500.
        #[response(status = 500, description = "Internal error")]
        Internal(ErrorBody),
        /// 503.
        #[response(status = 503, description = "Identity service unavailable")]
        Unavailable(ErrorBody),
        /// 504.
        #[response(status = 504, description = "Identity service timed out")]
        Timeout(ErrorBody),
    }
}
