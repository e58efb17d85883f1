"""The emulator's integer kernels against Lava's own bit-accurate models, bit for bit."""

import math
from fractions import Fraction

import numpy as np
import pytest

from lmuneuro.emulator import dense_accumulate, lava_dense_weights, lif_step
from lmuneuro.lava.compat import ensure_lava


def test_dense_weight_rules_by_hand():
    assert lava_dense_weights(np.array([[300, 7]])).tolist() == [[255, 7]]  # excitatory: 8-bit magnitude
    assert lava_dense_weights(np.array([[-300, -7]])).tolist() == [[-255, -7]]  # inhibitory
    # mixed signs: clip to [-256, 255], then floor to even: an 8-bit signed mantissa times 2
    assert lava_dense_weights(np.array([[127, -87, 300, -300, 1]])).tolist() == [[126, -88, 254, -256, 0]]
    s = np.array([[1, 1, 0, 0, 1]])
    w = lava_dense_weights(np.array([[127, -87, 300, -300, 1]]))
    assert dense_accumulate(w, 3, s).tolist() == [[(126 - 88 + 0) * 8]]
    assert dense_accumulate(w, -3, s).tolist() == [[(126 - 88) >> 3]]  # floor: 38 >> 3 = 4
    assert dense_accumulate(np.array([[-5]]), -1, np.array([[1]])).tolist() == [[-3]]  # floor, not truncation


def _lava_run(src_data, weights, weight_exp, lif_kwargs, steps):
    ensure_lava()
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc.dense.process import Dense
    from lava.proc.io.source import RingBuffer
    from lava.proc.lif.process import LIF
    from lava.proc.monitor.process import Monitor

    src = RingBuffer(data=src_data)
    dense = Dense(weights=weights, weight_exp=weight_exp)
    lif = LIF(shape=(weights.shape[0],), **lif_kwargs)
    src.s_out.connect(dense.s_in)
    dense.a_out.connect(lif.a_in)
    mons = {}
    for name in ("u", "v", "s_out"):
        mons[name] = Monitor()
        mons[name].probe(getattr(lif, name), steps)
    try:
        lif.run(condition=RunSteps(num_steps=steps), run_cfg=Loihi2SimCfg(select_tag="fixed_pt"))
        return {n: m.get_data()[lif.name][n].astype(np.int64) for n, m in mons.items()}
    finally:
        lif.stop()


@pytest.mark.parametrize("case", ["moderate", "overflow"])
def test_dense_and_lif_match_lava_bit_for_bit(case):
    rng = np.random.default_rng(7)
    n_in, n_out, steps = 12, 16, 40
    spikes_in = (rng.random((n_in, steps)) < 0.4).astype(np.int64)
    if case == "moderate":  # mixed-sign weights, odd values, leaky u and v, biases with exponents
        weights = rng.integers(-140, 140, (n_out, n_in))
        weight_exp, du, dv, vth = -1, 1200, 300, 900
        bias_mant, bias_exp = rng.integers(-4000, 4000, n_out), rng.integers(0, 4, n_out)
    else:  # excitatory, large exponent: u wraps at 24 bits and v saturates
        weights = rng.integers(150, 256, (n_out, n_in))
        weight_exp, du, dv, vth = 6, 0, 0, 131071
        bias_mant, bias_exp = np.zeros(n_out, dtype=int), np.zeros(n_out, dtype=int)
    got = _lava_run(spikes_in, weights, weight_exp,
                    dict(du=du, dv=dv, vth=vth, bias_mant=bias_mant, bias_exp=bias_exp), steps)

    w = lava_dense_weights(weights)
    bias = bias_mant << bias_exp
    u = v = np.zeros((1, n_out), dtype=np.int64)
    a_prev = np.zeros((1, n_out), dtype=np.int64)
    for t in range(steps):  # Dense delivers step t's accumulation at step t + 1
        s, u, v = lif_step(u, v, a_prev, du, dv, bias, vth)
        a_prev = dense_accumulate(w, weight_exp, spikes_in[:, t][None, :])
        for name, mine in (("u", u), ("v", v), ("s_out", s.astype(np.int64))):
            assert np.array_equal(mine[0], got[name][t]), f"{name} differs first at step {t}"
    if case == "overflow":
        assert np.abs(got["u"]).max() > 2**22 and (got["u"] < 0).any()  # wrapped around
    else:
        assert 0 < got["s_out"].mean() < 1


def _reference_group_input(groups, signals, total):
    """Integer arithmetic, step by step: the entries with one source and the same delays are one
    group, delivering floor(sum_j 2^e_j sum_k (W_jk s[t-1-d_k])_n) with Python's exact integers."""
    by_taps = {}
    for g in groups:
        by_taps.setdefault((g.src, tuple(g.delays)), []).append(g)
    out = 0
    for (src, delays), sets in by_taps.items():
        sig = signals[src].astype(np.int64)  # (total, batch, n_src)
        acc = [np.zeros((total, sig.shape[1], g.w_int.shape[1]), object) for g in sets]
        for t in range(total):
            for g, a in zip(sets, acc):
                for w, d in zip(g.w_int.astype(np.int64), delays):
                    if t - 1 - d >= 0:
                        a[t] += sig[t - 1 - d] @ w.T
        exact = sum(a * np.array([Fraction(2) ** int(e) for e in g.weight_exp], object) for g, a in zip(sets, acc))
        out = out + np.vectorize(math.floor)(exact).astype(np.int64)
    return out


def test_population_input_matches_integer_arithmetic():
    """The emulator's whole-run matrix products (split sets folded, float32 in row ranges or float64)
    equal step-by-step exact arithmetic, for binary and graded sources."""
    from lmuneuro.artifact import INPUT, FixedPopulation, FixedSynapses
    from lmuneuro.emulator import _synaptic_input

    rng = np.random.default_rng(3)
    total, batch, n = 12, 3, 5
    signals = {INPUT: rng.integers(-2**15, 2**15, (total, batch, 4)).astype(np.float64),
               "s": (rng.random((total, batch, 6)) < 0.4).astype(np.float32)}

    def group(src, n_src, exps, taps=3):
        w = 2 * rng.integers(-128, 128, (taps, n, n_src))
        return FixedSynapses(src, w.astype(np.int16), np.array(exps), np.array([0, 2, 5][:taps]))

    groups = [group("s", 6, [3, 0, 2, 1, 0]), group("s", 6, [-4, -7, -5, -6, -7]),  # a split weight
              group(INPUT, 4, [-8, -6, -8, -7, -8]), group(INPUT, 4, [-8, -8, -8, -8, -8]),  # graded: float64
              group("s", 6, [-1, -2, -3, -1, -2], taps=2), group("s", 6, [-5, -6, -7, -5, -6], taps=2),
              group("s", 6, [1, 1, 1, 1, 1], taps=1)]
    pop = FixedPopulation("p", n, 4095, 2048, 100, 1, 1.0, groups)
    got = _synaptic_input(pop, signals)
    assert np.array_equal(got, _reference_group_input(groups, signals, total))
