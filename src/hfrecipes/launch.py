"""``hfrecipes launch``: ``accelerate launch`` that ends on the recipe's own last line and exits with its status.

    hfrecipes launch --config_file accelerate_configs/cpu_ddp.yaml recipes/pretrain.py --max_steps 10
    python -m hfrecipes.launch ...                                  # the same, without the console script

It takes exactly ``accelerate launch``'s arguments and runs accelerate's own parser and ``launch_command`` in this
process: every launcher (plain subprocess, torchrun for DDP/FSDP, DeepSpeed) is accelerate's. Only the failure path
differs. When the recipe fails, ``accelerate launch`` adds its own traceback after the recipe's one-line ``error:``
(``subprocess.CalledProcessError`` for one process; for several, torchrun's log lines and its ``ChildFailedError``
block and traceback) and exits 1; ``-q`` hides the first only and still exits 1. Here the recipe's output (its one
line for a bad input, its traceback for a bug) stays the last thing printed, and the exit status is the recipe's:
2 for a user error, 1 for a bug, 130 for Ctrl-C. A recipe killed by a signal (the OOM killer's SIGKILL, ...) prints
nothing, so then one ``error:`` line says so, and the status is 128 + the signal number, as a shell reports it.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import subprocess
import sys
from pathlib import Path

from .errors import UserError

PROG = "hfrecipes launch"
USAGE = f"{PROG} [accelerate launch options] recipes/RECIPE.py [recipe options]"
# What torchrun's agent logs when a worker fails: the failure is the recipe's to report, and it already has.
_QUIET_RECORDS = {
    "torch.distributed.elastic.multiprocessing.api": {
        "failed (exitcode: %s) local_rank: %s (pid: %s) of binary: %s",
        "Sending process %s closing signal %s",
    },
    "torch.distributed.elastic.agent.server.api": {"Received %s death signal, shutting down workers"},
}


class _DropRecords(logging.Filter):
    def __init__(self, messages: set[str]):
        super().__init__()
        self.messages = messages

    def filter(self, record: logging.LogRecord) -> bool:
        return record.msg not in self.messages


@contextlib.contextmanager
def _quiet_torchrun_failures():
    filters = [(logging.getLogger(name), _DropRecords(messages)) for name, messages in _QUIET_RECORDS.items()]
    for logger, drop in filters:
        logger.addFilter(drop)
    try:
        yield
    finally:
        for logger, drop in filters:
            logger.removeFilter(drop)


def _usage_error(message: str):
    if "training_script" in message:  # argparse names the positional, and the REMAINDER after it, as required
        raise UserError(f"no script to launch; usage: {USAGE}")
    raise UserError(f"{message}; see {PROG} --help (the arguments of accelerate launch)")


def parse_args(argv: list[str]):
    """``accelerate launch``'s own parser, with its errors as one line."""
    from accelerate.commands.launch import launch_command_parser

    parser = launch_command_parser()
    parser.prog = PROG
    parser.error = _usage_error
    args = parser.parse_args(argv)
    if args.config_file is not None and not Path(args.config_file).is_file():
        raise UserError(f"accelerate config not found: {args.config_file}; pick one of accelerate_configs/*.yaml")
    script = Path(args.training_script)
    if not (args.module or args.no_python) and not script.is_file():
        raise UserError(f"no script {script}; give the recipe's path, e.g. recipes/pretrain.py")
    # accelerate's quiet mode turns the recipe's exit status into 1; its CalledProcessError carries the real one.
    args.quiet = False
    return args


@contextlib.contextmanager
def _launch_errors_as_user_errors():
    """accelerate's checks of the launch arguments and config (before anything starts) as one line each."""
    import yaml
    from accelerate.commands import launch as accelerate_launch

    validate = getattr(accelerate_launch, "_validate_launch_command", None)
    if validate is None:  # another accelerate: its own messages, as tracebacks
        yield
        return

    def checked(args):
        try:
            return validate(args)
        except (ValueError, FileNotFoundError, yaml.YAMLError) as err:
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise UserError(f"accelerate launch: {first}") from None

    accelerate_launch._validate_launch_command = checked
    try:
        yield
    finally:
        accelerate_launch._validate_launch_command = validate


def _worst(failures: dict) -> tuple[int, object]:
    """The failure to report among torchrun's: an exit status before a signal (the others are then stopped by the
    agent's SIGTERM), the earliest first, then the lowest rank."""

    def key(item):
        rank, failure = item
        return failure.exitcode < 0, failure.exitcode == -signal.SIGTERM, failure.timestamp, rank

    return min(failures.items(), key=key)


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def exit_status(code: int, script: str, rank: int | None = None) -> int:
    """The status to exit with for a recipe that ended with ``code`` (negative: killed by that signal)."""
    if code >= 0:
        return code  # the recipe printed its own error line (or its traceback) already
    where = f" (rank {rank})" if rank is not None else ""
    name = _signal_name(-code)
    hint = "; out of memory? the kernel's OOM killer sends SIGKILL" if -code == signal.SIGKILL else ""
    print(f"error: {script}{where} was killed by {name}{hint}", file=sys.stderr, flush=True)
    return 128 - code


def launch(argv: list[str]) -> int:
    """Runs ``accelerate launch ARGV``; returns the recipe's exit status (0 when it succeeded)."""
    from accelerate.commands.launch import launch_command
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError

    args = parse_args(argv)
    script = args.training_script
    try:
        with _launch_errors_as_user_errors(), _quiet_torchrun_failures():
            launch_command(args)
    except subprocess.CalledProcessError as err:  # one process (and DeepSpeed's multi-node launcher)
        return exit_status(err.returncode, script)
    except ChildFailedError as err:  # torchrun: DDP, FSDP, DeepSpeed on one node
        rank, failure = _worst(err.failures)
        return exit_status(failure.exitcode, script, rank)
    except SignalException as err:  # torchrun's agent was stopped; it stopped the workers
        sig = int(err.sigval)
        if sig != signal.SIGINT:  # on Ctrl-C the recipe says "error: interrupted" itself
            print(f"error: stopped by {_signal_name(sig)}", file=sys.stderr, flush=True)
        return 128 + sig
    except KeyboardInterrupt:  # the one-process launcher waits in this process; the recipe got Ctrl-C too
        return 130
    return 0


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        code = launch(argv)
    except UserError as err:
        print(f"error: {err}", file=sys.stderr, flush=True)
        sys.exit(2)
    sys.exit(code)


if __name__ == "__main__":
    main()
