"""The command line's verbs, each declared once: its one-line help, its description, and the
function that adds its arguments (``cli.build_parser`` builds the parser from them)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import NamedTuple

from .backends import BACKENDS
from .cli_options import (
    COUNT,
    EPOCHS,
    add_artifact,
    add_device,
    add_inputs,
    add_settings,
    number,
    path,
)
from .profiles import list_profiles


class Verb(NamedTuple):
    help: str  # the line in ``lmuneuro --help``
    description: str  # the paragraph of ``lmuneuro VERB --help``
    arguments: Callable[[argparse.ArgumentParser], None]


def _presets(s: argparse.ArgumentParser) -> None:
    s.add_argument("--json", action="store_true", help="machine-readable output")


def _train(s: argparse.ArgumentParser) -> None:
    s.add_argument("--preset", required=True, help="model preset (see `lmuneuro presets`)")
    s.add_argument(
        "--dataset",
        required=True,
        help="digits | digits-pixels | speech-commands | spoken-keywords | scv2-synthetic",
    )
    path(
        s,
        "-o",
        "--output",
        role="output",
        required=True,
        help="checkpoint to write (.pt); missing folders are created",
    )
    path(
        s,
        "--data-dir",
        role="input-dir",
        help="dataset folder (speech-commands: the extracted SCv2 folder; spoken-keywords, "
        "scv2-synthetic: the folder `lmuneuro synthesize` writes)",
    )
    s.add_argument("--epochs", type=EPOCHS, default=20, help="passes over the training set")
    s.add_argument(
        "--batch-size", type=number(int, 1, 2**20), default=128, help="samples per optimizer step"
    )
    s.add_argument(
        "--lr",
        type=number(float, 0.0, 10.0, open_lo=True),
        default=2.5e-3,
        help="Adam learning rate before the step decay",
    )
    s.add_argument(
        "--head-lr-scale",
        type=number(float, 0.0, 1e6, open_lo=True),
        default=1.0,
        help="the classifier head's learning rate is --lr times this; a spiking head reads spike "
        "rates of a few per cent and on long sequences (audio) learns its scale slowly "
        "at 1 (the reference's recipe): 10 speeds it up",
    )
    s.add_argument(
        "--seed",
        type=number(int, 0, 2**32 - 1),
        default=0,
        help="seeds initial weights, shuffling and augmentation",
    )
    s.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    s.add_argument(
        "--workers",
        type=number(int, 0, 256),
        default=0,
        help="data-loader worker processes (0: load in the main process)",
    )
    s.add_argument(
        "--time-budget",
        type=number(float, 0.0, 1e6, open_lo=True),
        help="minutes: start no epoch that would end after this (by the mean epoch so far), so "
        "that as many epochs as fit are trained; --epochs still sets the learning-rate schedule's "
        "length",
    )
    _train_run(s)


def _train_run(s: argparse.ArgumentParser) -> None:
    """train's options of the run: where it starts, how it fine-tunes, what it shows."""
    s.add_argument("--resume", action="store_true", help="continue from the checkpoint at --output")
    path(
        s,
        "--init",
        role="input",
        kind="checkpoint",
        help="start from this checkpoint's weights (same preset; or the same network with other "
        "classes: the head's rows matched by class name) with a fresh optimizer",
    )
    s.add_argument(
        "--quantization-aware",
        action="store_true",
        help="fine-tune --init's model as the chip computes it: every forward pass converts the "
        "current weights with the settings below (as convert does), runs that network on the "
        "emulator, and passes gradients straight through the rounding; evaluation accuracy is "
        "the fixed-point network's. The checkpoint records the settings, and convert uses them",
    )
    add_settings(s)
    s.add_argument("--max-batches", type=COUNT, help="limit batches per epoch (smoke runs)")
    s.add_argument(
        "--no-augment",
        action="store_true",
        help="speech-commands: no mixup 0.6 / SpecAugment 48+48 / noise (the reference's recipe)",
    )
    s.add_argument("--no-progress", action="store_true", help="no progress bar")
    s.add_argument("--json", action="store_true", help="print the final metrics as JSON on stdout")


