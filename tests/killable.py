"""Runs a recipe that SIGKILLs itself at a chosen point, to test that rerunning the same command resumes it.

    accelerate launch tests/killable.py recipes/pretrain.py ARGS...      # with HFRECIPES_KILL set

``HFRECIPES_KILL=step:N`` kills the training process in the step after optimizer step N (mid-training);
``HFRECIPES_KILL=save:N`` kills it while it saves checkpoint-N, after the model and optimizer are written and
before ``trainer_state.json``. The kill is a real SIGKILL: no handler, no cleanup, like the OOM killer.
"""

import os
import runpy
import signal
import sys

from transformers import Trainer

where, at = os.environ["HFRECIPES_KILL"].split(":")


def _kill(trainer: Trainer) -> None:
    if trainer.state.global_step == int(at):
        os.kill(os.getpid(), signal.SIGKILL)


if where == "step":
    _training_step = Trainer.training_step

    def training_step(self, *args, **kwargs):
        _kill(self)
        return _training_step(self, *args, **kwargs)

    Trainer.training_step = training_step
else:
    _save_rng_state = Trainer._save_rng_state

    def save_rng_state(self, output_dir):
        _save_rng_state(self, output_dir)
        _kill(self)

    Trainer._save_rng_state = save_rng_state

sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
