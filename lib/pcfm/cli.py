"""The `pcfm` command line: run, validate, synth, setup and check-outputs.

Each sub-command is a thin wrapper around one function of the package; errors the
user can fix are printed as one clear message with exit code 1, never a traceback.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pcfm import __version__
from pcfm.params import ParameterError, load_params, params_from_dict, schema_field

if TYPE_CHECKING:
    from pcfm.pipeline.progress import Verbosity

#: The parameters `pcfm synth` offers as options, by option name (defaults from the schema).
SYNTH_OPTIONS = {
    "--seed": "seed",
    "--patients": "data.synthetic.n_patients",
    "--practices": "data.synthetic.n_practices",
}


def verbosity_of(args: argparse.Namespace) -> Verbosity:
    """``-q`` quiet, ``-v`` verbose (given before or after the sub-command), else normal."""
    if getattr(args, "quiet", False):
        return "quiet"
    return "verbose" if getattr(args, "verbose", False) else "normal"


def _run(args: argparse.Namespace) -> int:
    from pcfm.pipeline.progress import make_display, terminal_logging
    from pcfm.pipeline.run import RUN_LOG, run_pipeline

    verbosity = verbosity_of(args)
    with make_display(verbosity) as display, terminal_logging(display, verbosity):
        result = run_pipeline(args.params, build_root=args.build_root, display=display)
    print(f"pcfm: run complete: {result.run_dir}")
    print(f"pcfm: report ({result.render.renderer}): {result.run_dir / 'report'}")
    print(f"pcfm: log: {result.run_dir / RUN_LOG}")
    if result.render.renderer != "quarto":
        print(f"pcfm: {result.render.message}")
    return 0


def _validate(args: argparse.Namespace) -> int:
    from pcfm.data.validate import validate_folder

    if args.params:
        data_params = load_params(args.params).data
    else:
        data_params = params_from_dict(
            {"run_name": "validate", "data": {"source": "folder", "folder": str(args.data)}}
        ).data
    quality = validate_folder(Path(args.data), data_params)
    print(f"pcfm: {args.data}: valid against the data contract")
    if len(quality.table):
        print("Recoverable problems, handled by the rules in the parameters:")
        print(quality.table.to_string(index=False))
    return 0


def _schema_option(key: str) -> dict[str, Any]:
    """argparse keywords of an integer option that stands for a schema parameter."""
    info = schema_field(key)
    default = info.get_default(call_default_factory=True)
    description = (info.description or "").replace("%", "%%").rstrip(".")
    return {"type": int, "default": default, "help": f"{description} (default {default}; {key})"}


def _synth(args: argparse.Namespace) -> int:
    out = Path(args.out)
    # The options go through the schema, so its limits apply as they do in a parameter file.
    params = params_from_dict(
        {
            "run_name": "synth",
            "seed": args.seed,
            "data": {"synthetic": {"n_patients": args.patients, "n_practices": args.practices}},
        },
        source=f"pcfm synth ({', '.join(f'{o}: {k}' for o, k in SYNTH_OPTIONS.items())})",
    )
    if args.from_public:
        from pcfm.inputs.from_public import default_rules, write_public_icb

        if not args.icb:
            raise ParameterError("pcfm synth --from-public needs --icb CODE (LLR: QK1)")
        write_public_icb(default_rules(args.from_public, args.icb), out, seed=params.seed)
    else:
        from pcfm.inputs.synthetic import write_synthetic_icb

        if args.icb:
            raise ParameterError("pcfm synth: --icb is used only with --from-public")
        size = params.data.synthetic
        write_synthetic_icb(
            out, seed=params.seed, n_patients=size.n_patients, n_practices=size.n_practices
        )
    print(f"pcfm: synthetic ICB written to {out}")
    return 0


def _setup(args: argparse.Namespace) -> int:
    from pcfm.inputs.setup_icb import build_from_params, setup_icb

    if args.params:
        if args.icb or args.public:
            raise ParameterError("pcfm setup --params FILE takes no ICB code or --public")
        result = build_from_params(args.params)
    elif args.public and not args.icb:
        from pcfm.inputs.from_public import load_public_files

        practice_map = load_public_files(args.public).practice_map
        counts = practice_map.groupby(["icb_code", "icb_name"]).size()
        for (code, name), practices in counts.items():
            print(f"{code}  {name} ({practices} practices)")
        return 0
    else:
        if not (args.icb and args.public):
            raise ParameterError(
                "pcfm setup needs an ICB code and --public DIR (e.g. pcfm setup QK1 --public "
                "../shared/data/public), or --params FILE to rebuild from a parameter file"
            )
        code = args.icb.strip().upper()
        result = setup_icb(
            args.public,
            code,
            args.params_out or f"params/{code.lower()}.yml",
            args.data_out or f"build/data/{code.lower()}",
            places_csv=args.places,
            successors_csv=args.successors,
            patient_scale=args.patient_scale,
        )
    print(
        f"pcfm: {result.data_dir}: {result.practices} practices, {result.adjustments} "
        "practice(s) left out or adjusted (provenance/adjustments.csv)"
    )
    print(f"pcfm: parameters: {result.params_path}; next: pcfm run {result.params_path}")
    return 0


def _check_outputs(args: argparse.Namespace) -> int:
    from pcfm.base.disclosure.check import Skipped, check_run_folder

    skipped: list[Skipped] = []
    findings = check_run_folder(Path(args.run_dir), skipped=skipped)
    for item in skipped:
        print(item)
    for finding in findings:
        print(finding)
    if findings:
        print(f"pcfm: {len(findings)} disclosure problem(s) in {args.run_dir}", file=sys.stderr)
        return 1
    print(f"pcfm: {args.run_dir}: no disclosure problems found")
    return 0


def _add_verbosity(parser: argparse.ArgumentParser, default: Any) -> None:
    """``-q``/``--quiet`` and ``-v``/``--verbose``, which exclude each other."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        default=default,
        help="show only errors and the result (pcfm run: no stages or progress)",
    )
    group.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=default,
        help="show debug logging (pcfm run: everything its run.log holds)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for tests and documentation)."""
    parser = argparse.ArgumentParser(prog="pcfm", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"pcfm {__version__}")
    _add_verbosity(parser, argparse.SUPPRESS)
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser(
        "run",
        help="run the model and render the report",
        description="Run every stage for one parameter file and render the report into "
        "<build-root>/<run_name>/, showing each stage and its time; the run's own log is "
        "<run_name>/run.log.",
    )
    run.add_argument("params", help="YAML parameter file, e.g. params/demo.yml")
    run.add_argument("--build-root", default="build", help="where <run-name>/ goes")
    _add_verbosity(run, argparse.SUPPRESS)
    run.set_defaults(handler=_run)

    validate = commands.add_parser("validate", help="check a data folder against the contract")
    validate.add_argument("--data", required=True, help="folder with the contract's tables")
    validate.add_argument("--params", help="parameter file whose data rules to apply")
    validate.set_defaults(handler=_validate)

    synth = commands.add_parser("synth", help="write a synthetic ICB with a known truth")
    synth.add_argument("--out", required=True, help="folder to write the tables to")
    for option, key in SYNTH_OPTIONS.items():
        synth.add_argument(option, metavar="N", **_schema_option(key))
    synth.add_argument(
        "--from-public",
        metavar="DIR",
        help="build patients for the real practices in these public files (--patients and "
        "--practices then come from the files)",
    )
    synth.add_argument("--icb", metavar="CODE", help="ICB code with --from-public (LLR: QK1)")
    synth.set_defaults(handler=_synth)

    setup = commands.add_parser(
        "setup", help="set up an ICB from the public files: its parameter file and data folder"
    )
    setup.add_argument("icb", nargs="?", help="ICB code, e.g. QK1 (LLR)")
    setup.add_argument("--public", metavar="DIR", help="folder of the public files")
    setup.add_argument("--params-out", metavar="FILE", help="default params/<code>.yml")
    setup.add_argument("--data-out", metavar="DIR", help="default build/data/<code>")
    setup.add_argument("--places", metavar="CSV", help="practice or PCN to place map")
    setup.add_argument("--successors", metavar="CSV", help="predecessor to successor map")
    setup.add_argument(
        "--patient-scale",
        type=float,
        default=1.0,
        help="fraction of patients to generate, for quick looks (default 1)",
    )
    setup.add_argument(
        "--params", metavar="FILE", help="rebuild the data folder from this parameter file"
    )
    setup.set_defaults(handler=_setup)

    check = commands.add_parser("check-outputs", help="scan a run's outputs for disclosure risks")
    check.add_argument("run_dir", help="a run folder, e.g. build/demo")
    check.set_defaults(handler=_check_outputs)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `pcfm` console script."""
    args = build_parser().parse_args(argv)
    if getattr(args, "quiet", False) and getattr(args, "verbose", False):  # pcfm -q run -v
        print("pcfm: error: -q/--quiet and -v/--verbose exclude each other", file=sys.stderr)
        return 2
    if args.command != "run":  # pcfm run shows its log records through its display
        verbosity = verbosity_of(args)
        logging.basicConfig(
            level=logging.ERROR if verbosity == "quiet" else logging.WARNING,
            format="pcfm: %(message)s",
        )
        if verbosity == "verbose":
            logging.getLogger("pcfm").setLevel(logging.DEBUG)
    try:
        return args.handler(args)
    except (ParameterError, FileNotFoundError) as error:
        print(f"pcfm: error: {error}", file=sys.stderr)
        return 1
    except ValueError as error:  # data validation and other input errors name their source
        print(f"pcfm: error: {error}", file=sys.stderr)
        return 1
    except RuntimeError as error:  # PipelineError, RenderError
        print(f"pcfm: run failed: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # Ctrl-C: a stop the user asked for, not a crash to debug
        # Ctrl-C reaches the kernels too; the tasks that were talking to one then end with
        # "Kernel died", which asyncio would print as a traceback when the process exits.
        logging.getLogger("asyncio").setLevel(logging.CRITICAL)
        print(
            "pcfm: interrupted; an earlier finished run is untouched, and the stopped "
            "run's partial outputs, if any, are in the build folder as .<run-name>.failed",
            file=sys.stderr,
        )
        return 130
