//! The image store façade. TODO
