"""bnjax: batch norm, trained live in JAX, to answer "why does batch norm work?".

The core (`nn`, `train`, `data`) is pure functions over NamedTuple pytrees. `experiments` (one
module per dashboard page) and `charts` are imported on their own, so `import bnjax` loads no
pandas, altair or streamlit.
"""
import os

# Two XLA CPU devices let grids of runs use both cores; the flag must be set before jax loads.
if "jax" not in __import__("sys").modules and os.environ.get("BNJAX_DEVICES", "2") != "1":
    _flag = f"--xla_force_host_platform_device_count={os.environ.get('BNJAX_DEVICES', '2')}"
    if "xla_force_host_platform_device_count" not in os.environ.get("XLA_FLAGS", ""):
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " " + _flag).strip()

from bnjax.data import Dataset, batch_indices, load_digits  # noqa: E402
from bnjax.nn import (BatchNormParams, BatchNormState, DenseParams, HiddenParams,  # noqa: E402
                      MLPParams, MLPSpec, Trace, batchnorm_apply, batchnorm_init, dense_apply,
                      dense_init, mlp_apply, mlp_init, population_state)
from bnjax.train import (OPTIMIZERS, Carry, Hparams, Runs, TrainConfig, evaluate,  # noqa: E402
                         evaluate_runs, hparams, loss_fn, optimizer, train_chunk,
                         train_chunk_runs, train_runs, train_step)

__all__ = [
    "Dataset", "batch_indices", "load_digits",
    "BatchNormParams", "BatchNormState", "DenseParams", "HiddenParams", "MLPParams", "MLPSpec",
    "Trace", "batchnorm_apply", "batchnorm_init", "dense_apply", "dense_init", "mlp_apply",
    "mlp_init", "population_state",
    "OPTIMIZERS", "Carry", "Hparams", "Runs", "TrainConfig", "evaluate", "evaluate_runs",
    "hparams", "loss_fn", "optimizer", "train_chunk", "train_chunk_runs", "train_runs",
    "train_step",
]
