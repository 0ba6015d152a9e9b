"""Names that say what they are: no two public classes share a name, and a CLI command's
module name (`doctor`, `replay`, ...) means that command and nothing else."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from pathlib import Path

import receiver
import receiver.cli

PUBLIC_PACKAGES = (
    "receiver",
    "receiver.models",
    "receiver.responses",
    "receiver.credentials",
    "receiver.inbox",
    "receiver.samples",
)


def test_no_two_public_classes_share_a_name() -> None:
    """`from receiver.models import X` and `from receiver.responses import X` must never be two
    different things: the base of what Vapi sends is not the base of what we answer."""
    seen: dict[str, type] = {}
    clashes = []
    for package in PUBLIC_PACKAGES:
        module = importlib.import_module(package)
        for name in getattr(module, "__all__", ()):
            value = getattr(module, name)
            if not inspect.isclass(value):
                continue
            if seen.setdefault(name, value) is not value:
                clashes.append(f"{name}: {seen[name].__module__} and {value.__module__}")
    assert clashes == []


def test_a_command_module_name_means_only_that_command() -> None:
    commands = {
        info.name for info in pkgutil.iter_modules(receiver.cli.__path__) if info.name[0] != "_"
    }
    root = Path(receiver.__file__).parent
    elsewhere = sorted(
        str(path.relative_to(root))
        for path in root.rglob("*.py")
        if path.parent.name != "cli" and path.stem in commands
    )
    assert elsewhere == []


def test_base_models_are_named_for_their_direction() -> None:
    from receiver.models import InboundModel, Message
    from receiver.responses import OutboundModel, ToolCallResult

    assert issubclass(Message, InboundModel)
    assert issubclass(ToolCallResult, OutboundModel)
    assert not issubclass(ToolCallResult, InboundModel)
