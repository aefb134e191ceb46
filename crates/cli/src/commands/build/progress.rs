//! How `berth build` shows a build (`--progress`): `plain` prints the stream as the docker CLI's
//! legacy builder client does (for logs and pipes: byte for byte the same); `tty` draws a live
//! view on a terminal, redrawn in place: one line per step with its duration, `CACHED` for a
//! cache hit, and the last lines of the running step's output; `auto` (the default) is `tty` when
//! standard output is a terminal, else `plain`. The view reads the same JSON stream: the
//! classic builder's `Step N/M : …`, ` ---> Using cache`, ` ---> Running in …` texts.

use std::io::Write;
use std::time::{Duration, Instant};

/// How many lines of the running step's output the view shows.
const TAIL: usize = 6;
/// The least time between two redraws (a chatty RUN would otherwise redraw per line).
const REDRAW: Duration = Duration::from_millis(80);

/// The `--progress` modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Plain,
    Tty,
}

impl Mode {
    /// `--progress VALUE` (`auto` when not given), resolved against whether standard output is
    /// a terminal.
    pub fn parse(value: Option<&str>, stdout_is_terminal: bool) -> Result<Mode, String> {
        match value.unwrap_or("auto") {
            "auto" if stdout_is_terminal => Ok(Mode::Tty),
            "auto" | "plain" => Ok(Mode::Plain),
            "tty" => Ok(Mode::Tty),
            other => Err(format!(
                "invalid argument \"{other}\" for \"--progress\" flag: use auto, plain or tty"
            )),
        }
    }
}

#[derive(Debug)]
struct Step {
    /// `[2/3] RUN echo hi`.
    title: String,
    started: Instant,
    finished: Option<Instant>,
    cached: bool,
}

/// The live view of one build.
#[derive(Debug)]
pub struct LiveView {
    started: Instant,
    total: usize,
    steps: Vec<Step>,
    /// The running step's output, its last [`TAIL`] lines.
    tail: Vec<String>,
    /// A line of output not yet ended by a newline.
    partial: String,
    /// What comes after the steps (`Successfully built …`), printed once at the end.
    after: Vec<String>,
    /// Lines drawn last time (to move back over them).
    drawn: usize,
    last_draw: Option<Instant>,
    width: usize,
}

impl LiveView {
    pub fn new(width: usize) -> LiveView {
        LiveView {
            started: Instant::now(),
            total: 0,
            steps: Vec::new(),
            tail: Vec::new(),
            partial: String::new(),
            after: Vec::new(),
            drawn: 0,
            last_draw: None,
            width: width.clamp(40, 200),
        }
    }

    /// Takes one displayed text of the stream (see `stream::display`) and redraws when due.
    pub fn feed(&mut self, text: &str, out: &mut impl Write) {
        let text = format!("{}{text}", std::mem::take(&mut self.partial));
        let mut lines: Vec<&str> = text.split('\n').collect();
        if let Some(rest) = lines.pop() {
            self.partial = rest.to_string();
        }
        for line in lines {
            self.line(line.trim_end_matches('\r'));
        }
        let due = self.last_draw.is_none_or(|t| t.elapsed() >= REDRAW);
        if due {
            self.draw(out);
        }
    }

    fn line(&mut self, line: &str) {
        let now = Instant::now();
        if let Some(rest) = line.strip_prefix("Step ") {
            if let Some((counts, instruction)) = rest.split_once(" : ") {
                self.finish_step(now);
                if let Some((_, total)) = counts.split_once('/') {
                    self.total = total.trim().parse().unwrap_or(self.total);
                }
                self.steps.push(Step {
                    title: format!("[{counts}] {instruction}"),
                    started: now,
                    finished: None,
                    cached: false,
                });
                return;
            }
        }
        if line == " ---> Using cache" {
            if let Some(s) = self.steps.last_mut() {
                s.cached = true;
            }
            return;
        }
        if line.starts_with(" ---> ") || line.starts_with("Removing intermediate container") {
            return;
        }
        if line.starts_with("Successfully ") {
            self.finish_step(now);
            self.after.push(line.to_string());
            return;
        }
        if line.is_empty() {
            return;
        }
        self.tail.push(line.to_string());
        if self.tail.len() > TAIL {
            self.tail.remove(0);
        }
    }

    fn finish_step(&mut self, now: Instant) {
        if let Some(s) = self.steps.last_mut().filter(|s| s.finished.is_none()) {
            s.finished = Some(now);
        }
        self.tail.clear();
    }

    /// The view's lines now.
    fn render(&self) -> Vec<String> {
        let done = self.steps.iter().filter(|s| s.finished.is_some()).count();
        let mut lines = vec![format!(
            "[+] Building {:.1}s ({done}/{})",
            self.started.elapsed().as_secs_f64(),
            self.total.max(self.steps.len())
        )];
        for s in &self.steps {
            let took = s.finished.unwrap_or_else(Instant::now) - s.started;
            let title = if s.cached {
                format!(" => CACHED {}", s.title)
            } else {
                format!(" => {}", s.title)
            };
            let time = format!("{:.1}s", took.as_secs_f64());
            lines.push(fit(&title, &time, self.width));
        }
        if self.steps.last().is_some_and(|s| s.finished.is_none()) {
            for t in &self.tail {
                lines.push(clip(&format!(" => => # {t}"), self.width));
            }
        }
        lines
    }

