"""I/O: one small transport per link (USB, PTP/IP, in-process), each moving the bytes of a
sans-IO :class:`~ptpkit.core.connection.Connection`. Import the module you need
(``ptpkit.transports.usb`` loads PyUSB; this package loads nothing)."""
