"""The package version, in a module of its own: lower layers (the virtual camera's DeviceInfo,
discovery's UPnP descriptions) read it without importing the ``ptpkit`` package's public names,
which sit above them (see "Layers" in the README)."""

__version__ = "0.1.0"
