//! AFL++'s coverage map without afl-fuzz: SysV shared memory the client creates, whose id the
//! server command gets as `__AFL_SHM_ID`.
//!
//! What an AFL++-instrumented binary does outside afl-fuzz (its runtime, `afl-compiler-rt`):
//! - with `__AFL_SHM_ID` set it attaches that segment and writes its edge map there, and
//!   otherwise runs normally (no fork server: it neither blocks nor exits);
//! - byte 0 of the map is set to 1 at start-up, an alive marker;
//! - `AFL_DUMP_MAP_SIZE=1` makes it print the map size it needs and exit before `main`;
//! - a map larger than 65,536 bytes needs `AFL_MAP_SIZE` set to it (or the binary exits with
//!   status 1 before `main`), and a segment smaller than the map crashes it; so the segment is
//!   max(65,536, the size printed) bytes and `AFL_MAP_SIZE` says so;
//! - its runtime probes file descriptors 198 and 199 for a fork server: the server must not
//!   inherit them (Rust opens every descriptor close-on-exec, so the client's never are).

use super::CoverageSource;
use std::io;
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::process::Command;

/// The smallest map AFL++ uses; larger maps need `AFL_MAP_SIZE`.
pub const MIN_MAP_SIZE: usize = 1 << 16;

/// How long the instrumented binary may take to print its map size.
const DUMP_TIMEOUT: Duration = Duration::from_secs(3);

/// The map size the server `command` needs: what its AFL++ runtime prints with
/// `AFL_DUMP_MAP_SIZE=1`, at least [`MIN_MAP_SIZE`]. A command that prints no size (it is not
/// instrumented: it starts serving instead, or exits) is an error that says so.
pub async fn map_size(command: &str) -> Result<usize, String> {
    let not_instrumented = |what: String| {
        format!(
            "--coverage afl: the server command is not built with AFL++'s instrumentation: with AFL_DUMP_MAP_SIZE=1 \
             it {what} instead of printing its map size (build it with afl-cc or afl-clang-fast, as \
             scripts/interop/install.sh ngtcp2-afl does for ngtcp2's server); command: {command}"
        )
    };
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(format!("exec env AFL_DUMP_MAP_SIZE=1 {command}"))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("--coverage afl: running the server command: {e}"))?;
    let status = match tokio::time::timeout(DUMP_TIMEOUT, child.wait()).await {
        Ok(status) => status.map_err(|e| format!("--coverage afl: running the server command: {e}"))?,
        Err(_) => {
            // It serves: gone (and its port free) before the campaign starts the real one.
            let _ = child.kill().await;
            return Err(not_instrumented(format!("ran for {} s", DUMP_TIMEOUT.as_secs())));
        }
    };
    let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
    if let Some(mut out) = child.stdout.take() {
        let _ = out.read_to_end(&mut stdout).await;
    }
    if let Some(mut err) = child.stderr.take() {
        let _ = err.read_to_end(&mut stderr).await;
    }
    let out = std::process::Output { status, stdout, stderr };
    let printed = String::from_utf8_lossy(&out.stdout);
    match printed.trim().parse::<usize>() {
        Ok(size) if size > 0 => Ok(size.max(MIN_MAP_SIZE)),
        _ => {
            let said = format!("{}{}", printed.trim(), String::from_utf8_lossy(&out.stderr).trim());
            let said: String = said.chars().take(200).collect();
            Err(not_instrumented(format!("exited ({}) printing {said:?}", out.status)))
        }
    }
}

/// A SysV shared memory segment of the client's, attached, for one server's map at a time.
pub struct AflShm {
    id: i32,
    base: *mut u8,
    size: usize,
}

// The segment is the client's alone to read; the pointer is not shared between threads.
unsafe impl Send for AflShm {}

