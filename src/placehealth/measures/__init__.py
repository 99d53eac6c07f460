"""Statistics with confidence intervals, vectorised over many areas at once.

One module per family (proportions, rates, dsr, isr, inequality, funnels, benchmark) sharing the
helpers in ``_limits``; the methods are specified in the shared INDICATOR_METHODS.md and follow
PHEindicatormethods' arguments and output columns. The evaluation statistics over time (``spc``,
``its``, ``did``, ``synth``) are imported from their modules, so that importing this package does
not load statsmodels.
"""

from placehealth.measures.benchmark import compare_to_benchmark
from placehealth.measures.dsr import dsr, esp2013
from placehealth.measures.funnels import funnel_limits, funnel_significance
from placehealth.measures.inequality import concentration_index, quantile_gap, sii
from placehealth.measures.isr import isr, smr
from placehealth.measures.proportions import proportion
from placehealth.measures.rates import mean, rate

__all__ = [
    "compare_to_benchmark",
    "concentration_index",
    "dsr",
    "esp2013",
    "funnel_limits",
    "funnel_significance",
    "isr",
    "mean",
    "proportion",
    "quantile_gap",
    "rate",
    "sii",
    "smr",
]
