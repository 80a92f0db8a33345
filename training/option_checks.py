"""Checks every options dataclass shares (PretrainOptions, FinetuneOptions, PredictOptions): each field's
value of its annotated type, named in messages as the flag that sets it (`batch_size` is --batch-size).

A Python caller may hand in anything; a value of the wrong type is a one-line InputError here rather than a
TypeError deep in the run. Ints are taken where floats are expected (lr=1 is 1.0), never booleans as numbers.
Seed lists (--seeds, --probe-seeds) are read and checked by `checked_seeds`.
"""

from __future__ import annotations

import types
import typing
from pathlib import Path

from bert.errors import InputError

KIND_NAMES = {bool: "true or false", int: "an integer", float: "a number", str: "a string", Path: "a path",
              list: "a list", type(None): "None"}


def flag(name: str) -> str:
    """The flag of an options field: batch_size -> batch-size."""
    return name.replace("_", "-")


def check_field_types(options) -> None:
    """Raise InputError for the first field whose value is not of its annotated type; ints given for float
    fields become floats."""
    for name, hint in typing.get_type_hints(type(options)).items():
        allowed = [typing.get_origin(kind) or kind for kind in
                   (typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,))]
        value = getattr(options, name)
        if float in allowed and isinstance(value, int) and not isinstance(value, bool):
            setattr(options, name, float(value))
        elif not any(is_kind(value, kind) for kind in allowed):
            kinds = " or ".join(KIND_NAMES.get(kind, kind.__name__) for kind in allowed)
            raise InputError(f"--{flag(name)} should be {kinds}, not {value!r}")


def is_kind(value, kind: type) -> bool:
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind is float:
        return isinstance(value, float)
    if kind is Path:
        return isinstance(value, (str, Path))
    return isinstance(value, kind)


def checked_seeds(seeds, name: str = "--seeds") -> list[int]:
    """seeds as a list of ints (an int, or "1,2,3" as the flag spells it, also taken), each once; `name` is
    the flag the messages name."""
    if isinstance(seeds, int) and not isinstance(seeds, bool):
        seeds = [seeds]
    elif isinstance(seeds, str):
        try:
            seeds = [int(s) for s in seeds.split(",") if s.strip()]
        except ValueError:
            raise InputError(f"{name} {seeds!r}: expected comma-separated integers, e.g. 1,2,3") from None
    seeds = list(seeds)
    if not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds):
        raise InputError(f"{name.removeprefix('--')} {seeds!r}: expected integers, e.g. [1, 2, 3]")
    if not seeds or len(set(seeds)) != len(seeds):
        raise InputError(f"{name} {','.join(map(str, seeds))!r}: give at least one seed, each once")
    return seeds
