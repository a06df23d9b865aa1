"""``hfrecipes pipeline --config FILE``: tokenizer -> pretrain -> SFT -> classification -> report, in one command.

A pipeline config is a YAML file with a few top-level keys and one section per stage::

    output_dir: outputs/pipeline            # every stage writes <output_dir>/<stage> (default: outputs)
    accelerate_config: accelerate_configs/cpu.yaml
    push_to_hub: false                      # push every stage folder at the end, to <hub_model_id>-<stage>
    hub_model_id: my-demo
    tokenizer:  {vocab_size: 2048}          # keys of recipes/train_tokenizer.py, over its default config
    pretrain:   {config: recipes/configs/pretrain/shakespeare.yaml, max_train_minutes: 2}
    sft:        {enabled: false}            # or leave the section out
    classify:   {max_train_samples: 500}

Each section holds the recipe's own config keys, on top of the recipe's default config (or of ``config: FILE``);
``enabled: false`` turns a stage off. The pipeline sets every ``output_dir`` and wires the stages:
``tokenizer_name`` of pretrain is the tokenizer stage, ``model_name_or_path`` of SFT and classification is the
pretrain stage. Each stage runs as ``hfrecipes launch --config_file <accelerate_config> recipes/<recipe>.py --config
<output_dir>/configs/<stage>.yaml`` (``accelerate launch`` that ends on the recipe's own error line, see
:mod:`hfrecipes.launch`) with its output shown and kept in ``<output_dir>/logs/<stage>.log``; a failed stage stops the
pipeline with one line carrying the stage's own error line, ``error: stage NAME: MESSAGE (log: FILE)``. A stage
whose folder holds ``results.json`` is skipped, unless its config changed or a stage before it ran again: then its
``results.json`` is removed and it reruns.
"""

from __future__ import annotations

import glob
import importlib.util
import json
import logging
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .cliargs import command_parser
from .config import _read_yaml, check_config
from .errors import UserError
from .paths import checked_recipes_dir, import_root
from .runs import RESULTS_FILE
from .stages import STAGES

logger = logging.getLogger(__name__)

ONE_PROCESS = {"eval", "prepare_data"}  # stages that run as one process whatever the accelerate config
TOP_LEVEL_KEYS = {"output_dir", "accelerate_config", "push_to_hub", "hub_model_id", "hub_private_repo"}
STATE_FILE = "pipeline.json"
_FILE_KEYS = ("train_file", "validation_file", "test_file", "glue_dir")


@dataclass
class Stage:
    name: str
    recipe: str
    config: dict[str, Any]  # the recipe's config, wired; written to <output_dir>/configs/<name>.yaml

    def folder(self, output_dir: Path) -> Path:
        return output_dir / self.name


def repo_root() -> Path:
    """The checkout holding ``recipes/`` (see :func:`hfrecipes.paths.recipes_dir`)."""
    return checked_recipes_dir().parent


def _resolve(path: str | Path) -> Path:
    """A path as given (relative to the current folder), else relative to the checkout."""
    path = Path(path)
    return path if path.is_absolute() or path.exists() else repo_root() / path


