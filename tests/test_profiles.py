import pytest

from lmuneuro.profiles import TIMING, ProfileError, list_profiles, load_profile


def test_bundled_profiles_load_with_sources():
    assert list_profiles() == ["cmos45-ann", "cmos45-snn", "kapoho-point", "loihi1", "loihi2"]
    p = load_profile("loihi2")
    assert p.precision["weight_bits"] == 8 and p.precision["state_bits"] == 24
    assert p.resources["cores_per_chip"] == 128 and p.resources["neurons_per_core"] == 8192
    syn = p.energy["synaptic_op"]
    assert syn.low < syn.high and "Davies" in syn.source  # Loihi 2: a range, not a point
    assert load_profile("cmos45-ann").energy["mac"].value == 4.6
    assert load_profile("cmos45-snn").energy["accumulate"].value == 0.9
    assert (load_profile("cmos45-snn").runs, load_profile("cmos45-ann").runs) == ("snn", "ann")
    # the runtime model's constants, each fitted to a public measurement or an assumption
    assert p.step_us is None and set(p.timing) == set(TIMING)
    for name, c in p.timing.items():
        assert c.unit == TIMING[name] and c.low <= c.value <= c.high, name
        assert "fit:" in c.source or "assumption" in c.source or "Davies" in c.source, name
    board = load_profile("kapoho-point")
    assert board.resources == {**p.resources, "chips": 8} and board.energy == p.energy


def _variant(tmp_path, old, new):
    text = load_profile("loihi2").path
    path = tmp_path / "custom.toml"
    path.write_text(open(text).read().replace(old, new, 1))
    return str(path)


def test_user_profile_by_path_and_errors(tmp_path):
    assert load_profile(_variant(tmp_path, 'name = "loihi2"', 'name = "mine"')).name == "mine"
    cases = [
        ("weight_bits = 8 ", "", "missing field precision.weight_bits"),
        (
            "weight_bits = 8 ",
            'weight_bits = "8" ',
            r"precision.weight_bits must be an integer, got '8'",
        ),
        ("value = 23.6", "value = 30.0", r"energy.synaptic_op needs low <= value <= high"),
        ('unit = "pJ"', 'unit = "mJ"', r"energy.synaptic_op.unit must be pJ, got 'mJ'"),
        ('unit = "W"', 'unit = "pJ"', r"energy.static_power.unit must be W, got 'pJ'"),
        ('unit = "us"', 'unit = "ms"', r"timing.barrier.unit must be us, got 'ms'"),
        ("[timing.barrier]", "[timing.barier]", "unknown timing constant timing.barier"),
        (
            "[timing.host_value]",
            "[timing.step]",
            "the runtime model needs every timing constant; missing timing.host_value",
        ),
        ("value = 2.0\nlow = 0.3", "value = -2.0\nlow = 0.3", "timing.barrier.value must be"),
        ("value = 2.0\nlow = 0.3", "value = nan\nlow = 0.3", "timing.barrier"),
        ("value = 2.0\nlow = 0.3", "value = 1e30\nlow = 0.3", "timing.barrier.value must be"),
        (
            'kind = "neuromorphic"',
            'kind = "neuromorphic"\nruns = "cnn"',
            "runs must be one of snn, ann, got 'cnn'",
        ),
        ('kind = "neuromorphic"', 'kind = "quantum"', "kind must be one of"),
        ("[resources]", "[resources", "not valid TOML"),
    ]
    for old, new, msg in cases:
        with pytest.raises(ProfileError, match=msg) as e:
            load_profile(_variant(tmp_path, old, new))
        assert "custom.toml" in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(
        ProfileError, match="unknown hardware profile 'loihi3'; bundled: cmos45-ann"
    ):
        load_profile("loihi3")
