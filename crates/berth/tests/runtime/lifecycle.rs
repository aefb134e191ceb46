//! Container-level root tests: lifecycle. TODO
