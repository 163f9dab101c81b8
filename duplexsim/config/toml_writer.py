"""A resolved config back as TOML text: :func:`dump_toml`, :func:`toml_value` and
:func:`toml_string`.

Owns the project's TOML writer: the scenario's dict as tables and ``key = value`` lines
(:func:`dump_toml`, which :func:`~duplexsim.config.scenario.load_scenario` reads back to an
equal object; a trace writes it as ``scenario.toml``), :func:`toml_value`, one value as TOML,
and :func:`toml_string`, a string as a TOML basic string in ASCII
(:func:`duplexsim.sweeps.config.dump_sweep` writes a sweep file's values and keys with
these two). Must not import the simulator.
"""

from __future__ import annotations

import math
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from duplexsim.errors import ConfigError, Problem

if TYPE_CHECKING:
    from duplexsim.config.scenario import Scenario


def dump_toml(scenario: Scenario) -> str:
    """The scenario as TOML text that :func:`~duplexsim.config.scenario.load_scenario` reads
    back to an equal object."""
    lines: list[str] = []
    _write_table(scenario.to_dict(), [], lines)
    text = "\n".join(lines).strip() + "\n"
    tomllib.loads(text)  # never hand out TOML we cannot read back
    return text


def _write_table(table: dict[str, Any], path: list[str], lines: list[str]) -> None:
    scalars = {k: v for k, v in table.items() if v is not None and not isinstance(v, dict)}
    tables = {k: v for k, v in table.items() if isinstance(v, dict)}
    if path:
        lines += ["", f"[{'.'.join(_key(p) for p in path)}]"]
    lines += [f"{_key(k)} = {toml_value(v)}" for k, v in scalars.items()]
    for k, v in tables.items():
        _write_table(v, [*path, k], lines)


def _key(k: str) -> str:
    return k if k.replace("_", "").replace("-", "").isalnum() and k.isascii() else \
        toml_string(k)


_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f",
            "\r": "\\r"}


def toml_string(text: str) -> str:
    """``text`` as a TOML basic string, ASCII only: a character past U+FFFF as ``\\UXXXXXXXX``
    (``json.dumps`` writes a surrogate pair, which TOML refuses: a scenario or sweep naming
    ``runs/🎧`` could not be written). A lone surrogate (a file name in another encoding,
    decoded with ``surrogateescape``) is no character: a one-line :class:`ConfigError`."""
    out = []
    for ch in text:
        code = ord(ch)
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif 0xD800 <= code <= 0xDFFF:
            raise ConfigError([Problem("<toml>", "", f"{text!r} holds {ch!r}, which is no "
                                       "Unicode character (a file name in another encoding "
                                       "than UTF-8?): TOML cannot hold it",
                                       "names and paths in UTF-8")])
        elif 0x20 <= code < 0x7F:
            out.append(ch)
        else:
            out.append(f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}")
    return '"' + "".join(out) + '"'


def toml_value(v: Any, writer: str = "dump_toml") -> str:
    """``v`` as a TOML value: a boolean, integer, float (``nan``, ``inf``, ``-inf`` too),
    string or path (:func:`toml_string`), array of these (a list or tuple) or inline table
    (a dict; its None values left out). Anything else is a ``TypeError`` naming ``writer``
    (the function whose caller passed it) and the value."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return repr(v) if math.isfinite(v) else ("nan" if math.isnan(v) else
                                                  ("inf" if v > 0 else "-inf"))
    if isinstance(v, str | Path):
        return toml_string(str(v))
    if isinstance(v, list | tuple):
        return "[" + ", ".join(toml_value(x, writer) for x in v) + "]"
    if isinstance(v, dict):
        items = ", ".join(f"{_key(k)} = {toml_value(x, writer)}" for k, x in v.items()
                          if x is not None)
        return "{ " + items + " }" if items else "{}"
    raise TypeError(f"{writer}: cannot write {type(v).__name__} {v!r} as TOML")
