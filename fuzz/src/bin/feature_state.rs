//! Fuzz target `feature_state`: see `tailor_fuzz::feature_state`.
fn main() {
    afl::fuzz!(|data: &[u8]| tailor_fuzz::feature_state::run(data));
}
