"""``PIL``: functions that return an image, and the image methods that return one again."""

from __future__ import annotations

from .records import GradNeutral, ImageMaker, Record

RECORDS: list[Record] = [
    *(ImageMaker(f"PIL.Image.{name}") for name in ("open", "new", "fromarray", "frombytes")),
    GradNeutral("PIL.Image.open"),  # ``with Image.open(path) as img:``
]

# Methods of ``PIL.Image.Image`` that return an image (``img.convert("RGB")``): its size is still (W, H).
IMAGE_METHODS = frozenset({"convert", "resize", "crop", "rotate", "transpose", "copy", "filter", "quantize"})
