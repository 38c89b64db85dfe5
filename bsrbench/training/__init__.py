"""Training plumbing shared by the ``bsrbench train`` commands of the method plugins.

Everything a plugin's training needs except the model-specific step lives here:

* :func:`load_hr_images` reads a folder of HR images once, straight to the training
  device, as uint8 tensors;
* :class:`PairSampler` makes (LR, HR, kernel) batches *on that device*: random crops with
  flips and transposes, random Gaussian kernels sampled as one batch, a per-item blur, the
  chosen downsampler and 8-bit quantisation, exactly as the test sets are made;
* :func:`run_training` is the loop: resumable atomic checkpoints, a wall-clock cap, a CSV
  log, periodic validation, a tqdm bar on a terminal or plain ``logging`` lines otherwise,
  a clean stop on Ctrl-C, and the final export of weights and ``train_summary.json``.

The modules: :mod:`~bsrbench.training.degradation` (kernels, blur, downsampling),
:mod:`~bsrbench.training.data` (images, sampler, validation pairs),
:mod:`~bsrbench.training.settings` (a command's typed, frozen :class:`TrainSettings`,
the resolved :class:`TrainDevice`, the :class:`Invocation`),
:mod:`~bsrbench.training.stage` (schedules, device, :class:`StageBase`),
:mod:`~bsrbench.training.checkpoint`, :mod:`~bsrbench.training.loop` and
:mod:`~bsrbench.training.command` (running a train command: settings, data, loop).
Import from this package.
"""

from __future__ import annotations

from bsrbench.training.checkpoint import load_checkpoint, save_checkpoint
from bsrbench.training.command import (
    command_line,
    common_option,
    common_options,
    run_command,
    train_stage,
    training_pairs,
)
from bsrbench.training.data import (
    PairSampler,
    dihedral,
    load_hr_images,
    split_validation,
    validation_pairs,
)
from bsrbench.training.degradation import (
    PairBatch,
    blur_batch,
    make_pairs,
    random_kernels,
    to_device,
)
from bsrbench.training.loop import (
    CHECKPOINT_NAME,
    LOG_NAME,
    SUMMARY_NAME,
    LoopConfig,
    LoopResult,
    TrainTask,
    run_training,
)
from bsrbench.training.settings import Invocation, TrainDevice, TrainSettings
from bsrbench.training.stage import StageBase, autocast, lr_lambda, setup_device

__all__ = [
    "CHECKPOINT_NAME",
    "LOG_NAME",
    "SUMMARY_NAME",
    "Invocation",
    "LoopConfig",
    "LoopResult",
    "PairBatch",
    "PairSampler",
    "StageBase",
    "TrainDevice",
    "TrainSettings",
    "TrainTask",
    "autocast",
    "blur_batch",
    "command_line",
    "common_option",
    "common_options",
    "dihedral",
    "load_checkpoint",
    "load_hr_images",
    "lr_lambda",
    "make_pairs",
    "random_kernels",
    "run_command",
    "run_training",
    "save_checkpoint",
    "setup_device",
    "split_validation",
    "to_device",
    "train_stage",
    "training_pairs",
    "validation_pairs",
]
