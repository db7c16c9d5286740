"""typeprior: generative NER guided by knowledge-base type priors (Mo et al.).

The product's four parts are its subpackages: `typeprior.model`, `typeprior.kb`, `typeprior.warehouse` and
`typeprior.flows`. A wheel installs them inside this package; in a source checkout they stay in the project's
top-level folders (model/, kb/, ...), so the checkout's root is added to this package's path, which keeps a
`git worktree` importing its own code rather than the editable install's.

Importing typeprior registers the model with transformers' Auto classes, so that a saved model folder loads with
`AutoModel.from_pretrained(folder)`.
"""
from __future__ import annotations

from pathlib import Path

_ROOT = Path(__file__).resolve().parent.parent
if (_ROOT / "pyproject.toml").is_file() and (_ROOT / "model" / "__init__.py").is_file():
    __path__.append(str(_ROOT))  # noqa: F821 - a package's own __path__

__version__ = "0.1.0"
