"""``torch.nn``: layers (batch norm, dropout, parameters or none, raw scores, containers,
upsampling, embeddings, instance norm), activation modules, model wrappers, and the losses with
their module classes."""

from __future__ import annotations

from .records import Activation, Domain, Layer, Loss, LossModule, ModuleBase, Namespace, Record, Resize, Wrapper

NN = "torch.nn"
F = "torch.nn.functional"

BASES: list[Record] = [ModuleBase(f"{NN}.Module")]

# The private bases of the batch-norm classes (``torch.nn.modules.batchnorm._BatchNorm``,
# canonically ``torch.nn._BatchNorm``), which ``isinstance`` tests use to catch every batch norm.
BATCH_NORM_BASES = frozenset({f"{NN}._BatchNorm", f"{NN}._NormBase"})

# An ``nn.Parameter(...)`` requires grad unless ``requires_grad=False``.
PARAMETER = f"{NN}.Parameter"

_PARAMETERS = {
    "Linear", "LazyLinear", "Bilinear", "Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d",
    "ConvTranspose3d", "Embedding", "EmbeddingBag", "LSTM", "GRU", "RNN", "LSTMCell", "GRUCell", "RNNCell",
    "MultiheadAttention", "Transformer", "TransformerEncoder", "TransformerDecoder", "TransformerEncoderLayer",
    "TransformerDecoderLayer", "PReLU", "LazyConv1d", "LazyConv2d", "LazyConv3d", "LayerNorm", "BatchNorm1d",
    "BatchNorm2d", "BatchNorm3d", "GroupNorm",
}
_BATCH_NORM = {
    "BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "SyncBatchNorm", "LazyBatchNorm1d", "LazyBatchNorm2d", "LazyBatchNorm3d",
}
_DROPOUT = {"Dropout", "Dropout1d", "Dropout2d", "Dropout3d", "AlphaDropout"}
_RAW_SCORES = {
    "Linear", "LazyLinear", "Bilinear", "Conv1d", "Conv2d", "Conv3d", "LazyConv1d", "LazyConv2d", "LazyConv3d",
}
_CONTAINERS = {"Sequential", "ModuleList"}
_UPSAMPLE = {"Upsample", "UpsamplingBilinear2d", "UpsamplingNearest2d"}
_EMBEDDING = {"Embedding"}
# Layers without parameters (an activation, a pooling, a reshape): calling one builds no graph of weights.
_NO_PARAMETERS = {
    "ReLU", "ReLU6", "LeakyReLU", "ELU", "SELU", "CELU", "GELU", "SiLU", "Mish", "Sigmoid", "Tanh", "Softmax", "LogSoftmax",
    "Softmax2d", "Softplus", "Softsign", "Hardtanh", "Hardswish", "Hardsigmoid", "LogSigmoid", "Threshold", "Identity",
    "Flatten", "Unflatten", "Dropout", "Dropout1d", "Dropout2d", "Dropout3d", "AlphaDropout", "MaxPool1d", "MaxPool2d",
    "MaxPool3d", "AvgPool1d", "AvgPool2d", "AvgPool3d", "AdaptiveAvgPool1d", "AdaptiveAvgPool2d", "AdaptiveAvgPool3d",
    "AdaptiveMaxPool1d", "AdaptiveMaxPool2d", "AdaptiveMaxPool3d", "Upsample", "UpsamplingNearest2d",
    "UpsamplingBilinear2d", "PixelShuffle", "PixelUnshuffle", "ZeroPad2d", "ConstantPad2d", "ReflectionPad2d",
    "ReplicationPad2d", "CosineSimilarity", "PairwiseDistance",
}
_INSTANCE_NORM = {"InstanceNorm1d", "InstanceNorm2d", "InstanceNorm3d"}

# Each flag of the layer records, and the layers that have it.
_LAYER_FLAGS = {
    "has_batch_norm": _BATCH_NORM, "has_dropout": _DROPOUT, "has_parameters": _PARAMETERS, "raw_scores": _RAW_SCORES,
    "container": _CONTAINERS, "upsample": _UPSAMPLE, "embedding": _EMBEDDING, "no_parameters": _NO_PARAMETERS,
    "instance_norm": _INSTANCE_NORM,
}
LAYERS: list[Record] = [
    Layer(f"{NN}.{name}", **{flag: name in names for flag, names in _LAYER_FLAGS.items()})
    for name in sorted(set().union(*_LAYER_FLAGS.values()))
]

RESIZE: list[Record] = [Resize(f"{NN}.Upsample", 0)]

ACTIVATIONS: list[Record] = [
    Activation(f"{NN}.Softmax", Domain.PROBS, module=True),
    Activation(f"{NN}.Softmax2d", Domain.PROBS, module=True),
    Activation(f"{NN}.LogSoftmax", Domain.LOG_PROBS, module=True),
    Activation(f"{NN}.Sigmoid", Domain.PROBS, elementwise=True, module=True),
    Activation(f"{NN}.LogSigmoid", Domain.LOG_PROBS, elementwise=True, module=True),
]

WRAPPERS: list[Record] = [
    Wrapper(f"{NN}.DataParallel"),
    Wrapper(f"{NN}.parallel.DistributedDataParallel"),
    Wrapper(f"{NN}.parallel.DataParallel"),
]

LOSSES: list[Record] = [
    Loss(f"{F}.cross_entropy", (f"{NN}.CrossEntropyLoss",), expects=Domain.LOGITS),
    Loss(f"{F}.nll_loss", (f"{NN}.NLLLoss", f"{NN}.NLLLoss2d"), expects=Domain.LOG_PROBS),
    Loss(f"{F}.kl_div", (f"{NN}.KLDivLoss",), compares_target=True, expects=Domain.LOG_PROBS),
    Loss(f"{F}.mse_loss", (f"{NN}.MSELoss",), compares_target=True, symmetric=True),
    Loss(f"{F}.l1_loss", (f"{NN}.L1Loss",), compares_target=True, symmetric=True),
    Loss(f"{F}.smooth_l1_loss", (f"{NN}.SmoothL1Loss",), compares_target=True, symmetric=True),
    Loss(f"{F}.huber_loss", (f"{NN}.HuberLoss",), compares_target=True, symmetric=True),
    Loss(f"{F}.binary_cross_entropy", (f"{NN}.BCELoss",), compares_target=True, expects=Domain.PROBS),
    Loss(f"{F}.binary_cross_entropy_with_logits", (f"{NN}.BCEWithLogitsLoss",), compares_target=True, expects=Domain.LOGITS),
    # cosine_embedding_loss(input1, input2, target): the target (1 / -1) is argument 2.
    Loss(f"{F}.cosine_embedding_loss", (f"{NN}.CosineEmbeddingLoss",), target_arg=2, compares_target=True),
]

# The other loss classes: criteria whose arguments the analysis does not need.
LOSS_MODULES: list[Record] = [
    LossModule(f"{NN}.{name}") for name in (
        "CTCLoss", "PoissonNLLLoss", "GaussianNLLLoss", "MarginRankingLoss", "HingeEmbeddingLoss", "MultiLabelMarginLoss",
        "SoftMarginLoss", "MultiLabelSoftMarginLoss", "MultiMarginLoss", "TripletMarginLoss", "TripletMarginWithDistanceLoss",
        "AdaptiveLogSoftmaxWithLoss",
    )
]

NAMESPACES: list[Record] = [Namespace(NN, short="nn")]

RECORDS: list[Record] = NAMESPACES + BASES + LAYERS + RESIZE + ACTIVATIONS + WRAPPERS + LOSSES + LOSS_MODULES
