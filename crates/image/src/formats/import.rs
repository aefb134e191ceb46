//! Import of a rootfs tar (plain, gzip or zstd) as a one-layer image, with Docker's `--change`
//! instructions (`CMD`, `ENTRYPOINT`, `ENV`, `WORKDIR`, `EXPOSE`, `USER`, `LABEL`, `VOLUME`,
//! `STOPSIGNAL`; JSON or shell form where Docker allows both).

use std::collections::BTreeMap;

use crate::error::ImageError;
use crate::model::{ContainerConfig, History, ImageConfig, Platform, RootFs};

/// Options of an import.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// Name to give the image (`repo[:tag]`), if any.
    pub reference: Option<String>,
    /// `--change` instructions, applied in order.
    pub changes: Vec<String>,
    /// `--message`: the history comment.
    pub message: Option<String>,
    /// Creation time (RFC 3339); now when `None`.
    pub created: Option<String>,
}

fn change_err(change: &str, reason: impl Into<String>) -> ImageError {
    ImageError::Change {
        change: change.to_string(),
        reason: reason.into(),
    }
}

/// A JSON array of strings, or `None` when `arg` is not one.
fn json_form(arg: &str) -> Option<Vec<String>> {
    if !arg.trim_start().starts_with('[') {
        return None;
    }
    serde_json::from_str(arg).ok()
}

/// `CMD`/`ENTRYPOINT` arguments: JSON form as is, shell form wrapped in `/bin/sh -c`.
fn command_form(arg: &str) -> Vec<String> {
    json_form(arg).unwrap_or_else(|| vec!["/bin/sh".into(), "-c".into(), arg.to_string()])
}

/// `KEY=VALUE` pairs (quotes removed), or the legacy `KEY VALUE` form.
fn key_values(change: &str, arg: &str) -> Result<Vec<(String, String)>, ImageError> {
    let words = split_words(arg);
    if words.first().is_some_and(|w| !w.contains('=')) {
        let (k, v) = arg
            .trim()
            .split_once(char::is_whitespace)
            .ok_or_else(|| change_err(change, "expected KEY=VALUE or KEY VALUE"))?;
        return Ok(vec![(k.to_string(), v.trim().to_string())]);
    }
    words
        .into_iter()
        .map(|w| {
            w.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .ok_or_else(|| change_err(change, format!("{w:?} is not KEY=VALUE")))
        })
        .collect()
}

/// Splits on whitespace outside double or single quotes, dropping the quotes.
fn split_words(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut has = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (None, '"' | '\'') => {
                quote = Some(c);
                has = true;
            }
            (Some(q), c) if c == q => quote = None,
            (_, '\\') => {
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            (None, c) if c.is_whitespace() => {
                if has {
                    out.push(std::mem::take(&mut cur));
                    has = false;
                }
            }
            (_, c) => {
                cur.push(c);
                has = true;
            }
        }
    }
    if has {
        out.push(cur);
    }
    out
}

