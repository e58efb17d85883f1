"""The ``lmuneuro`` command line: thin wrappers that parse, call the library and print."""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import sys
import threading
from collections import Counter
from pathlib import Path

from .backends import BACKENDS
from .compile.settings import SETTINGS, Setting
from .files import printable, to_json
from .profiles import list_profiles
from .version import __version__

EXIT_BAD_INPUT = 2


class _Help(argparse.ArgumentDefaultsHelpFormatter):
    """Defaults shown where there is one: not for flags, nor for options whose help says it."""

    def _get_help_string(self, action):
        if action.default is None or action.default is False:
            return action.help
        return super()._get_help_string(action)


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2, like every other bad-input error here
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message}\n")


def _number(kind: type, lo, hi, *, open_lo: bool = False):
    """An argparse type for a count or a size: ``kind`` within [lo, hi] (lo excluded with
    ``open_lo``), checked when the arguments are parsed."""

    def parse(text: str):
        try:
            v = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected {'an integer' if kind is int else 'a number'}, got {text!r}"
            ) from None
        if not (lo < v if open_lo else lo <= v) or not v <= hi:  # also refuses NaN
            raise argparse.ArgumentTypeError(
                f"must be {'above' if open_lo else 'at least'} {lo:,} and at most "
                f"{hi:,}, got {text}"
            )
        return v

    parse.bounds, parse.open_lo = (lo, hi), open_lo  # the command-line contract test reads these
    return parse


INT_MAX = 2**31 - 1  # a count beyond it is a typo, not a request
COUNT = _number(int, 1, INT_MAX)
EPOCHS = _number(int, 1, 100_000)


def _path(s: argparse.ArgumentParser, *flags, role: str, kind: str | None = None, **kw) -> None:
    """A path argument with its role: ``input``/``input-dir`` (read) or ``output``/``output-dir``
    (written). Outputs are checked against every input before the command runs. ``kind``
    (``checkpoint`` or ``artifact``): the file's content is checked to be one (``check_kinds``)."""
    action = s.add_argument(*flags, **kw)
    action.role, action.kind = role, kind


def _roles(s: argparse.ArgumentParser) -> dict[str, str]:
    return {a.dest: a.role for a in s._actions if hasattr(a, "role")}


def _kinds(s: argparse.ArgumentParser) -> dict[str, str]:
    return {a.dest: a.kind for a in s._actions if getattr(a, "kind", None)}


def _cmd_presets(args) -> int:
    from .models import PRESETS, build_model

    rows = []
    for name, cfg in PRESETS.items():
        n = sum(p.numel() for p in build_model(cfg).parameters())
        rows.append({"preset": name, "parameters": n, **cfg.to_dict()})
    if args.json:
        print(to_json(rows, indent=2))
    else:
        w = max(len(name) for name in PRESETS)
        print(
            f"{'preset':{w}s} {'params':>10s}  spiking  dim  depth  memory  theta  steps  in  "
            "classes"
        )
        for r in rows:
            print(
                f"{r['preset']:{w}s} {r['parameters']:>10,d}  {str(r['spiking']):7s} {r['dim']:4d} "
                f"{r['depth']:6d} "
                f"{r['memory_size']:7d} {r['theta']:6g} {r['seq_len']:6d} {r['in_features']:3d} "
                f"{r['num_classes']:8d}"
            )
    return 0


def _settings(args) -> dict:
    """The conversion settings given on the command line."""
    return {s.name: getattr(args, s.name) for s in SETTINGS if getattr(args, s.name) is not None}


def _cmd_train(args) -> int:
    from .train import TrainConfig, train

    settings = _settings(args)
    if settings and not args.quantization_aware:
        flags = ", ".join("--" + k.replace("_", "-") for k in settings)
        raise ValueError(
            f"{flags}: conversion settings apply to --quantization-aware training only"
        )
    if settings.get("weight_sets") == "auto":
        raise ValueError(
            "--weight-sets auto is chosen on data at conversion (lmuneuro convert); fine-tune for "
            "1 or 2"
        )

    if args.init and args.resume:
        raise ValueError("--init starts a new run and --resume continues one: choose one")
    cfg = TrainConfig(
        preset=args.preset,
        dataset=args.dataset,
        output=args.output,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        seed=args.seed,
        device=args.device,
        data_dir=args.data_dir,
        resume=args.resume,
        num_workers=args.workers,
        max_batches=args.max_batches,
        augment=not args.no_augment,
        head_lr_scale=args.head_lr_scale,
        time_budget=args.time_budget,
        init=args.init,
        quantization_aware=args.quantization_aware,
        settings=settings,
    )
    log = (lambda *a, **k: print(*a, file=sys.stderr, **k)) if args.json else print
    final = train(cfg, log=log, progress=not args.no_progress)
    if os.environ.get("RANK", "0") != "0":  # under torchrun only rank 0 reports
        return 0
    if args.json:
        print(to_json({"output": args.output, **final}))
    else:
        print(f"wrote {args.output}")
    return 0


