"""A generated demo organisation (Contoso) with the reference story; see ``story``."""

from signals.demo.build import DEFAULT_TODAY, DemoSummary, build_demo, generate, resolve_size
from signals.demo.org import SIZES, DemoSize

__all__ = [
    "DEFAULT_TODAY",
    "SIZES",
    "DemoSize",
    "DemoSummary",
    "build_demo",
    "generate",
    "resolve_size",
]