def _convert(s: argparse.ArgumentParser) -> None:
    path(
        s,
        "checkpoint",
        role="input",
        kind="checkpoint",
        help="native or reference-implementation checkpoint",
    )
    path(
        s,
        "-o",
        "--output",
        role="output",
        help="artifact to write (default: the checkpoint's name with .h5); missing folders are "
        "created",
    )
    s.add_argument("--preset", help="check the checkpoint against this preset")
    add_settings(s)
    add_inputs(s, calibration=True)
    s.add_argument(
        "--calibrate",
        action="store_true",
        help="choose the input range and the neurons' biases on calibration data (--dataset's "
        "training split or --inputs, unlabelled; at least 8 samples): each choice measured on the "
        "emulator against the float model; the limits hold for every input within the chosen "
        "range, and values beyond it are clipped and reported",
    )
    s.add_argument("--json", action="store_true", help="the conversion report as JSON")


def _verify(s: argparse.ArgumentParser) -> None:
    path(s, "checkpoint", role="input", kind="checkpoint")
    add_artifact(s)
    add_inputs(s)
    add_device(s)
    s.add_argument("--json", action="store_true", help="the report as JSON")


def _run(s: argparse.ArgumentParser) -> None:
    add_artifact(s)
    s.add_argument("--backend", choices=BACKENDS, default="emulator")
    add_inputs(s)
    add_device(s)
    s.add_argument(
        "--per-step",
        action="store_true",
        help="accuracy against the fraction of the sequence seen (streaming read-out)",
    )
    s.add_argument(
        "--float",
        action="store_true",
        help="lava-sim: run Lava's floating_pt models (the same network without rounding)",
    )
    path(
        s,
        "--activity",
        role="output",
        metavar="FILE",
        help="write per-layer spikes and synaptic events per sample (JSON)",
    )
    s.add_argument(
        "--predictions", action="store_true", help="with --json: include every prediction"
    )
    s.add_argument(
        "--logits",
        action="store_true",
        help="with --json: include every sample's logits, exactly (to compare backends: a board's "
        "must equal the emulator's)",
    )
    s.add_argument("--json", action="store_true", help="the report as JSON")


def _stream(s: argparse.ArgumentParser) -> None:
    add_artifact(s)
    audio = s.add_mutually_exclusive_group(required=True)
    path(audio, "--wav", role="input", help="a 16 kHz mono 16-bit WAV file (no labels)")
    path(
        audio,
        "--stream-dir",
        role="input-dir",
        metavar="DIR",
        help="a folder of labelled keyword streams (lmuneuro synthesize keyword-stream)",
    )
    s.add_argument(
        "--split",
        choices=["train", "validation", "test"],
        default="test",
        help="with --stream-dir: the streams to run",
    )
    s.add_argument(
        "--streams", type=number(int, 1, 10**6), help="with --stream-dir: only the first N"
    )
    path(
        s,
        "--checkpoint",
        role="input",
        kind="checkpoint",
        help="the checkpoint the artifact was converted from: its float model runs beside it",
    )
    s.add_argument("--backend", choices=[b for b in BACKENDS if b != "loihi2"], default="emulator")
    add_device(s)
    s.add_argument(
        "--context",
        type=number(int, 1, 10**6),
        help="frames the head averages (default: the trained clip length)",
    )
    s.add_argument(
        "--smoothing", type=number(int, 1, 10**6), default=1, help="frames of probability averaged"
    )
    s.add_argument(
        "--threshold",
        type=number(float, 0, 1, open_lo=True),
        default=0.9,
        help="the probability at which a word is reported",
    )
    s.add_argument(
        "--refractory",
        type=number(float, 0, 3600),
        default=1.0,
        metavar="SECONDS",
        help="no detection for this long after one",
    )
    s.add_argument(
        "--window",
        type=number(float, 0, 3600),
        default=1.0,
        metavar="SECONDS",
        help="a detection counts from the word's start to this long after its end",
    )
    path(
        s,
        "--profile",
        role="input",
        default="loihi2",
        help="hardware profile(s) for the energy per hour of listening, comma-separated "
        "(loihi2,cmos45-snn,cmos45-ann), or a .toml path",
    )
    path(
        s,
        "-o",
        "--output",
        role="output",
        help="write the report here instead of printing it: .html (with the curve), .json or "
        ".txt; missing folders are created",
    )
    s.add_argument("--json", action="store_true", help="the report as JSON")


