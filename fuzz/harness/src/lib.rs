//! Fuzz targets of the identity service. Each takes arbitrary bytes and panics on a finding;
//! `fuzz_targets/*.rs` (cargo-fuzz) and `src/bin/fuzz-stable.rs` (stable Rust) call them.

use std::{net::SocketAddr, sync::OnceLock, time::Duration};

use identity_api::pb::{self, auth_service_server::AuthService};
use tower::ServiceExt as _;

// === key parsing ===

/// API key parsing: never panics; whatever parses has the digest of its text and survives a
/// round trip; a generated key always parses.
pub fn key_parse(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Some(parsed) = identity_core::keys::parse(&text) {
        assert_eq!(parsed.digest(), identity_core::keys::digest(&text));
        // A parsed key is our format: one character changed must not parse with the same digest.
        let mut bytes = text.as_bytes().to_vec();
        if let Some(b) = bytes.get_mut(data.len() % text.len().max(1)) {
            *b = if *b == b'a' { b'b' } else { b'a' };
        }
        if let Ok(changed) = String::from_utf8(bytes)
            && changed != text
            && let Some(p) = identity_core::keys::parse(&changed)
        {
            assert_ne!(p.digest(), parsed.digest());
        }
    }
    if data.first() == Some(&0) {
        let generated = identity_core::keys::generate();
        assert!(identity_core::keys::parse(&generated.plaintext).is_some());
    }
}

// === proto decoding ===

fn roundtrip<M: prost::Message + Default + PartialEq + std::fmt::Debug>(data: &[u8]) {
    if let Ok(m) = M::decode(data) {
        let again = M::decode(m.encode_to_vec().as_slice());
        assert_eq!(
            again.as_ref().ok(),
            Some(&m),
            "re-encoding changed the message"
        );
    }
}

/// prost decoding of every request message of `identity.v1` (the first byte picks one):
/// never panics, and whatever decodes re-encodes to the same message.
pub fn proto_decode(data: &[u8]) {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    match which % 29 {
        0 => roundtrip::<pb::LoginRequest>(rest),
        1 => roundtrip::<pb::AuthenticateRequest>(rest),
        2 => roundtrip::<pb::WhoAmIRequest>(rest),
        3 => roundtrip::<pb::GetSetupStateRequest>(rest),
        4 => roundtrip::<pb::InitAdminRequest>(rest),
        5 => roundtrip::<pb::CreateUserRequest>(rest),
        6 => roundtrip::<pb::GetUserRequest>(rest),
        7 => roundtrip::<pb::ListUsersRequest>(rest),
        8 => roundtrip::<pb::UpdateUserRequest>(rest),
        9 => roundtrip::<pb::DeleteUserRequest>(rest),
        10 => roundtrip::<pb::ChangePasswordRequest>(rest),
        11 => roundtrip::<pb::CreateApiKeyRequest>(rest),
        12 => roundtrip::<pb::ListApiKeysRequest>(rest),
        13 => roundtrip::<pb::GetApiKeyRequest>(rest),
        14 => roundtrip::<pb::RevokeApiKeyRequest>(rest),
        15 => roundtrip::<pb::RollApiKeyRequest>(rest),
        16 => roundtrip::<pb::CreateOrganizationRequest>(rest),
        17 => roundtrip::<pb::GetOrganizationRequest>(rest),
        18 => roundtrip::<pb::AddMemberRequest>(rest),
        19 => roundtrip::<pb::UpdateMemberRoleRequest>(rest),
        20 => roundtrip::<pb::RemoveMemberRequest>(rest),
        21 => roundtrip::<pb::GetMemberRequest>(rest),
        22 => roundtrip::<pb::ListMembersRequest>(rest),
        23 => roundtrip::<pb::ListUserOrganizationsRequest>(rest),
        24 => roundtrip::<pb::CreateTeamRequest>(rest),
        25 => roundtrip::<pb::ListTeamsRequest>(rest),
        26 => roundtrip::<pb::AddTeamMemberRequest>(rest),
        27 => roundtrip::<pb::RemoveTeamMemberRequest>(rest),
        _ => roundtrip::<pb::ListUserTeamMembershipsRequest>(rest),
    }
}

// === dialect request decoding ===

