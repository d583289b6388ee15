"""mmlesson: reference implementations for a hands-on course on multimodal networks.

Start every notebook with ``import mmlesson; mmlesson.setup()``.
"""
__version__ = "0.1.0"

from .config import setup  # noqa: E402  (the one call a notebook's first cell makes)

__all__ = ["setup", "__version__"]
