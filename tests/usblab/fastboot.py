"""A faster-booting copy of the USB lab's guest, made from the lab's own build (no rebuild).

Measured under TCG on the 2-core CI machine, a guest boot spent ~10 s before the kernel printed
anything (the bzImage decompressing its xz payload under emulation), ~9.5 s unpacking the 270 MB
initramfs (about 28 MB/s), and then every Python import compiled its source again (the lab's
image has no ``__pycache__``): ~8 s to import ptpkit's virtual camera. This module derives, once
per guest build, in a cache folder of its own:

- ``vmlinuz``: the same kernel, uncompressed (the ELF ``vmlinux`` inside the bzImage). QEMU boots
  it through its PVH entry point, with no decompression;
- ``base.cpio``: the same initramfs without what no test runs (Perl, dpkg's and debconf's
  databases, C headers), plus the bytecode of the guest's Python standard library and
  dist-packages, compiled here by a host CPython of the guest's version (3.11) as unchecked
  hash-based ``.pyc`` files (the image never changes).

``run_guest.sh`` takes it through ``OUTDIR``. Whatever fails here (another Python on the host, an
unexpected kernel format) falls back to the lab's files as they are: slower, never different.
"""

from __future__ import annotations

import hashlib
import importlib.util
import lzma
import marshal
import shutil
import struct
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

# Bump when what this module produces changes, so that caches made by an older one are rebuilt.
VERSION = "1"
GUEST_PYTHON = (3, 11)
GUEST_PYTHON_DIRS = ("usr/lib/python3.11/", "usr/lib/python3/dist-packages/")
# Nothing in the guest runs these (they come with debootstrap's base system).
DROPPED = (
    "usr/share/perl/",
    "usr/share/perl5/",
    "usr/lib/x86_64-linux-gnu/perl/",
    "usr/lib/x86_64-linux-gnu/perl-base/",
    "usr/lib/x86_64-linux-gnu/perl5/",
    "var/lib/dpkg/info/",
    "var/cache/debconf/",
    "usr/include/",
)
_XZ_MAGIC = b"\xfd7zXZ\x00"
_PVH_NOTE_TYPE = 18  # XEN_ELFNOTE_PHYS32_ENTRY: QEMU boots an ELF kernel through it


def fast_outdir(source: Path, cache: Path) -> Path | None:
    """The folder to give run_guest.sh as OUTDIR, made once per guest build; None: use source."""
    vmlinuz, base = source / "vmlinuz", source / "base.cpio"
    key = hashlib.sha256(
        repr(
            [VERSION, sys.version_info[:2]]
            + [(p.stat().st_size, p.stat().st_mtime_ns) for p in (vmlinuz, base)]
        ).encode()
    ).hexdigest()[:16]
    out = cache / key
    if (out / "vmlinuz").exists() and (out / "base.cpio").exists():
        return out
    try:
        cache.mkdir(parents=True, exist_ok=True)
        for old in cache.iterdir():
            # Earlier guest builds' copies, and what a killed run left half made an hour ago.
            stale = old.name.startswith(".") and time.time() - old.stat().st_mtime > 3600
            if old.name != key and (stale or not old.name.startswith(".")):
                shutil.rmtree(old, ignore_errors=True)
        work = Path(tempfile.mkdtemp(prefix=".make-", dir=cache))
        try:
            kernel = _uncompressed_kernel(vmlinuz.read_bytes())
            if kernel is None:
                (work / "vmlinuz").symlink_to(vmlinuz)
            else:
                (work / "vmlinuz").write_bytes(kernel)
            with base.open("rb") as src, (work / "base.cpio").open("wb") as dst:
                _write_trimmed_initramfs(src, dst)
            work.chmod(0o755)
            work.rename(out)  # another run that made it first wins
        finally:
            shutil.rmtree(work, ignore_errors=True)
    except (OSError, ValueError, EOFError, struct.error, lzma.LZMAError):
        pass  # the lab's own files then
    if (out / "vmlinuz").exists() and (out / "base.cpio").exists():
        return out
    return None


def precompiled_copy(package: Path, into: Path) -> Path:
    """A copy of a pure-Python package with the guest Python's bytecode next to its sources."""
    target = into / package.name
    shutil.copytree(package, target, ignore=shutil.ignore_patterns("__pycache__"))
    if sys.version_info[:2] == GUEST_PYTHON:
        for source in sorted(target.rglob("*.py")):
            data = source.read_bytes()
            pyc = _pyc(data, f"/test/{source.relative_to(into).as_posix()}", checked=True)
            if pyc is not None:
                cached = Path(importlib.util.cache_from_source(str(source)))
                cached.parent.mkdir(exist_ok=True)
                cached.write_bytes(pyc)
    return target


