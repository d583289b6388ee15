"""mmlesson: reference implementations for a hands-on course on multimodal networks.

Start every notebook with ``import mmlesson; mmlesson.setup()``.
"""
__version__ = "0.1.0"


def setup(seed: int = 0, threads: int | str | None = None) -> str:
    """Seed everything, choose torch's thread count (``threads``: a number, or None for the course's policy),
    and print device, mode, threads, versions and available weights (see doctor.setup)."""
    from .doctor import setup as doctor_setup  # imported here so `python -m mmlesson` can report bad settings

    return doctor_setup(seed, threads)


__all__ = ["setup", "__version__"]
