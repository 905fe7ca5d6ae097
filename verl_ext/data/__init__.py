"""Data: the parquet contract (``contract``), prompt templates (``templates``), published-dataset adapters
(``adapters``), the row builders and writers used by ``scripts/prepare_data.py`` (``prepare``), the prepared-file
layout shared with training and evaluation (``layout``) and the ``make data`` summary (``report``)."""