def _pyc(source: bytes, filename: str, *, checked: bool) -> bytes | None:
    try:
        code = compile(source, filename, "exec", dont_inherit=True)
    except (SyntaxError, ValueError):
        return None
    flags = 0b11 if checked else 0b01  # hash-based; checked against the source or not
    header = importlib.util.MAGIC_NUMBER + struct.pack("<I", flags)
    return header + importlib.util.source_hash(source) + marshal.dumps(code)


def _uncompressed_kernel(bzimage: bytes) -> bytes | None:
    start = bzimage.find(_XZ_MAGIC)
    if start < 0:
        return None
    try:
        elf = lzma.LZMADecompressor(format=lzma.FORMAT_XZ).decompress(bzimage[start:])
    except lzma.LZMAError:
        return None
    return elf if _has_pvh_entry(elf) else None


def _has_pvh_entry(elf: bytes) -> bool:
    if elf[:4] != b"\x7fELF" or elf[4] != 2 or elf[5] != 1:  # 64-bit little-endian only
        return False
    (phoff,) = struct.unpack_from("<Q", elf, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", elf, 0x36)
    for i in range(phnum):
        p_type, _, p_offset, _, _, p_filesz = struct.unpack_from(
            "<IIQQQQ", elf, phoff + i * phentsize
        )
        if p_type != 4:  # PT_NOTE
            continue
        pos, end = p_offset, p_offset + p_filesz
        while pos + 12 <= end:
            namesz, descsz, n_type = struct.unpack_from("<III", elf, pos)
            name = elf[pos + 12 : pos + 12 + namesz]
            if name == b"Xen\x00" and n_type == _PVH_NOTE_TYPE:
                return True
            pos += 12 + (namesz + 3) // 4 * 4 + (descsz + 3) // 4 * 4
    return False


# --- cpio "newc" archives, as the kernel unpacks them ------------------------------------------

_HEADER = struct.Struct("6s8s8s8s8s8s8s8s8s8s8s8s8s8s")


def _entries(src: object) -> Iterator[tuple[str, list[int], bytes]]:
    read = src.read  # type: ignore[attr-defined]
    while True:
        header = read(110)
        if len(header) < 110:
            return
        fields = _HEADER.unpack(header)
        if fields[0] not in (b"070701", b"070702"):
            raise OSError("not a newc cpio archive")
        values = [int(f, 16) for f in fields[1:]]
        namesize, filesize = values[11], values[6]
        name = read(namesize)[:-1].decode("utf-8", "surrogateescape")
        read((-(110 + namesize)) % 4)
        data = read(filesize)
        read((-filesize) % 4)
        if name == "TRAILER!!!":
            return
        yield name, values, data


def _write_entry(dst: object, name: str, values: list[int], data: bytes) -> None:
    encoded = name.encode("utf-8", "surrogateescape") + b"\x00"
    values = [*values]
    values[6], values[11] = len(data), len(encoded)
    header = b"070701" + b"".join(b"%08X" % v for v in values)
    write = dst.write  # type: ignore[attr-defined]
    write(header + encoded + b"\x00" * ((-(110 + len(encoded))) % 4))
    write(data + b"\x00" * ((-len(data)) % 4))


def _write_trimmed_initramfs(src: object, dst: object) -> None:
    compile_pyc = sys.version_info[:2] == GUEST_PYTHON
    pyc_dirs: dict[str, list[tuple[str, bytes, int]]] = {}
    last_ino = 0
    for name, values, data in _entries(src):
        last_ino = max(last_ino, values[0])
        hardlinked = values[4] > 1 and values[1] & 0o170000 == 0o100000
        if name.startswith(DROPPED) and not hardlinked:
            continue
        _write_entry(dst, name, values, data)
        if (
            compile_pyc
            and name.endswith(".py")
            and name.startswith(GUEST_PYTHON_DIRS)
            and values[1] & 0o170000 == 0o100000
            and "/__pycache__/" not in name
        ):
            folder, _, file = name.rpartition("/")
            pyc = _pyc(data, "/" + name, checked=False)
            if pyc is not None:
                cached = f"{file[:-3]}.{sys.implementation.cache_tag}.pyc"
                pyc_dirs.setdefault(f"{folder}/__pycache__", []).append((cached, pyc, values[5]))
    ino = last_ino + 1
    for folder, files in pyc_dirs.items():
        mtime = max(m for _, _, m in files)
        _write_entry(dst, folder, [ino, 0o40755, 0, 0, 2, mtime, 0, 0, 0, 0, 0, 0, 0], b"")
        ino += 1
        for file, pyc, mtime in files:
            entry = [ino, 0o100644, 0, 0, 1, mtime, 0, 0, 0, 0, 0, 0, 0]
            _write_entry(dst, f"{folder}/{file}", entry, pyc)
            ino += 1
    _write_entry(dst, "TRAILER!!!", [0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0], b"")
