//! Building and running the server.

use std::{future::Future, net::SocketAddr, sync::Arc, time::Duration};

use anyhow::Context as _;
use identity_api::pb::{
    api_key_service_server::ApiKeyServiceServer, auth_service_server::AuthServiceServer,
    organization_service_server::OrganizationServiceServer, team_service_server::TeamServiceServer,
    user_service_server::UserServiceServer,
};
use identity_core::{
    clock::SystemClock,
    domain::PasswordPolicy,
    password::PasswordHasher,
    service::{CoreSettings, Identity},
    token::TokenService,
};
use secrecy::{ExposeSecret as _, SecretString};
use tokio::{net::TcpListener, sync::watch};
use tonic::transport::{Server, server::TcpIncoming};
use tonic_health::ServingStatus;

use crate::{
    auth::AuthLayer,
    config::Settings,
    db_gate::{DbGate, GatedRepo},
    grpc, health,
    in_process::{CALLS_PER_CONNECTION, in_process},
    limits,
    observe::ObserveLayer,
};

/// A built server, bound to its port, ready to run.
#[derive(Debug)]
pub struct Application {
    listener: TcpListener,
    addr: SocketAddr,
    http: Option<(TcpListener, SocketAddr)>,
    admin: Option<(TcpListener, SocketAddr)>,
    settings: Settings,
    identity: Identity,
    db: identity_store::DatabaseConnection,
    db_gate: DbGate,
    /// What readiness pings (see [`open_probe`]).
    probe: identity_store::SeaRepo,
    cache_stats: Arc<identity_cache::CacheStats>,
    cache: Arc<identity_cache::CachedRepo>,
    /// TLS of both listeners, when configured; the sender stops the certificate reloads.
    tls: Option<(identity_tls::ReloadingTls, watch::Sender<bool>)>,
}

/// Open the database named in the settings and apply migrations if configured.
pub async fn open_database(
    settings: &Settings,
) -> anyhow::Result<identity_store::DatabaseConnection> {
    let db = identity_store::connect(
        settings.database_url.expose_secret(),
        identity_store::ConnectSettings {
            max_connections: settings.db_max_connections,
            acquire_timeout: Duration::from_secs(settings.db_acquire_timeout_secs.max(1)),
            ..identity_store::ConnectSettings::default()
        },
    )
    .await
    .context("connecting to the database")?;
    Ok(db)
}

/// The token service `settings` describe, signing with `secret` (or the key it derives).
pub fn token_service(settings: &Settings, secret: &SecretString) -> anyhow::Result<TokenService> {
    let ttl = chrono::Duration::seconds(i64::try_from(settings.session_ttl_secs).unwrap_or(3600));
    Ok(TokenService::with_keys(
        secret,
        ttl,
        &settings.tokens.key_config()?,
    )?)
}

/// The use cases over `store`: the cache in front of it (with Redis when configured), the
/// password hasher and the token service, all from `settings`. Used by the server (over the
/// gated store) and by the `admin` commands (over the plain store).
pub fn build_identity(
    settings: &Settings,
    store: Arc<dyn identity_core::ports::Repo>,
) -> anyhow::Result<(Identity, Arc<identity_cache::CachedRepo>)> {
    let secret = match &settings.jwt_secret {
        Some(s) => s.clone(),
        None => {
            tracing::warn!(
                "IDENTITY_JWT_SECRET is not set: using a random secret; sessions end at restart"
            );
            let mut bytes = [0u8; 48];
            rand::fill(&mut bytes);
            SecretString::from(base64::Engine::encode(
                &base64::engine::general_purpose::STANDARD,
                bytes,
            ))
        }
    };
    // Key/user lookups go through the cache; readiness still pings the database only. Its
    // Redis entries are sealed with a key derived from the session secret, which every replica
    // shares already.
    let cache_config = identity_cache::CacheConfig {
        entry_key: identity_cache::EntryKey::derive(secret.expose_secret().as_bytes()),
        ..settings.cache()
    };
    let cached =
        identity_cache::CachedRepo::new(store, &cache_config).context("configuring the cache")?;
    let repo = Arc::new(cached);
    let cache = repo.clone();
    let concurrency = if settings.hash_concurrency == 0 {
        num_cpus::get()
    } else {
        settings.hash_concurrency
    };
    let hasher =
        PasswordHasher::with_niceness(settings.argon2(), concurrency, settings.hash_niceness)?;
    let tokens = token_service(settings, &secret)?;
    let core = CoreSettings {
        password_policy: PasswordPolicy {
            min_length: settings.password_min_length,
        },
        join_default_organization: settings.join_default_organization,
        login: settings.login_protection(),
        idempotency_ttl: Duration::from_secs(settings.idempotency_ttl_secs),
        recent_login: Duration::from_secs(settings.recent_login_secs),
        ..CoreSettings::default()
    };
    let identity = Identity::new(repo, hasher, tokens, Arc::new(SystemClock), core);
    Ok((identity, cache))
}

