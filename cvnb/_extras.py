"""Optional extras: which import each one provides, a clear error when one is missing, and
lazy package attributes.

cvnb's base install loads, scans and runs ONNX models without torch; training needs the
``train`` extra and the widgets and notebook runners the ``lab`` extra (the table is in
``docs/ARCHITECTURE.md``). A package that needs an extra calls :func:`require_extra` first,
so a user without it reads which extra to install instead of a bare ``No module named``.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["EXTRA_MODULES", "MissingExtraError", "lazy_attributes", "require_extra"]

#: The top-level modules each extra installs that cvnb imports.
EXTRA_MODULES: dict[str, tuple[str, ...]] = {
    "train": ("torch", "torchvision", "fastai", "timm"),
    "lab": ("ipywidgets", "anywidget", "traitlets", "papermill", "nbconvert", "nbformat"),
}


class MissingExtraError(ImportError):
    """An optional extra that a cvnb package needs is not installed.

    Attributes:
        extra: The extra's name, as in ``pip install 'cvnb[<extra>]'``.
        missing: The modules that could not be found.
    """

    def __init__(self, what: str, extra: str, missing: tuple[str, ...]):
        self.extra = extra
        self.missing = missing
        super().__init__(
            f"{what} needs the {extra!r} extra: pip install 'cvnb[{extra}]' "
            f"(not importable here: {', '.join(missing)})",
            name=missing[0] if missing else None,
        )


def _importable(module: str) -> bool:
    try:
        # None for a module that is absent, or blocked with ``sys.modules[name] = None``.
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def require_extra(extra: str, what: str, *modules: str) -> None:
    """Raise :class:`MissingExtraError` unless the modules of ``extra`` can be imported.

    Only looks the modules up (nothing is imported), so it costs microseconds.

    Args:
        extra: A key of :data:`EXTRA_MODULES`.
        what: Who needs it, for the message (a package name such as ``"cvnb.train"``).
        *modules: The modules to check; by default all of :data:`EXTRA_MODULES` ``[extra]``.

    Raises:
        MissingExtraError: Naming the extra and the install command.
        KeyError: For an unknown extra.

    Example:
        >>> require_extra("train", "cvnb.train")  # silent where torch and fastai are installed
    """
    wanted = modules or EXTRA_MODULES[extra]
    missing = tuple(m for m in wanted if not _importable(m))
    if missing:
        raise MissingExtraError(what, extra, missing)


def lazy_attributes(
    package: str,
    sources: Mapping[str, str],
    extras: Mapping[str, str] | None = None,
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """A module ``__getattr__`` and ``__dir__`` that import each public name on first use.

    Importing a package then costs nothing, and a user who reaches for one name loads only
    the module that defines it (``from cvnb.widgets import show_images`` loads no torch).

    Args:
        package: The package's ``__name__``.
        sources: Public name → the private module defining it, relative (``"_image_grid"``).
        extras: Private module → the extra it needs; checked before that module is imported.

    Returns:
        ``(__getattr__, __dir__)`` to assign at the package's top level.

    Example:
        >>> __getattr__, __dir__ = lazy_attributes(__name__, {"show_images": "_image_grid"})
        ... # doctest: +SKIP
    """
    needs = dict(extras or {})

    def __getattr__(name: str) -> Any:
        source = sources.get(name)
        if source is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        if source in needs:
            require_extra(needs[source], f"{package}.{name}")
        value = getattr(importlib.import_module(f"{package}.{source}"), name)
        module = importlib.import_module(package)
        setattr(module, name, value)  # later lookups skip __getattr__
        return value

    def __dir__() -> list[str]:
        module = importlib.import_module(package)
        return sorted(set(vars(module)) | set(sources))

    return __getattr__, __dir__
