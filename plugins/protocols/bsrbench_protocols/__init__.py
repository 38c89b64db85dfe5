"""The field's test protocols after IKC: DIV2KRK, anisotropic setting 2, MANet and DASR
grids, noise and JPEG stages, each generator-exact and rebuildable from recorded draws.

Built-in plugin, registered through the ``bsrbench`` entry-point group.
"""

from __future__ import annotations

__version__ = "0.1.0"
