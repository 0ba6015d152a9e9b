"""Write one level's secret into the receiver's TOML file, leaving the rest of it as it was.

`link` is the only writer. tomlkit keeps comments, key order, quoting and blank lines; only
the `secret` of one table changes, or a new table is added. The new text is checked as a
receiver configuration before anything is sent to Vapi, written to a temporary file in the
same directory (mode of the original, else 0600: it holds secrets) and moved over the file
with one atomic rename once Vapi has accepted the change: a crash leaves the old file or the
new one, never half of one. A symbolic link is followed, so the file it points at is updated.
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from receiver.cli._vapi_api import import_extra
from receiver.config import config_from_mapping
from receiver.errors import ConfigError

if TYPE_CHECKING:
    import tomlkit

#: A level's table: `("phone_numbers", id)`, `("assistants", id)`, `("orgs", id)`, `("org",)`.
TablePath = tuple[str, ...]

_NEW_FILE_MODE = 0o600


def table_name(table: TablePath) -> str:
    """`[phone_numbers.pn-1]`, as the file shows it."""
    return "[" + ".".join(table) + "]"


@dataclass
class ConfigEdit:
    """One receiver configuration file, read for a change.

    Attributes:
        path: The file as given, for messages.
        target: The file that is written: `path` with symbolic links resolved.
        document: The parsed file (empty when it does not exist yet).
        mode: The permission bits the written file gets.
    """

    path: str
    target: Path
    document: tomlkit.TOMLDocument
    mode: int
    crlf: bool = False

    @classmethod
    def open(cls, path: str) -> ConfigEdit:
        """Read `path` (which need not exist yet).

        Raises:
            ConfigError: it cannot be read, is not TOML, or its directory does not exist.
        """
        target = Path(os.path.realpath(path))
        if not target.parent.is_dir():
            raise ConfigError(f"{path}: the directory {target.parent} does not exist")
        try:
            with open(target, encoding="utf-8", newline="") as file:  # keep \r\n as it is
                text = file.read()
            mode = stat.S_IMODE(target.stat().st_mode)
        except FileNotFoundError:
            text, mode = "", _NEW_FILE_MODE
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: cannot be read: {exc}") from None
        tomlkit = import_extra("tomlkit")
        try:
            document = tomlkit.parse(text)
        except tomlkit.exceptions.TOMLKitError as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from None
        return cls(path, target, document, mode, crlf=_crlf(text))

    def secret(self, table: TablePath) -> str | None:
        """The table's `secret`, else the first of its `secrets`; `None` when it has neither."""
        entry = self._find(table)
        if entry is None:
            return None
        value = entry.get("secret")
        if isinstance(value, str) and value.strip():
            return value
        values = entry.get("secrets")
        if isinstance(values, list) and values and isinstance(values[0], str):
            return str(values[0])
        return None

    def other_secrets(self, table: TablePath) -> int:
        """How many `secrets` the table lists besides `secret`: still accepted after a link."""
        entry = self._find(table)
        values = entry.get("secrets") if entry is not None else None
        return len(values) if isinstance(values, list) else 0

    def has(self, table: TablePath) -> bool:
        return self._find(table) is not None

    def set_secret(self, table: TablePath, secret: str) -> None:
        """Set the table's `secret`, creating the table when needed, and check the result.

        Raises:
            ConfigError: the file would not be a configuration the receiver accepts.
        """
        tomlkit = import_extra("tomlkit")
        parent: Any = self.document
        created = None
        parent_is_new = False
        for depth, key in enumerate(table):
            child = parent.get(key)
            if child is None:
                leaf = depth == len(table) - 1
                if isinstance(parent, tomlkit.items.InlineTable):
                    child = tomlkit.inline_table()
                else:
                    child = tomlkit.table(is_super_table=not leaf)
                    if depth == 0:
                        _separate(self.document)
                    elif leaf and isinstance(parent, tomlkit.items.Table) and not parent_is_new:
                        created = child  # may land between two tables: it ends with a blank line
                parent[key] = child
                child = parent[key]
                parent_is_new = True
            elif not hasattr(child, "get"):
                raise ConfigError(f"{self.path}: `{'.'.join(table[: depth + 1])}` is not a table")
            parent = child
        parent["secret"] = secret
        if created is not None:
            parent.add(tomlkit.nl())
        try:
            config_from_mapping(self.document.unwrap(), source=self.path)
        except ConfigError as exc:
            raise ConfigError(f"after setting the secret of {table_name(table)}: {exc}") from None

    def text(self) -> str:
        text: str = self.document.as_string()
        if self.crlf:  # tomlkit ends what it adds with \n: keep the file's own line endings
            text = re.sub(r"(?<!\r)\n", "\r\n", text)
        return text

    def stage(self) -> StagedFile:
        """Write the new text next to the file, ready to replace it.

        Raises:
            ConfigError: the directory is not writable, or the disk is full.
        """
        directory = self.target.parent
        for attempt in range(100):
            temporary = directory / f".{self.target.name}.{os.getpid()}.{attempt}.tmp"
            try:
                descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                continue
            except OSError as exc:
                raise ConfigError(f"{self.path}: cannot write next to it: {exc}") from None
            break
        else:  # pragma: no cover - a hundred leftovers of this very pid
            raise ConfigError(f"{self.path}: cannot create a temporary file in {directory}")
        try:
            os.fchmod(descriptor, self.mode)
            with os.fdopen(descriptor, "w", encoding="utf-8", newline="") as file:
                file.write(self.text())
                file.flush()
                os.fsync(file.fileno())
        except OSError as exc:
            with contextlib.suppress(OSError):
                temporary.unlink()
            raise ConfigError(f"{self.path}: cannot write next to it: {exc}") from None
        return StagedFile(temporary, self.target)

    def _find(self, table: TablePath) -> Any:
        entry: Any = self.document
        for key in table:
            entry = entry.get(key) if hasattr(entry, "get") else None
            if entry is None:
                return None
        return entry if hasattr(entry, "get") else None


@dataclass(frozen=True)
class StagedFile:
    """The new configuration, written beside the file it replaces; commit or discard it."""

    temporary: Path
    target: Path

    def commit(self) -> None:
        """Replace the file in one rename, and make the rename itself durable."""
        os.replace(self.temporary, self.target)
        with contextlib.suppress(OSError):  # not every file system lets a directory be synced
            directory = os.open(self.target.parent, os.O_RDONLY)
            try:
                os.fsync(directory)
            finally:
                os.close(directory)

    def discard(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.temporary.unlink()


def _crlf(text: str) -> bool:
    """Whether every line of `text` ends with \\r\\n (a mixed file keeps \\n for new lines)."""
    return "\r\n" in text and "\n" not in text.replace("\r\n", "")


def _separate(document: tomlkit.TOMLDocument) -> None:
    """End the document with a blank line, so that a table added at its end stands apart."""
    tomlkit = import_extra("tomlkit")
    text = document.as_string()
    if text.strip():
        for _ in range(2 - len(text) + len(text.rstrip("\n"))):
            document.add(tomlkit.nl())


__all__ = ["ConfigEdit", "StagedFile", "TablePath", "table_name"]
