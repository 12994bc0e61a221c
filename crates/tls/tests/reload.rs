//! A real TLS listener on 127.0.0.1 with [`ReloadingTls`]: clients see the certificate of the
//! files, a rotated pair is served to new connections without a restart, a broken rotation keeps
//! the previous certificate, and a key that does not match its certificate is a start-up error.

use std::{path::Path, sync::Arc, time::Duration};

use identity_tls::{ReloadingTls, TlsFiles};
use rustls::{ClientConfig, RootCertStore, pki_types::ServerName};
use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::{TcpListener, TcpStream},
    sync::watch,
};

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

fn write(dir: &Path, p: &Pair) -> TlsFiles {
    let files = TlsFiles {
        cert: dir.join("tls.crt"),
        key: dir.join("tls.key"),
    };
    std::fs::write(&files.cert, &p.cert_pem).unwrap_or_else(|e| panic!("cert: {e}"));
    std::fs::write(&files.key, &p.key_pem).unwrap_or_else(|e| panic!("key: {e}"));
    files
}

/// Serve `tls` on a port: each connection gets "ok" after its handshake.
async fn serve(tls: &ReloadingTls) -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("bind: {e}"));
    let addr = listener
        .local_addr()
        .unwrap_or_else(|e| panic!("addr: {e}"));
    let tls = tls.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = tls.acceptor();
            tokio::spawn(async move {
                if let Ok(mut stream) = acceptor.accept(tcp).await {
                    let _ = stream.write_all(b"ok").await;
                    let _ = stream.shutdown().await;
                }
            });
        }
    });
    addr
}

/// Connect trusting `roots`; returns the leaf certificate the server presented.
async fn presented(addr: std::net::SocketAddr, roots: &[&Pair]) -> Vec<u8> {
    let mut store = RootCertStore::empty();
    for r in roots {
        store
            .add(r.der.clone().into())
            .unwrap_or_else(|e| panic!("root: {e}"));
    }
    let config =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap_or_else(|e| panic!("versions: {e}"))
            .with_root_certificates(store)
            .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = TcpStream::connect(addr)
        .await
        .unwrap_or_else(|e| panic!("connect: {e}"));
    let name = ServerName::try_from("localhost").unwrap_or_else(|e| panic!("name: {e}"));
    let mut stream = connector
        .connect(name, tcp)
        .await
        .unwrap_or_else(|e| panic!("handshake: {e}"));
    let mut body = Vec::new();
    let _ = stream.read_to_end(&mut body).await;
    assert_eq!(body, b"ok");
    let (_, session) = stream.get_ref();
    session
        .peer_certificates()
        .and_then(|c| c.first())
        .map(|c| c.to_vec())
        .unwrap_or_else(|| panic!("no peer certificate"))
}

async fn wait_for_reloads(tls: &ReloadingTls, n: u64) {
    let start = tokio::time::Instant::now();
    while tls.reloads() < n {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "no reload within 5 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn rotated_certificates_are_served_without_a_restart() {
    let dir = std::env::temp_dir().join(format!("identity-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("dir: {e}"));
    let (a, b) = (self_signed(), self_signed());
    let files = write(&dir, &a);
    let (_stop_tx, stop) = watch::channel(false);
    let tls = ReloadingTls::start(files.clone(), Duration::from_millis(50), stop)
        .unwrap_or_else(|e| panic!("start: {e:#}"));
    let addr = serve(&tls).await;
    assert_eq!(presented(addr, &[&a, &b]).await, a.der);

    // Rotation: the next connection gets the new certificate.
    write(&dir, &b);
    wait_for_reloads(&tls, 1).await;
    assert_eq!(presented(addr, &[&a, &b]).await, b.der);

    // A broken rotation (garbage key) is not taken: B is still served.
    std::fs::write(&files.key, "not a key").unwrap_or_else(|e| panic!("key: {e}"));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(tls.reloads(), 1);
    assert_eq!(presented(addr, &[&a, &b]).await, b.der);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_key_that_does_not_match_is_a_start_up_error() {
    let dir = std::env::temp_dir().join(format!("identity-tls-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("dir: {e}"));
    let (a, b) = (self_signed(), self_signed());
    let files = write(&dir, &a);
    std::fs::write(&files.key, &b.key_pem).unwrap_or_else(|e| panic!("key: {e}"));
    let (_stop_tx, stop) = watch::channel(false);
    let err = ReloadingTls::start(files, Duration::from_millis(50), stop)
        .err()
        .unwrap_or_else(|| panic!("a mismatched key was accepted"));
    assert!(format!("{err:#}").contains("does not match"), "{err:#}");
    let _ = std::fs::remove_dir_all(&dir);
}
