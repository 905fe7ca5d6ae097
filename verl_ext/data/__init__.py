"""Data: the parquet contract (``contract``), prompt templates (``templates``), Hugging Face source adapters
(``adapters``) and the row builders used by ``scripts/prepare_data.py`` (``prepare``)."""
