//! `inspect`, `image inspect` and `container inspect`: a JSON array of the objects (4-space
//! indented, as docker prints it) or one `-f` template rendering per object. The generic form
//! tries container, image, network and volume in turn, as docker does.

use super::{out, Ctx};
use crate::client::encode_path;
use crate::error::{CliError, Result};
use crate::flags::{switch, value, Args, Parsed, Spec};
use crate::format;
use serde::Serialize;
use serde_json::Value;

const FLAGS: &[crate::flags::Flag] = &[
    value(
        "format",
        Some('f'),
        "string",
        "Format output using a custom template",
    ),
    switch(
        "size",
        Some('s'),
        "Display total file sizes if the type is container",
    ),
    value(
        "type",
        None,
        "string",
        "Only inspect objects of the given type",
    ),
];

pub const INSPECT: Spec = Spec {
    name: "inspect",
    usage: "[OPTIONS] NAME|ID [NAME|ID...]",
    about: "Return low-level information on Berth objects",
    flags: FLAGS,
    args: Args::AtLeast(1),
    stop_at_positional: false,
};
pub const IMAGE_INSPECT: Spec = Spec {
    name: "image inspect",
    usage: "[OPTIONS] IMAGE [IMAGE...]",
    about: "Display detailed information on one or more images",
    ..INSPECT
};
pub const CONTAINER_INSPECT: Spec = Spec {
    name: "container inspect",
    usage: "[OPTIONS] CONTAINER [CONTAINER...]",
    about: "Display detailed information on one or more containers",
    ..INSPECT
};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Container,
    Image,
    Network,
    Volume,
}

impl Kind {
    fn path(self, name: &str, size: bool) -> String {
        match self {
            Kind::Container => format!(
                "/containers/{}/json{}",
                encode_path(name),
                if size { "?size=1" } else { "" }
            ),
            Kind::Image => format!("/images/{}/json", encode_path(name)),
            Kind::Network => format!("/networks/{}", encode_path(name)),
            Kind::Volume => format!("/volumes/{}", encode_path(name)),
        }
    }
}

pub async fn inspect(ctx: &Ctx, spec: &Spec, p: Parsed) -> Result<()> {
    let kinds = match p.string("type") {
        None | Some("") => vec![Kind::Container, Kind::Image, Kind::Network, Kind::Volume],
        Some("container") => vec![Kind::Container],
        Some("image") => vec![Kind::Image],
        Some("network") => vec![Kind::Network],
        Some("volume") => vec![Kind::Volume],
        Some(t) => {
            return Err(spec.invalid_value(
                "type",
                t,
                &format!("\"{t}\" is not a valid value for --type"),
            ))
        }
    };
    run_inspect(ctx, &p, &kinds).await
}

pub async fn image_inspect(ctx: &Ctx, _spec: &Spec, p: Parsed) -> Result<()> {
    run_inspect(ctx, &p, &[Kind::Image]).await
}

pub async fn container_inspect(ctx: &Ctx, _spec: &Spec, p: Parsed) -> Result<()> {
    run_inspect(ctx, &p, &[Kind::Container]).await
}

