"""LLS — the Local License Server: the vendor's licensing API inside an air-gapped network."""

from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["__version__"]
