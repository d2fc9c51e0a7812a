//! The `loadgen` binary.
use mimalloc::MiMalloc;

#[global_allocator]
static GLOBAL: MiMalloc = MiMalloc;

fn main() {
    eprintln!("loadgen: under construction");
    std::process::exit(2);
}
