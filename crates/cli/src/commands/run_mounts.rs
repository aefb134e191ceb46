//! The mount flags of `run`/`create` read as the docker CLI 28 reads them: `-v` specs split into
//! `HostConfig.Binds` (anything with a source: a host path or a volume name) and the container
//! config's `Volumes` (anonymous volumes), and `--mount` CSV values into `HostConfig.Mounts`
//! entries ([`berth_api::container::Mount`]) with their bind, volume and tmpfs options.

use super::run_opts::empty_object;
use crate::units;
use berth_api::container::{BindOptions, Mount, TmpfsOptions};
use berth_api::volume::{VolumeDriverConfig, VolumeOptions};
use berth_compose::normalize::syntax::clean;
use serde_json::Value;
use std::collections::BTreeMap;

/// A `-v` spec as docker's `volumespec.Parse` splits it.
#[derive(Debug, Default, PartialEq, Eq)]
struct Spec {
    source: String,
    target: String,
}

/// `SRC:DST[:OPTS]` or `DST`: colon-separated sections, where a single letter followed by a
/// colon is a Windows drive (`c:/x`), as docker reads it on every platform. Options are not
/// checked here (the daemon does). Errors are docker's wording.
fn parse_spec(spec: &str) -> Result<Spec, String> {
    let invalid = |why: &str| format!("invalid spec: {spec}: {why}");
    match spec.chars().count() {
        0 => return Err("invalid empty volume spec".into()),
        1 | 2 => {
            return Ok(Spec {
                target: spec.into(),
                ..Spec::default()
            })
        }
        _ => {}
    }
    let mut out = Spec::default();
    let mut buffer = String::new();
    for c in spec.chars().map(Some).chain(std::iter::once(None)) {
        let drive = buffer.chars().count() == 1 && buffer.chars().all(char::is_alphabetic);
        match c {
            Some(':') if drive => buffer.push(':'),
            Some(':') | None => {
                let end = c.is_none();
                let section = std::mem::take(&mut buffer);
                if section.is_empty() {
                    return Err(invalid("empty section between colons"));
                } else if out.source.is_empty() && end {
                    out.target = section;
                } else if out.source.is_empty() {
                    out.source = section;
                } else if out.target.is_empty() {
                    out.target = section;
                } else if !end {
                    return Err(invalid("too many colons"));
                }
                // Else the options (`ro`, `nocopy`, `z`...): the daemon reads them.
            }
            Some(ch) => buffer.push(ch),
        }
    }
    Ok(out)
}

/// Whether a source names a host path (`.`, `/`, `~`, `\\pipe`, `c:`) rather than a volume.
fn is_path(source: &str) -> bool {
    let b = source.as_bytes();
    match b.first() {
        None => false,
        Some(b'.' | b'/' | b'~') => true,
        _ if source.starts_with("\\\\") => true,
        Some(c) => c.is_ascii_alphabetic() && b.get(1) == Some(&b':'),
    }
}

/// `Binds` and the container config's `Volumes`.
pub type BindsAndVolumes = (Vec<String>, BTreeMap<String, Value>);

/// `-v` values → (`Binds`, `Volumes`), duplicates dropped, in the order given. A bind whose host
/// part starts with `.` is made absolute against `cwd`, as docker does.
pub fn binds_and_volumes(specs: &[String], cwd: &str) -> Result<BindsAndVolumes, String> {
    let mut binds: Vec<String> = Vec::new();
    let mut volumes = BTreeMap::new();
    for v in specs {
        let parsed = parse_spec(v)?;
        if parsed.source.is_empty() {
            volumes.insert(v.clone(), empty_object());
            continue;
        }
        let mut bind = v.clone();
        if is_path(&parsed.source) {
            if let Some((host, rest)) = v.split_once(':') {
                if host.starts_with('.') {
                    bind = format!("{}:{rest}", clean(&format!("{cwd}/{host}")));
                }
            }
        }
        if !binds.contains(&bind) {
            binds.push(bind);
        }
    }
    Ok((binds, volumes))
}

/// Splits one CSV record as Go's `encoding/csv` reads `--mount`: fields by commas, a field
/// that starts with `"` quoted (`""` inside is one quote), so an option value may hold commas.
fn csv_fields(line: &str) -> Result<Vec<String>, String> {
    let bad = |why: &str| format!("parse error on line 1: {why}");
    let mut fields = Vec::new();
    let mut rest = line;
    loop {
        let Some(quoted) = rest.strip_prefix('"') else {
            let (field, next) = match rest.split_once(',') {
                Some((f, r)) => (f, Some(r)),
                None => (rest, None),
            };
            if field.contains('"') {
                return Err(bad("bare \" in non-quoted-field"));
            }
            fields.push(field.to_string());
            match next {
                Some(r) => rest = r,
                None => return Ok(fields),
            }
            continue;
        };
        let mut field = String::new();
        let mut chars = quoted.char_indices().peekable();
        let after = loop {
            match chars.next() {
                Some((_, '"')) if chars.peek().is_some_and(|(_, c)| *c == '"') => {
                    chars.next();
                    field.push('"');
                }
                Some((i, '"')) => break &quoted[i + 1..],
                Some((_, c)) => field.push(c),
                None => return Err(bad("extraneous or missing \" in quoted-field")),
            }
        };
        fields.push(field);
        match after.strip_prefix(',') {
            Some(r) => rest = r,
            None if after.is_empty() => return Ok(fields),
            None => return Err(bad("extraneous or missing \" in quoted-field")),
        }
    }
}

