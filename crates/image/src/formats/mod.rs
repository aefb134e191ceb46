//! Archive formats. TODO
