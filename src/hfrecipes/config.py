"""Config parsing: dataclasses + YAML through TRL's parser, with strict keys and one-line user errors.

Precedence, lowest to highest: dataclass defaults < YAML file (``--config``, or the recipe's default config)
< command-line flags. Every YAML key must be a field of one of the dataclasses; a misspelled key is an error
that names the closest valid one.
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import errno
import logging
import os
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import yaml

from .errors import UserError  # the recipes import it from here

logger = logging.getLogger(__name__)

_KINDS = {"int": "an integer", "float": "a number", "string_to_bool": "true or false"}


def _closest(key: str, choices: Sequence[str]) -> str:
    match = difflib.get_close_matches(key, list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{match[0]}'?)" if match else ""


def _read_yaml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if path.is_dir():
        raise UserError(f"--config {path} is a folder; give a YAML file (e.g. {_yaml_in(path)})")
    if not path.is_file():
        raise UserError(f"config file not found: {path}; pass an existing YAML file to --config")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        where = getattr(err, "problem_mark", None)
        line = f" at line {where.line + 1}" if where is not None else ""
        raise UserError(f"malformed YAML in {path}{line}; fix the syntax (key: value, one per line)") from None
    except UnicodeDecodeError as err:
        raise UserError(f"config file {path} is not UTF-8 text ({err.reason}); give a YAML file") from None
    if data is None:
        raise UserError(f"config file {path} is empty; write field: value lines in it, or leave out --config")
    if not isinstance(data, dict):
        raise UserError(f"config file {path} must be a YAML mapping of field: value, not a {type(data).__name__}")
    return data


def _yaml_in(folder: Path) -> str:
    found = sorted(folder.glob("*.yaml"))
    return str(found[0]) if found else f"{folder}/default.yaml"


def _coerce(action: argparse.Action, key: str, value: Any, source: str) -> Any:
    """Runs a YAML value through the same converter the command line would use, so types are checked."""
    convert = action.type
    if value is None or convert is None:
        return value
    try:
        if action.nargs in ("+", "*") and not isinstance(value, str):
            values = value if isinstance(value, list) else [value]
            return [convert(str(v)) for v in values]
        if isinstance(value, (list, dict)):
            # Fields typed as dicts (e.g. lr_scheduler_kwargs) are parsed from JSON strings on the CLI.
            return value
        return convert(str(value))
    except (TypeError, ValueError, argparse.ArgumentTypeError):
        expected = getattr(convert, "__name__", "the field's type")
        raise UserError(
            f"{source}: '{key}' has value {value!r}, which is not a valid {expected}; fix the value in the file"
        ) from None


class _Parser:
    """Thin layer over ``trl.TrlParser``: strict keys, type-checked YAML, and errors as one line."""

    def __init__(self, dataclass_types: Sequence[type], prog: str | None = None):
        from trl import TrlParser

        self.dataclass_types = list(dataclass_types)
        self.parser = TrlParser(self.dataclass_types, prog=prog, allow_abbrev=False)
        self.parser.add_argument("--config", type=str, default=None, help="YAML file of field: value pairs.")
        self.parser.error = self._error  # argparse prints usage + message; we want one line

    @staticmethod
    def _error(message: str):
        message = message.rstrip(".")
        wrong_type = re.search(r"invalid (\w+) value", message)
        if wrong_type:
            kind = _KINDS.get(wrong_type[1], f"a valid {wrong_type[1]}")
            raise UserError(f"{message}; give {kind}")
        raise UserError(f"{message}; see --help")

    @property
    def actions(self) -> dict[str, argparse.Action]:
        return {a.dest: a for a in self.parser._actions if a.dest not in ("help", "config")}

    def read_config(self, path: str | Path) -> dict[str, Any]:
        """The YAML file's values, keys checked against the fields and values converted to the fields' types."""
        return self.check_values(_read_yaml(path), str(path))

    def check_values(self, config: dict[str, Any], source: str) -> dict[str, Any]:
        """``config`` with its keys checked against the fields and its values converted to the fields' types."""
        actions = self.actions
        unknown = [k for k in config if k not in actions]
        if unknown:
            key = unknown[0]
            raise UserError(f"unknown key '{key}' in {source}{_closest(key, actions)}; remove or rename it")
        return {k: _coerce(actions[k], k, v, source) for k, v in config.items()}

    def parse(self, args: Sequence[str] | None, default_config: str | Path | None) -> tuple[Any, ...]:
        args, config_path = _split_config_arg(list(sys.argv[1:] if args is None else args))
        if config_path is None and default_config is not None:
            config_path = default_config
        actions = self.actions
        from_file: dict[str, Any] = {}
        if config_path is not None:
            from_file = self.read_config(config_path)
            self.parser.set_defaults_with_config(**from_file)
        given = set()
        for arg in args:
            if arg.startswith("--"):
                key = arg[2:].split("=", 1)[0]
                if key not in actions and key.replace("-", "_") not in actions and key != "help":
                    raise UserError(f"unknown option '--{key}'{_closest(key, actions)}; see --help for the options")
                given.add(key.replace("-", "_"))
        namespace, stray = self.parser.parse_known_args(args)
        if stray:  # argparse would drop a word it cannot place, and the run would silently use the default
            raise UserError(f"unexpected argument '{stray[0]}'; options are written --name value (see --help)")

        def where(key: str) -> str:
            if key in given or key not in from_file:
                return f"--{key}"
            return f"'{key}' in {config_path}"

        from .validation import check_machine, check_namespace, check_optimizer, cpu_without_bf16, declared_types

        fields = {f.name: f for cls in self.dataclass_types for f in dataclasses.fields(cls)}
        types = declared_types(self.dataclass_types)
        if problem := check_namespace(vars(namespace), actions, fields, where, types) or check_machine(
            vars(namespace)
        ):
            raise UserError(problem)
        if cpu_without_bf16(vars(namespace)):  # a config asking for bf16 on a CPU asks for speed: fp32 is that here
            logger.warning(
                "bf16 is off: this CPU has no bf16 instructions (AVX-512 or AMX), where bf16 runs many times slower "
                "than fp32; training in fp32"
            )
            args = [*args, *(a for key in ("bf16", "bf16_full_eval") if key in actions for a in (f"--{key}", "false"))]
        try:
            outputs = self.parser.parse_args_into_dataclasses(args=args, look_for_args_file=False)
        except (ValueError, TypeError) as err:  # raised by a dataclass __post_init__
            raise UserError(str(err).splitlines()[0]) from None
        outputs = outputs[: len(self.dataclass_types)]
        decay_ratio = next((c.lr_decay_ratio for c in outputs if hasattr(c, "lr_decay_ratio")), None)
        for cfg in outputs:  # an optimizer or LR schedule that cannot be built fails now, not after the model loads
            if problem := check_optimizer(cfg, decay_ratio):
                raise UserError(problem)
        return outputs


