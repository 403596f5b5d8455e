//! An FNV-1a fingerprint of a small collection (pixels and captions), shared by the native
//! and the wasm test.

/// The fingerprint natively (x86_64) and in wasm32.
pub const PINNED: u64 = 6_657_602_576_781_606_089;

/// FNV-1a over the pixels (64 px) and captions of scenes 0..20 of seed 1.
pub fn of_collection() -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for scene in synth::generate(1, 0..20) {
        let pixels = synth::render(&scene, 64).expect("64 is a valid size");
        for &byte in pixels.iter().chain(synth::caption(&scene).as_bytes()) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    hash
}
