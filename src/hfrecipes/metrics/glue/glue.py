"""GLUE metrics as an ``evaluate`` module that ships with hfrecipes (no Hub needed).

One configuration per GLUE task, with the metrics GLUE reports for it: ``cola`` Matthews correlation; ``sst2``,
``mnli``, ``qnli``, ``rte``, ``wnli`` accuracy; ``mrpc`` and ``qqp`` accuracy and F1 of the positive class;
``stsb`` Pearson and Spearman correlations. Tasks with two metrics also get ``combined_score``, their mean, as
GLUE averages them for the leaderboard. Two more configurations serve new tasks: ``classification`` (accuracy and
macro F1) and ``regression`` (Pearson, Spearman, MSE).

Computed with numpy alone (ties in Spearman get average ranks, as in scipy); tests check against sklearn and scipy.
"""

import datasets
import evaluate
import numpy as np

_METRICS = {
    "cola": ("matthews_correlation",),
    "sst2": ("accuracy",),
    "mrpc": ("accuracy", "f1"),
    "qqp": ("accuracy", "f1"),
    "stsb": ("pearson", "spearmanr"),
    "mnli": ("accuracy",),
    "qnli": ("accuracy",),
    "rte": ("accuracy",),
    "wnli": ("accuracy",),
    "classification": ("accuracy", "f1_macro"),
    "regression": ("pearson", "spearmanr", "mse"),
}
_REGRESSION = {"stsb", "regression"}
_GLUE_TASKS = [k for k in _METRICS if k not in ("classification", "regression")]

_DESCRIPTION = "GLUE metrics per task (and plain classification/regression metrics for new tasks)."
_KWARGS_DESCRIPTION = """
Args:
    predictions: predicted label ids (float scores for stsb and regression).
    references: true label ids (float scores for stsb and regression).
Returns: per configuration, e.g. cola -> matthews_correlation; mrpc -> accuracy, f1, combined_score.
"""


def accuracy(preds, refs):
    return float((preds == refs).mean())


def f1_binary(preds, refs, positive=1):
    tp = np.sum((preds == positive) & (refs == positive))
    wrong = np.sum(preds != refs)
    return float(2 * tp / (2 * tp + wrong)) if tp else 0.0


def f1_macro(preds, refs):
    labels = np.union1d(preds, refs)
    scores = []
    for label in labels:
        tp = np.sum((preds == label) & (refs == label))
        fp_fn = np.sum((preds == label) != (refs == label))
        scores.append(2 * tp / (2 * tp + fp_fn) if tp else 0.0)
    return float(np.mean(scores))


def matthews_correlation(preds, refs):
    """Multiclass MCC from the confusion matrix (Gorodkin's R_K); 0 when a side is constant."""
    labels, inverse = np.unique(np.concatenate([refs, preds]), return_inverse=True)
    t, p = inverse[: len(refs)], inverse[len(refs) :]
    confusion = np.zeros((len(labels), len(labels)), dtype=np.float64)
    np.add.at(confusion, (t, p), 1)
    t_sum, p_sum = confusion.sum(1), confusion.sum(0)
    n, correct = confusion.sum(), np.trace(confusion)
    cov_tp = correct * n - t_sum @ p_sum
    cov_pp = n * n - p_sum @ p_sum
    cov_tt = n * n - t_sum @ t_sum
    return float(cov_tp / np.sqrt(cov_tt * cov_pp)) if cov_tt * cov_pp else 0.0


def pearson(x, y):
    x, y = x - x.mean(), y - y.mean()
    denom = np.sqrt((x * x).sum() * (y * y).sum())
    return float((x * y).sum() / denom) if denom else float("nan")


def average_ranks(x):
    _, inverse, counts = np.unique(x, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    return (ends - (counts - 1) / 2.0)[inverse]


def spearmanr(x, y):
    return pearson(average_ranks(x), average_ranks(y))


_FUNCTIONS = {
    "accuracy": accuracy,
    "f1": f1_binary,
    "f1_macro": f1_macro,
    "matthews_correlation": matthews_correlation,
    "pearson": pearson,
    "spearmanr": spearmanr,
    "mse": lambda p, r: float(np.mean((p - r) ** 2)),
}


class Glue(evaluate.Metric):
    def _info(self):
        if self.config_name not in _METRICS:
            raise KeyError(f"unknown GLUE metric configuration '{self.config_name}'; use one of {', '.join(_METRICS)}")
        dtype = "float32" if self.config_name in _REGRESSION else "int64"
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="Wang et al., GLUE: A Multi-Task Benchmark and Analysis Platform for NLU, ICLR 2019.",
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features({"predictions": datasets.Value(dtype), "references": datasets.Value(dtype)}),
        )

    def _compute(self, predictions, references):
        dtype = np.float64 if self.config_name in _REGRESSION else np.int64
        preds, refs = np.asarray(predictions, dtype=dtype), np.asarray(references, dtype=dtype)
        names = _METRICS[self.config_name]
        out = {name: _FUNCTIONS[name](preds, refs) for name in names}
        if self.config_name in _GLUE_TASKS and len(names) == 2:
            out["combined_score"] = float(np.mean([out[n] for n in names]))
        return out
