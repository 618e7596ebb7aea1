"""GeoReport v2 XML with the standard library: the spec's documents are plain trees of
elements, lists nested as a plural element holding singular ones (``<attributes>``
→ ``<attribute>``, ``<values>`` → ``<value>``), so one recursive writer serves them all.

Booleans are ``true``/``false``, a missing value is an empty element; text is escaped by
ElementTree, and every document starts with the UTF-8 declaration the spec requires.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from typing import Any

DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>\n'
#: the element each list's items are written as (the spec's examples)
ITEM = {
    "services": "service",
    "service_requests": "request",
    "attributes": "attribute",
    "values": "value",
    "errors": "error",
    "endpoints": "endpoint",
    "formats": "format",
}


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _fill(element: ET.Element, value: Any) -> None:
    if isinstance(value, Mapping):
        for key, inner in value.items():
            _fill(ET.SubElement(element, key), inner)
    elif isinstance(value, Sequence) and not isinstance(value, str):
        item = ITEM.get(element.tag, "item")
        for inner in value:
            _fill(ET.SubElement(element, item), inner)
    else:
        element.text = _text(value)


def document(root: str, content: Any) -> bytes:
    """``content`` (a mapping, or a list of items) as the XML document ``<root>``."""
    element = ET.Element(root)
    _fill(element, content)
    return DECLARATION + ET.tostring(element, encoding="unicode").encode()
