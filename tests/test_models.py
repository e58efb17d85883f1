import copy

import pytest
import torch
from support import calibrated

from lmuneuro.models import PRESETS, ModelConfig, build_model, get_preset, stack_records


@pytest.mark.parametrize(
    "preset,count", [("spiking-lmuformer-scv2", 1_689_894), ("lmuformer-scv2", 1_621_796)]
)
def test_paper_parameter_counts(preset, count):
    assert sum(p.numel() for p in build_model(get_preset(preset)).parameters()) == count


def test_presets_build_and_configs_roundtrip():
    for name, cfg in PRESETS.items():
        assert ModelConfig.from_dict(cfg.to_dict()) == cfg
        m = build_model(cfg)
        assert m.config.spiking == name.startswith("spiking")
    with pytest.raises(ValueError, match="unknown preset 'nope'; known: spiking-lmuformer-scv2"):
        get_preset("nope")
    with pytest.raises(ValueError, match="unknown model config field"):
        ModelConfig.from_dict({"dimm": 3})
    # configs come from untrusted files: types and sizes are checked before anything is allocated
    for bad, msg in [
        ({"dim": "256"}, "dim must be int"),
        ({"dim": 10**9}, r"dim=1000000000 is outside 1..8192"),
        ({"spiking": 1}, "spiking must be bool"),
        ({"theta": float("nan")}, "theta=nan must be positive"),
        ({"kernel_size": 4}, "kernel_size must be odd"),
    ]:
        with pytest.raises(ValueError, match=msg):
            ModelConfig.from_dict({**get_preset("spiking-lmuformer-digits").to_dict(), **bad})


def test_forward_shapes_and_input_check():
    m = calibrated("spiking-lmuformer-digits")
    x = torch.rand(3, 8, 8)
    assert m(x).shape == (3, 10)
    per_step = m(x, per_step=True)
    assert per_step.shape == (3, 8, 10)
    # mean of per-step logits == logits of the mean read-out (the head is linear)
    assert torch.allclose(per_step[:, -1], m(x), atol=1e-5)
    with pytest.raises(ValueError, match=r"expected input \(batch, time, 8\), got \(3, 8, 7\)"):
        m(torch.rand(3, 8, 7))


def _spikes(model, fn, x):
    with torch.no_grad(), model.recording() as rec:
        out = fn(x)
    return out, stack_records(rec)


def test_spiking_stream_equals_parallel_exactly_in_float64():
    m = calibrated("spiking-lmuformer-scv2").double()
    x = torch.randn(2, 128, 128, dtype=torch.float64)
    par, rec_p = _spikes(m, lambda x: m(x, per_step=True), x)
    stm, rec_s = _spikes(m, m.stream, x)
    rates = {}
    for name, (s, _) in rec_p.items():
        assert torch.equal(s, rec_s[name][0]), name
        rates[name] = s.mean().item()
    assert len(rates) == 11 and all(r > 0.001 for r in rates.values()), (
        rates
    )  # every population is active
    assert torch.allclose(par, stm, rtol=0, atol=1e-12)


def test_spiking_stream_float32_flips_are_rounding():
    """In float32 the two paths round differently (FFT vs recurrence, conv vs per-frame matmul);
    a spike whose potential sits within rounding of the threshold may flip. Count the flips and
    show that each first flip of a sample straddles the threshold by a rounding-sized margin."""
    m = calibrated("spiking-lmuformer-scv2")
    torch.manual_seed(3)
    x = torch.randn(4, 128, 128)
    _, rec_p = _spikes(m, lambda x: m(x, per_step=True), x)
    _, rec_s = _spikes(m, m.stream, x)
    names = list(rec_p)  # network order
    flips = {n: int((rec_p[n][0] != rec_s[n][0]).sum()) for n in names}
    total = sum(p[0].numel() for p in rec_p.values())
    print(f"float32 spike flips step vs parallel: {sum(flips.values())} of {total}: {flips}")
    for b in range(x.shape[0]):
        first = next((n for n in names if (rec_p[n][0][b] != rec_s[n][0][b]).any()), None)
        if first is None:
            continue
        (sp, hp), (ss, hs) = rec_p[first], rec_s[first]
        t, c = (sp[b] != ss[b]).nonzero()[0].tolist()
        th = m.get_submodule(first).v_threshold
        a, z = hp[b, t, c].item(), hs[b, t, c].item()
        assert (a >= th) != (z >= th)
        assert abs(a - z) < 1e-4 * max(1.0, abs(a)) and abs(a - th) < 1e-4, (first, t, c, a, z)


def test_nonspiking_stream_matches_parallel():
    m = calibrated("lmuformer-scv2")
    x = torch.randn(2, 128, 128)
    with torch.no_grad():
        par, stm = m(x, per_step=True), m.stream(x)
    assert (par - stm).abs().max() <= 1e-4 * par.abs().max()


def test_step_api_delay_finish_and_other_lengths():
    m = calibrated("spiking-lmuformer-digits").double()
    x = torch.rand(2, 13, 8, dtype=torch.float64)  # longer than the preset's 8 steps
    state = m.init_state(2)
    outs = []
    for t in range(13):
        preds, state = m.step(x[:, t], state)
        assert preds.shape[1] == (1 if t >= m.delay else 0)
        outs.append(preds)
    tail = m.finish(state)
    assert tail.shape == (2, m.delay, 10)
    with torch.no_grad():
        assert torch.allclose(torch.cat(outs + [tail], 1), m(x, per_step=True), atol=1e-12)
    m.train()
    with pytest.raises(RuntimeError, match="eval mode"):
        m.step(x[:, 0], m.init_state(2))


def _same(a, b) -> bool:
    """Equal nested states: same NamedTuple types, equal tensors and counts."""
    if isinstance(a, torch.Tensor):
        return torch.equal(a, b)
    if isinstance(a, tuple):
        return type(a) is type(b) and len(a) == len(b) and all(map(_same, a, b))
    return a == b


@pytest.mark.parametrize("preset", ["spiking-lmuformer-digits", "lmuformer-digits"])
@torch.no_grad()
def test_step_is_pure(preset):
    """step returns a new state and leaves the one it was given as it was: stepping twice from
    one state gives the same predictions and states."""
    m = calibrated(preset)
    x = torch.rand(2, m.delay + 3, 8)
    state = m.init_state(2)
    for t in range(x.shape[1] - 1):
        _, state = m.step(x[:, t], state)
    assert state._fields == ("embed", "blocks", "head", "total", "count")
    assert all(hasattr(s, "_fields") for s in (state.embed, *state.blocks, *state.embed.convs))
    before = copy.deepcopy(state)
    p1, s1 = m.step(x[:, -1], state)
    p2, s2 = m.step(x[:, -1], state)
    assert p1.shape == (2, 1, 10) and torch.equal(p1, p2) and _same(s1, s2)
    assert s1.count == state.count + 1 and not _same(s1, state)
    assert torch.equal(m.finish(state), m.finish(state))
    assert _same(state, before)
