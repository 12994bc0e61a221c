//! `identity.v1.AuthService`.

use identity_api::pb::{self, auth_service_server::AuthService};
use identity_core::{Error, service::Identity};
use tonic::{Request, Response, Status};

use super::{OrStatus, conv};
use crate::auth::principal;

/// Count a failed login by a bounded reason (`identity_login_failures_total`).
fn count_login_failure(e: &Error) {
    let reason = match e {
        Error::Unauthenticated(_) => "bad_credentials",
        Error::InvalidArgument(_) => "invalid_argument",
        Error::ResourceExhausted { .. } => "rate_limited",
        Error::Unavailable(_) => "unavailable",
        Error::NotFound { .. }
        | Error::AlreadyExists { .. }
        | Error::PermissionDenied(_)
        | Error::FailedPrecondition(_)
        | Error::Internal(_) => "other",
    };
    metrics::counter!(identity_telemetry::LOGIN_FAILURES, "reason" => reason).increment(1);
}

/// Implementation of AuthService.
#[derive(Debug, Clone)]
pub(crate) struct Auth {
    pub(crate) identity: Identity,
    pub(crate) limiter: crate::login_limit::LoginLimiter,
}

#[tonic::async_trait]
impl AuthService for Auth {
    async fn login(
        &self,
        req: Request<pb::LoginRequest>,
    ) -> Result<Response<pb::LoginResponse>, Status> {
        let forwarded = req
            .metadata()
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok());
        let source = self
            .limiter
            .source(req.remote_addr().map(|a| a.ip()), forwarded);
        self.limiter.check(source).await.or_status()?;
        let pb::LoginRequest {
            identifier,
            password,
        } = req.into_inner();
        let out = self
            .identity
            .login(&identifier, &password, source)
            .await
            .inspect_err(count_login_failure)
            .or_status()?;
        Ok(Response::new(pb::LoginResponse {
            session_token: out.token,
            expires_at: Some(conv::ts(out.expires_at)),
            user: Some(conv::user(&out.user)),
            force_change_password: out.force_change_password,
        }))
    }

    async fn authenticate(
        &self,
        req: Request<pb::AuthenticateRequest>,
    ) -> Result<Response<pb::AuthenticateResponse>, Status> {
        let credential = req.into_inner().credential;
        let p = self.identity.authenticate(&credential).await.or_status()?;
        let memberships = self.identity.memberships_of(&p).await.or_status()?;
        Ok(Response::new(pb::AuthenticateResponse {
            principal: Some(conv::principal(&p, &memberships)),
        }))
    }

    async fn who_am_i(
        &self,
        req: Request<pb::WhoAmIRequest>,
    ) -> Result<Response<pb::WhoAmIResponse>, Status> {
        let p = principal(&req)?;
        let memberships = self.identity.memberships_of(&p).await.or_status()?;
        Ok(Response::new(pb::WhoAmIResponse {
            principal: Some(conv::principal(&p, &memberships)),
        }))
    }

    async fn get_setup_state(
        &self,
        _req: Request<pb::GetSetupStateRequest>,
    ) -> Result<Response<pb::GetSetupStateResponse>, Status> {
        let s = self.identity.setup_state().await.or_status()?;
        Ok(Response::new(pb::GetSetupStateResponse {
            admin_exists: s.admin_exists,
            default_organization: s.default_organization.as_ref().map(conv::organization),
        }))
    }

    async fn init_admin(
        &self,
        req: Request<pb::InitAdminRequest>,
    ) -> Result<Response<pb::InitAdminResponse>, Status> {
        let pb::InitAdminRequest {
            username,
            password,
            email,
            display_name,
            organization_name,
        } = req.into_inner();
        let (user, org) = self
            .identity
            .init_admin(
                &username,
                &password,
                email.as_deref(),
                &display_name,
                &organization_name,
            )
            .await
            .or_status()?;
        Ok(Response::new(pb::InitAdminResponse {
            user: Some(conv::user(&user)),
            organization: Some(conv::organization(&org)),
        }))
    }

    async fn get_jwks(
        &self,
        _req: Request<pb::GetJwksRequest>,
    ) -> Result<Response<pb::GetJwksResponse>, Status> {
        let keys = self
            .identity
            .jwks()
            .into_iter()
            .map(|k| pb::Jwk {
                kty: k.kty,
                crv: k.crv,
                x: k.x,
                y: k.y,
                kid: k.kid,
                alg: k.alg,
                r#use: "sig".to_owned(),
            })
            .collect();
        Ok(Response::new(pb::GetJwksResponse { keys }))
    }

    async fn exchange_api_key(
        &self,
        req: Request<pb::ExchangeApiKeyRequest>,
    ) -> Result<Response<pb::ExchangeApiKeyResponse>, Status> {
        let pb::ExchangeApiKeyRequest {
            api_key,
            ttl_seconds,
            scopes,
        } = req.into_inner();
        let t = self
            .identity
            .exchange_api_key(&api_key, ttl_seconds, &scopes)
            .await
            .or_status()?;
        Ok(Response::new(pb::ExchangeApiKeyResponse {
            access_token: t.token,
            expires_at: Some(conv::ts(t.expires_at)),
            expires_in: t.expires_in,
            scopes: t.scopes,
            organization_id: t.organization_id.map(|o| o.to_string()).unwrap_or_default(),
        }))
    }
}
