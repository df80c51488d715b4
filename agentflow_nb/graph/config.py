"""Reading the `config` a run, an edit or a stop is given."""

from __future__ import annotations

import uuid
import warnings
from collections.abc import Mapping
from typing import Any

__all__ = ["DEFAULT_RECURSION_LIMIT", "Config", "recursion_limit", "run_config", "thread_id"]

Config = Mapping[str, Any]
DEFAULT_RECURSION_LIMIT = 25


def run_config(config: Config | None) -> dict[str, Any]:
    """A run's config as a fresh dict, with a new `thread_id` (and a warning) when it has none."""
    if config is None:
        config = {}
    if type(config) is not dict and not isinstance(config, Mapping):  # a dict, tested first: at every call
        raise TypeError(f"config must be a dict like {{'thread_id': 'my-thread'}}, got `{config!r}`")
    cfg = dict(config)
    if cfg.get("thread_id") is None:
        cfg["thread_id"] = uuid.uuid4().hex
        warnings.warn(
            f"config has no `thread_id`, so this run got thread `{cfg['thread_id']}`; pass "
            "config={'thread_id': ...} to be able to resume it", UserWarning, stacklevel=3,
        )
    found = cfg["thread_id"]
    if type(found) is not str or not found:
        thread_id(cfg, "invoke")  # says what is wrong
    return cfg


def thread_id(config: Config | None, what: str) -> str:
    """`config["thread_id"]`; `ValueError` saying what `what` needs when it is missing or bad."""
    found = config.get("thread_id") if isinstance(config, Mapping) else None
    if not isinstance(found, str) or not found:
        raise ValueError(
            f"{what} needs config={{'thread_id': '...'}} naming a thread (a non-empty str); "
            f"got `{config!r}`"
        )
    return found


def recursion_limit(config: Config) -> int:
    """`config["recursion_limit"]` (default 25), checked."""
    limit = config.get("recursion_limit", DEFAULT_RECURSION_LIMIT)
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ValueError(f"config['recursion_limit'] must be a whole number >= 1, got `{limit!r}`")
    return limit
