"""The ``lmuneuro`` command line: thin wrappers that parse, call the library and print what
``analysis.rendering`` formats. The verbs' arguments: ``cli_verbs`` (with ``cli_options``)."""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import sys
import threading
from pathlib import Path

from .cli_options import EXIT_BAD_INPUT, Help, Parser, kinds, roles, settings_given
from .files import printable, to_json
from .version import __version__


def _cmd_presets(args) -> int:
    from .analysis.rendering.tables import format_presets
    from .models import PRESETS, build_model

    rows = []
    for name, cfg in PRESETS.items():
        n = sum(p.numel() for p in build_model(cfg).parameters())
        rows.append({"preset": name, "parameters": n, **cfg.to_dict()})
    print(to_json(rows, indent=2) if args.json else format_presets(rows))
    return 0


def _cmd_train(args) -> int:
    from .train import TrainConfig, train

    settings = settings_given(args)
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
    from .analysis.rendering.tables import format_conversion
    from .running import convert_checkpoint

    r = convert_checkpoint(
        args.checkpoint,
        args.output,
        preset=args.preset,
        settings=settings_given(args),
        calibrate=args.calibrate,
        dataset=args.dataset,
        inputs=args.inputs,
        data_dir=args.data_dir,
        samples=args.samples,
        tolerance=args.tolerance,
        progress=not args.json,
    )
    for w in r.warnings:
        print(f"warning: {printable(w)}", file=sys.stderr)
    print(to_json(r.to_dict(), indent=2) if args.json else format_conversion(r))
    return 0


def _cmd_verify(args) -> int:
    from .analysis.rendering.tables import format_verify
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
    print(to_json(r.to_dict(), indent=2) if args.json else format_verify(r))
    return 0


_REPORT_SUFFIXES = {".html": "html", ".htm": "html", ".json": "json", ".txt": "table", "": "table"}


def _report_format(output, asked: str | None, flag: str = "--json") -> str:
    """The format of a report written to ``output`` (None: printed), checked before any work:
    "json", "table" or "html", ``asked`` by ``flag``, else from the extension."""
    suffix = Path(output).suffix.lower() if output else ""
    if suffix not in _REPORT_SUFFIXES:  # never a table in a file named .pdf
        raise ValueError(
            f"-o {output}: no {suffix} report is written; give a name ending in .html, .json "
            "or .txt (a table)"
        )
    fmt = _REPORT_SUFFIXES[suffix]
    if asked and suffix and fmt != asked:
        raise ValueError(f"-o {output}: the extension {suffix} contradicts {flag}")
    return asked or fmt


def _emit(output, text: str, what: str = "report") -> int:
    """Print a report's ``text``, or write it to ``output``."""
    from .files import write_output

    if output:
        write_output(output, text)
        print(f"{what} written to {output}", file=sys.stderr)
    else:
        print(text)
    return 0


def _cmd_energy(args) -> int:
    from .analysis import rendering
    from .running import energy

    asked = "json" if args.json else args.format
    fmt = _report_format(args.output, asked, f"--format {asked}")
    if fmt == "html" and not args.output:
        raise ValueError("--format html needs -o FILE")
    rs = energy(
        args.artifact,
        args.inputs,
        dataset=args.dataset,
        data_dir=args.data_dir,
        samples=args.samples,
        recorded=args.activity,
        profile=[n.strip() for n in _profiles(args.profile)],
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
        "table": lambda: rendering.format_table(one) if one else rendering.format_comparison(rs),
        "html": lambda: rendering.render_html(one) if one else rendering.render_comparison_html(rs),
    }[fmt]()
    return _emit(args.output, text, f"{fmt} report")


def _cmd_benchmark(args) -> int:
    from .analysis.neurobench import benchmark
    from .analysis.rendering import format_benchmark, render_benchmark_html

    fmt = _report_format(args.output, "json" if args.json else None)
    r = benchmark(
        args.checkpoint,
        args.artifact,
        dataset=args.dataset,
        inputs=args.inputs,
        data_dir=args.data_dir,
        samples=args.samples,
        device=args.device,
        implementation=args.implementation,
    )
    page = {"json": lambda b: to_json(b.to_dict(), indent=2), "table": format_benchmark}
    return _emit(args.output, page.get(fmt, render_benchmark_html)(r))


