"""The suites whose assertions read the weights of a model the suite trains (``digits_checkpoint``
and what it is fine-tuned into), again under other seeds than make test's: what they assert must
hold for any seed's weights, as it must on any CPU, not only for one machine's (support.SEED)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

SEED_DEPENDENT = [
    "tests/test_calibrate.py",
    "tests/test_convert_cli.py",
    "tests/test_convert_emulate.py",
    "tests/test_emulator_device.py",
    "tests/test_energy.py",
    "tests/test_examples.py",
    "tests/test_lava_network.py",
    "tests/test_library_api.py",
    "tests/test_mapping.py",
    "tests/test_neurobench.py",
    "tests/test_nir.py",
    "tests/test_qat.py",
    "tests/test_run_cli.py",
    "tests/test_runtime.py",
    "tests/test_synops.py",
    "tests/test_weight_sets.py",
]


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2, 3])  # make test's is 0
def test_the_trained_models_suites_hold_for_other_seeds(seed):
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-m", "not slow", "-p", "no:cacheprovider",
         *SEED_DEPENDENT],
        cwd=root,
        env={**os.environ, "LMUNEURO_TEST_SEED": str(seed)},
        capture_output=True,
        text=True,
    )  # fmt: skip
    assert done.returncode == 0, f"seed {seed}:\n{done.stdout[-4000:]}{done.stderr[-2000:]}"
