//! One-shot scores: how the supernet itself ranks architectures. A sub-network inherits
//! the supernet's weights (sliced to its widths, the centre of the superkernel), its BN
//! statistics are re-estimated on training images (the supernet's were averaged over
//! mixed widths), and it is evaluated on test images. Compared with the same networks'
//! accuracy after retraining, this measures whether weight sharing ranks them correctly.

use burn::module::Module;
use burn::tensor::Device;

use super::{Progress, RunConfig};
use crate::data::{ImageData, make_batch};
use crate::error::{Error, Result};
use crate::eval::{Evaluation, evaluate, resample};
use crate::run::RunDir;
use crate::supernet::Supernet;

/// A search run's supernet at its newest checkpoint, on the autodiff version of `device`
/// (BN re-estimation runs the layers in training mode), with the run's config, the
/// checkpoint's position and its directory (for the logits beside the weights).
#[allow(clippy::type_complexity)]
pub fn load_supernet(
    run: &RunDir,
    device: &Device,
) -> Result<(RunConfig, Supernet, Progress, std::path::PathBuf)> {
    let cfg = RunConfig::read(run)?;
    let Some((dir, progress)) = run.latest_checkpoint::<Progress>()? else {
        return Err(Error::NoCheckpoint(run.path.clone()));
    };
    let ad = device.clone().autodiff();
    let net = Supernet::with_sharing(&cfg.space, cfg.search.op_sharing, &ad)
        .try_load_file(dir.join("supernet.bpk"))
        .map_err(|e| Error::record(&dir, "loading supernet", e))?;
    Ok((cfg, net, progress, dir))
}

/// The one-shot evaluation of the network that `picks` derives (from an architecture:
/// [`Plan::picks_for`](crate::supernet::Plan::picks_for)): inherited weights, BN
/// statistics re-estimated as the plain average over the batches of `calibration`
/// (batches of `batch_size`; the supernet's statistics, taken over mixed widths, are
/// dropped), then top-1 on `test`. Where `bilateral` (a supernet trained with
/// [`WeightStep::Bilateral`](super::WeightStep::Bilateral)), the mean of that and the same
/// evaluation of the right side, the network on the last channels of every layer
/// ([`Supernet::mirrored`]), as BCNet scores a width.
pub fn score(
    net: &Supernet,
    picks: &[usize],
    bilateral: bool,
    calibration: &dyn ImageData,
    batch_size: usize,
    test: &dyn ImageData,
) -> Result<Evaluation> {
    let left = score_side(net, picks, calibration, batch_size, test)?;
    if !bilateral {
        return Ok(left);
    }
    // Untracked weights: the mirror's flips record nothing.
    let mirror = net.clone().no_grad().mirrored();
    let right = score_side(&mirror, picks, calibration, batch_size, test)?;
    Ok(left.mean_with(&right))
}

fn score_side(
    net: &Supernet,
    picks: &[usize],
    calibration: &dyn ImageData,
    batch_size: usize,
    test: &dyn ImageData,
) -> Result<Evaluation> {
    let (arch, fixed) = net.inherit(picks, &net.one.device())?;
    // No gradients (no graph is recorded), BN still in training mode.
    let mut fixed = fixed.no_grad();
    let idx: Vec<usize> = (0..calibration.len()).collect();
    for (k, chunk) in idx.chunks(batch_size.max(1)).enumerate() {
        // Momentum 1 / (k + 1): after batch k the running statistics are the mean of the
        // k + 1 batches' statistics.
        fixed.set_bn_momentum(1.0 / (k + 1) as f64);
        let (x, _) = make_batch(calibration, chunk, None)?.to_tensors(&net.one.device());
        // Training-mode forward: updates the running statistics.
        let _ = fixed.forward(resample(x, arch.input_size));
    }
    evaluate(&fixed, test, batch_size, arch.input_size)
}
