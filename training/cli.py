"""``florilege-train``: the maintainers' command line (bank, synthetic data, scoring).

Heavy imports live inside each command, so ``florilege-train --help`` stays instant.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path


def _bank(args: argparse.Namespace) -> int:
    from training.bank import render_bank

    bank = render_bank(args.fonts, args.out, unseen_fraction=args.unseen_fraction, seed=args.seed)
    print(f"{len(bank.designs)} designs written to {args.out}")
    return 0


def _synth(args: argparse.Namespace) -> int:
    from training.synth import generate

    generate(
        args.out,
        pages=args.pages,
        split=args.split,
        seed=args.seed,
        layout=args.layout,
        workers=args.workers,
    )
    print(f"{args.pages} {args.layout}s of the {args.split} split written to {args.out}")
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from service.decomposition import Decomposition
    from training.evaluate import evaluate, to_markdown

    report = evaluate(Decomposition.read(args.pred), args.truth)
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))
    print(to_markdown(report))
    return 0


def _benchmark(args: argparse.Namespace) -> int:
    from service.decompose import decompose_paths
    from training.benchmark import run_benchmark
    from training.evaluate import to_markdown

    report = run_benchmark(
        args.out,
        pages=args.pages,
        seed=args.seed,
        layout=args.layout,
        workers=args.workers,
        decompose=decompose_paths,
    )
    (args.out / "benchmark.json").write_text(json.dumps(report, indent=1))
    print(to_markdown(report))
    return 0


def _fit(args: argparse.Namespace) -> int:
    from training.train import main_fit

    return main_fit(args)


def _export(args: argparse.Namespace) -> int:
    from training.export import main_export

    return main_export(args)


def _sprites(args: argparse.Namespace) -> int:
    from training.sprite_fit import main_sprites

    return main_sprites(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="florilege-train", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    bank = commands.add_parser("bank", help="render the vignette bank from ornament fonts")
    bank.add_argument("--fonts", type=Path, required=True, help="folder of ornament fonts")
    bank.add_argument("--out", type=Path, required=True, help="bank folder to write")
    bank.add_argument("--unseen-fraction", type=float, default=0.25)
    bank.add_argument("--seed", type=int, default=0)
    bank.set_defaults(run=_bank)

    synth = commands.add_parser("synth", help="generate synthetic composite-ornament pages")
    synth.add_argument("--out", type=Path, required=True)
    synth.add_argument("--pages", type=int, required=True)
    synth.add_argument("--split", choices=("seen", "unseen"), required=True)
    synth.add_argument("--seed", type=int, default=0)
    synth.add_argument(
        "--layout",
        choices=("page", "ornament"),
        default="page",
        help="full pages set among text, or ornament-only crops",
    )
    synth.add_argument("--workers", type=int, default=1, help="pages made in parallel processes")
    synth.set_defaults(run=_synth)

    evaluate = commands.add_parser("evaluate", help="score a decomposition against ground truth")
    evaluate.add_argument("--pred", type=Path, required=True, help="decomposition JSON")
    evaluate.add_argument(
        "--truth", type=Path, action="append", required=True, help="dataset folder (repeatable)"
    )
    evaluate.add_argument("--json", type=Path, help="also write the report as JSON")
    evaluate.set_defaults(run=_evaluate)

    benchmark = commands.add_parser(
        "benchmark", help="generate both splits, decompose each without labels, and score"
    )
    benchmark.add_argument("--out", type=Path, required=True, help="working folder")
    benchmark.add_argument("--pages", type=int, default=200, help="pages per split")
    benchmark.add_argument("--seed", type=int, default=1)
    benchmark.add_argument("--layout", choices=("page", "ornament"), default="page")
    benchmark.add_argument("--workers", type=int, default=1, help="processes generating pages")
    benchmark.set_defaults(run=_benchmark)

    fit = commands.add_parser("fit", help="train the encoder on unlabeled pages (resumable)")
    fit.add_argument("--data", type=Path, required=True, help="folder of page images; no labels")
    fit.add_argument("--out", type=Path, required=True, help="run folder to create or resume")
    fit.add_argument("--config", type=Path, help="YAML configuration (default: built-in)")
    fit.add_argument("--resume", action="store_true", help="continue the run in --out")
    fit.add_argument("--seed", type=int, help="override the configuration's train.seed")
    fit.add_argument(
        "--device",
        choices=("auto", "cpu", "cuda"),
        default="auto",
        help="auto (default): CUDA where torch sees a device, else the CPU",
    )
    fit.set_defaults(run=_fit)

    export = commands.add_parser("export", help="export a trained run as a model bundle")
    export.add_argument(
        "--run", dest="run_dir", type=Path, required=True, help="run folder written by fit"
    )
    export.add_argument("--out", type=Path, required=True, help="bundle folder to create")
    export.add_argument(
        "--pages",
        type=Path,
        help="page images (or a folder) to decompose with torch and the bundle: identical?",
    )
    export.set_defaults(run=_export)

    sprites = commands.add_parser(
        "sprites",
        help="fit the sprite model (the comparison family) to unlabeled images and decompose them",
    )
    sprites.add_argument("--data", type=Path, required=True, help="folder of images; no labels")
    sprites.add_argument("--out", type=Path, required=True, help="run folder to write")
    sprites.add_argument("--config", type=Path, help="YAML configuration (default: built-in)")
    sprites.set_defaults(run=_sprites)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args))
    except (FileNotFoundError, FileExistsError, ValueError) as err:
        print(f"florilege-train {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
