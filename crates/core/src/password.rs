//! argon2id hashing off the async runtime, with bounded concurrency and timing parity.

use std::sync::{
    Arc,
    atomic::{AtomicU64, Ordering},
};

use argon2::{Algorithm, Argon2, Params, PasswordHasher as _, PasswordVerifier as _, Version};
use tokio::sync::Semaphore;

use crate::{Error, Result, domain::Password};

/// argon2id cost parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
pub struct Argon2Params {
    /// Memory in KiB.
    pub memory_kib: u32,
    /// Iterations.
    pub iterations: u32,
    /// Lanes.
    pub parallelism: u32,
}

impl Default for Argon2Params {
    /// OWASP's recommendation: m=19 MiB, t=2, p=1.
    fn default() -> Self {
        Self {
            memory_kib: 19_456,
            iterations: 2,
            parallelism: 1,
        }
    }
}

impl Argon2Params {
    /// The cheapest parameters argon2 accepts; for tests only.
    pub fn insecure_fast() -> Self {
        Self {
            memory_kib: 8,
            iterations: 1,
            parallelism: 1,
        }
    }
}

/// Hashes and verifies passwords on the blocking pool, at most `permits` at a time.
#[derive(Clone)]
pub struct PasswordHasher {
    inner: Arc<Inner>,
}

struct Inner {
    argon: Argon2<'static>,
    permits: Semaphore,
    dummy_hash: String,
    /// argon2 computations run so far (hashes and verifies, real or dummy).
    computed: AtomicU64,
}

impl std::fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordHasher")
            .field("permits", &self.inner.permits.available_permits())
            .finish()
    }
}

impl PasswordHasher {
    /// A hasher with the given parameters, allowing `concurrency` hashes at once.
    pub fn new(params: Argon2Params, concurrency: usize) -> Result<Self> {
        let p = Params::new(
            params.memory_kib,
            params.iterations,
            params.parallelism,
            None,
        )
        .map_err(|e| Error::Internal(format!("bad argon2 parameters: {e}")))?;
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, p);
        // A hash of a random password with the same parameters: verifying against it costs the same
        // as a real verify, so unknown users cannot be told apart by timing.
        let mut random = [0u8; 32];
        rand::fill(&mut random);
        let dummy_hash = argon
            .hash_password(&random)
            .map_err(|e| Error::Internal(format!("argon2: {e}")))?
            .to_string();
        Ok(Self {
            inner: Arc::new(Inner {
                argon,
                permits: Semaphore::new(concurrency.max(1)),
                dummy_hash,
                computed: AtomicU64::new(0),
            }),
        })
    }

    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Argon2<'static>) -> T + Send + 'static,
    ) -> Result<T> {
        let _permit = self
            .inner
            .permits
            .acquire()
            .await
            .map_err(|_| Error::Internal("hasher closed".into()))?;
        let inner = Arc::clone(&self.inner);
        let span = tracing::Span::current();
        tokio::task::spawn_blocking(move || {
            let out = span.in_scope(|| f(&inner.argon));
            inner.computed.fetch_add(1, Ordering::Relaxed);
            out
        })
        .await
        .map_err(|e| Error::Internal(format!("hashing task failed: {e}")))
    }

    /// How many argon2 computations (hashes and verifies, including the dummy verify of unknown
    /// or backed-off accounts) this hasher has run. Lets tests assert that the work was done.
    pub fn computations(&self) -> u64 {
        self.inner.computed.load(Ordering::Relaxed)
    }

    /// Verify `password` against the dummy hash: the same work as a real verify, always `false`.
    pub async fn verify_dummy(&self, password: &Password) -> Result<bool> {
        self.verify(password, None).await
    }

    /// Hash a password to a PHC string.
    pub async fn hash(&self, password: &Password) -> Result<String> {
        let pw = password.clone();
        self.run(move |argon| {
            argon
                .hash_password(pw.expose().as_bytes())
                .map(|h| h.to_string())
        })
        .await?
        .map_err(|e| Error::Internal(format!("argon2: {e}")))
    }

    /// Verify `password` against `phc`; with `None` a dummy hash is verified so that the work is
    /// the same, and the answer is always `false`.
    pub async fn verify(&self, password: &Password, phc: Option<&str>) -> Result<bool> {
        let pw = password.clone();
        let (hash, real) = match phc {
            Some(h) => (h.to_owned(), true),
            None => (self.inner.dummy_hash.clone(), false),
        };
        let ok = self
            .run(move |argon| {
                argon
                    .verify_password(pw.expose().as_bytes(), hash.as_str())
                    .is_ok()
            })
            .await?;
        Ok(ok && real)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hash_and_verify() -> Result<()> {
        let h = PasswordHasher::new(Argon2Params::insecure_fast(), 2)?;
        let pw = Password::parse_presented("correct horse").map_err(|e| Error::invalid("p", e))?;
        let wrong = Password::parse_presented("wrong horse").map_err(|e| Error::invalid("p", e))?;
        let phc = h.hash(&pw).await?;
        assert!(phc.starts_with("$argon2id$"));
        assert!(h.verify(&pw, Some(&phc)).await?);
        assert!(!h.verify(&wrong, Some(&phc)).await?);
        assert!(!h.verify(&pw, None).await?);
        assert!(!h.verify(&pw, Some("not a phc string")).await?);
        let before = h.computations();
        assert!(!h.verify_dummy(&pw).await?);
        assert_eq!(h.computations(), before + 1);
        Ok(())
    }
}
