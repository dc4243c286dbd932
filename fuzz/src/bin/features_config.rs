//! Fuzz target `features_config`: see `tailor_fuzz::features_config`.
fn main() {
    afl::fuzz!(|data: &[u8]| tailor_fuzz::features_config::run(data));
}
