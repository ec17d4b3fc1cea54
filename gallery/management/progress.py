"""The command-line tools' progress bars: tqdm on stderr, only for a person watching."""

import sys

from tqdm import tqdm


def add_argument(parser) -> None:
    parser.add_argument(
        "--no-progress", action="store_true", help="no progress bar (none either when "
        "stderr is not a terminal or with --verbosity 0)",
    )  # fmt: skip


def factory(options: dict):
    """A progress bar maker for the services: (total, description) -> tqdm."""
    disabled = (
        options.get("no_progress") or options.get("verbosity", 1) == 0 or not sys.stderr.isatty()
    )

    def make(total: int, desc: str) -> tqdm:
        return tqdm(total=total, desc=desc, unit="img", file=sys.stderr, disable=disabled)

    return make
