"""The pipeline's stages, in the order they run: what :mod:`hfrecipes.pipeline` runs and :mod:`hfrecipes.report`
reads back (a module of its own, so the report does not import the pipeline)."""

# (stage, recipe)
STAGES = [
    ("prepare_data", "prepare_data"),  # optional: clean, filter, dedup on datatrove; tokenizer and pretrain read it
    ("tokenizer", "train_tokenizer"),
    ("pretrain", "pretrain"),
    ("sft", "sft"),
    ("classify", "classify"),
    ("eval", "eval"),  # lm-evaluation-harness on the pretrained model (recipes/eval.py), one process
]
STAGE_NAMES = [name for name, _ in STAGES]
