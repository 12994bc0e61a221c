//! argon2id hashing off the async runtime, with bounded concurrency and timing parity.

use std::sync::{
    Arc,
    atomic::{AtomicU64, Ordering},
};

use argon2::{
    Algorithm, Argon2, Block, Params, PasswordHasher as _, Version,
    password_hash::phc::{Output, ParamsString, PasswordHash, Salt},
};
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

/// Hashes and verifies passwords on a pool of its own threads, at most `concurrency` at a time.
///
/// The pool's threads may run at a lower CPU priority (a positive *niceness*, Linux only): a
/// login flood then takes only the CPU time that the request path leaves, instead of an equal
/// share of every core, and logins still use every idle core.
#[derive(Clone)]
pub struct PasswordHasher {
    inner: Arc<Inner>,
}

/// One argon2 computation, run on a pool thread.
type Job = Box<dyn FnOnce(&mut Worker) + Send>;

/// Bytes of a new hash's salt and output (argon2's defaults).
const SALT_LEN: usize = 16;
const OUTPUT_LEN: usize = 32;

/// A pool thread's hasher and its argon2 working memory, kept from one computation to the next.
///
/// argon2 needs `memory_kib` of scratch memory per computation. Allocated afresh each time, glibc
/// keeps the freed 19 MiB in the thread's arena after its mmap threshold adapts, so a server that
/// hashed a few passwords on several threads held hundreds of MiB (measured: 311 MiB after 17
/// hashes). One buffer per pool thread bounds it at `concurrency × memory_kib` and spares the page
/// faults of fresh memory on every login.
pub(crate) struct Worker {
    argon: Argon2<'static>,
    blocks: Vec<Block>,
}

impl Worker {
    fn new(argon: Argon2<'static>) -> Self {
        Self {
            argon,
            blocks: Vec::new(),
        }
    }

    /// argon2 of `pwd` and `salt` into `out` with `argon`'s parameters, in this worker's memory
    /// (a temporary buffer when a stored hash asks for more than the configured parameters).
    fn compute(
        &mut self,
        argon: Option<&Argon2<'_>>,
        pwd: &[u8],
        salt: &[u8],
        out: &mut [u8],
    ) -> std::result::Result<(), argon2::Error> {
        let argon = argon.unwrap_or(&self.argon);
        let need = argon.params().block_count();
        if need > self.argon.params().block_count() {
            let mut once = vec![Block::default(); need];
            return argon.hash_password_into_with_memory(pwd, salt, out, &mut once[..]);
        }
        if self.blocks.len() < need {
            self.blocks.resize(need, Block::default());
        }
        let memory = self
            .blocks
            .get_mut(..need)
            .ok_or(argon2::Error::MemoryTooLittle)?;
        argon.hash_password_into_with_memory(pwd, salt, out, memory)
    }

    /// A PHC string of `pwd` with a fresh salt and the configured parameters.
    fn hash(&mut self, pwd: &[u8]) -> std::result::Result<String, String> {
        let mut salt = [0u8; SALT_LEN];
        rand::fill(&mut salt);
        let mut out = [0u8; OUTPUT_LEN];
        self.compute(None, pwd, &salt, &mut out)
            .map_err(|e| e.to_string())?;
        let phc = PasswordHash {
            algorithm: Algorithm::Argon2id.ident(),
            version: Some(Version::V0x13.into()),
            params: ParamsString::try_from(self.argon.params()).map_err(|e| e.to_string())?,
            salt: Some(Salt::new(&salt).map_err(|e| e.to_string())?),
            hash: Some(Output::new(&out).map_err(|e| e.to_string())?),
        };
        Ok(phc.to_string())
    }

    /// Whether `pwd` matches the PHC string `phc` (any argon2 variant, version and parameters
    /// it names); `false` for a string that is not an argon2 PHC string.
    fn verify(&mut self, pwd: &[u8], phc: &str) -> bool {
        let Ok(parsed) = PasswordHash::new(phc) else {
            return false;
        };
        let (Some(salt), Some(expected)) = (&parsed.salt, &parsed.hash) else {
            return false;
        };
        let Ok(algorithm) = Algorithm::try_from(parsed.algorithm.as_str()) else {
            return false;
        };
        let version = match parsed.version.map(Version::try_from).transpose() {
            Ok(v) => v.unwrap_or_default(),
            Err(_) => return false,
        };
        let Ok(params) = Params::try_from(&parsed) else {
            return false;
        };
        let argon = Argon2::new(algorithm, version, params);
        let mut buffer = [0u8; Output::MAX_LENGTH];
        let Some(out) = buffer.get_mut(..expected.len()) else {
            return false;
        };
        if self.compute(Some(&argon), pwd, salt.as_ref(), out).is_err() {
            return false;
        }
        // `Output` compares in constant time.
        Output::new(out).is_ok_and(|computed| computed == *expected)
    }
}

