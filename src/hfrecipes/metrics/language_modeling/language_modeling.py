"""Language-modelling metrics as an ``evaluate`` module that ships with hfrecipes (no Hub needed).

Inputs, one row per evaluated sequence: the summed token NLL in nats, the number of predicted tokens, and the
UTF-8 bytes those tokens stand for. Outputs: ``loss`` (mean NLL per token), ``perplexity`` and
``bits_per_byte`` = total NLL / (ln 2 x total bytes), the figure that compares models with different tokenizers.
"""

import math

import datasets
import evaluate

_DESCRIPTION = "Token-weighted loss, perplexity and bits per byte from per-sequence NLL sums."
_KWARGS_DESCRIPTION = """
Args:
    nll_sum: summed negative log-likelihood (nats) of the predicted tokens of each sequence.
    num_tokens: number of predicted tokens of each sequence.
    num_bytes: UTF-8 bytes covered by those tokens (special tokens count 0).
Returns:
    loss, perplexity, bits_per_byte, num_tokens, num_bytes
"""


class LanguageModeling(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {
                    "nll_sum": datasets.Value("float64"),
                    "num_tokens": datasets.Value("int64"),
                    "num_bytes": datasets.Value("int64"),
                }
            ),
        )

    def _compute(self, nll_sum, num_tokens, num_bytes):
        total_nll = math.fsum(nll_sum)
        tokens = sum(num_tokens)
        n_bytes = sum(num_bytes)
        loss = total_nll / tokens if tokens else float("nan")
        # exp overflows above ~709; a diverged run reports inf instead of crashing the evaluation.
        perplexity = math.exp(loss) if loss < 700 else float("inf")
        bpb = total_nll / (math.log(2) * n_bytes) if n_bytes else float("nan")
        return {
            "loss": loss,
            "perplexity": perplexity,
            "bits_per_byte": bpb,
            "num_tokens": tokens,
            "num_bytes": n_bytes,
        }
