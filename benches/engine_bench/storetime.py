"""The store's share of the time: its methods wrapped, outermost calls counted."""

from __future__ import annotations

import contextlib
import functools
import inspect
import time
from collections.abc import Callable, Iterable
from typing import Any

#: Attributes never wrapped: object machinery, and finalisers (run whenever the
#: garbage collector runs, inside whatever code is then running).
_NOT_WRAPPED = frozenset(
    {
        "__new__",
        "__init_subclass__",
        "__class_getitem__",
        "__subclasshook__",
        "__getattribute__",
        "__setattr__",
        "__delattr__",
        "__del__",
        "__repr__",
        "__str__",
        "__hash__",
        "__eq__",
    }
)
#: Modules whose classes are store code: a helper object of the store (its pending
#: changes, caches, resources) whose class comes from one of them is wrapped too.
_STORE_MODULES = ("hpcflow.sdk.persistence", "wfstore")


class StoreTimer:
    """Time spent in the store: every method and property getter of the classes given
    (and of their bases) wrapped; a depth counter makes only the outermost call count,
    so a store method calling others is counted once."""

    def __init__(self) -> None:
        self.depth = 0
        self.seconds = 0.0
        self.calls = 0
        self._wrapped: set[type] = set()

    def reset(self) -> None:
        self.seconds = 0.0
        self.calls = 0

    def wrap_classes(self, classes: Iterable[type]) -> None:
        for cls in classes:
            for klass in cls.__mro__:
                if klass in self._wrapped or klass.__module__ in ("builtins", "abc", "typing"):
                    continue
                self._wrapped.add(klass)
                for name, attr in list(vars(klass).items()):
                    if name in _NOT_WRAPPED:
                        continue
                    new = self._wrapped_attr(attr, name)
                    if new is not None:
                        with contextlib.suppress(AttributeError, TypeError):
                            setattr(klass, name, new)

    def _wrapped_attr(self, attr: Any, name: str) -> Any:
        if isinstance(attr, staticmethod):
            return staticmethod(self._wrap(attr.__func__))
        if isinstance(attr, classmethod):
            return classmethod(self._wrap(attr.__func__))
        if isinstance(attr, property):
            if attr.fget is None:
                return None
            return property(self._wrap(attr.fget), attr.fset, attr.fdel, attr.__doc__)
        if isinstance(attr, functools.cached_property):
            new = functools.cached_property(self._wrap(attr.func))
            new.attrname = attr.attrname
            return new
        if inspect.isfunction(attr):
            wrapped = self._wrap(attr)
            if name == "__init__":
                return self._wrap_init(wrapped)
            return wrapped
        return None

    def _wrap_init(self, init: Callable[..., Any]) -> Callable[..., Any]:
        """After a store object is made, its helper objects' classes are wrapped too."""
        timer = self

        @functools.wraps(init)
        def __init__(obj: Any, *args: Any, **kwargs: Any) -> None:
            init(obj, *args, **kwargs)
            timer.wrap_classes(_helper_classes(obj))

        return __init__

    def _wrap(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        timer = self

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if timer.depth:
                timer.depth += 1
                try:
                    return fn(*args, **kwargs)
                finally:
                    timer.depth -= 1
            timer.depth = 1
            t0 = time.perf_counter()
            try:
                out = fn(*args, **kwargs)
            finally:
                timer.depth = 0
                timer.seconds += time.perf_counter() - t0
                timer.calls += 1
            if isinstance(out, contextlib._GeneratorContextManager):
                return _TimedContext(out, timer)
            return out

        return wrapper


class _TimedContext:
    """A store context manager (``cached_load``, ``using_resource``) whose entering and
    leaving count as the store's time (its body is the caller's)."""

    def __init__(self, inner: Any, timer: StoreTimer) -> None:
        self._inner = inner
        self._timer = timer

    def _timed(self, fn: Callable[..., Any], *args: Any) -> Any:
        timer = self._timer
        if timer.depth:
            return fn(*args)
        timer.depth = 1
        t0 = time.perf_counter()
        try:
            return fn(*args)
        finally:
            timer.depth = 0
            timer.seconds += time.perf_counter() - t0

    def __enter__(self) -> Any:
        return self._timed(self._inner.__enter__)

    def __exit__(self, *exc: Any) -> Any:
        return self._timed(self._inner.__exit__, *exc)


def _helper_classes(store: Any) -> list[type]:
    """Classes of the store object's attributes (and of the items of its dict and list
    attributes) that come from the store's own modules."""
    out: list[type] = []
    values: list[Any] = list(getattr(store, "__dict__", {}).values())
    for v in list(values):
        if isinstance(v, dict):
            values += list(v.values())
        elif isinstance(v, (list, tuple)):
            values += list(v)
    for v in values:
        cls = type(v)
        if cls.__module__.startswith(_STORE_MODULES) and cls not in out:
            out.append(cls)
    return out
