import struct

from lvmove_hooks import dmioctl
from lvmove_hooks.dmstatus import parse_status, parse_table


def _answer(specs: list[tuple[int, int, str, str]], flags: int = 0, event_nr: int = 3) -> bytes:
    header = dmioctl._HEADER
    body = bytearray()
    for start, length, kind, params in specs:
        raw = params.encode() + b"\0"
        raw += b"\0" * (-(dmioctl._SPEC.size + len(raw)) % 8)
        nxt = len(body) + dmioctl._SPEC.size + len(raw)
        body += dmioctl._SPEC.pack(start, length, 0, nxt, kind.encode()) + raw
    buf = bytearray(header.size) + body
    header.pack_into(buf, 0, 4, 48, 0, len(buf), header.size, len(specs), 1, flags, event_nr, 0, 0,
                     b"vg-pvmove0", b"", b"")
    return bytes(buf)


def test_header_is_312_bytes_and_ioctl_numbers() -> None:
    assert dmioctl._HEADER.size == 312 and dmioctl._SPEC.size == 40
    assert dmioctl._iowr(12) == 0xC138FD0C  # DM_TABLE_STATUS as in linux/dm-ioctl.h


def test_encode_sets_name_size_and_flags() -> None:
    buf = dmioctl.encode("my--vg-pvmove0", dmioctl.STATUS_TABLE_FLAG, 4096)
    fields = dmioctl._HEADER.unpack_from(buf, 0)
    assert fields[:5] == (4, 0, 0, 4096, 312) and fields[7] == dmioctl.STATUS_TABLE_FLAG
    assert fields[11].rstrip(b"\0") == b"my--vg-pvmove0"


def test_decode_status_and_table_round_trip_through_parsers() -> None:
    status = _answer([(0, 100, "linear", ""), (100, 100, "mirror", "2 8:0 8:16 5/10 1 AA 1 core")],
                     flags=dmioctl.ACTIVE_PRESENT_FLAG, event_nr=7)
    flags, event_nr, lines = dmioctl.decode(status)
    assert event_nr == 7 and flags & dmioctl.ACTIVE_PRESENT_FLAG
    parsed = parse_status("\n".join(lines))
    assert parsed[1].mirror is not None and parsed[1].mirror.in_sync == 5
    table = _answer([(0, 200, "mirror", "core 1 1024 2 8:0 2048 8:16 2048 1 handle_errors")])
    assert parse_table("\n".join(dmioctl.decode(table)[2]))[0].devices == ("8:0", "8:16")


def test_unusable_without_control(monkeypatch: object) -> None:
    import os

    os.environ["LVMOVE_NO_IOCTL"] = "1"
    try:
        assert dmioctl.open_control() is None
    finally:
        del os.environ["LVMOVE_NO_IOCTL"]
    assert struct.calcsize("=Q") == 8


def test_event_wait_buffer_lets_cpython_release_the_gil() -> None:
    """fcntl.ioctl() drops the GIL only for buffers of at most 1024 bytes: a blocking DM_DEV_WAIT with a
    larger one froze the whole process (seen in the guest). The wait must fit, and carry the event number."""
    assert dmioctl._HEADER.size < dmioctl.WAIT_BUFFER <= 1024
    buf = dmioctl.encode("vg-pvmove0", 0, dmioctl.WAIT_BUFFER, event_nr=41)
    fields = dmioctl._HEADER.unpack_from(buf, 0)
    assert fields[3] == dmioctl.WAIT_BUFFER and fields[8] == 41
    assert dmioctl._iowr(dmioctl._DEV_WAIT) == 0xC138FD08  # DM_DEV_WAIT as in linux/dm-ioctl.h
