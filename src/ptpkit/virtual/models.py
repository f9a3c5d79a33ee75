"""Which camera the virtual one says it is, by name, everywhere a virtual camera is made.

::

    VirtualCamera(personality=personality_for("canon-eos"))   # the Python API
    ptpkit.connect("virtual:?model=canon-eos")                # a URL (also virtual+usb:)
    ptpkit virtual serve --model canon-eos                    # the command line

A virtual URL is ``virtual:[CARD_FOLDER][?model=NAME]``: :func:`parse_virtual_url` splits it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final
from urllib.parse import parse_qsl

from ptpkit.errors import UsageError
from ptpkit.virtual import canon_eos
from ptpkit.virtual.camera import GENERIC, Personality


def _generic() -> Personality:
    return GENERIC


#: Model name -> the personality it makes. The first is the default.
_MODELS: Final[dict[str, Callable[[], Personality]]] = {
    "generic": _generic,
    "canon-eos": canon_eos.personality,
}

#: The model names, default first (``ptpkit virtual serve --model`` lists the same).
MODELS: Final = tuple(_MODELS)


def personality_for(model: str) -> Personality:
    """The personality of ``model`` (one of :data:`MODELS`); UsageError naming them otherwise."""
    make = _MODELS.get(model.strip().lower())
    if make is None:
        raise UsageError(f"unknown virtual camera model {model!r}; known: {', '.join(MODELS)}")
    return make()


def parse_virtual_url(url: str) -> tuple[str | None, str]:
    """``virtual:[FOLDER][?model=NAME]`` (or ``virtual+usb:``) -> (card folder or None, model).

    The folder is everything before ``?``; the query takes ``model`` only, once."""
    rest = url.partition(":")[2]
    root, _, query = rest.partition("?")
    model = MODELS[0]
    seen: set[str] = set()
    for key, value in parse_qsl(query, keep_blank_values=True, strict_parsing=False):
        if key != "model":
            raise UsageError(f"{url!r}: a virtual camera URL takes ?model=NAME, not {key!r}")
        if key in seen:
            raise UsageError(f"{url!r}: model is given twice")
        seen.add(key)
        personality_for(value)  # refuse an unknown name now, with the known ones
        model = value.strip().lower()
    if query and not seen:
        raise UsageError(f"{url!r}: a virtual camera URL takes ?model=NAME")
    return (root or None), model
