"""``florilege harvest``: analyse a whole IIIF collection, a list of manifests, or what an
activity stream says has changed. Rerunning the same command resumes an interrupted harvest.

Heavy imports wait until the command runs, so that ``florilege --help`` stays instant.
"""

from __future__ import annotations

import argparse
import json
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "source", help="collection or activity-stream URL, or a list of manifest URLs (URL/file)"
    )
    kind = parser.add_mutually_exclusive_group()
    for flag, mode, text in (
        ("--collection", "collection", "a IIIF collection (Presentation 2.1 or 3, nested, paged)"),
        ("--list", "list", "a JSON array or a text file of manifest URLs, one a line"),
        (
            "--changes",
            "changes",
            "a Change Discovery 1.0 stream: only what changed since the last run",
        ),
    ):
        kind.add_argument(flag, dest="mode", action="store_const", const=mode, help=text)
    parser.set_defaults(mode="auto")
    parser.add_argument("--concurrency", type=int, default=2, help="manifest jobs in flight")
    parser.add_argument(
        "--processes",
        type=int,
        default=0,
        help="worker processes running the jobs, e.g. one per core (default 0: threads only)",
    )
    parser.add_argument(
        "--delay", type=float, default=0.0, help="seconds between two requests to one host"
    )
    parser.add_argument("--contact", help="e-mail or URL put in the user agent")
    parser.add_argument(
        "--http-cache",
        metavar="DIR",
        help="keep fetched manifests and images in DIR, so that a rerun reads them from there "
        "(default: FLORILEGE_HTTP_CACHE, else no cache)",
    )
    parser.add_argument(
        "--force", action="store_true", help="analyse again manifests already in the store"
    )
    parser.add_argument(
        "--broker",
        metavar="URL",
        help="run the manifest jobs on Celery workers (florilege worker) fed through this Redis "
        "URL (default: FLORILEGE_CELERY_BROKER, else embedded: threads of this process)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    """Run the harvest the parsed ``args`` describe; 0 when every manifest was analysed."""
    from service.harvest.driver import HarvestOptions, harvest
    from service.harvest.state import HarvestBusy
    from service.iiif.fetch import FetchError
    from service.iiif.manifest import InvalidManifest

    if args.concurrency < 1 or args.processes < 0 or args.delay < 0:
        raise ValueError("--concurrency must be positive, --processes and --delay not negative")
    options = HarvestOptions(
        mode=args.mode,
        concurrency=max(args.concurrency, args.processes),
        processes=args.processes,
        delay=args.delay,
        contact=args.contact,
        force=args.force,
        progress=not args.quiet,
    )
    try:
        given = {"HTTP_CACHE": args.http_cache, "CELERY_BROKER": args.broker}
        summary = harvest(args.source, options, {k: v for k, v in given.items() if v})
    except (FetchError, InvalidManifest, HarvestBusy) as err:
        print(f"florilege harvest: error: {err}", file=sys.stderr)
        return 1
    print(json.dumps(summary, indent=1))
    return 0 if not summary["errors"] else 1
