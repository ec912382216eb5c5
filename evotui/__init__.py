"""evotui's read side: watch a model learn, example by example, from a terminal. Never imports torch."""

__version__ = "0.1.0"
