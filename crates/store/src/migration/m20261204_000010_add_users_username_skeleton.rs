//! `users.username_skeleton`: the UTS #39 confusable skeleton of the username key
//! (`identity_core::domain::Username::skeleton`), unique, so that no two users have names that
//! look alike (`аdmin` with a Cyrillic `а` next to `admin`).
//!
//! Existing rows are backfilled in id order. Where existing names already look alike, the first
//! keeps the skeleton and the later ones keep NULL (unique indexes allow many NULLs on both
//! backends): they keep working, and since the first holds the skeleton, no new name that looks
//! like them can be created. Rows inserted by hand without a skeleton (the benchmark's bulk seed)
//! are NULL too.

use std::collections::HashSet;

use identity_core::domain::username_skeleton;
use sea_orm_migration::{prelude::*, schema::*, sea_orm::ConnectionTrait};

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    UsernameKey,
    UsernameSkeleton,
}

/// Rows read per backfill query.
const BATCH: u64 = 1_000;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Users::Table)
                    .add_column(string_null(Users::UsernameSkeleton))
                    .to_owned(),
            )
            .await?;
        backfill(manager).await?;
        // The name is matched by `crate::error` to report a clash as a taken username.
        manager
            .create_index(
                Index::create()
                    .name("uq_users_username_skeleton")
                    .table(Users::Table)
                    .col(Users::UsernameSkeleton)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("uq_users_username_skeleton")
                    .table(Users::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Users::Table)
                    .drop_column(Users::UsernameSkeleton)
                    .to_owned(),
            )
            .await
    }
}

async fn backfill(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    let db = manager.get_connection();
    let mut taken = HashSet::new();
    let mut after = 0_i64;
    loop {
        let rows = db
            .query_all(
                &Query::select()
                    .columns([Users::Id, Users::UsernameKey])
                    .from(Users::Table)
                    .and_where(Expr::col(Users::Id).gt(after))
                    .order_by(Users::Id, Order::Asc)
                    .limit(BATCH)
                    .to_owned(),
            )
            .await?;
        for row in &rows {
            let id: i64 = row.try_get("", "id")?;
            let key: String = row.try_get("", "username_key")?;
            after = id;
            let skeleton = username_skeleton(&key);
            if !taken.insert(skeleton.clone()) {
                continue;
            }
            db.execute(
                &Query::update()
                    .table(Users::Table)
                    .value(Users::UsernameSkeleton, skeleton)
                    .and_where(Expr::col(Users::Id).eq(id))
                    .to_owned(),
            )
            .await?;
        }
        if (rows.len() as u64) < BATCH {
            return Ok(());
        }
    }
}
