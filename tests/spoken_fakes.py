"""Spoken-word data sets without espeak-ng: a tone per word stands in for the voice, so the
data set's logic (plan, splits, manifest, checks, features) runs anywhere."""

from __future__ import annotations

import numpy as np

from lmuneuro.data import spoken

RATE = spoken.RATE


def tone_voice(monkeypatch) -> None:
    """Replace espeak-ng by a 0.4 s tone whose pitch names the word (forked workers inherit it)."""

    def speak(word, voice, speed, pitch):
        t = np.arange(int(0.4 * RATE)) / RATE
        return 0.5 * np.sin(2 * np.pi * (300.0 + 37 * (sum(map(ord, word)) % 40)) * t)

    monkeypatch.setattr(spoken, "_speak", speak)
    monkeypatch.setattr(spoken, "espeak_version", lambda: "stand-in tone")


TINY = spoken.Recipe("tiny", ("yes", "no", "up"), (6, 2, 3), make="make tiny")
