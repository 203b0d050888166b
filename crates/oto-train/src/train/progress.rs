//! Progress display: an indicatif bar (loss / accuracy / throughput) on a terminal; plain log
//! lines when stderr is not a terminal or `CI` is set; nothing in quiet mode (tests).
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Bar,
    Plain,
    Quiet,
}

impl Mode {
    pub fn from_setting(s: &str) -> Mode {
        match s {
            "bar" => Mode::Bar,
            "plain" => Mode::Plain,
            "quiet" => Mode::Quiet,
            _ => {
                if std::io::stderr().is_terminal() && std::env::var_os("CI").is_none() {
                    Mode::Bar
                } else {
                    Mode::Plain
                }
            }
        }
    }
}

pub struct Progress {
    pub mode: Mode,
    bar: Option<ProgressBar>,
    last_log: Instant,
}

impl Progress {
    pub fn new(mode: Mode) -> Self {
        Progress { mode, bar: None, last_log: Instant::now() }
    }
    pub fn start_epoch(&mut self, epoch: usize, epochs: usize, steps: usize) {
        self.last_log = Instant::now();
        if self.mode == Mode::Bar {
            let b = ProgressBar::new(steps as u64);
            b.set_style(
                ProgressStyle::with_template("epoch {prefix} [{bar:28.cyan/blue}] {pos}/{len} {msg} ({elapsed}<{eta})")
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
            );
            b.set_prefix(format!("{epoch}/{epochs}"));
            self.bar = Some(b);
        }
    }
    /// After step `i` (1-based) of `steps`.
    pub fn step(&mut self, i: usize, steps: usize, msg: impl FnOnce() -> String) {
        match self.mode {
            Mode::Bar => {
                if let Some(b) = &self.bar {
                    b.set_position(i as u64);
                    if i % 5 == 0 || i == steps {
                        b.set_message(msg());
                    }
                }
            }
            Mode::Plain => {
                if self.last_log.elapsed() >= Duration::from_secs(15) && i < steps {
                    self.last_log = Instant::now();
                    eprintln!("  step {i}/{steps} {}", msg());
                }
            }
            Mode::Quiet => {}
        }
    }
    pub fn end_epoch(&mut self) {
        if let Some(b) = self.bar.take() {
            b.finish_and_clear();
        }
    }
    /// A line of the log (stdout), shown in every mode but quiet.
    pub fn line(&self, s: &str) {
        if self.mode != Mode::Quiet {
            match &self.bar {
                Some(b) => b.println(s),
                None => println!("{s}"),
            }
        }
    }
}
