"""The server's log without the residents' private links.

A follow-up link (``/app/follow/{token}``) is the resident's only key to a report: anyone who
reads it may see the report's status and rate it. uvicorn's access log writes every request's
path, so this filter cuts the token to its first four characters (enough to match a complaint
to a line, far too few to guess the rest) in every record of the server's handlers.
"""

from __future__ import annotations

import copy
import logging
import re
from typing import Any

FOLLOW_PATH = "/app/follow/"
SHOWN_CHARS = 4
_TOKEN = re.compile(re.escape(FOLLOW_PATH) + rf"([^/?#\s\"]{{{SHOWN_CHARS}}})[^/?#\s\"]*")
FILTER_NAME = "mask_followup_tokens"


def mask_tokens(text: str) -> str:
    """``text`` with each follow-up token cut to its first characters and an ellipsis."""
    return _TOKEN.sub(lambda m: f"{FOLLOW_PATH}{m.group(1)}…", text)


class MaskFollowupTokens(logging.Filter):
    """Rewrites a record's message and arguments (uvicorn's access log passes the path as
    an argument) so that no follow-up token is written; never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = mask_tokens(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(mask_tokens(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {
                k: mask_tokens(v) if isinstance(v, str) else v for k, v in record.args.items()
            }
        return True


def with_masked_tokens(log_config: dict[str, Any]) -> dict[str, Any]:
    """A copy of a ``logging.config.dictConfig`` dictionary (uvicorn's) whose every handler
    masks follow-up tokens."""
    config = copy.deepcopy(log_config)
    config.setdefault("filters", {})[FILTER_NAME] = {"()": f"{__name__}.MaskFollowupTokens"}
    for handler in config.get("handlers", {}).values():
        handler["filters"] = [*handler.get("filters", []), FILTER_NAME]
    return config
