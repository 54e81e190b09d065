//! What the test modules share: the `dmasking` binary, paths in the repository, temporary
//! paths removed after the test, run directories' metrics and checkpoints, and the backend
//! under test with its random generator.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, Once, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use burn::tensor::Device;
use serde_json::Value;

/// The `dmasking` binary, ready for arguments (to spawn it, or to give it an environment).
pub fn command() -> Command {
    Command::new(env!("CARGO_BIN_EXE_dmasking"))
}

/// Run the `dmasking` binary to its end.
pub fn dmasking(args: &[&str]) -> Output {
    command().args(args).output().unwrap()
}

/// A path in the repository.
pub fn repo(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(p)
}

/// A path in the repository, as a command-line argument.
pub fn repo_str(p: &str) -> String {
    repo(p).to_str().unwrap().to_string()
}

/// A path in the system's temp directory, unique to the test (`dmasking-NAME-PID-K`, K
/// counting the process's calls) and with nothing at it yet: a run directory, a file or a
/// directory to create. Whatever is there is removed when it is dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        static CALLS: AtomicUsize = AtomicUsize::new(0);
        let k = CALLS.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("dmasking-{name}-{}-{k}", std::process::id()));
        remove(&path);
        TempDir(path)
    }

    /// The same, created as an empty directory.
    pub fn create(name: &str) -> TempDir {
        let d = TempDir::new(name);
        std::fs::create_dir_all(&d.0).unwrap();
        d
    }

    /// Keep it until the test process exits: for a fixture held in a static, which is never
    /// dropped.
    pub fn until_exit(self) -> PathBuf {
        static LEFT: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());
        static REGISTER: Once = Once::new();
        extern "C" fn remove_left() {
            for p in LEFT.lock().unwrap_or_else(PoisonError::into_inner).iter() {
                remove(p);
            }
        }
        REGISTER.call_once(|| {
            // SAFETY: registers a function without arguments that only removes files; it
            // runs when the process exits, after the tests, from the C runtime's `exit`.
            assert_eq!(unsafe { libc::atexit(remove_left) }, 0, "atexit");
        });
        let path = self.0.clone();
        std::mem::forget(self);
        LEFT.lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(path.clone());
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        remove(&self.0);
    }
}

