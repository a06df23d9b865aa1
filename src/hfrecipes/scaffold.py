"""``hfrecipes new NAME --from RECIPE``: copies a recipe and its configs into a new recipe for a new task.

Like torchtune's ``tune cp``: fork a recipe instead of adding flags to it. The copy is renamed where the name is
the recipe's identity (docstring launch lines, ``DEFAULT_CONFIG``, logger name, the ``recipe=`` recorded in
``run_info.json`` and the model card, config comments, ``outputs/RECIPE`` folders) and runs as is.
"""

from __future__ import annotations

import re
from pathlib import Path

from . import paths
from .cliargs import command_parser
from .errors import UserError

# Names the console script already uses for its own commands.
RESERVED = {"list", "env", "push", "pipeline", "report", "new", "help"}


def rename(text: str, old: str, new: str) -> str:
    """``text`` with every place that names recipe ``old`` (its script, configs, outputs, logger) naming ``new``."""
    patterns = [
        (rf"recipes/{old}\.py", f"recipes/{new}.py"),
        (rf"recipes/configs/{old}/", f"recipes/configs/{new}/"),
        (rf'"configs" / "{old}"', f'"configs" / "{new}"'),
        (rf'getLogger\("{old}"\)', f'getLogger("{new}")'),
        (rf'recipe="{old}"', f'recipe="{new}"'),
        (rf"\boutputs/{old}\b", f"outputs/{new}"),
        (rf"hfrecipes {old}\b", f"hfrecipes {new}"),
    ]
    for pattern, replacement in patterns:
        text = re.sub(pattern, replacement, text)
    return text


def copy_recipe(name: str, source: str, recipes_dir: Path, dest: Path | None = None) -> list[Path]:
    """Writes ``dest/NAME.py`` and ``dest/configs/NAME/*.yaml`` from recipe ``source``; returns the new files."""
    if not re.fullmatch(r"[a-z][a-z0-9_]*", name) or name in RESERVED:
        raise UserError(
            f"'{name}' is not a valid recipe name: use lowercase letters, digits and _ (e.g. my_task), "
            f"not one of {sorted(RESERVED)}"
        )
    script = recipes_dir / f"{source}.py"
    if not script.is_file():
        known = ", ".join(sorted(p.stem for p in recipes_dir.glob("*.py")))
        raise UserError(f"no recipe '{source}' in {recipes_dir}; pick one of: {known}")
    dest = recipes_dir if dest is None else dest
    target = dest / f"{name}.py"
    if target.exists() or (dest / "configs" / name).exists():
        raise UserError(f"{target} or {dest / 'configs' / name} already exists; pick another name or remove it")
    if dest.exists() and not dest.is_dir():
        raise UserError(f"--dest {dest} is a file; give a folder")
    header = f"# Copied from recipes/{source}.py by `hfrecipes new {name} --from {source}`; edit it freely.\n"
    written = [target]
    try:
        dest.mkdir(parents=True, exist_ok=True)
        target.write_text(header + rename(script.read_text(encoding="utf-8"), source, name), encoding="utf-8")
        configs = sorted((recipes_dir / "configs" / source).glob("*.yaml"))
        if configs:
            (dest / "configs" / name).mkdir(parents=True)
        for config in configs:
            copy = dest / "configs" / name / config.name
            copy.write_text(rename(config.read_text(encoding="utf-8"), source, name), encoding="utf-8")
            written.append(copy)
    except PermissionError as err:
        raise UserError(
            f"cannot write {err.filename}: permission denied; pick a folder you can write with --dest"
        ) from None
    return written


def default_dest(source_dir: Path, cwd: Path | None = None) -> Path:
    """Where ``hfrecipes new`` writes without ``--dest``: the checkout's ``recipes/`` when the current folder is in
    that checkout, else ``./recipes`` (never the folder of an installed package, or a checkout elsewhere)."""
    cwd = (cwd or Path.cwd()).resolve()
    checkout = source_dir.resolve().parent
    return source_dir if cwd == checkout or checkout in cwd.parents else cwd / "recipes"


def _shown(path: Path) -> str:
    """``path`` relative to the current folder when it is below it (the way the launch line is typed)."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def new_command(argv: list[str], source_dir: Path | None = None) -> None:
    """``hfrecipes new NAME --from RECIPE [--dest DIR]``; ``source_dir`` (default: the checkout's ``recipes/``)."""
    parser = command_parser("new", description="Copy a recipe and its configs.")
    parser.add_argument("name", help="Name of the new recipe, e.g. my_task.")
    parser.add_argument("--from", dest="source", required=True, help="Recipe to copy, e.g. classify.")
    parser.add_argument(
        "--dest",
        type=Path,
        default=None,
        help="Recipes folder to write into (default: recipes/ of the checkout you are in, else ./recipes).",
    )
    args = parser.parse_args(argv)
    if source_dir is None:
        source_dir = paths.recipes_dir()
        if source_dir is None:
            raise UserError(
                f"hfrecipes new copies a recipe's source, and none is here: {paths.RECIPES_SHIP_WITH_THE_REPO}"
            )
        if paths.package_checkout() is None and not (source_dir / f"{args.source}.py").is_file():
            raise UserError(f"no recipe '{args.source}' in {source_dir}: {paths.RECIPES_SHIP_WITH_THE_REPO}")
    dest = args.dest if args.dest is not None else default_dest(source_dir)
    written = copy_recipe(args.name, args.source, source_dir, dest)
    for path in written:
        print(f"wrote {_shown(path)}")
    config = next((p for p in written if p.name == "default.yaml"), None)
    launch = f"hfrecipes launch {_shown(written[0])}" + (f" --config {_shown(config)}" if config else "")
    print(f"Run it with: {launch}")
