//! File I/O at the edges: bounded reads of regular files, atomic writes of files and of
//! whole output directories.
//!
//! - Reads never block and never run unbounded: a FIFO, device, socket or directory is
//!   refused before a byte is read ([`open_regular`] opens without blocking and checks the
//!   opened file's type), and the size limit is enforced on the bytes read, not on the length
//!   the file system reports (`/proc` files and devices report 0).
//! - A file is written to a temporary file beside it, then renamed into place
//!   ([`write_atomic`]): a full disk, a signal or a crash never leaves a truncated file under
//!   the final name. An existing non-regular target (`/dev/null`, `/dev/stdout`, a FIFO) is
//!   written directly, since renaming over it would replace the device.
//! - A directory of outputs is staged in a hidden sibling and renamed into place in one step
//!   ([`OutputDir`]): it holds one run's complete set or is untouched, even when two runs
//!   write the same directory at once.

use std::ffi::OsString;
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, Result};

/// What a non-regular file is, for messages.
fn file_kind(ft: &std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if ft.is_fifo() {
            return "a FIFO";
        }
        if ft.is_char_device() {
            return "a character device";
        }
        if ft.is_block_device() {
            return "a block device";
        }
        if ft.is_socket() {
            return "a socket";
        }
    }
    if ft.is_dir() {
        "a directory"
    } else {
        "not a regular file"
    }
}

/// Why `path` (after following links) cannot be read as an input, when it is not a regular
/// file: `Some("a FIFO")`. Does not open the file.
pub fn non_regular(path: &Path) -> Option<&'static str> {
    let meta = std::fs::metadata(path).ok()?;
    (!meta.is_file()).then(|| file_kind(&meta.file_type()))
}

/// The error for `path`, which is `kind` (see [`non_regular`]) and not a regular file.
pub fn not_regular(path: &Path, kind: &str) -> Error {
    Error::Format {
        path: path.to_path_buf(),
        message: format!("is {kind}, not a regular file: refused (it could block or never end)"),
    }
}

/// Open `path` for reading if it is a regular file. The open itself does not block (a FIFO
/// with no writer would), and the type is checked on the opened file, so a file swapped for
/// a FIFO between a check and the open is refused too.
pub fn open_regular(path: &Path) -> Result<File> {
    let io = |cause| Error::Io {
        path: path.to_path_buf(),
        cause,
    };
    let mut oo = std::fs::OpenOptions::new();
    oo.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        oo.custom_flags(libc::O_NONBLOCK);
    }
    let file = oo.open(path).map_err(io)?;
    let meta = file.metadata().map_err(io)?;
    if !meta.is_file() {
        return Err(not_regular(path, file_kind(&meta.file_type())));
    }
    Ok(file)
}

/// A regular file mapped read-only into memory (`memmap2`): read in place, with no copy and
/// no reading thread. Its pages count as the process's resident memory once read, until
/// [`Mapped::release_before`] lets them go.
///
/// A file truncated while it is mapped makes reading its lost part fail (SIGBUS), as for any
/// tool that maps its input (ripgrep among them); the trace files read this way are written
/// whole before they are profiled.
pub struct Mapped {
    map: memmap2::Mmap,
}

impl Mapped {
    /// The file's bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.map
    }

    /// Done with the bytes before `end`: their pages leave this process's resident memory
    /// (they stay in the page cache; reading them again maps them again).
    pub fn release_before(&self, end: usize) {
        let page = 4096;
        let end = end.min(self.map.len()) / page * page;
        if end > 0 {
            // SAFETY: a read-only file mapping: dropped pages are mapped again from the file
            // when read, so no byte `bytes` gives changes.
            let _ = unsafe {
                self.map
                    .unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, 0, end)
            };
        }
    }
}

/// Map `path` into memory if it is a regular file of at most `limit` bytes (an empty file is
/// refused: it maps to nothing).
pub fn map_regular(path: &Path, limit: u64) -> Result<Mapped> {
    let file = open_regular(path)?;
    let io = |cause| Error::Io {
        path: path.to_path_buf(),
        cause,
    };
    let len = file.metadata().map_err(io)?.len();
    if len > limit || len == 0 {
        return Err(io(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("{len} bytes: not mapped (more than {limit}, or empty)"),
        )));
    }
    // SAFETY: read-only; see the type's note on a file truncated while it is mapped.
    let map = unsafe { memmap2::Mmap::map(&file) }.map_err(io)?;
    let _ = map.advise(memmap2::Advice::Sequential);
    Ok(Mapped { map })
}