impl std::ops::Deref for TempDir {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<Path> for TempDir {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

/// Remove a directory tree or a file, if there is one.
fn remove(p: &Path) {
    match std::fs::symlink_metadata(p) {
        Ok(m) if m.is_dir() => std::fs::remove_dir_all(p).ok(),
        Ok(_) => std::fs::remove_file(p).ok(),
        Err(_) => None,
    };
}

/// The epoch lines of a run's metrics.jsonl.
pub fn epoch_lines(run: &Path) -> Vec<Value> {
    std::fs::read_to_string(run.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|v| v["kind"] == "epoch")
        .collect()
}

/// Where a run's newest checkpoint stands: (epoch, batches done in it), once readable.
pub fn checkpoint_position(run: &Path) -> Option<(u64, u64)> {
    let text = std::fs::read_to_string(run.join("checkpoint/progress.json")).ok()?;
    let v: Value = serde_json::from_str(&text).ok()?;
    Some((v["epoch"].as_u64()?, v["batch"].as_u64()?))
}

/// Start `dmasking ARGS`, whose run directory is `run`, and SIGKILL it once a mid-epoch
/// checkpoint of its second epoch exists, which must happen within `limit` and before the
/// run ends.
pub fn kill_in_the_second_epoch(
    args: impl IntoIterator<Item = impl AsRef<OsStr>>,
    run: &Path,
    limit: Duration,
) {
    let mut child = command().args(args).stdout(Stdio::null()).spawn().unwrap();
    let t0 = Instant::now();
    while !checkpoint_position(run).is_some_and(|(e, b)| e >= 1 && b > 0) {
        assert!(t0.elapsed() < limit, "no mid-epoch checkpoint appeared");
        assert!(child.try_wait().unwrap().is_none(), "the run ended first");
        std::thread::sleep(Duration::from_millis(10));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
}

/// `DMASKING_TEST_DEVICE`: cpu (default), ndarray, wgpu or cuda.
fn device_name() -> String {
    std::env::var("DMASKING_TEST_DEVICE").unwrap_or_else(|_| "cpu".into())
}

/// The backend under test, without autodiff.
pub fn plain_device() -> Device {
    dmasking::device::device(&device_name()).expect("DMASKING_TEST_DEVICE names a compiled backend")
}

/// Whether the backend under test is Flex, where our kernels must be taken.
pub fn on_flex() -> bool {
    matches!(device_name().as_str(), "cpu" | "flex")
}

/// Burn's Flex backend keeps one random generator for the whole process: `Device::seed`
/// sets it, and random tensors and parameter initialisation on any thread draw from it.
/// The tests run on threads of one process, so a test whose results depend on the seed
/// (a run that must reproduce another) holds [`device_rng_alone`], and every other test
/// that seeds or draws (any tensor work on a device) holds [`device_rng_shared`] meanwhile.
static DEVICE_RNG: RwLock<()> = RwLock::new(());

/// The device's random generator to this test alone, until the guard is dropped.
pub fn device_rng_alone() -> RwLockWriteGuard<'static, ()> {
    DEVICE_RNG.write().unwrap_or_else(PoisonError::into_inner)
}

/// The device's random generator, drawn by tests that do not depend on its values.
pub fn device_rng_shared() -> RwLockReadGuard<'static, ()> {
    DEVICE_RNG.read().unwrap_or_else(PoisonError::into_inner)
}

/// The network of Channel-Bench-Macro's key (1, 2, 3, 4, 1, 2, 3) as its model.py builds
/// it (widths round(a · [128, 768, 768, 768, 256, 1536, 1024] / 4)): stem 32; hidden
/// widths 384, 576, then 768 in the stride-2 block; stage width 64; last hidden 768;
/// head 768.
pub fn assert_channel_bench_key_1234123(arch: &dmasking::arch::Arch) {
    assert_eq!(arch.stem.out, 32);
    let blocks: Vec<_> = arch
        .blocks
        .iter()
        .map(|b| (b.mid.unwrap(), b.out, b.stride))
        .collect();
    assert_eq!(
        blocks,
        [(384, 32, 1), (576, 32, 1), (768, 64, 2), (768, 64, 1)]
    );
    assert_eq!(arch.head.out, 768);
}

/// `flops --space --json`'s smallest and largest FLOPs of a space file.
pub fn printed_range(space: &str) -> (f64, f64) {
    let out = dmasking(&["flops", "--space", &repo(space).to_string_lossy(), "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    (
        v["min_flops"].as_f64().unwrap(),
        v["max_flops"].as_f64().unwrap(),
    )
}

/// A file of little-endian f32 values (the fixtures' input.f32 and logits.f32).
pub fn floats(path: &Path) -> Vec<f32> {
    std::fs::read(path)
        .unwrap()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

/// Random weights with BN statistics, scales and shifts drawn too (a fresh network's are
/// 0, 1, 1, 0, and its residual blocks' last scale is 0), so that folding BN is tested.
pub fn randomise_batch_norms(net: &mut dmasking::nn::FixedNet) {
    for bn in net.batch_norms_mut() {
        let c = bn.gamma.dims()[0];
        let d = bn.gamma.device();
        let u = |lo: f64, hi: f64| {
            burn::tensor::Tensor::<1>::random([c], burn::tensor::Distribution::Uniform(lo, hi), &d)
        };
        bn.gamma = burn::module::Param::from_tensor(u(0.5, 1.5));
        bn.beta = burn::module::Param::from_tensor(u(-0.2, 0.2));
        bn.running_mean = burn::module::RunningState::new(u(-0.3, 0.3));
        bn.running_var = burn::module::RunningState::new(u(0.5, 2.0));
    }
}

/// Host values of a tensor.
pub fn host<const D: usize>(t: burn::tensor::Tensor<D>) -> Vec<f32> {
    t.into_data().convert::<f32>().try_to_vec::<f32>().unwrap()
}

/// max |a − b| / max |b| on host values.
pub fn host_rel_err(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    let scale = b.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-12);
    a.iter().zip(b).fold(0f32, |m, (x, y)| m.max((x - y).abs())) / scale
}
