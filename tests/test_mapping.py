"""The neuro-core and chip model: calibrated against Intel's own mapper, split across the chips of
a board, and priced per chip and mode."""

import json
from pathlib import Path

import numpy as np
import pytest

from lmuneuro.cli import main
from lmuneuro.compile.mapping import (
    Group,
    Placement,
    interchip_copies,
    place,
    split,
    synapse_bits,
    synmem_words,
)
from lmuneuro.profiles import ProfileError, load_profile

FIXTURE = Path(__file__).parent / "fixtures" / "pilotnet_lif_dense_mapping.json"


def test_calibrated_on_intels_mapper_for_pilotnet_lif():
    """The dense layers of lava-dl's PilotNet LIF network: the synapse memory Intel's compiler
    allocates on one core and the cores it uses (its benchmark notebook's per-core table)."""
    intel = json.loads(FIXTURE.read_text())
    res = load_profile("loihi2").resources
    assert res["synmem_words_per_core"] == intel["synmem_budget_words"]
    for layer in intel["layers"]:
        groups = [Group(layer["inputs"], synapse_bits(res, layer["weight_bits"]))]
        n = layer["neurons"]
        assert synmem_words(groups, n, n, res) == layer["synmem_words_one_core"], layer
        cores, _, words = split(groups, n, res)
        assert abs(cores - layer["cores"]) <= 1 and words <= res["synmem_words_per_core"], layer
        assert cores == layer["cores"]  # exact, in fact: 12, 1, 1, 1


def test_synapse_memory_by_hand():
    res = {
        "synmem_word_bits": 64,
        "synapse_overhead_bits": 12,
        "axon_header_bits": 22,
        "delay_bits": 6,
        "synmem_words_per_core": 100,
        "neurons_per_core": 8192,
    }
    # 8-bit weights: 20 bits per synapse. 10 axons to 3 neurons: ceil((60 + 22) / 64) = 2 each.
    dense = Group(10, synapse_bits(res, 8))
    assert synmem_words([dense], 3, 3, res) == 20
    # delayed, 26 bits: ceil((78 + 22) / 64) = 2; 4 neurons: ceil(126/64) = 2; 5: ceil(152/64) = 3
    delayed = Group(10, synapse_bits(res, 8, delayed=True))
    assert [synmem_words([delayed], n, n, res) for n in (3, 4, 5)] == [20, 20, 30]
    # sparse: only the synapses an axon has (2 of its 3 axons reach 1 and 3 neurons)
    sparse = Group(3, 20, np.array([1, 0, 3]))
    assert synmem_words([sparse], 3, 3, res) == 1 + 2
    # 60 axons to 8 neurons: ceil((160 + 22) / 64) = 3 words each, 180 > 100 -> split by 2: 4
    # neurons, ceil(102 / 64) = 2 words, 120 > 100 -> by 2 again: 2 neurons, 1 word, 60: 4 cores
    assert split([Group(60, 20)], 8, res) == (4, 2, 60)


def _board(tmp_path, cores_per_chip: int, chips: int, interchip: bool = True) -> str:
    text = Path(load_profile("loihi2").path).read_text()
    text = text.replace("cores_per_chip = 128", f"cores_per_chip = {cores_per_chip}")
    text = text.replace("chips = 1\n", f"chips = {chips}\n")
    if not interchip:
        text = text.replace("[energy.interchip_message]", "[energy.unused]")
    path = tmp_path / f"board{cores_per_chip}x{chips}{'' if interchip else '-noprice'}.toml"
    path.write_text(text)
    return str(path)


def test_a_network_spans_the_chips_of_a_board(digits_checkpoint, tmp_path, capsys):
    """Digits needs 13 cores: on chips of 8 cores it takes 2; --chips 1 refuses it in one line;
    the energy report prices the messages between the chips and the static power of both."""
    board, art = _board(tmp_path, 8, 4), tmp_path / "m.h5"
    assert (
        main(["convert", str(digits_checkpoint), "-o", str(art), "--target", board, "--json"]) == 0
    )
    r = json.loads(capsys.readouterr().out)
    assert r["cores"] == 13 and r["chips"] == 2
    assert [(u["chip"], u["cores"], u["fraction"]) for u in r["chip_use"]] == [
        (0, 8, 1.0),
        (1, 5, 0.625),
    ]
    assert {c for row in r["layers"] for c in row["chips"]} == {0, 1}
    # the table's chips column: how many chips each population's cores are on
    assert main(["convert", str(digits_checkpoint), "-o", str(art), "--target", board]) == 0
    lines = capsys.readouterr().out.splitlines()
    column = lines[0].split().index("chips")  # the columns before it are never blank
    counts = [int(line.split()[column]) for line in lines[1 : 1 + len(r["layers"])]]
    assert counts == [len(row["chips"]) for row in r["layers"]] and set(counts) <= {1, 2}
    code = main(
        [
            "convert",
            str(digits_checkpoint),
            "-o",
            str(tmp_path / "x.h5"),
            "--target",
            board,
            "--chips",
            "1",
        ]
    )
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.endswith(
        "neuro-cores on 1 loihi2 chip(s) (cores_per_chip 8): 13 exceeds 8"
    )
    assert not (tmp_path / "x.h5").exists()
    code = main(
        ["energy", str(art), "--profile", board, "--dataset", "digits", "--samples", "8", "--json"]
    )
    e = json.loads(capsys.readouterr().out)
    assert code == 0 and e["totals"]["chips"] == 2 and e["totals"]["interchip_messages"] > 0
    seconds = e["runtime"]["latency_s"][0]  # two chips' static power over the modelled time
    assert e["energy_pj"]["static"] == pytest.approx(2 * 0.232 * seconds * 1e12)
    code = main(
        [
            "energy",
            str(art),
            "--profile",
            _board(tmp_path, 8, 4, interchip=False),
            "--dataset",
            "digits",
            "--samples",
            "8",
        ]
    )
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.endswith(
        "has no energy.interchip_message to price the messages "
        "between the 2 chips the network spans"
    )


