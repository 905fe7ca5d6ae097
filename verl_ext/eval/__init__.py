"""Evaluation: benchmark registry and decoding profiles (``benchmarks``), generation backends (``backends``),
the suite runner (``runner``), avg@k / unbiased pass@k (``metrics``), paper-style tables (``tables``), metric-log
readers (``logs``) and training figures (``plots``). Entry points: ``scripts/eval.py``, ``scripts/make_table.py``,
``scripts/plot_metrics.py``.
"""
