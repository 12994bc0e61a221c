//! One request cannot exhaust memory (security issue, High item 1), measured on the real
//! `identity-server` binary in a process of its own, on SQLite and on PostgreSQL: its resident
//! memory (`VmRSS` after every call, and the `VmHWM` peak) stays under 2 × idle + 50 MiB while
//! every RPC of `identity.v1` (the list comes from the compiled descriptor set, so a new RPC
//! without a case fails here) gets
//!
//! 1. its largest accepted request (`cases.rs`: every string at its longest, every list at its
//!    count limit; each must succeed),
//! 2. that request padded with an unknown field to exactly its service's decode cap,
//! 3. for each repeated string field, that request with the field filled with empty strings up
//!    to the cap (the cheapest entry on the wire, 24 bytes once decoded; refused with at most
//!    `MAX_VIOLATIONS` violations),
//! 4. the request padded one step over the cap (refused by tonic, OUT_OF_RANGE),
//!
//! then the attack of the report (CreateApiKey with 2,000,000 empty scopes, 4 MB) and 16 filled
//! CreateApiKey requests at once. Idle is `VmRSS` once the server answers, before any request.
//! Run with `--no-capture` to see the figures.

mod cases;
mod wire;

use std::{
    collections::BTreeSet,
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use identity_server::limits;
use identity_testkit::{Backend, TestDatabase, logged_addr};
use tonic::{
    Code,
    transport::{Channel, Endpoint},
};

use crate::{cases::Runner, wire::call};

/// The real binary, killed when dropped.
struct Server {
    child: Child,
    log: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}

impl Server {
    fn start(database_url: &str) -> Self {
        let log = std::env::temp_dir().join(format!("identity-rss-{}.log", uuid::Uuid::new_v4()));
        let out = std::fs::File::create(&log)
            .unwrap_or_else(|e| panic!("creating {}: {e}", log.display()));
        let err = out
            .try_clone()
            .unwrap_or_else(|e| panic!("cloning the log handle: {e}"));
        let mut command = Command::new(env!("CARGO_BIN_EXE_identity-server"));
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("IDENTITY_") {
                command.env_remove(&name);
            }
        }
        let secret = format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        );
        let child = command
            .env("IDENTITY_DATABASE_URL", database_url)
            .env("IDENTITY_GRPC_ADDR", "127.0.0.1:0")
            .env("IDENTITY_HTTP_ADDR", "127.0.0.1:0")
            .env("IDENTITY_ADMIN_ENABLED", "false")
            .env("IDENTITY_LOG_FORMAT", "json")
            .env("IDENTITY_JWT_SECRET", secret)
            .env("IDENTITY_LOGIN_PER_SOURCE_BURST", "0")
            .env("RUST_LOG", "warn,identity_server=info")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("starting identity-server: {e}"));
        Self { child, log }
    }

    fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// A channel to the server once it listens and answers.
    async fn connect(&mut self) -> Channel {
        let started = Instant::now();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("identity-server exited ({status}): {}", self.logs());
            }
            if let Some(addr) = logged_addr(&self.logs(), "gRPC listening", "addr") {
                let endpoint = Endpoint::from_shared(format!("http://{addr}"))
                    .unwrap_or_else(|e| panic!("bad endpoint: {e}"));
                if let Ok(channel) = endpoint.connect().await {
                    let setup = call(
                        &channel,
                        "identity.v1.AuthService/GetSetupState",
                        vec![],
                        None,
                    );
                    if setup.await.is_ok() {
                        return channel;
                    }
                }
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "identity-server did not answer within 30 s: {}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// `VmRSS:` or `VmHWM:` of the server, in MiB.
    fn mib(&self, field: &str) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_else(|e| panic!("reading the server's /proc status: {e}"));
        let kib: f64 = status
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or_else(|| panic!("no {field} in the server's /proc status"));
        kib / 1024.0
    }
}

/// The decode cap of the service of `rpc`.
fn cap_of(rpc: &str) -> usize {
    let service = rpc.split('/').next().unwrap_or_default();
    limits::decode_cap(service).unwrap_or_else(|| panic!("{service} has no decode cap"))
}

/// Codes that mean the server failed rather than refused.
const FAILED: &[Code] = &[
    Code::Internal,
    Code::Unknown,
    Code::Unavailable,
    Code::DataLoss,
];

