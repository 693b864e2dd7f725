"""Hugging Face ``transformers``: ``model.generate(...)`` runs the forward itself."""

from __future__ import annotations

from .records import Generate, Record

RECORDS: list[Record] = [Generate("transformers.GenerationMixin.generate")]
