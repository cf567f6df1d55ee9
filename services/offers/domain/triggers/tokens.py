"""The tokenizer of a trigger's source: ``tokenize`` makes ``Token``s (numbers, strings with
CEL's prefixes and escapes, names, operators), ending with an ``end`` token."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from services.offers.domain.triggers.problems import ParseError


@dataclass(frozen=True)
class Token:
    """One token of the source, with its span and (for a literal) its value."""

    kind: str  # "int", "uint", "double", "string", "bytes", "bool", "null", "ident", "op", "end"
    text: str
    start: int
    end: int
    value: Any = None


_OPERATORS = ("==", "!=", "<=", ">=", "&&", "||", *"<>!+-*/%?:.,()[]{}")
_NUMBER = re.compile(
    r"0[xX][0-9a-fA-F]+[uU]?|(?:\d+\.\d+|\.\d+|\d+)(?:[eE][+-]?\d+)?[uU]?", re.ASCII
)
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SPACE = re.compile(r"(?:[ \t\n\r\f]+|//[^\n]*)+")
_STRING_START = re.compile(r"([rRbB]{0,2})('''|\"\"\"|'|\")")
_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}
_ESCAPE = re.compile(r"\\(?:x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|[0-3][0-7]{2}|.)", re.S)


def _unescape(raw: str) -> str:
    def one(m: re.Match[str]) -> str:
        body = m.group()[1:]
        if body[0] in "xuU":
            return chr(int(body[1:], 16))
        if body[0].isdigit():
            return chr(int(body, 8))
        return _ESCAPES.get(body, body)

    return _ESCAPE.sub(one, raw)


def tokenize(source: str) -> list[Token]:
    """The tokens of a trigger's source, comments and white space left out; raises
    ``ParseError`` at a character that starts no token or at a string not closed."""
    out: list[Token] = []
    i = 0
    while True:
        if m := _SPACE.match(source, i):
            i = m.end()
        if i >= len(source):
            out.append(Token("end", "", i, i))
            return out
        if m := _STRING_START.match(source, i):
            out.append(_string(source, i, m.group(1).lower(), m.group(2)))
        elif (m := _NUMBER.match(source, i)) and not (source[i] == "." and out and _ends(out[-1])):
            out.append(_number(m.group(), i))
        elif m := _IDENT.match(source, i):
            word = m.group()
            kind = {"true": "bool", "false": "bool", "null": "null", "in": "op"}.get(word, "ident")
            out.append(Token(kind, word, i, m.end(), word == "true" if kind == "bool" else None))
        else:
            op = next((o for o in _OPERATORS if source.startswith(o, i)), None)
            if op is None:
                raise ParseError(i, f"unexpected character {source[i]!r}")
            out.append(Token("op", op, i, i + len(op)))
        i = out[-1].end


def _ends(token: Token) -> bool:
    """Whether a token can end an operand (so a following '.' is member access)."""
    return token.kind != "op" or token.text in (")", "]", "}")


def _string(source: str, start: int, prefix: str, quote: str) -> Token:
    body = start + len(prefix) + len(quote)
    i = body
    while True:
        if i >= len(source) or (len(quote) == 1 and source[i] == "\n"):
            raise ParseError(start, "a string is not closed")
        if source.startswith(quote, i):
            break
        i += 2 if source[i] == "\\" and "r" not in prefix else 1
    raw = source[body:i]
    value = raw if "r" in prefix else _unescape(raw)
    kind = "bytes" if "b" in prefix else "string"
    return Token(kind, source[start : i + len(quote)], start, i + len(quote), value)


def _number(text: str, start: int) -> Token:
    end = start + len(text)
    if text[-1] in "uU":
        return Token("uint", text, start, end, int(text[:-1], 0))
    if text.lower().startswith("0x"):
        return Token("int", text, start, end, int(text, 16))
    if any(c in text for c in ".eE"):
        return Token("double", text, start, end, float(text))
    return Token("int", text, start, end, int(text))