def load_recipe(recipe: str):
    """Imports ``recipes/<recipe>.py`` (a script, not a package) for its ``CONFIG_CLASSES`` and ``DEFAULT_CONFIG``."""
    path = repo_root() / "recipes" / f"{recipe}.py"
    spec = importlib.util.spec_from_file_location(f"hfrecipes_recipe_{recipe}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_pipeline_config(path: str | Path) -> tuple[dict[str, Any], list[Stage]]:
    """The top-level settings and the enabled stages, wired; every stage's keys checked by its recipe's parser."""
    raw = _read_yaml(path)
    stage_names = [name for name, _ in STAGES]
    unknown = [k for k in raw if k not in TOP_LEVEL_KEYS and k not in stage_names]
    if unknown:
        raise UserError(
            f"unknown key '{unknown[0]}' in {path}; top-level keys are {sorted(TOP_LEVEL_KEYS)} and the stages "
            f"{stage_names}"
        )
    settings = {k: raw[k] for k in TOP_LEVEL_KEYS if k in raw}
    settings.setdefault("output_dir", "outputs")
    settings.setdefault("accelerate_config", "accelerate_configs/cpu.yaml")
    output_dir = Path(settings["output_dir"])
    stages, done = [], {}
    for name, recipe in STAGES:
        section = raw.get(name)
        if section is not None and not isinstance(section, dict):
            raise UserError(f"section '{name}' in {path} must be a mapping of {recipe}.py config keys")
        if section is None or not section.get("enabled", True):
            continue
        section = {k: v for k, v in section.items() if k != "enabled"}
        module = load_recipe(recipe)
        # The pipeline fine-tunes the small models it trains: a recipe's demo.yaml (hyper-parameters for those) is the
        # base where it has one; its default.yaml holds the defaults for Hub models.
        demo = Path(module.DEFAULT_CONFIG).with_name("demo.yaml")
        base = section.pop("config", None) or (demo if demo.is_file() else module.DEFAULT_CONFIG)
        config = {**_read_yaml(_resolve(base)), **section}
        config["output_dir"] = str(output_dir / name)
        if name in ("tokenizer", "pretrain") and "prepare_data" in done:
            config.pop("dataset_name", None)
            config["train_file"] = [str(Path(done["prepare_data"]) / "data" / "*.parquet")]  # made when it runs
        if name == "pretrain" and "tokenizer" in done:
            config["tokenizer_name"] = done["tokenizer"]
        if name in ("sft", "classify", "eval") and "pretrain" in done:
            config["model_name_or_path"] = done["pretrain"]
        config.pop("overwrite", None)  # the pipeline decides what reruns
        _check_files(name, config, skip=("train_file",) if "prepare_data" in done else ())
        stage = Stage(name, recipe, config)
        _check_keys(stage, module)
        stages.append(stage)
        done[name] = config["output_dir"]
    if not stages:
        raise UserError(f"{path} enables no stage; add a section for one of {stage_names}")
    return settings, stages


def _check_files(stage: str, config: dict[str, Any], skip: tuple[str, ...] = ()) -> None:
    for key in (k for k in _FILE_KEYS if k not in skip):
        values = config.get(key) or []
        for value in [values] if isinstance(values, str) else values:
            if not glob.glob(str(value)):
                raise UserError(f"stage {stage}: {key} {value} not found; fix the path in the pipeline config")


def _check_keys(stage: Stage, module) -> None:
    """Runs the stage's config through its recipe's parser (unknown keys, types) before any stage starts."""
    try:
        check_config(module.CONFIG_CLASSES, stage.config, "its section")
    except UserError as err:
        raise UserError(f"stage {stage.name}: {err}") from None


def run_pipeline(config_path: str | Path, force: bool = False) -> Path:
    """Runs the enabled stages in order (skipping finished ones), writes the report; returns ``report.md``."""
    from .report import write_report

    settings, stages = load_pipeline_config(config_path)
    output_dir = Path(settings["output_dir"])
    accelerate_config = _resolve(settings["accelerate_config"])
    if not accelerate_config.is_file():
        raise UserError(f"accelerate_config {settings['accelerate_config']} not found; see accelerate_configs/")
    hub_targets = _hub_targets(settings, stages)
    state = _read_state(output_dir)
    state["config"] = str(config_path)
    rerun = force
    for stage in stages:
        folder = stage.folder(output_dir)
        config_file = output_dir / "configs" / f"{stage.name}.yaml"
        text = f"# {stage.name} stage, written by hfrecipes pipeline\n" + yaml.safe_dump(stage.config, sort_keys=True)
        changed = config_file.is_file() and config_file.read_text(encoding="utf-8") != text
        finished = (folder / RESULTS_FILE).is_file()
        entry = state["stages"].setdefault(stage.name, {})
        if finished and not rerun and not changed:
            logger.info("Stage %s: finished (%s exists), skipped", stage.name, folder / RESULTS_FILE)
            entry["status"] = "skipped"
            continue
        if finished:
            reason = "its config changed" if changed else "an earlier stage ran again"
            logger.info("Stage %s: rerunning, %s", stage.name, reason)
        # Unfinished from here on: a run cut short must not leave the old results.json looking current.
        (folder / RESULTS_FILE).unlink(missing_ok=True)
        config_file.parent.mkdir(parents=True, exist_ok=True)
        config_file.write_text(text, encoding="utf-8")
        log = output_dir / "logs" / f"{stage.name}.log"
        # A stage cut short (checkpoints, no results.json) whose inputs are unchanged resumes; otherwise it starts over
        # (--overwrite), so it never resumes checkpoints made from another tokenizer, model or config.
        fresh = finished or rerun or changed
        seconds = _run_stage(stage, config_file, accelerate_config, log, fresh)
        entry.update(status="ran", seconds=round(seconds, 1), log=str(log.relative_to(output_dir)))
        _write_state(output_dir, state)
        rerun = True  # later stages start from what this one wrote
    state["enabled"] = [s.name for s in stages]
    _write_state(output_dir, state)
    for stage in stages:
        if stage.name in hub_targets:
            from .hub import push_folder

            target = hub_targets[stage.name]
            print(f"Pushed {stage.name} to {push_folder(stage.folder(output_dir), target.repo_id, target.private)}")
    return write_report(output_dir)


class StageFailed(UserError):
    """A stage's recipe failed: its own ``error:`` line (when it printed one), its exit status and its log."""

    def __init__(self, message: str, exit_status: int):
        super().__init__(message)
        self.exit_status = exit_status


def last_error_line(output: bytes) -> str | None:
    """The message of the last ``error: ...`` line of a stage's output, or ``None``."""
    lines = output.decode("utf-8", errors="replace").splitlines()  # splits on \r too
    return next((line[len("error: ") :].strip() for line in reversed(lines) if line.startswith("error: ")), None)


_TAIL_BYTES = 64 * 1024  # of a stage's output, kept to find its error line


def _run_stage(stage: Stage, config_file: Path, accelerate_config: Path, log: Path, fresh: bool) -> float:
    """``hfrecipes launch`` of the stage's recipe, its output shown live and copied to ``log``; returns seconds.

    ``hfrecipes launch`` is ``accelerate launch`` that ends on the recipe's own last line and exits with its status,
    so a failed stage's last ``error:`` line is the recipe's, and it is carried into the pipeline's one line.
    """
    cmd = [
        sys.executable,
        "-m",
        "hfrecipes.launch",
        "--config_file",
        str(accelerate_config),
        *(["--num_processes", "1"] if stage.name in ONE_PROCESS else []),
        str(repo_root() / "recipes" / f"{stage.recipe}.py"),
        "--config",
        str(config_file),
        *(["--overwrite"] if fresh else []),
    ]
    env = dict(os.environ)
    src = str(import_root())  # the stages import the same hfrecipes as this process
    env["PYTHONPATH"] = os.pathsep.join([src, *filter(None, [env.get("PYTHONPATH")])])
    log.parent.mkdir(parents=True, exist_ok=True)
    print(f"=== Stage {stage.name}: recipes/{stage.recipe}.py (log: {log})", flush=True)
    start = time.perf_counter()
    tail = bytearray()
    with open(log, "wb") as sink:
        sink.write((" ".join(cmd) + "\n").encode())
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
        while chunk := os.read(proc.stdout.fileno(), 4096):  # chunks, not lines: progress bars redraw with \r
            sink.write(chunk)
            sys.stdout.buffer.write(chunk)
            sys.stdout.flush()
            tail += chunk
            del tail[:-_TAIL_BYTES]
        code = proc.wait()
    seconds = time.perf_counter() - start
    if code != 0:
        message = last_error_line(bytes(tail))
        if message is None:  # no error line (a bug's traceback, a crash): the cause ends the output
            raise StageFailed(
                f"stage {stage.name} failed with exit status {code}; the cause ends its output and its log: {log}",
                code,
            )
        raise StageFailed(f"stage {stage.name}: {message} (log: {log})", code)
    print(f"=== Stage {stage.name} done in {seconds:.0f} s", flush=True)
    return seconds


def _hub_targets(settings: dict[str, Any], stages: list[Stage]) -> dict[str, Any]:
    """Checks the token before any stage runs; one repo per stage, ``<hub_model_id>-<stage>``."""
    if not settings.get("push_to_hub"):
        return {}
    from .hub import HubArguments, hub_target

    prefix = settings.get("hub_model_id") or Path(settings["output_dir"]).resolve().name
    return {
        s.name: hub_target(HubArguments(True, f"{prefix}-{s.name}", settings.get("hub_private_repo"))) for s in stages
    }


def _read_state(output_dir: Path) -> dict[str, Any]:
    try:
        state = json.loads((output_dir / STATE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        state = {}
    state.setdefault("stages", {})
    return state


def _write_state(output_dir: Path, state: dict[str, Any]) -> None:
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / STATE_FILE).write_text(json.dumps(state, indent=2), encoding="utf-8")


def pipeline_command(argv: list[str]) -> None:
    """``hfrecipes pipeline --config FILE [--force]``: runs the pipeline, then says where the report is.

    A failed stage ends it with one line, ``error: stage NAME: <the stage's own error line> (log: FILE)``, and the
    stage's exit status (2 for a bad input).
    """
    parser = command_parser("pipeline", description="Run tokenizer -> pretrain -> SFT -> classify -> report.")
    parser.add_argument("--config", required=True, help="Pipeline YAML, e.g. recipes/configs/pipeline/default.yaml.")
    parser.add_argument("--force", action="store_true", help="Rerun every stage, finished or not.")
    args = parser.parse_args(argv)
    try:
        report = run_pipeline(args.config, force=args.force)
    except StageFailed as err:
        print(f"error: {err}", file=sys.stderr, flush=True)
        sys.exit(err.exit_status)
    print(f"\nReport: {report} (and {report.with_suffix('.html')})")
    for stage in ("sft", "pretrain"):
        results = report.parent / stage / RESULTS_FILE
        if results.is_file():
            res = json.loads(results.read_text(encoding="utf-8"))
            kind = "answer" if stage == "sft" else "continuation"
            print(f"Sample {kind} from {results.parent}, to {res.get('sample_prompt')!r}:\n{res.get('sample')}")
            break