/// Applies `--change` instructions to a container config.
pub fn apply_changes(config: &mut ContainerConfig, changes: &[String]) -> Result<(), ImageError> {
    for change in changes {
        let trimmed = change.trim();
        let (word, arg) = trimmed
            .split_once(char::is_whitespace)
            .map_or((trimmed, ""), |(w, a)| (w, a.trim()));
        if arg.is_empty() {
            return Err(change_err(
                change,
                format!("{} needs an argument", word.to_uppercase()),
            ));
        }
        match word.to_ascii_uppercase().as_str() {
            "CMD" => config.cmd = Some(command_form(arg)),
            "ENTRYPOINT" => config.entrypoint = Some(command_form(arg)),
            "ENV" => {
                let env = config.env.get_or_insert_with(Vec::new);
                for (k, v) in key_values(change, arg)? {
                    env.retain(|e| e.split_once('=').map_or(e.as_str(), |(ek, _)| ek) != k);
                    env.push(format!("{k}={v}"));
                }
            }
            "LABEL" => {
                let labels = config.labels.get_or_insert_with(BTreeMap::new);
                for (k, v) in key_values(change, arg)? {
                    labels.insert(k, v);
                }
            }
            "WORKDIR" => {
                let dir = arg.to_string();
                config.working_dir = Some(match &config.working_dir {
                    Some(base) if !dir.starts_with('/') => format!("{}/{dir}", base.trim_end_matches('/')),
                    _ => dir,
                });
            }
            "USER" => config.user = Some(arg.to_string()),
            "STOPSIGNAL" => config.stop_signal = Some(arg.to_string()),
            "EXPOSE" => {
                let ports = config.exposed_ports.get_or_insert_with(BTreeMap::new);
                for p in arg.split_whitespace() {
                    let (num, proto) = p.split_once('/').unwrap_or((p, "tcp"));
                    let valid = !num.is_empty()
                        && num.split('-').all(|n| n.parse::<u16>().is_ok())
                        && matches!(proto, "tcp" | "udp" | "sctp");
                    if !valid {
                        return Err(change_err(change, format!("invalid port {p:?}")));
                    }
                    ports.insert(format!("{num}/{proto}"), serde_json::json!({}));
                }
            }
            "VOLUME" => {
                let vols = config.volumes.get_or_insert_with(BTreeMap::new);
                let list = json_form(arg).unwrap_or_else(|| arg.split_whitespace().map(str::to_string).collect());
                for v in list {
                    vols.insert(v, serde_json::json!({}));
                }
            }
            other => {
                return Err(change_err(
                    change,
                    format!("{other} is not a supported instruction; use CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, STOPSIGNAL, USER, VOLUME or WORKDIR"),
                ))
            }
        }
    }
    Ok(())
}

/// The config of an imported one-layer image.
pub fn import_config(
    diff_id: berth_oci::Digest,
    opts: &ImportOptions,
    created: String,
) -> Result<ImageConfig, ImageError> {
    let mut cc = ContainerConfig::default();
    apply_changes(&mut cc, &opts.changes)?;
    let host = Platform::host();
    Ok(ImageConfig {
        created: Some(created.clone()),
        architecture: host.architecture,
        os: host.os,
        config: Some(cc),
        rootfs: RootFs {
            kind: "layers".to_string(),
            diff_ids: vec![diff_id],
        },
        history: vec![History {
            created: Some(created),
            created_by: None,
            comment: Some(
                opts.message
                    .clone()
                    .unwrap_or_else(|| "Imported from -".to_string()),
            ),
            ..Default::default()
        }],
        ..Default::default()
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn changes_follow_docker() {
        let mut c = ContainerConfig::default();
        let changes: Vec<String> = [
            r#"CMD ["/bin/sh", "-c", "echo hi"]"#,
            "ENTRYPOINT /init --flag",
            "ENV A=1 B=\"two words\"",
            "ENV LEGACY some value",
            "WORKDIR /srv",
            "WORKDIR app",
            "EXPOSE 80 53/udp",
            "USER nobody",
            "LABEL a=b",
            r#"VOLUME ["/data"]"#,
            "STOPSIGNAL SIGTERM",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        apply_changes(&mut c, &changes).unwrap();
        assert_eq!(c.cmd.unwrap(), vec!["/bin/sh", "-c", "echo hi"]);
        assert_eq!(c.entrypoint.unwrap(), vec!["/bin/sh", "-c", "/init --flag"]);
        assert_eq!(
            c.env.unwrap(),
            vec!["A=1", "B=two words", "LEGACY=some value"]
        );
        assert_eq!(c.working_dir.unwrap(), "/srv/app");
        assert!(c.exposed_ports.as_ref().unwrap().contains_key("53/udp"));
        assert!(c.exposed_ports.unwrap().contains_key("80/tcp"));
        assert_eq!(c.user.unwrap(), "nobody");
        assert_eq!(c.labels.unwrap()["a"], "b");
        assert!(c.volumes.unwrap().contains_key("/data"));
        assert_eq!(c.stop_signal.unwrap(), "SIGTERM");
        let err =
            apply_changes(&mut ContainerConfig::default(), &["RUN make".to_string()]).unwrap_err();
        assert!(
            err.to_string()
                .contains("RUN is not a supported instruction"),
            "{err}"
        );
    }
}
