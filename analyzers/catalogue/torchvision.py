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

# Constructors of models that contain batch norm (all of their variants do); dropout too where noted.
ZOO: list[Record] = [
    *(ZooModel(MODELS, pattern, has_batch_norm=True) for pattern in (
        r"resnet\d+", r"resnext\w+", r"wide_resnet\w+", r"densenet\d+", r"regnet\w+", r"shufflenet\w+",
        r"mnasnet\w+", r"convnext\w*", r"fcn_\w+", r"deeplabv3\w*", r"fasterrcnn\w+", r"maskrcnn\w+",
        r"retinanet\w+", r"keypointrcnn\w+", r"r3d_18", r"r2plus1d_18", r"mc3_18",
    )),
    *(ZooModel(MODELS, pattern, has_batch_norm=True, has_dropout=True) for pattern in (
        r"vgg\d+_bn", r"inception_v3", r"googlenet", r"mobilenet_v[23]\w*", r"efficientnet\w*",
    )),
]

FACTORIES: list[Record] = [ModelFactory(MODELS, namespace=True)]

RECORDS: list[Record] = NAMESPACES + READERS + TRANSFORMS + RESIZE + ZOO + FACTORIES
