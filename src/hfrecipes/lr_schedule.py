"""The LR-schedule arithmetic shared by the optimizer options (:mod:`hfrecipes.optim`) and the config check that
builds the schedule before anything loads (:mod:`hfrecipes.validation`). A leaf: it imports nothing from hfrecipes.
"""

from __future__ import annotations

import math
from typing import Any

WSD = "warmup_stable_decay"


def schedule_kwargs(args: Any, total_steps: int, decay_ratio: float | None) -> dict[str, Any]:
    """``args.lr_scheduler_kwargs`` with the WSD decay phase set to ``decay_ratio`` of ``total_steps``."""
    kwargs = dict(args.lr_scheduler_kwargs or {})
    if decay_ratio is not None and getattr(args.lr_scheduler_type, "value", args.lr_scheduler_type) == WSD:
        kwargs["num_decay_steps"] = max(1, math.ceil(decay_ratio * total_steps))
    return kwargs
