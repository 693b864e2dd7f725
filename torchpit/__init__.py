"""torchpit: catch PyTorch pitfalls while you type."""

from importlib.metadata import PackageNotFoundError, version as _version

try:
    __version__ = _version("torchpit")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

DOCS_URL = "https://github.com/torchpit/torchpit/blob/main/docs/rules"
