//! Fuzz target `segment_batch`: see `tailor_fuzz::segment_batch`.
fn main() {
    afl::fuzz!(|data: &[u8]| tailor_fuzz::segment_batch::run(data));
}