async fn run(backend: Backend) {
    let started = Instant::now();
    let (db, url) = TestDatabase::create(backend)
        .await
        .unwrap_or_else(|e| panic!("creating a {backend:?} database: {e:#}"));
    let mut server = Server::start(&url);
    let channel = server.connect().await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let idle = server.mib("VmRSS:");
    let bound = 2.0 * idle + 50.0;
    let mut peak = (idle, String::from("idle"));
    // After every call: the highest VmRSS so far, and a failure as soon as it is over the bound.
    let mut sample = |what: &str| {
        let now = server.mib("VmRSS:");
        if now > peak.0 {
            peak = (now, what.to_owned());
        }
        assert!(
            now < bound,
            "{backend:?}: VmRSS {now:.1} MiB (VmHWM {:.1} MiB) after {what} is over 2 x idle \
             ({idle:.1} MiB) + 50 = {bound:.1} MiB",
            server.mib("VmHWM:")
        );
    };

    // 1. The largest accepted request of every RPC.
    let mut runner = Runner {
        channel: &channel,
        sent: Vec::new(),
        after_call: &mut sample,
        admin: None,
    };
    cases::largest_accepted(&mut runner).await;
    let sent = runner.sent;
    let covered: BTreeSet<String> = sent.iter().map(|s| s.rpc.clone()).collect();
    let missing: Vec<_> = identity_testkit::all_rpcs()
        .difference(&covered)
        .cloned()
        .collect();
    assert!(missing.is_empty(), "RPCs without a case: {missing:?}");
    let after_valid = server.mib("VmRSS:");

    // The attack of the report, then 16 filled CreateApiKey requests at once.
    let create_key = sent
        .iter()
        .find(|s| s.rpc.ends_with("/CreateApiKey"))
        .unwrap_or_else(|| panic!("no CreateApiKey case"));
    let cred = create_key.credential.as_deref();
    let attack = wire::fill_repeated(&create_key.body, &[5], create_key.body.len() + 4_000_000);
    let attack_len = attack.len();
    let answer = call(&channel, &create_key.rpc, attack, cred).await;
    sample("CreateApiKey with 2,000,000 empty scopes");
    let code = answer.err().map(|e| e.code());
    assert!(
        matches!(code, Some(Code::OutOfRange | Code::ResourceExhausted)),
        "2,000,000 scopes: {code:?}"
    );
    let filled = wire::fill_repeated(&create_key.body, &[5], cap_of(&create_key.rpc));
    let burst = (0..16).map(|_| call(&channel, &create_key.rpc, filled.clone(), cred));
    let answers = futures::future::join_all(burst).await;
    sample("16 filled CreateApiKey at once");
    for r in answers {
        assert!(r.as_ref().is_err_and(bounded_violations), "{r:?}");
    }

    // 2-4. Padded to the cap, lists filled to the cap, over the cap.
    for s in &sent {
        let cap = cap_of(&s.rpc);
        let cred = s.credential.as_deref();
        let padded = wire::pad_to(&s.body, cap);
        assert!(padded.len() <= cap);
        let answer = call(&channel, &s.rpc, padded, cred).await;
        sample(&format!("{} at the cap", s.rpc));
        if let Err(e) = answer {
            assert!(!FAILED.contains(&e.code()), "{} at the cap: {e:?}", s.rpc);
        }
        for field in &s.repeated {
            let filled = wire::fill_repeated(&s.body, field, cap);
            let answer = call(&channel, &s.rpc, filled, cred).await;
            sample(&format!("{} with {field:?} filled", s.rpc));
            assert!(
                answer.as_ref().is_err_and(bounded_violations),
                "{} with {field:?} filled: {answer:?}",
                s.rpc
            );
        }
        let over = wire::pad_to(&s.body, cap + 16);
        let answer = call(&channel, &s.rpc, over, cred).await;
        sample(&format!("{} over the cap", s.rpc));
        let code = answer.err().map(|e| e.code());
        assert!(
            matches!(code, Some(Code::OutOfRange | Code::ResourceExhausted)),
            "{} over the cap: {code:?}",
            s.rpc
        );
    }

    let hwm = server.mib("VmHWM:");
    let after = server.mib("VmRSS:");
    println!(
        "RSS {backend:?}: idle {idle:.1} MiB, after the largest valid requests {after_valid:.1} \
         MiB, after all {after:.1} MiB, highest sampled {:.1} MiB ({}), VmHWM {hwm:.1} MiB; \
         bound 2 x idle + 50 = {bound:.1} MiB; {} RPCs, {} cases, attack message {attack_len} \
         bytes, {:.1} s",
        peak.0,
        peak.1,
        covered.len(),
        sent.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(
        hwm < bound,
        "VmHWM {hwm:.1} MiB is over 2 x idle + 50 = {bound:.1} MiB"
    );
    drop(server);
    drop(db);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_request_cannot_exhaust_memory_sqlite() {
    run(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_request_cannot_exhaust_memory_postgres() {
    run(Backend::Postgres).await;
}

/// Whether `status` is INVALID_ARGUMENT with 1 to `MAX_VIOLATIONS` field violations.
fn bounded_violations(status: &tonic::Status) -> bool {
    use tonic_types::StatusExt as _;
    status.code() == Code::InvalidArgument
        && status.get_details_bad_request().is_some_and(|b| {
            (1..=identity_core::MAX_VIOLATIONS).contains(&b.field_violations.len())
        })
}
