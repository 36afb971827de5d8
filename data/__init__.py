"""Demo data: the committed demo city in ``data/demo/`` and its generator (``data.generate``).

This module stays tiny: the domain loads the demo city from ``DEMO_DIR`` without importing the
generator.
"""

from pathlib import Path

DEMO_DIR = Path(__file__).with_name("demo")
