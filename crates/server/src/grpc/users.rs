//! `identity.v1.UserService`.

use identity_api::pb::{self, user_service_server::UserService};
use identity_core::{
    domain::{UserOrder, UserOrderField},
    service::{CreateUser, Identity, ListUsers, UpdateUser, UserLookup},
};
use tonic::{Request, Response, Status};

use super::{OrStatus, conv, page, status::invalid};
use crate::auth::principal;

/// Implementation of UserService.
#[derive(Debug, Clone)]
pub(crate) struct Users {
    pub(crate) identity: Identity,
}

#[tonic::async_trait]
impl UserService for Users {
    async fn create_user(
        &self,
        req: Request<pb::CreateUserRequest>,
    ) -> Result<Response<pb::CreateUserResponse>, Status> {
        let p = principal(&req)?;
        let pb::CreateUserRequest {
            username,
            email,
            display_name,
            password,
            global_role,
            email_verified,
            preferences,
            organization_id,
            organization_role,
            request_id,
        } = req.into_inner();
        let input = CreateUser {
            username,
            email,
            display_name,
            password,
            global_role: conv::parse_global_role("global_role", global_role)?,
            email_verified,
            preferences: conv::parse_preferences(preferences),
            organization_id,
            organization_role: conv::parse_org_role("organization_role", organization_role)?,
            request_id,
        };
        let user = self.identity.create_user(&p, input).await.or_status()?;
        Ok(Response::new(pb::CreateUserResponse {
            user: Some(conv::user(&user)),
        }))
    }

    async fn get_user(
        &self,
        req: Request<pb::GetUserRequest>,
    ) -> Result<Response<pb::GetUserResponse>, Status> {
        let p = principal(&req)?;
        let lookup = match req.into_inner().lookup {
            Some(pb::get_user_request::Lookup::Id(id)) => UserLookup::Id(id),
            Some(pb::get_user_request::Lookup::Uid(s)) => UserLookup::Uid(s),
            Some(pb::get_user_request::Lookup::Handle(s)) => UserLookup::Handle(s),
            Some(pb::get_user_request::Lookup::Username(s)) => UserLookup::Username(s),
            None => {
                return Err(invalid(
                    "lookup",
                    "one of id, uid, handle or username is required",
                ));
            }
        };
        let user = self.identity.get_user(&p, &lookup).await.or_status()?;
        Ok(Response::new(pb::GetUserResponse {
            user: Some(conv::user(&user)),
        }))
    }

    async fn list_users(
        &self,
        req: Request<pb::ListUsersRequest>,
    ) -> Result<Response<pb::ListUsersResponse>, Status> {
        let p = principal(&req)?;
        let pb::ListUsersRequest {
            page_size,
            page_token,
            emails,
            username,
            search,
            order_by,
            descending,
            offset,
            include_total_count,
        } = req.into_inner();
        let page = page(page_size, &page_token)?;
        let query = ListUsers {
            emails,
            username,
            search,
            order: UserOrder {
                field: user_order_field(order_by)?,
                descending,
            },
            offset: u64::try_from(offset).map_err(|_| invalid("offset", "must not be negative"))?,
            include_total_count,
        };
        let listed = self
            .identity
            .list_users_with(&p, &query, page)
            .await
            .or_status()?;
        Ok(Response::new(pb::ListUsersResponse {
            users: listed.users.iter().map(conv::user).collect(),
            next_page_token: listed.next_page_token,
            total_count: listed
                .total_count
                .map_or(0, |n| i64::try_from(n).unwrap_or(i64::MAX)),
        }))
    }

    async fn update_user(
        &self,
        req: Request<pb::UpdateUserRequest>,
    ) -> Result<Response<pb::UpdateUserResponse>, Status> {
        let p = principal(&req)?;
        let pb::UpdateUserRequest {
            user_id,
            user,
            update_mask,
        } = req.into_inner();
        let pb::UserUpdate {
            username,
            email,
            display_name,
            global_role,
            email_verified,
            preferences,
        } = user.unwrap_or_default();
        let input = UpdateUser {
            paths: update_mask.map(|m| m.paths).unwrap_or_default(),
            username,
            email,
            display_name,
            global_role: conv::parse_global_role("user.global_role", global_role)?,
            email_verified,
            preferences: conv::parse_preferences(preferences),
        };
        let user = self
            .identity
            .update_user(&p, user_id, input)
            .await
            .or_status()?;
        Ok(Response::new(pb::UpdateUserResponse {
            user: Some(conv::user(&user)),
        }))
    }

    async fn delete_user(
        &self,
        req: Request<pb::DeleteUserRequest>,
    ) -> Result<Response<pb::DeleteUserResponse>, Status> {
        let p = principal(&req)?;
        let user_id = req.into_inner().user_id;
        self.identity.delete_user(&p, user_id).await.or_status()?;
        Ok(Response::new(pb::DeleteUserResponse {}))
    }

    async fn change_password(
        &self,
        req: Request<pb::ChangePasswordRequest>,
    ) -> Result<Response<pb::ChangePasswordResponse>, Status> {
        let p = principal(&req)?;
        let pb::ChangePasswordRequest {
            user_id,
            current_password,
            new_password,
        } = req.into_inner();
        let user = self
            .identity
            .change_password(&p, user_id, current_password.as_deref(), &new_password)
            .await
            .or_status()?;
        Ok(Response::new(pb::ChangePasswordResponse {
            user: Some(conv::user(&user)),
        }))
    }
}

/// The order column of a ListUsers request; UNSPECIFIED means id.
fn user_order_field(value: i32) -> Result<UserOrderField, Status> {
    match pb::UserOrderField::try_from(value) {
        Ok(pb::UserOrderField::Unspecified | pb::UserOrderField::Id) => Ok(UserOrderField::Id),
        Ok(pb::UserOrderField::Username) => Ok(UserOrderField::Username),
        Ok(pb::UserOrderField::Email) => Ok(UserOrderField::Email),
        Ok(pb::UserOrderField::DisplayName) => Ok(UserOrderField::DisplayName),
        Ok(pb::UserOrderField::CreatedAt) => Ok(UserOrderField::CreatedAt),
        Ok(pb::UserOrderField::UpdatedAt) => Ok(UserOrderField::UpdatedAt),
        Err(_) => Err(invalid("order_by", "is not a known UserOrderField")),
    }
}