def _energy(s: argparse.ArgumentParser) -> None:
    add_artifact(s)
    path(
        s,
        "--profile",
        role="input",
        default="loihi2",
        help="hardware profile name or .toml path; several, comma-separated (loihi2,cmos45-snn,"
        "cmos45-ann), put side by side in one table and one chart",
    )
    add_inputs(s, activity=True)
    s.add_argument(
        "--backend",
        choices=tuple(b for b in BACKENDS if b != "loihi2"),
        default="emulator",
        help="with --dataset/--inputs: where to run (identical counts; lava-sim is slower)",
    )
    add_device(s)
    s.add_argument(
        "--step-us",
        type=number(float, 0.0, 1e9, open_lo=True),
        help="time per step for the back-to-back static energy (default: the profile's measured "
        "one)",
    )
    s.add_argument(
        "--frame-ms",
        type=number(float, 0.0, 1e6, open_lo=True),
        help="time per input frame for the real-time static energy (one step per frame; default: "
        "the features' frame shift, 10 ms for speech features)",
    )
    s.add_argument(
        "--format",
        choices=("table", "json", "html"),
        help="default: from the -o suffix (.json, .html), else table",
    )
    path(
        s,
        "-o",
        "--output",
        role="output",
        help="write the report here instead of printing it: .html, .json or .txt (a table); html "
        "needs a file; missing folders are created",
    )
    s.add_argument("--json", action="store_true", help="same as --format json")


def _benchmark(s: argparse.ArgumentParser) -> None:
    path(s, "checkpoint", role="input", help="native or reference-implementation checkpoint")
    path(
        s,
        "artifact",
        role="input",
        nargs="?",
        help="the artifact lmuneuro convert wrote from it (.h5): adds the chip's figures",
    )
    s.add_argument(
        "--expect-sha256",
        metavar="HEX",
        help="refuse the artifact unless its SHA-256 is this one (convert prints it)",
    )
    add_inputs(s)
    add_device(s)
    s.add_argument(
        "--implementation",
        choices=("auto", "neurobench", "lmuneuro"),
        default="auto",
        help="who computes the float figures: NeuroBench's harness (auto: where installed) or "
        "lmuneuro's implementation",
    )
    path(
        s,
        "-o",
        "--output",
        role="output",
        help="write the report here instead of printing it: .html, .json or .txt (a table); "
        "missing folders are created",
    )
    s.add_argument("--json", action="store_true", help="the report as JSON")


def _inspect(s: argparse.ArgumentParser) -> None:
    add_artifact(s)
    path(
        s,
        "--profile",
        role="input",
        help="hardware profile for the resource limits (default: the artifact's target)",
    )
    s.add_argument(
        "--steps",
        type=number(int, 1, 10**7),
        help="frames per sample (default: the trained length)",
    )
    s.add_argument(
        "--json",
        action="store_true",
        help="the report as JSON (key processes: module, class, count)",
    )


def _export(s: argparse.ArgumentParser) -> None:
    path(
        s,
        "checkpoint",
        role="input",
        kind="checkpoint",
        help="native or reference-implementation checkpoint",
    )
    s.add_argument("--format", choices=["nir"], default="nir", help="the format to write")
    path(s, "-o", "--output", role="output", required=True, help="the file to write (.nir)")
    s.add_argument("--json", action="store_true", help="the summary as JSON")