/// Go's `strconv.ParseBool`.
fn parse_bool(v: &str) -> Option<bool> {
    match v {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

/// `k=v` into a map (`k` alone is `k=""`; an empty key is dropped), as docker's `setValueOnMap`.
fn set_on(map: &mut BTreeMap<String, String>, kv: &str) {
    let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
    if !k.is_empty() {
        map.insert(k.into(), v.into());
    }
}

/// A `--mount` value → a `Mounts` entry, with docker's checks and errors. `cwd` makes a bind
/// source of `.` or `./x` absolute. Each kind's options exist once one of its keys is seen
/// (docker then sends `VolumeOptions` with an empty `DriverConfig`).
pub fn mount(value: &str, cwd: &str) -> Result<Mount, String> {
    let mut ty = "volume".to_string();
    let (mut source, mut target) = (String::new(), String::new());
    let (mut read_only, mut consistency) = (false, String::new());
    let mut bind: Option<BindOptions> = None;
    let mut volume: Option<VolumeOptions> = None;
    let mut tmpfs: Option<TmpfsOptions> = None;
    let (mut labels, mut driver_opts) = (BTreeMap::new(), BTreeMap::new());
    let mut driver = String::new();
    for field in csv_fields(value)? {
        let (key, val) = match field.split_once('=') {
            Some((k, v)) => (k.to_lowercase(), Some(v.to_string())),
            None => (field.to_lowercase(), None),
        };
        let Some(val) = val else {
            match key.as_str() {
                "readonly" | "ro" => read_only = true,
                "volume-nocopy" => volume.get_or_insert_with(Default::default).no_copy = true,
                "bind-nonrecursive" => {
                    bind.get_or_insert_with(Default::default).non_recursive = true
                }
                _ => return Err(format!("invalid field '{field}' must be a key=value pair")),
            }
            continue;
        };
        let flag = || parse_bool(&val).ok_or_else(|| format!("invalid value for {key}: {val}"));
        match key.as_str() {
            "type" => ty = val.to_lowercase(),
            "source" | "src" => {
                source = if val == "." || val.starts_with("./") {
                    clean(&format!("{cwd}/{val}"))
                } else {
                    val
                }
            }
            "target" | "dst" | "destination" => target = val,
            "readonly" | "ro" => read_only = flag()?,
            "consistency" => consistency = val.to_lowercase(),
            "bind-propagation" => {
                bind.get_or_insert_with(Default::default).propagation = Some(val.to_lowercase())
            }
            "bind-nonrecursive" => {
                let b = flag()?;
                bind.get_or_insert_with(Default::default).non_recursive = b;
            }
            "volume-subpath" => volume.get_or_insert_with(Default::default).subpath = val,
            "volume-nocopy" => {
                let b = flag()?;
                volume.get_or_insert_with(Default::default).no_copy = b;
            }
            "volume-label" => {
                volume.get_or_insert_with(Default::default);
                set_on(&mut labels, &val);
            }
            "volume-driver" => {
                volume.get_or_insert_with(Default::default);
                driver = val;
            }
            "volume-opt" => {
                volume.get_or_insert_with(Default::default);
                set_on(&mut driver_opts, &val);
            }
            "tmpfs-size" => {
                let size = units::ram_in_bytes(&val)
                    .map_err(|_| format!("invalid value for {key}: {val}"))?;
                tmpfs.get_or_insert_with(Default::default).size_bytes = Some(size);
            }
            "tmpfs-mode" => {
                let mode = u32::from_str_radix(&val, 8)
                    .map_err(|_| format!("invalid value for {key}: {val}"))?;
                tmpfs.get_or_insert_with(Default::default).mode = Some(mode);
            }
            _ => return Err(format!("unexpected key '{key}' in '{field}'")),
        }
    }
    if ty.is_empty() {
        return Err("type is required".into());
    }
    if target.is_empty() {
        return Err("target is required".into());
    }
    for (set, kind, prefix) in [
        (volume.is_some(), "volume", "volume-*"),
        (bind.is_some(), "bind", "bind-*"),
        (tmpfs.is_some(), "tmpfs", "tmpfs-*"),
    ] {
        if set && ty != kind {
            return Err(format!(
                "cannot mix '{prefix}' options with mount type '{ty}'"
            ));
        }
    }
    let volume = volume.map(|mut v| {
        v.labels = Some(labels).filter(|l| !l.is_empty());
        v.driver_config = Some(VolumeDriverConfig {
            name: driver,
            options: Some(driver_opts).filter(|o| !o.is_empty()),
        });
        v
    });
    let json = |o: Option<Result<Value, serde_json::Error>>| {
        o.transpose()
            .map_err(|e| format!("encoding the mount options: {e}"))
    };
    Ok(Mount {
        kind: ty,
        source,
        target,
        read_only,
        consistency: Some(consistency).filter(|c| !c.is_empty()),
        bind_options: json(bind.map(serde_json::to_value))?,
        volume_options: json(volume.map(serde_json::to_value))?,
        tmpfs_options: tmpfs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn split(specs: &[&str]) -> Result<(Vec<String>, Vec<String>), String> {
        let specs: Vec<String> = specs.iter().map(|s| s.to_string()).collect();
        let (b, v) = binds_and_volumes(&specs, "/work/dir")?;
        Ok((b, v.keys().cloned().collect()))
    }

    #[test]
    fn volume_specs_split_as_docker_does() {
        // Observed with the docker CLI 28.2.2: what goes to Binds, what to Volumes.
        let (b, v) = split(&[
            "myvol:/data",
            "/anon",
            "./rel:/r:ro",
            "../up:/u",
            ".x:/d",
            "~/x:/h",
            "/h:/x:ro,z",
            "named:/n:nocopy",
            "a:b:c:d",
            "/data:ro",
            "c:/data",
            "ab",
            "myvol:/data",
        ])
        .unwrap();
        assert_eq!(
            b,
            [
                "myvol:/data",
                "/work/dir/rel:/r:ro",
                "/work/up:/u",
                "/work/dir/.x:/d",
                "~/x:/h",
                "/h:/x:ro,z",
                "named:/n:nocopy",
                "a:b:c:d",
                "/data:ro"
            ]
        );
        assert_eq!(v, ["/anon", "ab", "c:/data"]);
        for (bad, why) in [
            ("", "invalid empty volume spec"),
            (":/x", "invalid spec: :/x: empty section between colons"),
            ("/x:", "invalid spec: /x:: empty section between colons"),
            ("/a:/b:ro:x", "invalid spec: /a:/b:ro:x: too many colons"),
        ] {
            assert_eq!(split(&[bad]).unwrap_err(), why, "{bad:?}");
        }
    }

    #[test]
    fn mounts_read_like_docker() {
        let m = |s: &str| mount(s, "/w").map(|m| serde_json::to_value(m).unwrap());
        assert_eq!(
            m("type=volume,src=v,dst=/d,volume-nocopy").unwrap(),
            json!({"Type": "volume", "Source": "v", "Target": "/d",
                   "VolumeOptions": {"NoCopy": true, "DriverConfig": {}}})
        );
        assert_eq!(
            m("type=volume,src=v,dst=/d,readonly=false,volume-label=a=b,volume-driver=local,volume-opt=type=tmpfs,\"volume-opt=o=size=1m,uid=1000\"").unwrap(),
            json!({"Type": "volume", "Source": "v", "Target": "/d",
                   "VolumeOptions": {"Labels": {"a": "b"}, "DriverConfig": {"Name": "local",
                   "Options": {"o": "size=1m,uid=1000", "type": "tmpfs"}}}})
        );
        assert_eq!(
            m("src=v,target=/d,ro=1").unwrap(),
            json!({"Type": "volume", "Source": "v", "Target": "/d", "ReadOnly": true})
        );
        assert_eq!(
            m("type=bind,src=.,dst=/x,readonly,bind-propagation=rslave").unwrap(),
            json!({"Type": "bind", "Source": "/w", "Target": "/x", "ReadOnly": true,
                   "BindOptions": {"Propagation": "rslave"}})
        );
        assert_eq!(
            m("type=tmpfs,dst=/t,tmpfs-mode=1770,tmpfs-size=1m").unwrap(),
            json!({"Type": "tmpfs", "Target": "/t", "TmpfsOptions": {"Mode": 1016, "SizeBytes": 1_048_576}})
        );
        for (bad, why) in [
            ("type=volume", "target is required"),
            (
                "type=bind,src=/x,dst=/d,volume-nocopy",
                "cannot mix 'volume-*' options with mount type 'bind'",
            ),
            (
                "type=volume,dst=/d,volume-nocopy=maybe",
                "invalid value for volume-nocopy: maybe",
            ),
            (
                "type=volume,dst=/d,bogus=1",
                "unexpected key 'bogus' in 'bogus=1'",
            ),
            (
                "type=volume,dst=/d,rw",
                "invalid field 'rw' must be a key=value pair",
            ),
        ] {
            assert_eq!(m(bad).unwrap_err(), why, "{bad}");
        }
    }

    #[test]
    fn csv_quotes_keep_commas() {
        assert_eq!(csv_fields("a,b").unwrap(), ["a", "b"]);
        assert_eq!(csv_fields("a,\"b,c\",d").unwrap(), ["a", "b,c", "d"]);
        assert_eq!(csv_fields("\"x\"\"y\"").unwrap(), ["x\"y"]);
        assert_eq!(csv_fields("a,").unwrap(), ["a", ""]);
        assert!(csv_fields("a,\"b").is_err());
    }
}
