//! `identity.v1.ApiKeyService`.

use identity_api::pb::{self, api_key_service_server::ApiKeyService};
use identity_core::{
    domain::{ApiKey, Password},
    principal::Principal,
    service::{CreateApiKey, Identity, KeyRef, RollTarget},
};
use tonic::{Request, Response, Status};

use super::{OrStatus, conv, page, status::invalid};
use crate::auth::principal;

/// Implementation of ApiKeyService.
#[derive(Debug, Clone)]
pub(crate) struct ApiKeys {
    pub(crate) identity: Identity,
}

fn key_ref(r: Option<pb::ApiKeyRef>) -> Result<KeyRef, Status> {
    match r.and_then(|r| r.key) {
        Some(pb::api_key_ref::Key::Id(id)) => Ok(KeyRef::Id(id)),
        Some(pb::api_key_ref::Key::Uid(uid)) => Ok(KeyRef::Uid(uid)),
        None => Err(invalid("key", "id or uid is required")),
    }
}

impl ApiKeys {
    /// The UUID of a key's owner: the caller's own without a lookup, anyone else's from storage
    /// (left empty if the owner cannot be read).
    async fn owner_uid(&self, p: &Principal, user_id: i64) -> Option<uuid::Uuid> {
        if user_id == p.user.id {
            return Some(p.user.uid);
        }
        self.identity
            .repo()
            .user_by_id(user_id)
            .await
            .ok()
            .flatten()
            .map(|u| u.uid)
    }

    /// Metadata of one key with its owner's UUID.
    async fn project(&self, p: &Principal, k: &ApiKey) -> pb::ApiKey {
        conv::api_key(k, self.owner_uid(p, k.user_id).await)
    }
}

#[tonic::async_trait]
impl ApiKeyService for ApiKeys {
    async fn create_api_key(
        &self,
        req: Request<pb::CreateApiKeyRequest>,
    ) -> Result<Response<pb::CreateApiKeyResponse>, Status> {
        let p = principal(&req)?;
        let pb::CreateApiKeyRequest {
            user_id,
            name,
            description,
            role,
            scopes,
            organization_id,
            dataset_ids,
            organization_ids,
            expires_at,
            password,
            primary,
            request_id,
            expires_in_seconds,
        } = req.into_inner();
        let input = CreateApiKey {
            user_id,
            name,
            description,
            role: conv::parse_key_role("role", role)?,
            scopes,
            organization_id,
            dataset_ids,
            organization_ids,
            expires_at: expires_at
                .as_ref()
                .map(|t| conv::from_ts("expires_at", t))
                .transpose()?,
            expires_in: expires_in_seconds,
            password: password
                .map(|pw| Password::parse_presented(&pw).map_err(|e| invalid("password", &e)))
                .transpose()?,
            primary,
            request_id,
        };
        let (key, plaintext) = self.identity.create_api_key(&p, input).await.or_status()?;
        let api_key = self.project(&p, &key).await;
        Ok(Response::new(pb::CreateApiKeyResponse {
            api_key: Some(api_key),
            replayed: plaintext.is_empty(),
            plaintext,
        }))
    }

    async fn list_api_keys(
        &self,
        req: Request<pb::ListApiKeysRequest>,
    ) -> Result<Response<pb::ListApiKeysResponse>, Status> {
        let p = principal(&req)?;
        let pb::ListApiKeysRequest {
            user_id,
            include_revoked,
            page_size,
            page_token,
            organization_id,
        } = req.into_inner();
        let page = page(page_size, &page_token)?;
        let (keys, next) = self
            .identity
            .list_api_keys(
                &p,
                user_id,
                include_revoked,
                organization_id.as_deref(),
                page,
            )
            .await
            .or_status()?;
        // Every listed key belongs to the one owner asked for: resolve its UUID once.
        let owner = match keys.first() {
            Some(k) => self.owner_uid(&p, k.user_id).await,
            None => None,
        };
        Ok(Response::new(pb::ListApiKeysResponse {
            api_keys: keys.iter().map(|k| conv::api_key(k, owner)).collect(),
            next_page_token: next,
        }))
    }

    async fn get_api_key(
        &self,
        req: Request<pb::GetApiKeyRequest>,
    ) -> Result<Response<pb::GetApiKeyResponse>, Status> {
        let p = principal(&req)?;
        let r = key_ref(req.into_inner().key)?;
        let key = self.identity.get_api_key(&p, &r).await.or_status()?;
        Ok(Response::new(pb::GetApiKeyResponse {
            api_key: Some(self.project(&p, &key).await),
        }))
    }

    async fn revoke_api_key(
        &self,
        req: Request<pb::RevokeApiKeyRequest>,
    ) -> Result<Response<pb::RevokeApiKeyResponse>, Status> {
        let p = principal(&req)?;
        let r = key_ref(req.into_inner().key)?;
        let key = self.identity.revoke_api_key(&p, &r).await.or_status()?;
        Ok(Response::new(pb::RevokeApiKeyResponse {
            api_key: Some(self.project(&p, &key).await),
        }))
    }

    async fn roll_api_key(
        &self,
        req: Request<pb::RollApiKeyRequest>,
    ) -> Result<Response<pb::RollApiKeyResponse>, Status> {
        let p = principal(&req)?;
        let target = match req.into_inner().target {
            Some(pb::roll_api_key_request::Target::Key(r)) => RollTarget::Key(key_ref(Some(r))?),
            Some(pb::roll_api_key_request::Target::PrimaryForUserId(id)) => {
                RollTarget::PrimaryOf(id)
            }
            None => return Err(invalid("target", "key or primary_for_user_id is required")),
        };
        let (key, plaintext, revoked) =
            self.identity.roll_api_key(&p, &target).await.or_status()?;
        Ok(Response::new(pb::RollApiKeyResponse {
            api_key: Some(self.project(&p, &key).await),
            plaintext,
            revoked_key_id: revoked,
        }))
    }
}