struct Inner {
    permits: Semaphore,
    /// Jobs for the pool; the threads end when this is dropped.
    jobs: std::sync::Mutex<std::sync::mpsc::Sender<Job>>,
    dummy_hash: String,
    /// argon2 computations run so far (hashes and verifies, real or dummy).
    computed: Arc<AtomicU64>,
}

impl std::fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordHasher")
            .field("permits", &self.inner.permits.available_permits())
            .finish()
    }
}

/// Lower the calling thread's CPU priority to `niceness` (never raise it). Linux only; elsewhere,
/// or when the system refuses, the thread keeps its priority and a warning is logged.
fn lower_priority(niceness: i32) {
    if niceness <= 0 {
        return;
    }
    #[cfg(target_os = "linux")]
    {
        use rustix::{process::getpriority_process, process::setpriority_process, thread::gettid};
        // On Linux a niceness set for a thread id applies to that thread only.
        let tid = Some(gettid());
        let current = getpriority_process(tid).unwrap_or(0);
        if current < niceness
            && let Err(e) = setpriority_process(tid, niceness)
        {
            tracing::warn!(error = %e, niceness, "argon2 pool: could not lower the priority");
        }
    }
    #[cfg(not(target_os = "linux"))]
    tracing::warn!(
        niceness,
        "argon2 pool: thread priorities are only set on Linux"
    );
}

impl PasswordHasher {
    /// A hasher with the given parameters, allowing `concurrency` hashes at once, on threads of
    /// normal priority.
    pub fn new(params: Argon2Params, concurrency: usize) -> Result<Self> {
        Self::with_niceness(params, concurrency, 0)
    }

