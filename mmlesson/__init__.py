"""mmlesson: reference implementations for a hands-on course on multimodal networks.

Start every notebook with ``import mmlesson; mmlesson.setup()``.
"""
__version__ = "0.1.0"


def setup(seed: int = 0) -> str:
    """Seed everything and print device, mode, versions and available weights (see doctor.setup)."""
    from .doctor import setup as doctor_setup  # imported here so `python -m mmlesson` can report bad settings

    return doctor_setup(seed)


__all__ = ["setup", "__version__"]