def test_a_compile_places_the_network_once(digits_checkpoint, monkeypatch):
    """The limits that compile_model checks and the rows it returns come from one placement."""
    import lmuneuro.compile.limits as limits
    from lmuneuro.checkpoint import load_checkpoint
    from lmuneuro.compile.convert import Settings, compile_model

    placed = []
    monkeypatch.setattr(limits, "place", lambda net, res: placed.append(net) or place(net, res))
    ck = load_checkpoint(digits_checkpoint)
    c = compile_model(ck.model, ck.features, Settings())
    assert len(placed) == 1 and sum(r["cores"] for r in c.layers) == 13


def test_static_energy_back_to_back_and_in_real_time(digits_checkpoint, tmp_path, capsys):
    art = tmp_path / "m.h5"
    assert main(["convert", str(digits_checkpoint), "-o", str(art)]) == 0
    capsys.readouterr()
    base = ["energy", str(art), "--dataset", "digits", "--samples", "4", "--json"]
    assert main(base) == 0
    r = json.loads(capsys.readouterr().out)
    assert "real_time" not in r["static_modes"]  # digits rows have no frame rate
    b2b = r["static_modes"]["back_to_back"]
    assert b2b["us_per_step"] == r["runtime"]["step_us"]["mean"] == r["step_us"]
    assert b2b["total_pj"][0] == pytest.approx(r["energy_total_pj"])
    assert main(base + ["--frame-ms", "10"]) == 0
    rt = json.loads(capsys.readouterr().out)["static_modes"]["real_time"]
    steps = r["steps"]
    assert rt["seconds_per_sample"] == pytest.approx(0.01 * steps)
    assert rt["static_pj"][0] == pytest.approx(0.232 * 0.01 * steps * 1e12)  # one chip
    dynamic = r["energy_total_pj"] - r["energy_pj"]["static"]
    assert rt["total_pj"][0] == pytest.approx(dynamic + rt["static_pj"][0])
    assert main(base[:-1] + ["--frame-ms", "10"]) == 0
    assert "in real time (one step per 10.0 ms frame)" in capsys.readouterr().out


@pytest.mark.parametrize(
    "old, new, message",
    [
        ("chips = 1\n", "chips = 0\n", "field resources.chips must be positive, got 0"),
        (
            "chips = 1\n",
            "chips = 1" + "0" * 30 + "\n",
            "field resources.chips must be at most 2,147,483,648, got 1e",
        ),
        (
            "neurons_per_core = 8192",
            "neurons_per_core = 2000000",
            "field resources.neurons_per_core (2,000,000) exceeds neurons_per_chip (1,048,576)",
        ),
        ("synmem_words_per_core = 12000", "", "missing field resources.synmem_words_per_core"),
        (
            'name = "loihi2"',
            'extends = "nowhere"\nname = "loihi2"',
            "extends must name another bundled profile, got 'nowhere'",
        ),
    ],
)
def test_inconsistent_budgets_are_one_line(tmp_path, old, new, message):
    text = Path(load_profile("loihi2").path).read_text()
    assert old in text
    path = tmp_path / "bad.toml"
    path.write_text(text.replace(old, new, 1))
    with pytest.raises(ProfileError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_profile(str(path))


@pytest.mark.parametrize("seed", range(20))
def test_interchip_copies_count_every_destination_core_on_another_chip(seed):
    """Against a core-by-core count: a spike leaves each of the source's cores equally often and
    is one message to each destination core on another chip than the core it leaves."""
    rng = np.random.default_rng(seed)
    per_chip = int(rng.integers(1, 9))
    a, b = (int(v) for v in rng.integers(1, 3 * per_chip, 2))
    first = [int(v) for v in rng.integers(0, 4 * per_chip, 2)]
    src, dst = (
        Placement(n, c, 1, 1, (), f) for n, c, f in (("a", a, first[0]), ("b", b, first[1]))
    )
    count = sum(
        i // per_chip != j // per_chip
        for i in range(src.first_core, src.first_core + a)
        for j in range(dst.first_core, dst.first_core + b)
    )
    assert interchip_copies(src, dst, per_chip) == pytest.approx(count / a, rel=1e-12)
    # hand-worked: 3 cores on chip 0 to 2 cores on chip 0 and 2 on chip 1 -> 2 per spike
    three, four = Placement("a", 3, 1, 1, (0,), 0), Placement("b", 4, 1, 1, (0, 1), 6)
    assert interchip_copies(three, four, 8) == 2.0