/// Every route of every dialect: method and path template.
pub const ROUTES: &[(&str, &str)] = &[
    ("POST", "/api/auth"),
    ("GET", "/api/users"),
    ("POST", "/api/users"),
    ("GET", "/api/users/me"),
    ("GET", "/api/users/admin/check"),
    ("POST", "/api/users/admin/init"),
    ("GET", "/api/users/{}"),
    ("PUT", "/api/users/{}"),
    ("DELETE", "/api/users/{}"),
    ("PUT", "/api/users/{}/passwd"),
    ("GET", "/api/users/{}/memberships"),
    ("GET", "/api/users/{}/tokens"),
    ("POST", "/api/users/{}/tokens"),
    ("DELETE", "/api/users/1/tokens/{}"),
    ("PUT", "/api/user"),
    ("GET", "/api/user/api_key"),
    ("POST", "/api/user/api_key"),
    ("DELETE", "/api/user/api_key/{}"),
    ("GET", "/api/auth/me"),
    ("POST", "/api/organization"),
    ("GET", "/api/organization/users/{}"),
    ("GET", "/api/organization/api_key"),
    ("POST", "/api/organization/api_key"),
    ("DELETE", "/api/organization/api_key/{}"),
    ("GET", "/api/v1/users"),
    ("POST", "/api/v1/users"),
    ("GET", "/api/v1/users/{}"),
    ("PATCH", "/api/v1/users/{}"),
    ("DELETE", "/api/v1/users/{}"),
    ("POST", "/api/v1/users/{}/roll-api-key"),
    ("GET", "/v1/organization/users"),
    ("GET", "/v1/organization/users/{}"),
    ("POST", "/v1/organization/users/{}"),
    ("DELETE", "/v1/organization/users/{}"),
    ("GET", "/v1/organization/admin_api_keys"),
    ("POST", "/v1/organization/admin_api_keys"),
    ("GET", "/v1/organization/admin_api_keys/{}"),
    ("DELETE", "/v1/organization/admin_api_keys/{}"),
];

const ORG: &str = "0b9e6c5e-8f7a-4d2b-9c1e-3f4a5b6c7d8e";

/// A stand-in identity server: WhoAmI says "an administrator, owner of one organization", so
/// the dialects get past authentication to their body and query decoding; every other RPC is
/// UNIMPLEMENTED (which each dialect must turn into its own error envelope).
#[derive(Debug, Clone, Copy)]
struct FakeAuth;

fn principal() -> pb::Principal {
    pb::Principal {
        user: Some(pb::User {
            id: 1,
            uid: "7d0c2f5e-1b2a-4c3d-8e9f-0a1b2c3d4e5f".to_owned(),
            handle: "user-7d0c2f5e1b2a4c3d8e9f0a1b2c3d4e5f".to_owned(),
            username: "admin".to_owned(),
            global_role: pb::GlobalRole::Administrator as i32,
            ..Default::default()
        }),
        credential_kind: pb::CredentialKind::Session as i32,
        is_admin: true,
        memberships: vec![pb::PrincipalMembership {
            organization_id: ORG.to_owned(),
            role: pb::OrganizationRole::Owner as i32,
            effective_role: pb::OrganizationRole::Owner as i32,
        }],
        ..Default::default()
    }
}

#[tonic::async_trait]
impl AuthService for FakeAuth {
    async fn login(
        &self,
        _: tonic::Request<pb::LoginRequest>,
    ) -> Result<tonic::Response<pb::LoginResponse>, tonic::Status> {
        Err(tonic::Status::unauthenticated("invalid credentials"))
    }
    async fn authenticate(
        &self,
        _: tonic::Request<pb::AuthenticateRequest>,
    ) -> Result<tonic::Response<pb::AuthenticateResponse>, tonic::Status> {
        Ok(tonic::Response::new(pb::AuthenticateResponse {
            principal: Some(principal()),
        }))
    }
    async fn who_am_i(
        &self,
        _: tonic::Request<pb::WhoAmIRequest>,
    ) -> Result<tonic::Response<pb::WhoAmIResponse>, tonic::Status> {
        Ok(tonic::Response::new(pb::WhoAmIResponse {
            principal: Some(principal()),
        }))
    }
    async fn get_setup_state(
        &self,
        _: tonic::Request<pb::GetSetupStateRequest>,
    ) -> Result<tonic::Response<pb::GetSetupStateResponse>, tonic::Status> {
        Ok(tonic::Response::new(pb::GetSetupStateResponse {
            admin_exists: true,
            default_organization: None,
        }))
    }
    async fn init_admin(
        &self,
        _: tonic::Request<pb::InitAdminRequest>,
    ) -> Result<tonic::Response<pb::InitAdminResponse>, tonic::Status> {
        Err(tonic::Status::already_exists("already initialised"))
    }
}

