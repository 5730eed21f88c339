"""The characters a regex match can start with, read from the compiled pattern's parse tree, so a scan can jump
from one such character to the next instead of trying every alternative at every position."""

from __future__ import annotations

try:  # Python 3.11+: the parser lives in re._parser
    from re import _constants as sre_constants
    from re import _parser as sre_parse
except ImportError:  # pragma: no cover
    import sre_constants
    import sre_parse

_ZERO_WIDTH = {sre_constants.ASSERT, sre_constants.ASSERT_NOT, sre_constants.AT}


def first_chars(pattern: str) -> frozenset[str] | None:
    """Every character a match of `pattern` can begin with, or None when that cannot be told (a class such as
    [^,], a category, an empty match)."""
    chars, can_be_empty = _seq(list(sre_parse.parse(pattern)))
    return None if chars is None or can_be_empty else frozenset(chars)


def _seq(items: list) -> tuple[set[str] | None, bool]:
    out: set[str] = set()
    for op, av in items:
        if op in _ZERO_WIDTH:
            continue
        chars, empty = _item(op, av)
        if chars is None:
            return None, False
        out |= chars
        if not empty:
            return out, False
    return out, True


def _item(op, av) -> tuple[set[str] | None, bool]:
    if op is sre_constants.LITERAL:
        return {chr(av)}, False
    if op is sre_constants.IN:
        chars = set()
        for kind, value in av:
            if kind is sre_constants.LITERAL:
                chars.add(chr(value))
            elif kind is sre_constants.RANGE and value[1] - value[0] < 64:
                chars.update(chr(c) for c in range(value[0], value[1] + 1))
            else:
                return None, False
        return chars, False
    if op is sre_constants.SUBPATTERN:
        return _seq(list(av[-1]))
    if op is sre_constants.BRANCH:
        out: set[str] = set()
        empty = False
        for branch in av[1]:
            chars, branch_empty = _seq(list(branch))
            if chars is None:
                return None, False
            out |= chars
            empty = empty or branch_empty
        return out, empty
    if op in (sre_constants.MAX_REPEAT, sre_constants.MIN_REPEAT, sre_constants.POSSESSIVE_REPEAT):
        low, _high, body = av
        chars, empty = _seq(list(body))
        return chars, empty or low == 0
    return None, False
