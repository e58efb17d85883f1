"""Float -> fixed conversions against hand-worked examples."""

import numpy as np
import pytest
import torch

from lmuneuro.emulator import lava_dense_weights
from lmuneuro.fixedpoint import (decays, input_format, memory_impulse_errors, population_scale, quantize_input,
                                 quantize_weights, split_weights)


def test_threshold_scale_turns_ge_into_gt():
    # v_th = 1.0, vth_mant = 1024: S = 65537. h = 1.0 exactly -> v = 65537 > 1024 << 6 = 65536: spike,
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


def test_quantize_weights_by_hand():
    # one-signed: peak 1000 -> e = ceil(log2(1000 / 255)) = 2: 1000/4 = 250, 10/4 = 2.5 -> 2 (round half even)
    q = quantize_weights(np.array([[[1000.0, 10.0]]]))
    assert q.weight_exp.tolist() == [2] and q.w_int.tolist() == [[[250, 2]]] and q.clipped == 0
    # mixed signs: even integers only (Lava drops the LSB); peak 100 -> e = ceil(log2(100/254)) = -1
    q = quantize_weights(np.array([[[100.0, -3.0, 0.7]]]))
    assert q.weight_exp.tolist() == [-1] and q.w_int.tolist() == [[[200, -6, 2]]]
    assert np.array_equal(lava_dense_weights(q.w_int), q.w_int)  # Lava keeps them as they are
    assert abs(q.rel_error - np.linalg.norm([0, 0, 0.3]) / np.linalg.norm([100, -3, 0.7])) < 1e-12
    # a single outlier just out of range: clipping it (error 1) beats halving the resolution of
    # fifty odd weights (error 1 each)
    c = np.concatenate([np.full(50, 3.0), [256.0]])[None, None, :]
    q = quantize_weights(c)
    assert q.weight_exp.tolist() == [0] and q.clipped == 1 and q.w_int[0, 0, -1] == 255
    # one exponent per target neuron: a row of small weights keeps its resolution
    q = quantize_weights(np.array([[[1000.0, 10.0], [3.0, 1.0]]]))
    assert q.weight_exp.tolist() == [2, -6] and q.w_int[0, 1].tolist() == [192, 64]
    with pytest.raises(ValueError, match="need weight_exp 9, above the target's maximum 7"):
        quantize_weights(np.array([[[1e5]]]))


def test_split_weights_by_hand():
    # hi set as above: e = -1, [200, -6, 2] leaves [0, 0, -0.3]; that residual is one-signed
    # (negative mode, [-255, 0]) and its exponent ceil(log2(0.3 / 255)) = -10 is clamped to the
    # floor -8: -0.3 * 256 = -76.8 -> -77, leaving 0.3 - 77/256 = -0.00078125
    c = np.array([[[100.0, -3.0, 0.7]]])
    hi, lo = split_weights(c, (-8, 7), sets=2)
    assert hi.w_int.tolist() == [[[200, -6, 2]]] and lo.w_int.tolist() == [[[0, 0, -77]]]
    assert lo.weight_exp.tolist() == [-8] and np.array_equal(lava_dense_weights(lo.w_int), lo.w_int)
    assert abs(hi.rel_error - 0.00078125 / np.linalg.norm(c)) < 1e-15 and hi.rel_error == lo.rel_error
    # exact after one set: no second set; sets=1 is quantize_weights
    assert len(split_weights(np.array([[[100.0, 4.0]]]), sets=2)) == 1
    assert split_weights(c, sets=1)[0].rel_error == quantize_weights(c).rel_error
    # random weights: each set adds about 7 bits until the exponent floor
    w = np.random.default_rng(0).normal(0, 30, (3, 16, 16))
    errs = [split_weights(w, sets=k)[0].rel_error for k in (1, 2)]
    assert errs[0] > 2e-3 and errs[1] < errs[0] / 60


def test_input_format():
    # |x| <= max_abs must fit: 1.0 * 2^15 = 32768 would not, so 1.0 gets 14 fraction bits
    assert input_format(0.99, 16) == 15 and input_format(1.0, 16) == 14 and input_format(1.5, 8) == 6
    q, clipped = quantize_input(np.array([0.5, -1.0, 1.0, 3.0]), 14)
    assert q.tolist() == [8192, -16384, 16384, 32767] and clipped == 1


def test_memory_impulse_errors_hand_worked():
    """A one-dimensional memory. frac_bits: the largest weight (1 per spike) must fit 255 x 2^7,
    so f = floor(log2(32640)) = 14 (the state, 1.875 x 2^f, would allow 22).
    a = 0.5: a - I = -0.5 is -128 x 2^-8 and every state is even: both mappings exact.
    a = 0.999: a - I = -0.001 is below the finest state-to-state step 2^-8 and rounds to 0, so the
    recurrent response stays 1: error ||(0, .001, .001999, .002997001)|| / ||h|| = 1.87216e-3."""
    exact = memory_impulse_errors([[0.5]], [[1.0]], [[1, 0.5, 0.25, 0.125]])
    assert exact == {"fir": 0.0, "recurrent": 0.0, "frac_bits": 14}
    h = 0.999 ** np.arange(4)[None, :]
    coarse = memory_impulse_errors([[0.999]], [[1.0]], h)
    assert coarse["recurrent"] == pytest.approx(np.linalg.norm(1 - h) / np.linalg.norm(h), rel=1e-12)
    assert coarse["recurrent"] == pytest.approx(1.87216e-3, rel=1e-5) and coarse["fir"] < 1e-5


@pytest.mark.parametrize("size, theta, fir_max, recurrent_min", [(16, 8, 3e-5, 9e-3), (512, 128, 4e-5, 0.2)])
def test_memory_mappings_of_legendre_memories(size, theta, fir_max, recurrent_min):
    """The digits and SCv2 memories (two weight sets): FIR taps keep the impulse response to a
    few 1e-5; the recurrent mapping loses 1 % (digits) to 25 % (SCv2, 128 steps) to the 2^-8 floor."""
    from lmuneuro.models.lmu import impulse_response, legendre_state_space

    a, b = legendre_state_space(size, theta)
    h = impulse_response(torch.from_numpy(a), torch.from_numpy(b), 128 if size == 512 else 8).numpy()
    e = memory_impulse_errors(a, b, h)
    assert e["fir"] < fir_max and e["recurrent"] > recurrent_min