    /// Like [`PasswordHasher::new`], with the pool's threads at `niceness` (0 = normal, up to
    /// 19 = lowest; see `setpriority(2)`).
    pub fn with_niceness(params: Argon2Params, concurrency: usize, niceness: i32) -> Result<Self> {
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
        let concurrency = concurrency.max(1);
        let (tx, rx) = std::sync::mpsc::channel::<Job>();
        let rx = Arc::new(std::sync::Mutex::new(rx));
        for n in 0..concurrency {
            let rx = Arc::clone(&rx);
            let mut worker = Worker::new(argon.clone());
            std::thread::Builder::new()
                .name(format!("argon2-{n}"))
                .spawn(move || {
                    lower_priority(niceness);
                    loop {
                        // The lock is held only while waiting for the next job.
                        let job = match rx.lock() {
                            Ok(guard) => guard.recv(),
                            Err(_) => return,
                        };
                        match job {
                            Ok(job) => job(&mut worker),
                            Err(_) => return,
                        }
                    }
                })
                .map_err(|e| Error::Internal(format!("starting the argon2 pool: {e}")))?;
        }
        Ok(Self {
            inner: Arc::new(Inner {
                permits: Semaphore::new(concurrency),
                jobs: std::sync::Mutex::new(tx),
                dummy_hash,
                computed: Arc::new(AtomicU64::new(0)),
            }),
        })
    }

    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Worker) -> T + Send + 'static,
    ) -> Result<T> {
        let _permit = self
            .inner
            .permits
            .acquire()
            .await
            .map_err(|_| Error::Internal("hasher closed".into()))?;
        let (done, answer) = tokio::sync::oneshot::channel();
        let computed = Arc::clone(&self.inner.computed);
        let span = tracing::Span::current();
        let job: Job = Box::new(move |worker| {
            let out = span.in_scope(|| f(worker));
            computed.fetch_add(1, Ordering::Relaxed);
            // The caller may have gone (request cancelled): nothing to answer then.
            let _ = done.send(out);
        });
        self.inner
            .jobs
            .lock()
            .map_err(|_| Error::Internal("argon2 pool poisoned".into()))?
            .send(job)
            .map_err(|_| Error::Internal("argon2 pool stopped".into()))?;
        // A permit is held until the answer: at most `concurrency` jobs wait for the pool's
        // `concurrency` threads, so a job never queues behind another.
        answer
            .await
            .map_err(|_| Error::Internal("hashing task failed".into()))
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
        self.run(move |worker| worker.hash(pw.expose().as_bytes()))
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
            .run(move |worker| worker.verify(pw.expose().as_bytes(), hash.as_str()))
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

    /// Hashes made here verify with the argon2 crate's own verifier and the other way round, for
    /// the configured parameters and for other variants and costs found in stored hashes.
    #[tokio::test]
    async fn phc_strings_match_the_argon2_crate() -> Result<()> {
        use argon2::{PasswordHasher as _, PasswordVerifier as _};
        let params = Argon2Params {
            memory_kib: 64,
            iterations: 2,
            parallelism: 1,
        };
        let h = PasswordHasher::new(params, 1)?;
        let pw = Password::parse_presented("correct horse").map_err(|e| Error::invalid("p", e))?;
        let wrong = Password::parse_presented("wrong horse").map_err(|e| Error::invalid("p", e))?;
        let ours = h.hash(&pw).await?;
        assert!(ours.starts_with("$argon2id$v=19$m=64,t=2,p=1$"), "{ours}");
        let reference = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(64, 2, 1, None).map_err(|e| Error::Internal(e.to_string()))?,
        );
        reference
            .verify_password(b"correct horse", ours.as_str())
            .map_err(|e| Error::Internal(format!("the argon2 crate refused our hash: {e}")))?;
        // Stored hashes made by the argon2 crate: the configured cost, a bigger one (temporary
        // memory), another variant and version.
        for (algorithm, version, m) in [
            (Algorithm::Argon2id, Version::V0x13, 64),
            (Algorithm::Argon2id, Version::V0x13, 256),
            (Algorithm::Argon2i, Version::V0x10, 32),
        ] {
            let other = Argon2::new(
                algorithm,
                version,
                Params::new(m, 1, 1, None).map_err(|e| Error::Internal(e.to_string()))?,
            );
            let theirs = other
                .hash_password(b"correct horse")
                .map_err(|e| Error::Internal(e.to_string()))?
                .to_string();
            assert!(h.verify(&pw, Some(&theirs)).await?, "{theirs}");
            assert!(!h.verify(&wrong, Some(&theirs)).await?, "{theirs}");
        }
        assert!(
            !h.verify(&pw, Some("$argon2id$v=19$m=64,t=2,p=1$bm90"))
                .await?
        );
        assert!(
            !h.verify(&pw, Some("$scrypt$ln=4,r=8,p=1$c2FsdA$aGFzaA"))
                .await?
        );
        Ok(())
    }

    /// The pool's threads run at the configured niceness; the caller's thread keeps its own.
    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn pool_threads_run_at_the_configured_niceness() -> Result<()> {
        use rustix::process::getpriority_process;
        let mine = || getpriority_process(Some(rustix::thread::gettid())).unwrap_or(-100);
        let before = mine();
        let h = PasswordHasher::with_niceness(Argon2Params::insecure_fast(), 2, 10)?;
        let seen: Vec<i32> = futures_join(&h).await?;
        assert_eq!(mine(), before, "the caller's priority changed");
        for nice in seen {
            assert_eq!(nice, before.max(10), "pool thread niceness");
        }
        let normal = PasswordHasher::new(Argon2Params::insecure_fast(), 1)?;
        assert_eq!(normal.run(move |_| mine()).await?, before);
        Ok(())
    }

    /// The niceness seen by several jobs at once (so that both threads are used).
    #[cfg(target_os = "linux")]
    async fn futures_join(h: &PasswordHasher) -> Result<Vec<i32>> {
        let job = || {
            h.run(|worker| {
                let _ = worker.hash(b"x");
                rustix::process::getpriority_process(Some(rustix::thread::gettid())).unwrap_or(-100)
            })
        };
        let (a, b, c) = tokio::join!(job(), job(), job());
        Ok(vec![a?, b?, c?])
    }
}
