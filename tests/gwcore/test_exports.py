"""The public surface of gwcore is explicit, sorted and importable."""

from __future__ import annotations

import importlib
import pkgutil

import gwcore

# Order within __all__ is enforced by ruff (RUF022, isort-style); these tests check
# that the lists are complete and true.


def test_all_is_complete() -> None:
    public = {name for name in vars(gwcore) if not name.startswith("_")}
    # Submodules are reachable as attributes once imported; they are not re-exports.
    modules = {m.name for m in pkgutil.iter_modules(gwcore.__path__)}
    assert public - modules - {"annotations"} == set(gwcore.__all__) - {"__version__"}


def test_every_name_resolves() -> None:
    for name in gwcore.__all__:
        assert getattr(gwcore, name) is not None


def test_public_modules_declare_all() -> None:
    for info in pkgutil.iter_modules(gwcore.__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"gwcore.{info.name}")
        exported = module.__all__
        assert len(set(exported)) == len(exported), info.name
        for name in exported:
            assert hasattr(module, name), f"gwcore.{info.name}.{name}"
