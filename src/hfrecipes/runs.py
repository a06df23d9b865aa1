"""What every output folder holds: the resolved config, versions, git commit and ``results.json``."""

from __future__ import annotations

import json
import logging
import math
import os
import platform
import subprocess
import sys
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
