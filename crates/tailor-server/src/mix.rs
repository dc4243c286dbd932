//! The splitmix64 finalizer: a cheap, well-mixed 64-bit hash step, stable across builds
//! (experiment assignment and exploration draws depend on it).

/// Mixes all bits of `z` into all bits of the result.
pub fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}
