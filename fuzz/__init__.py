"""ptpkit's fuzzing harness: one target per parser, run by atheris (coverage-guided libFuzzer) or,
where atheris is not installed, by a seeded random mutator. ``python -m fuzz --help``.

Modules:

- :mod:`fuzz.targets`: the targets (bytes in; only the parser's documented errors may come out)
- :mod:`fuzz.seeds`: golden seed inputs built with ptpkit's own encoders
- :mod:`fuzz.harness`: running one input, recording findings, the random engine
- :mod:`fuzz.atheris_worker`: the atheris engine (one subprocess per target)
- :mod:`fuzz.runner`: the command line, the time budget and the report table

This package imports nothing from ptpkit at import time: the atheris worker must import ptpkit
itself, inside ``atheris.instrument_imports()``, for coverage to be collected.
"""
