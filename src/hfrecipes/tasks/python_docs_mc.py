"""The dataset of the ``python_docs_mc`` harness task, built from ``builtin:python-docs`` (no file, no server).

Each item is one sentence from the start of a record's documentation: the record's header (``json.dumps``,
``class csv.DictReader``, ``Module zipfile``, a reference topic's title; signatures without their parameters) and the
first word of the sentence, then four choices for the rest of it: the words in their real order and in three shuffled
orders. The test split holds the corpus's validation records (held out from ``recipes/pretrain.py``: 246 items with
Python 3.11); the train split, records a model pretrained on the corpus has seen, gives the few-shot examples.

Why word order, and not "which docstring belongs to this name": the four choices hold the same words, each after a
space, so a GPT-2-style byte-level tokenizer splits them into the same tokens. A model that only knows which tokens
are frequent, or a random-init model, cannot tell them apart and scores chance (1/4); one that learned how the
documentation reads picks the real order. Telling which of four docstrings goes with a name is beyond the small models
this project trains on a CPU (measured at chance for every one we tried: see docs/evaluation.md).
"""

from __future__ import annotations

import random
import re

CHOICES = 4
# Prose only, short: an item mostly fits the 64-token context of a tiny test model (512-token vocabulary); the
# harness cuts the header of the others from the left, which the word order does not need.
MIN_WORDS, MAX_WORDS = 5, 12  # words after the first (different words: enough orders to shuffle)
MAX_WORD_CHARS, MAX_CHOICE_CHARS, MAX_HEADER_CHARS = 16, 80, 48
SENTENCES = 4  # from the start of each docstring
_UNDERLINE = re.compile(r"^[*=~^-]{3,}$")  # reference topics underline their title


def _header_and_sentences(text: str) -> tuple[str, list[list[str]]]:
    """The record's header line and the words of the first sentences of its documentation that are prose."""
    lines = text.strip().split("\n")
    header = " ".join(lines[0].split("(", 1)[0].split())[:MAX_HEADER_CHARS]  # a signature without its parameters
    body = " ".join(line for line in lines[1:] if not _UNDERLINE.match(line.strip()))
    sentences = []
    for sentence in re.split(r"(?<=[.!?])\s", " ".join(body.split()))[:SENTENCES]:
        words = sentence.split()[: MAX_WORDS + 1]  # a long sentence: its first words
        if len(set(words[1:])) < MIN_WORDS or not words[0][0].isalpha():
            continue
        if max(map(len, words)) <= MAX_WORD_CHARS and len(" ".join(words[1:])) <= MAX_CHOICE_CHARS:
            sentences.append(words)  # not a signature, a path or a table row
    return header, sentences


def build_items(records: list[dict], seed: int) -> list[dict]:
    """One item per prose sentence (up to ``SENTENCES`` per record): ``context`` (header, blank line, first word),
    ``choices`` (the other words, each after a space, in the real order and three shuffles) and ``label`` (the index
    of the real order)."""
    rng = random.Random(seed)
    items = []
    for record in records:
        header, sentences = _header_and_sentences(record["text"])
        for first, *rest in sentences:
            real = " " + " ".join(rest)
            choices = [real]
            while len(choices) < CHOICES:
                shuffled = " " + " ".join(rng.sample(rest, len(rest)))
                if shuffled not in choices:
                    choices.append(shuffled)
            rng.shuffle(choices)
            item = {"name": record["name"], "context": f"{header}\n\n{first}", "choices": choices}
            items.append({**item, "label": choices.index(real)})
    return items


def load_dataset(seed: int = 0, **metadata):
    """The task's ``DatasetDict`` (``train``, ``test``); the harness calls it with the task's ``metadata``."""
    from datasets import Dataset, DatasetDict

    from hfrecipes.corpus import load_python_docs

    corpus, seed = load_python_docs(), int(seed)  # --metadata '{"seed": "1"}' works too
    return DatasetDict(
        {
            "train": Dataset.from_list(build_items(list(corpus["train"]), seed)),
            "test": Dataset.from_list(build_items(list(corpus["validation"]), seed + 1)),
        }
    )