struct Harness {
    rt: tokio::runtime::Runtime,
    router: axum::Router,
}

fn harness() -> &'static Harness {
    static H: OnceLock<Harness> = OnceLock::new();
    H.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("runtime: {e}"));
        let router = rt.block_on(async {
            let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
                .await
                .unwrap_or_else(|e| panic!("bind: {e}"));
            let addr = listener
                .local_addr()
                .unwrap_or_else(|e| panic!("addr: {e}"));
            let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
            tokio::spawn(
                tonic::transport::Server::builder()
                    .add_service(pb::auth_service_server::AuthServiceServer::new(FakeAuth))
                    .serve_with_incoming(incoming),
            );
            let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
                .unwrap_or_else(|e| panic!("endpoint: {e}"))
                .connect_lazy();
            identity_gateway::router(
                channel,
                identity_gateway::GatewayConfig {
                    upstream_deadline: Duration::from_secs(5),
                    ..identity_gateway::GatewayConfig::default()
                },
            )
        });
        Harness { rt, router }
    })
}

/// Split `data` into up to `n` parts at 0xFF bytes.
fn parts(data: &[u8], n: usize) -> Vec<&[u8]> {
    let mut out: Vec<&[u8]> = data.splitn(n, |b| *b == 0xFF).collect();
    out.resize(n, &[]);
    out
}

/// One HTTP request to the gateway built from `data`: a route (first byte), a credential form
/// (second byte), then a path parameter, a query string and a body separated by 0xFF. The
/// gateway must not panic, must answer within the deadline, and every 4xx must be a JSON
/// object (each dialect's error envelope).
pub fn dialect_requests(data: &[u8]) {
    let [route, cred, rest @ ..] = data else {
        return;
    };
    let (method, template) = ROUTES[usize::from(*route) % ROUTES.len()];
    let p = parts(rest, 3);
    let param: String = String::from_utf8_lossy(p[0])
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && !"/?#%".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let param = if param.is_empty() {
        "1".to_owned()
    } else {
        param
    };
    let query = String::from_utf8_lossy(p[1]);
    let mut uri = template.replace("{}", &param);
    if !query.is_empty() {
        uri.push('?');
        uri.push_str(&query);
    }
    let Ok(uri) = uri.parse::<http::Uri>() else {
        return;
    };
    let mut req = http::Request::builder().method(method).uri(uri);
    req = match cred % 5 {
        0 => req,
        1 => req.header("authorization", "Bearer eyJhbGciOiJIUzI1NiJ9.e30.sig"),
        2 => req.header("x-api-key", "idk_fuzz"),
        3 => req
            .header("authorization", "idk_fuzz")
            .header("TR-Organization", ORG),
        _ => req
            .header("authorization", "Bearer idk_fuzz")
            .header("content-type", "application/json"),
    };
    let Ok(req) = req.body(axum::body::Body::from(p[2].to_vec())) else {
        return;
    };
    let h = harness();
    let router = h.router.clone();
    let (status, body) = h.rt.block_on(async move {
        let resp = tokio::time::timeout(Duration::from_secs(10), router.oneshot(req))
            .await
            .unwrap_or_else(|_| panic!("the gateway did not answer in 10 s"))
            .unwrap_or_else(|e| match e {});
        let status = resp.status();
        let body = http_body_util::BodyExt::collect(resp.into_body())
            .await
            .map(|c| c.to_bytes())
            .unwrap_or_default();
        (status, body)
    });
    if status.is_client_error() {
        let v: Result<serde_json::Value, _> = serde_json::from_slice(&body);
        assert!(
            v.as_ref().is_ok_and(serde_json::Value::is_object),
            "{method} {template}: {status} with a body that is not a JSON object: {:?}",
            String::from_utf8_lossy(&body)
        );
    }
}
