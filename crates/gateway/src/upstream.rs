//! The identity server, as the dialects call it: typed RPCs with the caller's credential as
//! metadata and a deadline on every call.

use std::{
    future::Future,
    time::{Duration, Instant},
};

use identity_api::pb::{
    self, api_key_service_client::ApiKeyServiceClient, auth_service_client::AuthServiceClient,
    organization_service_client::OrganizationServiceClient, team_service_client::TeamServiceClient,
    user_service_client::UserServiceClient,
};
use tonic::{Code, metadata::MetadataValue};

use crate::Transport;
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

use crate::{credential::Credential, status::UpstreamError};

/// Result of an upstream call.
pub(crate) type UpstreamResult<T> = Result<T, UpstreamError>;

/// Clients of every service the dialects use, over one shared transport.
#[derive(Debug, Clone)]
pub(crate) struct Upstream {
    users: UserServiceClient<Transport>,
    auth: AuthServiceClient<Transport>,
    keys: ApiKeyServiceClient<Transport>,
    teams: TeamServiceClient<Transport>,
    orgs: OrganizationServiceClient<Transport>,
    health: HealthClient<Transport>,
    deadline: Duration,
}

impl Upstream {
    /// Clients over `channel`; every call gets `deadline`.
    pub(crate) fn new(channel: Transport, deadline: Duration) -> Self {
        Self {
            users: UserServiceClient::new(channel.clone()),
            auth: AuthServiceClient::new(channel.clone()),
            keys: ApiKeyServiceClient::new(channel.clone()),
            teams: TeamServiceClient::new(channel.clone()),
            orgs: OrganizationServiceClient::new(channel.clone()),
            health: HealthClient::new(channel),
            deadline,
        }
    }

    /// Build the request: deadline header and credential metadata.
    fn request<T>(
        &self,
        message: T,
        credential: Option<&Credential>,
    ) -> UpstreamResult<tonic::Request<T>> {
        let mut req = tonic::Request::new(message);
        req.set_timeout(self.deadline);
        if let Some(id) = crate::observe::current_request_id() {
            req.metadata_mut()
                .insert(identity_telemetry::REQUEST_ID_HEADER, id);
        }
        // A credential that cannot be sent as metadata (e.g. non-ASCII bytes) cannot be valid.
        let malformed = || UpstreamError::new(Code::Unauthenticated, "malformed credential");
        match credential {
            Some(Credential::Bearer(token)) => {
                let value =
                    MetadataValue::try_from(format!("Bearer {token}")).map_err(|_| malformed())?;
                req.metadata_mut().insert("authorization", value);
            }
            Some(Credential::ApiKey(key)) => {
                let value = MetadataValue::try_from(key.as_str()).map_err(|_| malformed())?;
                req.metadata_mut().insert("x-api-key", value);
            }
            None => {}
        }
        Ok(req)
    }

    /// Run one call under the deadline. The server also gets the deadline (`grpc-timeout`), but
    /// a server that does not answer at all is cut off here.
    async fn call<R>(
        &self,
        fut: impl Future<Output = Result<tonic::Response<R>, tonic::Status>>,
    ) -> UpstreamResult<R> {
        let started = Instant::now();
        let timed_out = || {
            UpstreamError::new(
                Code::DeadlineExceeded,
                "the identity service did not answer in time",
            )
        };
        let e = match tokio::time::timeout(self.deadline, fut).await {
            Ok(Ok(resp)) => return Ok(resp.into_inner()),
            // tonic's own client-side timer (from `set_timeout`) reports an expired deadline as
            // CANCELLED; the caller did not cancel anything.
            Ok(Err(status))
                if status.code() == Code::Cancelled && started.elapsed() >= self.deadline =>
            {
                timed_out()
            }
            Ok(Err(status)) => UpstreamError::from(status),
            Err(_) => timed_out(),
        };
        e.log();
        Err(e)
    }

