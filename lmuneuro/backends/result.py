"""What every backend returns for a run of an artifact (the emulator, Lava's simulator, a board),
and the read-out they share: the artifact's float head on the read-out layer's spikes."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..artifact import FixedNetwork

__all__ = ["RunResult", "readout"]


@dataclass
class RunResult:
    """One run over a batch of samples."""

    logits: np.ndarray  # (batch, classes): the head on the time-mean of the read-out layer's spikes
    per_step: np.ndarray  # (batch, steps, classes): the same over each prefix of the sequence
    spikes: dict  # layer -> (batch, steps, n) bool in its float-time window (when asked for)
    spike_counts: dict  # population -> (batch, n) spikes per neuron over each sample's steps
    # population -> (batch, steps + delay) spikes (a graded term's non-zero payloads) at each step
    # of each sample: what a step's work follows (``analysis.runtime``)
    step_counts: dict
    # (batch, steps, input_channels) int32: the input as the backend quantised it
    # (``FixedNetwork.quantize_input``), which ``analysis.activity`` counts without quantising again
    frames: np.ndarray
    inputs_clipped: int  # feature values beyond the artifact's input range


def readout(net: FixedNetwork, head_spikes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(logits, per-step logits) from the read-out layer's spikes (batch, steps, n) in its
    float-time window: the float head on the time-mean of every prefix of the sequence."""
    s = np.asarray(head_spikes, dtype=np.float64)
    w = net.head_weight.T.astype(np.float64)
    per_frame = (s.reshape(-1, s.shape[2]) @ w).reshape(s.shape[:2] + (w.shape[1],))  # one product
    per_step = np.cumsum(per_frame, axis=1) / np.arange(1, s.shape[1] + 1)[None, :, None]
    per_step += net.head_bias
    return per_step[:, -1], per_step
