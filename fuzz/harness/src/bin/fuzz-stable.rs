//! Run a fuzz target on stable Rust: random and mutated inputs for a fixed time.
//!
//! `fuzz-stable <key_parse|proto_decode|dialect_requests|all> [seconds]`
//!
//! Inputs are random byte strings (lengths 0-4096) and mutations (bit flips, byte
//! replacements, splices, truncations) of a small seed set, with a fixed RNG seed per run that
//! is printed so a finding can be replayed. A panic prints the input (hex) and exits 1.

use std::{
    panic::{AssertUnwindSafe, catch_unwind},
    time::{Duration, Instant},
};

use rand::{RngExt as _, SeedableRng as _, rngs::StdRng};

type Target = fn(&[u8]);

fn seeds(name: &str) -> Vec<Vec<u8>> {
    let key = identity_core::keys::generate().plaintext.into_bytes();
    match name {
        "key_parse" => vec![key, b"idk_".to_vec(), vec![0]],
        "proto_decode" => vec![vec![0, 0x0a, 3, b'a', b'b', b'c', 0x12, 1, b'x'], vec![11]],
        _ => {
            let mut out = Vec::new();
            for r in 0..identity_fuzz_harness::ROUTES.len() {
                for c in 0..5u8 {
                    let mut v = vec![u8::try_from(r).unwrap_or(0), c];
                    v.extend_from_slice(b"2\xFFlimit=5&after=user-0\xFF{\"username\":\"a\",\"password\":\"b\",\"data\":{\"attributes\":{\"name\":\"x\"}},\"name\":\"k\",\"role\":1}");
                    out.push(v);
                }
            }
            out
        }
    }
}

fn mutate(rng: &mut StdRng, input: &mut Vec<u8>) {
    for _ in 0..rng.random_range(1..8) {
        let len = input.len();
        match rng.random_range(0..6) {
            0 if len > 0 => {
                let i = rng.random_range(0..len);
                input[i] ^= 1 << rng.random_range(0..8);
            }
            1 if len > 0 => {
                let i = rng.random_range(0..len);
                input[i] = rng.random();
            }
            2 => {
                let i = rng.random_range(0..=len);
                let extra: Vec<u8> = (0..rng.random_range(1..32)).map(|_| rng.random()).collect();
                input.splice(i..i, extra);
            }
            3 if len > 0 => input.truncate(rng.random_range(0..len)),
            4 => {
                // Interesting bytes: separators, quotes, braces, huge numbers.
                let tokens: [&[u8]; 8] = [
                    b"\xFF",
                    b"\"",
                    b"{",
                    b"}",
                    b"[",
                    b"99999999999999999999",
                    b"%",
                    b"\\u0000",
                ];
                let t = tokens[rng.random_range(0..tokens.len())];
                let i = rng.random_range(0..=len);
                input.splice(i..i, t.iter().copied());
            }
            _ if len > 1 => {
                let a = rng.random_range(0..len);
                let b = rng.random_range(a..len);
                let chunk = input[a..b].to_vec();
                let i = rng.random_range(0..=input.len());
                input.splice(i..i, chunk);
            }
            _ => input.push(rng.random()),
        }
    }
    input.truncate(4096);
}

fn run(name: &str, target: Target, secs: u64, seed: u64) -> bool {
    let mut rng = StdRng::seed_from_u64(seed);
    let corpus = seeds(name);
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut n: u64 = 0;
    // Silence the default hook: findings are reported below with their input.
    std::panic::set_hook(Box::new(|_| {}));
    while Instant::now() < deadline {
        let input = if rng.random_bool(0.3) {
            let len = rng.random_range(0..4096);
            (0..len).map(|_| rng.random()).collect()
        } else {
            let mut v = corpus[rng.random_range(0..corpus.len())].clone();
            mutate(&mut rng, &mut v);
            v
        };
        let result = catch_unwind(AssertUnwindSafe(|| target(&input)));
        n += 1;
        if let Err(e) = result {
            let msg = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_default();
            let hex: String = input.iter().map(|b| format!("{b:02x}")).collect();
            println!("{name}: FINDING after {n} inputs (seed {seed}): {msg}\ninput: {hex}");
            let _ = std::panic::take_hook();
            return false;
        }
    }
    let _ = std::panic::take_hook();
    println!("{name}: {n} inputs in {secs} s, no finding (seed {seed})");
    true
}

fn main() {
    let mut args = std::env::args().skip(1);
    let which = args.next().unwrap_or_else(|| "all".to_owned());
    let secs: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(30);
    let seed: u64 = std::env::var("FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| rand::rng().random());
    let targets: [(&str, Target); 3] = [
        ("key_parse", identity_fuzz_harness::key_parse),
        ("proto_decode", identity_fuzz_harness::proto_decode),
        ("dialect_requests", identity_fuzz_harness::dialect_requests),
    ];
    let mut ok = true;
    let mut ran = false;
    for (name, target) in targets {
        if which == "all" || which == name {
            ran = true;
            ok &= run(name, target, secs, seed);
        }
    }
    if !ran {
        eprintln!("unknown target {which:?}: key_parse, proto_decode, dialect_requests or all");
        std::process::exit(2);
    }
    if !ok {
        std::process::exit(1);
    }
}