def _cmd_convert(args) -> int:
    out, settings = args.output, _settings(args)
    data = {"dataset": args.dataset, "inputs": args.inputs}
    calibrate = {
        **data,
        "data_dir": args.data_dir,
        "samples": args.samples,
        "tolerance": args.tolerance,
    }
    if args.calibrate and not any(data.values()):
        raise ValueError("--calibrate measures on data: give --dataset or --inputs")
    if args.calibrate and "input_range" in settings:
        raise ValueError("--input-range: --calibrate chooses the input range from the data")
    if settings.get("weight_sets") == "auto":
        if not any(data.values()):
            raise ValueError(
                "--weight-sets auto measures fidelity on data: give --dataset or --inputs"
            )
        from .analysis.calibration import convert_calibrated

        if "single_set" in settings:
            raise ValueError("--single-set: --weight-sets auto chooses those layers itself")
        del settings["weight_sets"]
        given = {k: v for k, v in calibrate.items() if v is not None}
        r = convert_calibrated(
            args.checkpoint,
            out,
            preset=args.preset,
            progress=not args.json,
            calibrate=args.calibrate,
            **given,
            **settings,
        )
    else:
        given = {k: v for k, v in calibrate.items() if v is not None}
        if given and not args.calibrate:
            flags = ", ".join("--" + k.replace("_", "-") for k in given)
            raise ValueError(
                f"{flags}: calibration data for --weight-sets auto or --calibrate only"
            )
        if args.tolerance is not None:
            raise ValueError("--tolerance: for --weight-sets auto only")
        from .compile.convert import convert

        r = convert(
            args.checkpoint,
            out,
            preset=args.preset,
            calibrate=given if args.calibrate else None,
            **settings,
        )
    for w in r.warnings:
        print(f"warning: {printable(w)}", file=sys.stderr)
    if args.json:
        print(to_json(r.to_dict(), indent=2))
        return 0
    print(
        f"{'population':30s} {'class':8s} {'neurons':>8s} {'synapses':>10s} {'procs':>5s} "
        f"{'cores':>5s} {'chips':>5s} {'lag':>4s} {'vth':>5s} {'weight err':>10s}"
    )
    for row in r.layers:
        lag = "" if row["lag"] is None else str(row["lag"])
        print(
            f"{row['layer']:30s} {row['class']:8s} {row['neurons']:8d} {row['synapses']:10,d} "
            f"{row['processes']:5d} {row['cores']:5d} {len(row['chips']):5d} {lag:>4s} "
            f"{row['vth_mant']:5d} "
            f"{row['weight_error']:10.2%}"
        )
    kinds = Counter(row["class"] for row in r.layers)
    use = ", ".join(
        f"chip {u['chip']} {u['cores']} cores ({u['fraction']:.0%})" for u in r.chip_use
    )
    print(
        f"wrote {out}: {kinds['LIFReset']} LIF layers, {kinds['LIF']} relay population(s) and "
        f"{kinds['GradedVec']} residual term(s) as "
        f"{r.processes} Lava processes (the table's and the gate's source) on {r.cores} "
        f"neuro-cores of {r.chips} "
        f"{r.meta['target']} chip(s) ({use}), algorithmic delay {r.delay_steps} steps"
    )
    choice = r.weight_set_choice
    if choice:
        two, chosen = choice["two_sets"], choice["chosen"]
        print(
            f"weight sets: one set into {len(choice['single_set'])} of the {choice['candidates']} "
            f"layers that had two ({chosen['synapses']:,d} synapses, {two['synapses']:,d} with two "
            f"sets everywhere): logit error {chosen['error']:.4f} against {two['error']:.4f}, "
            f"bound {choice['bound']:.4f}, on {choice['samples']} calibration samples "
            f"({choice['trials']} conversions measured)"
        )
    if r.calibration:
        _print_calibration(r.calibration)
    print(f"SHA-256 {r.sha256} (pin it with --expect-sha256 where the artifact is used)")
    return 0


def _print_clipped(n: int) -> None:
    if n:
        print(
            f"inputs: {n:,} values beyond the artifact's input range were clipped (convert "
            "--input-range sets it, or --calibrate from data)"
        )


def _print_calibration(c: dict) -> None:
    """What ``convert --calibrate`` chose, and each layer's spike mismatch on the calibration
    samples without calibration and with it."""
    tried = ", ".join(
        f"{t['input_range']:.4g} with {t['frac_bits']} bits {t['mismatch']:.3%}"
        for t in c["candidates"]
    )
    print(
        f"calibration on {c['samples']} samples: input range {c['input_range']:.4g} (without "
        f"calibration {c['uncalibrated_input_range']:.4g}; {c['clipped']:,} of {c['values']:,} "
        f"calibration values beyond it are clipped; first-layer mismatch per input range and "
        "fraction bits tried: "
        f"{tried}); bias correction "
        + ("applied" if c["bias_corrected"] else "not kept (it did not lower the mismatch)")
    )
    print(f"{'layer':30s} {'mismatch without':>16s} {'with calibration':>16s} {'bias shift':>10s}")
    for row in c["layers"]:
        print(
            f"{row['layer']:30s} {row['mismatch_before']:16.3%} {row['mismatch_after']:16.3%} "
            f"{row['bias_shift']:10.2%}"
        )


def _cmd_verify(args) -> int:
    from .analysis.verify import verify

    r = verify(
        args.checkpoint,
        args.artifact,
        dataset=args.dataset,
        inputs=args.inputs,
        data_dir=args.data_dir,
        samples=args.samples,
        device=args.device,
    )
    if args.json:
        print(to_json(r.to_dict(), indent=2))
        return 0
    print(
        f"{'population':30s} {'rate float':>10s} {'rate fixed':>10s} {'mismatch':>9s} "
        f"{'weight err':>10s} {'SynOps float':>12s} {'SynOps fixed':>12s}"
    )
    for row in r.layers:
        spikes = (
            f"{row.rate_float:10.4f} {row.rate_fixed:10.4f} {row.mismatch:9.2%}"
            if row.mismatch is not None
            else f"{'(relay)' if row.lava_class == 'LIF' else '(residual term)':>31s}"
        )
        print(
            f"{row.layer:30s} {spikes} {row.weight_error:10.2%} {row.synops_float:12,.0f} "
            f"{row.synops_fixed:12,.0f}"
        )
    line = f"{r.samples} samples: top-1 agreement float vs fixed {r.agreement:.2%}"
    if r.accuracy_float is not None:
        line += f"; accuracy float {r.accuracy_float:.2%}, fixed {r.accuracy_fixed:.2%}"
    print(line)
    u = r.uncalibrated
    if u is not None:
        per_layer = ", ".join(
            f"{a.layer} {a.mismatch:.2%} -> {b.mismatch:.2%}"
            for a, b in zip(u.layers, r.layers)
            if a.mismatch is not None
        )
        print(
            f"calibration: without it on the same inputs, agreement {u.agreement:.2%}"
            + (f", accuracy fixed {u.accuracy_fixed:.2%}" if u.accuracy_fixed is not None else "")
            + f"; spike mismatch per layer without -> with: {per_layer}"
        )
    ops = r.operations
    ratio = ops.chip_per_model_synop
    print(
        f"operations per sample: the model {ops.model_synops:,.0f} SynOps (the paper's "
        f"convention) + {ops.model_graded_macs:,.0f} MACs on the graded input; the chip "
        f"{ops.chip_synaptic_events:,.0f} spike-driven synaptic events"
        + (f" ({ratio:.2f} x the model's)" if ratio is not None else "")
        + f" + {ops.chip_graded_events:,.0f} graded"
    )
    if r.quantization_aware is not None:
        qa = r.quantization_aware
        print(
            f"quantisation-aware checkpoint: its own forward pass vs fixed: top-1 agreement "
            f"{qa.agreement:.2%}, logits bit-identical for {qa.logits_identical:.2%} of samples"
        )
    _print_clipped(r.inputs_clipped)
    fd = r.first_divergence
    print(
        "spikes identical in every layer"
        if fd is None
        else f"first divergence: {fd.layer}, sample {fd.sample}, step {fd.step}, neuron {fd.neuron}"
    )
    return 0


