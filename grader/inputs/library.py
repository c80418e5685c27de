"""Library modules as the student's code names them: torch.nn, torchvision.models, timm.

`from torchvision import models` makes `models.resnet18` torchvision's; `import torch.nn as nn`
makes `nn.Sequential` torch's. Read from the submission's imports, nothing imported here.
"""

from __future__ import annotations

import ast
from typing import Protocol, Sequence


class Scope(Protocol):
    """A namespace that says which statements bind a name (grader.inputs.discovery.Namespace)."""

    def bindings(self, name: str) -> list: ...


LIBRARY_MODULES = ("torch.nn.", "torchvision.models.", "timm.")
SHORT_LIBRARY = ("nn.", "models.", "torchvision.models.", "torch.nn.", "timm.", "tvm.")


def import_origin(ns_list: Sequence[Scope], name: str) -> str | None:
    """The dotted path a module-level name is imported as, in any of the namespaces:
    `from torchvision import models` -> "torchvision.models" for `models`."""
    for ns in ns_list:
        for d in ns.bindings(name):
            for node in ast.walk(d.node):
                if isinstance(node, ast.Import):
                    for a in node.names:
                        if a.asname == name:
                            return a.name
                        if a.asname is None and a.name.split(".")[0] == name:
                            return name
                elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                    for a in node.names:
                        if (a.asname or a.name) == name:
                            return f"{node.module}.{a.name}"
    return None


def library_path(ns_list: Sequence[Scope], text: str) -> str | None:
    """The full dotted path of a library object (torch.nn, torchvision.models, timm) written
    as `text` ("models.resnet18", "nn.Sequential", "ResNet"); None when it is not one. A name
    that is not imported at module level (a function's own import) is judged by its text."""
    root, _, rest = text.partition(".")
    if not root.isidentifier() or any(not part.isidentifier() for part in rest.split(".")
                                      if rest):
        return None
    origin = import_origin(ns_list, root)
    full = (origin + ("." + rest if rest else "")) if origin else text
    if full.startswith(LIBRARY_MODULES):
        return full
    if origin is None and text.startswith(SHORT_LIBRARY):
        return text
    return None


def library_class(ns_list: Sequence[Scope], text: str) -> bool:
    """A library nn.Module class (nn.Sequential, torchvision's ResNet, VGG, ...)."""
    full = library_path(ns_list, text)
    return bool(full) and full.rsplit(".", 1)[-1][:1].isupper() and (
        "Weights" not in full.rsplit(".", 1)[-1])
