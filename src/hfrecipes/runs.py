"""What every output folder holds: the resolved config, versions, git commit and ``results.json``."""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import math
import os
import platform
import re
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import yaml

from .config import config_to_dict
from .errors import UserError
from .paths import package_checkout

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
    root = package_checkout()
    if root is None:  # an installed copy: no checkout, no commit
        return None
    try:
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
    staged = {entry.name for entry in staging.iterdir()}
    if staged & set(_WEIGHTS):  # a new model replaces the old one whole: no stale adapter beside full weights
        for stale in [p for pattern in _MODEL_FILE_PATTERNS for p in out.glob(pattern)]:
            if stale.name not in staged and stale.is_file():
                stale.unlink()
    for entry in sorted(staging.iterdir()):
        target = out / entry.name
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        elif entry.is_dir() and target.exists():
            target.unlink()
        os.replace(entry, target)
    staging.rmdir()


_MODEL_FILE_PATTERNS = (
    "model*.safetensors",
    "model.safetensors.index.json",
    "adapter_model.safetensors",
    "adapter_config.json",
)
_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")
# A checkpoint's weights: saved by save_model, or only in FSDP's and DeepSpeed's own formats (FSDP's full state dict,
# its sharded state dict, ZeRO-3 partitions without a gathered copy), which the Trainer loads from on resume.
_WEIGHTS = (
    "model.safetensors",
    "model.safetensors.index.json",
    "adapter_model.safetensors",
    "pytorch_model.bin",
    "pytorch_model_fsdp.bin",
)
_DCP_FOLDERS = ("pytorch_model_fsdp_*", "optimizer_*")  # FSDP's SHARDED_STATE_DICT, torch.distributed.checkpoint
_RNG_STATE = re.compile(r"^rng_state_(\d+)\.pth$")  # the Trainer's, one per process when several train
_DCP_SHARD = re.compile(r"^__(\d+)_\d+\.distcp$")  # torch.distributed.checkpoint: __RANK_N.distcp
_ZERO_PARTITION = re.compile(r"^(.*zero_pp_rank_)(\d+)_mp_rank_(\d+)(_\w+\.pt)$")  # DeepSpeed: DP rank, MP rank


