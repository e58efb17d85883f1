"""The emulator's integer kernels against Lava's own bit-accurate models, bit for bit."""

import numpy as np
import pytest

from lmuneuro.backends.lava.compat import ensure_lava
from lmuneuro.loihi import dense_accumulate, lava_weights, lif_step


def test_dense_weight_rules_by_hand():
    assert lava_weights(np.array([[300, 7]])).tolist() == [[255, 7]]  # excitatory: 8-bit magnitude
    assert lava_weights(np.array([[-300, -7]])).tolist() == [[-255, -7]]  # inhibitory
    # mixed signs: clip to [-256, 255], then floor to even: an 8-bit signed mantissa times 2
    assert lava_weights(np.array([[127, -87, 300, -300, 1]])).tolist() == [[126, -88, 254, -256, 0]]
    s = np.array([[1, 1, 0, 0, 1]])
    w = lava_weights(np.array([[127, -87, 300, -300, 1]]))
    assert dense_accumulate(w, 3, s).tolist() == [[(126 - 88 + 0) * 8]]
    assert dense_accumulate(w, -3, s).tolist() == [[(126 - 88) >> 3]]  # floor: 38 >> 3 = 4
    assert dense_accumulate(np.array([[-5]]), -1, np.array([[1]])).tolist() == [
        [-3]
    ]  # floor, not truncation


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


@pytest.mark.parametrize("case", ["moderate", "overflow", "converted"])
def test_dense_and_lif_match_lava_bit_for_bit(case):
    """``lif_step`` (the ``LifStep`` the emulator runs) after ``dense_accumulate`` against Lava's
    Dense and LIF, u, v and spikes at every step."""
    rng = np.random.default_rng(7)
    n_in, n_out, steps = 12, 16, 40
    spikes_in = (rng.random((n_in, steps)) < 0.4).astype(np.int64)
    if case == "moderate":  # mixed-sign weights, odd values, leaky u and v, biases with exponents
        weights = rng.integers(-140, 140, (n_out, n_in))
        weight_exp, du, dv, vth = -1, 1200, 300, 900
        bias_mant, bias_exp = rng.integers(-4000, 4000, n_out), rng.integers(0, 4, n_out)
    elif case == "converted":  # convert's decays: u holds one step's input, v halves (a shift)
        weights = rng.integers(-140, 140, (n_out, n_in))
        weight_exp, du, dv, vth = 0, 4095, 2048, 150
        bias_mant, bias_exp = rng.integers(-4000, 4000, n_out), rng.integers(0, 4, n_out)
    else:  # excitatory, large exponent: u wraps at 24 bits and v saturates
        weights = rng.integers(150, 256, (n_out, n_in))
        weight_exp, du, dv, vth = 6, 0, 0, 131071
        bias_mant, bias_exp = np.zeros(n_out, dtype=int), np.zeros(n_out, dtype=int)
    got = _lava_run(
        spikes_in,
        weights,
        weight_exp,
        dict(du=du, dv=dv, vth=vth, bias_mant=bias_mant, bias_exp=bias_exp),
        steps,
    )

    w = lava_weights(weights)
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


@pytest.mark.parametrize("graded", [False, True])
def test_every_synapse_process_matches_lava_bit_for_bit(graded):
    """Lava's Dense, DelayDense, Sparse and DelaySparse on one source (binary spikes, or graded
    16-bit payloads as the input layer's), with floors from negative exponents: their a_out at
    every step equals the emulator's ``_deliver`` of the artifact entry."""
    ensure_lava()
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc.io.source import RingBuffer
    from lava.proc.monitor.process import Monitor

    from lmuneuro.artifact import Synapse
    from lmuneuro.backends.emulator import _deliver
    from lmuneuro.backends.lava.network import create_synapse

    rng = np.random.default_rng(11)
    n_in, n_out, steps = 7, 5, 20
    data = (
        rng.integers(-(2**15), 2**15, (n_in, steps)) if graded else rng.random((n_in, steps)) < 0.5
    ).astype(np.int32)
    mixed = lava_weights(rng.integers(-256, 256, (n_out, n_in)))
    sparse = mixed * (rng.random((n_out, n_in)) < 0.5)
    entries = [
        Synapse("s", "p", mixed, -3),
        Synapse("s", "p", mixed, -5, delay=4),
        Synapse("s", "p", sparse, -7, sparse=True),
        Synapse("s", "p", lava_weights(np.abs(sparse)), 2, delay=3, sparse=True),
    ]
    src = RingBuffer(data=data)
    procs, mons = [], []
    for e in entries:
        proc = create_synapse(e, 16 if graded else 0)
        src.s_out.connect(proc.s_in)
        mons.append(Monitor())
        mons[-1].probe(proc.a_out, steps)
        procs.append(proc)
    try:
        src.run(condition=RunSteps(num_steps=steps), run_cfg=Loihi2SimCfg(select_tag="fixed_pt"))
        got = [m.get_data()[p.name]["a_out"].astype(np.int64) for m, p in zip(mons, procs)]
    finally:
        src.stop()
    assert [type(p).__name__ for p in procs] == ["Dense", "DelayDense", "Sparse", "DelaySparse"]
    signal = data.T[:, None, :].astype(np.float64)  # (steps, batch 1, n_in)
    for e, lava in zip(entries, got):
        mine = _deliver(e, signal)[:, 0]
        assert np.array_equal(mine, lava), (
            f"{e.lava_class} differs first at step {np.argwhere(mine != lava)[0]}"
        )
        assert np.abs(lava).max() > 0 and (lava != 0).sum() > steps // 2


@pytest.mark.parametrize("bits", [2, 5, 8])
@pytest.mark.parametrize("signs", ["mixed", "excitatory", "inhibitory", "zero"])
def test_sign_mode_matches_lava_bit_for_bit(bits, signs):
    """``lava_weights`` (``loihi.SignMode``) against ``lava.utils.weightutils`` on random integer
    matrices of every sign pattern, beyond the range on both sides; the quantiser's weights (the
    nearest in the same mode) are values Lava keeps as they are."""
    ensure_lava()
    from lava.utils.weightutils import clip_weights, determine_sign_mode, truncate_weights

    from lmuneuro.fixedpoint import quantize_weights
    from lmuneuro.formats import Formats

    fmt = Formats(weight_bits=bits)
    rng = np.random.default_rng(bits)
    top = 2 ** (bits + 1)
    low, high = {"mixed": (-top, top), "excitatory": (0, top), "inhibitory": (-top, 1)}.get(
        signs, (0, 1)
    )
    for _ in range(20):
        w = rng.integers(low, high, (9, 13))
        if signs == "mixed":
            w[0, :2] = -1, 1  # both signs present
        mode = determine_sign_mode(w)
        want = truncate_weights(clip_weights(w, mode, bits), mode, bits, bits)
        got = lava_weights(w, fmt)
        assert np.array_equal(got, want), (w, got, want)
        assert mode.name.lower() == ("excitatory" if signs == "zero" else signs)
        q = quantize_weights(w * rng.random(w.shape) * 2.0**-3, fmt)
        assert np.array_equal(lava_weights(q.w_mant, fmt), q.w_mant)
    clipped = np.abs(want) < np.abs(w)
    assert clipped.any() == (signs != "zero")  # the range was exercised
