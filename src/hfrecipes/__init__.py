"""hfrecipes: small, copyable recipes for the Hugging Face stack."""

import logging

__version__ = "0.1.0"

# bitsandbytes >= 0.50 warns at import, on CPUs with AVX512-BF16, that an optional kernel from the Hub is missing,
# and transformers imports it with every TrainingArguments. No recipe uses that kernel; the warning would come before
# every run's output and turn a one-line error into two lines. Recipes import hfrecipes before transformers.
logging.getLogger("bitsandbytes.backends.cpu.ops").setLevel(logging.ERROR)
