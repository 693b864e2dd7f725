"""``torch.nn.functional`` (and the ``torch`` / ``torch.special`` spellings of the same
functions): activations, dropout, linear maps, interpolation, embedding lookup. The losses
are with their module classes in ``nn``."""

from __future__ import annotations

from .records import Activation, Domain, Effect, Layer, Namespace, Record, Resize, TensorFunction

F = "torch.nn.functional"

NAMESPACES: list[Record] = [Namespace(F, short="F")]

ACTIVATIONS: list[Record] = [
    Activation("torch.softmax", Domain.PROBS),
    Activation(f"{F}.softmax", Domain.PROBS),
    Activation("torch.special.softmax", Domain.PROBS),
    Activation("torch.log_softmax", Domain.LOG_PROBS),
    Activation(f"{F}.log_softmax", Domain.LOG_PROBS),
    Activation("torch.special.log_softmax", Domain.LOG_PROBS),
    Activation("torch.sigmoid", Domain.PROBS, elementwise=True),
    Activation(f"{F}.sigmoid", Domain.PROBS, elementwise=True),
    Activation("torch.special.expit", Domain.PROBS, elementwise=True),
    Activation(f"{F}.logsigmoid", Domain.LOG_PROBS, elementwise=True),
    Activation("torch.Tensor.softmax", Domain.PROBS, method=True),
    Activation("torch.Tensor.log_softmax", Domain.LOG_PROBS, method=True),
    Activation("torch.Tensor.sigmoid", Domain.PROBS, elementwise=True, method=True),
]

LAYERS: list[Record] = [
    *(Layer(f"{F}.{name}", module=False, has_dropout=True) for name in (
        "dropout", "dropout1d", "dropout2d", "dropout3d", "alpha_dropout", "feature_alpha_dropout",
    )),
    Layer(f"{F}.linear", module=False, raw_scores=True),
    Layer(f"{F}.bilinear", module=False, raw_scores=True),
    *(Layer(f"{F}.{name}", module=False, upsample=True) for name in (
        "interpolate", "upsample", "upsample_bilinear", "upsample_nearest",
    )),
    Layer(f"{F}.embedding", module=False, embedding=True),
]

RESIZE: list[Record] = [Resize(f"{F}.interpolate", 1), Resize(f"{F}.upsample", 1)]

FUNCTIONS: list[Record] = [
    TensorFunction(f"{F}.relu", frozenset({Effect.ELEMENTWISE})),
    TensorFunction(f"{F}.one_hot", grad_free=True),
]

RECORDS: list[Record] = NAMESPACES + ACTIVATIONS + LAYERS + RESIZE + FUNCTIONS
