"""The ``hfrecipes`` console script: runs recipes from a checkout and reports the environment."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

USAGE = """usage: hfrecipes COMMAND [ARGS...]

commands:
  list                 show the recipes and their configs
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
    folder = recipes_dir()
    if folder is None:
        sys.exit("error: no recipes/ folder found; run hfrecipes from a checkout of the hfrecipes repository")
    if command == "list":
        for script in sorted(folder.glob("*.py")):
            configs = sorted((folder / "configs" / script.stem).glob("*.yaml"))
            print(f"{script.stem:16s} {', '.join(c.relative_to(folder.parent).as_posix() for c in configs)}")
        return
    script = folder / f"{command.replace('-', '_')}.py"
    if not script.is_file():
        sys.exit(f"error: unknown command '{command}'; see 'hfrecipes list' for the recipes")
    sys.argv = [str(script), *rest]
    runpy.run_path(str(script), run_name="__main__")


if __name__ == "__main__":
    main()


if __name__ == "__main__":
    main()
