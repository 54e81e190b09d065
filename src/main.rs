//! The `dmasking` command line: a thin layer over the library.

use std::process::ExitCode;

#[global_allocator]
static ALLOC: dmasking::alloc::Counting = dmasking::alloc::Counting;

fn main() -> ExitCode {
    dmasking::alloc::retain_freed_memory();
    dmasking::cli::main()
}
