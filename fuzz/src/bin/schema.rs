//! Fuzz target `schema`: see `tailor_fuzz::schema`.
fn main() {
    afl::fuzz!(|data: &[u8]| tailor_fuzz::schema::run(data));
}
