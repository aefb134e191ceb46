//! Berth's image store. TODO
