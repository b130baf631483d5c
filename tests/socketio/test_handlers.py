"""handlers: calling application functions with forgiving arity, acks from return values."""

from __future__ import annotations

import functools
from typing import Any

from rtio.socketio.handlers import SENT, Handler, ack_args, ack_value


async def test_fit_trims_and_pads() -> None:
    def two(socket: Any, a: Any, b: Any = 0) -> None: ...

    h = Handler(two, 1)
    assert (h.min_args, h.max_args, h.takes_ack, h.is_async) == (1, 2, False, False)
    assert h.fit([]) == [None]
    assert h.fit([1]) == [1]
    assert h.fit([1, 2, 3]) == [1, 2]


async def test_var_positional_takes_everything() -> None:
    async def many(socket: Any, *args: Any) -> tuple[Any, ...]:
        return args

    h = Handler(many, 1)
    assert h.max_args is None and h.is_async
    assert h.fit([1, 2, 3]) == [1, 2, 3]
    assert await h.call("s", 1, 2) == (1, 2)


async def test_ack_parameter_positional_or_keyword_only() -> None:
    got: list[Any] = []

    def positional(socket: Any, x: Any, ack: Any) -> None:
        ack(x)

    def keyword(socket: Any, x: Any, *, ack: Any) -> None:
        ack(x * 2)

    for fn in (positional, keyword):
        h = Handler(fn, 1)
        assert h.takes_ack and h.max_args == 1
        await h.call("s", *h.fit([3, 4]), ack=got.append)
    assert got == [3, 6]


async def test_async_callable_objects_and_partials() -> None:
    class Callable:
        async def __call__(self, socket: Any, x: Any) -> Any:
            return x + 1

    h = Handler(Callable(), 1)
    assert h.is_async and await h.call("s", 1) == 2

    async def base(prefix: str, socket: Any, x: Any) -> str:
        return prefix + str(x)

    p = Handler(functools.partial(base, "n"), 1)
    assert await p.call("s", *p.fit([5, 6])) == "n5"


async def test_builtins_without_signature_get_everything() -> None:
    h = Handler(print, 1)  # has no inspectable signature on some versions; either way:
    assert h.fit([1, 2]) == [1, 2] or h.max_args is None

    class NoSignature:
        __signature__ = "not a signature"

        def __call__(self, *args: Any) -> Any:
            return args

    n = Handler(NoSignature(), 1)
    assert n.max_args is None and n.fit([1, 2, 3]) == [1, 2, 3]


def test_ack_args_and_value_are_inverse() -> None:
    assert ack_args(None) == [] and ack_value([]) is None
    assert ack_args(5) == [5] and ack_value([5]) == 5
    assert ack_args((1, 2)) == [1, 2] and ack_value([1, 2]) == (1, 2)
    assert ack_args([1, 2]) == [[1, 2]]  # a list is one argument (a JSON array)


async def test_sent_is_awaitable_and_true() -> None:
    assert await SENT is None
    assert SENT and repr(SENT) == "<rtio.SENT>"
