"""bnjax: batch norm, trained live in JAX, to answer "why does batch norm work?".

The core (`nn`, `train`, `data`) is pure functions over NamedTuple pytrees. `experiments` (one
module per dashboard page) and `charts` are imported on their own, so `import bnjax` loads no
pandas, altair or streamlit. Importing changes no process state: whoever owns the process calls
`bnjax.runtime.configure()` (CPU devices, compilation cache) before the first computation.
"""
import importlib

# Each public name and the module it lives in. They load on first use (PEP 562), so that
# `import bnjax.runtime` (every page's frame calls `configure`) does not wait for JAX to load.
_EXPORTS = {
    "bnjax.data": ("Dataset", "batch_indices", "load_digits"),
    "bnjax.nn": ("BatchNormParams", "BatchNormState", "DenseParams", "HiddenParams",
                 "MLPParams", "MLPSpec", "Trace", "batchnorm_apply", "batchnorm_init",
                 "dense_apply", "dense_init", "mlp_apply", "mlp_init", "normalize",
                 "population_state"),
    "bnjax.train": ("OPTIMIZERS", "Carry", "Hparams", "Runs", "TrainConfig", "evaluate",
                    "evaluate_runs", "hparams", "loss_fn", "optimizer", "train_chunk",
                    "train_chunk_runs", "train_runs", "train_step"),
}
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}


def __getattr__(name: str):
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'bnjax' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # the next look-up is an ordinary attribute
    return value


def __dir__():
    return sorted(set(globals()) | set(_WHERE))


__all__ = [name for names in _EXPORTS.values() for name in names]
