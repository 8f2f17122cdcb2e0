"""A strict YAML reader for parameter files: plain mappings, lists and scalars only.

A parameter file is written by hand and read by a funding model, so YAML features that
make a file mean something other than what it shows are errors, not conveniences:

- **duplicate keys**, where YAML's default silently keeps the last one;
- **anchors and aliases** (``&a`` / ``*a``), which let a few lines expand into gigabytes
  (the "billion laughs" file) and let one value change several keys unseen;
- **tags** (``!!python/...`` and the like), which the safe loader already refuses.

Errors name the file, the line and the key, and are bounded in length whatever the input.
"""

from __future__ import annotations

from typing import Any

import yaml

#: Longest YAML error message shown; the rest of a hostile file's error is cut.
MESSAGE_LIMIT = 300


class StrictYamlError(ValueError):
    """A YAML text that is not a plain parameter document; the message says where."""


def _where(mark: yaml.Mark | None) -> str:
    return f"line {mark.line + 1}" if mark is not None else "somewhere"


def bounded(text: str, limit: int = MESSAGE_LIMIT) -> str:
    """``text`` cut to ``limit`` characters, saying so, so no input can flood a message."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


class _StrictLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing duplicate keys."""

    def construct_mapping(self, node: yaml.Node, deep: bool = False) -> dict[Any, Any]:
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, yaml.Mark] = {}
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=True)
                try:
                    first = seen.get(key)
                except TypeError:  # an unhashable key; the safe loader reports it
                    continue
                if first is not None:
                    raise StrictYamlError(
                        f"{_where(key_node.start_mark)}: duplicate key {bounded(repr(key), 60)} "
                        f"(first given at {_where(first)}); give each key once"
                    )
                seen[key] = key_node.start_mark
        return super().construct_mapping(node, deep=deep)


def _refuse_anchors(text: str) -> None:
    """Raise at the first anchor or alias, before anything is expanded."""
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            raise StrictYamlError(
                f"{_where(event.start_mark)}: YAML anchors and aliases (&name, *name) are not "
                "allowed in a parameter file; write each value out"
            )


def load_strict_yaml(text: str) -> Any:
    """Parse one YAML document strictly.

    Raises:
        StrictYamlError: on duplicate keys, anchors or aliases, or text that is not YAML,
            with a message of at most a few hundred characters.
    """
    try:
        _refuse_anchors(text)
        return yaml.load(text, Loader=_StrictLoader)
    except StrictYamlError:
        raise
    except yaml.YAMLError as error:
        raise StrictYamlError(bounded(f"not valid YAML: {error}")) from None
