"""DCLS (Luo et al., CVPR 2022): deep constrained least squares for blind SR.

Built-in plugin, registered through the ``bsrbench`` entry-point group. Torch and the
networks load lazily inside the factories.
"""

from __future__ import annotations

__version__ = "0.1.0"
