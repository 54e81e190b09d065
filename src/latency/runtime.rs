//! ONNX Runtime, loaded at run time, and the timing harness that every latency table entry
//! and every whole-network measurement goes through (no Python in the timing loop).
//!
//! The shared library is found, in order: the `DMASKING_ONNXRUNTIME` environment variable
//! (the path of `libonnxruntime.so.*`), `ORT_DYLIB_PATH`, then the library that PyPI's
//! `onnxruntime` package ships (`onnxruntime/capi/libonnxruntime.so.*`, asked of `python3`).

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Instant;

use ort::session::Session;
use ort::session::builder::GraphOptimizationLevel;
use ort::value::Tensor;

use crate::error::{Error, Result};

/// A loaded ONNX Runtime.
pub struct Runtime {
    env: ort::environment::Environment,
    /// Its version, e.g. `1.32.0`.
    pub version: String,
    /// The shared library it was loaded from.
    pub path: PathBuf,
}

/// How a graph is timed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timing {
    /// Intra-op threads (inter-op 1, sequential execution, every graph optimisation).
    pub threads: usize,
    /// Images per call.
    pub batch: usize,
    /// Untimed calls first.
    pub warmup: usize,
    /// Timed calls; the result is their median.
    pub runs: usize,
}

impl Default for Timing {
    /// 1 thread, batch 1, 20 warm-up and 200 timed calls.
    fn default() -> Self {
        Timing {
            threads: 1,
            batch: 1,
            warmup: 20,
            runs: 200,
        }
    }
}

fn rt_err(what: &str, e: impl std::fmt::Display) -> Error {
    Error::OnnxRuntime(format!("{what}: {e}"))
}

/// The shared library's path: the environment, else PyPI's package.
fn library() -> Result<PathBuf> {
    for var in ["DMASKING_ONNXRUNTIME", "ORT_DYLIB_PATH"] {
        if let Some(p) = std::env::var_os(var).filter(|p| !p.is_empty()) {
            let p = PathBuf::from(p);
            if !p.is_file() {
                return Err(Error::OnnxRuntime(format!(
                    "{var} is set to {}, which is not a file",
                    p.display()
                )));
            }
            return Ok(p);
        }
    }
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            "import onnxruntime, os; print(os.path.dirname(onnxruntime.__file__))",
        ])
        .output();
    let not_found = || {
        Error::OnnxRuntime(
            "no ONNX Runtime found: install PyPI's package (`pip install onnxruntime`) or set \
             DMASKING_ONNXRUNTIME to the path of libonnxruntime.so"
                .into(),
        )
    };
    let out = out.map_err(|_| not_found())?;
    if !out.status.success() {
        return Err(not_found());
    }
    let capi = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()).join("capi");
    let mut libs: Vec<PathBuf> = std::fs::read_dir(&capi)
        .map_err(|_| not_found())?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("libonnxruntime.so.") || n == "libonnxruntime.so")
        })
        .collect();
    libs.sort();
    libs.pop().ok_or_else(not_found)
}

/// The version in a library's file name (`libonnxruntime.so.1.32.0` → `1.32.0`).
fn version_of(path: &std::path::Path) -> Option<String> {
    let name = path.file_name()?.to_str()?;
    let v = name.strip_prefix("libonnxruntime.so.")?;
    (!v.is_empty()).then(|| v.to_string())
}

/// The process's ONNX Runtime, loaded on first use.
pub fn runtime() -> Result<&'static Runtime> {
    static RT: OnceLock<std::result::Result<Runtime, String>> = OnceLock::new();
    RT.get_or_init(|| {
        let path = library().map_err(|e| e.to_string())?;
        let minor = ort::util::probe(&path).ok_or_else(|| {
            format!(
                "ONNX Runtime: {} is not a loadable ONNX Runtime 1.x library",
                path.display()
            )
        })?;
        let env = ort::init_from(&path)
            .map_err(|e| format!("ONNX Runtime: loading {}: {e}", path.display()))?
            .with_name("dmasking")
            .build()
            .map_err(|e| format!("ONNX Runtime: {e}"))?;
        let version = version_of(&path).unwrap_or_else(|| format!("1.{minor}"));
        Ok(Runtime { env, version, path })
    })
    .as_ref()
    .map_err(|e| Error::OnnxRuntime(e.trim_start_matches("ONNX Runtime: ").to_string()))
}

impl Runtime {
    /// A session of the serialised model `bytes` with `t`'s threads.
    pub fn session(&self, bytes: &[u8], t: &Timing) -> Result<Session> {
        let opts = |e| rt_err("session options", e);
        let b = Session::builder(&self.env).map_err(|e| rt_err("session", e))?;
        let b = b.with_intra_threads(t.threads).map_err(opts)?;
        let b = b.with_inter_threads(1).map_err(opts)?;
        let b = b.with_parallel_execution(false).map_err(opts)?;
        let mut b = b
            .with_optimization_level(GraphOptimizationLevel::All)
            .map_err(opts)?;
        b.commit_from_memory(bytes)
            .map_err(|e| rt_err("loading the graph", e))
    }

    /// One call of the model `bytes` on `input` of shape `shape`: the first output's
    /// values.
    pub fn run(&self, bytes: &[u8], shape: [usize; 4], input: Vec<f32>) -> Result<Vec<f32>> {
        let mut session = self.session(bytes, &Timing::default())?;
        let input = Tensor::from_array((shape, input)).map_err(|e| rt_err("input tensor", e))?;
        let out = session
            .run(ort::inputs![&input])
            .map_err(|e| rt_err("running the graph", e))?;
        let (_, v) = out[0]
            .try_extract_tensor::<f32>()
            .map_err(|e| rt_err("reading the output", e))?;
        Ok(v.to_vec())
    }

    /// The median time of one call of the model `bytes` on a [batch, c, h, h] input of
    /// constant values, in ms, after `t.warmup` untimed calls; and the output's values of
    /// the last call (the first output).
    pub fn time(&self, bytes: &[u8], c: usize, h: usize, t: &Timing) -> Result<(f64, Vec<f32>)> {
        let mut session = self.session(bytes, t)?;
        let n = t.batch * c * h * h;
        let data: Vec<f32> = (0..n).map(|i| (i % 251) as f32 / 251.0).collect();
        let input = Tensor::from_array(([t.batch, c, h, h], data))
            .map_err(|e| rt_err("input tensor", e))?;
        let mut times = Vec::with_capacity(t.runs);
        let mut last = Vec::new();
        for i in 0..t.warmup + t.runs.max(1) {
            let start = Instant::now();
            let out = session
                .run(ort::inputs![&input])
                .map_err(|e| rt_err("running the graph", e))?;
            let ms = start.elapsed().as_secs_f64() * 1e3;
            if i >= t.warmup {
                times.push(ms);
            }
            if i + 1 == t.warmup + t.runs.max(1) {
                let (_, v) = out[0]
                    .try_extract_tensor::<f32>()
                    .map_err(|e| rt_err("reading the output", e))?;
                last = v.to_vec();
            }
        }
        Ok((median(&mut times), last))
    }
}

/// The median of `v` (the mean of the two middle values for an even count).
pub fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// The machine's CPU model name (`/proc/cpuinfo`), or `unknown`.
pub fn cpu_name() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|v| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}

/// The 1-minute load average (`/proc/loadavg`), or −1 where there is none.
pub fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(-1.0)
}
