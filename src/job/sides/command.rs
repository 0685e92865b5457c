//! Running an external profiler (`cmd:NAME`, `[paths.NAME]` of the policy) on one item: in a
//! fresh temporary directory, with a timeout, its standard output and error kept for the
//! report, its outputs cached by what it ran on (`--cache DIR`).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use super::Item;
use crate::drift::spec::{CommandInput, CommandPath, Vars};
use crate::fsio::{OutputDir, TempDir};
use crate::trace::{LoadOptions, Trace};

/// The lines of standard error (or output) a failure quotes.
const TAIL_LINES: usize = 20;

/// One run of an external profiler on one item.
pub(crate) struct Run<'a> {
    /// Its definition.
    pub def: &'a CommandPath,
    /// The item.
    pub item: &'a Item,
    /// The item's IST trace, loaded (converted when the command takes ATIF and the item has
    /// none).
    pub trace: &'a Trace,
    /// The prediction trie's file name in the item's configuration.
    pub trie: &'a str,
    /// The cache directory, when there is one.
    pub cache: Option<&'a Path>,
    /// The policy file's directory: relative programs and arguments naming its files are
    /// made absolute.
    pub base: Option<&'a Path>,
    /// Input limits (for reading its outputs).
    pub opts: &'a LoadOptions,
}

/// The outputs of a cached run are stored under the engine's names.
const CACHED_TRIE: &str = "prediction_trie.json";

impl Run<'_> {
    /// Its output files as `(compared name, text)`: from the cache when this command already
    /// ran on the same input and configuration, else by running it. Errors say what went
    /// wrong, with its last standard-error lines.
    pub fn outputs(&self) -> Result<Vec<(String, String)>, String> {
        let key = match self.cache {
            Some(_) => Some(self.key()?),
            None => None,
        };
        if let (Some(cache), Some(key)) = (self.cache, &key) {
            let hit = cache.join(key);
            if hit.is_dir() {
                return super::read_texts(&hit, CACHED_TRIE, self.opts);
            }
        }
        let work = TempDir::new("cmd").map_err(|e| e.to_string())?;
        let input = self.input(work.path())?;
        let out = work.path().join("out");
        std::fs::create_dir(&out).map_err(|e| format!("{}: {e}", out.display()))?;
        self.run(work.path(), &input, &out)?;
        let texts = super::read_texts(&out, self.trie, self.opts)?;
        if texts.is_empty() {
            return Err(format!(
                "wrote none of the profiler's outputs ({}) in {{output}}{}",
                crate::drift::COMPARED.join(", "),
                tail_note(work.path())
            ));
        }
        if let (Some(cache), Some(key)) = (self.cache, &key) {
            let names: Vec<&str> = texts.iter().map(|(n, _)| n.as_str()).collect();
            let dir = OutputDir::create(&cache.join(key), &names, false)
                .map_err(|e| format!("--cache: {e}"))?;
            for (name, text) in &texts {
                dir.write(name, text.as_bytes())
                    .map_err(|e| e.to_string())?;
            }
            dir.commit().map_err(|e| format!("--cache: {e}"))?;
        }
        Ok(texts)
    }

    /// The trace the command receives: the item's IST trace, or its ATIF (NAT's, else the
    /// IST trace converted by our converter into `work`).
    fn input(&self, work: &Path) -> Result<PathBuf, String> {
        match (self.def.input, &self.item.atif) {
            (CommandInput::Atif, None) => {
                let atif = crate::pipeline::as_atif(self.trace).map_err(|e| e.to_string())?;
                let trajectories: Vec<_> = atif.items.iter().map(|i| &i.trajectory).collect();
                let mut text =
                    serde_json::to_string_pretty(&trajectories).map_err(|e| e.to_string())?;
                text.push('\n');
                let path = work.join("input_atif.json");
                crate::fsio::write_atomic(&path, text.as_bytes()).map_err(|e| e.to_string())?;
                Ok(path)
            }
            _ => Ok(self.source().to_path_buf()),
        }
    }

    /// The item's file the command's input comes from: its ATIF when it takes ATIF and the
    /// item has one, else its IST trace (given as is, or converted).
    fn source(&self) -> &Path {
        match (self.def.input, &self.item.atif) {
            (CommandInput::Atif, Some(atif)) => atif,
            _ => &self.item.ist,
        }
    }

    /// The cache key: a hash of the command (its definition, environment and input kind),
    /// the bytes of the trace its input comes from and of the configuration, and this
    /// program's version (which converts an IST trace into the ATIF a command may receive):
    /// known before anything is converted or run.
    fn key(&self) -> Result<String, String> {
        let mut h = Sha256::new();
        let def = serde_json::to_string(self.def).map_err(|e| e.to_string())?;
        h.update(def.as_bytes());
        h.update(env!("CARGO_PKG_VERSION").as_bytes());
        for f in std::iter::once(self.source()).chain(self.item.config.as_deref()) {
            h.update([0]);
            std::fs::File::open(f)
                .and_then(|mut file| std::io::copy(&mut file, &mut h))
                .map_err(|e| format!("{}: {e}", f.display()))?;
        }
        Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
    }

    /// `arg` made absolute when it is a relative path to a file beside the policy file or in
    /// the directory atif-drift runs in (the command runs in a directory of its own).
    fn resolve(&self, arg: String) -> String {
        let p = Path::new(&arg);
        if arg.starts_with('-') || p.is_absolute() || arg.is_empty() {
            return arg;
        }
        for dir in self.base.into_iter().chain([Path::new(".")]) {
            let at = dir.join(p);
            if at.exists() {
                if let Ok(abs) = std::path::absolute(&at) {
                    return abs.display().to_string();
                }
            }
        }
        arg
    }

    /// Run the command in `out` (its files' directory; its standard output and error go to
    /// `work`) until it exits or its timeout passes.
    fn run(&self, work: &Path, input: &Path, out: &Path) -> Result<(), String> {
        // Absolute: the command runs in its own directory.
        let abs = |p: &Path| {
            std::path::absolute(p)
                .unwrap_or_else(|_| p.to_path_buf())
                .display()
                .to_string()
        };
        let (input, output) = (abs(input), abs(out));
        let config = self.item.config.as_deref().map(abs);
        let item = abs(self.item.dir());
        let env = |k: &str| std::env::var(k).ok();
        let vars = Vars {
            input: &input,
            output: &output,
            config: config.as_deref(),
            item: &item,
            env: &env,
        };
        let args: Vec<String> = self
            .def
            .args(&vars)?
            .into_iter()
            .map(|a| self.resolve(a))
            .collect();
        let file = |n: &str| {
            std::fs::File::create(work.join(n)).map_err(|e| format!("{}: {e}", work.display()))
        };
        let mut cmd = std::process::Command::new(&args[0]);
        cmd.args(&args[1..])
            .current_dir(out)
            .stdin(std::process::Stdio::null())
            .stdout(file("stdout.txt")?)
            .stderr(file("stderr.txt")?);
        for (k, v) in &self.def.env {
            cmd.env(k, vars.fill(v)?);
        }
        #[cfg(unix)]
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let started = Instant::now();
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("cannot start {:?}: {e}", args[0]))?;
        let limit = Duration::from_secs_f64(self.def.timeout_s);
        let pid = child.id();
        if let Ok(mut r) = RUNNING.lock() {
            r.push(pid);
        }
        let status = self.wait(&mut child, started, limit, work);
        if let Ok(mut r) = RUNNING.lock() {
            r.retain(|&p| p != pid);
        }
        let status = status?;
        if !status.success() {
            return Err(format!(
                "failed ({status}) after {:.1} s{}",
                started.elapsed().as_secs_f64(),
                tail_note(work)
            ));
        }
        Ok(())
    }

    /// Wait for `child` until `limit` has passed since `started` (then kill it).
    fn wait(
        &self,
        child: &mut std::process::Child,
        started: Instant,
        limit: Duration,
        work: &Path,
    ) -> Result<std::process::ExitStatus, String> {
        loop {
            match child.try_wait() {
                Ok(Some(status)) => return Ok(status),
                Ok(None) if started.elapsed() >= limit => {
                    kill(child);
                    return Err(format!(
                        "did not finish within timeout_s = {}: killed{}",
                        self.def.timeout_s,
                        tail_note(work)
                    ));
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(10)),
                Err(e) => return Err(e.to_string()),
            }
        }
    }
}

