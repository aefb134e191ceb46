//! Blobs by digest. TODO
