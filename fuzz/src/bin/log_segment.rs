//! Fuzz target `log_segment`: see `tailor_fuzz::log_segment`.
fn main() {
    afl::fuzz!(|data: &[u8]| tailor_fuzz::log_segment::run(data));
}
