"""The PyTorch peer: the reference workload written the way a PyTorch user writes it.

An `nn.Sequential` MLP (Linear -> BatchNorm1d -> ReLU, or Linear -> ReLU), He-normal init times
a gain, `torch.optim.SGD(momentum=0.9)`, and the eager loop `zero_grad / backward / step` on one
thread. It mirrors bnjax's model exactly: no linear bias under BN, BN decay 0.9 (PyTorch's
`momentum=0.1` is the weight on the *new* value), eps 1e-5, the output layer He-normal with c = 1
and no gain, the same pre-sampled batch indices. Imports only torch and numpy.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

torch.set_num_threads(1)  # 1 thread is faster than 2 for matrices this small (DESIGN.md)


def make_model(bn: bool, gain: float = 1.0, *, depth: int = 4, width: int = 100, seed: int = 0):
    """MLP 64-(width x depth)-10 with BN before the ReLU, He-normal weights times `gain`."""
    torch.manual_seed(seed)
    layers, fan_in = [], 64
    for _ in range(depth):
        linear = nn.Linear(fan_in, width, bias=not bn)
        nn.init.normal_(linear.weight, 0.0, gain * math.sqrt(2.0 / fan_in))
        if not bn:
            nn.init.zeros_(linear.bias)
        layers += [linear, nn.BatchNorm1d(width, eps=1e-5, momentum=0.1)] if bn else [linear]
        layers.append(nn.ReLU())
        fan_in = width
    out = nn.Linear(fan_in, 10)
    nn.init.normal_(out.weight, 0.0, math.sqrt(1.0 / fan_in))
    nn.init.zeros_(out.bias)
    return nn.Sequential(*layers, out)


def load_weights(model: nn.Sequential, weights: dict, gain: float = 1.0):
    """Copy bnjax's initial weights into `model` (PyTorch stores w transposed, (fan_out, fan_in))."""
    linears = [m for m in model if isinstance(m, nn.Linear)]
    pairs = [(w * gain, b) for w, b in weights["hidden"]] + [tuple(weights["out"])]
    with torch.no_grad():
        for linear, (w, b) in zip(linears, pairs, strict=True):
            linear.weight.copy_(torch.from_numpy(np.array(w, np.float32).T))
            if b is not None:
                linear.bias.copy_(torch.from_numpy(np.array(b, np.float32)))


class Trainer:
    """One contender in bench/run.py: `init`, then `train` (timed), then `test_acc`."""

    def __init__(self, data: dict, bn: bool):
        self.bn = bn
        self.x = torch.from_numpy(np.array(data["x_train"]))  # a writable copy
        self.y = torch.from_numpy(np.asarray(data["y_train"]).astype(np.int64))
        self.x_test = torch.from_numpy(np.array(data["x_test"]))
        self.y_test = torch.from_numpy(np.asarray(data["y_test"]).astype(np.int64))

    def init(self, weights=None, gain: float = 1.0, lr: float = 0.1, seed: int = 0):
        """A fresh model and optimizer. `weights` (bnjax's initial weights at gain 1, as numpy,
        `{"hidden": [(w, b or None)], "out": (w, b)}`, w of shape (fan_in, fan_out)) makes every
        contender start from the same point; the hidden weights are then scaled by `gain`."""
        model = make_model(self.bn, gain, seed=seed)
        if weights is not None:
            load_weights(model, weights, gain)
        opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
        return model, opt

    def train(self, state, idx: np.ndarray):
        """The idiomatic loop over pre-sampled batches; returns (state, per-step batch losses)."""
        model, opt = state
        idx = torch.from_numpy(np.asarray(idx).astype(np.int64))
        model.train()
        losses = []
        for i in idx:
            xb, yb = self.x[i], self.y[i]
            loss = nn.functional.cross_entropy(model(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.detach())
        return state, torch.stack(losses).numpy()

    def test_acc(self, state) -> float:
        """Eval mode (running statistics), as PyTorch users evaluate."""
        model, _ = state
        model.eval()
        with torch.inference_mode():
            return float((model(self.x_test).argmax(-1) == self.y_test).float().mean())


_GRID: dict = {}  # per process: the data and batch indices every landscape cell shares


def landscape_init(data: dict, idx: np.ndarray, weights: dict):
    """Process-pool initializer: one thread, the shared data and batch indices, trainers built once."""
    torch.set_num_threads(1)
    _GRID.update(idx=idx, weights=weights, trainers={bn: Trainer(data, bn) for bn in (True, False)})


def landscape_cell(cell):
    """Train one landscape network, `cell = (bn, lr, gain)`, for the shared batch indices; returns
    its test accuracy, NaN once its loss went non-finite. Module level so that a pool can run it."""
    bn, lr, gain = cell
    trainer = _GRID["trainers"][bn]
    state = trainer.init(_GRID["weights"][bn], gain, lr)
    state, loss = trainer.train(state, _GRID["idx"])
    return trainer.test_acc(state) if np.isfinite(loss[-1]) else float("nan")
