//! Every fuzz target over its committed corpus and regressions, then a seeded mutation
//! smoke run (not coverage-guided: `scripts/fuzz` runs libFuzzer). An input that panics is
//! written to `target/fuzz-smoke-failures/<target>/` and named in the failure, ready to
//! be committed under `fuzz/regressions/<target>/`.
//!
//! `FUZZ_SMOKE_MUTATIONS` sets the mutations per target (default 20,000).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use fuzz_targets::{TARGETS, Target};
use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Inputs past this are cut, as libFuzzer's `-max_len` would.
const MAX_INPUT: usize = 64 * 1024;

fn inputs(kind: &str, target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(kind)
        .join(target);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut paths: Vec<PathBuf> = entries.map(|e| e.expect("a listed file").path()).collect();
    paths.sort();
    paths
        .into_iter()
        .map(|path| {
            let bytes = std::fs::read(&path).expect("a corpus file reads");
            (path, bytes)
        })
        .collect()
}

/// Runs `target` on `input`; on a panic, saves the input and fails naming it.
fn run_one(name: &str, target: Target, input: &[u8], origin: &str) {
    if catch_unwind(AssertUnwindSafe(|| target(input))).is_ok() {
        return;
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../target/fuzz-smoke-failures")
        .join(name);
    std::fs::create_dir_all(&dir).expect("a folder for the failing input");
    let path = dir.join(format!("crash-{}", blake3::hash(input).to_hex()));
    std::fs::write(&path, input).expect("the failing input is saved");
    panic!(
        "{name} panicked on {origin}; the input is {}",
        path.display()
    );
}

/// One of libFuzzer's simple mutations of `input`, some with a second corpus input.
fn mutate(input: &[u8], other: &[u8], rng: &mut ChaCha8Rng) -> Vec<u8> {
    let mut out = input.to_vec();
    for _ in 0..1 + rng.random_range(0..4) {
        let len = out.len();
        match rng.random_range(0..8) {
            0 if len > 0 => {
                let at = rng.random_range(0..len);
                out[at] ^= 1 << rng.random_range(0..8);
            }
            1 if len > 0 => {
                let at = rng.random_range(0..len);
                out[at] = rng.next_u32() as u8;
            }
            2 => {
                let at = rng.random_range(0..=len);
                let bytes: Vec<u8> = (0..rng.random_range(1..9))
                    .map(|_| rng.next_u32() as u8)
                    .collect();
                out.splice(at..at, bytes);
            }
            3 if len > 0 => {
                let from = rng.random_range(0..len);
                let to = (from + rng.random_range(1..=16)).min(len);
                out.drain(from..to);
            }
            4 if len >= 4 => {
                // An interesting number over four bytes: sizes and counts are where parsers break.
                let at = rng.random_range(0..=len - 4);
                let value: u32 =
                    [0, 1, 0x7f, 0x80, 0xff, 0xffff, 0x7fff_ffff, u32::MAX][rng.random_range(0..8)];
                out[at..at + 4].copy_from_slice(&value.to_le_bytes());
            }
            5 if len > 0 => {
                // Truncation: files cut short by a failed download or a full disk.
                out.truncate(rng.random_range(0..len));
            }
            6 if !other.is_empty() => {
                let at = rng.random_range(0..=len);
                let from = rng.random_range(0..other.len());
                let to = (from + rng.random_range(1..=64)).min(other.len());
                out.splice(at..at, other[from..to].iter().copied());
            }
            _ if len > 1 => {
                let from = rng.random_range(0..len);
                let to = (from + rng.random_range(1..=32)).min(len);
                let copy = out[from..to].to_vec();
                let at = rng.random_range(0..=len);
                out.splice(at..at, copy);
            }
            _ => out.push(rng.next_u32() as u8),
        }
    }
    out.truncate(MAX_INPUT);
    out
}

fn smoke(name: &str) {
    let target = TARGETS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, t)| *t)
        .expect("a target of that name");
    let corpus = inputs("corpus", name);
    assert!(!corpus.is_empty(), "fuzz/corpus/{name} holds no seed");
    for (kind, files) in [
        ("corpus", &corpus),
        ("regressions", &inputs("regressions", name)),
    ] {
        for (path, bytes) in files {
            run_one(
                name,
                target,
                bytes,
                &format!("{kind} file {}", path.display()),
            );
        }
    }
    let mutations: usize = std::env::var("FUZZ_SMOKE_MUTATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let mut rng = ChaCha8Rng::seed_from_u64(u64::from_le_bytes(
        blake3::hash(name.as_bytes()).as_bytes()[..8]
            .try_into()
            .expect("8 bytes"),
    ));
    for round in 0..mutations {
        let (_, input) = &corpus[rng.random_range(0..corpus.len())];
        let (_, other) = &corpus[rng.random_range(0..corpus.len())];
        let mutated = mutate(input, other, &mut rng);
        run_one(name, target, &mutated, &format!("mutation {round}"));
    }
}

#[test]
fn every_target_has_a_smoke_test() {
    let tested = [
        "index_shard",
        "manifest",
        "dataset_files",
        "npy",
        "cifar",
        "csv_rows",
        "safetensors",
        "pytorch",
        "tokenizer",
        "image",
        "http_request",
    ];
    let names: Vec<&str> = TARGETS.iter().map(|(n, _)| *n).collect();
    assert_eq!(names, tested);
}

#[test]
fn index_shard() {
    smoke("index_shard");
}

#[test]
fn manifest() {
    smoke("manifest");
}

#[test]
fn dataset_files() {
    smoke("dataset_files");
}

#[test]
fn npy() {
    smoke("npy");
}

#[test]
fn cifar() {
    smoke("cifar");
}

#[test]
fn csv_rows() {
    smoke("csv_rows");
}

#[test]
fn safetensors() {
    smoke("safetensors");
}

#[test]
fn pytorch() {
    smoke("pytorch");
}

#[test]
fn tokenizer() {
    smoke("tokenizer");
}

#[test]
fn image() {
    smoke("image");
}

#[test]
fn http_request() {
    smoke("http_request");
}
