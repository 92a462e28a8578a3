"""The ``cvnb`` command: a thin argparse front over cvnb's functions.

- ``cvnb notebooks DIR``: copy the notebook curriculum into ``DIR`` to open in JupyterLab.
- ``cvnb demo [ARGS]``: run the demo path through the notebooks (``cvnb demo --help``);
  the arguments go to :func:`cvnb.demo.main` unchanged. Needs the ``lab`` extra.

Each command imports what it needs when it runs, so ``cvnb --help`` loads no torch. Later
steps add their commands here as one subparser and one small function each.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import cvnb
from cvnb._extras import MissingExtraError
from cvnb._resources import copy_notebooks, notebooks_dir

__all__ = ["demo_arguments", "main"]


def _notebooks(args: argparse.Namespace, rest: list[str]) -> int:
    for path in copy_notebooks(args.dir, overwrite=args.force):
        print(path)
    return 0


def demo_arguments(rest: Sequence[str]) -> list[str]:
    """``cvnb demo``'s arguments for :func:`cvnb.demo.main`: the shipped notebooks by default.

    Outside a checkout there is no ``notebooks/`` folder in the working directory, so unless
    the user names one, the demo runs the notebooks that came with cvnb.
    """
    named = any(a == "--notebooks" or a.startswith("--notebooks=") for a in rest)
    return list(rest) if named else ["--notebooks", str(notebooks_dir()), *rest]


def _demo(args: argparse.Namespace, rest: list[str]) -> int:
    from cvnb._notebook_runner import require_runner

    require_runner("the demo")
    from cvnb.demo import main as demo_main

    return demo_main(demo_arguments(rest))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cvnb", description="cvnb: a Jupyter-first computer-vision toolkit."
    )
    parser.add_argument("--version", action="version", version=f"cvnb {cvnb.__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    notebooks = commands.add_parser(
        "notebooks",
        help="copy the notebook curriculum into a folder",
        description="Copy cvnb's numbered notebooks (NN_name.ipynb) into DIR.",
    )
    notebooks.add_argument("dir", metavar="DIR", help="destination folder (created if missing)")
    notebooks.add_argument(
        "--force", action="store_true", help="replace notebooks of the same name in DIR"
    )
    notebooks.set_defaults(run=_notebooks, passthrough=False)

    demo = commands.add_parser(
        "demo",
        add_help=False,  # --help goes through to cvnb.demo's own parser
        help="run the demo path through the notebooks (cvnb demo --help for its options)",
    )
    demo.set_defaults(run=_demo, passthrough=True)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``cvnb`` command.

    Args:
        argv: The arguments after ``cvnb`` (default: ``sys.argv[1:]``).

    Returns:
        The exit status.

    Example:
        >>> main(["notebooks", "my-notebooks"])  # doctest: +SKIP
    """
    parser = _parser()
    args, rest = parser.parse_known_args(list(sys.argv[1:] if argv is None else argv))
    if rest and not args.passthrough:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    try:
        return args.run(args, rest)
    except (MissingExtraError, FileExistsError, FileNotFoundError) as err:
        parser.exit(1, f"cvnb {args.command}: {err}\n")
    return 1  # unreachable: parser.exit raises SystemExit


if __name__ == "__main__":
    sys.exit(main())
