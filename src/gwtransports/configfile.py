"""Config files: YAML or JSON on disk to a checked :class:`~gwcore.config.Config`, and back.

Reading parses the file once with PyYAML's ``SafeLoader`` into a node tree (JSON
files too, when YAML can read them, which it nearly always can) and builds the
data from that tree, so that every :class:`~gwcore.errors.FieldError` can be
shown with the line it is about::

    gateway.yaml:12: routes.usermapping.prefix: prefix must start with '/'

The node tree also reveals duplicate keys, which both YAML and JSON loaders
silently resolve to the last one; in a gateway config that would drop a route
without a word, so a duplicate is an error here.

Only ``SafeLoader``/``SafeDumper`` are used: a config file can never construct
Python objects.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from gwcore.config import Config, from_dict, to_dict
from gwcore.errors import ConfigError, FieldError

__all__ = ["ConfigFileError", "Problem", "dump_yaml", "field_lines", "load_config_file"]

# A field path's next step: ".key" (keys may contain dots, see _find) or "[3]".
_INDEX_RE = re.compile(r"\[(\d+)\]")


@dataclass(frozen=True, slots=True)
class Problem:
    """One problem of a config file, where it is.

    Attributes:
        file: The file as given.
        path: Field path (``routes.a.prefix``); empty for the whole file.
        message: What is wrong.
        line: Line number in the file, or ``None`` when unknown.
    """

    file: str
    path: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        """``FILE:LINE: PATH: MESSAGE`` (line and path left out when unknown)."""
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"

    def to_json(self) -> dict[str, str | int | None]:
        """``{"path", "message", "line"}`` for ``--json`` output."""
        return {"path": self.path, "message": self.message, "line": self.line}


class ConfigFileError(Exception):
    """A config file could not be read or is invalid.

    The message names the file and, one problem per line, the line number (when
    known), the field path and what is wrong.

    Attributes:
        file: The file as given.
        errors: The field errors (with paths), empty for unreadable files and
            syntax errors.
        lines: For each of ``errors``, its line number in the file or ``None``.
    """

    def __init__(
        self,
        file: str,
        message: str,
        *,
        errors: tuple[FieldError, ...] = (),
        lines: tuple[int | None, ...] = (),
    ) -> None:
        super().__init__(message)
        self.file = file
        self.errors = errors
        self.lines = lines

    @property
    def problems(self) -> tuple[Problem, ...]:
        """Every problem, one each, with its path and line: the field errors, or
        for an unreadable file or a syntax error the one message (its line taken
        from the ``FILE:LINE:`` the message starts with)."""
        if self.errors:
            lines = self.lines or (None,) * len(self.errors)
            return tuple(
                Problem(self.file, e.path, e.message, line)
                for e, line in zip(self.errors, lines, strict=False)
            )
        rest = str(self).removeprefix(f"{self.file}:").strip()
        number, sep, text = rest.partition(":")
        if sep and number.isdigit():
            return (Problem(self.file, "", text.strip(), int(number)),)
        return (Problem(self.file, "", rest),)


def load_config_file(path: str | os.PathLike[str]) -> Config:
    """Read and check a config file.

    ``.json`` files are JSON; anything else (``.yaml``, ``.yml``) is YAML.

    Args:
        path: The file.

    Returns:
        The checked config.

    Raises:
        ConfigFileError: When the file cannot be read, is not valid YAML/JSON, has
            duplicate keys, or the config is invalid; the message lists every problem.
    """
    name = os.fspath(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigFileError(name, f"{name}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigFileError(name, f"{name}: not UTF-8 text (byte {exc.start})") from None
    data, root = _parse(name, text, json_syntax=name.lower().endswith(".json"))
    if data is None:
        raise ConfigFileError(name, f"{name}: the file holds no config (it is empty)")
    found = _duplicates(root, "") if root is not None else []
    try:
        config = from_dict(data)
    except ConfigError as exc:
        found.extend(
            (error, None if root is None else _line(root, error.path)) for error in exc.errors
        )
    if found:
        errors = [error for error, _line in found]
        lines = [line for _error, line in found]
        # In file order: the reader fixes them top to bottom.
        order = sorted(range(len(errors)), key=lambda i: (lines[i] is None, lines[i] or 0, i))
        problems = [
            f"{name}:{lines[i]}: {errors[i]}" if lines[i] else f"{name}: {errors[i]}" for i in order
        ]
        raise ConfigFileError(
            name,
            "\n".join(problems),
            errors=tuple(errors[i] for i in order),
            lines=tuple(lines[i] for i in order),
        )
    return config


def _parse(name: str, text: str, *, json_syntax: bool) -> tuple[object, yaml.Node | None]:
    """The file's data and, when YAML can read it, its node tree."""
    try:
        root = _compose(text)
    except (yaml.YAMLError, ValueError, RecursionError) as exc:
        if not json_syntax:
            raise ConfigFileError(name, f"{name}:{_yaml_problem(exc)}") from None
        root = None
    if json_syntax:
        try:
            return json.loads(text), root
        except json.JSONDecodeError as exc:
            raise ConfigFileError(name, f"{name}:{exc.lineno}: invalid JSON: {exc.msg}") from None
        except (ValueError, RecursionError) as exc:
            raise ConfigFileError(name, f"{name}: invalid JSON: {exc}") from None
    if root is None:  # an empty file
        return None, None
    loader = yaml.SafeLoader("")
    try:
        return loader.construct_document(root), root
    except (yaml.YAMLError, ValueError, RecursionError) as exc:
        raise ConfigFileError(name, f"{name}:{_yaml_problem(exc)}") from None
    finally:
        loader.dispose()


