//! Reading an external runtime's failure ([`super::external`]): its reason from its JSON log or
//! its stderr, the reply's message around it, and the kind, read from the text once here, as
//! dockerd reads containerd's errors. Pure functions over text, unit tested without a runtime.

use crate::protocol::ErrorKind;

/// A runtime command, for messages and for reading the kind of its failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Create,
    Start,
    State,
    Kill,
    Pause,
    Resume,
    Update,
    Exec,
    Delete,
}

impl Op {
    pub fn name(self) -> &'static str {
        match self {
            Op::Create => "create",
            Op::Start => "start",
            Op::State => "state",
            Op::Kill => "kill",
            Op::Pause => "pause",
            Op::Resume => "resume",
            Op::Update => "update",
            Op::Exec => "exec",
            Op::Delete => "delete",
        }
    }
}

/// The last `error` or `fatal` message of a runtime's JSON log.
pub fn log_error(text: &str) -> Option<String> {
    text.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| matches!(v["level"].as_str(), Some("error" | "fatal")))
        .filter_map(|v| v["msg"].as_str().map(str::to_string))
        .next_back()
}

/// The last line of `text` that is not blank.
pub fn last_line(text: &str) -> Option<String> {
    text.lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty())
        .map(str::to_string)
}

/// The reply's message for a failed `op`: Docker's words around the runtime's reason. An exec's
/// reason is cut to what follows the runtime's own "unable to start container process: " (the
/// daemon puts Docker's words for exec around it).
pub fn message(op: Op, runtime: &str, reason: &str) -> String {
    const START: &str = "unable to start container process: ";
    match op {
        Op::Create => format!("OCI runtime create failed: {reason}"),
        Op::Exec => match reason.rfind(START) {
            Some(i) => reason[i + START.len()..].to_string(),
            None => reason.to_string(),
        },
        _ => format!("{runtime} {}: {reason}", op.name()),
    }
}

/// The kind of a failure of `op` with the runtime's `reason`: the one place where an external
/// runtime's text is read, as dockerd reads containerd's (a command that is not there is
/// `command-not-found`, 127; one that cannot be run `not-executable` or `permission-denied`,
/// 126).
pub fn kind_of(op: Op, reason: &str) -> ErrorKind {
    let r = reason.to_ascii_lowercase();
    let has = |s: &str| r.contains(s);
    if matches!(op, Op::Create | Op::Exec) {
        // runc and crun name the command as `exec: "CMD": ...`; a missing working directory or
        // mount source is also "no such file or directory", but not a command not found.
        if has("executable file not found") || (has("exec: \"") && has("no such file or directory"))
        {
            return ErrorKind::CommandNotFound;
        }
        if has("is a directory") || has("exec format error") {
            return ErrorKind::NotExecutable;
        }
        if has("permission denied") {
            return ErrorKind::PermissionDenied;
        }
    }
    if has("cannot allocate memory")
        || has("no space left on device")
        || has("too many open files")
        || has("resource temporarily unavailable")
    {
        return ErrorKind::ResourceExhausted;
    }
    if op != Op::Create
        && (has("does not exist") || has("container not found") || has("no such container"))
    {
        return ErrorKind::NotFound;
    }
    if has("not running")
        || has("not paused")
        || has("is paused")
        || has("already")
        || has("has stopped")
        || has("is stopped")
        || has("not in created state")
    {
        return ErrorKind::Conflict;
    }
    if op == Op::Update || has("invalid") || has("unknown signal") {
        return ErrorKind::InvalidArgument;
    }
    ErrorKind::System
}

#[cfg(test)]
mod tests {
    use super::*;

    /// runc's and crun's words, as they print them.
    #[test]
    fn kinds_follow_dockers_reading_of_runtime_errors() {
        let create = |m| kind_of(Op::Create, m);
        let exec = |m| kind_of(Op::Exec, m);
        assert_eq!(
            create("runc create failed: unable to start container process: exec: \"nope\": executable file not found in $PATH"),
            ErrorKind::CommandNotFound
        );
        assert_eq!(
            exec("exec failed: unable to start container process: exec: \"/x\": stat /x: no such file or directory"),
            ErrorKind::CommandNotFound
        );
        assert_eq!(
            exec("runc exec failed: unable to start container process: chdir to cwd (\"/nope\") set in config.json failed: no such file or directory"),
            ErrorKind::System
        );
        assert_eq!(
            exec("exec: \"/etc\": is a directory"),
            ErrorKind::NotExecutable
        );
        assert_eq!(
            create("exec: \"/etc/passwd\": permission denied"),
            ErrorKind::PermissionDenied
        );
        assert_eq!(
            create("cgroups in hybrid mode not supported, drop all controllers from cgroupv2"),
            ErrorKind::System
        );
        assert_eq!(
            kind_of(Op::Kill, "container not running"),
            ErrorKind::Conflict
        );
        assert_eq!(
            kind_of(Op::Pause, "container `x` does not exist"),
            ErrorKind::NotFound
        );
        assert_eq!(
            kind_of(
                Op::Update,
                "failed to write 1024 to memory.limit_in_bytes: device or resource busy"
            ),
            ErrorKind::InvalidArgument
        );
        assert_eq!(
            kind_of(Op::Kill, "unknown signal \"X\""),
            ErrorKind::InvalidArgument
        );
        assert_eq!(
            kind_of(Op::Start, "fork/exec: cannot allocate memory"),
            ErrorKind::ResourceExhausted
        );
    }

    #[test]
    fn messages_keep_the_runtimes_reason() {
        let log = "{\"level\":\"warning\",\"msg\":\"w\"}\nnot json\n{\"level\":\"error\",\"msg\":\"first\"}\n{\"level\":\"error\",\"msg\":\"runc exec failed: unable to start container process: exec: \\\"nope\\\": executable file not found in $PATH\"}\n";
        let reason = log_error(log).unwrap_or_default();
        assert_eq!(
            message(Op::Exec, "runc", &reason),
            "exec: \"nope\": executable file not found in $PATH"
        );
        assert_eq!(
            message(Op::Create, "runc", "runc create failed: x"),
            "OCI runtime create failed: runc create failed: x"
        );
        assert_eq!(
            message(Op::Kill, "crun", "container not running"),
            "crun kill: container not running"
        );
        assert_eq!(log_error("{\"level\":\"info\",\"msg\":\"x\"}"), None);
        assert_eq!(last_line("a\nb\n\n"), Some("b".into()));
    }
}
