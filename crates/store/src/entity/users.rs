//! The `users` table.

use sea_orm::entity::prelude::*;

/// A row of `users`.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "users")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub uid: Uuid,
    pub username: String,
    #[sea_orm(unique)]
    pub username_key: String,
    /// UTS #39 skeleton of `username_key`; NULL only for rows that predate it and clash.
    #[sea_orm(unique)]
    pub username_skeleton: Option<String>,
    pub email: Option<String>,
    #[sea_orm(unique)]
    pub email_key: Option<String>,
    pub display_name: String,
    pub global_role: String,
    pub email_verified: bool,
    #[sea_orm(column_type = "Text", nullable)]
    pub password_hash: Option<String>,
    pub token_issued_at: DateTimeUtc,
    #[sea_orm(column_type = "JsonBinary")]
    pub preferences: Json,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    #[sea_orm(has_many)]
    pub memberships: HasMany<super::memberships::Entity>,
    #[sea_orm(has_many)]
    pub team_memberships: HasMany<super::team_memberships::Entity>,
    #[sea_orm(has_many)]
    pub api_keys: HasMany<super::api_keys::Entity>,
}

impl ActiveModelBehavior for ActiveModel {}