def _compose(text: str) -> yaml.Node | None:
    loader = yaml.SafeLoader(text)
    try:
        return loader.get_single_node()
    finally:
        loader.dispose()


def _yaml_problem(exc: BaseException) -> str:
    """``12: invalid YAML: ...`` (line first, for the ``file:line:`` form), one line."""
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        where = f"{mark.line + 1}:" if mark is not None else ""
        what = f"{exc.context}, {exc.problem}" if exc.context else exc.problem
        return f"{where} invalid YAML: {what}"
    if isinstance(exc, RecursionError):
        return " invalid YAML: nested too deeply"
    return f" invalid YAML: {' '.join(str(exc).split())}"


def _duplicates(
    node: yaml.Node, path: str, seen: set[int] | None = None
) -> list[tuple[FieldError, int | None]]:
    """A field error (and its line) for every key given twice in one mapping."""
    seen = set() if seen is None else seen
    if id(node) in seen:  # an alias: checked where it was defined
        return []
    seen.add(id(node))
    problems: list[tuple[FieldError, int | None]] = []
    if isinstance(node, yaml.MappingNode):
        first: dict[str, int] = {}
        for key, value in node.value:
            # Keys are scalars: the data was built, and a list or mapping key
            # would have failed that ("found unhashable key").
            name = str(key.value)
            child = f"{path}.{name}" if path else name
            if name in first:
                message = f"duplicate key (first on line {first[name]})"
                problems.append((FieldError(child, message), key.start_mark.line + 1))
            first.setdefault(name, key.start_mark.line + 1)
            problems.extend(_duplicates(value, child, seen))
    elif isinstance(node, yaml.SequenceNode):
        for position, item in enumerate(node.value):
            problems.extend(_duplicates(item, f"{path}[{position}]", seen))
    return problems


def field_lines(path: str | os.PathLike[str], fields: Sequence[str]) -> tuple[int | None, ...]:
    """The line of each field path in a config file (``routes.a`` -> the line of
    the key ``a`` under ``routes``), for problems found after loading it (route
    ties, shadowed routes). ``None`` for every field when the file does not parse.
    """
    try:
        root = _compose(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError, ValueError, RecursionError):
        root = None
    return tuple(None if root is None else _line(root, field) for field in fields)


def _line(root: yaml.Node, path: str) -> int | None:
    """The line of the field at ``path``, or of its nearest parent present in the file."""
    node, rest, line = root, path, root.start_mark.line + 1
    while rest:
        step = _step(node, rest)
        if step is None:
            break
        node, rest, line = step
    return line


def _step(node: yaml.Node, rest: str) -> tuple[yaml.Node, str, int] | None:
    if isinstance(node, yaml.SequenceNode):
        match = _INDEX_RE.match(rest)
        if match is None or int(match[1]) >= len(node.value):
            return None
        item: yaml.Node = node.value[int(match[1])]
        return item, rest[match.end() :].removeprefix("."), item.start_mark.line + 1
    if not isinstance(node, yaml.MappingNode):
        return None
    # Names may contain dots ("routes.v1.users"), so the longest key that the
    # path continues with wins.
    best: tuple[yaml.Node, str, int] | None = None
    longest = -1
    for key, value in node.value:
        name = key.value if isinstance(key, yaml.ScalarNode) else None
        if name is None or len(name) <= longest:
            continue
        if rest == name or rest.startswith((name + ".", name + "[")):
            longest = len(name)
            best = (value, rest[len(name) :].removeprefix("."), key.start_mark.line + 1)
    return best


class _Dumper(yaml.SafeDumper):
    """SafeDumper writing short lists of scalars inline (``methods: [GET, POST]``)."""


def _represent_list(dumper: yaml.SafeDumper, data: list[object]) -> yaml.Node:
    inline = bool(data) and not any(isinstance(item, dict | list) for item in data)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=inline)


_Dumper.add_representer(list, _represent_list)


def dump_yaml(config: Config) -> str:
    """Write a config as readable YAML: block style, keys in schema order.

    Args:
        config: The config.

    Returns:
        YAML text that :func:`load_config_file` reads back to an equal config; one
        blank line between top-level sections.
    """
    sections = []
    for key, value in to_dict(config).items():
        sections.append(
            yaml.dump(
                {key: value},
                Dumper=_Dumper,
                sort_keys=False,
                default_flow_style=False,
                allow_unicode=True,
                width=100,
            )
        )
    return "\n".join(sections)
