"""The reference log-mel features: Kaldi-style filter banks as ``torchaudio.compliance.kaldi.fbank``
computes them with the paper's options, then cut/padded to a fixed length and normalised.

torchaudio cannot be installed beside the pinned CPU torch, and kaldi-native-fbank refuses 128 mel
bins on a 512-point FFT (its lowest bins hold no FFT bin; torchaudio keeps them as log(eps)), so
the computation is written here, step for step as torchaudio does it:
dc removal per frame, pre-emphasis 0.97 (first sample replicated), symmetric Hann window of 400
samples, zero-padding to 512, power spectrum, 128 triangular HTK-mel filters from 20 Hz to
Nyquist, log with a floor of float32 eps. Frames: 25 ms every 10 ms, snip_edges (98 per second).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import numpy as np

__all__ = ["FeatureConfig", "fbank", "frame_times", "logmel", "logmel_stream", "mel_banks"]

_EPS = float(np.finfo(np.float32).eps)


@dataclass(frozen=True)
class FeatureConfig:
    sample_rate: int = 16000
    num_mel_bins: int = 128
    frame_length_ms: float = 25.0
    frame_shift_ms: float = 10.0
    low_freq: float = 20.0
    preemphasis: float = 0.97
    target_length: int = (
        128  # frames after cutting / zero-padding (padding happens before normalising)
    )
    norm_mean: float = -6.845978
    norm_std: float = 5.5654526  # features are (fbank - mean) / (2 * std), as the reference

    def to_dict(self) -> dict:
        return {"kind": "kaldi-fbank", **asdict(self)}

    @classmethod
    def from_dict(cls, d: dict) -> "FeatureConfig":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


def _mel(f):
    return 1127.0 * np.log(1.0 + np.asarray(f, dtype=np.float64) / 700.0)


def mel_banks(num_bins: int, n_fft: int, sample_rate: int, low_freq: float) -> np.ndarray:
    """Triangular filters (num_bins, n_fft // 2 + 1) on the HTK mel scale; the last FFT bin
    (Nyquist) gets no weight, as in Kaldi."""
    mel_low, mel_high = _mel(low_freq), _mel(sample_rate / 2)
    delta = (mel_high - mel_low) / (num_bins + 1)
    b = np.arange(num_bins)[:, None]
    left, center, right = mel_low + b * delta, mel_low + (b + 1) * delta, mel_low + (b + 2) * delta
    mel = _mel(sample_rate / n_fft * np.arange(n_fft // 2))[None, :]
    up, down = (mel - left) / (center - left), (right - mel) / (right - center)
    banks = np.maximum(0.0, np.minimum(up, down))
    return np.pad(banks, ((0, 0), (0, 1)))


def fbank(waveform: np.ndarray, cfg: FeatureConfig = FeatureConfig()) -> np.ndarray:
    """Log mel filter-bank energies (frames, num_mel_bins), float32, of a mono waveform in [-1,
    1]."""
    x = np.asarray(waveform, dtype=np.float64).reshape(-1)
    size, shift = _frame_samples(cfg)
    if len(x) < size:
        return np.zeros((0, cfg.num_mel_bins), dtype=np.float32)
    n_frames = 1 + (len(x) - size) // shift
    frames = np.lib.stride_tricks.sliding_window_view(x, size)[::shift][:n_frames].copy()
    frames -= frames.mean(axis=1, keepdims=True)
    frames = frames - cfg.preemphasis * np.concatenate([frames[:, :1], frames[:, :-1]], axis=1)
    frames *= np.hanning(size)  # symmetric Hann, torch.hann_window(periodic=False)
    n_fft = 1 << (size - 1).bit_length()
    power = np.abs(np.fft.rfft(frames, n=n_fft)) ** 2
    energies = power @ mel_banks(cfg.num_mel_bins, n_fft, cfg.sample_rate, cfg.low_freq).T
    return np.log(np.maximum(energies, _EPS)).astype(np.float32)


def logmel(
    waveform: np.ndarray, sample_rate: int, cfg: FeatureConfig = FeatureConfig()
) -> np.ndarray:
    """The model's input (target_length, num_mel_bins) float32 for one clip, as the reference makes
    it."""
    x = _samples(waveform, sample_rate, cfg)
    fb = fbank(x - x.mean(), cfg)[: cfg.target_length]
    fb = np.pad(fb, ((0, cfg.target_length - len(fb)), (0, 0)))
    return _normalised(fb, cfg)


def logmel_stream(
    waveform: np.ndarray, sample_rate: int, cfg: FeatureConfig = FeatureConfig()
) -> np.ndarray:
    """The model's input (frames, num_mel_bins) float32 for a stream of any length: every frame,
    normalised as a clip's (the normalisation is fixed, not per clip), neither cut nor padded;
    computed a block of frames at a time, so that memory follows the features, not the FFTs.
    Frame i holds samples [i shift, i shift + length) (``frame_times``)."""
    x = _samples(waveform, sample_rate, cfg)
    x = x - x.mean()
    size, shift = _frame_samples(cfg)
    n = 1 + (len(x) - size) // shift if len(x) >= size else 0
    block = 4096  # frames
    parts = [
        fbank(x[f * shift : (min(f + block, n) - 1) * shift + size], cfg)
        for f in range(0, n, block)
    ]
    return _normalised(np.concatenate(parts) if parts else fbank(x[:0], cfg), cfg)


def frame_times(cfg: FeatureConfig = FeatureConfig()) -> tuple[float, float]:
    """(seconds from the audio's start at which frame 0's features are known, seconds between
    frames): frame i is known at ``first + i * period``."""
    return cfg.frame_length_ms * 0.001, cfg.frame_shift_ms * 0.001


def _frame_samples(cfg: FeatureConfig) -> tuple[int, int]:
    """(samples per frame, samples between frames)."""
    return tuple(
        int(cfg.sample_rate * ms * 0.001) for ms in (cfg.frame_length_ms, cfg.frame_shift_ms)
    )


def _samples(waveform: np.ndarray, sample_rate: int, cfg: FeatureConfig) -> np.ndarray:
    if sample_rate != cfg.sample_rate:
        raise ValueError(
            f"sample rate {sample_rate} Hz, the features expect {cfg.sample_rate} Hz (resample "
            "first)"
        )
    return np.asarray(waveform, dtype=np.float64).reshape(-1)


def _normalised(fb: np.ndarray, cfg: FeatureConfig) -> np.ndarray:
    return ((fb - cfg.norm_mean) / (cfg.norm_std * 2)).astype(np.float32)
