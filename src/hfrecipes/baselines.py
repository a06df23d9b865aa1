"""Budget-matched baselines beside the figures a run reports: does the model beat the simple thing?

- Classification (``recipes/classify.py``): TF-IDF of word 1-2 grams (scikit-learn's ``TfidfVectorizer``, at most
  ``MAX_FEATURES``) + ``LogisticRegression``, or ``Ridge`` for a regression task (STS-B), fitted on the rows the model
  trained on (the ``train`` split as the recipe loaded it: after ``max_train_samples`` and the selection split), and
  scored on every labelled validation and test split by the recipe's own ``compute_metrics``
  (:func:`hfrecipes.classification.classification_metrics`). A sentence pair is one text, ``A [SEP] B``, plus the
  cosine of A's and B's TF-IDF vectors as one more feature (STS-B dev Pearson 0.28 without it, 0.67 with it).
- Pretraining (``recipes/pretrain.py``): unigram and bigram models of the run's tokens, scored on the validation
  blocks the model is evaluated on and turned into bits per byte as ``eval_bits_per_byte`` is
  (:func:`hfrecipes.training.language_model_metrics`): the same predicted tokens (each block but its first token,
  padding left out), the same byte count (:func:`hfrecipes.tokenization.token_byte_lengths`, special tokens 0 bytes).
  Counted on as many training tokens as the model saw (``train_tokens``), at most ``MAX_NGRAM_TOKENS``: map-style, that
  many whole blocks drawn with the run's seed; streaming, the first blocks of the training stream. Pairs are counted
  inside blocks, as the model's context never crosses one either. Smoothing, both distributions summing to 1:

  - unigram, add-one over the tokenizer's ``V`` ids: ``p(w) = (c(w) + 1) / (N + V)``;
  - bigram, absolute discounting interpolated with that unigram (Kneser-Ney's discount without its continuation
    counts), ``D = 0.75``: ``p(w | v) = max(c(v w) - D, 0) / c(v) + D n(v) / c(v) p(w)``, ``c(v)`` the pairs starting
    with ``v``, ``n(v)`` how many distinct tokens followed it; ``p(w)`` for a ``v`` never seen as a context.

results.json names a baseline's figure ``baseline_<kind>_<name>`` for the model's ``eval_<name>`` (for another split's
figure, its whole name: ``baseline_tfidf_lr_test_accuracy`` beside ``test_accuracy``): ``baseline_tfidf_lr_accuracy``
beside ``eval_accuracy``, ``baseline_bigram_bits_per_byte`` beside ``eval_bits_per_byte``. :func:`beside` and
:func:`describe` show them on model cards and in the pipeline report.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

MAX_FEATURES = 100_000
MAX_NGRAM_TOKENS = 10_000_000  # a few seconds of counting; the cap is recorded in results.json
DISCOUNT = 0.75
PAIR_SEPARATOR = " [SEP] "
KINDS = {"tfidf_lr": "TF-IDF + LR", "unigram": "unigram", "bigram": "bigram"}  # results.json key part: shown name


# --- classification


def tfidf_baseline(raw, task) -> dict[str, Any]:
    """TF-IDF + logistic (ridge for regression) baseline of a classification run: results.json entries.

    ``raw`` is the recipe's ``DatasetDict`` (``train``, ``validation*``, ``test*``, maybe ``selection``), ``task`` its
    :class:`~hfrecipes.classification.ClassificationTask`. Fitted on ``train``; every other split with labels but
    ``selection`` is scored, its figures named as the model's (see the module docstring).
    """
    import numpy as np
    from sklearn.dummy import DummyClassifier
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression, Ridge
    from threadpoolctl import threadpool_limits  # a scikit-learn dependency
    from transformers import EvalPrediction

    from .classification import classification_metrics

    started = time.perf_counter()
    # Single-character words count too ("a", "I", digits): sklearn's default pattern drops them.
    vectorizer = TfidfVectorizer(
        ngram_range=(1, 2), max_features=MAX_FEATURES, sublinear_tf=True, token_pattern=r"(?u)\b\w+\b"
    )
    try:
        features = _features(vectorizer, raw["train"], task, fit=True)
    except ValueError:  # sklearn's "empty vocabulary": no training text holds a word
        return {"baseline_tfidf_lr_skipped": "no training text holds a word"}
    labels = _column(raw["train"], "label").to_numpy()
    if task.is_regression:
        model = Ridge(alpha=1.0)
    elif len(np.unique(labels)) < 2:
        model = DummyClassifier(strategy="most_frequent")  # one class: logistic regression refuses to fit
    else:
        model = LogisticRegression(C=1.0, max_iter=1000)
    # One BLAS thread: on problems this small, L-BFGS's threads only contend (SST-2: 0.6 s alone, 4.8 s with 2 threads
    # on 2 busy cores).
    with threadpool_limits(1):
        model.fit(features, labels)
    results: dict[str, Any] = {
        "baseline_tfidf_lr_seconds": time.perf_counter() - started,
        "baseline_tfidf_lr_train_samples": len(labels),
        "baseline_tfidf_lr_estimator": type(model).__name__,
    }
    compute_metrics = classification_metrics(task)
    for split in sorted(raw):
        ds = raw[split]
        if not split.startswith(("validation", "test")) or "label" not in ds.column_names:
            continue
        prefix = "eval" + split.removeprefix("validation") if split.startswith("validation") else split
        preds = model.predict(_features(vectorizer, ds, task))
        # As logits, so the recipe's compute_metrics reads them: one-hot classes, one column for regression.
        logits = preds.reshape(-1, 1) if task.is_regression else np.eye(len(task.label_names))[preds.astype(int)]
        scores = compute_metrics(EvalPrediction(predictions=logits, label_ids=_column(ds, "label").to_numpy()))
        results.update({baseline_key("tfidf_lr", f"{prefix}_{name}"): value for name, value in scores.items()})
    return results


def _column(ds, name: str):
    return ds.with_format("arrow")[name]  # one arrow column (the row order of any selection), not rows of Python


def _features(vectorizer, ds, task, fit: bool = False):
    """TF-IDF rows of ``ds``'s texts; a pair is one text ``A [SEP] B``, plus one column: the cosine of A's and B's
    TF-IDF vectors (their rows are unit length), which a linear model of the joined words cannot compute."""
    import scipy.sparse

    texts = [t or "" for t in _column(ds, task.text_column).to_pylist()]
    pairs = [t or "" for t in _column(ds, task.text_pair_column).to_pylist()] if task.text_pair_column else None
    joined = texts if pairs is None else [a + PAIR_SEPARATOR + b for a, b in zip(texts, pairs, strict=True)]
    features = vectorizer.fit_transform(joined) if fit else vectorizer.transform(joined)
    if pairs is None:
        return features
    cosine = vectorizer.transform(texts).multiply(vectorizer.transform(pairs)).sum(axis=1)
    return scipy.sparse.hstack([features, scipy.sparse.csr_matrix(cosine)], format="csr")


# --- pretraining


def ngram_baselines(train, validation, tokenizer, train_tokens: int | None = None, seed: int = 0) -> dict[str, Any]:
    """Unigram and bigram bits per byte of a pretraining run: results.json entries.

    ``train`` and ``validation`` are the packed block datasets the Trainer got (map-style or streaming; ``validation``
    may be ``None``), ``train_tokens`` the tokens the model trained on (``None``: as many as the cap allows).
    """
    uni, bi = baseline_key("unigram", "eval_bits_per_byte"), baseline_key("bigram", "eval_bits_per_byte")
    started = time.perf_counter()
    eval_blocks, _ = _read_blocks(validation) if validation is not None else (None, "")
    if eval_blocks is None or eval_blocks.shape[1] < 2:
        return {uni: None, bi: None, "baseline_ngram_skipped": "no validation tokens to score"}
    budget = MAX_NGRAM_TOKENS if train_tokens is None else min(train_tokens, MAX_NGRAM_TOKENS)
    train_blocks, counted = _read_blocks(train, math.ceil(budget / eval_blocks.shape[1]), seed)
    from .tokenization import token_byte_lengths

    unigram, bigram = ngram_bits_per_byte(
        train_blocks, eval_blocks, token_byte_lengths(tokenizer), tokenizer.pad_token_id
    )
    return {
        uni: unigram,
        bi: bigram,
        "baseline_ngram_train_tokens": int(train_blocks.size),
        "baseline_ngram_token_cap": MAX_NGRAM_TOKENS,
        "baseline_ngram_counted": counted,
        "baseline_ngram_seconds": time.perf_counter() - started,
    }


def ngram_bits_per_byte(train_blocks, eval_blocks, byte_lengths, pad_token_id: int | None = None):
    """``(unigram, bigram)`` bits per byte of ``eval_blocks``' predicted tokens under the models counted on
    ``train_blocks`` (2-D integer arrays, one block per row); ``byte_lengths[id]`` is a token's UTF-8 bytes, and its
    length the vocabulary size. Smoothing: see the module docstring."""
    import numpy as np

    byte_lengths = np.asarray(byte_lengths, dtype=np.int64)
    vocab = len(byte_lengths)
    train_blocks, eval_blocks = np.asarray(train_blocks, dtype=np.int64), np.asarray(eval_blocks, dtype=np.int64)
    unigram_counts = np.bincount(train_blocks.ravel(), minlength=vocab)
    context, target = train_blocks[:, :-1].ravel(), train_blocks[:, 1:].ravel()
    pairs, pair_counts = np.unique(context * vocab + target, return_counts=True)
    context_counts = np.bincount(context, minlength=vocab)
    followers = np.bincount(pairs // vocab, minlength=vocab)

    context, target = eval_blocks[:, :-1].ravel(), eval_blocks[:, 1:].ravel()
    if pad_token_id is not None:  # the collator's labels: padding is not predicted
        keep = target != pad_token_id
        context, target = context[keep], target[keep]
    p_unigram = (unigram_counts[target] + 1) / (train_blocks.size + vocab)
    keys = context * vocab + target
    at = np.minimum(np.searchsorted(pairs, keys), max(len(pairs) - 1, 0))
    seen = pair_counts[at] * (pairs[at] == keys) if len(pairs) else np.zeros(len(keys), dtype=np.int64)
    c = context_counts[context]
    interpolated = (np.maximum(seen - DISCOUNT, 0) + DISCOUNT * followers[context] * p_unigram) / np.maximum(c, 1)
    p_bigram = np.where(c > 0, interpolated, p_unigram)
    n_bytes = int(byte_lengths[target].sum())
    if not n_bytes:
        return math.nan, math.nan
    return float(-np.log2(p_unigram).sum() / n_bytes), float(-np.log2(p_bigram).sum() / n_bytes)


def _read_blocks(ds, n: int | None = None, seed: int = 0):
    """``(blocks, how they were picked)``: ``n`` blocks of ``ds`` (all when ``None`` or more than it holds) as a 2-D
    int64 array. Map-style: drawn with ``seed``; streaming: the first ones."""
    import numpy as np

    if not hasattr(ds, "__len__"):
        rows = [row["input_ids"] for row in (ds if n is None else ds.take(n))]
        width = len(rows[0]) if rows else 0
        blocks = np.asarray(rows, dtype=np.int64).reshape(len(rows), width)
        return blocks, f"the first {len(rows):,} blocks of the stream"
    total = len(ds)
    if n is not None and n < total:
        ds = ds.select(np.sort(np.random.default_rng(seed).choice(total, n, replace=False)))
        how = f"{n:,} of {total:,} blocks, drawn with the run's seed"
    else:
        how = f"all {total:,} blocks"
    parts = [
        table.column("input_ids").combine_chunks().flatten().to_numpy(zero_copy_only=False).reshape(len(table), -1)
        for table in ds.with_format("arrow").iter(batch_size=10_000)
    ]
    if not parts:
        return np.zeros((0, 0), dtype=np.int64), how
    return np.concatenate(parts).astype(np.int64, copy=False), how


# --- showing them


def baseline_key(kind: str, key: str) -> str:
    """The results.json name of baseline ``kind``'s figure beside the model's ``key``."""
    return f"baseline_{kind}_{key.removeprefix('eval_')}"


def is_baseline(key: str) -> bool:
    return key.startswith("baseline_")


def beside(results: dict[str, Any], key: str, shown: str, fmt: Callable[[float], str]) -> str:
    """``shown`` (the model's ``key`` as displayed) followed by the baselines of it in ``results``:
    ``0.812 (TF-IDF + LR baseline: 0.79)``. Only figures scored on a split (``eval_*``, ``test*``) have baselines."""
    if not key.startswith(("eval_", "test")):
        return shown
    found = [(name, results.get(baseline_key(kind, key))) for kind, name in KINDS.items()]
    found = [(name, v) for name, v in found if isinstance(v, (int, float)) and not isinstance(v, bool)]
    if not found:
        return shown
    return shown + " (" + ", ".join(f"{name} baseline: {fmt(v)}" for name, v in found) + ")"


def describe(results: dict[str, Any]) -> str | None:
    """One sentence on the baselines in ``results`` (what they are, what they were fitted on), or ``None``."""
    parts = []
    if "baseline_tfidf_lr_estimator" in results:
        estimator = results["baseline_tfidf_lr_estimator"]
        parts.append(
            f"TF-IDF + LR: scikit-learn's TfidfVectorizer (word 1-2 grams) and {estimator} fitted on the same "
            f"{results.get('baseline_tfidf_lr_train_samples', 0):,} training rows in "
            f"{results.get('baseline_tfidf_lr_seconds', 0):.1f} s, scored by the same metrics."
        )
    if results.get("baseline_tfidf_lr_skipped"):
        parts.append(f"No TF-IDF + LR baseline: {results['baseline_tfidf_lr_skipped']}.")
    if "baseline_ngram_counted" in results:
        tokens, cap = results.get("baseline_ngram_train_tokens", 0), results.get("baseline_ngram_token_cap", 0)
        parts.append(
            f"Unigram (add-one) and bigram (absolute discounting, D {DISCOUNT}) models of the run's tokens counted on "
            f"{tokens:,} training tokens, as many as the model trained on (each block once, at most {cap:,}): "
            f"{results['baseline_ngram_counted']}; in bits per byte of the same validation tokens."
        )
    if results.get("baseline_ngram_skipped"):
        parts.append(f"No n-gram baseline: {results['baseline_ngram_skipped']}.")
    return ("Baselines in parentheses. " + " ".join(parts)) if parts else None
