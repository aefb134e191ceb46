//! Progress of a pull or push, as events the daemon turns into Docker's JSON progress stream.

use tokio::sync::mpsc;

/// One progress event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// A line without an id (`Digest: sha256:...`).
    Status(String),
    /// A line about one item (a layer's short digest, or the tag): `status` with optional
    /// byte counts.
    Item {
        id: String,
        status: String,
        current: Option<u64>,
        total: Option<u64>,
    },
}

impl Progress {
    /// An item line without counts.
    pub fn item(id: impl Into<String>, status: impl Into<String>) -> Self {
        Progress::Item {
            id: id.into(),
            status: status.into(),
            current: None,
            total: None,
        }
    }
}

/// Where progress goes; a closed receiver is ignored (the client went away, the work goes on).
#[derive(Debug, Clone)]
pub struct ProgressSink(Option<mpsc::UnboundedSender<Progress>>);

impl ProgressSink {
    /// A sink and the receiving end.
    pub fn channel() -> (Self, mpsc::UnboundedReceiver<Progress>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (ProgressSink(Some(tx)), rx)
    }

    /// A sink that drops everything.
    pub fn none() -> Self {
        ProgressSink(None)
    }

    pub fn send(&self, p: Progress) {
        if let Some(tx) = &self.0 {
            let _ = tx.send(p);
        }
    }
}

/// The 12-hex short form Docker shows for a layer digest.
pub fn short_id(d: &berth_oci::Digest) -> String {
    d.hex().chars().take(12).collect()
}