_REPORT_SUFFIXES = {".html": "html", ".htm": "html", ".json": "json", ".txt": "table", "": "table"}


def _report_format(output, as_json: bool) -> str:
    """The format of a report written to ``output`` (None: printed), checked before any work:
    "json", "table" or "html" from its extension, and what --json asks for."""
    suffix = Path(output).suffix.lower() if output else ""
    if suffix not in _REPORT_SUFFIXES:
        raise ValueError(
            f"-o {output}: no {suffix} report is written; give a name ending in .html, .json "
            "or .txt (a table)"
        )
    fmt = _REPORT_SUFFIXES[suffix]
    if as_json and suffix and fmt != "json":
        raise ValueError(f"-o {output}: the extension {suffix} contradicts --json")
    return "json" if as_json else fmt


def _emit(output, fmt: str, r: dict, table, page) -> int:
    """Print the report ``r`` (a dict), or write it to ``output``: as JSON, ``table(r)`` or
    ``page(r)`` (HTML) by ``fmt`` (``_report_format``)."""
    from .files import write_output

    text = to_json(r, indent=2) if fmt == "json" else (table if fmt == "table" else page)(r)
    if output:
        write_output(output, text)
        print(f"report written to {output}", file=sys.stderr)
    else:
        print(text)
    return 0


def _cmd_energy(args) -> int:
    from .analysis.rendering import (
        format_comparison,
        format_table,
        render_comparison_html,
        render_html,
    )
    from .files import write_output
    from .running import energy

    fmt = "json" if args.json else args.format
    suffix = Path(args.output).suffix.lower() if args.output else ""
    if suffix not in _REPORT_SUFFIXES:  # before any work: never a table in a file named .pdf
        raise ValueError(
            f"-o {args.output}: no {suffix} report is written; give a name ending in .html, .json "
            "or .txt (a table)"
        )
    if fmt is None:
        fmt = _REPORT_SUFFIXES[suffix]
    elif suffix and fmt != _REPORT_SUFFIXES[suffix]:
        raise ValueError(f"-o {args.output}: the extension {suffix} contradicts --format {fmt}")
    if fmt == "html" and not args.output:
        raise ValueError("--format html needs -o FILE")
    names = _profiles(args.profile)
    rs = energy(
        args.artifact,
        args.inputs,
        dataset=args.dataset,
        data_dir=args.data_dir,
        samples=args.samples,
        recorded=args.activity,
        profile=[n.strip() for n in names],
        backend=args.backend,
        device=args.device,
        step_us=args.step_us,
        frame_ms=args.frame_ms,
        progress=fmt != "json",
    )
    one = rs[0] if len(rs) == 1 else None
    text = {
        "json": lambda: to_json(
            one.to_dict() if one else {"profiles": [r.to_dict() for r in rs]}, indent=2
        ),
        "table": lambda: format_table(one) if one else format_comparison(rs),
        "html": lambda: render_html(one) if one else render_comparison_html(rs),
    }[fmt]()
    if args.output:
        write_output(args.output, text)
        print(f"{fmt} report written to {args.output}", file=sys.stderr)
    else:
        print(text)
    return 0


def _cmd_benchmark(args) -> int:
    from .analysis.neurobench import benchmark
    from .analysis.rendering import format_benchmark, render_benchmark_html

    fmt = _report_format(args.output, args.json)
    r = benchmark(
        args.checkpoint,
        args.artifact,
        dataset=args.dataset,
        inputs=args.inputs,
        data_dir=args.data_dir,
        samples=args.samples,
        device=args.device,
        implementation=args.implementation,
    ).to_dict()
    return _emit(args.output, fmt, r, format_benchmark, render_benchmark_html)


def _cmd_run(args) -> int:
    from .files import write_output
    from .running import run

    if args.float and args.backend != "lava-sim":
        raise ValueError("--float runs Lava's floating_pt models: it needs --backend lava-sim")
    r = run(
        args.artifact,
        args.inputs,
        dataset=args.dataset,
        data_dir=args.data_dir,
        samples=args.samples,
        backend=args.backend,
        device=args.device,
        floating=args.float,
        per_step=args.per_step,
        record_activity=args.activity is not None,
        progress=not args.json,
    )
    report = r.to_dict(predictions=args.predictions, logits=args.logits)
    if args.activity:
        act = {"backend": args.backend, **r.activity.to_dict()}
        write_output(args.activity, to_json(act, indent=2))
        report["activity"] = args.activity
    if args.json:
        print(to_json(report, indent=2))
        return 0
    line = f"{r.backend}: {r.samples} samples in {r.seconds:.2f} s ({r.samples_per_second:.1f}/s)"
    print(line + (f", accuracy {r.accuracy:.2%}" if r.accuracy is not None else ""))
    for p in r.per_step or []:
        acc = f"accuracy {p.accuracy:.2%}, " if p.accuracy is not None else ""
        print(
            f"  after {p.steps_seen:4d} steps ({p.fraction:4.0%}): {acc}same as final "
            f"{p.agreement_with_final:.2%}"
        )
    _print_clipped(r.inputs_clipped)
    if args.activity:
        print(f"activity written to {args.activity}")
    return 0


def _profiles(text: str) -> list[str]:
    """--profile: a .toml file, or names separated by commas."""
    return [text] if Path(text).is_file() else text.split(",")


