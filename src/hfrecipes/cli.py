"""The ``hfrecipes`` console script: runs recipes from a checkout and reports the environment."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

USAGE = """usage: hfrecipes COMMAND [ARGS...]

commands:
  list                 show the recipes and their configs
  pipeline --config FILE [--force]
                       tokenizer -> pretrain -> SFT -> classify -> report (recipes/configs/pipeline/*.yaml);
                       finished stages are skipped, --force reruns them all
  report OUTPUT_DIR    write a pipeline's report.md and report.html again
  new NAME --from RECIPE [--dest DIR]
                       copy a recipe and its configs into recipes/NAME.py, recipes/configs/NAME/
  env                  print library versions (paste into bug reports)
  push OUTPUT_DIR [--repo-id ID] [--private]
                       upload a finished run to the Hugging Face Hub (token: HF_TOKEN or `hf auth login`)
  RECIPE [ARGS...]     run recipes/RECIPE.py with ARGS (e.g. hfrecipes pretrain --config ...)
"""


def recipes_dir() -> Path | None:
    """The ``recipes/`` folder of the checkout this package was installed from (editable install) or the cwd."""
    for base in (Path(__file__).resolve().parents[2], Path.cwd()):
        if (base / "recipes").is_dir():
            return base / "recipes"
    return None


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE)
        return
    command, rest = argv[0], argv[1:]
    if command == "env":
        from .runs import environment_info

        for key, value in environment_info().items():
            print(f"{key}: {value}")
        return
    if command == "push":
        from .config import cli_main
        from .hub import push_command

        cli_main(lambda: push_command(rest))
        return
    if command == "report":
        from .config import UserError, cli_main
        from .report import write_report

        def report():
            if len(rest) != 1 or rest[0].startswith("-"):
                raise UserError("usage: hfrecipes report OUTPUT_DIR (the output_dir of a pipeline)")
            path = write_report(rest[0])
            print(f"Report: {path} and {path.with_suffix('.html')}")

        cli_main(report)
        return
    folder = recipes_dir()
    if folder is None:
        sys.exit("error: no recipes/ folder found; run hfrecipes from a checkout of the hfrecipes repository")
    if command == "list":
        for script in sorted(folder.glob("*.py")):
            configs = sorted((folder / "configs" / script.stem).glob("*.yaml"))
            print(f"{script.stem:16s} {', '.join(c.relative_to(folder.parent).as_posix() for c in configs)}")
        pipelines = sorted((folder / "configs" / "pipeline").glob("*.yaml"))
        print(f"{'pipeline':16s} {', '.join(c.relative_to(folder.parent).as_posix() for c in pipelines)}")
        return
    if command == "pipeline":
        from .config import cli_main
        from .pipeline import pipeline_command

        cli_main(lambda: pipeline_command(rest))
        return
    if command == "new":
        from .config import cli_main
        from .scaffold import new_command

        cli_main(lambda: new_command(rest, folder))
        return
    script = folder / f"{command.replace('-', '_')}.py"
    if not script.is_file():
        sys.exit(f"error: unknown command '{command}'; see 'hfrecipes list' for the recipes")
    sys.argv = [str(script), *rest]
    runpy.run_path(str(script), run_name="__main__")


if __name__ == "__main__":
    main()
