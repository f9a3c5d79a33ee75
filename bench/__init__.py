"""ptpkit benchmarks: ``make bench`` runs ``python -m bench`` and prints figures and ratios."""
