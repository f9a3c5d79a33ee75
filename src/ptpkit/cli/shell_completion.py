"""Tab completion for ``ptpkit shell``: commands, their options, the camera's property names,
the allowed values after ``set PROP``, and camera paths.

Values and paths are asked of the camera when Tab is pressed (the shell completes on Tab only),
so what is offered is what this camera has now.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import click
from prompt_toolkit.completion import CompleteEvent, Completer, Completion
from prompt_toolkit.document import Document

from ptpkit.cli.runner import BUILTINS, Runner
from ptpkit.cli.session import ALIASES, Session, resolve_alias
from ptpkit.cli.targets import describe_property
from ptpkit.client.camera import Camera
from ptpkit.client.files import Entry
from ptpkit.errors import PTPError

#: Commands whose arguments are camera objects (completed as camera paths).
_PATH_COMMANDS = frozenset({"ls", "download", "rm", "thumb"})
_PROPERTY_COMMANDS = frozenset({"get", "set", "describe"})


class ShellCompleter(Completer):
    """Completes commands, options, property names and values, and camera paths."""

    def __init__(self, runner: Runner, session: Session) -> None:
        self.runner = runner
        self.session = session
        self._property_names: list[str] | None = None

    def get_completions(
        self, document: Document, complete_event: CompleteEvent
    ) -> Iterator[Completion]:
        text = document.text_before_cursor
        words = text.split()
        current = "" if not words or text.endswith(" ") else words[-1]
        position = len(words) if current == "" else len(words) - 1
        for candidate, display in self._candidates(words, position, current):
            if candidate.lower().startswith(current.lower()):
                yield Completion(candidate, start_position=-len(current), display=display)

    def _candidates(
        self, words: list[str], position: int, current: str
    ) -> Sequence[tuple[str, str | None]]:
        if position == 0:
            names = [*self.runner.command_names(), *BUILTINS, *ALIASES]
            return [(name, None) for name in sorted(set(names))]
        command = resolve_alias(words[0])
        if current.startswith("-"):
            return [(option, None) for option in self._options(command)]
        if command == "help" and position == 1:
            return [(name, None) for name in self.runner.command_names()]
        if command in _PROPERTY_COMMANDS and position == 1:
            return [(name, None) for name in self._properties()]
        if command == "set" and position == 2:
            return self._values(words[1])
        if command in _PATH_COMMANDS:
            return self._paths(current)
        return []

    def _options(self, command_name: str) -> list[str]:
        command = self.runner.command(command_name)
        if command is None:
            return []
        return sorted(
            opt for param in command.params if isinstance(param, click.Option) for opt in param.opts
        )

    def _camera(self) -> Camera | None:
        return self.session.camera() if self.session.connected else None

    def _properties(self) -> list[str]:
        if self._property_names is None:
            cam = self._camera()
            if cam is None:
                return []
            names: set[str] = set()
            for code in cam.device_info.device_properties_supported:
                spec = cam.catalog.get(code)
                names.update(spec.names if spec else (f"0x{code:04X}",))
            self._property_names = sorted(names)
        return self._property_names

    def _values(self, prop: str) -> list[tuple[str, str | None]]:
        cam = self._camera()
        if cam is None:
            return []
        try:
            description = describe_property(cam, prop)  # gphoto2's names and paths too
        except PTPError:
            return []
        allowed = description.allowed or ()
        # Values with spaces ("+1 1/3") would need quoting; the formatted forms here have none.
        return [(description.format(value).replace(" ", ""), None) for value in allowed]

    def _paths(self, current: str) -> list[tuple[str, str | None]]:
        cam = self._camera()
        if cam is None:
            return []
        head, slash, _ = current.rpartition("/")
        found: list[tuple[str, str | None]] = []
        try:
            if not slash:
                # Storage-less paths, as `find` takes them on a one-storage camera.
                entries = cam.list_folder(None)
                single = len({e.storage_id for e in entries}) <= 1
                found += [(_shown(e, e.name if single else e.path), None) for e in entries]
            elif head == "":
                entries = cam.list_folder(None)
                storages = sorted({e.path.split("/")[1] for e in entries})
                found += [(f"/{folder}/", None) for folder in storages]
                found += [(_shown(e, e.path), None) for e in entries]
            else:
                children = cam.list_folder(cam.find(head))
                found += [(_shown(e, f"{head}/{e.name}"), e.name) for e in children]
        except PTPError:
            return []
        return found


def _shown(entry: Entry, path: str) -> str:
    """A folder completes with its slash, ready for the next Tab."""
    return path + "/" if entry.is_folder else path