def _cmd_stream(args) -> int:
    from .analysis.rendering import format_stream, render_stream_html
    from .spotting import Readout, stream

    fmt = _report_format(args.output, args.json)
    r = stream(
        args.artifact,
        wav=args.wav,
        stream_dir=args.stream_dir,
        split=args.split,
        streams=args.streams,
        checkpoint=args.checkpoint,
        backend=args.backend,
        device=args.device,
        readout=Readout(args.context, args.smoothing, args.threshold, args.refractory, args.window),
        profiles=_profiles(args.profile),
        progress=not args.json,
    ).to_dict()
    return _emit(args.output, fmt, r, format_stream, render_stream_html)


def _cmd_inspect(args) -> int:
    from .analysis.inspection import inspect_network

    r = inspect_network(args.artifact, profile=args.profile, steps=args.steps)
    if args.json:
        print(to_json(r, indent=2))
    else:
        print(f"{args.artifact}: {sum(p['count'] for p in r['processes'])} Lava processes")
        for p in r["processes"]:
            print(f"  {p['count']:5d}  {p['module']}.{p['class']}")
        print(
            f"{'population':30s} {'class':8s} {'neurons':>8s} {'synapses':>10s} {'procs':>5s} "
            f"{'cores':>5s}"
        )
        for row in r["layers"]:
            print(
                f"{row['layer']:30s} {row['class']:8s} {row['neurons']:8d} {row['synapses']:10,d} "
                f"{row['processes']:5d} "
                f"{row['cores']:5d}"
            )
        d = r["largest_delay"]
        print(
            f"neuro-cores {r['cores']} on {r['chips']} {r['profile']} chip(s); largest synaptic "
            f"delay {d['steps']} "
            f"steps ({d['process']}); "
            f"weight exponents {r['weight_exp_range'][0]} to {r['weight_exp_range'][1]}; "
            f"algorithmic delay {r['algorithmic_delay']} steps"
        )
        print("limits (the tightest place of each):")
        for v in r["tightest"]:
            print(f"  {'ok  ' if v['ok'] else 'FAIL'} {v['text']}, margin {v['margin']:,.0f}")
    for line in r["violations"]:
        print(f"lmuneuro inspect: error: {line}", file=sys.stderr)
    return EXIT_BAD_INPUT if r["violations"] else 0


def _cmd_export(args) -> int:
    from .compile.nirgraph import export_nir

    r = export_nir(args.checkpoint, args.output)
    if args.json:
        print(to_json(r, indent=2))
    else:
        nodes = ", ".join(f"{n} {k}" for k, n in sorted(r["nodes"].items()))
        print(f"wrote {args.output}: NIR graph of {nodes}; {r['edges']} edges; dt {r['dt']} s")
    return 0


def _cmd_synthesize(args) -> int:
    from dataclasses import replace

    from .data import KEYWORD_STREAM, RECIPES, spoken, stream

    streams = args.dataset == "keyword-stream"
    if args.minutes is not None and not streams:
        raise ValueError("--minutes is for keyword-stream only")
    if streams:
        minutes = args.minutes or KEYWORD_STREAM.minutes
        again = f"lmuneuro synthesize keyword-stream -o DIR --minutes {minutes:g} --rebuild"
        recipe = replace(KEYWORD_STREAM, minutes=minutes, make=again)
        build = stream.build
    else:
        recipe, build = RECIPES[args.dataset], spoken.build
    r = build(
        args.output,
        recipe,
        workers=args.workers,
        rebuild=args.rebuild,
        progress=not args.no_progress,
    )
    if args.json:
        print(to_json({"dataset": args.dataset, "folder": args.output, **r}))
        return 0
    what = "synthesised" if r["built"] else "checked, reused"
    if streams:
        counts = ", ".join(f"{n} {s}" for s, n in r["streams"].items())
        keywords = ", ".join(f"{n} {s}" for s, n in r["keywords"].items())
        print(
            f"{args.output}: {what} {counts} streams of {r['minutes']:g} min "
            f"(keywords: {keywords}) in {r['seconds']:.0f} s"
        )
    else:
        counts = ", ".join(f"{n} {s}" for s, n in r["clips"].items())
        print(f"{args.output}: {what} {counts} clips in {r['seconds']:.0f} s")
    return 0


def _cmd_demo(args) -> int:
    from .demo import run_demo

    run_demo(args.workdir, epochs=args.epochs, lava_samples=args.lava_samples)
    return 0


def _add_artifact(s: argparse.ArgumentParser) -> None:
    _path(
        s,
        "artifact",
        role="input",
        kind="artifact",
        help="the artifact lmuneuro convert wrote (.h5)",
    )
    s.add_argument(
        "--expect-sha256",
        metavar="HEX",
        help="refuse the artifact unless its SHA-256 is this one (convert prints it): the checksum "
        "inside "
        "an artifact shows damage, not who made it",
    )


def _add_inputs(
    s: argparse.ArgumentParser, activity: bool = False, calibration: bool = False
) -> None:
    """The inputs to run on; ``calibration``: the optional data of --weight-sets auto and
    --calibrate."""
    src = s.add_mutually_exclusive_group(required=not calibration)
    if activity:
        _path(
            src,
            "--activity",
            role="input",
            metavar="FILE",
            help="activity recorded by lmuneuro run --activity",
        )
    split = "training" if calibration else "test"
    src.add_argument(
        "--dataset", help=f"use this dataset's {split} split (digits, speech-commands, ...)"
    )
    _path(src, "--inputs", role="input", help=".npy float array (samples, steps, features)")
    _path(s, "--data-dir", role="input-dir", help="dataset folder where the dataset needs one")
    s.add_argument(
        "--samples",
        type=COUNT,
        help="calibrate on N samples spread over the data (default: 256)"
        if calibration
        else "use the first N samples",
    )
    if calibration:
        s.add_argument(
            "--tolerance",
            type=_number(float, 0.0, 10.0),
            metavar="FRACTION",
            help="with --weight-sets auto: the logit error one set may add, as a fraction of the "
            "error with two sets everywhere (default: 0.25)",
        )


def _add_device(s: argparse.ArgumentParser) -> None:
    s.add_argument(
        "--device",
        default="cpu",
        help="where the emulator runs: cpu, or cuda / cuda:N for an NVIDIA GPU (bit for bit the "
        "same results)",
    )


