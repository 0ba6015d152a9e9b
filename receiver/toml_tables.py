"""Configuration tables as pydantic models, and their errors said in the file's own terms.

Each table of the configuration file (a level, a credential, `[receiver]`, `[inbox]`) is a
`Table`: an unknown key is refused (`extra="forbid"`) and nothing is coerced (`strict`: `"3"`
is no number and `1` no boolean), because a typo that is silently ignored or converted leaves
a receiver configured differently from what its owner reads in the file. Pydantic reports a
mistake at a location tuple such as `("org", "credentials", 1, "hmac", "algorithm")`; a user
fixes a file by table and key, so `describe` says "[[org.credentials]] #2 (hmac): `algorithm`
is required" instead, and names the known key closest to one that was misspelt.
"""

from __future__ import annotations

import difflib
import types
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails

Text = Annotated[str, Field(pattern=r"\S")]
"""A string with something in it: a blank secret or header name is a slip, never meant."""

_UNIONS = (Union, types.UnionType)


class Table(BaseModel):
    """One table of the configuration file.

    A key that is left out is `None` here, and `options()` leaves it out again, so the runtime
    object the table builds keeps its own default: defaults are written in one place only.
    Each field's `description` says what its value must be, and is the wording of its error.
    """

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    def options(self) -> dict[str, Any]:
        """The keys that were given, as keyword arguments of the runtime object."""
        return self.model_dump(exclude_none=True)


@dataclass
class _Place:
    """Where in the file an error is: the table (its path, array entry and type) and key."""

    path: list[str] = field(default_factory=list)
    entry: str = ""
    tag: str = ""
    table: Any = None
    key: str | None = None
    info: FieldInfo | None = None
    rest: tuple[int | str, ...] = ()


def describe(error: ValidationError, root: Any, *, prefix: str, top: str) -> str:
    """Every error of `error`, one line each, naming the table and the key.

    Args:
        error: What pydantic raised while validating `root`.
        root: The type that was validated: a `Table` or a union of them.
        prefix: The start of each line, e.g. the file's name and `": "`.
        top: The name of the root when no table is named, e.g. `"the top level"`.
    """
    lines = [prefix + _line(detail, _place(root, detail["loc"]), top) for detail in error.errors()]
    return "\n".join(lines)


def _line(detail: ErrorDetails, place: _Place, top: str) -> str:
    name = ".".join(place.path)
    if not place.path:
        label = top
    elif place.entry or get_origin(place.table) is list:
        label = f"[[{name}]]"
    else:
        label = f"[{name}]"
    label += place.entry + place.tag
    kind = detail["type"]
    if place.key is None:
        return label + _about_table(detail, place.table)
    key = place.key
    if kind == "extra_forbidden":
        return f"{label}: {_unknown(key, place.table)}"
    if kind == "missing":
        return f"{label}: `{key}` is required"
    if kind == "value_error":
        return f"{label}: `{key}`: {detail.get('ctx', {}).get('error')}"
    words = place.info.description if place.info and place.info.description else None
    if words is None:
        return f"{label}: `{key}`: {detail['msg']}"
    item = f" (item {int(place.rest[0]) + 1} is not)" if place.rest else ""
    return f"{label}: `{key}` must be {words}{item}"


def _about_table(detail: ErrorDetails, table: Any) -> str:
    kind = detail["type"]
    ctx = detail.get("ctx", {})
    if kind == "value_error":
        return f": {ctx.get('error')}"
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        key = str(ctx.get("discriminator", "")).strip("'")
        tags = [get_args(_bare(m).model_fields[key].annotation)[0] for m in get_args(table)]
        expected = ", ".join(f'"{t}"' for t in tags[:-1]) + f' or "{tags[-1]}"'
        shown = f"got {ctx['tag']!r}" if "tag" in ctx else "missing"
        return f": `{key}` must be {expected} ({shown})"
    if kind == "list_type":
        return " must be an array of tables"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return " must be a table"
    return f": {detail['msg']}"


def _unknown(key: str, table: Any) -> str:
    known = sorted(n for n, f in table.model_fields.items() if not _is_tag(f))
    text = f"unknown key `{key}` (expected one of: {', '.join(known)})"
    close = difflib.get_close_matches(key, known, n=1)
    return text + (f"; did you mean `{close[0]}`?" if close else "")


def _place(root: Any, loc: tuple[int | str, ...]) -> _Place:
    """Follow `loc` through the types: dict keys and table fields name tables, list indexes
    entries of an array of tables, union tags their type; the first other field is the key."""
    place = _Place()
    kind = root
    for index, part in enumerate(loc):
        kind = _bare(kind)
        origin = get_origin(kind)
        if origin is dict:
            place.path.append(str(part))
            kind = get_args(kind)[1]
        elif origin is list:
            place.entry = f" #{int(part) + 1}"
            kind = get_args(kind)[0]
        elif origin in _UNIONS:
            place.tag = f" ({part})"
            kind = next(m for m in get_args(kind) if part in _tags(_bare(m)))
        else:
            found = kind.model_fields.get(str(part))
            if found is not None and _is_table(found.annotation):
                place.path.append(str(part))
                kind = found.annotation
                continue
            place.table, place.key, place.info = kind, str(part), found
            place.rest = tuple(loc[index + 1 :])
            return place
    place.table = _bare(kind)
    return place


def _bare(kind: Any) -> Any:
    """`kind` without `Annotated` and without `| None`."""
    while True:
        if get_origin(kind) is Annotated:
            kind = get_args(kind)[0]
        elif get_origin(kind) in _UNIONS and type(None) in get_args(kind):
            (kind,) = (a for a in get_args(kind) if a is not type(None))
        else:
            return kind


def _is_table(kind: Any) -> bool:
    kind = _bare(kind)
    if get_origin(kind) in (dict, list):
        return _is_table(get_args(kind)[-1])
    if get_origin(kind) in _UNIONS:
        return all(_is_table(member) for member in get_args(kind))
    return isinstance(kind, type) and issubclass(kind, BaseModel)


def _is_tag(field_info: FieldInfo) -> bool:
    """A field of one literal value: the `type` that picks a table's kind, not a setting."""
    return (
        get_origin(field_info.annotation) is Literal and len(get_args(field_info.annotation)) == 1
    )


def _tags(model: type[BaseModel]) -> set[object]:
    return {get_args(f.annotation)[0] for f in model.model_fields.values() if _is_tag(f)}
