"""hfrecipes: small, copyable recipes for the Hugging Face stack."""

__version__ = "0.1.0"
