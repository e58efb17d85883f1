"""make demo: the whole pipeline on built-in data, on small settings."""

import json

from lmuneuro.cli import main


def test_demo_runs_the_pipeline_end_to_end(tmp_path, capsys):
    assert main(["demo", "--workdir", str(tmp_path), "--epochs", "3", "--lava-samples", "3"]) == 0
    out = capsys.readouterr().out
    for step in (
        "[1/5] training",
        "[2/5] converting",
        "[3/5] emulator",
        "[4/5] Lava",
        "[5/5] energy",
    ):
        assert step in out
    figures = json.loads((tmp_path / "demo.json").read_text())
    assert figures["lava_equals_emulator"] and figures["lava_samples"] == 3
    assert (
        figures["agreement_float_fixed"] > 0.9 and figures["accuracy_float"] > 0.3
    )  # 3 epochs: well above 10 %
    assert figures["synops"] > 0 and figures["ann_macs"] == 419_328
    assert {p.name for p in tmp_path.iterdir()} >= {
        "model.pt",
        "model.h5",
        "energy.html",
        "demo.json",
    }
