"""What a long-running process does once it has started."""

from __future__ import annotations

import gc


def started() -> None:
    """Moves what start-up loaded (modules, classes, the app, the pool) out of
    the cyclic collector's reach. Every full collection walked those objects
    again: an import of 300,000 rows set off ~70 of them, 30 % of its Python
    CPU (16.1 s against 12.2 s frozen). Reference counting still frees them."""
    gc.collect()
    gc.freeze()