/// The process groups of the commands running now, for [`kill_running`].
static RUNNING: std::sync::Mutex<Vec<u32>> = std::sync::Mutex::new(Vec::new());

/// Kill every external profiler running now, with what it started: what an interrupted run
/// calls (the binary's SIGINT/SIGTERM handler), as commands run in process groups of their
/// own, which a terminal's interrupt does not reach.
pub fn kill_running() {
    let pids = RUNNING.lock().map(|p| p.clone()).unwrap_or_default();
    for pid in pids {
        #[cfg(unix)]
        if let Ok(pid) = i32::try_from(pid) {
            // SAFETY: kill(2) on a process group we started; no memory is involved.
            unsafe {
                libc::kill(-pid, libc::SIGKILL);
            }
        }
        #[cfg(not(unix))]
        let _ = pid;
    }
}

/// Kill the command and everything it started (its process group).
fn kill(child: &mut std::process::Child) {
    #[cfg(unix)]
    if let Ok(pid) = i32::try_from(child.id()) {
        // SAFETY: kill(2) on the process group this child leads; no memory is involved.
        unsafe {
            libc::kill(-pid, libc::SIGKILL);
        }
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// The last lines of the command's standard error (else its standard output), as the
/// end of an error message.
fn tail_note(work: &Path) -> String {
    for name in ["stderr.txt", "stdout.txt"] {
        let text = std::fs::read(work.join(name)).unwrap_or_default();
        let text = String::from_utf8_lossy(&text);
        let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        if !lines.is_empty() {
            let from = lines.len().saturating_sub(TAIL_LINES);
            let what = if name == "stderr.txt" {
                "standard error"
            } else {
                "standard output"
            };
            return format!("; its {what} ends:\n{}", lines[from..].join("\n"));
        }
    }
    "; it printed nothing".into()
}
