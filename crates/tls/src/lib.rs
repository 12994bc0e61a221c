//! `identity-tls`: TLS for the gRPC listener and the HTTP gateway listener.
//!
//! [`ReloadingTls`] reads a PEM certificate chain and private key, serves them through rustls
//! (ring provider; TLS 1.2 and 1.3, ALPN `h2` and `http/1.1`), and re-reads the files when their
//! modification time or size changes (checked every `reload_every`), so a rotated certificate —
//! cert-manager renewing a Kubernetes Secret, for instance — is served to new connections without
//! a restart. A rotation that cannot be parsed (a half-written file, a key that does not match)
//! keeps the previous certificate and is logged; it is retried at the next check.

use std::{
    fmt,
    path::{Path, PathBuf},
    sync::{Arc, RwLock},
    time::{Duration, SystemTime},
};

use anyhow::{Context as _, bail};
use rustls::{
    ServerConfig,
    crypto::ring,
    server::{ClientHello, ResolvesServerCert},
    sign::CertifiedKey,
};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject as _};
use tokio::sync::watch;
pub use tokio_rustls::{TlsAcceptor, server::TlsStream};

/// Where the certificate chain and its private key live (PEM files).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// The certificate chain, leaf first.
    pub cert: PathBuf,
    /// The private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// The files' identity at one moment: a change of either means a reload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    cert: (Option<SystemTime>, u64),
    key: (Option<SystemTime>, u64),
}

fn stamp_of(path: &Path) -> (Option<SystemTime>, u64) {
    match std::fs::metadata(path) {
        Ok(m) => (m.modified().ok(), m.len()),
        Err(_) => (None, 0),
    }
}

impl TlsFiles {
    fn stamp(&self) -> Stamp {
        Stamp {
            cert: stamp_of(&self.cert),
            key: stamp_of(&self.key),
        }
    }

    /// Parse both files into a key rustls can serve; fails when they do not belong together.
    fn load(&self) -> anyhow::Result<CertifiedKey> {
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&self.cert)
            .with_context(|| format!("reading TLS certificate {}", self.cert.display()))?
            .collect::<Result<_, _>>()
            .with_context(|| format!("parsing TLS certificate {}", self.cert.display()))?;
        if chain.is_empty() {
            bail!("no certificate in {}", self.cert.display());
        }
        let key = PrivateKeyDer::from_pem_file(&self.key)
            .with_context(|| format!("reading TLS private key {}", self.key.display()))?;
        let provider = ring::default_provider();
        let certified = CertifiedKey::from_der(chain, key, &provider).with_context(|| {
            format!(
                "TLS key {} does not match certificate {}",
                self.key.display(),
                self.cert.display()
            )
        })?;
        Ok(certified)
    }
}

/// The certificate currently served; swapped by the reload task.
struct Current(RwLock<Arc<CertifiedKey>>);

impl fmt::Debug for Current {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Current(..)")
    }
}

impl ResolvesServerCert for Current {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(match self.0.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        })
    }
}

impl Current {
    fn set(&self, key: CertifiedKey) {
        let key = Arc::new(key);
        match self.0.write() {
            Ok(mut guard) => *guard = key,
            Err(poisoned) => *poisoned.into_inner() = key,
        }
    }
}

/// A TLS acceptor whose certificate follows its files.
#[derive(Clone)]
pub struct ReloadingTls {
    acceptor: TlsAcceptor,
    reloads: watch::Receiver<u64>,
}

impl fmt::Debug for ReloadingTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReloadingTls")
            .field("reloads", &self.reloads())
            .finish_non_exhaustive()
    }
}

impl ReloadingTls {
    /// Load `files` (a failure here is a start-up error) and spawn the task that reloads them
    /// every `reload_every` while `stop` stays false. Must run inside a tokio runtime.
    pub fn start(
        files: TlsFiles,
        reload_every: Duration,
        mut stop: watch::Receiver<bool>,
    ) -> anyhow::Result<Self> {
        let mut stamp = files.stamp();
        let current = Arc::new(Current(RwLock::new(Arc::new(files.load()?))));
        let mut config = ServerConfig::builder_with_provider(Arc::new(ring::default_provider()))
            .with_safe_default_protocol_versions()
            .context("TLS protocol versions")?
            .with_no_client_auth()
            .with_cert_resolver(current.clone());
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        let (reloaded_tx, reloads) = watch::channel(0u64);
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(reload_every) => {}
                    _ = stop.changed() => return,
                }
                if *stop.borrow() {
                    return;
                }
                let now = files.stamp();
                if now == stamp {
                    continue;
                }
                match files.load() {
                    Ok(key) => {
                        current.set(key);
                        stamp = now;
                        reloaded_tx.send_modify(|n| *n += 1);
                        tracing::info!(cert = %files.cert.display(), "TLS certificate reloaded");
                    }
                    // Keep serving the previous certificate; try again at the next check (the
                    // stamp is not updated, and a half-written file changes again when complete).
                    Err(e) => {
                        tracing::warn!(error = %format!("{e:#}"), "TLS reload failed; keeping the previous certificate")
                    }
                }
            }
        });
        Ok(Self {
            acceptor: TlsAcceptor::from(Arc::new(config)),
            reloads,
        })
    }

    /// The acceptor to run each accepted TCP connection through.
    pub fn acceptor(&self) -> TlsAcceptor {
        self.acceptor.clone()
    }

    /// How many times the certificate was reloaded (for tests and logs).
    pub fn reloads(&self) -> u64 {
        *self.reloads.borrow()
    }
}
