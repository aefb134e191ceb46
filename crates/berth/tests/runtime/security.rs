//! Container-level root tests: security. TODO
