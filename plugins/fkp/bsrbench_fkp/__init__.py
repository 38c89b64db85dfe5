"""FKP (Liang et al., CVPR 2021): USRNet, the flow kernel prior and zero-shot estimators.

Built-in plugin, registered through the ``bsrbench`` entry-point group. Torch and the
networks load lazily inside the factories.
"""

from __future__ import annotations

__version__ = "0.1.0"
