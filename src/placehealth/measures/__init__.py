"""Statistics with confidence intervals, vectorised over many areas at once."""
