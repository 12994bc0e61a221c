//! `users`: numeric id (first row is 1), UUID, case-insensitive unique username and e-mail keys.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    Uid,
    Username,
    UsernameKey,
    Email,
    EmailKey,
    DisplayName,
    GlobalRole,
    EmailVerified,
    PasswordHash,
    TokenIssuedAt,
    Preferences,
    CreatedAt,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Users::Table)
                    .col(big_pk_auto(Users::Id))
                    .col(uuid(Users::Uid))
                    .col(string(Users::Username))
                    .col(string(Users::UsernameKey))
                    .col(string_null(Users::Email))
                    .col(string_null(Users::EmailKey))
                    .col(string(Users::DisplayName))
                    .col(string_len(Users::GlobalRole, 32))
                    .col(boolean(Users::EmailVerified))
                    .col(text_null(Users::PasswordHash))
                    .col(timestamp_with_time_zone(Users::TokenIssuedAt))
                    .col(json_binary(Users::Preferences))
                    .col(timestamp_with_time_zone(Users::CreatedAt))
                    .col(timestamp_with_time_zone(Users::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        // Index names are matched by `crate::error` to tell which field clashed.
        for (name, col) in [
            ("uq_users_uid", Users::Uid),
            ("uq_users_username_key", Users::UsernameKey),
            ("uq_users_email_key", Users::EmailKey),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(Users::Table)
                        .col(col)
                        .unique()
                        .to_owned(),
                )
                .await?;
        }
        // admin_exists / count_admins.
        manager
            .create_index(
                Index::create()
                    .name("ix_users_global_role")
                    .table(Users::Table)
                    .col(Users::GlobalRole)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Users::Table).to_owned())
            .await
    }
}
