"""Writes the sktime MiniRocket parity fixtures used by crates/recur-nn/tests/minirocket_parity.rs.

sktime's MiniRocketMultivariateVariable transform (the functions `_fit_multi_var` and
`_transform_multi_var` of sktime's `_minirocket_multi_var_numba.py`) is fitted on a small seeded
random multivariate data set of variable length and applied to the same data. Each fixture,
crates/recur-nn/tests/fixtures_minirocket/<name>.safetensors, holds (every tensor float64,
integers included, so the Rust side reads them all one way):

    x                             [batch, time, channels]  the sequences, zeros after each end
    lengths                       [batch]                  each sequence's steps (as recur sees them)
    reference_length              [1]                      the length the dilations are spread over
    num_features                  [1]                      the features asked of `_fit_multi_var`
    max_dilations_per_kernel      [1]
    num_channels_per_combination  [combinations]           sktime's fitted parameters, as returned
    channel_indices               [sum of the above]
    dilations                     [dilations]
    num_features_per_dilation     [dilations]
    biases                        [features]
    features                      [batch, features]        sktime's transform of x

`minirocket.safetensors` has standard normal values (float32) and only sequences of 9 steps or
more. sktime sums in float32, so a convolution value that equals a bias (a bias is a quantile
of a training sequence's convolution, exactly one of its values where two are equal) may land
on the other side in recur's float64: the test allows that, and only that.

`minirocket_grid.safetensors` has values on a grid of 1/64 (at most 8 bits each), so every
sum in sktime's float32 and recur's float64 is exact and every feature must agree exactly. It
also has sequences shorter than 9 steps: `lengths` gives their true length, and sktime sees them
padded with zeros up to 9 steps (what MiniRocketMultivariateVariable does with
`pad_value_short_series=0`), which is what recur's layer does by itself.

    python -m venv venv && venv/bin/pip install "sktime==1.*" numba numpy safetensors
    venv/bin/python tools/make_minirocket_fixture.py
"""
import pathlib

import numpy as np
from safetensors.numpy import save_file

try:  # sktime 1.x
    from sktime.transformations.rocket._minirocket_multi_var_numba import (
        _fit_multi_var,
        _transform_multi_var,
    )
except ImportError:  # sktime 0.x
    from sktime.transformations.panel.rocket._minirocket_multi_var_numba import (
        _fit_multi_var,
        _transform_multi_var,
    )

OUT = pathlib.Path(__file__).resolve().parent.parent / "crates/recur-nn/tests/fixtures_minirocket"
MIN_STEPS = 9


def write_fixture(name, lengths, channels, num_features, seed, grid=None):
    rng = np.random.default_rng(seed)
    lengths = np.array(lengths, dtype=np.int64)
    batch, time = len(lengths), int(lengths.max())
    x = np.zeros((batch, time, channels), dtype=np.float32)
    for b, n in enumerate(lengths):
        values = rng.standard_normal((n, channels))
        if grid is not None:
            values = np.clip(np.round(values * grid), -127, 127) / grid
        x[b, :n] = values.astype(np.float32)

    # sktime's layout: channels × the sequences laid end to end, each at least 9 steps
    # (shorter ones padded with zeros, as MiniRocketMultivariateVariable does).
    seen = np.maximum(lengths, MIN_STEPS)
    x_2d_t = np.zeros((channels, int(seen.sum())), dtype=np.float32)
    start = 0
    for b, n in enumerate(lengths):
        x_2d_t[:, start : start + n] = x[b, :n].T
        start += int(seen[b])
    L = seen.astype(np.int32)

    reference_length = int(max(MIN_STEPS, lengths.max()))
    max_dilations = 32
    parameters = _fit_multi_var(
        x_2d_t,
        L,
        reference_length=reference_length,
        num_features=num_features,
        max_dilations_per_kernel=max_dilations,
        seed=seed,
    )
    features = _transform_multi_var(x_2d_t, L, parameters)
    names = [
        "num_channels_per_combination",
        "channel_indices",
        "dilations",
        "num_features_per_dilation",
        "biases",
    ]
    tensors = {n: np.asarray(p, dtype=np.float64) for n, p in zip(names, parameters)}
    tensors.update(
        x=x.astype(np.float64),
        lengths=lengths.astype(np.float64),
        reference_length=np.array([reference_length], dtype=np.float64),
        num_features=np.array([num_features], dtype=np.float64),
        max_dilations_per_kernel=np.array([max_dilations], dtype=np.float64),
        features=np.asarray(features, dtype=np.float64),
    )
    OUT.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(OUT / f"{name}.safetensors"))
    print(
        f"{name}: lengths {lengths.tolist()}, dilations {parameters[2].tolist()}, "
        f"features per dilation {parameters[3].tolist()}, features {features.shape}"
    )


if __name__ == "__main__":
    write_fixture("minirocket", [60, 9, 33, 17, 48, 25], channels=3, num_features=840, seed=7)
    write_fixture("minirocket_grid", [30, 5, 12, 3, 9, 21], channels=4, num_features=420, seed=11, grid=64)