/// The readiness probe: a pool of one connection of its own, so that a burst saturating the
/// main pool is not mistaken for a database outage (which would close the [`DbGate`] and
/// refuse requests); the probe still fails as soon as the database refuses, resets or stops
/// answering. An in-memory SQLite database lives only in the main pool, which is pinged then.
async fn open_probe(
    settings: &Settings,
    db: &identity_store::DatabaseConnection,
) -> anyhow::Result<identity_store::SeaRepo> {
    let url = settings.database_url.expose_secret();
    let conn = if url.contains(":memory:") || url.contains("mode=memory") {
        db.clone()
    } else {
        identity_store::connect(
            url,
            identity_store::ConnectSettings {
                max_connections: 1,
                min_connections: 0,
                acquire_timeout: health::PING_TIMEOUT_MAX,
                idle_timeout: None,
                ..identity_store::ConnectSettings::default()
            },
        )
        .await
        .context("connecting the readiness probe to the database")?
    };
    Ok(identity_store::SeaRepo::new(conn))
}

impl Application {
    /// Bind the gRPC listener, connect the database, run migrations and wire the services.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        // First: metric handles (per RPC in `observe`, the cache's counters) are registered with
        // whatever recorder exists at their first use. Metrics are kept even when the admin
        // listener is off.
        identity_telemetry::install_recorder();
        let db = open_database(&settings).await?;
        let probe = open_probe(&settings, &db).await?;
        if settings.auto_migrate {
            identity_store::migrate(&db)
                .await
                .context("running migrations")?;
        }
        let store: Arc<dyn identity_core::ports::Repo> =
            Arc::new(identity_store::SeaRepo::new(db.clone()));
        // Below the cache: while readiness says the database is down, storage calls fail at
        // once (see `db_gate`), cached lookups still answer.
        let db_gate = DbGate::default();
        let store: Arc<dyn identity_core::ports::Repo> =
            Arc::new(GatedRepo::new(store, db_gate.clone()));
        let (identity, cache) = build_identity(&settings, store)?;
        let cache_stats = cache.stats();
        let listener = TcpListener::bind(settings.grpc_addr)
            .await
            .with_context(|| format!("binding {}", settings.grpc_addr))?;
        let addr = listener.local_addr()?;
        let http = if settings.gateway_enabled {
            let l = TcpListener::bind(settings.http_addr)
                .await
                .with_context(|| format!("binding the gateway on {}", settings.http_addr))?;
            let a = l.local_addr()?;
            Some((l, a))
        } else {
            None
        };
        let admin = if settings.admin_enabled {
            let l = TcpListener::bind(settings.admin_addr)
                .await
                .with_context(|| {
                    format!("binding the admin listener on {}", settings.admin_addr)
                })?;
            let a = l.local_addr()?;
            Some((l, a))
        } else {
            None
        };
        // A certificate that cannot be loaded is a start-up error; later rotations are reloaded.
        let tls = settings
            .tls_files()
            .map(|files| {
                let (tx, rx) = watch::channel(false);
                identity_tls::ReloadingTls::start(
                    files,
                    Duration::from_secs(settings.tls_reload_secs),
                    rx,
                )
                .map(|t| (t, tx))
            })
            .transpose()
            .context("loading the TLS certificate")?;
        Ok(Self {
            tls,
            listener,
            addr,
            http,
            admin,
            settings,
            identity,
            db,
            db_gate,
            probe,
            cache_stats,
            cache,
        })
    }

    /// The cache's live counters (database and Redis calls, hits and misses).
    pub fn cache_stats(&self) -> Arc<identity_cache::CacheStats> {
        self.cache_stats.clone()
    }

    /// The password hasher; its counter tells how many argon2 computations ran.
    pub fn hasher(&self) -> PasswordHasher {
        self.identity.hasher().clone()
    }

    /// The bound gRPC address (the real port when 0 was asked for).
    pub fn grpc_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The bound gateway address, when the gateway runs in-process.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http.as_ref().map(|(_, a)| *a)
    }

    /// The bound admin address (`GET /metrics`), when the admin listener is enabled.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin.as_ref().map(|(_, a)| *a)
    }

    /// Serve until `shutdown` completes, then report NOT_SERVING, drain (bounded by the drain
    /// deadline) and close the database.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let Self {
            listener,
            addr,
            http,
            admin,
            settings,
            identity,
            db,
            db_gate,
            probe,
            cache_stats: _,
            cache,
            tls,
        } = self;
        let acceptor = tls.as_ref().map(|(t, _)| t.acceptor());
        // One shutdown, fanned out to the gRPC server and the gateway.
        let (sd_tx, sd_rx) = watch::channel(false);
        tokio::spawn(async move {
            shutdown.await;
            let _ = sd_tx.send(true);
        });
        let stopped = |mut rx: watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|v| *v).await;
        };
        let admin = admin.map(|(admin_listener, admin_addr)| {
            tracing::info!(%admin_addr, "admin listening (GET /metrics)");
            tokio::spawn(identity_telemetry::serve_admin(
                admin_listener,
                stopped(sd_rx.clone()),
            ))
        });
        let gateway_stopped = stopped(sd_rx.clone());
        let shutdown = stopped(sd_rx);
        let (reporter, health_service) = tonic_health::server::health_reporter();
        let health_service = health_service.max_decoding_message_size(limits::HEALTH);
        health::set_all(&reporter, ServingStatus::NotServing).await;
        let (stop_tx, stop_rx) = watch::channel(false);
        let readiness = tokio::spawn(health::watch_readiness(
            reporter.clone(),
            health::Probes {
                probe,
                pool: identity.repo().clone(),
                pool_size: settings.db_max_connections,
            },
            db_gate,
            Duration::from_millis(settings.readiness_interval_ms.max(50)),
            stop_rx,
        ));

        let reflection = || {
            tonic_reflection::server::Builder::configure()
                .register_encoded_file_descriptor_set(identity_api::FILE_DESCRIPTOR_SET)
                .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        };
        let reflection_v1 = reflection()
            .build_v1()?
            .max_decoding_message_size(limits::REFLECTION);
        let reflection_v1alpha = reflection()
            .build_v1alpha()?
            .max_decoding_message_size(limits::REFLECTION);

        let (drain_tx, drain_rx) = tokio::sync::oneshot::channel::<()>();
        let shutdown_reporter = reporter.clone();
        let signal = async move {
            shutdown.await;
            tracing::info!("shutdown requested: not serving, draining");
            let _ = stop_tx.send(true);
            shutdown_reporter
                .set_service_status("", ServingStatus::NotServing)
                .await;
            health::set_all(&shutdown_reporter, ServingStatus::NotServing).await;
            let _ = drain_tx.send(());
        };

        let routes = tonic::service::Routes::new(health_service)
            .add_service(reflection_v1)
            .add_service(reflection_v1alpha)
            // Each service decodes messages up to its cap only (see `limits`).
            .add_service(
                UserServiceServer::new(grpc::users::Users {
                    identity: identity.clone(),
                })
                .max_decoding_message_size(limits::GATEWAY_FED_SERVICE),
            )
            .add_service(
                ApiKeyServiceServer::new(grpc::api_keys::ApiKeys {
                    identity: identity.clone(),
                })
                .max_decoding_message_size(limits::GATEWAY_FED_SERVICE),
            )
            .add_service(
                AuthServiceServer::new(grpc::auth::Auth {
                    identity: identity.clone(),
                    limiter: crate::login_limit::LoginLimiter::new(settings.login_source_limit()),
                })
                .max_decoding_message_size(limits::GATEWAY_FED_SERVICE),
            )
            .add_service(
                OrganizationServiceServer::new(grpc::orgs::Orgs {
                    identity: identity.clone(),
                })
                .max_decoding_message_size(limits::GATEWAY_FED_SERVICE),
            )
            .add_service(
                TeamServiceServer::new(grpc::teams::Teams {
                    identity: identity.clone(),
                })
                .max_decoding_message_size(limits::TEAM_SERVICE),
            );
        let gateway = match http {
            Some((http_listener, http_addr)) => {
                // The embedded gateway calls the same services in process: the same layers,
                // no TCP, no HTTP/2 framing (see `in_process`).
                let transport = in_process(routes.clone(), identity.clone());
                let router = identity_gateway::router_over(
                    transport,
                    identity_gateway::GatewayConfig {
                        upstream_deadline: Duration::from_millis(settings.gateway_deadline_ms),
                        body_limit: settings.gateway_body_limit,
                    },
                );
                tracing::info!(%http_addr, "gateway listening");
                Some(tokio::spawn(identity_gateway::serve_with_tls(
                    http_listener,
                    router,
                    settings.http_limits(),
                    acceptor.clone(),
                    gateway_stopped,
                )))
            }
            None => None,
        };

        // Bounded: connections at once, the HTTP/2 preface in time (see `listener`), TCP and
        // HTTP/2 keepalive so that vanished peers are noticed, streams per connection.
        let incoming = crate::listener::bounded(
            TcpIncoming::from(listener)
                .with_nodelay(Some(true))
                .with_keepalive(Some(Duration::from_secs(60))),
            settings.grpc_max_connections,
            Duration::from_millis(settings.grpc_handshake_timeout_ms),
            acceptor,
        );
        let keepalive = Duration::from_secs(settings.grpc_keepalive_secs);
        let router = Server::builder()
            .timeout(settings.request_timeout())
            .http2_keepalive_interval(Some(keepalive))
            .http2_keepalive_timeout(Some(keepalive.min(Duration::from_secs(10))))
            .max_concurrent_streams(u32::try_from(CALLS_PER_CONNECTION).ok())
            .concurrency_limit_per_connection(CALLS_PER_CONNECTION)
            // Outermost: the request id and span cover authentication too.
            .layer(ObserveLayer)
            .layer(AuthLayer::new(identity.clone()))
            .add_routes(routes);
        tracing::info!(%addr, "gRPC listening");
        let mut server = tokio::spawn(router.serve_with_incoming_shutdown(incoming, signal));

        let drain = Duration::from_secs(settings.drain_timeout_secs);
        let result = tokio::select! {
            r = &mut server => r.context("server task")?.context("serving gRPC"),
            () = async {
                if drain_rx.await.is_ok() {
                    tokio::time::sleep(drain).await;
                } else {
                    std::future::pending::<()>().await;
                }
            } => {
                tracing::warn!(?drain, "drain deadline passed: closing remaining connections");
                server.abort();
                Ok(())
            }
        };
        readiness.abort();
        if let Some(gw) = gateway {
            match tokio::time::timeout(drain, gw).await {
                Ok(Ok(Ok(()))) => {}
                Ok(Ok(Err(e))) => tracing::warn!(error = %e, "gateway stopped with an error"),
                Ok(Err(e)) => tracing::warn!(error = %e, "gateway task failed"),
                Err(_) => tracing::warn!("gateway drain deadline passed"),
            }
        }
        if let Some(admin) = admin {
            admin.abort();
        }
        if let Err(e) = cache.flush_touches().await {
            tracing::warn!(error = %e, "could not record the last key uses");
        }
        if let Err(e) = db.close().await {
            tracing::warn!(error = %e, "closing the database pool");
        }
        tracing::info!("stopped");
        result
    }
}

/// Resolves on SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for SIGINT");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
