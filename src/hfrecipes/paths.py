"""Where this package runs from and where the recipes are: the one module that knows a checkout's layout.

A checkout holds ``src/hfrecipes`` (this package, as an editable install or on ``PYTHONPATH=src``) beside
``recipes/`` and ``pyproject.toml``. An installed copy lies in ``site-packages/hfrecipes`` and has no recipes: they
ship with the repository, not with the package.
"""

from __future__ import annotations

from pathlib import Path

from .errors import UserError

# Where this package lies: src/hfrecipes/ in a checkout, else site-packages/hfrecipes.
PACKAGE_DIR = Path(__file__).resolve().parent

RECIPES_SHIP_WITH_THE_REPO = (
    "the recipes ship with the hfrecipes repository, not the installed package; run hfrecipes from a checkout "
    "(git clone the repository, then pip install -e .)"
)
NO_RECIPES = f"no recipes/ folder found: {RECIPES_SHIP_WITH_THE_REPO}"


def package_checkout() -> Path | None:
    """The checkout this package runs from (an editable install), or ``None`` for an installed copy.

    An installed package lies in ``site-packages/hfrecipes``, whose parents are the Python installation: a
    ``recipes/`` folder there is not ours. A checkout has ``src/hfrecipes`` beside ``recipes/`` and ``pyproject.toml``.
    """
    root = PACKAGE_DIR.parents[1]
    if PACKAGE_DIR.parent.name == "src" and (root / "recipes").is_dir() and (root / "pyproject.toml").is_file():
        return root
    return None


def recipes_dir() -> Path | None:
    """The ``recipes/`` folder: of the checkout this package runs from, else of the current folder, else ``None``.

    The recipes ship with the repository, not with the installed package: a ``pip install hfrecipes`` outside a
    checkout has none (``hfrecipes list``, ``new`` and recipe names then say so in one line).
    """
    root = package_checkout()
    if root is not None:
        return root / "recipes"
    here = Path.cwd() / "recipes"
    return here if here.is_dir() else None


def checked_recipes_dir() -> Path:
    """:func:`recipes_dir`, or a one-line error where there is none."""
    folder = recipes_dir()
    if folder is None:
        raise UserError(NO_RECIPES)
    return folder


def import_root() -> Path:
    """The folder holding this package (``src/`` of a checkout, or ``site-packages``): on a child process's
    ``PYTHONPATH``, it imports the same hfrecipes as this process."""
    return PACKAGE_DIR.parent
