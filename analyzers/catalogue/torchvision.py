"""``torchvision``: image readers (``io``), transforms, and the model zoo (``models``)."""

from __future__ import annotations

from .records import Effect, ModelFactory, Namespace, Record, Resize, TensorFunction, ZooModel

E = Effect
T = "torchvision.transforms"
MODELS = "torchvision.models"

NAMESPACES: list[Record] = [Namespace("torchvision"), Namespace(T, short="transforms")]

READERS: list[Record] = [
    TensorFunction("torchvision.io.read_image", frozenset({E.READ_IMAGE}), "uint8"),
    TensorFunction("torchvision.io.decode_image", frozenset({E.READ_IMAGE}), "uint8"),
    TensorFunction("torchvision.io.decode_jpeg", frozenset({E.READ_IMAGE}), "uint8"),
    TensorFunction("torchvision.io.decode_png", frozenset({E.READ_IMAGE}), "uint8"),
    TensorFunction("torchvision.io.image.read_image", frozenset({E.READ_IMAGE}), "uint8"),
    TensorFunction(f"{T}.functional.to_tensor", frozenset({E.READ_IMAGE}), "float32"),
    TensorFunction(f"{T}.functional.pil_to_tensor", frozenset({E.READ_IMAGE}), "uint8"),
]

TRANSFORMS: list[Record] = [
    TensorFunction(f"{T}.ToTensor", frozenset({E.TO_TENSOR}), "float32"),
    TensorFunction(f"{T}.PILToTensor", frozenset({E.TO_TENSOR}), "uint8"),
    TensorFunction(f"{T}.v2.ToTensor", frozenset({E.TO_TENSOR}), "float32"),
    TensorFunction(f"{T}.v2.PILToTensor", frozenset({E.TO_TENSOR}), "uint8"),
    TensorFunction(f"{T}.Compose", frozenset({E.COMPOSE})),
    TensorFunction(f"{T}.v2.Compose", frozenset({E.COMPOSE})),
    # Transforms that keep a (C, H, W) tensor three-dimensional after ToTensor in a Compose (under
    # any module of torchvision.transforms: v2, functional).
    *(TensorFunction(f"{T}.{name}", frozenset({E.KEEPS_RANK})) for name in (
        "Normalize", "Resize", "CenterCrop", "RandomCrop", "RandomResizedCrop", "RandomHorizontalFlip",
        "RandomVerticalFlip", "ConvertImageDtype", "ColorJitter", "RandomErasing", "Grayscale",
        "RandomRotation", "Pad", "ToDtype",
    )),
]

RESIZE: list[Record] = [
    Resize(f"{T}.Resize", 0),
    Resize(f"{T}.v2.Resize", 0),
    Resize(f"{T}.functional.resize", 1),
    Resize(f"{T}.v2.functional.resize", 1),
]

# The batch-norm layers every ResNet has: the stem's, the first block's of each stage
# (BasicBlock and Bottleneck both have bn1 and bn2), and the stride-2 shortcuts of stages 2-4.
_RESNET_BN = ("bn1", "layer1.0.bn1", "layer1.0.bn2", "layer2.0.bn1", "layer2.0.bn2", "layer2.0.downsample.1",
              "layer3.0.downsample.1", "layer4.0.downsample.1")
_DENSENET_BN = ("features.norm0", "features.denseblock1.denselayer1.norm1", "features.denseblock1.denselayer1.norm2",
                "features.transition1.norm", "features.norm5")

# Constructors of models that contain batch norm (all of their variants do); dropout too where noted.
ZOO: list[Record] = [
    *(ZooModel(MODELS, pattern, has_batch_norm=True, batch_norm_names=_RESNET_BN) for pattern in (r"resnet\d+", r"resnext\w+", r"wide_resnet\w+")),
    ZooModel(MODELS, r"densenet\d+", has_batch_norm=True, batch_norm_names=_DENSENET_BN),
    *(ZooModel(MODELS, pattern, has_batch_norm=True) for pattern in (
        r"regnet\w+", r"shufflenet\w+", r"mnasnet\w+", r"fcn_\w+", r"deeplabv3\w*", r"fasterrcnn\w+",
        r"maskrcnn\w+", r"retinanet\w+", r"keypointrcnn\w+", r"r3d_18", r"r2plus1d_18", r"mc3_18",
    )),
    ZooModel(MODELS, r"vgg\d+_bn", has_batch_norm=True, has_dropout=True, batch_norm_names=("features.1",)),
    *(ZooModel(MODELS, pattern, has_batch_norm=True, has_dropout=True) for pattern in (
        r"inception_v3", r"googlenet", r"mobilenet_v[23]\w*", r"efficientnet\w*",
    )),
    # ConvNeXt normalises with LayerNorm (LayerNorm2d in the stem and downsampling): no batch norm.
    ZooModel(MODELS, r"convnext\w*"),
]

FACTORIES: list[Record] = [ModelFactory(MODELS, namespace=True)]

RECORDS: list[Record] = NAMESPACES + READERS + TRANSFORMS + RESIZE + ZOO + FACTORIES
