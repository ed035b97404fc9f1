"""Which options the page may set, the presets, and turning a form into :class:`Options`.

Everything comes from :func:`painterly.config.options_schema` of
:class:`~painterly.config.Options`, the options that decide the image; where it runs
(:class:`~painterly.config.Runtime`) and mask files are neither shown nor accepted, and
``init`` is limited to the built-in starting images so that no request can name a file on
the server.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from ..config import INIT_CHOICES, MaskPaths, Options, Runtime, make_options, options_schema
from ..errors import UsageError

NOT_WEB = {f.name for cls in (Runtime, MaskPaths) for f in dataclasses.fields(cls)}

# Presets only name options; the page applies them to the form before a run.
PRESETS: dict[str, dict[str, Any]] = {
    "quick preview": {"size": 256, "steps": 40, "scales": 1, "optimizer": "lbfgs"},
    "balanced": {"size": 512, "steps": 0, "scales": 0, "optimizer": "lbfgs"},
    "high quality": {"size": 1024, "steps": 300, "scales": 0, "optimizer": "lbfgs"},
}
DEFAULT_PRESET = "balanced"


def web_schema(max_size: int) -> list[dict[str, Any]]:
    """The schema of the options the page may set (``init`` as a choice, size capped)."""
    out = []
    for item in options_schema():
        item = dict(item)
        if item["name"] == "init":
            item["choices"] = list(INIT_CHOICES)
            item["help"] = "Start image: the content, noise, or the first style image."
        if item["name"] == "size":
            item["max"] = min(item["max"] or max_size, max_size)
        out.append(item)
    return out


def web_options(raw: dict[str, Any], max_size: int) -> Options:
    """Options from the page's values; UsageError with one clear line for anything refused."""
    if not isinstance(raw, dict):
        raise UsageError("options must be an object of name: value")
    allowed = {item["name"]: item for item in options_schema()}
    given: dict[str, Any] = {}
    for name, value in raw.items():
        key = str(name).replace("-", "_")
        if key in NOT_WEB:
            raise UsageError(f"option '{name}' cannot be set from the web page")
        if key not in allowed:
            raise UsageError(f"unknown option '{name}'")
        if value is None or (isinstance(value, str) and not value.strip()
                             and not allowed[key]["type"].startswith("list")):
            continue  # empty field: keep the default
        given[key] = value
    if "init" in given and given["init"] not in INIT_CHOICES:
        raise UsageError(f"init: '{given['init']}' is not one of {', '.join(INIT_CHOICES)}")
    try:
        opts = make_options(**given)
    except UsageError as e:
        raise UsageError(str(e).removeprefix("--")) from None
    if opts.size > max_size:
        raise UsageError(f"size: {opts.size} is above this server's limit of {max_size}")
    return opts


def public_options(opts: Options) -> dict[str, Any]:
    """The options a job records: the web-settable ones."""
    return dataclasses.asdict(opts)
