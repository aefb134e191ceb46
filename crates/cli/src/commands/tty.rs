//! The local terminal for `-it`: raw mode (restored on drop), the window size, resizes sent to
//! the daemon on start and on every SIGWINCH, and detach-key parsing/detection (ctrl-p ctrl-q).

use crate::client::{query, Client};
use crate::error::{CliError, Result};
use nix::sys::termios::{self, SetArg, Termios};
use std::io::IsTerminal;
use std::os::fd::AsFd;

/// Raw mode on stdin while alive; the previous settings come back on drop.
pub struct RawMode {
    saved: Termios,
}

impl RawMode {
    /// Puts stdin in raw mode if it is a terminal.
    pub fn enable() -> Option<RawMode> {
        let stdin = std::io::stdin();
        if !stdin.is_terminal() {
            return None;
        }
        let saved = termios::tcgetattr(stdin.as_fd()).ok()?;
        let mut raw = saved.clone();
        termios::cfmakeraw(&mut raw);
        // Keep output post-processing so that our own messages still end lines properly.
        raw.output_flags |= termios::OutputFlags::OPOST | termios::OutputFlags::ONLCR;
        termios::tcsetattr(stdin.as_fd(), SetArg::TCSANOW, &raw).ok()?;
        Some(RawMode { saved })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = termios::tcsetattr(std::io::stdin().as_fd(), SetArg::TCSANOW, &self.saved);
    }
}

nix::ioctl_read_bad!(tiocgwinsz, nix::libc::TIOCGWINSZ, nix::libc::winsize);

/// The terminal size (rows, columns) of stdout, or of stdin, if either is a terminal.
pub fn size() -> Option<(u16, u16)> {
    use std::os::fd::AsRawFd;
    for fd in [std::io::stdout().as_raw_fd(), std::io::stdin().as_raw_fd()] {
        let mut ws = nix::libc::winsize {
            ws_row: 0,
            ws_col: 0,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCGWINSZ writes one `winsize` into the valid, exclusively borrowed `ws`; an
        // fd that is not a terminal just makes the ioctl fail with ENOTTY.
        if unsafe { tiocgwinsz(fd, &mut ws) }.is_ok() && ws.ws_row > 0 {
            return Some((ws.ws_row, ws.ws_col));
        }
    }
    None
}

/// Sends the current size to `resize_path` (`/containers/{id}/resize`) now and on each SIGWINCH,
/// until the returned task is aborted.
pub fn spawn_resizer(
    client: std::sync::Arc<Client>,
    resize_path: String,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let send = |c: std::sync::Arc<Client>, p: String| async move {
            if let Some((h, w)) = size() {
                let _ = c
                    .post(&format!(
                        "{p}{}",
                        query(&[("h", h.to_string()), ("w", w.to_string())])
                    ))
                    .await;
            }
        };
        send(client.clone(), resize_path.clone()).await;
        let Ok(mut sig) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::window_change())
        else {
            return;
        };
        while sig.recv().await.is_some() {
            send(client.clone(), resize_path.clone()).await;
        }
    })
}

/// Parses docker's detach-key syntax (`ctrl-p,ctrl-q`, `a,ctrl-@`) into bytes.
pub fn parse_detach_keys(s: &str) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    for key in s.split(',') {
        let k = key.trim();
        if let Some(c) = k.strip_prefix("ctrl-") {
            let b = match c.as_bytes() {
                [l @ b'a'..=b'z'] => l - b'a' + 1,
                [b'@'] => 0,
                [b'['] => 27,
                [b'\\'] => 28,
                [b']'] => 29,
                [b'^'] => 30,
                [b'_'] => 31,
                _ => {
                    return Err(CliError::Message(format!(
                        "invalid detach keys ({s}) provided: unknown character: '{k}'"
                    )))
                }
            };
            out.push(b);
        } else if k.len() == 1 {
            out.push(k.as_bytes()[0]);
        } else {
            return Err(CliError::Message(format!(
                "invalid detach keys ({s}) provided: unknown character: '{k}'"
            )));
        }
    }
    Ok(out)
}

/// Watches an input stream for the detach sequence.
#[derive(Debug)]
pub struct DetachWatch {
    keys: Vec<u8>,
    matched: usize,
}

impl DetachWatch {
    pub fn new(keys: Vec<u8>) -> DetachWatch {
        DetachWatch { keys, matched: 0 }
    }

    /// Feeds input bytes; true once the whole sequence has been typed.
    pub fn feed(&mut self, data: &[u8]) -> bool {
        for b in data {
            if self.keys.is_empty() {
                return false;
            }
            if *b == self.keys[self.matched] {
                self.matched += 1;
                if self.matched == self.keys.len() {
                    return true;
                }
            } else {
                self.matched = usize::from(*b == self.keys[0]);
            }
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detach_keys() {
        assert_eq!(parse_detach_keys("ctrl-p,ctrl-q").unwrap(), vec![16, 17]);
        assert_eq!(parse_detach_keys("a,ctrl-@").unwrap(), vec![b'a', 0]);
        assert!(parse_detach_keys("ctrl-pp").is_err());
        let mut w = DetachWatch::new(vec![16, 17]);
        assert!(!w.feed(b"ls\r\x10"));
        assert!(w.feed(b"\x11"));
        let mut w = DetachWatch::new(vec![16, 17]);
        assert!(!w.feed(b"\x10x\x11"));
    }
}
