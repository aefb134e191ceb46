//! The Dockerfile parser: pure, no I/O. [`parse`] turns the text into directives, the `ARG`s
//! before the first `FROM` and the stages with their typed instructions; every error names the
//! line, in BuildKit's words (`dockerfile parse error on line 3: unknown instruction: RNU`).
//!
//! - `lines`: physical layout → logical instructions (directives, continuations, heredocs);
//! - `instruction`: one logical instruction → a typed [`Instruction`] (`healthcheck` for its
//!   options);
//! - `lex`: word splitting and variable expansion (used here and by the executor).

mod healthcheck;
pub mod instruction;
pub mod lex;
pub mod lines;

#[cfg(test)]
mod corpus;
#[cfg(test)]
mod tests;

pub use instruction::{Command, CopySpec, Health, Instruction, Mount};
pub use lines::Heredoc;

/// A Dockerfile that could not be parsed, with the 1-based line it is about.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("dockerfile parse error on line {line}: {message}")]
pub struct ParseError {
    pub line: usize,
    pub message: String,
}

impl ParseError {
    pub fn at(line: usize, message: impl Into<String>) -> Self {
        ParseError {
            line,
            message: message.into(),
        }
    }
}

/// One instruction with where it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub line: usize,
    /// As written, continuations joined (`RUN apk add x`).
    pub original: String,
    pub instruction: Instruction,
}

/// A `FROM` and the instructions up to the next one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    /// `AS name`, lower-cased.
    pub name: Option<String>,
    /// The raw base image word (expanded with the global `ARG`s at build time).
    pub base: String,
    pub platform: Option<String>,
    pub from: Step,
    pub steps: Vec<Step>,
}

/// A parsed Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dockerfile {
    pub escape: char,
    pub syntax: Option<String>,
    /// `ARG`s before the first `FROM` (usable in `FROM` lines, and in a stage that redeclares them).
    pub meta_args: Vec<Step>,
    pub stages: Vec<Stage>,
}

impl Dockerfile {
    /// The index of the stage named `name` (or given by its number).
    pub fn stage_index(&self, name: &str) -> Option<usize> {
        let lower = name.to_ascii_lowercase();
        self.stages
            .iter()
            .position(|s| s.name.as_deref() == Some(lower.as_str()))
            .or_else(|| {
                name.parse::<usize>()
                    .ok()
                    .filter(|i| *i < self.stages.len())
            })
    }

    /// The number of steps a build of stages `0..=last` runs (the "Step N/M" total).
    pub fn step_count(&self, last: usize) -> usize {
        self.stages
            .iter()
            .take(last + 1)
            .map(|s| 1 + s.steps.len())
            .sum::<usize>()
            + self.meta_args.len()
    }
}

/// Parses a Dockerfile.
pub fn parse(text: &str) -> Result<Dockerfile, ParseError> {
    let parsed = lines::parse_lines(text)?;
    let escape = parsed.escape;
    let mut meta_args = Vec::new();
    let mut stages: Vec<Stage> = Vec::new();
    if parsed.nodes.is_empty() {
        return Err(ParseError::at(1, "the Dockerfile has no instructions"));
    }
    for node in &parsed.nodes {
        let instruction =
            instruction::instruction(node, escape).map_err(|m| ParseError::at(node.line, m))?;
        let step = Step {
            line: node.line,
            original: node.original.clone(),
            instruction,
        };
        match (&step.instruction, stages.last_mut()) {
            (
                Instruction::From {
                    image,
                    name,
                    platform,
                },
                _,
            ) => {
                if let Some(n) = name {
                    if stages.iter().any(|s| s.name.as_deref() == Some(n.as_str())) {
                        return Err(ParseError::at(
                            node.line,
                            format!("duplicate stage name {n:?}"),
                        ));
                    }
                }
                stages.push(Stage {
                    name: name.clone(),
                    base: image.clone(),
                    platform: platform.clone(),
                    from: step.clone(),
                    steps: Vec::new(),
                });
            }
            (Instruction::Arg(_), None) => meta_args.push(step),
            (_, None) => {
                return Err(ParseError::at(
                    node.line,
                    "no build stage in current context (the first instruction must be FROM or ARG)",
                ))
            }
            (_, Some(stage)) => stage.steps.push(step),
        }
    }
    if stages.is_empty() {
        return Err(ParseError::at(
            parsed.nodes.last().map_or(1, |n| n.line),
            "no build stage in current context (the Dockerfile has no FROM)",
        ));
    }
    Ok(Dockerfile {
        escape,
        syntax: parsed.syntax,
        meta_args,
        stages,
    })
}
