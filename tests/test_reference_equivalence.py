"""A reference-implementation checkpoint gives the reference's logits.

The expected logits come from running the paper's own code (github zeyuliu1037/LMUFormer at
5debadd; spikingjelly 0.0.0.0.14 with its torch backend; float32 on CPU) on the state_dict that
the test writes: a seeded model with calibrated BatchNorms (tests/support.py) saved in the
reference's DataParallel layout. Per-tensor sums of that state_dict are part of the fixture, so a
drifted generator fails here by name instead of as a mysterious mismatch.
"""

from pathlib import Path

import numpy as np
import pytest
import torch
from support import calibrated, state_summary

from lmuneuro import load_checkpoint
from lmuneuro.converters.reference import to_reference_state_dict

FIXTURE = np.load(Path(__file__).parent / "fixtures" / "reference_scv2_logits.npz")
CASES = [("spiking", "spiking-lmuformer-scv2"), ("nonspiking", "lmuformer-scv2")]


@pytest.mark.parametrize("kind,preset", CASES)
def test_reference_checkpoint_reproduces_reference_logits(tmp_path, kind, preset):
    model = calibrated(preset, seed=0)
    assert np.allclose(
        state_summary(model.state_dict()), FIXTURE[f"{kind}_state_summary"], rtol=1e-4, atol=1e-3
    ), (
        "the fixture generator (tests/support.py: calibrated) drifted from the one the fixture was "
        "made with"
    )
    path = tmp_path / "best_model.pth"
    torch.save(to_reference_state_dict(model), path)
    torch.manual_seed(1)
    x = torch.randn(2, 128, 128)

    ck = load_checkpoint(path, preset=preset)
    assert (
        ck.source_format == "reference"
        and len(ck.classes) == 35
        and ck.features["num_mel_bins"] == 128
    )
    with torch.no_grad():
        logits, per_step = ck.model(x).numpy(), ck.model(x, per_step=True).numpy()
    ref, ref_steps = FIXTURE[f"{kind}_logits"], FIXTURE[f"{kind}_logits_all_seq"]
    assert np.abs(logits - ref).max() <= 1e-4 * np.abs(ref).max()
    assert np.abs(per_step - ref_steps).max() <= 1e-4 * np.abs(ref_steps).max()
    # Same operations in the same order on the same buffers: bit-identical on the machine that
    # made the fixture (another CPU may round convolutions differently, hence the tolerance).
    print(
        f"{kind}: bit-identical to the reference: "
        f"{np.array_equal(logits, ref) and np.array_equal(per_step, ref_steps)}"
    )
