"""GLUE metrics as an ``evaluate`` module that ships with hfrecipes (no Hub needed).

One configuration per GLUE task, with the metrics GLUE reports for it: ``cola`` Matthews correlation; ``sst2``,
``mnli``, ``qnli``, ``rte``, ``wnli`` accuracy; ``mrpc`` and ``qqp`` accuracy and F1 of the positive class;
``stsb`` Pearson and Spearman correlations. Tasks with two metrics also get ``combined_score``, their mean, as
GLUE averages them for the leaderboard. Two more configurations serve new tasks: ``classification`` (accuracy and
macro F1) and ``regression`` (Pearson, Spearman, MSE).

Computed by scikit-learn (accuracy, F1, MCC, MSE) and scipy (Pearson, Spearman with average ranks for ties).
"""

import datasets
import evaluate
import numpy as np
import sklearn.metrics as skm
from scipy import stats

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


def _pearson(x, y) -> float:
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan")  # undefined for a constant side (scipy would warn and say the same)
    return float(stats.pearsonr(x, y).statistic)


def _spearman(x, y) -> float:
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan")
    return float(stats.spearmanr(x, y).statistic)  # ties get average ranks


_FUNCTIONS = {
    "accuracy": lambda p, r: float(skm.accuracy_score(r, p)),
    "f1": lambda p, r: float(skm.f1_score(r, p, pos_label=1, average="binary", zero_division=0)),
    "f1_macro": lambda p, r: float(skm.f1_score(r, p, average="macro", zero_division=0)),
    "matthews_correlation": lambda p, r: float(skm.matthews_corrcoef(r, p)),
    "pearson": lambda p, r: _pearson(p, r),
    "spearmanr": lambda p, r: _spearman(p, r),
    "mse": lambda p, r: float(skm.mean_squared_error(r, p)),
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
