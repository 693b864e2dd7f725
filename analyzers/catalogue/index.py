"""One lookup over the records of every data module of the catalogue."""

from __future__ import annotations

from typing import TypeVar

from . import functional, lightning, nn, numpy, others, pil, timm, torch, torchvision, transformers
from .records import Loss, Record

DATA_MODULES = (torch, nn, functional, torchvision, timm, numpy, pil, lightning, transformers, others)
RECORDS: tuple[Record, ...] = tuple(r for mod in DATA_MODULES for r in mod.RECORDS)

R = TypeVar("R", bound=Record)

_BY_NAME: dict[str, list[Record]] = {}
for _r in RECORDS:
    _BY_NAME.setdefault(_r.qualname, []).append(_r)
    if isinstance(_r, Loss):  # a loss is found under its module classes too
        for _c in _r.module_classes:
            _BY_NAME.setdefault(_c, []).append(_r)


def lookup(qualname: str | None, kind: type[R] = Record) -> R | None:  # type: ignore[assignment]
    """The record of ``kind`` for ``qualname`` (canonical spelling), or None."""
    for r in _BY_NAME.get(qualname or "", ()):
        if isinstance(r, kind):
            return r
    return None


def records_of(qualname: str | None) -> list[Record]:
    """Every record for ``qualname``, of any kind (``torch.sigmoid``: an activation and an elementwise op)."""
    return list(_BY_NAME.get(qualname or "", ()))


def of_kind(kind: type[R]) -> list[R]:
    return [r for r in RECORDS if isinstance(r, kind)]
