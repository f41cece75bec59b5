"""What every command line of the toolkit shares: a usage error is one line, and --help shows only
the defaults that say something.

mnist-train, mnist-convert, mnist-show, mnist-export-weights, mnist-bench, benchmarks.bench_micro
and edge/classify.py all parse their arguments with :class:`OneLineParser`, so a bad flag reads
like every other error they report: ``error: <what is wrong> (see <command> --help)``, exit
status 2. Standard library only: the edge runner uses it on the device.
"""

from __future__ import annotations

import argparse
from typing import NoReturn


class OneLineParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose usage errors are one ``error:`` line (exit status 2), not the usage text."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Defaults shown where they say something: not for flags, nor for None, nor where the help gives one."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None or action.nargs == 0 or "default:" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)
