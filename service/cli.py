"""``florilege``: the service-side command line (no torch).

Heavy imports live inside each command, so ``florilege --help`` stays instant.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path


def _decompose(args: argparse.Namespace) -> int:
    from service.config import load_config
    from service.decompose import describer_for
    from service.decompose.catalogue import DETAIL_SIZE, read_catalogue, write_catalogue
    from service.decompose.pipeline import discover, expand_paths, read_page

    # Options given on the command line take the place of FLORILEGE_BUNDLE / _PROVIDERS, and
    # go through the same parsing and checks.
    given = {"BUNDLE": args.bundle, "PROVIDERS": args.providers}
    config = load_config({key: value for key, value in given.items() if value})
    describer = describer_for(config["BUNDLE"], config["PROVIDERS"])
    known = read_catalogue(args.catalogue) if args.catalogue else None
    pages = map(read_page, expand_paths(args.paths))
    detail_size = DETAIL_SIZE if args.save_catalogue else None
    discovery = discover(pages, describer=describer, known=known, detail_size=detail_size)
    if args.save_catalogue:
        write_catalogue(args.save_catalogue, discovery)
    decomposition = discovery.decomposition
    decomposition.write(args.out)
    found = sum(len(p.instances) for p in decomposition.pages)
    print(
        f"{len(decomposition.pages)} pages, {found} instances, "
        f"{len(decomposition.motifs)} motifs written to {args.out}"
    )
    return 0


def _serve(args: argparse.Namespace) -> int:
    from service.app import serve

    serve(host=args.host, port=args.port, debug=args.debug)
    return 0


def _annotate(args: argparse.Namespace) -> int:
    from service.jobs import annotate

    job = annotate(args.url, kind="collection" if args.collection else "manifest")
    print(json.dumps(job, indent=1))
    return 0 if job.get("status") == "done" else 1


def _demo(args: argparse.Namespace) -> int:
    from service.demo import run_demo

    return run_demo(args.manifests, serve=args.serve, port=args.port)


def _harvest(args: argparse.Namespace) -> int:
    from service.harvest.cli import run

    return run(args)


def _worker(args: argparse.Namespace) -> int:
    from service.config import load_config
    from service.harvest.engine import worker_main

    broker = args.broker or load_config()["CELERY_BROKER"]
    if not broker:
        print("florilege worker: give --broker or set FLORILEGE_CELERY_BROKER", file=sys.stderr)
        return 2
    worker_main(broker, args.gpu, args.concurrency)
    return 0


def _bench_harvest(args: argparse.Namespace) -> int:
    from service.harvest.bench import run

    return run(args)


def _bench_embed(args: argparse.Namespace) -> int:
    from service.embed_bench import run

    return run(args)


def build_parser() -> argparse.ArgumentParser:
    # Argument definitions only: these modules import nothing heavy at the top.
    from service import embed_bench
    from service.harvest import bench as harvest_bench
    from service.harvest import cli as harvest_cli

    parser = argparse.ArgumentParser(prog="florilege", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    decompose = commands.add_parser(
        "decompose", help="find ornaments in page images and group their vignettes into motifs"
    )
    decompose.add_argument("paths", nargs="+", type=Path, help="image files or folders")
    decompose.add_argument("--out", type=Path, required=True, help="decomposition JSON to write")
    decompose.add_argument(
        "--catalogue", type=Path, help="assign instances to this catalogue's motifs first"
    )
    decompose.add_argument(
        "--save-catalogue",
        type=Path,
        help="write the motif catalogue (prototypes, hierarchy, difference maps) to this folder",
    )
    decompose.add_argument(
        "--bundle", help="model bundle folder (default: FLORILEGE_BUNDLE, else the baseline)"
    )
    decompose.add_argument(
        "--providers", help="onnxruntime providers in order, comma-separated (FLORILEGE_PROVIDERS)"
    )
    decompose.set_defaults(run=_decompose)

    serve = commands.add_parser("serve", help="run the HTTP service (development server)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--debug", action="store_true")
    serve.set_defaults(run=_serve)

    annotate = commands.add_parser(
        "annotate", help="analyse a IIIF manifest or collection now, into the service's store"
    )
    annotate.add_argument("url", help="manifest (or collection) URL")
    annotate.add_argument("--collection", action="store_true", help="the URL is a collection")
    annotate.set_defaults(run=_annotate)

    demo = commands.add_parser(
        "demo", help="serve the sample books on 127.0.0.1, annotate them, optionally view them"
    )
    demo.add_argument("--manifests", type=Path, default=Path("manifests"), help="sample site")
    demo.add_argument("--serve", action="store_true", help="then run the service and viewer")
    demo.add_argument("--port", type=int, default=8000)
    demo.set_defaults(run=_demo)

    harvest = commands.add_parser(
        "harvest",
        help="analyse a whole IIIF collection, a list of manifests or a Change Discovery "
        "stream (rerun to resume)",
    )
    harvest_cli.add_arguments(harvest)
    harvest.set_defaults(run=_harvest)

    worker = commands.add_parser(
        "worker", help="run harvest jobs sent through Celery (start one per GPU)"
    )
    worker.add_argument("--broker", help="Redis URL (default: FLORILEGE_CELERY_BROKER)")
    worker.add_argument("--gpu", type=int, help="the GPU this worker uses (CUDA_VISIBLE_DEVICES)")
    worker.add_argument(
        "--concurrency", type=int, default=1, help="jobs at once (default 1: one per GPU)"
    )
    worker.set_defaults(run=_worker)

    bench = commands.add_parser("bench", help="benchmarks (not tests): see docs/benchmarks.md")
    benchmarks = bench.add_subparsers(dest="benchmark", required=True)
    bench_harvest = benchmarks.add_parser(
        "harvest", help="pages/s of a harvest of a synthetic collection served on 127.0.0.1"
    )
    harvest_bench.add_arguments(bench_harvest)
    bench_harvest.set_defaults(run=_bench_harvest)
    bench_embed = benchmarks.add_parser(
        "embed", help="crops/s a model bundle embeds on the given onnxruntime providers"
    )
    embed_bench.add_arguments(bench_embed)
    bench_embed.set_defaults(run=_bench_embed)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args))
    except (FileNotFoundError, ValueError, RuntimeError) as err:
        print(f"florilege {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
