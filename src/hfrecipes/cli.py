"""The ``hfrecipes`` console script: runs recipes from a checkout and reports the environment.

Every mistake on its command line is one ``error:`` line and exit status 2, as in the recipes: an unknown command, an
unknown option or a stray positional argument, a missing folder.
"""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

from .cliargs import command_parser, folder, folder_argument
from .errors import UserError
from .paths import RECIPES_SHIP_WITH_THE_REPO, checked_recipes_dir, recipes_dir

USAGE = """usage: hfrecipes COMMAND [ARGS...]

commands:
  launch [ACCELERATE LAUNCH ARGS] recipes/RECIPE.py [ARGS...]
                       accelerate launch, ending on the recipe's own error line with its exit status (2: bad input)
  list                 show the recipes and their configs
  pipeline --config FILE [--force]
                       tokenizer -> pretrain -> SFT -> classify -> report (recipes/configs/pipeline/*.yaml);
                       finished stages are skipped, --force reruns them all
  report OUTPUT_DIR    write a pipeline's report.md and report.html again (or --output_dir OUTPUT_DIR)
  new NAME --from RECIPE [--dest DIR]
                       copy a recipe and its configs into DIR/NAME.py, DIR/configs/NAME/ (default DIR: recipes/ of
                       the checkout you are in, else ./recipes)
  env                  print library versions (paste into bug reports)
  push OUTPUT_DIR [--repo-id ID] [--private]
                       upload a finished run to the Hugging Face Hub (token: HF_TOKEN or `hf auth login`);
                       OUTPUT_DIR may be given as --output_dir OUTPUT_DIR
  RECIPE [ARGS...]     run recipes/RECIPE.py with ARGS in this process (e.g. hfrecipes pretrain --config ...)

Options take --name value or --name=value.
"""
COMMANDS = ("launch", "list", "pipeline", "report", "new", "env", "push")
# recipes/eval.py is `hfrecipes evaluate` too: a script named evaluate.py would shadow the `evaluate` package for
# every recipe run as `python recipes/X.py` (its folder comes first on sys.path).
ALIASES = {"evaluate": "eval"}


def _no_arguments(command: str, argv: list[str]) -> None:
    parser = command_parser(command, description=f"hfrecipes {command}: takes no arguments.")
    parser.parse_args(argv)


def _list(argv: list[str]) -> None:
    _no_arguments("list", argv)
    folder = checked_recipes_dir()
    for script in sorted(folder.glob("*.py")):
        configs = sorted((folder / "configs" / script.stem).glob("*.yaml"))
        print(f"{script.stem:16s} {', '.join(c.relative_to(folder.parent).as_posix() for c in configs)}")
    pipelines = sorted((folder / "configs" / "pipeline").glob("*.yaml"))
    print(f"{'pipeline':16s} {', '.join(c.relative_to(folder.parent).as_posix() for c in pipelines)}")


def _env(argv: list[str]) -> None:
    _no_arguments("env", argv)
    from .runs import environment_info

    for key, value in environment_info().items():
        print(f"{key}: {value}")


def _report(argv: list[str]) -> None:
    from .report import write_report

    parser = command_parser("report", description="Write a pipeline's report.md and report.html again.")
    folder_argument(parser, "The output_dir of a pipeline.")
    args = parser.parse_args(argv)
    path = write_report(folder(parser, args))
    print(f"Report: {path} and {path.with_suffix('.html')}")


def _push(argv: list[str]) -> None:
    from .hub import push_command

    push_command(argv)


def _pipeline(argv: list[str]) -> None:
    from .pipeline import pipeline_command

    pipeline_command(argv)


def _new(argv: list[str]) -> None:
    from .scaffold import new_command

    new_command(argv)


def recipe_script(command: str) -> Path:
    """``recipes/COMMAND.py``, or a one-line error naming what exists."""
    folder = recipes_dir()
    if folder is None:
        raise UserError(
            f"unknown command '{command}': not one of {', '.join(COMMANDS)}, and no recipes/{command}.py here: "
            f"{RECIPES_SHIP_WITH_THE_REPO}"
        )
    command = ALIASES.get(command, command)
    script = folder / f"{command.replace('-', '_')}.py"
    if not script.is_file():
        raise UserError(
            f"unknown command '{command}'; the commands are {', '.join(COMMANDS)} (hfrecipes --help), and "
            "'hfrecipes list' shows the recipes"
        )
    return script


def _fail(err: UserError) -> None:
    print(f"error: {err}", file=sys.stderr)
    sys.exit(2)


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(USAGE)
        return
    command, rest = argv[0], argv[1:]
    if command == "launch":  # not under cli_main: its logging setup would change what torchrun prints
        from .launch import main as launch

        launch(rest)
        return
    handlers = {"list": _list, "env": _env, "report": _report, "push": _push, "pipeline": _pipeline, "new": _new}
    if command in handlers:
        from .config import cli_main

        cli_main(lambda: handlers[command](rest))
        return
    try:
        script = recipe_script(command)
    except UserError as err:
        _fail(err)
    # The recipe runs in this process, under its own cli_main: a bad input is its one line and exit status 2.
    sys.argv = [str(script), *rest]
    runpy.run_path(str(script), run_name="__main__")


if __name__ == "__main__":
    main()
