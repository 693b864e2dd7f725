"""``numpy``: the functions whose arrays are floating point."""

from __future__ import annotations

from .records import Effect, GradNeutral, Namespace, Record, TensorFunction

RECORDS: list[Record] = [
    Namespace("numpy", short="np"),
    *(TensorFunction(f"numpy.{name}", frozenset({Effect.FLOAT_ARRAY}), "float64") for name in (
        "linspace", "random.rand", "random.randn", "random.uniform", "random.normal", "random.random",
    )),
    GradNeutral("numpy.errstate"),  # ``with np.errstate(...):``
]
