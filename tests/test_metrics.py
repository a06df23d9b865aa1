import math

import numpy as np
import pytest

from hfrecipes.metrics import available, load_metric
from hfrecipes.training import language_model_scores


def test_language_model_scores_match_hand_computation():
    rng = np.random.default_rng(0)
    nll = rng.uniform(10, 200, size=50)
    tokens = rng.integers(10, 64, size=50)
    n_bytes = tokens * 3
    out = language_model_scores(nll.tolist(), tokens.tolist(), n_bytes.tolist())
    loss = nll.sum() / tokens.sum()
    assert out["loss"] == pytest.approx(loss)
    assert out["perplexity"] == pytest.approx(math.exp(loss))
    assert out["bits_per_byte"] == pytest.approx(nll.sum() / (math.log(2) * n_bytes.sum()))


def test_huge_loss_does_not_overflow():
    out = language_model_scores([1e7], [10], [30])
    assert out["perplexity"] == float("inf") and math.isfinite(out["bits_per_byte"])


def test_metrics_ship_with_the_package():
    assert "glue" in available()
    with pytest.raises(ValueError, match="unknown metric"):
        load_metric("nope")