def _split_config_arg(args: list[str]) -> tuple[list[str], str | None]:
    """``args`` without ``--config FILE`` / ``--config=FILE``, and FILE (or None)."""
    for i, arg in enumerate(args):
        if arg == "--config":
            if i + 1 >= len(args) or args[i + 1].startswith("--"):
                raise UserError("--config needs a path to a YAML file")
            return args[:i] + args[i + 2 :], args[i + 1]
        if arg.startswith("--config="):
            if not arg[len("--config=") :]:
                raise UserError("--config needs a path to a YAML file")
            return args[:i] + args[i + 1 :], arg[len("--config=") :]
    return args, None


def parse_config(
    dataclass_types: Sequence[type], args: Sequence[str] | None = None, default_config: str | Path | None = None
) -> tuple[Any, ...]:
    """Parses ``--config FILE.yaml`` plus CLI overrides into one instance of each dataclass.

    ``default_config`` is used when no ``--config`` is given, so a recipe with no arguments runs its default setup.
    """
    _cpu_ddp_env()
    try:
        return _Parser(dataclass_types).parse(args, default_config)
    except UserError as err:
        err.same_on_every_rank = True
        raise


def _cpu_ddp_env() -> None:
    """Under torchrun (``LOCAL_RANK`` set) on a machine without CUDA, ask for CPU DDP (gloo).

    ``accelerate launch`` with several CPU processes starts them through torchrun, which does not set
    ``ACCELERATE_USE_CPU``; without it ``TrainingArguments`` sees no accelerator and every process would train
    alone on the full data instead of joining one DDP group.
    """
    if "LOCAL_RANK" in os.environ and int(os.environ.get("WORLD_SIZE", "1")) > 1:
        import torch

        if not torch.cuda.is_available():
            os.environ.setdefault("ACCELERATE_USE_CPU", "true")
            if os.environ.get("ACCELERATE_USE_FSDP", "false").lower() == "true":
                _keep_fsdp_on_cpu()


