"""hfrecipes: small, copyable recipes for the Hugging Face stack."""

import logging
import os
from pathlib import Path

__version__ = "0.1.0"

# bitsandbytes >= 0.50 warns at import, on CPUs with AVX512-BF16, that an optional kernel from the Hub is missing,
# and transformers imports it with every TrainingArguments. No recipe uses that kernel; the warning would come before
# every run's output and turn a one-line error into two lines. Recipes import hfrecipes before transformers.
logging.getLogger("bitsandbytes.backends.cpu.ops").setLevel(logging.ERROR)

# torch_compile: true keeps its compiled kernels (inductor's FX-graph and AOTAutograd caches) in a per-user cache
# folder rather than in /tmp/torchinductor_USER, which a tmpfs or a tmp cleaner empties: with a warm cache the recipes'
# models compile in ~7 s instead of ~25 s (shakespeare.yaml on 2 cores). An explicit TORCHINDUCTOR_CACHE_DIR wins.
if "TORCHINDUCTOR_CACHE_DIR" not in os.environ:
    _cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    if not _cache.startswith("~"):  # no home folder to expand: keep torch's default
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = str(Path(_cache) / "hfrecipes" / "torchinductor")
