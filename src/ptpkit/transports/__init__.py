"""I/O: one small transport per link (USB, PTP/IP, in-process), each a byte channel that names
its framing; the engine (:mod:`ptpkit.client.engine`) owns the sans-IO
:class:`~ptpkit.core.connection.Connection` made from it (see :mod:`ptpkit.transports.base`).
Import the module you need (``ptpkit.transports.usb`` loads PyUSB; this package loads nothing)."""