/// A reader that fails once more than `limit` bytes have been read from it.
pub struct Limited<R> {
    inner: R,
    left: u64,
    limit: u64,
}

impl<R> Limited<R> {
    /// `inner`, allowed `limit` bytes.
    pub fn new(inner: R, limit: u64) -> Self {
        Limited {
            inner,
            left: limit,
            limit,
        }
    }
}

/// The message of the error a [`Limited`] reader returns past its limit.
pub(crate) fn over_limit_message(limit: u64) -> String {
    format!("file is over the limit of {limit} bytes (raise it with --max-file-size)")
}

impl<R: Read> Read for Limited<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        // Ask for one byte past the limit, so that a file of exactly `limit` bytes passes.
        let want = buf
            .len()
            .min(usize::try_from(self.left + 1).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        if n as u64 > self.left {
            return Err(std::io::Error::other(over_limit_message(self.limit)));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

/// The bytes of the regular file `path`, at most `limit` of them ([`Error::TooLarge`] past it).
pub fn read_regular(path: &Path, limit: u64) -> Result<Vec<u8>> {
    let file = open_regular(path)?;
    let hint = file.metadata().map_or(0, |m| m.len()).min(limit);
    let mut bytes = Vec::new();
    // The hint is what the file system says; the limit holds whatever it says.
    bytes
        .try_reserve_exact(usize::try_from(hint).unwrap_or(0))
        .map_err(|_| Error::Format {
            path: path.to_path_buf(),
            message: format!("file of {hint} bytes does not fit in memory"),
        })?;
    match Limited::new(file, limit).read_to_end(&mut bytes) {
        Ok(_) => Ok(bytes),
        Err(_) if bytes.len() as u64 >= limit => Err(Error::TooLarge {
            path: path.to_path_buf(),
            limit,
        }),
        Err(cause) => Err(Error::Io {
            path: path.to_path_buf(),
            cause,
        }),
    }
}

/// The text of a small regular file (a configuration or policy), at most `limit` bytes.
pub fn read_text(path: &Path, limit: u64) -> Result<String> {
    let bytes = read_regular(path, limit)?;
    String::from_utf8(bytes).map_err(|e| Error::Format {
        path: path.to_path_buf(),
        message: format!(
            "not UTF-8 text (invalid byte at offset {})",
            e.utf8_error().valid_up_to()
        ),
    })
}

/// The limit for configuration, policy and report files read whole: 256 MiB.
pub const SMALL_FILE_LIMIT: u64 = 256 << 20;

/// Read a small text file (a configuration or policy) and parse it: a read failure is
/// [`Error::Io`], a parse failure [`Error::Format`], both naming `path`.
pub fn parse_text_file<T, E: std::fmt::Display>(
    path: &std::path::Path,
    parse: impl FnOnce(&str) -> std::result::Result<T, E>,
) -> Result<T> {
    let text = read_text(path, SMALL_FILE_LIMIT)?;
    parse(&text).map_err(|e| Error::Format {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

fn write_error(path: &Path, cause: std::io::Error) -> Error {
    Error::Write {
        path: path.to_path_buf(),
        cause,
    }
}

static UNIQUE: AtomicU64 = AtomicU64::new(0);

/// Temporary files and staging directories that exist right now, for [`remove_tracked`].
static TRACKED: std::sync::Mutex<Vec<PathBuf>> = std::sync::Mutex::new(Vec::new());

fn track(p: &Path) {
    if let Ok(mut t) = TRACKED.lock() {
        t.push(p.to_path_buf());
    }
}

fn untrack(p: &Path) {
    if let Ok(mut t) = TRACKED.lock() {
        t.retain(|x| x != p);
    }
}

/// Remove every temporary file and staging directory this process has open: what an
/// interrupted run calls (the binaries' SIGINT/SIGTERM handler) before it exits, so that an
/// interrupted run leaves nothing behind, as a failed one does not.
pub fn remove_tracked() {
    let paths = match TRACKED.lock() {
        Ok(mut t) => std::mem::take(&mut *t),
        Err(_) => return,
    };
    for p in paths {
        if p.is_dir() {
            let _ = std::fs::remove_dir_all(&p);
        } else {
            let _ = std::fs::remove_file(&p);
        }
    }
}

/// A name no other process or thread of this machine uses at the same time:
/// `.<name>.<pid>-<n>.<what>` (hidden, so a glob over the directory does not see it).
fn sibling(path: &Path, what: &str) -> PathBuf {
    let name = path.file_name().map_or_else(OsString::new, OsString::from);
    let mut s = OsString::from(".");
    s.push(&name);
    s.push(format!(
        ".{}-{}.{what}",
        std::process::id(),
        UNIQUE.fetch_add(1, Ordering::Relaxed)
    ));
    path.with_file_name(s)
}

/// The directory `path` is in (`.` for a bare name).
fn parent_of(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Write `path` atomically: `fill` writes the content into a temporary file beside `path`,
/// which is then renamed onto `path`. On any error the temporary file is removed and `path`
/// is left as it was. An existing non-regular `path` (a device, a FIFO) is written directly.
pub fn write_atomic_with(
    path: &Path,
    fill: impl FnOnce(&mut (dyn Write + Send)) -> std::io::Result<()>,
) -> Result<()> {
    if let Ok(meta) = std::fs::metadata(path) {
        if meta.is_dir() {
            return Err(write_error(
                path,
                std::io::Error::other("is a directory, not a file"),
            ));
        }
        if !meta.is_file() {
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .open(path)
                .map_err(|e| write_error(path, e))?;
            let mut w = std::io::BufWriter::new(&mut f);
            fill(&mut w).map_err(|e| write_error(path, e))?;
            return w.flush().map_err(|e| write_error(path, e));
        }
    }
    let tmp = sibling(path, "tmp");
    track(&tmp);
    let result = (|| {
        let f = File::create(&tmp)?;
        let mut w = std::io::BufWriter::with_capacity(1 << 20, f);
        fill(&mut w)?;
        // Flushed, not synced: the rename protects against a crash of this process (a
        // signal, a full disk), which is what a CI job meets; an fsync of a gigabyte output
        // would cost seconds for the power-loss case only.
        let f = w.into_inner().map_err(|e| e.into_error())?;
        drop(f);
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    untrack(&tmp);
    result.map_err(|e| write_error(path, e))
}

/// [`write_atomic_with`] of a byte string.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic_with(path, |w| w.write_all(bytes))
}

/// A fresh directory under the system's temporary directory, removed when dropped (and by
/// [`remove_tracked`] when the run is interrupted): where an external profiler runs.
#[derive(Debug)]
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    /// Create one; `what` ends its name (`.atif-drift.<pid>-<n>.<what>`).
    pub fn new(what: &str) -> Result<TempDir> {
        let path = sibling(&std::env::temp_dir().join("atif-drift"), what);
        track(&path);
        if let Err(e) = std::fs::create_dir(&path) {
            untrack(&path);
            return Err(write_error(&path, e));
        }
        Ok(TempDir { path })
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
        untrack(&self.path);
    }
}

/// Whether `a` and `b` name the same existing file (after links).
pub fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}

/// Refuse to write `output` when it is one of `inputs`, or (for a directory of outputs)
/// when it holds one of them.
pub fn refuse_overwriting_inputs(output: &Path, inputs: &[&Path], dir: bool) -> Result<()> {
    let Ok(out) = output.canonicalize() else {
        return Ok(()); // does not exist yet: cannot be an input
    };
    for input in inputs {
        let Ok(inp) = input.canonicalize() else {
            continue;
        };
        let clash = if dir {
            inp.starts_with(&out)
        } else {
            inp == out
        };
        if clash {
            let how = if dir {
                "holds the input"
            } else {
                "is the input"
            };
            return Err(Error::Format {
                path: output.to_path_buf(),
                message: format!(
                    "output {how} {}: refused (write the outputs elsewhere)",
                    input.display()
                ),
            });
        }
    }
    Ok(())
}

/// The memory the system can still give (Linux's `MemAvailable`), when it says.
pub fn available_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// A directory of outputs, written as a whole: files go into a hidden staging directory
/// beside the final one, and [`OutputDir::commit`] renames it into place, replacing the
/// previous run's directory. Dropped without a commit, the staging directory is removed and
/// the final directory is untouched.
pub struct OutputDir {
    target: PathBuf,
    staging: PathBuf,
    committed: bool,
}

impl OutputDir {
    /// Prepare to write the directory `target`. Refused when `target` is a file, or when it
    /// holds entries other than `ours` (the names this command writes) unless `force` (then
    /// the whole directory is replaced). Creates `target`'s parent when missing.
    pub fn create(target: &Path, ours: &[&str], force: bool) -> Result<Self> {
        match std::fs::symlink_metadata(target) {
            Ok(meta) if !meta.is_dir() => {
                let why = if meta.file_type().is_symlink() {
                    "is a symbolic link: give the directory it points to"
                } else {
                    "exists and is not a directory"
                };
                return Err(write_error(target, std::io::Error::other(why)));
            }
            Ok(_) if !force => {
                let foreign = foreign_entries(target, ours)?;
                if !foreign.is_empty() {
                    return Err(Error::Format {
                        path: target.to_path_buf(),
                        message: format!(
                            "output directory holds files this command did not write ({}): \
                             refused; choose an empty or new directory, or pass --force to \
                             replace the whole directory",
                            foreign.join(", ")
                        ),
                    });
                }
            }
            _ => {}
        }
        let parent = parent_of(target);
        std::fs::create_dir_all(parent).map_err(|e| write_error(parent, e))?;
        let staging = sibling(target, "staging");
        track(&staging);
        if let Err(e) = std::fs::create_dir(&staging) {
            untrack(&staging);
            return Err(write_error(target, e));
        }
        Ok(OutputDir {
            target: target.to_path_buf(),
            staging,
            committed: false,
        })
    }

    /// The final directory.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Where a file named `name` is staged.
    pub fn staged(&self, name: &str) -> PathBuf {
        self.staging.join(name)
    }

    /// Stage the file `name`; errors name the final path.
    pub fn write_with(
        &self,
        name: &str,
        fill: impl FnOnce(&mut (dyn Write + Send)) -> std::io::Result<()>,
    ) -> Result<()> {
        let named = |e: Error| match e {
            Error::Write { cause, .. } => write_error(&self.target.join(name), cause),
            e => e,
        };
        write_atomic_with(&self.staged(name), fill).map_err(named)
    }

    /// Stage the file `name` with `bytes`.
    pub fn write(&self, name: &str, bytes: &[u8]) -> Result<()> {
        self.write_with(name, |w| w.write_all(bytes))
    }

    /// Put the staged directory in place of the final one, in one rename. A directory that
    /// is there (a previous run's, or a concurrent run's that committed first) is moved aside
    /// and removed: the final directory always holds exactly one run's files.
    pub fn commit(mut self) -> Result<()> {
        for _ in 0..100 {
            match std::fs::rename(&self.staging, &self.target) {
                Ok(()) => {
                    self.committed = true;
                    untrack(&self.staging);
                    return Ok(());
                }
                // A non-empty directory is in the way (an empty one is replaced by rename);
                // when another run has moved it away meanwhile, the next rename succeeds.
                Err(e) if is_not_empty(&e) => {
                    let old = sibling(&self.target, "old");
                    match std::fs::rename(&self.target, &old) {
                        Ok(()) => {
                            let _ = std::fs::remove_dir_all(&old);
                        }
                        // Another run moved it first: try again.
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                        Err(e) => return Err(write_error(&self.target, e)),
                    }
                }
                Err(e) => return Err(write_error(&self.target, e)),
            }
        }
        Err(write_error(
            &self.target,
            std::io::Error::other("another process keeps replacing this directory"),
        ))
    }
}

/// Whether a rename failed because a non-empty directory holds the new name.
fn is_not_empty(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::DirectoryNotEmpty
        || e.kind() == std::io::ErrorKind::AlreadyExists
}

impl Drop for OutputDir {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_dir_all(&self.staging);
            untrack(&self.staging);
        }
    }
}

/// The entries of `dir` whose names are not in `ours`, sorted.
/// The entries of `dir` other than the files `ours`. A directory that another run moves
/// away meanwhile (it committed first) holds nothing foreign: entries are judged by their
/// directory entry, not looked up again by path.
fn foreign_entries(dir: &Path, ours: &[&str]) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let io = |cause| Error::Io {
        path: dir.to_path_buf(),
        cause,
    };
    let gone = |e: &std::io::Error| e.kind() == std::io::ErrorKind::NotFound;
    let entries = match std::fs::read_dir(dir) {
        Err(e) if gone(&e) => return Ok(out),
        r => r.map_err(io)?,
    };
    for e in entries {
        let e = match e {
            Err(e) if gone(&e) => break,
            r => r.map_err(io)?,
        };
        let name = e.file_name();
        let is_file = e.file_type().is_ok_and(|t| t.is_file());
        let is_ours = name.to_str().is_some_and(|n| ours.contains(&n)) && is_file;
        if !is_ours {
            out.push(name.to_string_lossy().into_owned());
        }
    }
    out.sort();
    Ok(out)
}

/// A fresh directory for one unit test, `atif-drift-<name>-<random>` under the system's
/// temporary directory, removed when dropped (the integration tests have their own,
/// `tests/common::scratch`).
#[cfg(test)]
pub(crate) fn scratch(name: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(&format!("atif-drift-{name}-"))
        .tempdir()
        .unwrap()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A concurrent run that commits first moves the directory away while this run checks
    /// it: nothing foreign is there, and the check does not fail (it failed the whole run
    /// when the directory was read after it was gone, or its files looked up by path).
    #[test]
    fn a_directory_moved_away_meanwhile_holds_nothing_foreign() {
        let dir = scratch("fsio-moved");
        let d = dir.path();
        assert_eq!(
            foreign_entries(&d.join("gone"), &["a.json"]).unwrap(),
            Vec::<String>::new()
        );
        std::fs::write(d.join("a.json"), "{}").unwrap();
        std::fs::create_dir(d.join("sub")).unwrap();
        assert_eq!(
            foreign_entries(d, &["a.json"]).unwrap(),
            vec!["sub".to_string()]
        );
    }

    #[test]
    fn limited_reader_allows_exactly_the_limit() {
        let mut v = Vec::new();
        assert!(Limited::new(&b"abcd"[..], 4).read_to_end(&mut v).is_ok());
        let mut v = Vec::new();
        assert!(Limited::new(&b"abcde"[..], 4).read_to_end(&mut v).is_err());
    }

    #[test]
    fn a_failed_write_leaves_the_old_file_and_no_temporary() {
        let dir = scratch("fsio-failed-write");
        let d = dir.path();
        let f = d.join("out.json");
        std::fs::write(&f, "old").unwrap();
        let r = write_atomic_with(&f, |w| {
            w.write_all(b"half")?;
            Err(std::io::Error::other("disk full"))
        });
        assert!(matches!(r, Err(Error::Write { .. })));
        assert_eq!(std::fs::read_to_string(&f).unwrap(), "old");
        assert_eq!(std::fs::read_dir(d).unwrap().count(), 1);
    }

    #[test]
    fn an_output_dir_is_replaced_whole_and_refuses_foreign_files() {
        let dir = scratch("fsio-outdir");
        let d = dir.path();
        let out = d.join("o");
        let w = OutputDir::create(&out, &["a", "b"], false).unwrap();
        w.write("a", b"1").unwrap();
        w.write("b", b"1").unwrap();
        w.commit().unwrap();
        let w = OutputDir::create(&out, &["a", "b"], false).unwrap();
        w.write("a", b"2").unwrap();
        w.commit().unwrap();
        let names: Vec<_> = std::fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["a"], "the previous run's b is gone");
        std::fs::write(out.join("mine.txt"), "x").unwrap();
        let e = OutputDir::create(&out, &["a", "b"], false).err().unwrap();
        assert!(e.to_string().contains("mine.txt"), "{e}");
        // Not committed: the staging directory goes, the target stays.
        let w = OutputDir::create(&out, &["a"], true).unwrap();
        w.write("a", b"3").unwrap();
        drop(w);
        assert_eq!(std::fs::read_dir(d).unwrap().count(), 1);
        assert_eq!(std::fs::read_to_string(out.join("a")).unwrap(), "2");
    }
}