def _synthesize(s: argparse.ArgumentParser) -> None:
    s.add_argument(
        "dataset",
        choices=["spoken-keywords", "scv2-synthetic", "keyword-stream"],
        help="spoken-keywords: 10 words x 220 clips; scv2-synthetic: the 35 Speech Commands "
        "words x 330 clips; keyword-stream: 8 / 2 / 8 streams of the 10 keywords",
    )
    s.add_argument(
        "--minutes",
        type=number(float, 0, 1440, open_lo=True),
        help="keyword-stream: each stream's length (default 5)",
    )
    path(s, "-o", "--output", role="output-dir", required=True, help="the data-set folder")
    s.add_argument(
        "--workers",
        type=number(int, 1, 1024),
        help="synthesis processes (default: one per CPU)",
    )
    s.add_argument(
        "--rebuild", action="store_true", help="make the folder again when it is damaged"
    )
    s.add_argument("--no-progress", action="store_true", help="no progress bar")
    s.add_argument("--json", action="store_true", help="the summary as JSON on stdout")


def _demo(s: argparse.ArgumentParser) -> None:
    path(
        s,
        "--workdir",
        role="output-dir",
        default="runs/demo",
        help="folder for the outputs (created if missing)",
    )
    s.add_argument("--epochs", type=EPOCHS, default=40, help="training epochs")
    s.add_argument(
        "--lava-samples", type=COUNT, default=30, help="test samples to run on Lava's simulator"
    )


