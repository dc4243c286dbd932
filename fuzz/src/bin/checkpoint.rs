//! Fuzz target `checkpoint`: see `tailor_fuzz::checkpoint`.
fn main() {
    afl::fuzz!(|data: &[u8]| tailor_fuzz::checkpoint::run(data));
}
