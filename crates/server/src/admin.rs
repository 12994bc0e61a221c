//! `identity-server admin …`: bootstrap and break-glass commands.
//!
//! They talk to the **database directly** (with the same settings as the server: config file and
//! `IDENTITY_*` variables), not to gRPC, so they work before any administrator exists and when
//! every administrator credential is lost or the gRPC listener is unreachable. They run the same
//! use cases as the API (validation, password policy, argon2id, key format), acting as the
//! bootstrap administrator (user 1), and write an audit line to the log for every change.
//!
//! With `IDENTITY_REDIS_URL` (and the servers' `IDENTITY_CACHE_NAMESPACE`) set, a revocation is
//! published to every running replica at once; without Redis, replicas drop their in-process copy
//! within their fresh TTL (`IDENTITY_CACHE_FRESH_MS`, 5 s by default).
//!
//! Output is one JSON object per line on stdout. A created key's plaintext is printed exactly
//! once, by `create-key`; nothing prints a password, a password hash or a key digest.

use std::io::BufRead as _;

use anyhow::{Context as _, bail};
use chrono::Utc;
use clap::{Subcommand, ValueEnum};
use identity_core::{
    domain::{GlobalRole, KeyRole, User},
    pagination::PageRequest,
    principal::{Credential, Principal},
    service::{BOOTSTRAP_ADMIN_ID, CreateApiKey, CreateUser, Identity, KeyRef, UserLookup},
};
use serde_json::json;

use crate::{Settings, startup};

/// The `admin` commands.
#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create a user. The first administrator (`--admin` on an empty database) also creates the
    /// default organization, like InitAdmin.
    CreateUser {
        /// Login name.
        #[arg(long)]
        username: String,
        /// E-mail address.
        #[arg(long)]
        email: Option<String>,
        /// Display name.
        #[arg(long, default_value = "")]
        display_name: String,
        /// Make the user an administrator.
        #[arg(long)]
        admin: bool,
        /// Read the password from the first line of standard input (never from an argument,
        /// which would show in `ps` and shell history). Without it the user has no password and
        /// signs in with API keys only.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Create an API key for a user and print it (the only time it is shown).
    CreateKey {
        /// Owner: numeric id or username.
        #[arg(long)]
        user: String,
        /// Key name.
        #[arg(long)]
        name: String,
        /// Role of the key.
        #[arg(long, value_enum, default_value_t = Role::Inherit)]
        role: Role,
        /// Expire after this many days.
        #[arg(long)]
        expires_in_days: Option<u32>,
    },
    /// Revoke an API key by numeric id or UUID.
    RevokeKey {
        /// Numeric id or UUID of the key.
        #[arg(long)]
        key: String,
    },
    /// List users, oldest first.
    ListUsers {
        /// Users per page (at most 100).
        #[arg(long, default_value_t = 100)]
        limit: i32,
        /// Page token printed by the previous page.
        #[arg(long, default_value = "")]
        page_token: String,
    },
}

/// Key roles on the command line.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Role {
    /// The owner's own rights.
    Inherit,
    /// Read-only.
    Read,
    /// Read and write.
    Write,
    /// Organization administrator at most.
    Admin,
    /// Organization owner at most.
    Owner,
}

impl From<Role> for KeyRole {
    fn from(r: Role) -> Self {
        match r {
            Role::Inherit => KeyRole::Inherit,
            Role::Read => KeyRole::Read,
            Role::Write => KeyRole::Write,
            Role::Admin => KeyRole::Admin,
            Role::Owner => KeyRole::Owner,
        }
    }
}

/// Run one admin command against the database of `settings`.
pub async fn run(settings: &Settings, command: AdminCommand) -> anyhow::Result<()> {
    let db = startup::open_database(settings).await?;
    if settings.auto_migrate {
        identity_store::migrate(&db)
            .await
            .context("running migrations")?;
    }
    let store = std::sync::Arc::new(identity_store::SeaRepo::new(db.clone()));
    let (identity, cache) = startup::build_identity(settings, store)?;
    let outcome = execute(&identity, command).await;
    if let Err(e) = cache.flush_touches().await {
        tracing::warn!(error = %e, "could not record key uses");
    }
    db.close().await.context("closing the database")?;
    outcome
}

