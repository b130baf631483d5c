"""A griffe extension for the documentation site (mkdocs.yml, mkdocstrings' Python handler):
rtio's docstrings use Sphinx roles (:class:`rtio.Server`, :meth:`~Socket.emit`), which
Markdown would show as they are; this turns each into inline code naming its target
(``~`` keeps the last part only, as Sphinx does). The docstrings themselves stay as they are.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

ROLE = re.compile(r":(?:py:)?(?:class|meth|func|mod|attr|exc|data|obj|const):`(~?)([^`]+)`")


def _code(match: re.Match[str]) -> str:
    short, target = match.groups()
    return f"`{target.rsplit('.', 1)[-1] if short else target}`"


class SphinxRoles(griffe.Extension):
    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = ROLE.sub(_code, obj.docstring.value)
