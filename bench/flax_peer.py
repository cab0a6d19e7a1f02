"""The Flax NNX peer: the reference workload in the idiom of the Flax NNX tutorials.

An `nnx.Module` of `nnx.Linear` / `nnx.BatchNorm`, an `nnx.Optimizer` over optax's SGD with
momentum 0.9, and a `@nnx.jit` train step called once per step from a Python loop, with each
mini-batch gathered on the host as a data loader would hand it over. The model mirrors bnjax's:
no linear bias under BN, BN decay 0.9 (Flax's `momentum` is the weight on the old value, as
bnjax's `decay`), eps 1e-5, He-normal (not truncated) weights times a gain, the output layer with
c = 1 and no gain. Imports only jax, flax, optax and numpy.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx


class MLP(nnx.Module):
    def __init__(self, bn: bool, gain: float, rngs: nnx.Rngs, depth: int = 4, width: int = 100):
        he = nnx.initializers.variance_scaling(2.0 * gain ** 2, "fan_in", "normal")
        layers, fan_in = [], 64
        for _ in range(depth):
            layers.append(nnx.Linear(fan_in, width, use_bias=not bn, kernel_init=he, rngs=rngs))
            if bn:
                layers.append(nnx.BatchNorm(width, momentum=0.9, epsilon=1e-5, rngs=rngs))
            layers.append(nnx.relu)
            fan_in = width
        out_init = nnx.initializers.variance_scaling(1.0, "fan_in", "normal")
        layers.append(nnx.Linear(fan_in, 10, kernel_init=out_init, rngs=rngs))
        self.net = nnx.Sequential(*layers)

    def __call__(self, x):
        return self.net(x)


@nnx.jit
def train_step(model: MLP, optimizer: nnx.Optimizer, x, y):
    def loss_fn(model):
        logits = model(x)
        return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

    loss, grads = nnx.value_and_grad(loss_fn)(model)
    optimizer.update(model, grads)
    return loss


@nnx.jit
def accuracy(model: MLP, x, y):
    return (model(x).argmax(-1) == y).mean()


def load_weights(model: MLP, weights: dict, gain: float = 1.0):
    """Copy bnjax's initial weights (w of shape (fan_in, fan_out), as Flax's kernels) into `model`."""
    linears = [m for m in model.net.layers if isinstance(m, nnx.Linear)]
    pairs = [(w * gain, b) for w, b in weights["hidden"]] + [tuple(weights["out"])]
    for linear, (w, b) in zip(linears, pairs, strict=True):
        linear.kernel.value = jnp.asarray(w, jnp.float32)
        if b is not None:
            linear.bias.value = jnp.asarray(b, jnp.float32)


class Trainer:
    """One contender in bench/run.py: `init`, then `train` (timed), then `test_acc`."""

    def __init__(self, data: dict, bn: bool):
        self.bn = bn
        self.x, self.y = np.asarray(data["x_train"]), np.asarray(data["y_train"])
        self.x_test, self.y_test = np.asarray(data["x_test"]), np.asarray(data["y_test"])

    def init(self, weights=None, gain: float = 1.0, lr: float = 0.1, seed: int = 0):
        """A fresh model and optimizer; `weights` as in `torch_peer.Trainer.init`."""
        model = MLP(self.bn, gain, nnx.Rngs(seed))
        if weights is not None:
            load_weights(model, weights, gain)
        optimizer = nnx.Optimizer(model, optax.sgd(lr, momentum=0.9), wrt=nnx.Param)
        jax.block_until_ready((nnx.state(model), nnx.state(optimizer)))
        return model, optimizer

    def train(self, state, idx: np.ndarray):
        """The tutorial loop: one jitted step per batch; returns (state, per-step batch losses)."""
        model, optimizer = state
        model.train()
        losses = [train_step(model, optimizer, self.x[i], self.y[i]) for i in idx]
        return state, np.asarray(losses)

    def test_acc(self, state) -> float:
        model, _ = state
        model.eval()
        return float(accuracy(model, self.x_test, self.y_test))
