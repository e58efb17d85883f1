import numpy as np
import pytest
import soundfile as sf
import torch

from lmuneuro.data import dataset_info, get_dataset
from lmuneuro.data.features import FeatureConfig, fbank, logmel, mel_banks
from lmuneuro.data.speech_commands import CLASSES, SpeechCommands

SR = 16000


def test_digits_split_is_fixed_stratified_and_scaled():
    train, test = get_dataset("digits", "train"), get_dataset("digits", "test")
    assert (len(train), len(test)) == (1437, 360)  # 1,797 images, 20 % held out
    x, y = train.tensors
    assert x.shape == (1437, 8, 8) and x.dtype == torch.float32 and 0 <= x.min() and x.max() == 1.0
    assert torch.bincount(test.tensors[1]).tolist() == [36, 36, 35, 37, 36, 37, 36, 36, 35, 36]
    assert torch.equal(get_dataset("digits", "test").tensors[0], test.tensors[0])
    assert get_dataset("digits-pixels", "test").tensors[0].shape == (360, 64, 1)
    with pytest.raises(ValueError, match="unknown dataset 'mnist'; known: digits"):
        dataset_info("mnist")


def _tone(freq=1000.0, seconds=1.0, amp=0.5):
    t = np.arange(int(SR * seconds)) / SR
    return amp * np.sin(2 * np.pi * freq * t)


def test_logmel_shape_padding_and_tone():
    cfg = FeatureConfig()
    feats = logmel(_tone(), SR)
    assert feats.shape == (128, 128) and feats.dtype == np.float32
    pad = (0 - cfg.norm_mean) / (2 * cfg.norm_std)  # 98 frames in 1 s; 30 zero rows, normalised
    assert np.all(feats[98:] == np.float32(pad)) and not np.any(feats[97] == np.float32(pad))
    # The filter with the most energy is the one whose centre is nearest 1 kHz on the HTK mel scale.
    mel = lambda f: 1127 * np.log(1 + f / 700)  # noqa: E731
    centres = mel(20) + (np.arange(1, 129)) * (mel(8000) - mel(20)) / 129
    assert abs(int(feats[10].argmax()) - int(np.abs(centres - mel(1000)).argmin())) <= 1


def test_one_frame_by_hand():
    """Frame 3 of noise, computed independently with plain numpy: dc removal, pre-emphasis with
    the first sample replicated, symmetric Hann window, 512-point power spectrum, mel filters."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal(SR // 2) * 0.1
    frame = x[3 * 160 : 3 * 160 + 400].copy()
    frame -= frame.mean()
    frame = frame - 0.97 * np.concatenate([[frame[0]], frame[:-1]])
    frame *= 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(400) / 399)
    power = np.abs(np.fft.rfft(frame, 512)) ** 2
    expected = np.log(np.maximum(mel_banks(128, 512, SR, 20.0) @ power, np.finfo(np.float32).eps))
    np.testing.assert_allclose(fbank(x)[3], expected, rtol=1e-5, atol=1e-5)


def test_sample_rate_mismatch():
    with pytest.raises(ValueError, match="sample rate 8000 Hz, the features expect 16000 Hz"):
        logmel(np.zeros(8000), 8000)


def _write(root, rel, seconds=0.5):
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, _tone(440, seconds, 0.3).astype(np.float32), SR, subtype="PCM_16")


@pytest.fixture
def sc_folder(tmp_path):
    for rel in ["yes/a.wav", "yes/b.wav", "yes/c.wav", "no/a.wav", "no/b.wav", "go/a.wav"]:
        _write(tmp_path, rel)
    _write(tmp_path, "_background_noise_/noise.wav", 2.0)
    (tmp_path / "validation_list.txt").write_text("yes/b.wav\nno/b.wav\n")
    (tmp_path / "testing_list.txt").write_text("yes/c.wav\n")
    return tmp_path


def test_speech_commands_splits_labels_features(sc_folder):
    train = SpeechCommands(sc_folder, "train")
    val, test = SpeechCommands(sc_folder, "validation"), SpeechCommands(sc_folder, "test")
    assert (len(train), len(val), len(test)) == (3, 2, 1)
    assert sorted(p.relative_to(sc_folder).as_posix() for p, _ in train.items) == [
        "go/a.wav",
        "no/a.wav",
        "yes/a.wav",
    ]
    x, y = test[0]
    assert x.shape == (128, 128) and CLASSES[y] == "yes" and CLASSES.index("yes") == 28
    assert len(CLASSES) == 35 and CLASSES[0] == "backward"
    assert dataset_info("speech-commands")["features"]["num_mel_bins"] == 128


def test_speech_commands_errors(sc_folder, tmp_path):
    with pytest.raises(FileNotFoundError, match="no such folder"):
        SpeechCommands(tmp_path / "absent")
    (sc_folder / "testing_list.txt").unlink()
    with pytest.raises(FileNotFoundError, match="missing testing_list.txt"):
        SpeechCommands(sc_folder)
    (sc_folder / "testing_list.txt").write_text("")
    (sc_folder / "yes" / "bad.wav").write_bytes(b"RIFF....garbage")
    ds = SpeechCommands(sc_folder, "train")
    bad = [i for i, (p, _) in enumerate(ds.items) if p.name == "bad.wav"][0]
    with pytest.raises(ValueError, match="bad.wav: unreadable WAV"):
        ds[bad]
    (sc_folder / "banana").mkdir()
    with pytest.raises(ValueError, match="banana: not one of the 35 Speech Commands words"):
        SpeechCommands(sc_folder)
    with pytest.raises(ValueError, match="needs --data-dir"):
        get_dataset("speech-commands", "train")


def test_train_on_a_speech_commands_folder(sc_folder, tmp_path):
    from lmuneuro import load_checkpoint
    from lmuneuro.cli import main

    out = tmp_path / "scv2.pt"
    assert (
        main(
            [
                "train",
                "--preset",
                "spiking-lmuformer-scv2",
                "--dataset",
                "speech-commands",
                "--data-dir",
                str(sc_folder),
                "-o",
                str(out),
                "--epochs",
                "1",
                "--batch-size",
                "4",
                "--no-progress",
            ]
        )
        == 0
    )
    ck = load_checkpoint(out)
    assert ck.classes == CLASSES and ck.features["target_length"] == 128
    assert ck.metrics["history"][0]["epoch"] == 1


def test_augmentation(sc_folder):
    from lmuneuro.data.speech_commands import Augment

    plain = SpeechCommands(sc_folder, "train")
    off = SpeechCommands(
        sc_folder, "train", augment=Augment(mixup=0.0, freq_mask=0, time_mask=0, noise=False)
    )
    x, y = off[0]
    assert (
        torch.allclose(x, plain[0][0], atol=1e-6)
        and y.tolist() == np.eye(35, dtype=np.float32)[plain[0][1]].tolist()
    )
    full = SpeechCommands(sc_folder, "train", augment=Augment(mixup=1.0))
    torch.manual_seed(0)
    labels = [full[0][1] for _ in range(20)]
    assert all(abs(float(lab.sum()) - 1.0) < 1e-6 for lab in labels)
    mixed = [lab for lab in labels if (lab > 0).sum() == 2]
    assert mixed and all(0.2 < float(lab.max()) < 0.8 for lab in mixed)  # Beta(10, 10) weights
    torch.manual_seed(0)
    first = full[0][0]
    torch.manual_seed(0)
    assert torch.equal(
        full[0][0], first
    )  # seeded from torch: reproducible, distinct per loader worker
