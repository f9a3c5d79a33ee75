"""``python -m ptpkit``: the same as the ``ptpkit`` command."""

from ptpkit.cli.main import main

main()
