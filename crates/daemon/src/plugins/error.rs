//! What can go wrong finding, activating and calling a plugin. Every error names the plugin or
//! the call (`VolumeDriver.Mount`), so a user can tell which plugin failed and at what; a
//! plugin's own `Err` keeps Docker's wording (`VolumeDriver.Mount: <err>`), which scripts match.

use std::path::PathBuf;
use std::time::Duration;

use crate::error::ErrorKind;

/// A failure of the plugin protocol.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    /// A name that is not a plain file name (a path, `..`, empty): never looked up.
    #[error("invalid plugin name {name:?}: {reason}")]
    InvalidName { name: String, reason: &'static str },
    /// No socket or spec file of that name appeared in time (Docker's wording).
    #[error("plugin {name:?} not found")]
    NotFound { name: String },
    /// A spec file that cannot be used.
    #[error("plugin {name:?}: spec file {}: {reason}", path.display())]
    Spec {
        name: String,
        path: PathBuf,
        reason: String,
    },
    /// Activated, but the plugin does not implement the interface asked for (Docker's wording).
    #[error("Plugin does not implement the requested driver: plugin={name:?}, requested implementation={interface:?}")]
    Unsupported { name: String, interface: String },
    /// The plugin answered the call with an error: its `Err` (or, for a non-2xx answer without
    /// one, its body), after the method's name as Docker words it.
    #[error("{method}: {message}")]
    Refused {
        method: String,
        /// The HTTP status of the answer (200 when the error came in a 200's `Err`).
        status: u16,
        message: String,
    },
    /// The call failed on the way: no connection, a connection closed before the answer, an
    /// answer that is not the JSON asked for or too large.
    #[error("{method}: plugin {name:?}: {reason}")]
    Call {
        name: String,
        method: String,
        reason: String,
    },
    /// The call did not finish within its deadline.
    #[error("{method}: plugin {name:?} did not answer within {}", seconds(*after))]
    Timeout {
        name: String,
        method: String,
        after: Duration,
    },
    /// An authorization plugin refused a request or its response (Docker's words; 403).
    #[error("authorization denied by plugin {name}: {message}")]
    AuthzDenied { name: String, message: String },
    /// An authorization plugin could not be asked (not found, not activated, an error, no
    /// answer in time): the request is refused, in Docker's words.
    #[error("plugin {name} failed with error: {source}")]
    AuthzFailed {
        name: String,
        source: Box<PluginError>,
    },
    /// A JSON request body too large to show the authorization plugins (Docker's words).
    #[error("request body too large for authorization plugin: size exceeds {limit} bytes")]
    AuthzBodyTooLarge { limit: usize },
    /// Finding or activating the plugin behind a driver failed, in Docker's words:
    /// `error looking up volume plugin x: plugin "x" not found`.
    #[error("error looking up {what} plugin {name}: {source}")]
    Lookup {
        /// What the plugin was wanted as (`volume`).
        what: &'static str,
        name: String,
        source: Box<PluginError>,
    },
}

impl PluginError {
    /// The kind, for the status mapping: an unusable name is the caller's (400), a missing or
    /// unsuitable plugin is not found (404), and anything the plugin did is a failure of the
    /// engine as Docker reports it (500).
    pub fn kind(&self) -> ErrorKind {
        match self {
            PluginError::InvalidName { .. } => ErrorKind::InvalidArgument,
            PluginError::NotFound { .. } | PluginError::Unsupported { .. } => ErrorKind::NotFound,
            PluginError::Spec { .. }
            | PluginError::Refused { .. }
            | PluginError::Call { .. }
            | PluginError::Timeout { .. }
            | PluginError::AuthzFailed { .. }
            | PluginError::AuthzBodyTooLarge { .. } => ErrorKind::Internal,
            PluginError::AuthzDenied { .. } => ErrorKind::Forbidden,
            PluginError::Lookup { source, .. } => source.kind(),
        }
    }

    /// Whether the plugin answered 404: it does not implement the call (moby's `IsNotFound`),
    /// which optional calls such as `VolumeDriver.Capabilities` take as "use the default".
    pub fn is_not_implemented(&self) -> bool {
        matches!(self, PluginError::Refused { status: 404, .. })
    }
}

/// `30s`, `1.5s`, `250ms`: a deadline as a person reads it.
fn seconds(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else if d.as_secs() == 0 {
        format!("{}ms", d.as_millis())
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_plugin_and_the_call() {
        let e = PluginError::Timeout {
            name: "slow".into(),
            method: "VolumeDriver.Create".into(),
            after: Duration::from_secs(30),
        };
        assert_eq!(
            e.to_string(),
            "VolumeDriver.Create: plugin \"slow\" did not answer within 30s"
        );
        let e = PluginError::Refused {
            method: "VolumeDriver.Mount".into(),
            status: 200,
            message: "disk on fire".into(),
        };
        assert_eq!(e.to_string(), "VolumeDriver.Mount: disk on fire");
        assert_eq!(e.kind(), ErrorKind::Internal);
        assert_eq!(
            PluginError::NotFound { name: "x".into() }.to_string(),
            "plugin \"x\" not found"
        );
        let e = PluginError::AuthzDenied {
            name: "policy".into(),
            message: "no privileged containers".into(),
        };
        assert_eq!(
            e.to_string(),
            "authorization denied by plugin policy: no privileged containers"
        );
        assert_eq!(e.kind(), ErrorKind::Forbidden);
        let e = PluginError::AuthzFailed {
            name: "policy".into(),
            source: Box::new(PluginError::NotFound {
                name: "policy".into(),
            }),
        };
        assert_eq!(
            e.to_string(),
            "plugin policy failed with error: plugin \"policy\" not found"
        );
        assert_eq!(e.kind(), ErrorKind::Internal);
        assert_eq!(seconds(Duration::from_millis(250)), "250ms");
        assert_eq!(seconds(Duration::from_millis(1500)), "1.5s");
    }
}
