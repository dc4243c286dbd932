//! Fuzz target `log_frame`: see `tailor_fuzz::log_frame`.
fn main() {
    afl::fuzz!(|data: &[u8]| tailor_fuzz::log_frame::run(data));
}
