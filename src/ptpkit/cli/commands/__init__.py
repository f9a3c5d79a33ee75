"""The ``ptpkit`` commands, one module per group of them; each module exports ``COMMANDS``."""
