"""Library knowledge, as data: typed records (``records``), one data module per library
(``torch``, ``nn``, ``functional``, ``torchvision``, ``timm``, ``numpy``, ``pil``, ``lightning``,
``transformers``), one lookup (``index``), canonical spellings (``aliases``), and the sets and
predicates the analysis asks, derived from the records (``torch_api``)."""

from .aliases import canonical
from .index import lookup, of_kind, records_of

__all__ = ["canonical", "lookup", "of_kind", "records_of"]
