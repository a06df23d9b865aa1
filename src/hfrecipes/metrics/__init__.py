"""Evaluate modules shipped with hfrecipes, loadable offline: ``load_metric("glue", config_name="sst2")``."""

from __future__ import annotations

from pathlib import Path

METRICS_DIR = Path(__file__).resolve().parent


def available() -> list[str]:
    return sorted(p.name for p in METRICS_DIR.iterdir() if (p / f"{p.name}.py").is_file())


def load_metric(name: str, **kwargs):
    """``evaluate.load`` on the module folder inside this package (never the Hub)."""
    import evaluate

    path = METRICS_DIR / name
    if not (path / f"{name}.py").is_file():
        raise ValueError(f"unknown metric '{name}'; available: {', '.join(available())}")
    return evaluate.load(str(path), **kwargs)
