"""typeprior: generative NER guided by knowledge-base type priors (Mo et al.).

The product's four parts are its subpackages: `typeprior.model`, `typeprior.kb`, `typeprior.warehouse` and
`typeprior.flows`. A wheel installs them inside this package; in a source checkout they stay in the project's
top-level folders (model/, kb/, ...), so the checkout's root is added to this package's path, which keeps a
`git worktree` importing its own code rather than the editable install's.

Importing typeprior registers the model with transformers' Auto classes, so that a saved model folder loads with
`AutoModel.from_pretrained(folder)`. The registration waits until transformers itself is imported, so that
commands which never touch the model (`typeprior sql`, `data stats`) do not pay for importing torch.
"""
from __future__ import annotations

import importlib.abc
import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

_ROOT = Path(__file__).resolve().parent.parent
if (_ROOT / "pyproject.toml").is_file() and (_ROOT / "model" / "__init__.py").is_file():
    __path__.append(str(_ROOT))  # noqa: F821 - a package's own __path__

__version__ = "0.1.0"


def register_with_transformers() -> None:
    """AutoConfig and AutoModel learn the `typeprior` model type (typeprior.model.config and .generator).

    Skipped while a typeprior.model module is itself being imported (it imported transformers): importing the
    generator then would be circular, and the model modules register themselves when they finish.
    """
    busy = [m for n, m in list(sys.modules.items()) if n.startswith("typeprior.model")
            and getattr(getattr(m, "__spec__", None), "_initializing", False)]
    if not busy:
        import typeprior.model.generator  # noqa: F401 - registers TypePriorConfig and PointerNER on import


class _AfterTransformers(importlib.abc.MetaPathFinder):
    """Registers typeprior once the `transformers` package has been imported, whoever imports it."""

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        if name != "transformers":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None:
            return spec
        run = spec.loader.exec_module

        def exec_then_register(module: ModuleType) -> None:
            run(module)
            register_with_transformers()

        spec.loader.exec_module = exec_then_register  # type: ignore[method-assign]
        return spec


if "transformers" in sys.modules:
    register_with_transformers()
else:
    sys.meta_path.insert(0, _AfterTransformers())
