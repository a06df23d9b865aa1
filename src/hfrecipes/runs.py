"""What every output folder holds: the resolved config, versions, git commit and ``results.json``."""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import math
import os
import platform
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import yaml

from .config import UserError, config_to_dict

logger = logging.getLogger(__name__)

RESULTS_FILE = "results.json"
CONFIG_FILE = "run_config.yaml"
INFO_FILE = "run_info.json"
LOCK_FILE = ".hfrecipes.lock"
STAGING_DIR = ".staging"
_held_locks: dict[Path, int] = {}  # output folder -> file descriptor of its lock, held until the process exits
_PACKAGES = [
    "hfrecipes",
    "torch",
    "transformers",
    "datasets",
    "accelerate",
    "evaluate",
    "trl",
    "peft",
    "tokenizers",
    "huggingface_hub",
    "safetensors",
]


def is_main_process() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def git_commit() -> str | None:
    try:
        root = Path(__file__).resolve().parents[2]
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
        if out.returncode != 0:
            return None
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.strip()
        return out.stdout.strip() + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


def environment_info() -> dict[str, Any]:
    versions = {}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    info: dict[str, Any] = {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "versions": versions,
        "git_commit": git_commit(),
    }
    torch = sys.modules.get("torch")  # only when the run uses it: importing torch costs seconds
    if torch is not None:
        info["cuda"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    info["world_size"] = int(os.environ.get("WORLD_SIZE", "1"))
    return info


def check_output_dir(output_dir: str | Path, overwrite: bool = False) -> Path:
    """Refuses to write over a finished run unless asked to."""
    out = Path(output_dir)
    if (out / RESULTS_FILE).is_file() and not overwrite:
        raise UserError(
            f"{out} already holds a finished run ({RESULTS_FILE}); pick another --output_dir or pass --overwrite"
        )
    return out


def claim_output_dir(output_dir: str | Path, overwrite: bool = False) -> Path:
    """Checks ``output_dir`` like :func:`check_output_dir`, then locks it for this run (main process only).

    The lock is an exclusive ``flock`` on ``output_dir/.hfrecipes.lock``, held until the process exits, so a run
    killed even by SIGKILL leaves no stale lock. A second run into the same folder gets a one-line error. Staging
    folders left by a run that crashed while saving (see :func:`staged_save`) are removed.
    """
    out = check_output_dir(output_dir, overwrite)
    if not is_main_process() or _holds_lock(out):
        return out
    if (stale := _held_locks.pop(out.resolve(), None)) is not None:
        os.close(stale)  # the folder was deleted and made again since this process claimed it
    try:
        out.mkdir(parents=True, exist_ok=True)
        fd = os.open(out / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as err:
        raise UserError(f"cannot write to {out} ({err.strerror}); pick another --output_dir") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        owner = os.read(fd, 32).decode("ascii", "replace").strip() or "unknown"
        os.close(fd)
        raise UserError(
            f"{out} is in use by another run (pid {owner}); wait for it or pick another --output_dir"
        ) from None
    os.ftruncate(fd, 0)
    os.write(fd, str(os.getpid()).encode())
    _held_locks[out.resolve()] = fd
    shutil.rmtree(out / STAGING_DIR, ignore_errors=True)
    return out


def _holds_lock(out: Path) -> bool:
    """Whether this process already holds the lock of ``out`` (a second ``main()`` in the same process)."""
    fd = _held_locks.get(out.resolve())
    try:
        return fd is not None and os.fstat(fd).st_ino == os.stat(out / LOCK_FILE).st_ino
    except OSError:
        return False


def release_output_dirs() -> None:
    """Releases every output folder this process claimed (a process that exits releases them anyway)."""
    while _held_locks:
        os.close(_held_locks.popitem()[1])


@contextlib.contextmanager
def staged_save(output_dir: str | Path) -> Iterator[Path]:
    """Yields a staging folder to save final artifacts into; on success, moves them into ``output_dir``.

    Model weights are never half-written in place: everything is written to ``output_dir/.staging`` and then
    renamed into place entry by entry (``os.replace``; a folder replaces the old one whole). ``results.json``, the
    mark of a finished run, is removed first and written again by :func:`write_results` after the save, so a
    crash at any point leaves a folder that does not look finished. A failed save leaves the staging folder (the
    next :func:`claim_output_dir` removes it) and the output folder untouched. Every process enters the context
    (distributed saves gather weights on all ranks); only the main process moves files.
    """
    out = Path(output_dir)
    staging = out / STAGING_DIR
    if is_main_process():
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
    yield staging
    if not is_main_process():
        return
    (out / RESULTS_FILE).unlink(missing_ok=True)
    for entry in sorted(staging.iterdir()):
        target = out / entry.name
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        elif entry.is_dir() and target.exists():
            target.unlink()
        os.replace(entry, target)
    staging.rmdir()


def save_run_config(output_dir: str | Path, *configs: Any, recipe: str) -> None:
    """Writes ``run_config.yaml`` (readable back with ``--config``) and ``run_info.json``."""
    if not is_main_process():
        return
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    header = (
        f"# Resolved config of a {recipe} run; rerun with: python recipes/{recipe}.py --config {out / CONFIG_FILE}\n"
    )
    _atomic_write(out / CONFIG_FILE, header + yaml.safe_dump(config_to_dict(*configs), sort_keys=True))
    info = {
        "recipe": recipe,
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "argv": sys.argv,
        **environment_info(),
    }
    _atomic_write(out / INFO_FILE, json.dumps(info, indent=2))


def write_results(output_dir: str | Path, results: dict[str, Any]) -> Path:
    """Writes ``results.json`` last, atomically: its presence marks a finished run."""
    path = Path(output_dir) / RESULTS_FILE
    if is_main_process():
        clean = {k: _jsonable(v) for k, v in results.items()}
        _atomic_write(path, json.dumps(clean, indent=2, sort_keys=True))
        logger.info("Results written to %s", path)
    return path


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # strict JSON has no inf/nan
    if hasattr(value, "item"):
        return value.item()
    return value


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
