"""How an email's body reads: one rendered text template, as flowed plain text and as HTML.

A template is plain text. Its paragraphs (blank-line separated) are of three kinds:
prose, which is reflowed (the template's own line breaks are only for its author, so a
substituted value never leaves half a sentence on a line of its own); fields (``Label:
value`` lines), shown aligned, or as a table in HTML; and lines kept as written (a
sign-off such as "Kind regards,/name", or indented rows). The plain text is
``format=flowed`` (RFC 3676): mail clients join its soft line breaks again, so no client
breaks a sentence in the middle. The HTML part is the same blocks in a layout a
deployment may replace (``email.html`` in its templates directory).
"""

from __future__ import annotations

import html
import re
import textwrap
from dataclasses import dataclass
from datetime import datetime
from string import Template
from typing import Literal
from zoneinfo import ZoneInfo

from models.clock import is_valid_zone, readable_time

WIDTH = 72
_FIELD = re.compile(r"^([^\s:][^:]{0,40}):([ \t]+)(\S.*)$")
# How the workflows write a time into an email's context: "2026-12-05 06:09 Europe/Berlin".
_CONTEXT_TIME = re.compile(
    r"\b(\d{4}-\d{2}-\d{2} \d{2}:\d{2}) ((?:[A-Z][A-Za-z_-]+/)*[A-Z][A-Za-z0-9_+-]+|UTC)\b"
)


@dataclass(frozen=True)
class Block:
    """One paragraph of a body and how it is laid out."""

    kind: Literal["prose", "fields", "lines"]
    lines: tuple[str, ...]

    def fields(self) -> list[tuple[str, str]]:
        found = []
        for line in self.lines:
            match = _FIELD.match(line)
            assert match is not None
            found.append((match.group(1), match.group(3)))
        return found


def readable_times(value: str) -> str:
    """Times in the workflows' context format as a person reads them: 'Sat 5 Dec 2026,
    06:09 CET' (a context written by a running workflow is rendered the same way)."""

    def one(match: re.Match[str]) -> str:
        zone = match.group(2)
        if not is_valid_zone(zone):
            return match.group(0)
        moment = datetime.fromisoformat(match.group(1)).replace(tzinfo=ZoneInfo(zone))
        return readable_time(moment, zone)

    return _CONTEXT_TIME.sub(one, value)


def blocks(body: str) -> list[Block]:
    """The body's paragraphs, each classified."""
    found: list[Block] = []
    for paragraph in re.split(r"\n[ \t]*\n", body.strip("\n")):
        lines = tuple(line.rstrip() for line in paragraph.splitlines() if line.strip())
        if not lines:
            continue
        found.append(Block(_kind(lines), lines))
    return found


def _kind(lines: tuple[str, ...]) -> Literal["prose", "fields", "lines"]:
    matches = [_FIELD.match(line) for line in lines]
    if all(matches) and (len(lines) > 1 or any(len(m.group(2)) > 1 for m in matches if m)):
        return "fields"
    signed_off = len(lines) <= 3 and len(lines) > 1 and lines[0].endswith(",")
    if signed_off or any(line[:1].isspace() for line in lines):
        return "lines"
    return "prose"


def flowed_text(body: str) -> str:
    """The body as ``format=flowed`` plain text (soft breaks end in a space)."""
    out: list[str] = []
    for block in blocks(body):
        if out:
            out.append("")
        if block.kind == "prose":
            wrapped = textwrap.wrap(
                " ".join(" ".join(block.lines).split()),
                width=WIDTH,
                break_long_words=False,
                break_on_hyphens=False,
            )
            out += [line + " " for line in wrapped[:-1]] + wrapped[-1:]
        elif block.kind == "fields":
            fields = block.fields()
            width = max(len(label) for label, _ in fields) + 2
            out += [f"{label + ':':<{width}} {value}" for label, value in fields]
        else:
            out += list(block.lines)
    # Space-stuffing (RFC 3676 4.4): a line starting so would be read as quoted or shifted.
    return "\n".join(_stuffed(line.rstrip() if not line.endswith(" ") else line) for line in out)


def _stuffed(line: str) -> str:
    return " " + line if line.startswith((" ", ">", "From ")) else line


def html_body(body: str, action: Action | None = None) -> str:
    """The body's blocks as HTML (every value escaped), the action's button before the
    sign-off."""
    parts: list[str] = []
    for block in blocks(body):
        if block.kind == "prose":
            parts.append(f"<p>{html.escape(' '.join(' '.join(block.lines).split()))}</p>")
        elif block.kind == "fields":
            rows = "".join(
                f'<tr><th scope="row">{html.escape(label)}</th><td>{html.escape(value)}</td></tr>'
                for label, value in block.fields()
            )
            parts.append(f'<table class="fields">{rows}</table>')
        else:
            parts.append(
                '<p class="lines">'
                + "<br>".join(html.escape(line.strip()) for line in block.lines)
                + "</p>"
            )
    if action is not None:
        button = (
            f'<p class="action"><a class="button" href="{html.escape(action.url)}">'
            f"{html.escape(action.label)}</a></p>"
        )
        parts.insert(_before_sign_off(blocks(body)), button)
    return "\n".join(parts)


@dataclass(frozen=True)
class Action:
    """The recipient's next step: a link from the settings' URL templates, with its label."""

    label: str
    url: str


def _before_sign_off(found: list[Block]) -> int:
    """Where the action goes: before a closing "Kind regards,/name", else at the end."""
    return len(found) - 1 if found and found[-1].kind == "lines" else len(found)


def html_document(
    layout: Template, subject: str, business_name: str, body: str, action: Action | None
) -> str:
    """The whole HTML part: the deployment's layout around the body's blocks."""
    return layout.substitute(
        subject=html.escape(subject),
        business_name=html.escape(business_name),
        content=html_body(body, action),
    )


def text_with_action(body: str, action: Action | None) -> str:
    """The plain body with the action's link as a paragraph of its own before the sign-off."""
    if action is None:
        return body
    paragraphs = re.split(r"\n[ \t]*\n", body.strip("\n"))
    at = _before_sign_off(blocks(body))
    paragraphs.insert(at, f"{action.label}: {action.url}")
    return "\n\n".join(paragraphs) + "\n"
