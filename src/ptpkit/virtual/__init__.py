"""The virtual camera: a full PTP responder in software, for demos, tests and development."""

from ptpkit.virtual.camera import DEFAULT_STORAGE_ID, GENERIC, Personality, VirtualCamera
from ptpkit.virtual.content import GeneratedData, generated_bytes
from ptpkit.virtual.models import MODELS, personality_for
from ptpkit.virtual.responder import ResponderSession
from ptpkit.virtual.synthetic import SyntheticCard

__all__ = [
    "DEFAULT_STORAGE_ID",
    "GENERIC",
    "MODELS",
    "GeneratedData",
    "Personality",
    "ResponderSession",
    "SyntheticCard",
    "VirtualCamera",
    "generated_bytes",
    "personality_for",
]