async fn execute(identity: &Identity, command: AdminCommand) -> anyhow::Result<()> {
    match command {
        AdminCommand::CreateUser {
            username,
            email,
            display_name,
            admin,
            password_stdin,
        } => {
            let password = if password_stdin {
                Some(read_password()?)
            } else {
                None
            };
            let setup = identity.setup_state().await?;
            let user = if setup.admin_exists {
                let acting = acting_admin(identity).await?;
                identity
                    .create_user(
                        &acting,
                        CreateUser {
                            username,
                            email,
                            display_name,
                            password,
                            global_role: Some(if admin {
                                GlobalRole::Administrator
                            } else {
                                GlobalRole::Standard
                            }),
                            email_verified: true,
                            ..CreateUser::default()
                        },
                    )
                    .await?
            } else {
                if !admin {
                    bail!(
                        "no administrator exists yet: create the first one with --admin \
                         --password-stdin"
                    );
                }
                let Some(password) = password else {
                    bail!("the first administrator needs a password: pass --password-stdin");
                };
                let (user, _org) = identity
                    .init_admin(&username, &password, email.as_deref(), &display_name, "")
                    .await?;
                user
            };
            tracing::info!(user_id = user.id, username = %user.username, "admin: user created");
            println!("{}", user_json(&user));
        }
        AdminCommand::CreateKey {
            user,
            name,
            role,
            expires_in_days,
        } => {
            let acting = acting_admin(identity).await?;
            let lookup = match user.parse::<i64>() {
                Ok(id) => UserLookup::Id(id),
                Err(_) => UserLookup::Username(user.clone()),
            };
            let owner = identity.get_user(&acting, &lookup).await?;
            let (key, plaintext) = identity
                .create_api_key(
                    &acting,
                    CreateApiKey {
                        user_id: Some(owner.id),
                        name,
                        role: Some(role.into()),
                        expires_at: expires_in_days
                            .map(|d| Utc::now() + chrono::Duration::days(i64::from(d))),
                        ..CreateApiKey::default()
                    },
                )
                .await?;
            tracing::info!(key_id = key.id, user_id = owner.id, prefix = %key.prefix, "admin: key created");
            println!(
                "{}",
                json!({
                    "id": key.id,
                    "uid": key.uid,
                    "user_id": key.user_id,
                    "name": key.name,
                    "role": key.role.as_str(),
                    "prefix": key.prefix,
                    "expires_at": key.expires_at,
                    "key": plaintext,
                })
            );
        }
        AdminCommand::RevokeKey { key } => {
            let acting = acting_admin(identity).await?;
            let reference = match key.parse::<i64>() {
                Ok(id) => KeyRef::Id(id),
                Err(_) => KeyRef::Uid(key),
            };
            let revoked = identity.revoke_api_key(&acting, &reference).await?;
            tracing::info!(
                key_id = revoked.id,
                user_id = revoked.user_id,
                "admin: key revoked"
            );
            println!(
                "{}",
                json!({
                    "id": revoked.id,
                    "uid": revoked.uid,
                    "user_id": revoked.user_id,
                    "revoked_at": revoked.revoked_at,
                })
            );
        }
        AdminCommand::ListUsers { limit, page_token } => {
            let acting = acting_admin(identity).await?;
            let page = PageRequest::parse(limit, &page_token)?;
            let (users, next) = identity.list_users(&acting, &[], None, page).await?;
            for u in &users {
                println!("{}", user_json(u));
            }
            if !next.is_empty() {
                eprintln!("next page: --page-token {next}");
            }
        }
    }
    Ok(())
}

/// The bootstrap administrator (user 1), whose rights the commands use.
async fn acting_admin(identity: &Identity) -> anyhow::Result<Principal> {
    let user = identity
        .repo()
        .user_by_id(BOOTSTRAP_ADMIN_ID)
        .await?
        .filter(|u| u.global_role == GlobalRole::Administrator)
        .context(
            "no bootstrap administrator (user 1): create one with `admin create-user --admin \
             --password-stdin`",
        )?;
    Ok(Principal {
        user,
        credential: Credential::Session {
            issued_at: Utc::now(),
            expires_at: Utc::now() + chrono::Duration::minutes(5),
            force_change_password: false,
        },
        memberships: None,
    })
}

fn read_password() -> anyhow::Result<String> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("reading the password from standard input")?;
    let password = line.trim_end_matches(['\r', '\n']).to_owned();
    if password.is_empty() {
        bail!("empty password on standard input");
    }
    Ok(password)
}

fn user_json(u: &User) -> serde_json::Value {
    json!({
        "id": u.id,
        "uid": u.uid,
        "username": u.username,
        "email": u.email,
        "display_name": u.display_name,
        "global_role": u.global_role.as_str(),
        "created_at": u.created_at,
    })
}
