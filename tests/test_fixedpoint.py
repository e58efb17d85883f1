"""Float -> fixed conversions against hand-worked examples."""

import numpy as np
import pytest

from lmuneuro.fixedpoint import (
    decays,
    input_format,
    input_limit,
    population_scale,
    quantize_bias,
    quantize_input,
    quantize_weights,
    split_rows,
    split_weights,
)
from lmuneuro.formats import LAVA, Formats
from lmuneuro.loihi import lava_weights
from lmuneuro.profiles import load_profile


def test_threshold_scale_turns_ge_into_gt():
    # v_th = 1.0, vth_mant = 1024: S = 65537. h = 1.0 exactly -> v = 65537 > 1024 << 6 = 65536:
    # spike,
    # as the reference's >=; h one state unit lower -> v = 65536: no spike.
    s = population_scale(1.0, 1024)
    assert s == 65537.0
    assert round(1.0 * s) > 1024 << 6 and not round(1.0 * s) - 1 > 1024 << 6
    assert population_scale(0.5, 1024) == 131074.0
    with pytest.raises(ValueError, match="outside Loihi's 17 bits"):
        population_scale(1.0, 2**17)


def test_decays():
    assert decays(2.0) == (4095, 2048)
    with pytest.raises(ValueError, match="outside Loihi's 12 bits"):
        decays(0.5)


def test_formats_come_from_the_profile():
    fmt = Formats.from_dict(load_profile("loihi2").precision)
    assert fmt == LAVA and (fmt.a_min, fmt.a_max, fmt.state_max, fmt.delay_max) == (
        -32768,
        32767,
        2**23,
        62,
    )
    assert (fmt.bias_mant_max, fmt.bias_exp_max, fmt.exp_range) == (4095, 7, (-8, 7))
    with pytest.raises(ValueError, match="lack delay_max"):
        Formats.from_dict({k: v for k, v in LAVA.to_dict().items() if k != "delay_max"})


def test_quantize_weights_by_hand():
    # one-signed: peak 1000 -> e = ceil(log2(1000 / 255)) = 2: 1000/4 = 250, 10/4 = 2.5 -> 2 (round
    # half even)
    q = quantize_weights(np.array([[1000.0, 10.0]]))
    assert q.weight_exp == 2 and q.w_mant.tolist() == [[250, 2]] and q.clipped == 0
    # mixed signs: even integers only (Lava drops the LSB); peak 100 -> e = ceil(log2(100/254)) = -1
    q = quantize_weights(np.array([[100.0, -3.0, 0.7]]))
    assert q.weight_exp == -1 and q.w_mant.tolist() == [[200, -6, 2]]
    assert np.array_equal(lava_weights(q.w_mant), q.w_mant)  # Lava keeps them as they are
    assert abs(q.rel_error - np.linalg.norm([0, 0, 0.3]) / np.linalg.norm([100, -3, 0.7])) < 1e-12
    # a single outlier just out of range: clipping it (error 1) beats halving the resolution of
    # fifty odd weights (error 1 each)
    c = np.concatenate([np.full(50, 3.0), [256.0]])[None, :]
    q = quantize_weights(c)
    assert q.weight_exp == 0 and q.clipped == 1 and q.w_mant[0, -1] == 255
    # one exponent per process: a row of small weights shares the large row's step (4): 3 -> 4, 1 ->
    # 0
    q = quantize_weights(np.array([[1000.0, 10.0], [3.0, 1.0]]))
    assert q.weight_exp == 2 and q.w_mant[1].tolist() == [1, 0]
    with pytest.raises(ValueError, match="need weight_exp 9, above the target's maximum 7"):
        quantize_weights(np.array([[1e5]]))