def is_usable_checkpoint(folder: str | Path) -> bool:
    """True when a Trainer checkpoint was written to the end, by every process.

    The Trainer writes a checkpoint in place (no staging folder): model, optimizer, scheduler, RNG states, then
    ``trainer_state.json``. A process killed while saving leaves a folder without a complete ``trainer_state.json``
    (missing, or truncated JSON), so that file, parsed, marks a finished checkpoint. But the main process writes it
    with no barrier after the other ranks' own files (their RNG states), so a rank killed mid-save can leave a
    checkpoint whose ``trainer_state.json`` is whole while a file of another rank is missing or cut short:

    - every torch file (``*.pt``, ``*.pth``, ``*.bin``, in DeepSpeed's ``global_step*/`` too) must be a whole zip
      (truncated ones lack the central directory at their end);
    - each torch.distributed.checkpoint folder (FSDP's sharded ``pytorch_model_fsdp_0/``, ``optimizer_0/``) must hold
      its ``.metadata``, which the coordinator writes (tmp file + rename) once every rank's shards are written;
    - DeepSpeed's ``global_step*/`` folders need the ``latest`` file naming one, without which DeepSpeed loads nothing;
    - the other ranks' RNG states must all be there, up to the highest rank seen in RNG states, FSDP shards or ZeRO
      partitions (``rng_state_0.pth`` alone means two processes at least), and ZeRO partitions for every
      data-parallel rank. A highest rank killed before writing any file of its own goes unseen.
    """
    folder = Path(folder)
    try:
        state = json.loads((folder / "trainer_state.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if not (isinstance(state, dict) and "global_step" in state):
        return False
    shards = [p for pattern in _DCP_FOLDERS for p in folder.glob(pattern) if p.is_dir()]
    tags = [p for p in folder.glob("global_step*") if p.is_dir()]
    if not (any((folder / w).is_file() for w in _WEIGHTS) or shards or tags):
        return False
    if not all((d / ".metadata").is_file() for d in shards) or (tags and not _names_a_folder(folder / "latest")):
        return False
    torch_files = [f for d in (folder, *tags) for pattern in ("*.pt", "*.pth", "*.bin") for f in d.glob(pattern)]
    try:
        return all(zipfile.is_zipfile(f) for f in torch_files) and _every_rank_saved(folder, shards, tags)
    except OSError:  # deleted meanwhile: the main process removes broken checkpoints while the other ranks look
        return False


def _names_a_folder(pointer: Path) -> bool:
    try:
        return (pointer.parent / pointer.read_text(encoding="utf-8").strip()).is_dir()
    except (OSError, ValueError):
        return False


def _every_rank_saved(folder: Path, shards: list[Path], tags: list[Path]) -> bool:
    """Whether the per-process files of a checkpoint cover every process seen in it (see ``is_usable_checkpoint``)."""
    rng = {int(m[1]) for f in folder.iterdir() if (m := _RNG_STATE.match(f.name))}
    dcp = {int(m[1]) for d in shards for f in d.iterdir() if (m := _DCP_SHARD.match(f.name))}
    zero: dict[tuple[Path, str, int, str], set[int]] = {}  # one family per file name without its data-parallel rank
    for tag in tags:
        for f in tag.iterdir():
            if m := _ZERO_PARTITION.match(f.name):
                zero.setdefault((tag, m[1], int(m[3]), m[4]), set()).add(int(m[2]))
    if any(ranks != set(range(len(ranks))) for ranks in zero.values()):
        return False
    processes = max((max(ranks) + 1 for ranks in (rng, dcp, *zero.values()) if ranks), default=1)
    processes = max(processes, 2) if rng else processes  # rng_state_N.pth: several processes trained
    data_parallel = all(mp == 0 for _, _, mp, _ in zero)  # with model parallelism a family holds fewer ranks
    if data_parallel and any(len(ranks) != processes for ranks in zero.values()):
        return False
    return not rng or set(range(1, processes)) <= rng  # rank 0 writes its own before trainer_state.json


def prepare_output_dir(training_args: Any, overwrite: bool = False) -> tuple[Path, str | None]:
    """Checks ``training_args.output_dir`` and returns it with the checkpoint to resume from (``None``: start fresh).

    - a finished run (``results.json``) is refused unless ``overwrite`` or an explicit checkpoint is given, and the
      folder is locked for this run (:func:`claim_output_dir`) before anything in it is deleted;
    - ``resume_from_checkpoint`` (a path, or ``true`` for the last usable one) is honoured as the Trainer does;
    - ``overwrite`` starts fresh, deleting the folder's checkpoints and ``results.json`` (a killed fresh run must
      not resume a stale checkpoint, nor look finished);
    - otherwise an unfinished run (checkpoints, no ``results.json``) resumes from its last usable checkpoint: rerunning
      the same command after a crash or a kill continues it. Unusable checkpoints (killed mid-save) are deleted.
    """
    out, resume_from_checkpoint = Path(training_args.output_dir), training_args.resume_from_checkpoint
    explicit = resume_from_checkpoint not in (None, "", "false", "False")
    if explicit and str(resume_from_checkpoint).lower() != "true":
        if not is_usable_checkpoint(resume_from_checkpoint):
            raise UserError(f"{resume_from_checkpoint} is not a complete checkpoint (no readable trainer_state.json)")
        return claim_output_dir(out, overwrite=True), str(resume_from_checkpoint)
    claim_output_dir(out, overwrite or explicit)  # refuses a finished run; locks the folder before deleting anything
    checkpoints = sorted(
        (int(m.group(1)), p) for p in out.glob("checkpoint-*") if (m := _CHECKPOINT.match(p.name)) and p.is_dir()
    )
    if overwrite:
        if checkpoints:
            logger.info("--overwrite: starting fresh, deleting %d checkpoint(s) in %s", len(checkpoints), out)
        _remove([p for _, p in checkpoints])
        if is_main_process():
            (out / RESULTS_FILE).unlink(missing_ok=True)  # until the new run ends, the folder holds no finished run
        return out, None
    for i in range(len(checkpoints) - 1, -1, -1):
        if is_usable_checkpoint(checkpoints[i][1]):
            broken = [p for _, p in checkpoints[i + 1 :]]
            if broken:
                logger.warning("Deleting incomplete checkpoints (killed while saving?): %s", [p.name for p in broken])
            _remove(broken)
            path = str(checkpoints[i][1])
            logger.info("Resuming the unfinished run in %s from %s (pass --overwrite to start fresh)", out, path)
            return out, path
    if explicit:
        raise UserError(f"--resume_from_checkpoint true: no complete checkpoint in {out}")
    _remove([p for _, p in checkpoints])
    return out, None


def _remove(folders: list[Path]) -> None:
    if is_main_process():
        for folder in folders:
            shutil.rmtree(folder, ignore_errors=True)


def save_run_config(output_dir: str | Path, *configs: Any, recipe: str, **info: Any) -> None:
    """Writes ``run_config.yaml`` (readable back with ``--config``) and ``run_info.json`` (with ``info``, e.g. what
    the run makes: ``repo_type="dataset"``)."""
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
        **info,
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