impl AflShm {
    /// A fresh segment of `size` bytes (zeroed by the kernel), attached. It is marked for
    /// removal at once: Linux lets a process attach a segment so marked, and frees it when the
    /// last process detaches, so none is left behind even when the client is killed.
    pub fn create(size: usize) -> io::Result<AflShm> {
        // SAFETY: plain system calls; every result is checked before use.
        unsafe {
            let id = libc::shmget(libc::IPC_PRIVATE, size, libc::IPC_CREAT | libc::IPC_EXCL | 0o600);
            if id < 0 {
                return Err(io::Error::last_os_error());
            }
            let base = libc::shmat(id, std::ptr::null(), 0);
            if base as isize == -1 {
                let e = io::Error::last_os_error();
                libc::shmctl(id, libc::IPC_RMID, std::ptr::null_mut());
                return Err(e);
            }
            libc::shmctl(id, libc::IPC_RMID, std::ptr::null_mut());
            Ok(AflShm { id, base: base.cast(), size })
        }
    }

    /// The segment's id, as `__AFL_SHM_ID` names it.
    pub fn id(&self) -> i32 {
        self.id
    }
}

impl CoverageSource for AflShm {
    fn server_env(&self) -> Vec<(String, String)> {
        vec![("__AFL_SHM_ID".into(), self.id().to_string()), ("AFL_MAP_SIZE".into(), self.size.to_string())]
    }

    fn attached(&self) -> bool {
        // SAFETY: `base` points at `size` >= 1 attached bytes until drop.
        unsafe { std::ptr::read_volatile(self.base) != 0 }
    }

    fn take(&mut self, into: &mut Vec<u8>) {
        into.clear();
        into.resize(self.size, 0);
        // SAFETY: `base` points at `size` attached bytes until drop. The server writes them
        // meanwhile (another process: the hit counts of a connection in flight may be half
        // read, as with afl-fuzz's own reads), which loses at most a few counts.
        unsafe {
            std::ptr::copy_nonoverlapping(self.base, into.as_mut_ptr(), self.size);
            std::ptr::write_bytes(self.base, 0, self.size);
        }
    }
}

impl Drop for AflShm {
    fn drop(&mut self) {
        // SAFETY: attached in `create`, detached once here.
        unsafe {
            libc::shmdt(self.base.cast());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A second attachment of the segment by id (as the server's runtime makes) sees what the
    /// client reads, and a take zeroes it.
    #[test]
    fn the_segment_is_shared_by_id_and_taken_whole() {
        let mut shm = AflShm::create(MIN_MAP_SIZE).expect("shared memory");
        assert!(!shm.attached());
        let env = shm.server_env();
        assert_eq!(env[0], ("__AFL_SHM_ID".to_string(), shm.id().to_string()));
        assert_eq!(env[1], ("AFL_MAP_SIZE".to_string(), MIN_MAP_SIZE.to_string()));
        // SAFETY: the test attaches the segment as the server would, writes, detaches.
        unsafe {
            let other = libc::shmat(shm.id(), std::ptr::null(), 0) as *mut u8;
            assert_ne!(other as isize, -1, "a segment marked for removal can still be attached");
            *other = 1;
            *other.add(7) = 3;
            libc::shmdt(other.cast());
        }
        assert!(shm.attached());
        let mut map = Vec::new();
        shm.take(&mut map);
        assert_eq!((map.len(), map[0], map[7]), (MIN_MAP_SIZE, 1, 3));
        shm.take(&mut map);
        assert!(map.iter().all(|&b| b == 0), "taken and zeroed");
    }

    #[tokio::test]
    async fn a_command_that_is_not_instrumented_is_named_so() {
        let err = map_size("sh -c 'echo serving; exit 0'").await.unwrap_err();
        assert!(err.contains("not built with AFL++'s instrumentation") && err.contains("serving"), "{err}");
        let err = map_size("sleep 30").await.unwrap_err();
        assert!(err.contains("ran for 3 s"), "{err}");
        assert_eq!(map_size("sh -c 'echo 30924'").await, Ok(MIN_MAP_SIZE));
        assert_eq!(
            map_size("sh -c 'echo ${AFL_DUMP_MAP_SIZE}${AFL_DUMP_MAP_SIZE}${AFL_DUMP_MAP_SIZE}00000'").await,
            Ok(11_100_000)
        );
    }
}
