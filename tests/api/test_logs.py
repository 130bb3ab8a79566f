"""Reading a stored log from its end: how much is asked of the store, and where the answer starts."""

from __future__ import annotations

from collections.abc import Callable

from sovits_api.logs import log_end, tail_lines


def reader(data: bytes, asked: list[int]) -> Callable[[int], bytes]:
    """``read_tail`` over bytes in memory, recording each size asked for."""

    def read_tail(size: int) -> bytes:
        asked.append(size)
        return data[-size:] if size else b""

    return read_tail


def numbered(count: int, width: int = 100) -> bytes:
    return b"".join(f"{n:06d}".encode().ljust(width - 1, b".") + b"\n" for n in range(count))


def test_a_short_log_is_read_whole_in_one_request() -> None:
    asked: list[int] = []
    assert log_end(reader(b"a\nb\n", asked), None) == b"a\nb\n"
    assert asked == [4 * 1024 * 1024 + 1]


def test_a_tail_reads_one_window_from_the_end_of_a_large_log() -> None:
    data = numbered(100_000)  # 10 MB
    asked: list[int] = []
    end = log_end(reader(data, asked), 5, window=64 * 1024)
    assert asked == [64 * 1024 + 1]
    assert tail_lines(end.decode(), 5) == data[-500:].decode()


def test_the_window_doubles_until_it_holds_enough_lines() -> None:
    data = numbered(1_000, width=10_000)
    asked: list[int] = []
    end = log_end(reader(data, asked), 20, window=64 * 1024)
    assert asked == [64 * 1024 + 1, 128 * 1024 + 1, 256 * 1024 + 1]
    assert tail_lines(end.decode(), 20) == data[-200_000:].decode()


def test_the_window_stops_growing_at_the_limit() -> None:
    data = numbered(1_000, width=1_000)
    asked: list[int] = []
    end = log_end(reader(data, asked), 900, limit=300_000, window=100_000)
    assert asked == [100_001, 200_001, 300_001]
    assert len(end) <= 300_000


def test_a_cut_log_starts_on_a_whole_line() -> None:
    data = numbered(100)
    end = log_end(reader(data, []), None, limit=250)
    assert end == data[-200:]


def test_a_log_exactly_at_the_limit_is_not_cut() -> None:
    data = numbered(3)
    assert log_end(reader(data, []), None, limit=len(data)) == data


def test_a_log_without_newlines_is_kept_as_read() -> None:
    assert log_end(reader(b"x" * 50, []), None, limit=10) == b"x" * 10
