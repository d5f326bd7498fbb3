"""``florilege``: the service-side command line (no torch).

Heavy imports live inside each command, so ``florilege --help`` stays instant.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path


def _decompose(args: argparse.Namespace) -> int:
    from service.decompose import decompose_paths

    decomposition = decompose_paths(args.paths)
    decomposition.write(args.out)
    found = sum(len(p.instances) for p in decomposition.pages)
    print(
        f"{len(decomposition.pages)} pages, {found} instances, "
        f"{len(decomposition.motifs)} motifs written to {args.out}"
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="florilege", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    decompose = commands.add_parser(
        "decompose", help="find ornaments in page images and group their vignettes into motifs"
    )
    decompose.add_argument("paths", nargs="+", type=Path, help="image files or folders")
    decompose.add_argument("--out", type=Path, required=True, help="decomposition JSON to write")
    decompose.set_defaults(run=_decompose)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args))
    except (FileNotFoundError, ValueError) as err:
        print(f"florilege {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
