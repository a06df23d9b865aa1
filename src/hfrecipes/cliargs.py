"""The argument parser the ``hfrecipes`` subcommands share: errors as one line, no abbreviations.

Each subcommand parses its own arguments where it is implemented (``hfrecipes push`` in :mod:`hfrecipes.hub`,
``pipeline`` in :mod:`hfrecipes.pipeline`, ``new`` in :mod:`hfrecipes.scaffold`, the rest in :mod:`hfrecipes.cli`).
"""

from __future__ import annotations

import argparse

from .errors import UserError


class _Parser(argparse.ArgumentParser):
    """argparse, its errors as one line (``UserError``), no abbreviations (``--conf`` is not ``--config``)."""

    def __init__(self, command: str, **kwargs):
        super().__init__(prog=f"hfrecipes {command}", allow_abbrev=False, **kwargs)

    def error(self, message: str):
        if message.startswith("unrecognized arguments: "):
            first = message.split(": ", 1)[1].split()[0]
            kind = "option" if first.startswith("-") else "argument"
            raise UserError(f"unexpected {kind} '{first}'; see {self.prog} --help")
        raise UserError(f"{message}; see {self.prog} --help")


def command_parser(command: str, **kwargs) -> argparse.ArgumentParser:
    """The parser the subcommands share: one-line errors, exit status 2, ``--name value`` and ``--name=value``."""
    return _Parser(command, **kwargs)


def folder_argument(parser: argparse.ArgumentParser, help: str, flags: tuple[str, ...] = ("--output_dir",)) -> None:
    """A folder given positionally or as a flag (``report DIR`` = ``report --output_dir DIR``); see :func:`folder`."""
    parser.add_argument("folder", nargs="?", default=None, metavar=flags[0].lstrip("-").upper(), help=help)
    names = [*flags, *(f.replace("_", "-") for f in flags if "_" in f)]
    parser.add_argument(*names, dest="folder_flag", default=None, metavar="DIR", help="The same, as a flag.")


def folder(parser: argparse.ArgumentParser, args: argparse.Namespace) -> str:
    """The folder of :func:`folder_argument`: given exactly once, positionally or as the flag."""
    flag = next(a.option_strings[0] for a in parser._actions if a.dest == "folder_flag")
    if args.folder is not None and args.folder_flag is not None and args.folder != args.folder_flag:
        raise UserError(f"two folders given ({args.folder} and {flag} {args.folder_flag}); give one")
    value = args.folder if args.folder is not None else args.folder_flag
    if value is None:
        raise UserError(f"give the folder: {parser.prog} DIR (or {flag} DIR); see {parser.prog} --help")
    return value
