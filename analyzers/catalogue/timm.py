"""``timm``: model factories (every model it builds is trainable)."""

from __future__ import annotations

from .records import ModelFactory, Record

# ``timm.create_model`` matches as a prefix, as the constructors under ``timm.models`` do.
RECORDS: list[Record] = [ModelFactory("timm.create_model"), ModelFactory("timm.models", namespace=True)]
