//! The `dmasking` command line: a thin layer over the library.

use std::process::ExitCode;

fn main() -> ExitCode {
    dmasking::cli::main()
}
