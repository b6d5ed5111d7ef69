"""Benchmark for low-light synthesis: paired metrics, realism statistics with controls, reports.

``run_benchmark(BenchmarkConfig(...))`` runs every method and seed on paired data (see
``n2ldiff.benchmark.run``); ``write_report(result)`` writes results.json/.csv/.md and figures.
``run_utility(UtilityConfig(...))`` trains a small enhancer on each method's synthetic pairs and tests it on
real low light (``n2ldiff.benchmark.utility``); ``write_utility_report(result)`` writes its report.
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
from n2ldiff.benchmark.utility import UtilityConfig, UtilityResult, run_utility
from n2ldiff.benchmark.utility_report import write_utility_report

__all__ = [
    "CONTROLS",
    "DEFAULT_METHODS",
    "BenchmarkConfig",
    "BenchmarkResult",
    "GroupResult",
    "StatisticResult",
    "UtilityConfig",
    "UtilityResult",
    "markdown_tables",
    "prepare_pair",
    "result_to_dict",
    "run_benchmark",
    "run_utility",
    "summary_rows",
    "write_report",
    "write_utility_report",
]