async fn run_inspect(ctx: &Ctx, p: &Parsed, kinds: &[Kind]) -> Result<()> {
    let size = p.bool("size");
    let mut found = Vec::new();
    let mut errors = Vec::new();
    for name in &p.args {
        let mut hit = None;
        let mut last_err = None;
        for k in kinds {
            match get_raw(ctx, &k.path(name, size)).await {
                Ok(v) => {
                    hit = Some(v);
                    break;
                }
                Err(e) if e.is_status(404) => last_err = Some(e),
                Err(e) => return Err(e),
            }
        }
        match (hit, last_err) {
            (Some(v), _) => found.push(v),
            // One kind: the daemon's own error; several: docker's generic "No such object".
            (None, Some(e)) if kinds.len() == 1 => errors.push(e.to_string()),
            _ => errors.push(format!("Error: No such object: {name}")),
        }
    }
    match p.string("format") {
        Some(f) => {
            let t = format::compile(&f.replace("\\t", "\t").replace("\\n", "\n"))?;
            let mut text = String::new();
            for (_, v) in &found {
                text.push_str(&format::run(&t, v)?);
                text.push('\n');
            }
            if found.is_empty() {
                // docker still ends the (empty) output with a newline.
                text.push('\n');
            }
            out(&text);
        }
        None => {
            let raws: Vec<&[u8]> = found.iter().map(|(raw, _)| raw.as_ref()).collect();
            out(&format!("{}\n", indent_array(&raws)));
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(CliError::Message(errors.join("\n")))
    }
}

/// Fetches an object as raw JSON (kept for printing in the daemon's key order) and parsed.
async fn get_raw(ctx: &Ctx, path: &str) -> Result<(bytes::Bytes, Value)> {
    let resp = ctx
        .client
        .request(hyper::Method::GET, path, crate::client::body::empty(), &[])
        .await?;
    let raw = crate::client::read_all(resp).await?;
    let v = serde_json::from_slice(&raw)
        .map_err(|e| CliError::Message(format!("error decoding daemon response: {e}")))?;
    Ok((raw, v))
}

/// Prints raw JSON documents as one array indented like Go's `json.Indent(.., "", "    ")`,
/// keeping their key order.
pub fn indent_array(docs: &[&[u8]]) -> String {
    if docs.is_empty() {
        return "[]".into();
    }
    let mut joined = Vec::from(&b"["[..]);
    for (i, d) in docs.iter().enumerate() {
        if i > 0 {
            joined.push(b',');
        }
        joined.extend_from_slice(d);
    }
    joined.push(b']');
    indent(&String::from_utf8_lossy(&joined))
}

/// Re-indents JSON text with four spaces per level; strings are copied verbatim.
pub fn indent(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 2);
    let mut depth = 0usize;
    let mut chars = text.chars().peekable();
    let newline = |out: &mut String, depth: usize| {
        out.push('\n');
        out.push_str(&"    ".repeat(depth));
    };
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                out.push('"');
                let mut esc = false;
                for c in chars.by_ref() {
                    out.push(c);
                    if esc {
                        esc = false;
                    } else if c == '\\' {
                        esc = true;
                    } else if c == '"' {
                        break;
                    }
                }
            }
            '{' | '[' => {
                while chars.peek().is_some_and(|c| c.is_whitespace()) {
                    chars.next();
                }
                let close = if c == '{' { '}' } else { ']' };
                if chars.peek() == Some(&close) {
                    chars.next();
                    out.push(c);
                    out.push(close);
                } else {
                    out.push(c);
                    depth += 1;
                    newline(&mut out, depth);
                }
            }
            '}' | ']' => {
                depth = depth.saturating_sub(1);
                newline(&mut out, depth);
                out.push(c);
            }
            ',' => {
                out.push(',');
                newline(&mut out, depth);
            }
            ':' => out.push_str(": "),
            c if c.is_whitespace() => {}
            c => out.push(c),
        }
    }
    out
}

/// JSON with 4-space indentation, as Go's `json.MarshalIndent(v, "", "    ")`.
pub fn pretty(v: &Value) -> Result<String> {
    let mut buf = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, fmt);
    v.serialize(&mut ser)
        .map_err(|e| CliError::Message(format!("error encoding output: {e}")))?;
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pretty_uses_four_spaces() {
        assert_eq!(
            pretty(&serde_json::json!([{"Id": "x"}])).unwrap(),
            "[\n    {\n        \"Id\": \"x\"\n    }\n]"
        );
        assert_eq!(pretty(&serde_json::json!([])).unwrap(), "[]");
        let raw: &[u8] = br#"{"b":1, "a":{"s":"x,{}\"y","e":[],"o":{}},"l":[1,2]}"#;
        assert_eq!(
            indent_array(&[raw]),
            "[\n    {\n        \"b\": 1,\n        \"a\": {\n            \"s\": \"x,{}\\\"y\",\n            \"e\": [],\n            \"o\": {}\n        },\n        \"l\": [\n            1,\n            2\n        ]\n    }\n]"
        );
        assert_eq!(indent_array(&[]), "[]");
    }
}
