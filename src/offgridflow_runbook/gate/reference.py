"""Image references as the gate takes them: ``[registry[:port]/]path[:tag][@digest]`` with a tag or a
digest (an untagged name means ``:latest``, which names no particular build)."""

from __future__ import annotations

import argparse
import re

__all__ = ["image_reference"]

# The grammar of github.com/distribution/reference (domain, path components, tag, digest).
_DOMAIN_PART = r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)"
_DOMAIN = rf"(?:localhost|{_DOMAIN_PART}(?:\.{_DOMAIN_PART})*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?"
_PATH_PART = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
_REFERENCE = re.compile(
    rf"^(?:(?P<domain>{_DOMAIN})/)?(?P<path>{_PATH_PART}(?:/{_PATH_PART})*)"
    rf"(?::(?P<tag>{_TAG}))?(?:@(?P<digest>{_DIGEST}))?$"
)


def image_reference(text: str) -> str:
    """``text`` when it is an image reference with a tag or digest; else ArgumentTypeError (exit 64)."""
    match = _REFERENCE.match(text)
    if match is None or len(text) > 255 + 128 + 80:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an image reference (expected e.g. ghcr.io/your-org/offgridflow-api:v1.3.1)"
        )
    if not (match.group("tag") or match.group("digest")):
        raise argparse.ArgumentTypeError(
            f"{text!r} names no tag or digest (:latest is not a build); give e.g. {text}:v1.3.1"
        )
    return text