# values the command line adds to a setting's choices, with their help: chosen on data
_CHOSEN_ON_DATA = {
    "weight_sets": (
        "auto",
        "auto (convert only): one set into every layer where the network's logits stay within "
        "--tolerance, measured on calibration data (--dataset or --inputs)",
    )
}


def _setting_type(setting: Setting, extra: str | None = None):
    """An argparse type for a conversion setting: the text as its kind (a tuple: comma-separated),
    checked by its declaration, so that a value out of bounds gets the message that ``Settings``
    and a checkpoint's record give; choices are argparse's to name."""

    def parse(text: str):
        if text == extra:
            return text
        kind = setting.kind
        try:
            v = tuple(n for n in text.split(",") if n) if kind is tuple else kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected {'an integer' if kind is int else 'a number'}, got {text!r}"
            ) from None
        if setting.choices is not None:
            return v
        try:
            return setting.check(v)
        except ValueError as e:
            raise argparse.ArgumentTypeError(str(e)) from None

    if setting.bounds is not None:  # the command-line contract test reads these
        parse.bounds, parse.open_lo = setting.bounds, setting.open_lo
    return parse


def _add_settings(p) -> None:
    """The conversion settings (``compile.settings.SETTINGS``), shared by convert and train."""
    for s in SETTINGS:
        extra, extra_help = _CHOSEN_ON_DATA.get(s.name, (None, None))
        kw = {
            "type": _setting_type(s, extra),
            "help": "; ".join(h for h in (s.help, extra_help) if h)
            + f" (default: {s.default if s.default_help is None else s.default_help})",
        }
        if s.choices is not None:
            kw["choices"] = s.choices + ((extra,) if extra else ())
        if s.metavar is not None:
            kw["metavar"] = s.metavar
        if s.path:
            _path(p, s.flag, role="input", **kw)
        else:
            p.add_argument(s.flag, **kw)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="lmuneuro", description="Spiking LMUFormer: train in PyTorch, deploy to Loihi 2."
    )
    p.add_argument("--version", action="version", version=f"lmuneuro {__version__}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser, metavar="COMMAND")

    s = sub.add_parser(
        "presets",
        help="list the named model configurations",
        description="List the named model presets with their parameter counts.",
    )
    s.add_argument("--json", action="store_true", help="machine-readable output")
    s.set_defaults(func=_cmd_presets)

    s = sub.add_parser(
        "train",
        help="train a model and write a checkpoint",
        description="Train a preset on a dataset with the reference recipe (Adam lr 2.5e-3, betas "
        "0.95/0.999, "
        "x0.85 every 10 epochs from epoch 10, BCE on one-hot targets; on speech-commands also its "
        "mixup, "
        "SpecAugment and noise). The checkpoint is "
        "rewritten after every epoch; --resume continues an interrupted run. For several GPUs "
        "run it under torchrun (DistributedDataParallel).",
        formatter_class=_Help,
    )
    s.add_argument("--preset", required=True, help="model preset (see `lmuneuro presets`)")
    s.add_argument(
        "--dataset",
        required=True,
        help="digits | digits-pixels | speech-commands | spoken-keywords | scv2-synthetic",
    )
    _path(
        s,
        "-o",
        "--output",
        role="output",
        required=True,
        help="checkpoint to write (.pt); missing folders are created",
    )
    _path(
        s,
        "--data-dir",
        role="input-dir",
        help="dataset folder (speech-commands: the extracted SCv2 folder; spoken-keywords, "
        "scv2-synthetic: the folder `lmuneuro synthesize` writes)",
    )
    s.add_argument("--epochs", type=EPOCHS, default=20, help="passes over the training set")
    s.add_argument(
        "--batch-size", type=_number(int, 1, 2**20), default=128, help="samples per optimizer step"
    )
    s.add_argument(
        "--lr",
        type=_number(float, 0.0, 10.0, open_lo=True),
        default=2.5e-3,
        help="Adam learning rate before the step decay",
    )
    s.add_argument(
        "--head-lr-scale",
        type=_number(float, 0.0, 1e6, open_lo=True),
        default=1.0,
        help="the classifier head's learning rate is --lr times this; a spiking head reads spike "
        "rates of a few per cent and on long sequences (audio) learns its scale slowly "
        "at 1 (the reference's recipe): 10 speeds it up",
    )
    s.add_argument(
        "--seed",
        type=_number(int, 0, 2**32 - 1),
        default=0,
        help="seeds initial weights, shuffling and augmentation",
    )
    s.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    s.add_argument(
        "--workers",
        type=_number(int, 0, 256),
        default=0,
        help="data-loader worker processes (0: load in the main process)",
    )
    s.add_argument(
        "--time-budget",
        type=_number(float, 0.0, 1e6, open_lo=True),
        help="minutes: start no epoch that would end after this (by the mean epoch so far), so "
        "that as many epochs as fit are trained; --epochs still sets the learning-rate schedule's "
        "length",
    )
    s.add_argument("--resume", action="store_true", help="continue from the checkpoint at --output")
    _path(
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
    _add_settings(s)
    s.add_argument("--max-batches", type=COUNT, help="limit batches per epoch (smoke runs)")
    s.add_argument(
        "--no-augment",
        action="store_true",
        help="speech-commands: no mixup 0.6 / SpecAugment 48+48 / noise (the reference's recipe)",
    )
    s.add_argument("--no-progress", action="store_true", help="no progress bar")
    s.add_argument("--json", action="store_true", help="print the final metrics as JSON on stdout")
    s.set_defaults(func=_cmd_train)

    s = sub.add_parser(
        "convert",
        help="a trained spiking checkpoint -> a fixed-point Loihi 2 artifact (.h5)",
        description="Fold BatchNorms into synapses, map every LIF onto Lava's LIFReset (the "
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
        formatter_class=_Help,
    )
    _path(
        s,
        "checkpoint",
        role="input",
        kind="checkpoint",
        help="native or reference-implementation checkpoint",
    )
    _path(
        s,
        "-o",
        "--output",
        role="output",
        help="artifact to write (default: the checkpoint's name with .h5); missing folders are "
        "created",
    )
    s.add_argument("--preset", help="check the checkpoint against this preset")
    _add_settings(s)
    _add_inputs(s, calibration=True)
    s.add_argument(
        "--calibrate",
        action="store_true",
        help="choose the input range and the neurons' biases on calibration data (--dataset's "
        "training split or --inputs, unlabelled; at least 8 samples): each choice measured on the "
        "emulator against the float model; the limits hold for every input within the chosen "
        "range, and values beyond it are clipped and reported",
    )
    s.add_argument("--json", action="store_true", help="the conversion report as JSON")
    s.set_defaults(func=_cmd_convert)

    s = sub.add_parser(
        "verify",
        help="float model vs fixed-point emulator on the same inputs",
        description="Run the float model and the artifact's bit-accurate emulator on the same "
        "inputs and "
        "report top-1 agreement, accuracy of each, per-layer spike rates and the first layer "
        "where spikes diverge.",
        formatter_class=_Help,
    )
    _path(s, "checkpoint", role="input", kind="checkpoint")
    _add_artifact(s)
    _add_inputs(s)
    _add_device(s)
    s.add_argument("--json", action="store_true", help="the report as JSON")
    s.set_defaults(func=_cmd_verify)

    s = sub.add_parser(
        "run",
        help="run an artifact on the emulator, Lava's simulator or Loihi 2",
        description="Run a converted network. emulator: the batched emulator of Lava's "
        "fixed-point arithmetic (torch; fast, bit-exact, on the CPU or with --device cuda on a "
        "GPU); lava-sim: the Lava process graph on Lava's bit-accurate CPU "
        "simulator (Loihi2SimCfg fixed_pt), sample after sample; loihi2: the same graph on a Loihi "
        "2 "
        "board (needs Intel's Lava extension).",
        formatter_class=_Help,
    )
    _add_artifact(s)
    s.add_argument("--backend", choices=BACKENDS, default="emulator")
    _add_inputs(s)
    _add_device(s)
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
    _path(
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
    s.set_defaults(func=_cmd_run)

    s = sub.add_parser(
        "stream",
        help="keyword spotting on continuous audio: detections, false alarms per hour, latency",
        description="Run a converted keyword network on continuous audio without resets (one "
        "run as long as the stream), read its head over a sliding context as word probabilities, "
        "and report each detection (a word whose probability reaches --threshold, none for "
        "--refractory after one). On a folder of labelled streams (lmuneuro synthesize "
        "keyword-stream) also the detection rate, false alarms per hour and detection latency at "
        "that threshold and as a curve over thresholds (docs/detection.md); with --checkpoint "
        "the float model beside the chip's network. Times include each network's pipeline delay.",
        formatter_class=_Help,
    )
    _add_artifact(s)
    audio = s.add_mutually_exclusive_group(required=True)
    _path(audio, "--wav", role="input", help="a 16 kHz mono 16-bit WAV file (no labels)")
    _path(
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
        "--streams", type=_number(int, 1, 10**6), help="with --stream-dir: only the first N"
    )
    _path(
        s,
        "--checkpoint",
        role="input",
        kind="checkpoint",
        help="the checkpoint the artifact was converted from: its float model runs beside it",
    )
    s.add_argument("--backend", choices=[b for b in BACKENDS if b != "loihi2"], default="emulator")
    _add_device(s)
    s.add_argument(
        "--context",
        type=_number(int, 1, 10**6),
        help="frames the head averages (default: the trained clip length)",
    )
    s.add_argument(
        "--smoothing", type=_number(int, 1, 10**6), default=1, help="frames of probability averaged"
    )
    s.add_argument(
        "--threshold",
        type=_number(float, 0, 1, open_lo=True),
        default=0.9,
        help="the probability at which a word is reported",
    )
    s.add_argument(
        "--refractory",
        type=_number(float, 0, 3600),
        default=1.0,
        metavar="SECONDS",
        help="no detection for this long after one",
    )
    s.add_argument(
        "--window",
        type=_number(float, 0, 3600),
        default=1.0,
        metavar="SECONDS",
        help="a detection counts from the word's start to this long after its end",
    )
    _path(
        s,
        "--profile",
        role="input",
        default="loihi2",
        help="hardware profile(s) for the energy per hour of listening, comma-separated "
        "(loihi2,cmos45-snn,cmos45-ann), or a .toml path",
    )
    _path(
        s,
        "-o",
        "--output",
        role="output",
        help="write the report here instead of printing it: .html (with the curve), .json or "
        ".txt; missing folders are created",
    )
    s.add_argument("--json", action="store_true", help="the report as JSON")
    s.set_defaults(func=_cmd_stream)

    s = sub.add_parser(
        "energy",
        help="per-layer synaptic operations and energy on a hardware profile",
        description="Count what the converted network does per sample (spikes, synaptic events = "
        "spikes x "
        "their non-zero synapses, neuron updates, routed messages, the real-valued MACs that "
        "remain) "
        "from a run's measured activity, and price it with a hardware profile's constants "
        f"(hardware_profiles/: {', '.join(list_profiles())}, or a .toml path). Also "
        "counts "
        "the same network as a non-spiking ANN (PyTorch's FLOP counter) for the SNN/ANN comparison "
        "the LMUFormer paper makes. Give --activity from lmuneuro run, or inputs to run now.",
        formatter_class=_Help,
    )
    _add_artifact(s)
    _path(
        s,
        "--profile",
        role="input",
        default="loihi2",
        help="hardware profile name or .toml path; several, comma-separated (loihi2,cmos45-snn,"
        "cmos45-ann), put side by side in one table and one chart",
    )
    _add_inputs(s, activity=True)
    s.add_argument(
        "--backend",
        choices=tuple(b for b in BACKENDS if b != "loihi2"),
        default="emulator",
        help="with --dataset/--inputs: where to run (identical counts; lava-sim is slower)",
    )
    _add_device(s)
    s.add_argument(
        "--step-us",
        type=_number(float, 0.0, 1e9, open_lo=True),
        help="time per step for the back-to-back static energy (default: the profile's measured "
        "one)",
    )
    s.add_argument(
        "--frame-ms",
        type=_number(float, 0.0, 1e6, open_lo=True),
        help="time per input frame for the real-time static energy (one step per frame; default: "
        "the features' frame shift, 10 ms for speech features)",
    )
    s.add_argument(
        "--format",
        choices=("table", "json", "html"),
        help="default: from the -o suffix (.json, .html), else table",
    )
    _path(
        s,
        "-o",
        "--output",
        role="output",
        help="write the report here instead of printing it: .html, .json or .txt (a table); html "
        "needs a file; missing folders are created",
    )
    s.add_argument("--json", action="store_true", help="same as --format json")
    s.set_defaults(func=_cmd_energy)

    s = sub.add_parser(
        "benchmark",
        help="NeuroBench's metrics of the float model and of the chip's network",
        description="NeuroBench's metrics (neurobench 2.3.0's names and definitions, per sample: "
        "Footprint, ConnectionSparsity, ActivationSparsity, SynapticOperations, MembraneUpdates, "
        "ClassificationAccuracy with labels) of the checkpoint's float model, by NeuroBench's own "
        "harness where neurobench is installed (else by lmuneuro's implementation, equal to it), "
        "and with an artifact the same metrics of its fixed-point network on the emulator. What "
        "NeuroBench does not count (the LMU memory's taps, the relays, the graded residual "
        "terms) is reported apart. docs/neurobench.md defines each.",
        formatter_class=_Help,
    )
    _path(s, "checkpoint", role="input", help="native or reference-implementation checkpoint")
    _path(
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
    _add_inputs(s)
    _add_device(s)
    s.add_argument(
        "--implementation",
        choices=("auto", "neurobench", "lmuneuro"),
        default="auto",
        help="who computes the float figures: NeuroBench's harness (auto: where installed) or "
        "lmuneuro's implementation",
    )
    _path(
        s,
        "-o",
        "--output",
        role="output",
        help="write the report here instead of printing it: .html, .json or .txt (a table); "
        "missing folders are created",
    )
    s.add_argument("--json", action="store_true", help="the report as JSON")
    s.set_defaults(func=_cmd_benchmark)

    s = sub.add_parser(
        "inspect",
        help="the Lava processes an artifact deploys and every chip limit with its margin",
        description="Print every Lava process class the network instantiates (module and class, "
        "with counts), "
        "neuro-cores per population, the largest synaptic delay, the weight-exponent range and "
        "each "
        "chip limit (a_out and a_in widths, delays, payload bits, cores, neurons, synapses) at its "
        "tightest place with its margin. Exit 2 with one line per violated limit.",
        formatter_class=_Help,
    )
    _add_artifact(s)
    _path(
        s,
        "--profile",
        role="input",
        help="hardware profile for the resource limits (default: the artifact's target)",
    )
    s.add_argument(
        "--steps",
        type=_number(int, 1, 10**7),
        help="frames per sample (default: the trained length)",
    )
    s.add_argument(
        "--json",
        action="store_true",
        help="the report as JSON (key processes: module, class, count)",
    )
    s.set_defaults(func=_cmd_inspect)

    s = sub.add_parser(
        "export",
        help="write a spiking checkpoint as a NIR graph (norse runs it through nirtorch)",
        description="Write a spiking checkpoint (native or reference layout) as a NIR graph "
        "(Neuromorphic Intermediate Representation, HDF5): LIF populations with BatchNorm folded "
        "in, the convolutions in time and the LMU memory as Delay + Linear taps, residual adds as "
        "fan-in, the head as Affine. Exact in float64 under forward Euler: norse's LIF cells "
        "through nirtorch's graph executor (lmuneuro.compile.nirgraph.run_norse) reproduce every "
        "spike. No other reader was found: norse's own from_nir, snnTorch 1.0, sinabs 3.1 and "
        "rockpool 3.1 refuse the graph and spyx 1.0 builds a different network (docs/nir.md).",
        formatter_class=_Help,
    )
    _path(
        s,
        "checkpoint",
        role="input",
        kind="checkpoint",
        help="native or reference-implementation checkpoint",
    )
    s.add_argument("--format", choices=["nir"], default="nir", help="the format to write")
    _path(s, "-o", "--output", role="output", required=True, help="the file to write (.nir)")
    s.add_argument("--json", action="store_true", help="the summary as JSON")
    s.set_defaults(func=_cmd_export)

    s = sub.add_parser(
        "synthesize",
        help="synthesise a spoken-word data set with espeak-ng",
        description="Synthesise a data set of spoken words with espeak-ng (no download): each "
        "word in many voices, accents, speeds and pitches, at a random offset in one second of "
        "noise, saved as 16 kHz WAV clips with a manifest of their SHA-256. Speakers are "
        "disjoint between train, validation and test. A folder that already holds the data set "
        "is checked and reused; a damaged one is refused unless --rebuild. keyword-stream: "
        "long streams of noise and non-keyword words with the spoken-keywords words at random "
        "times, a label file (word, onset, offset) per stream.",
        formatter_class=_Help,
    )
    s.add_argument(
        "dataset",
        choices=["spoken-keywords", "scv2-synthetic", "keyword-stream"],
        help="spoken-keywords: 10 words x 220 clips; scv2-synthetic: the 35 Speech Commands "
        "words x 330 clips; keyword-stream: 8 / 2 / 8 streams of the 10 keywords",
    )
    s.add_argument(
        "--minutes",
        type=_number(float, 0, 1440, open_lo=True),
        help="keyword-stream: each stream's length (default 5)",
    )
    _path(s, "-o", "--output", role="output-dir", required=True, help="the data-set folder")
    s.add_argument(
        "--workers",
        type=_number(int, 1, 1024),
        help="synthesis processes (default: one per CPU)",
    )
    s.add_argument(
        "--rebuild", action="store_true", help="make the folder again when it is damaged"
    )
    s.add_argument("--no-progress", action="store_true", help="no progress bar")
    s.add_argument("--json", action="store_true", help="the summary as JSON on stdout")
    s.set_defaults(func=_cmd_synthesize)

    s = sub.add_parser(
        "demo",
        help="the end-to-end demo on built-in data (no download)",
        description="The whole pipeline on the built-in digits: train the small spiking preset, "
        "convert it for Loihi 2, run it on the emulator and on Lava's bit-accurate "
        "simulator, print float vs fixed-point vs Lava accuracy and write the energy report.",
        formatter_class=_Help,
    )
    _path(
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
    s.set_defaults(func=_cmd_demo)
    return p


_SIGNATURE = {"checkpoint": "zip", "artifact": "hdf5"}


def check_kinds(args, argv: list[str], parser: argparse.ArgumentParser) -> None:
    """A checkpoint given where an artifact goes, or the reverse, told by the files' first bytes
    (``files.file_kind``): one line naming the mistake and the command that fixes it, before
    any other check (``convert model.h5`` would otherwise be refused as its own output)."""
    from .files import file_kind

    kinds = _kinds(parser._subparsers._group_actions[0].choices[args.command])
    paths = {d: getattr(args, d) for d in kinds if getattr(args, d) is not None}
    wrong = [d for d, p in paths.items() if file_kind(p) not in (None, _SIGNATURE[kinds[d]])]
    if not wrong:
        return

    def fixed(new: dict[str, str]) -> str:
        """The command as given, with the path of each argument in ``new`` replaced: the word
        that gives it is found by parsing again with that word changed (a path can appear twice)."""
        out = list(argv)
        for dest, path in new.items():
            for i, word in enumerate(argv):
                if word == paths[dest] or word.endswith("=" + paths[dest]):
                    head = word[: len(word) - len(paths[dest])]
                    trial = [*argv[:i], head + "\0", *argv[i + 1 :]]
                    if getattr(parser.parse_args(trial), dest) == "\0":
                        out[i] = head + path
                        break
        return shlex.join(["lmuneuro", *out])

    if len(wrong) == 2:  # verify's two files, the wrong way round
        ck, art = (paths[d] for d in wrong)
        raise ValueError(
            f"{ck} is an HDF5 file and {art} a PyTorch checkpoint: the checkpoint comes first, "
            f"{fixed(dict(zip(wrong, (art, ck))))}"
        )
    dest = wrong[0]
    path = paths[dest]
    if kinds[dest] == "artifact":
        h5 = Path(path).with_suffix(".h5")
        h5 = str(h5.with_stem(h5.stem + "-artifact") if h5 == Path(path) else h5)
        raise ValueError(
            f"{path} is a PyTorch checkpoint, not an artifact: convert it first, "
            f"{shlex.join(['lmuneuro', 'convert', path, '-o', h5])}, then {fixed({dest: h5})}"
        )
    raise ValueError(
        f"{path} is an HDF5 file (an artifact lmuneuro convert wrote, or a NIR graph), not a "
        f"checkpoint: give the checkpoint it was made from, {fixed({dest: 'CHECKPOINT.pt'})}"
    )


def check_paths(args, roles: dict[str, str]) -> None:
    """Every output against every input, and a pinned artifact's SHA-256, before the command
    runs."""
    from .files import check_output, check_sha256

    if getattr(args, "expect_sha256", None) is not None:
        if args.artifact is None:
            raise ValueError("--expect-sha256 pins an artifact: give one")
        check_sha256(args.artifact, args.expect_sha256)

    if args.command == "convert" and args.output is None:
        args.output = str(Path(args.checkpoint).with_suffix(".h5"))
    inputs = [
        getattr(args, d)
        for d, r in roles.items()
        if r.startswith("input") and getattr(args, d) is not None
    ]
    for dest, role in roles.items():
        if role.startswith("output") and getattr(args, dest) is not None:
            check_output(getattr(args, dest), inputs, directory=role == "output-dir")


class _ReaderGone(Exception):
    """stdout's reader closed it (``lmuneuro presets | head``): told apart from a broken pipe
    elsewhere (a Lava worker's), which is an error."""


class _Shown:
    """stdout for a command: every line passes ``printable`` (newlines and tabs kept), so that a
    name read from a file (a layer, a class, a profile's description) cannot drive the terminal."""

    def __init__(self, stream):
        self.stream = stream

    def write(self, text: str) -> int:
        try:
            return self.stream.write(printable(text, keep="\n\t"))
        except BrokenPipeError:
            raise _ReaderGone from None

    def flush(self) -> None:
        try:
            self.stream.flush()
        except BrokenPipeError:
            raise _ReaderGone from None

    def __getattr__(self, name):
        return getattr(self.stream, name)


def _discard(stream) -> None:
    """What is still buffered for a reader that left goes nowhere, so that the interpreter's
    last flush at exit does not report the broken pipe."""
    try:
        fd = stream.fileno()
    except (OSError, ValueError, AttributeError):  # not a file descriptor (a test's capture)
        return
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, fd)
    os.close(null)


class Terminated(KeyboardInterrupt):
    """SIGTERM, handled as Ctrl-C is: every write in progress is undone on the way out."""


def _terminate(signum, frame):
    raise Terminated


def main(argv=None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)  # before any heavy import: --help answers at once
    except (
        SystemExit
    ) as e:  # --help, --version, or one line for a bad argument: a code, as from a command
        return e.code if isinstance(e.code, int) else EXIT_BAD_INPUT
    from .backends import BackendUnavailable
    from .checkpoint import CheckpointError

    stdout, sys.stdout = sys.stdout, _Shown(sys.stdout)
    # only the main thread may set a handler; a library caller's thread keeps its own
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _terminate) if main_thread else None
    try:
        check_kinds(args, list(sys.argv[1:] if argv is None else argv), parser)
        check_paths(args, _roles(parser._subparsers._group_actions[0].choices[args.command]))
        code = args.func(args)
        sys.stdout.flush()  # a reader that left shows here, not at the interpreter's exit
        return code
    except _ReaderGone:  # as a command killed by SIGPIPE would, without a word
        _discard(stdout)
        return 128 + signal.SIGPIPE
    except (CheckpointError, BackendUnavailable, ValueError, OSError, FloatingPointError) as e:
        line = next((ln for ln in str(e).splitlines() if ln.strip()), type(e).__name__)
        print(f"lmuneuro {args.command}: error: {printable(line, 2000)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except MemoryError:
        print(f"lmuneuro {args.command}: error: out of memory", file=sys.stderr)
        return EXIT_BAD_INPUT
    except Terminated:
        print(f"lmuneuro {args.command}: terminated", file=sys.stderr)
        return 128 + signal.SIGTERM
    except KeyboardInterrupt:
        print(f"lmuneuro {args.command}: interrupted", file=sys.stderr)
        return 130
    finally:
        sys.stdout = stdout
        if main_thread:
            signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)


if __name__ == "__main__":
    sys.exit(main())