VERBS = {
    "presets": Verb(
        "list the named model configurations",
        "List the named model presets with their parameter counts.",
        _presets,
    ),
    "train": Verb(
        "train a model and write a checkpoint",
        "Train a preset on a dataset with the reference recipe (Adam lr 2.5e-3, betas "
        "0.95/0.999, "
        "x0.85 every 10 epochs from epoch 10, BCE on one-hot targets; on speech-commands also its "
        "mixup, "
        "SpecAugment and noise). The checkpoint is "
        "rewritten after every epoch; --resume continues an interrupted run. For several GPUs "
        "run it under torchrun (DistributedDataParallel).",
        _train,
    ),
    "convert": Verb(
        "a trained spiking checkpoint -> a fixed-point Loihi 2 artifact (.h5)",
        "Fold BatchNorms into synapses, map every LIF onto Lava's LIFReset (the "
        "reference's >= "
        "threshold becomes Loihi's > exactly; biases as neuron biases), quantise each weight "
        "matrix as one "
        "or two 8-bit synapse processes with one weight exponent each (Dense, DelayDense, Sparse, "
        "DelaySparse), schedule the non-causal convolutions with delays, read the LMU memory's "
        "taps from "
        "a relay line, size every layer so that all its sums fit the chip's 16-bit a_in and a_out, "
        "check the target's cores, neurons and synapses and write one self-describing HDF5 file: "
        "one entry per Lava process. A quantisation-aware checkpoint (train "
        "--quantization-aware) records the settings it was fine-tuned for: the settings not "
        "given here come from that record, and one given that differs from it is warned about.",
        _convert,
    ),
    "verify": Verb(
        "float model vs fixed-point emulator on the same inputs",
        "Run the float model and the artifact's bit-accurate emulator on the same "
        "inputs and "
        "report top-1 agreement, accuracy of each, per-layer spike rates and the first layer "
        "where spikes diverge.",
        _verify,
    ),
    "run": Verb(
        "run an artifact on the emulator, Lava's simulator or Loihi 2",
        "Run a converted network. emulator: the batched emulator of Lava's "
        "fixed-point arithmetic (torch; fast, bit-exact, on the CPU or with --device cuda on a "
        "GPU); lava-sim: the Lava process graph on Lava's bit-accurate CPU "
        "simulator (Loihi2SimCfg fixed_pt), sample after sample; loihi2: the same graph on a Loihi "
        "2 "
        "board (needs Intel's Lava extension).",
        _run,
    ),
    "stream": Verb(
        "keyword spotting on continuous audio: detections, false alarms per hour, latency",
        "Run a converted keyword network on continuous audio without resets (one "
        "run as long as the stream), read its head over a sliding context as word probabilities, "
        "and report each detection (a word whose probability reaches --threshold, none for "
        "--refractory after one). On a folder of labelled streams (lmuneuro synthesize "
        "keyword-stream) also the detection rate, false alarms per hour and detection latency at "
        "that threshold and as a curve over thresholds (docs/detection.md); with --checkpoint "
        "the float model beside the chip's network. Times include each network's pipeline delay.",
        _stream,
    ),
    "energy": Verb(
        "per-layer synaptic operations and energy on a hardware profile",
        "Count what the converted network does per sample (spikes, synaptic events = "
        "spikes x "
        "their non-zero synapses, neuron updates, routed messages, the real-valued MACs that "
        "remain) "
        "from a run's measured activity, and price it with a hardware profile's constants "
        f"(hardware_profiles/: {', '.join(list_profiles())}, or a .toml path). Also "
        "counts "
        "the same network as a non-spiking ANN (PyTorch's FLOP counter) for the SNN/ANN comparison "
        "the LMUFormer paper makes. Give --activity from lmuneuro run, or inputs to run now.",
        _energy,
    ),
    "benchmark": Verb(
        "NeuroBench's metrics of the float model and of the chip's network",
        "NeuroBench's metrics (neurobench 2.3.0's names and definitions, per sample: "
        "Footprint, ConnectionSparsity, ActivationSparsity, SynapticOperations, MembraneUpdates, "
        "ClassificationAccuracy with labels) of the checkpoint's float model, by NeuroBench's own "
        "harness where neurobench is installed (else by lmuneuro's implementation, equal to it), "
        "and with an artifact the same metrics of its fixed-point network on the emulator. What "
        "NeuroBench does not count (the LMU memory's taps, the relays, the graded residual "
        "terms) is reported apart. docs/neurobench.md defines each.",
        _benchmark,
    ),
    "inspect": Verb(
        "the Lava processes an artifact deploys and every chip limit with its margin",
        "Print every Lava process class the network instantiates (module and class, "
        "with counts), "
        "neuro-cores per population, the largest synaptic delay, the weight-exponent range and "
        "each "
        "chip limit (a_out and a_in widths, delays, payload bits, cores, neurons, synapses) at its "
        "tightest place with its margin. Exit 2 with one line per violated limit.",
        _inspect,
    ),
    "export": Verb(
        "write a spiking checkpoint as a NIR graph (norse runs it through nirtorch)",
        "Write a spiking checkpoint (native or reference layout) as a NIR graph "
        "(Neuromorphic Intermediate Representation, HDF5): LIF populations with BatchNorm folded "
        "in, the convolutions in time and the LMU memory as Delay + Linear taps, residual adds as "
        "fan-in, the head as Affine. Exact in float64 under forward Euler: norse's LIF cells "
        "through nirtorch's graph executor (lmuneuro.compile.nirgraph.run_norse) reproduce every "
        "spike. No other reader was found: norse's own from_nir, snnTorch 1.0, sinabs 3.1 and "
        "rockpool 3.1 refuse the graph and spyx 1.0 builds a different network (docs/nir.md).",
        _export,
    ),
    "synthesize": Verb(
        "synthesise a spoken-word data set with espeak-ng",
        "Synthesise a data set of spoken words with espeak-ng (no download): each "
        "word in many voices, accents, speeds and pitches, at a random offset in one second of "
        "noise, saved as 16 kHz WAV clips with a manifest of their SHA-256. Speakers are "
        "disjoint between train, validation and test. A folder that already holds the data set "
        "is checked and reused; a damaged one is refused unless --rebuild. keyword-stream: "
        "long streams of noise and non-keyword words with the spoken-keywords words at random "
        "times, a label file (word, onset, offset) per stream.",
        _synthesize,
    ),
    "demo": Verb(
        "the end-to-end demo on built-in data (no download)",
        "The whole pipeline on the built-in digits: train the small spiking preset, "
        "convert it for Loihi 2, run it on the emulator and on Lava's bit-accurate "
        "simulator, print float vs fixed-point vs Lava accuracy and write the energy report.",
        _demo,
    ),
}
