"""What XLA reaches on this CPU for bare matrix products of the reference net's sizes, on one
device: the ceiling the training step (matrix products plus batch norm, loss and optimizer)
works under.

    python bench/matmul_peak.py

Prints GFLOP/s of a `lax.scan` of 2000 iterations of tanh(x @ W1) @ W2 with x (64, k) and
W1 (k, n): the reference MLP's hidden layers are (64, 100) @ (100, 100).
"""
import os
import time

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=1")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

STEPS = 2000


def gflops(m: int, k: int, n: int) -> float:
    x = jnp.ones((m, k), jnp.float32)
    w1, w2 = jnp.full((k, n), 0.01, jnp.float32), jnp.full((n, k), 0.01, jnp.float32)

    @jax.jit
    def chain(x):
        return jax.lax.scan(lambda c, _: (jnp.tanh(c @ w1) @ w2, None), x, None,
                            length=STEPS)[0]

    chain(x).block_until_ready()
    t0 = time.perf_counter()
    chain(x).block_until_ready()
    return 2 * 2 * m * k * n * STEPS / (time.perf_counter() - t0) / 1e9


if __name__ == "__main__":
    for shape in [(64, 100, 100), (64, 64, 64), (256, 256, 256)]:
        print(f"({shape[0]}, {shape[1]}) @ ({shape[1]}, {shape[2]}): {gflops(*shape):6.1f} GFLOP/s")
