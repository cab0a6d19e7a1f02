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

import jax  # noqa: E402

# A compiled program outlives its process in this folder, so a cold server (Community Cloud
# wakes one after every sleep) loads the default views' programs instead of compiling them.
# BNJAX_COMPILATION_CACHE=0 turns it off; any other value is the folder.
_cache = os.environ.get("BNJAX_COMPILATION_CACHE",
                        os.path.join(__import__("tempfile").gettempdir(), "bnjax-xla-cache"))
if _cache != "0":
    jax.config.update("jax_compilation_cache_dir", _cache)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.2)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)

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
