//! `api_keys`: key metadata and the SHA-256 digest (unique; the lookup path), at most one
//! active primary key per user.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden)]
enum ApiKeys {
    Table,
    Id,
    Uid,
    UserId,
    Name,
    Description,
    Prefix,
    Digest,
    Role,
    Scopes,
    OrganizationId,
    DatasetIds,
    OrganizationIds,
    ExpiresAt,
    LastUsedAt,
    RevokedAt,
    IsPrimary,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
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
                    .table(ApiKeys::Table)
                    .col(big_pk_auto(ApiKeys::Id))
                    .col(uuid(ApiKeys::Uid))
                    .col(big_integer(ApiKeys::UserId))
                    .col(string(ApiKeys::Name))
                    .col(text(ApiKeys::Description))
                    .col(string(ApiKeys::Prefix))
                    .col(binary_len(ApiKeys::Digest, 32))
                    .col(string_len(ApiKeys::Role, 32))
                    .col(json_binary(ApiKeys::Scopes))
                    // No foreign key: keys are never deleted along with an organization (a
                    // cascade would bypass cache eviction); the service checks the binding.
                    .col(uuid_null(ApiKeys::OrganizationId))
                    .col(json_binary(ApiKeys::DatasetIds))
                    .col(json_binary(ApiKeys::OrganizationIds))
                    .col(timestamp_with_time_zone_null(ApiKeys::ExpiresAt))
                    .col(timestamp_with_time_zone_null(ApiKeys::LastUsedAt))
                    .col(timestamp_with_time_zone_null(ApiKeys::RevokedAt))
                    .col(boolean(ApiKeys::IsPrimary))
                    .col(timestamp_with_time_zone(ApiKeys::CreatedAt))
                    .col(timestamp_with_time_zone(ApiKeys::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_api_keys__users")
                            .from(ApiKeys::Table, ApiKeys::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        for (name, col) in [
            ("uq_api_keys_uid", ApiKeys::Uid),
            ("uq_api_keys_digest", ApiKeys::Digest),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(ApiKeys::Table)
                        .col(col)
                        .unique()
                        .to_owned(),
                )
                .await?;
        }
        // A user's keys in id order (listing and cursor pagination).
        manager
            .create_index(
                Index::create()
                    .name("ix_api_keys_user_id_id")
                    .table(ApiKeys::Table)
                    .col(ApiKeys::UserId)
                    .col(ApiKeys::Id)
                    .to_owned(),
            )
            .await?;
        // Partial unique index: at most one unrevoked primary key per user, whatever the
        // interleaving of concurrent writers.
        manager
            .create_index(
                Index::create()
                    .name("uq_api_keys_one_primary")
                    .table(ApiKeys::Table)
                    .col(ApiKeys::UserId)
                    .unique()
                    .and_where(Expr::col(ApiKeys::IsPrimary).eq(true))
                    .and_where(Expr::col(ApiKeys::RevokedAt).is_null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ApiKeys::Table).to_owned())
            .await
    }
}