def _cmd_run(args) -> int:
    from .analysis.rendering.tables import format_run
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
    print(format_run(r))
    if args.activity:
        print(f"activity written to {args.activity}")
    return 0


def _profiles(text: str) -> list[str]:
    """--profile: a .toml file, or names separated by commas."""
    return [text] if Path(text).is_file() else text.split(",")


def _cmd_stream(args) -> int:
    from .analysis.rendering import format_stream, render_stream_html
    from .spotting import Readout, stream

    fmt = _report_format(args.output, "json" if args.json else None)
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
    page = {"json": lambda d: to_json(d, indent=2), "table": format_stream}
    return _emit(args.output, page.get(fmt, render_stream_html)(r))


def _cmd_inspect(args) -> int:
    from .analysis.inspection import inspect_network
    from .analysis.rendering.tables import format_inspect

    r = inspect_network(args.artifact, profile=args.profile, steps=args.steps)
    print(to_json(r.to_dict(), indent=2) if args.json else format_inspect(r, args.artifact))
    for line in r.violations:
        print(f"lmuneuro inspect: error: {line}", file=sys.stderr)
    return EXIT_BAD_INPUT if r.violations else 0


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


def build_parser() -> argparse.ArgumentParser:
    from .cli_verbs import VERBS

    commands = {  # read when the parser is built, so that a test may replace one
        "presets": _cmd_presets,
        "train": _cmd_train,
        "convert": _cmd_convert,
        "verify": _cmd_verify,
        "run": _cmd_run,
        "stream": _cmd_stream,
        "energy": _cmd_energy,
        "benchmark": _cmd_benchmark,
        "inspect": _cmd_inspect,
        "export": _cmd_export,
        "synthesize": _cmd_synthesize,
        "demo": _cmd_demo,
    }
    p = Parser(
        prog="lmuneuro", description="Spiking LMUFormer: train in PyTorch, deploy to Loihi 2."
    )
    p.add_argument("--version", action="version", version=f"lmuneuro {__version__}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=Parser, metavar="COMMAND")
    for name, verb in VERBS.items():
        s = sub.add_parser(name, help=verb.help, description=verb.description, formatter_class=Help)
        verb.arguments(s)
        s.set_defaults(func=commands[name])
    return p


_SIGNATURE = {"checkpoint": "zip", "artifact": "hdf5"}


def check_kinds(args, argv: list[str], parser: argparse.ArgumentParser) -> None:
    """A checkpoint given where an artifact goes, or the reverse, told by the files' first bytes
    (``files.file_kind``): one line naming the mistake and the command that fixes it, before
    any other check (``convert model.h5`` would otherwise be refused as its own output)."""
    from .files import file_kind

    wanted = kinds(parser._subparsers._group_actions[0].choices[args.command])
    paths = {d: getattr(args, d) for d in wanted if getattr(args, d) is not None}
    wrong = [d for d, p in paths.items() if file_kind(p) not in (None, _SIGNATURE[wanted[d]])]
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
    if wanted[dest] == "artifact":
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


def check_paths(args, path_roles: dict[str, str]) -> None:
    """Every output against every input, and a pinned artifact's SHA-256, before the command
    runs."""
    from .files import check_output, check_sha256

    if getattr(args, "expect_sha256", None) is not None:
        if args.artifact is None:
            raise ValueError("--expect-sha256 pins an artifact: give one")
        check_sha256(args.artifact, args.expect_sha256)

    if args.command == "convert" and args.output is None:
        from .running import artifact_path

        args.output = artifact_path(args.checkpoint)
    inputs = [
        getattr(args, d)
        for d, r in path_roles.items()
        if r.startswith("input") and getattr(args, d) is not None
    ]
    for dest, role in path_roles.items():
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
        check_paths(args, roles(parser._subparsers._group_actions[0].choices[args.command]))
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
