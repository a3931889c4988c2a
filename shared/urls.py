"""URLs as they may be printed or logged: the password of their userinfo masked.

``mongodb://app:s3cret@db.example:27017/?authSource=admin`` is shown as
``mongodb://app:****@db.example:27017/?authSource=admin``. Standard library only:
deploy/local/infra.py, which runs before anything else is installed, uses it too.
"""

from __future__ import annotations

import re

MASKED_PASSWORD = "****"

URL_WITH_USERINFO = re.compile(r"(?i)(?<![\w+.\-])(?P<scheme>[a-z][a-z0-9+.\-]{0,30}://)(?P<userinfo>[^\s\"'<>]{0,256})@")
"""A scheme, ``//`` and everything up to the last ``@`` before a space or a quote, within 256
characters (so that a text of many ``://`` stays linear). A password should be percent-encoded
(pymongo refuses one that is not), but an error message may quote the URL as it was given: an
unescaped ``/``, ``?`` or ``@`` in it must not end the match."""

_AUTHORITY_END = re.compile(r"[/?#]")


def redact_url(text: str) -> str:
    """``text`` (a URL, or a message quoting URLs) with every URL's password replaced by ``****``.

    The user name stays, so that the output still says who logs in, unless it is itself an
    e-mail address. A URL without a password is returned as is.
    """
    return URL_WITH_USERINFO.sub(_masked, text)


def _masked(match: re.Match[str]) -> str:
    """Everything from the first ``:`` of the userinfo to the last ``@`` is the password: with an
    unescaped ``@`` or ``/`` in it, any shorter reading would print part of it."""
    userinfo = match["userinfo"]
    end = _AUTHORITY_END.search(userinfo)
    if end is None:
        info = userinfo
    else:  # the last "@" is past a "/", "?" or "#": in the path or query, unless the password holds one
        head = userinfo[: end.start()]
        info = head.rpartition("@")[0] if "@" in head else head
    user, colon, _password = info.partition(":")
    if "@" in user or "%40" in user.lower():
        user = MASKED_PASSWORD  # an e-mail address as user name
    elif not colon:
        return match.group(0)  # no password: a user name alone, or an "@" in the path or query
    return f"{match['scheme']}{user}{':' + MASKED_PASSWORD if colon else ''}@"