    fn draw(&mut self, out: &mut impl Write) {
        let lines = self.render();
        let mut frame = String::new();
        if self.drawn > 0 {
            // Back to the first line drawn last time, and clear below.
            frame.push_str(&format!("\x1b[{}A\r\x1b[J", self.drawn));
        }
        for l in &lines {
            frame.push_str(l);
            frame.push('\n');
        }
        let _ = out.write_all(frame.as_bytes());
        let _ = out.flush();
        self.drawn = lines.len();
        self.last_draw = Some(Instant::now());
    }

    /// The build is over (the stream ended, or an error came): the last frame, then what came
    /// after the steps.
    pub fn finish(&mut self, out: &mut impl Write) {
        if !self.partial.is_empty() {
            let rest = std::mem::take(&mut self.partial);
            self.line(&rest);
        }
        self.finish_step(Instant::now());
        self.draw(out);
        for l in &self.after {
            let _ = writeln!(out, "{l}");
        }
        let _ = out.flush();
    }
}

/// `title` and `time` on one line of `width`, the title cut to fit.
fn fit(title: &str, time: &str, width: usize) -> String {
    let room = width.saturating_sub(time.len() + 1);
    let title = clip(title, room);
    let pad = room.saturating_sub(title.chars().count());
    format!("{title}{} {time}", " ".repeat(pad))
}

/// `text` cut to `width` characters.
fn clip(text: &str, width: usize) -> String {
    text.chars().take(width).collect()
}

/// The terminal's width, else 80.
pub fn terminal_width() -> usize {
    crate::commands::tty::size().map_or(80, |(_, cols)| usize::from(cols))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream(view: &mut LiveView, texts: &[&str]) -> String {
        let mut out = Vec::new();
        for t in texts {
            view.feed(t, &mut out);
        }
        view.finish(&mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn modes_resolve_against_the_terminal() {
        assert_eq!(Mode::parse(None, true), Ok(Mode::Tty));
        assert_eq!(Mode::parse(None, false), Ok(Mode::Plain));
        assert_eq!(Mode::parse(Some("plain"), true), Ok(Mode::Plain));
        assert_eq!(Mode::parse(Some("tty"), false), Ok(Mode::Tty));
        assert!(Mode::parse(Some("fancy"), true).is_err());
    }

    #[test]
    fn steps_cache_hits_and_the_last_frame() {
        let mut v = LiveView::new(60);
        let text = stream(
            &mut v,
            &[
                "Step 1/3 : FROM busybox\n",
                " ---> 0123456789ab\n",
                "Step 2/3 : RUN echo one\n",
                " ---> Using cache\n",
                " ---> 1111\n",
                "Step 3/3 : RUN for i in 1 2 3 4 5 6 7 8; do echo line$i; done\n",
                " ---> Running in abc\n",
                "line1\nline2\n",
                "line3\n",
                "Removing intermediate container abc\n",
                " ---> 2222\n",
                "Successfully built 2222\n",
                "Successfully tagged t:latest\n",
            ],
        );
        // The last frame is the text after the last cursor move.
        let last = text.rsplit("\x1b[J").next().unwrap();
        let lines: Vec<&str> = last.lines().collect();
        assert!(lines[0].starts_with("[+] Building ") && lines[0].ends_with("(3/3)"));
        assert!(lines[1].starts_with(" => [1/3] FROM busybox"), "{lines:?}");
        assert!(
            lines[2].starts_with(" => CACHED [2/3] RUN echo one"),
            "{lines:?}"
        );
        assert!(lines[3].starts_with(" => [3/3] RUN for i in"), "{lines:?}");
        assert!(lines[1..4]
            .iter()
            .all(|l| l.chars().count() == 60 && l.ends_with('s')));
        assert_eq!(
            &lines[4..],
            ["Successfully built 2222", "Successfully tagged t:latest"]
        );
    }

    #[test]
    fn the_running_steps_tail_is_shown_while_it_runs() {
        let mut v = LiveView::new(80);
        let mut out = Vec::new();
        v.feed("Step 1/1 : RUN chatty\n", &mut out);
        v.last_draw = None;
        v.feed(" ---> Running in abc\n", &mut out);
        for i in 0..10 {
            v.line(&format!("out{i}"));
        }
        let frame = v.render();
        let tail: Vec<&String> = frame.iter().filter(|l| l.contains("=> => #")).collect();
        assert_eq!(tail.len(), TAIL);
        assert!(
            tail[0].ends_with("out4") && tail[5].ends_with("out9"),
            "{tail:?}"
        );
    }

    #[test]
    fn a_partial_line_waits_for_its_end() {
        let mut v = LiveView::new(80);
        let mut out = Vec::new();
        v.feed("Step 1/1 : RUN x\n", &mut out);
        v.feed("hal", &mut out);
        v.feed("f\n", &mut out);
        assert_eq!(v.tail, ["half"]);
    }
}
