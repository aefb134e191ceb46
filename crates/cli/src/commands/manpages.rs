//! `berth man-pages DIR` (hidden; run by `scripts/install.sh`): man pages in roff, generated
//! from the same definition as the completions ([`super::completion::Model`]): `berth(1)` with
//! every command, and one page per command named as docker's are, `berth-run(1)`,
//! `berth-network-create(1)`, `berth-container-ls(1)`, each with the usage, the description and
//! every flag with its type and help.

use std::path::Path;

use super::completion::{Model, GLOBAL_FLAGS};
use crate::commands::Ctx;
use crate::error::{CliError, Result};
use crate::flags::{Args, Parsed, Spec};

pub const MAN_PAGES: Spec = Spec {
    name: "man-pages",
    usage: "DIR",
    about: "Write the man pages of every command into DIR (section 1)",
    flags: &[],
    args: Args::Exact(1),
    stop_at_positional: false,
};

/// Writes every page into the directory named by the one argument; prints the file names.
pub async fn man_pages(_ctx: &Ctx, _spec: &Spec, p: Parsed) -> Result<()> {
    let dir = Path::new(&p.args[0]);
    let fail = |what: &str, path: &Path, e: std::io::Error| {
        CliError::Message(format!("berth man-pages: {what} {}: {e}", path.display()))
    };
    std::fs::create_dir_all(dir).map_err(|e| fail("creating", dir, e))?;
    for (name, text) in pages(&Model::build()) {
        let path = dir.join(format!("{name}.1"));
        std::fs::write(&path, text).map_err(|e| fail("writing", &path, e))?;
        super::out(&format!("{}\n", path.display()));
    }
    Ok(())
}

/// Every page: `(file stem, roff text)`.
pub fn pages(model: &Model) -> Vec<(String, String)> {
    let version = env!("CARGO_PKG_VERSION");
    let header = |name: &str| {
        format!(
            ".TH \"{}\" \"1\" \"\" \"Berth {version}\" \"Berth Manual\"\n",
            name.to_uppercase()
        )
    };
    let mut pages = Vec::new();
    let mut main = header("berth");
    main.push_str(".SH NAME\nberth \\- a Docker\\-compatible container engine\n");
    main.push_str(".SH SYNOPSIS\n.B berth\n[\\fIOPTIONS\\fR] \\fICOMMAND\\fR [\\fIARG\\fR...]\n");
    main.push_str(".SH DESCRIPTION\nThe Berth CLI speaks the Docker Engine API to a Berth daemon (or any Docker daemon) with docker's commands, flags and output. The daemon is found through \\fB\\-H\\fR, then \\fBBERTH_HOST\\fR, then \\fBDOCKER_HOST\\fR, then unix:///run/berth/berth.sock.\n");
    main.push_str(".SH OPTIONS\n");
    for (long, short, valued, help) in GLOBAL_FLAGS {
        let short = short
            .map(|c| format!("\\fB\\-{c}\\fR, "))
            .unwrap_or_default();
        let ty = if valued { " \\fIstring\\fR" } else { "" };
        main.push_str(&format!(
            ".TP\n{short}\\fB\\-\\-{long}\\fR{ty}\n{}\n",
            roff(help)
        ));
    }
    main.push_str(".SH COMMANDS\n");
    for c in &model.commands {
        main.push_str(&format!(
            ".TP\n\\fBberth\\-{}\\fR(1)\n{}\n",
            roff(&c.path.replace(' ', "-")),
            roff(c.spec.about)
        ));
    }
    main.push_str(".SH SEE ALSO\n\\fBberth daemon \\-\\-help\\fR, docs/daemon\\-json.md\n");
    pages.push(("berth".to_string(), main));
    for c in &model.commands {
        let stem = format!("berth-{}", c.path.replace(' ', "-"));
        let mut t = header(&stem);
        t.push_str(&format!(
            ".SH NAME\n{} \\- {}\n",
            roff(&stem),
            roff(c.spec.about)
        ));
        let usage: Vec<&str> = c
            .spec
            .usage
            .lines()
            .map(|l| l.trim_start_matches('\t'))
            .collect();
        t.push_str(".SH SYNOPSIS\n");
        for (i, line) in usage.iter().enumerate() {
            if i == 0 {
                t.push_str(&format!("\\fBberth {}\\fR {}\n", roff(&c.path), roff(line)));
            } else {
                t.push_str(&format!(".br\n{}\n", roff(line)));
            }
        }
        t.push_str(&format!(".SH DESCRIPTION\n{}\n", roff(c.spec.about)));
        t.push_str(".SH OPTIONS\n");
        let mut flags: Vec<_> = c.spec.flags.iter().collect();
        flags.sort_by_key(|f| f.long);
        for f in flags {
            let short = f
                .short
                .map(|c| format!("\\fB\\-{c}\\fR, "))
                .unwrap_or_default();
            let ty = if f.ty.is_empty() {
                String::new()
            } else {
                format!(" \\fI{}\\fR", roff(f.ty))
            };
            t.push_str(&format!(
                ".TP\n{short}\\fB\\-\\-{}\\fR{ty}\n{}\n",
                roff(f.long),
                roff(f.help)
            ));
        }
        t.push_str(".TP\n\\fB\\-\\-help\\fR\nPrint usage\n");
        t.push_str(".SH SEE ALSO\n\\fBberth\\fR(1)\n");
        pages.push((stem, t));
    }
    pages
}

/// Text made safe for roff: backslashes and hyphens escaped, no line starting with a control
/// character.
fn roff(text: &str) -> String {
    let escaped = text.replace('\\', "\\e").replace('-', "\\-");
    escaped
        .lines()
        .map(|l| {
            if l.starts_with('.') || l.starts_with('\'') {
                format!("\\&{l}")
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_page_per_command_with_every_flag() {
        let m = Model::build();
        let pages = pages(&m);
        assert_eq!(pages.len(), m.commands.len() + 1);
        let run = pages.iter().find(|(n, _)| n == "berth-run");
        let run = run.map(|(_, t)| t.as_str()).unwrap_or("");
        assert!(run.starts_with(".TH \"BERTH-RUN\" \"1\""));
        assert!(run.contains("\\fB\\-\\-publish\\fR"));
        assert!(pages.iter().any(|(n, _)| n == "berth-network-create"));
        assert_eq!(roff(".x-y\\"), "\\&.x\\-y\\e");
    }
}
