import pytest
from support import SEED


@pytest.fixture(scope="session")
def digits_checkpoint(tmp_path_factory):
    """A spiking model trained on the built-in digits (about 10 s), shared by the suites."""
    from lmuneuro.train import TrainConfig, train

    path = tmp_path_factory.mktemp("digits") / "model.pt"
    train(
        TrainConfig(
            preset="spiking-lmuformer-digits",
            dataset="digits",
            output=str(path),
            epochs=15,
            batch_size=64,
            seed=SEED,
        ),
        log=lambda *a: None,
        progress=False,
    )
    return path


def pytest_terminal_summary(terminalreporter):
    import sys

    fuzz = sys.modules.get("test_fuzz") or sys.modules.get("tests.test_fuzz")
    if fuzz is not None and fuzz.FUZZED:
        counts = {k: v for k, v in fuzz.FUZZED.items() if k != "setup"}
        terminalreporter.write_line(
            f"fuzzing: {sum(counts.values())} mutated inputs tried, every one exit 0 or a "
            "one-line error with exit 2 and no output file: "
            + ", ".join(f"{k} {v}" for k, v in counts.items())
        )
    contract = sys.modules.get("test_cli_contract") or sys.modules.get("tests.test_cli_contract")
    if contract is not None and contract.TRIED:
        terminalreporter.write_line(
            f"command-line contract: {sum(contract.TRIED.values())} cases (every verb x every "
            "output path x 6 conditions, every count option x 0, -1, 10^12), each exit 0 with "
            "a correct output or one line with exit 2 and nothing left, inputs unchanged: "
            + ", ".join(f"{k} {v}" for k, v in contract.TRIED.items())
        )
