"""Runs a recipe that SIGKILLs itself at a chosen point, to test that rerunning the same command resumes it.

    accelerate launch tests/killable.py recipes/pretrain.py ARGS...      # with HFRECIPES_KILL set

``HFRECIPES_KILL=step:N`` kills the training process in the step after optimizer step N (mid-training);
``HFRECIPES_KILL=save:N`` kills it while it saves checkpoint-N, after the model and optimizer are written and
before ``trainer_state.json``. Under several processes both kill every rank. ``HFRECIPES_KILL=rank1-save:N`` kills
only rank 1 while it saves checkpoint-N, before its own RNG state and once the main process has finished the
checkpoint (``trainer_state.json`` readable): a checkpoint whole for rank 0 that lacks a file of another rank, as when
one node dies mid-save. The kill is a real SIGKILL: no handler, no cleanup, like the OOM killer.
"""

import json
import os
import runpy
import signal
import sys
import time
from pathlib import Path

from transformers import Trainer

where, at = os.environ["HFRECIPES_KILL"].split(":")


def _kill(trainer: Trainer) -> None:
    if trainer.state.global_step == int(at):
        os.kill(os.getpid(), signal.SIGKILL)


def _wait_for_trainer_state(checkpoint: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            json.loads((Path(checkpoint) / "trainer_state.json").read_text())
            return
        except (OSError, ValueError):
            time.sleep(0.02)


if where == "step":
    _training_step = Trainer.training_step

    def training_step(self, *args, **kwargs):
        _kill(self)
        return _training_step(self, *args, **kwargs)

    Trainer.training_step = training_step
elif where == "save":
    _save_rng_state = Trainer._save_rng_state

    def save_rng_state(self, output_dir):
        _save_rng_state(self, output_dir)
        _kill(self)

    Trainer._save_rng_state = save_rng_state
elif where == "rank1-save":
    _save_rng_state = Trainer._save_rng_state

    def save_rng_state(self, output_dir):
        if self.args.process_index == 1 and self.state.global_step == int(at):
            _wait_for_trainer_state(output_dir)  # rank 0 writes it with no barrier after the other ranks' files
            _kill(self)
        _save_rng_state(self, output_dir)

    Trainer._save_rng_state = save_rng_state
else:
    raise SystemExit(f"HFRECIPES_KILL={where}:{at}: expected step:N, save:N or rank1-save:N")

sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