    /// Whether the server reports `service` SERVING, asked with `deadline`. The error is a
    /// short reason fit for a probe's response body.
    pub(crate) async fn readiness(
        &self,
        service: &str,
        deadline: Duration,
    ) -> Result<(), &'static str> {
        let mut req = tonic::Request::new(HealthCheckRequest {
            service: service.to_owned(),
        });
        req.set_timeout(deadline);
        if let Some(id) = crate::observe::current_request_id() {
            req.metadata_mut()
                .insert(identity_telemetry::REQUEST_ID_HEADER, id);
        }
        let mut c = self.health.clone();
        match tokio::time::timeout(deadline, c.check(req)).await {
            Ok(Ok(resp)) if resp.get_ref().status == ServingStatus::Serving as i32 => Ok(()),
            Ok(Ok(_)) => Err("the identity service is not serving"),
            Ok(Err(_)) => Err("the identity service cannot be reached"),
            Err(_) => Err("the identity service did not answer in time"),
        }
    }

    // === AuthService ===

    /// Login, telling the server which client it is for (its per-source protections): as a
    /// [`crate::ClientAddr`] extension for an in-process server, as `x-forwarded-for` for a
    /// server over the network (believed there only when this gateway is a trusted proxy).
    pub(crate) async fn login(
        &self,
        msg: pb::LoginRequest,
        client: Option<std::net::IpAddr>,
    ) -> UpstreamResult<pb::LoginResponse> {
        let mut req = self.request(msg, None)?;
        if let Some(ip) = client {
            req.extensions_mut().insert(crate::ClientAddr(ip));
            if let Ok(v) = MetadataValue::try_from(ip.to_string()) {
                req.metadata_mut().insert("x-forwarded-for", v);
            }
        }
        let mut c = self.auth.clone();
        self.call(c.login(req)).await
    }

    pub(crate) async fn who_am_i(&self, cred: &Credential) -> UpstreamResult<pb::Principal> {
        let req = self.request(pb::WhoAmIRequest {}, Some(cred))?;
        let mut c = self.auth.clone();
        let resp = self.call(c.who_am_i(req)).await?;
        resp.principal
            .ok_or_else(|| missing("WhoAmIResponse.principal"))
    }

    pub(crate) async fn setup_state(&self) -> UpstreamResult<pb::GetSetupStateResponse> {
        let req = self.request(pb::GetSetupStateRequest {}, None)?;
        let mut c = self.auth.clone();
        self.call(c.get_setup_state(req)).await
    }

    pub(crate) async fn exchange_api_key(
        &self,
        msg: pb::ExchangeApiKeyRequest,
    ) -> UpstreamResult<pb::ExchangeApiKeyResponse> {
        let req = self.request(msg, None)?;
        let mut c = self.auth.clone();
        self.call(c.exchange_api_key(req)).await
    }

    pub(crate) async fn jwks(&self) -> UpstreamResult<pb::GetJwksResponse> {
        let req = self.request(pb::GetJwksRequest {}, None)?;
        let mut c = self.auth.clone();
        self.call(c.get_jwks(req)).await
    }

    pub(crate) async fn init_admin(&self, msg: pb::InitAdminRequest) -> UpstreamResult<pb::User> {
        let req = self.request(msg, None)?;
        let mut c = self.auth.clone();
        let resp = self.call(c.init_admin(req)).await?;
        resp.user.ok_or_else(|| missing("InitAdminResponse.user"))
    }

    // === UserService ===

    pub(crate) async fn create_user(
        &self,
        cred: &Credential,
        msg: pb::CreateUserRequest,
    ) -> UpstreamResult<pb::User> {
        let req = self.request(msg, Some(cred))?;
        let mut c = self.users.clone();
        let resp = self
            .call(c.create_user(req))
            .await
            .map_err(crate::idempotency::reworded)?;
        resp.user.ok_or_else(|| missing("CreateUserResponse.user"))
    }

    pub(crate) async fn get_user(&self, cred: &Credential, id: i64) -> UpstreamResult<pb::User> {
        let msg = pb::GetUserRequest {
            lookup: Some(pb::get_user_request::Lookup::Id(id)),
        };
        let req = self.request(msg, Some(cred))?;
        let mut c = self.users.clone();
        let resp = self.call(c.get_user(req)).await?;
        resp.user.ok_or_else(|| missing("GetUserResponse.user"))
    }

    pub(crate) async fn list_users(
        &self,
        cred: &Credential,
        msg: pb::ListUsersRequest,
    ) -> UpstreamResult<pb::ListUsersResponse> {
        let req = self.request(msg, Some(cred))?;
        let mut c = self.users.clone();
        self.call(c.list_users(req)).await
    }

    pub(crate) async fn update_user(
        &self,
        cred: &Credential,
        msg: pb::UpdateUserRequest,
    ) -> UpstreamResult<pb::User> {
        let req = self.request(msg, Some(cred))?;
        let mut c = self.users.clone();
        let resp = self.call(c.update_user(req)).await?;
        resp.user.ok_or_else(|| missing("UpdateUserResponse.user"))
    }

    pub(crate) async fn delete_user(&self, cred: &Credential, user_id: i64) -> UpstreamResult<()> {
        let req = self.request(pb::DeleteUserRequest { user_id }, Some(cred))?;
        let mut c = self.users.clone();
        self.call(c.delete_user(req)).await.map(|_| ())
    }

    pub(crate) async fn change_password(
        &self,
        cred: &Credential,
        msg: pb::ChangePasswordRequest,
    ) -> UpstreamResult<Option<pb::User>> {
        let req = self.request(msg, Some(cred))?;
        let mut c = self.users.clone();
        self.call(c.change_password(req)).await.map(|r| r.user)
    }

    // === ApiKeyService ===

    pub(crate) async fn create_api_key(
        &self,
        cred: &Credential,
        msg: pb::CreateApiKeyRequest,
    ) -> UpstreamResult<pb::CreateApiKeyResponse> {
        let req = self.request(msg, Some(cred))?;
        let mut c = self.keys.clone();
        let resp = self
            .call(c.create_api_key(req))
            .await
            .map_err(crate::idempotency::reworded)?;
        // A replayed creation has no secret to show: every dialect answers it as a conflict.
        if resp.replayed {
            let name = resp.api_key.as_ref().map_or("", |k| k.name.as_str());
            return Err(crate::idempotency::key_replayed(name));
        }
        Ok(resp)
    }

    pub(crate) async fn list_api_keys(
        &self,
        cred: &Credential,
        msg: pb::ListApiKeysRequest,
    ) -> UpstreamResult<pb::ListApiKeysResponse> {
        let req = self.request(msg, Some(cred))?;
        let mut c = self.keys.clone();
        self.call(c.list_api_keys(req)).await
    }

    pub(crate) async fn get_api_key(
        &self,
        cred: &Credential,
        id: i64,
    ) -> UpstreamResult<pb::ApiKey> {
        let msg = pb::GetApiKeyRequest {
            key: Some(pb::ApiKeyRef {
                key: Some(pb::api_key_ref::Key::Id(id)),
            }),
        };
        let req = self.request(msg, Some(cred))?;
        let mut c = self.keys.clone();
        let resp = self.call(c.get_api_key(req)).await?;
        resp.api_key
            .ok_or_else(|| missing("GetApiKeyResponse.api_key"))
    }

    pub(crate) async fn revoke_api_key(&self, cred: &Credential, id: i64) -> UpstreamResult<()> {
        let msg = pb::RevokeApiKeyRequest {
            key: Some(pb::ApiKeyRef {
                key: Some(pb::api_key_ref::Key::Id(id)),
            }),
        };
        let req = self.request(msg, Some(cred))?;
        let mut c = self.keys.clone();
        self.call(c.revoke_api_key(req)).await.map(|_| ())
    }

    pub(crate) async fn get_api_key_by_uid(
        &self,
        cred: &Credential,
        uid: String,
    ) -> UpstreamResult<pb::ApiKey> {
        let msg = pb::GetApiKeyRequest {
            key: Some(pb::ApiKeyRef {
                key: Some(pb::api_key_ref::Key::Uid(uid)),
            }),
        };
        let req = self.request(msg, Some(cred))?;
        let mut c = self.keys.clone();
        let resp = self.call(c.get_api_key(req)).await?;
        resp.api_key
            .ok_or_else(|| missing("GetApiKeyResponse.api_key"))
    }

    pub(crate) async fn revoke_api_key_by_uid(
        &self,
        cred: &Credential,
        uid: String,
    ) -> UpstreamResult<()> {
        let msg = pb::RevokeApiKeyRequest {
            key: Some(pb::ApiKeyRef {
                key: Some(pb::api_key_ref::Key::Uid(uid)),
            }),
        };
        let req = self.request(msg, Some(cred))?;
        let mut c = self.keys.clone();
        self.call(c.revoke_api_key(req)).await.map(|_| ())
    }

    /// RollApiKey: revoke the user's primary key (if any) and create a new one.
    pub(crate) async fn roll_primary_api_key(
        &self,
        cred: &Credential,
        user_id: i64,
    ) -> UpstreamResult<pb::RollApiKeyResponse> {
        let msg = pb::RollApiKeyRequest {
            target: Some(pb::roll_api_key_request::Target::PrimaryForUserId(user_id)),
        };
        let req = self.request(msg, Some(cred))?;
        let mut c = self.keys.clone();
        self.call(c.roll_api_key(req)).await
    }

    // === OrganizationService ===

    pub(crate) async fn create_organization(
        &self,
        cred: &Credential,
        name: String,
    ) -> UpstreamResult<pb::Organization> {
        let req = self.request(pb::CreateOrganizationRequest { name }, Some(cred))?;
        let mut c = self.orgs.clone();
        let resp = self.call(c.create_organization(req)).await?;
        resp.organization
            .ok_or_else(|| missing("CreateOrganizationResponse.organization"))
    }

    pub(crate) async fn get_organization(
        &self,
        cred: &Credential,
        id: String,
    ) -> UpstreamResult<pb::Organization> {
        let msg = pb::GetOrganizationRequest {
            organization: Some(pb::OrganizationRef {
                org: Some(pb::organization_ref::Org::Id(id)),
            }),
        };
        let req = self.request(msg, Some(cred))?;
        let mut c = self.orgs.clone();
        let resp = self.call(c.get_organization(req)).await?;
        resp.organization
            .ok_or_else(|| missing("GetOrganizationResponse.organization"))
    }

    pub(crate) async fn list_members(
        &self,
        cred: &Credential,
        msg: pb::ListMembersRequest,
    ) -> UpstreamResult<pb::ListMembersResponse> {
        let req = self.request(msg, Some(cred))?;
        let mut c = self.orgs.clone();
        self.call(c.list_members(req)).await
    }

    /// The caller's organizations.
    pub(crate) async fn list_user_organizations(
        &self,
        cred: &Credential,
    ) -> UpstreamResult<Vec<pb::UserOrganization>> {
        let msg = pb::ListUserOrganizationsRequest { user_id: None };
        let req = self.request(msg, Some(cred))?;
        let mut c = self.orgs.clone();
        self.call(c.list_user_organizations(req))
            .await
            .map(|r| r.organizations)
    }

    pub(crate) async fn update_member_role(
        &self,
        cred: &Credential,
        msg: pb::UpdateMemberRoleRequest,
    ) -> UpstreamResult<pb::Member> {
        let req = self.request(msg, Some(cred))?;
        let mut c = self.orgs.clone();
        let resp = self.call(c.update_member_role(req)).await?;
        resp.member
            .ok_or_else(|| missing("UpdateMemberRoleResponse.member"))
    }

    /// GetOrganization with any reference (UUID, handle or the default organization).
    pub(crate) async fn get_organization_by(
        &self,
        cred: &Credential,
        org: pb::organization_ref::Org,
    ) -> UpstreamResult<pb::Organization> {
        let msg = pb::GetOrganizationRequest {
            organization: Some(pb::OrganizationRef { org: Some(org) }),
        };
        let req = self.request(msg, Some(cred))?;
        let mut c = self.orgs.clone();
        let resp = self.call(c.get_organization(req)).await?;
        resp.organization
            .ok_or_else(|| missing("GetOrganizationResponse.organization"))
    }

    pub(crate) async fn remove_member(
        &self,
        cred: &Credential,
        msg: pb::RemoveMemberRequest,
    ) -> UpstreamResult<()> {
        let req = self.request(msg, Some(cred))?;
        let mut c = self.orgs.clone();
        self.call(c.remove_member(req)).await.map(|_| ())
    }

    // === TeamService ===

    pub(crate) async fn user_team_memberships(
        &self,
        cred: &Credential,
        user_id: i64,
    ) -> UpstreamResult<Vec<pb::TeamMembership>> {
        let msg = pb::ListUserTeamMembershipsRequest {
            user_id: Some(user_id),
        };
        let req = self.request(msg, Some(cred))?;
        let mut c = self.teams.clone();
        self.call(c.list_user_team_memberships(req))
            .await
            .map(|r| r.memberships)
    }
}

/// A response without a field the contract promises: a server bug, reported as INTERNAL.
fn missing(field: &str) -> UpstreamError {
    let e = UpstreamError::new(
        Code::Internal,
        format!("the identity service sent no {field}"),
    );
    e.log();
    e
}
