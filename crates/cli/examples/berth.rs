//! A stand-alone `berth` CLI (same entry point the multi-call binary uses), so that tests can run
//! the CLI as a process and compare its output with the docker CLI's.

fn main() {
    std::process::exit(berth_cli::main(std::env::args_os().skip(1).collect()));
}
