//! Layer apply and diff. TODO
