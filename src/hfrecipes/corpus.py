"""The embedded default corpus, ``builtin:python-docs``: built at run time from this Python's own documentation.

Two sources, both shipped with every CPython: the reference topics of ``pydoc_data.topics`` (language reference
sections such as ``for``, ``with``, ``typesoverview``) and the docstrings of the pure-Python standard library,
read with ``ast`` so no module is imported (importing ``antigravity`` or ``turtle`` would have side effects).
Records carry ``name``, ``module``, ``kind`` and ``source`` so later recipes can derive tasks (SFT questions,
classification labels) from the same text. The split is fixed by a hash of each record's name.
"""

from __future__ import annotations

import ast
import hashlib
import logging
import os
import sys
import sysconfig
from pathlib import Path

logger = logging.getLogger(__name__)

BUILTIN_PYTHON_DOCS = "builtin:python-docs"
CORPUS_VERSION = "1"  # bump when the records built below change
VALIDATION_PERCENT = 5
MIN_DOC_CHARS = 80

# Packages and folders of the stdlib that are tests, vendored code or platform-specific tooling.
_SKIP_DIRS = {
    "test",
    "tests",
    "idle_test",
    "site-packages",
    "dist-packages",
    "lib2to3",
    "ensurepip",
    "idlelib",
    "turtledemo",
    "__pycache__",
    "config-3",
    "pydoc_data",
    "tkinter",
    "msilib",
}


def hash_bucket(name: str) -> int:
    """A stable bucket in [0, 100) for a record name: fixes splits independently of order and Python version."""
    return int(hashlib.md5(name.encode("utf-8")).hexdigest(), 16) % 100


def _split(name: str) -> str:
    return "validation" if hash_bucket(name) < VALIDATION_PERCENT else "train"


def _topic_records() -> list[dict]:
    from pydoc_data.topics import topics

    return [
        {"name": key, "module": "reference", "kind": "topic", "source": "pydoc_data.topics", "text": text.strip()}
        for key, text in sorted(topics.items())
        if len(text.strip()) >= MIN_DOC_CHARS
    ]


def _signature(node: ast.FunctionDef | ast.AsyncFunctionDef) -> str:
    try:
        return f"({ast.unparse(node.args)})"
    except Exception:  # pragma: no cover - unparse handles every valid tree
        return "(...)"


def _module_records(path: Path, module: str) -> list[dict]:
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except (SyntaxError, UnicodeDecodeError, ValueError):
        return []
    records = []

    def add(name: str, kind: str, header: str, node) -> None:
        doc = ast.get_docstring(node)
        if doc and len(doc) >= MIN_DOC_CHARS:
            records.append(
                {
                    "name": name,
                    "module": module,
                    "kind": kind,
                    "source": "stdlib-docstrings",
                    "text": f"{header}\n\n{doc.strip()}",
                }
            )

    add(module, "module", f"Module {module}", tree)
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and not node.name.startswith("_"):
            add(f"{module}.{node.name}", "function", f"{module}.{node.name}{_signature(node)}", node)
        elif isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
            add(f"{module}.{node.name}", "class", f"class {module}.{node.name}", node)
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and not item.name.startswith("_"):
                    qual = f"{module}.{node.name}.{item.name}"
                    add(qual, "method", f"{qual}{_signature(item)}", item)
    return records


def _stdlib_records() -> list[dict]:
    root = Path(sysconfig.get_paths()["stdlib"])
    records = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_DIRS and not d.startswith(("_", "config-")))
        rel = Path(dirpath).relative_to(root)
        for filename in sorted(filenames):
            if not filename.endswith(".py") or filename.startswith("_") and filename != "__init__.py":
                continue
            parts = [*rel.parts, filename[:-3]]
            if parts[-1] == "__init__":
                parts = parts[:-1]
            if not parts:
                continue
            records.extend(_module_records(Path(dirpath) / filename, ".".join(parts)))
    return records


def build_records() -> list[dict]:
    """All records of the corpus, in a fixed order, each with its split."""
    records = _topic_records() + _stdlib_records()
    seen = set()
    unique = []
    for rec in records:
        if rec["name"] not in seen:
            seen.add(rec["name"])
            unique.append({**rec, "split": _split(rec["name"])})
    return unique


def corpus_fingerprint() -> str:
    """Identifies the corpus this interpreter builds: it depends on the Python version."""
    return f"v{CORPUS_VERSION}-py{sys.version_info.major}.{sys.version_info.minor}.{sys.version_info.micro}"


def load_python_docs(cache_dir: str | None = None):
    """The corpus as a ``DatasetDict`` with ``train`` and ``validation``, built once and cached on disk."""
    from datasets import Dataset, DatasetDict, load_from_disk
    from datasets import config as ds_config

    base = Path(cache_dir or ds_config.HF_DATASETS_CACHE) / "hfrecipes" / f"python-docs-{corpus_fingerprint()}"
    if (base / "dataset_dict.json").is_file():
        return load_from_disk(str(base))
    logger.info("Building the builtin:python-docs corpus from this Python's documentation (once)")
    records = build_records()
    splits = {
        split: Dataset.from_list(
            [{k: v for k, v in r.items() if k != "split"} for r in records if r["split"] == split]
        )
        for split in ("train", "validation")
    }
    dsd = DatasetDict(splits)
    tmp = base.with_name(base.name + f".tmp{os.getpid()}")
    dsd.save_to_disk(str(tmp))
    try:
        os.replace(tmp, base)
    except OSError:  # another process finished first; use theirs
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
    return load_from_disk(str(base))