def test_split_weights_by_hand():
    # hi set as above: e = -1, [200, -6, 2] leaves [0, 0, -0.3]; that residual is one-signed
    # (negative mode, [-255, 0]) and its exponent ceil(log2(0.3 / 255)) = -10 is clamped to the
    # floor -8: -0.3 * 256 = -76.8 -> -77, leaving 0.3 - 77/256 = -0.00078125
    c = np.array([[100.0, -3.0, 0.7]])
    hi, lo = split_weights(c, sets=2)
    assert hi.w_mant.tolist() == [[200, -6, 2]] and lo.w_mant.tolist() == [[0, 0, -77]]
    assert lo.weight_exp == -8 and np.array_equal(lava_weights(lo.w_mant), lo.w_mant)
    assert (
        abs(hi.rel_error - 0.00078125 / np.linalg.norm(c)) < 1e-15 and hi.rel_error == lo.rel_error
    )
    # exact after one set: no second set; sets=1 is quantize_weights
    assert len(split_weights(np.array([[100.0, 4.0]]), sets=2)) == 1
    assert split_weights(c, sets=1)[0].rel_error == quantize_weights(c).rel_error
    # random weights: each set adds about 7 bits until the exponent floor
    w = np.random.default_rng(0).normal(0, 30, (16, 48))
    errs = [split_weights(w, sets=k)[0].rel_error for k in (1, 2)]
    assert errs[0] > 2e-3 and errs[1] < errs[0] / 60


def test_split_rows_by_exponent():
    # best exponents per row: ceil(log2(peak / 255)): 1000 -> 2, 900 -> 2, 3 -> -6, 1 -> -7, 0: no
    # synapses
    c = np.array([[1000.0], [900.0], [3.0], [1.0], [0.0]])
    assert [r.tolist() for r in split_rows(c, 1)] == [[0, 1, 2, 3, 4]]
    assert [r.tolist() for r in split_rows(c, 2)] == [
        [2, 3],
        [0, 1],
    ]  # cut at the widest gap (-6 .. 2)
    assert [r.tolist() for r in split_rows(c, 3)] == [[3], [2], [0, 1]]
    assert [r.tolist() for r in split_rows(c, 9)] == [
        [3],
        [2],
        [0, 1],
    ]  # never more than the levels


def test_bias_by_hand():
    # 13-bit mantissa (+-4095), exponent 0..7: 5000 -> exp 1, mant 2500; -4095 fits at exp 0;
    # 500,000 -> exp 7 (500000 / 128 = 3906.25 -> 3906); 1e6 would need exp 8
    mant, exp = quantize_bias(np.array([5000.0, -4095.0, 500_000.0, 0.4]))
    assert mant.tolist() == [2500, -4095, 3906, 0] and exp.tolist() == [1, 0, 7, 0]
    with pytest.raises(ValueError, match="exceeds the target's 13-bit mantissa << 7"):
        quantize_bias(np.array([1e6]))


def test_input_format():
    # |x| <= max_abs must fit: 1.0 * 2^15 = 32768 would not, so 1.0 gets 14 fraction bits
    assert (
        input_format(0.99, 16) == 15 and input_format(1.0, 16) == 14 and input_format(1.5, 8) == 6
    )
    assert (
        input_limit(1.0, 14) == 16384
        and input_limit(0.99, 15) == 32441
        and input_limit(1.0, 15) == 32767
    )
    q, clipped = quantize_input(np.array([0.5, -1.0, 1.0, 3.0, -1.01]), 14, input_limit(1.0, 14))
    assert q.tolist() == [8192, -16384, 16384, 16384, -16384] and clipped == 2


def test_quantize_input_on_a_tensor_is_the_same():
    """The emulator quantises on its device: a torch tensor gives the NumPy path's integers, ties
    to even included, in float32 and float64 alike."""
    import torch

    rng = np.random.default_rng(5)
    ties = np.array([0.5, 1.5, -2.5, 3.5]) / 2**6  # exactly half a step at 6 fractional bits
    for dtype in (np.float32, np.float64):
        x = np.concatenate([rng.normal(0, 300, 10_000) / 2**6, ties]).astype(dtype)
        q, clipped = quantize_input(x, 6, 800)
        t, t_clipped = quantize_input(torch.from_numpy(x), 6, 800)
        assert t.dtype == torch.int32 and np.array_equal(t.numpy(), q) and t_clipped == clipped > 0
        assert q[-4:].tolist() == [0, 2, -2, 4]
