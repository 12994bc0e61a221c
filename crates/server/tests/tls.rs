//! TLS on both listeners of the real binary: gRPC (health over a TLS channel that trusts only
//! the test CA) and the gateway (HTTPS `/healthz`); a plaintext client gets nothing; a rotated
//! certificate is served to new connections without a restart.

use std::{
    net::SocketAddr,
    process::{Child, Command, Stdio},
    sync::Arc,
    time::{Duration, Instant},
};

use rustls::{ClientConfig, RootCertStore, pki_types::ServerName};
use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::TcpStream,
};
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint};
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

struct Pair {
    cert_pem: String,
    key_pem: String,
    der: Vec<u8>,
}

fn self_signed() -> Pair {
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()])
        .unwrap_or_else(|e| panic!("rcgen: {e}"));
    Pair {
        cert_pem: ck.cert.pem(),
        key_pem: ck.signing_key.serialize_pem(),
        der: ck.cert.der().to_vec(),
    }
}

fn free_addr() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap_or_else(|e| panic!("free port: {e}"))
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The certificate the HTTPS listener presents, after a `GET /healthz` answered 200.
async fn https_healthz(addr: SocketAddr, roots: &[&Pair]) -> Result<Vec<u8>, String> {
    let mut store = RootCertStore::empty();
    for r in roots {
        store.add(r.der.clone().into()).map_err(|e| e.to_string())?;
    }
    let config =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_root_certificates(store)
            .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    let name = ServerName::try_from("localhost").map_err(|e| e.to_string())?;
    let mut tls = connector
        .connect(name, tcp)
        .await
        .map_err(|e| e.to_string())?;
    tls.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .map_err(|e| e.to_string())?;
    let mut response = Vec::new();
    let _ = tls.read_to_end(&mut response).await;
    let text = String::from_utf8_lossy(&response);
    if !text.starts_with("HTTP/1.1 200") {
        return Err(format!("not a 200: {text}"));
    }
    let (_, session) = tls.get_ref();
    session
        .peer_certificates()
        .and_then(|c| c.first())
        .map(|c| c.to_vec())
        .ok_or_else(|| "no peer certificate".to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_listeners_serve_tls_and_follow_a_rotation() {
    let dir = std::env::temp_dir().join(format!("identity-tls-e2e-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    let (a, b) = (self_signed(), self_signed());
    let (cert, key) = (dir.join("tls.crt"), dir.join("tls.key"));
    let write = |p: &Pair| {
        std::fs::write(&cert, &p.cert_pem).unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(&key, &p.key_pem).unwrap_or_else(|e| panic!("{e}"));
    };
    write(&a);
    let (grpc, http) = (free_addr(), free_addr());
    let mut command = Command::new(env!("CARGO_BIN_EXE_identity-server"));
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("IDENTITY_") {
            command.env_remove(&name);
        }
    }
    let child = command
        .current_dir(&dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .env(
            "IDENTITY_DATABASE_URL",
            format!("sqlite://{}/db.sqlite?mode=rwc", dir.display()),
        )
        .env("IDENTITY_GRPC_ADDR", grpc.to_string())
        .env("IDENTITY_HTTP_ADDR", http.to_string())
        .env("IDENTITY_ADMIN_ADDR", "off")
        .env("IDENTITY_TLS_CERT_FILE", &cert)
        .env("IDENTITY_TLS_KEY_FILE", &key)
        .env("IDENTITY_TLS_RELOAD_SECS", "1")
        .spawn()
        .unwrap_or_else(|e| panic!("starting identity-server: {e}"));
    let _server = Server(child);

    // gRPC over TLS, trusting only certificate A.
    let endpoint = Endpoint::from_shared(format!("https://{grpc}"))
        .unwrap_or_else(|e| panic!("{e}"))
        .tls_config(
            ClientTlsConfig::new()
                .ca_certificate(Certificate::from_pem(&a.cert_pem))
                .domain_name("localhost"),
        )
        .unwrap_or_else(|e| panic!("{e}"));
    let started = Instant::now();
    let channel = loop {
        match endpoint.connect().await {
            Ok(c) => break c,
            Err(e) => {
                assert!(
                    started.elapsed() < Duration::from_secs(30),
                    "no TLS gRPC: {e:?}"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    let health = HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .unwrap_or_else(|s| panic!("health over TLS: {s:?}"));
    assert_eq!(health.into_inner().status, 1, "SERVING");
    // A plaintext gRPC client gets no answer from the TLS listener.
    let plain = Endpoint::from_shared(format!("http://{grpc}"))
        .unwrap_or_else(|e| panic!("{e}"))
        .connect_timeout(Duration::from_secs(2))
        .timeout(Duration::from_secs(2));
    let plain_health = match plain.connect().await {
        Ok(c) => HealthClient::new(c)
            .check(HealthCheckRequest {
                service: String::new(),
            })
            .await
            .is_ok(),
        Err(_) => false,
    };
    assert!(!plain_health, "plaintext gRPC was served");

    // HTTPS on the gateway, certificate A.
    assert_eq!(
        https_healthz(http, &[&a, &b])
            .await
            .unwrap_or_else(|e| panic!("{e}")),
        a.der
    );

    // Rotation: new connections get certificate B, on both listeners, without a restart.
    write(&b);
    let started = Instant::now();
    loop {
        if https_healthz(http, &[&a, &b]).await.ok() == Some(b.der.clone()) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "certificate B not served"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let rotated = Endpoint::from_shared(format!("https://{grpc}"))
        .unwrap_or_else(|e| panic!("{e}"))
        .tls_config(
            ClientTlsConfig::new()
                .ca_certificate(Certificate::from_pem(&b.cert_pem))
                .domain_name("localhost"),
        )
        .unwrap_or_else(|e| panic!("{e}"))
        .connect()
        .await
        .unwrap_or_else(|e| panic!("gRPC with certificate B: {e:?}"));
    HealthClient::new(rotated)
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .unwrap_or_else(|s| panic!("health after the rotation: {s:?}"));
    let _ = std::fs::remove_dir_all(&dir);
}
