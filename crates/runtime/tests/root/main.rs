//! Root integration tests of the runtime, against the real kernel. TODO
