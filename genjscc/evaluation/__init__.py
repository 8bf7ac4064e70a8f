"""Evaluation: schemes over SNRs into one record schema, sweeps with a resumable store, figures.

Import from the submodules; this package imports nothing, so ``records`` and ``plots`` stay light.

- :mod:`~genjscc.evaluation.evaluate`: one scheme on a test set at a list of SNRs -> records;
- :mod:`~genjscc.evaluation.sweep` and :mod:`~genjscc.evaluation.store`: configured sweeps;
- :mod:`~genjscc.evaluation.records`: the record schema, its files and tables;
- :mod:`~genjscc.evaluation.plots`: figures drawn from records (matplotlib imported on use).
"""
