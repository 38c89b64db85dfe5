"""DAN (Luo et al., NeurIPS 2020) and DANv2 (2021): alternating Restorer/Estimator.

Built-in plugin, registered through the ``bsrbench`` entry-point group. Torch and the
networks load lazily inside the factories.
"""

from __future__ import annotations

__version__ = "0.1.0"
