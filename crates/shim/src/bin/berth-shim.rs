//! `berth-shim`: the shim as its own small executable (same arguments as `berth shim`).

fn main() {
    std::process::exit(berth_shim::main(std::env::args_os().skip(1)));
}
