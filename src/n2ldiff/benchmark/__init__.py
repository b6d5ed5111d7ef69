"""Benchmark for low-light synthesis: paired metrics, realism statistics with controls, reports.

``run_benchmark(BenchmarkConfig(...))`` runs every method and seed on paired data (see
``n2ldiff.benchmark.run``); ``write_report(result)`` writes results.json/.csv/.md and figures.
"""

from n2ldiff.benchmark.report import markdown_tables, result_to_dict, summary_rows, write_report
from n2ldiff.benchmark.run import (
    CONTROLS,
    DEFAULT_METHODS,
    BenchmarkConfig,
    BenchmarkResult,
    GroupResult,
    StatisticResult,
    prepare_pair,
    run_benchmark,
)

__all__ = [
    "CONTROLS",
    "DEFAULT_METHODS",
    "BenchmarkConfig",
    "BenchmarkResult",
    "GroupResult",
    "StatisticResult",
    "markdown_tables",
    "prepare_pair",
    "result_to_dict",
    "run_benchmark",
    "summary_rows",
    "write_report",
]
