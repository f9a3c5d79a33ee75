"""MTP (Media Transfer Protocol, an extension of PTP): its codes, and the behaviour the Camera
asks of it instead of hard-coding it (issue 12):

- whole-card listing with GetObjPropList (MTP 1.1 §D.2.27), one transaction for the card,
  indexed by :class:`~ptpkit.ext.listing.PropListIndex` (:meth:`MtpExtension.index_objects`);
- 64-bit object sizes from the ObjectSize object property where ObjectInfo's 32-bit field says
  0xFFFFFFFF (:meth:`MtpExtension.object_size`);
- reads past 4 GiB with Android's GetPartialObject64 (0x95C1; AOSP MtpServer.cpp), where
  GetPartialObject's 32-bit offset cannot reach (:meth:`MtpExtension.read_object`).
"""

from __future__ import annotations

from typing import Final

from ptpkit.codes import VendorId
from ptpkit.codes.common import Op, Opc
from ptpkit.core.datasets import DeviceInfo, ObjectInfo, decode_value
from ptpkit.core.datatypes import DataType
from ptpkit.errors import RemoteProtocolError
from ptpkit.ext.base import DataSink
from ptpkit.ext.lazy import LazyCodes
from ptpkit.ext.listing import PropListIndex, SpoolSink

#: GetObjPropList over a whole card is one data phase, spooled to a temporary file (not memory):
#: allow a big one (about 15M objects), not an endless one.
PROPLIST_LIMIT_BYTES: Final = 4 << 30
#: The largest read one GetPartialObject(64) can ask for (a uint32 length).
MAX_READ_BYTES: Final = 0xFFFFFFFF
#: GetObjPropList's "every object" handle and "every property" code (MTP 1.1 §D.2.27); also
#: GetObjectHandles' "root folder" parent.
_ALL: Final = 0xFFFFFFFF


class MtpExtension(LazyCodes):
    name = "mtp"
    codes_module = "mtp"

    @classmethod
    def matches(cls, info: DeviceInfo) -> bool:
        return (
            info.vendor_extension_id in (VendorId.MICROSOFT, VendorId.MTP)
            or "microsoft.com" in info.vendor_extension_desc.lower()
        )

    def _supports(self, code: int) -> bool:
        return code in self.session.device_info.operations_supported

    # -- listing ---------------------------------------------------------------------------------

    def index_objects(self, parent: int) -> PropListIndex | None:
        if not self._supports(Op.GET_OBJ_PROP_LIST):
            return None
        # The answer can be hundreds of MiB: it goes to a temporary file.
        sink = SpoolSink(PROPLIST_LIMIT_BYTES)
        try:
            self.session.run(*proplist_request(parent), sink=sink)
            # Indexed now, so that a camera that fails it fails before anything is listed.
            return PropListIndex(sink.file, sink.size)
        except BaseException:
            sink.close()
            raise

    def object_size(self, handle: int, info: ObjectInfo) -> int | None:
        if not self._supports(Op.GET_OBJECT_PROP_VALUE):
            return None
        reply = self.session.run(Op.GET_OBJECT_PROP_VALUE, (handle, Opc.OBJECT_SIZE))
        value = decode_value(reply.data, DataType.UINT64)
        assert isinstance(value, int)
        return value

    # -- reading ---------------------------------------------------------------------------------

    def reads_from(self, offset: int) -> bool:
        return self._supports(Op.ANDROID_GET_PARTIAL_OBJECT_64)

    def read_object(self, handle: int, offset: int, length: int, sink: DataSink) -> bool:
        # Only what standard GetPartialObject cannot do: an offset past its 32 bits, or a
        # camera without it. The camera reads the first 4 GiB the standard way and asks again.
        if not self._supports(Op.ANDROID_GET_PARTIAL_OBJECT_64):
            return False
        if offset <= MAX_READ_BYTES and self._supports(Op.GET_PARTIAL_OBJECT):
            return False
        end = offset + length
        while offset < end:
            step = min(end - offset, MAX_READ_BYTES)
            reply = self.session.run(
                Op.ANDROID_GET_PARTIAL_OBJECT_64,
                (handle, offset & 0xFFFFFFFF, offset >> 32, step),
                sink=sink,
            )
            offset += checked_read_count(reply.params, step, offset)
        return True


def proplist_request(parent: int) -> tuple[int, tuple[int, ...]]:
    """GetObjPropList of everything below ``parent`` (ROOT: the whole card), every property:
    the operation and parameters :meth:`MtpExtension.index_objects` sends (and ``ptpkit.aio``,
    which runs it on its own engine). Depth 0 from the root folder is the whole card; below a
    folder, every level (0xFFFFFFFF). Format 0: any; property 0xFFFFFFFF: all of them; group 0
    (MTP 1.1 §D.2.27)."""
    depth = 0 if parent == _ALL else 0xFFFFFFFF
    return Op.GET_OBJ_PROP_LIST, (parent, 0, _ALL, 0, depth)


def checked_read_count(params: tuple[int, ...], step: int, offset: int) -> int:
    """The bytes a GetPartialObject(64) says it sent (its first response parameter; ``step``
    when it gives none), checked: none at all would loop forever, more than asked is a lie (the
    sink stopped the data at the asked length)."""
    sent = params[0] if params else step
    if sent == 0:
        raise RemoteProtocolError(f"the camera sent no bytes at offset {offset}")
    if sent > step:
        raise RemoteProtocolError(
            f"the camera says it sent {sent} bytes at offset {offset}; {step} were asked"
        )
    return sent
