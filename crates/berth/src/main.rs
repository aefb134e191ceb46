//! `berth`: the multi-call binary. TODO
fn main() {}
