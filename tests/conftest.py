import pytest


@pytest.fixture(scope="session")
def digits_checkpoint(tmp_path_factory):
    """A spiking model trained on the built-in digits (about 10 s), shared by the suites."""
    from lmuneuro.train import TrainConfig, train

    path = tmp_path_factory.mktemp("digits") / "model.pt"
    train(TrainConfig(preset="spiking-lmuformer-digits", dataset="digits", output=str(path), epochs=15,
                      batch_size=64), log=lambda *a: None, progress=False)
    return path