def _keep_fsdp_on_cpu() -> None:
    """Makes ``distributed_type: FSDP`` shard on CPU (gloo) too, instead of silently running DDP.

    accelerate (1.15) turns the FSDP plugin on only for accelerator back-ends: ``AcceleratorState.__init__`` sets
    ``DistributedType.FSDP`` for MULTI_GPU/XPU/NPU/... but not MULTI_CPU, where it drops the plugin, so
    ``accelerate_configs/cpu_fsdp.yaml`` would train as plain DDP. torch's ``fully_shard`` works on CPU over gloo; this
    keeps the plugin, as accelerate does on GPUs (also in ``PartialState``, which every later ``AcceleratorState()``
    copies its ``distributed_type`` from).
    """
    from accelerate.state import AcceleratorState, PartialState
    from accelerate.utils import DistributedType

    init = AcceleratorState.__init__
    if getattr(init, "_keeps_fsdp_on_cpu", False):
        return

    def __init__(self, *args, fsdp_plugin=None, **kwargs):
        init(self, *args, fsdp_plugin=fsdp_plugin, **kwargs)
        if fsdp_plugin is not None and self.distributed_type == DistributedType.MULTI_CPU:
            if self._mixed_precision != "no":
                fsdp_plugin.set_mixed_precision(self._mixed_precision)
            self.fsdp_plugin = fsdp_plugin
            self.distributed_type = PartialState._shared_state["distributed_type"] = DistributedType.FSDP

    __init__._keeps_fsdp_on_cpu = True
    AcceleratorState.__init__ = __init__


def check_config_file(dataclass_types: Sequence[type], path: str | Path) -> dict[str, Any]:
    """Checks a YAML config's keys and value types without building the configs (no file or hardware checks)."""
    return _Parser(dataclass_types).read_config(path)


def check_config(dataclass_types: Sequence[type], config: dict[str, Any], source: str) -> dict[str, Any]:
    """:func:`check_config_file` for values already in memory; ``source`` names them in errors."""
    return _Parser(dataclass_types).check_values(config, source)


# Fields named *_token hold secrets (hub_token, ...) except these, which name special tokens of a tokenizer.
_TOKEN_NAMES = {"bos_token", "eos_token", "pad_token", "unk_token"}


def config_to_dict(*configs: Any) -> dict[str, Any]:
    """Flat, YAML-safe dict of every field of every config, without secrets: ``--config`` can read it back."""
    out: dict[str, Any] = {}
    for cfg in configs:
        items = cfg.to_dict() if hasattr(cfg, "to_dict") else dataclasses.asdict(cfg)
        field_names = {f.name for f in dataclasses.fields(cfg) if f.init}
        for key, value in items.items():
            if key not in field_names or (key.endswith("_token") and key not in _TOKEN_NAMES):
                continue
            if key in _TOKEN_NAMES:
                value = getattr(cfg, key)  # TrainingArguments.to_dict() masks every *_token
            out[key] = yaml.safe_load(yaml.safe_dump(value)) if _yaml_safe(value) else str(value)
    return out


def _yaml_safe(value: Any) -> bool:
    try:
        yaml.safe_dump(value)
        return True
    except yaml.YAMLError:
        return False


ISSUES_URL = "https://github.com/hfrecipes/hfrecipes/issues"
# OSErrors that say what is wrong with the machine or a path, not with the code: one line, like a user error.
_ENVIRONMENT_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOTDIR, errno.EISDIR}


def cli_main(main: Callable[[], Any]) -> None:
    """Runs a recipe's ``main``: user errors are one line and exit status 2; bugs keep their traceback.

    The boundary knows three kinds of failure: :class:`UserError`; a data file a library could not read (found again by
    :func:`hfrecipes.datafiles.reader_error_message`, e.g. a broken line met while streaming); a full disk or a path
    that cannot be written. Anything else is a bug: one line saying so and where to report it, then the traceback.
    """
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.INFO)
    for name in ("httpx", "httpx2"):  # one INFO line per HTTP request otherwise (Hub downloads and pushes)
        logging.getLogger(name).setLevel(logging.WARNING)
    try:
        main()
    except UserError as err:
        if err.same_on_every_rank and int(os.environ.get("RANK", "0")) > 0:
            sys.exit(2)
        _fail(str(err))
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        sys.exit(130)
    except Exception as err:
        if message := known_failure(err):
            _fail(message)
        print(
            f"hfrecipes: unexpected error, a bug in hfrecipes or a library it uses (not in your input); please report "
            f"it at {ISSUES_URL} with the traceback below and the output of `hfrecipes env`",
            file=sys.stderr,
            flush=True,
        )
        raise


def _fail(message: str) -> None:
    print(f"error: {message}", file=sys.stderr, flush=True)
    sys.exit(2)


def known_failure(err: BaseException) -> str | None:
    """The one line for an exception that is not a bug (unreadable data, a full disk, a path it cannot write)."""
    from .datafiles import reader_error_message

    if message := reader_error_message(err):
        return message
    cause: BaseException | None = err
    while cause is not None:
        if isinstance(cause, OSError) and cause.errno in _ENVIRONMENT_ERRNOS:
            where = f"{cause.filename}: " if cause.filename else ""
            fix = "free some disk space" if cause.errno in (errno.ENOSPC, errno.EDQUOT) else "pick another path"
            return f"{where}{cause.strerror}; {fix} and run again"
        cause = cause.__cause__ or cause.__context__
    return None
