"""`fastnews train`'s flags, made from TrainConfig's fields: each field's help, group and
any flag name or choices live in its metadata (config.py), so a new field is a new flag."""

from __future__ import annotations

import argparse
import dataclasses


def add_config_flags(parser: argparse.ArgumentParser, config_class) -> dict[str, argparse._ArgumentGroup]:
    """A flag per field of config_class, in argument groups by the field's group -> the groups."""
    groups = {}
    for f in dataclasses.fields(config_class):
        meta = f.metadata
        g = groups.get(meta["group"]) or groups.setdefault(meta["group"], parser.add_argument_group(meta["group"]))
        kind = _flag_kind(f.default) | ({"choices": meta["choices"]} if "choices" in meta else {})
        g.add_argument(meta.get("flag", "--" + f.name.replace("_", "-")), dest=f.name,
                       help=_with_default(meta["help"], f.default), **kind)
    return groups


def _with_default(help: str, default) -> str:
    if default is None or default is False:
        return help
    shown = ",".join(map(str, default)) if isinstance(default, tuple) else default
    return f"{help} (default: {shown})"


def _flag_kind(default) -> dict:
    """argparse settings for a field of this default. Unset flags stay out of the
    namespace (SUPPRESS), so --config values survive."""
    kind = {"default": argparse.SUPPRESS}
    if isinstance(default, bool):
        kind["action"] = argparse.BooleanOptionalAction if default else "store_true"
    elif isinstance(default, tuple):
        kind["type"] = lambda text: tuple(int(x) for x in text.split(","))
    elif isinstance(default, (int, float)):
        kind["type"] = type(default)
    return kind
