"""The ``ptpkit`` command line."""
