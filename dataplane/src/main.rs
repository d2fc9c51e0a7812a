//! The `mailguard` binary.
use mimalloc::MiMalloc;

#[global_allocator]
static GLOBAL: MiMalloc = MiMalloc;

fn main() {
    eprintln!("mailguard: under construction");
    std::process::exit(2);
}
