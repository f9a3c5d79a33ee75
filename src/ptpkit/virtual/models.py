"""Which camera the virtual one says it is, by name, everywhere a virtual camera is made.

::

    VirtualCamera(personality=personality_for("canon-eos"))   # the Python API
    ptpkit.connect("virtual:?model=canon-eos")                # a URL (also virtual+usb:)
    ptpkit virtual serve --model canon-eos                    # the command line

A virtual URL is ``virtual:[CARD_FOLDER][?model=NAME[&OPTION=VALUE...]]``:
:func:`parse_virtual_url` splits it and :func:`virtual_url_options` gives the options, which only
some models take (``fuji-x``: ``empty_device_info``, ``state``; every model with live view:
``liveview_size=640x480``, ``liveview_fps=30``; every model: ``serial=TEXT``, its serial number).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Final
from urllib.parse import parse_qsl

from ptpkit.errors import UsageError
from ptpkit.virtual import canon_eos, fujifilm, livepicture, nikon, sony
from ptpkit.virtual.camera import GENERIC, Personality


def _generic(options: Mapping[str, str]) -> Personality:
    return GENERIC


def _canon_eos(options: Mapping[str, str]) -> Personality:
    return canon_eos.personality()


#: Model name -> the personality it makes from its options. The first is the default.
_MODELS: Final[dict[str, Callable[[Mapping[str, str]], Personality]]] = {
    "generic": _generic,
    "canon-eos": _canon_eos,
    "fuji-x": fujifilm.personality,
    "nikon": nikon.personality,
    "sony": sony.personality,
}
#: The options each model takes (others take none).
_MODEL_OPTIONS: Final[dict[str, tuple[str, ...]]] = {
    "fuji-x": tuple(fujifilm.OPTIONS),
    "nikon": tuple(nikon.OPTIONS),
    "sony": tuple(sony.OPTIONS),
}
#: The option every model takes: the serial number its DeviceInfo reports (``?serial=CAM-07``,
#: ``virtual serve --model-option serial=CAM-07``); a PTP string holds 255 characters with NUL.
SERIAL_OPTION: Final = "serial"
MAX_SERIAL_CHARS: Final = 254
#: The models with live view, which also take the live-view options (liveview_size,
#: liveview_fps: ptpkit.virtual.livepicture.OPTIONS).
_LIVE_VIEW_MODELS: Final = ("canon-eos", "fuji-x", "nikon", "sony")


def model_options(model: str) -> tuple[str, ...]:
    """The option names ``model`` takes (its own, then the live-view ones)."""
    name = model.strip().lower()
    live = tuple(livepicture.OPTIONS) if name in _LIVE_VIEW_MODELS else ()
    return _MODEL_OPTIONS.get(name, ()) + live


#: The model names, default first (``ptpkit virtual serve --model`` lists the same).
MODELS: Final = tuple(_MODELS)


def personality_for(model: str, options: Mapping[str, str] | None = None) -> Personality:
    """The personality of ``model`` (one of :data:`MODELS`) with its ``options``; UsageError
    naming the models (or the model's options) otherwise."""
    name = model.strip().lower()
    make = _MODELS.get(name)
    if make is None:
        raise UsageError(f"unknown virtual camera model {model!r}; known: {', '.join(MODELS)}")
    options = dict(options or {})
    # Every model takes serial= (a rig of virtual cameras tells them apart by serial number).
    serial = options.pop(SERIAL_OPTION, None)
    if serial is not None and not (0 < len(serial.strip()) <= MAX_SERIAL_CHARS):
        raise UsageError(f"serial must be 1-{MAX_SERIAL_CHARS} characters, not {serial!r}")
    if options and not model_options(name):
        raise UsageError(f"virtual camera model {name} takes no options ({', '.join(options)})")
    if name not in _LIVE_VIEW_MODELS:
        made = make(options)
    else:
        settings, rest = livepicture.parse_options(options)
        if rest and name not in _MODEL_OPTIONS:
            known = ", ".join(model_options(name))
            raise UsageError(
                f"model {name} has no option {next(iter(rest))!r}; its options: {known}"
            )
        made = dataclasses.replace(make(rest), live_view=settings)
    if serial is not None:
        made = dataclasses.replace(made, serial_number=serial.strip())
    return made


def _split_query(url: str) -> tuple[str | None, str, dict[str, str]]:
    rest = url.partition(":")[2]
    root, _, query = rest.partition("?")
    model = MODELS[0]
    options: dict[str, str] = {}
    seen: set[str] = set()
    for key, value in parse_qsl(query, keep_blank_values=True, strict_parsing=False):
        if key in seen:
            raise UsageError(f"{url!r}: {key} is given twice")
        seen.add(key)
        if key == "model":
            personality_for(value)  # refuse an unknown name now, with the known ones
            model = value.strip().lower()
        else:
            options[key] = value
    if query and not seen:
        raise UsageError(f"{url!r}: a virtual camera URL takes ?model=NAME")
    if options:
        allowed = model_options(model)
        unknown = [key for key in options if key not in allowed and key != SERIAL_OPTION]
        if unknown and not _MODEL_OPTIONS.get(model):
            raise UsageError(f"{url!r}: a virtual camera URL takes ?model=NAME, not {unknown[0]!r}")
        personality_for(model, options)  # the model's own check of names and values
    return (root or None), model, options


def virtual_url_options(url: str) -> dict[str, str]:
    """The model's options in ``virtual:...?model=NAME&OPTION=VALUE`` (checked, as
    :func:`parse_virtual_url` checks them)."""
    return _split_query(url)[2]


def parse_virtual_url(url: str) -> tuple[str | None, str]:
    """``virtual:[FOLDER][?model=NAME[&OPTION=VALUE...]]`` (or ``virtual+usb:``) -> (card folder
    or None, model).

    The folder is everything before ``?``; the query takes ``model`` once, and the options the
    model takes (:func:`virtual_url_options`)."""
    root, model, _ = _split_query(url)
    return root, model
