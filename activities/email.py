"""Email activity: render one flow event's template for one recipient and send it by SMTP.

Templates live in ``flows/<flow>/templates/<event>.<role>.txt``: the first line is
``Subject: ...``, optionally an ``Action: <link> <label>`` line (the recipient's next step,
a link when the settings' ``email_links`` have one by that name), then a blank line, then
the body, all in :class:`string.Template` syntax (``${order_id}``; ``${business_name}`` is
the deployment's). A deployment replaces any of them, and the HTML layout ``email.html``,
with files of the same name in ``ORDERCLOCK_EMAIL_TEMPLATES_DIR``. Every email is the text
as ``format=flowed`` plain text with an HTML alternative (``activities/email_format.py``).
No file for a (flow, event, role) means that role is not told about
that event, so the activity answers ``skipped``. So does an email its flow's policy switches
off (:class:`EmailSwitch`, e.g. a type not enabled for the order's onboarding flow); the
policy is this worker's, read when the email is due, not the one pinned in the order.

Errors follow Temporal's retry rules: an unreachable server or a temporary (4xx) answer
raises a retryable error; a permanent (5xx) answer is an outcome (``failed``) that support
can see and act on; a template that needs a context key the workflow did not pass is a
programming error and fails the activity without retries.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import smtplib
from collections.abc import Mapping
from dataclasses import dataclass, field
from email import policy as email_policy
from email.message import EmailMessage
from email.utils import formataddr, formatdate, parseaddr
from pathlib import Path
from string import Template
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from temporalio import activity
from temporalio.exceptions import ApplicationError

import flows
from activities.email_format import (
    Action,
    flowed_text,
    html_document,
    readable_times,
    text_with_action,
)
from activities.receipts import receipt_filename, receipt_html, receipt_pdf
from flows.catalog import FLOWS
from models.activities import SEND_EMAIL, SendEmailInput, SendEmailResult
from models.orders import NotificationStatus

if TYPE_CHECKING:
    from config.settings import Settings

# Each flow's templates are its own (``flows/<flow>/templates/``); the HTML layout every
# email shares is the activity's (``activities/templates/email.html``).
FLOWS_DIR = Path(flows.__file__).parent
TEMPLATE_DIR = Path(__file__).parent / "templates"
LAYOUT_FILE = "email.html"
# Keys the activity itself adds to every template's context, from the settings.
DEPLOYMENT_CONTEXT_KEYS = frozenset({"business_name"})
# Headers up to RFC 5322's hard limit stay on one line: a folded Subject reads back with
# a line break and a leading space in clients and tools that do not unfold.
MESSAGE_POLICY = email_policy.SMTP.clone(max_line_length=998)

# The keys a flow's workflow passes to its templates (flows/catalog.py); a template using
# any other key could never render. A directory of a flow the catalog does not know is
# held to the prepaid flow's keys.
ALLOWED_CONTEXT_KEYS: frozenset[str] = FLOWS["prepaid_service"].context_keys


def context_keys(flow: str) -> frozenset[str]:
    """The context keys a template of ``flow`` may use: its workflow's and the deployment's."""
    entry = FLOWS.get(flow)
    keys = entry.context_keys if entry is not None else ALLOWED_CONTEXT_KEYS
    return keys | DEPLOYMENT_CONTEXT_KEYS


@runtime_checkable
class EmailSwitch(Protocol):
    """A flow policy that switches some of the flow's emails off."""

    def email_skip_reason(self, event: str, context: Mapping[str, str]) -> str | None:
        """Why this email is not sent (None: send it)."""
        ...


EMAIL_TEMPLATE_ERROR = "EmailTemplateError"
SMTP_UNAVAILABLE = "SmtpUnavailable"
SMTP_TEMPORARY_FAILURE = "SmtpTemporaryFailure"

_NAME = re.compile(r"^[a-z0-9_]+$")
_SUBJECT_PREFIX = "Subject:"
_ACTION = re.compile(r"^Action:\s+([a-z0-9_]+)\s+(\S.*)$")


class TemplateFormatError(ValueError):
    """A template file that does not follow the ``Subject:`` / blank line / body layout."""


@dataclass(frozen=True)
class TemplateKey:
    """Which template: flow, event and the recipient's role."""

    flow: str
    event: str
    role: str

    def __str__(self) -> str:
        return f"{self.flow}/{self.event}.{self.role}"


@dataclass(frozen=True)
class EmailTemplate:
    """A parsed template: subject and body, both :class:`string.Template`."""

    key: TemplateKey
    subject: Template
    body: Template
    # The recipient's next step: (link name in the settings' email_links, button label).
    action: tuple[str, str] | None = field(default=None)

    def identifiers(self) -> set[str]:
        """Every placeholder the subject and body use."""
        return set(self.subject.get_identifiers()) | set(self.body.get_identifiers())

    def render(self, context: Mapping[str, str]) -> tuple[str, str]:
        """Subject and body with ``context`` substituted; raises KeyError on a missing key.

        Times the workflows wrote as '2026-12-05 06:09 Europe/Berlin' read 'Sat 5 Dec
        2026, 06:09 CET'.
        """
        context = {key: readable_times(value) for key, value in context.items()}
        subject = self.subject.substitute(context)
        # A value with a line break must not be able to add headers.
        return " ".join(subject.split()), self.body.substitute(context)


def parse_template(key: TemplateKey, text: str) -> EmailTemplate:
    """Parse a template file's text; raises TemplateFormatError when malformed."""
    lines = text.splitlines()
    action = None
    if len(lines) > 1 and (found := _ACTION.match(lines[1])):
        action = (found.group(1), found.group(2).strip())
        lines = lines[:1] + lines[2:]
    if len(lines) < 3 or not lines[0].startswith(_SUBJECT_PREFIX) or lines[1].strip():
        raise TemplateFormatError(
            f"{key}: expected 'Subject: ...', an optional 'Action: <link> <label>', "
            "a blank line, then the body"
        )
    subject = Template(lines[0][len(_SUBJECT_PREFIX) :].strip())
    body = Template("\n".join(lines[2:]).rstrip("\n") + "\n")
    for part in (subject, body):
        if not part.is_valid():
            raise TemplateFormatError(f"{key}: invalid $ placeholder")
    if not subject.template:
        raise TemplateFormatError(f"{key}: empty subject")
    return EmailTemplate(key=key, subject=subject, body=body, action=action)


def template_files(tree: Path | None = None) -> list[tuple[str, Path]]:
    """(flow, file) of each template: the flows' own, or a tree's ``<flow>/*.txt``."""
    if tree is None:
        return [(p.parent.parent.name, p) for p in sorted(FLOWS_DIR.glob("*/templates/*.txt"))]
    return [(p.parent.name, p) for p in sorted(tree.glob("*/*.txt"))]


def load_templates(
    template_dir: Path | None = None, overrides: Path | None = None
) -> dict[TemplateKey, EmailTemplate]:
    """Every template of the flows (or of the tree ``template_dir``), then ``overrides``'
    files over them, each parsed and checked against its flow's keys."""
    templates: dict[TemplateKey, EmailTemplate] = {}
    files = template_files(template_dir)
    if overrides is not None:
        files += template_files(overrides)
    for flow, path in files:
        event, _, role = path.stem.partition(".")
        key = TemplateKey(flow=flow, event=event, role=role)
        if not all(_NAME.match(part) for part in (key.flow, key.event, key.role)):
            raise TemplateFormatError(f"{path}: name must be <flow>/<event>.<role>.txt")
        template = parse_template(key, path.read_text(encoding="utf-8"))
        unknown = template.identifiers() - context_keys(key.flow)
        if unknown:
            raise TemplateFormatError(f"{key}: unknown context keys {sorted(unknown)}")
        templates[key] = template
    return templates


def load_layout(template_dir: Path = TEMPLATE_DIR, overrides: Path | None = None) -> Template:
    """The HTML layout (``email.html``): the deployment's if it has one."""
    path = template_dir / LAYOUT_FILE
    if overrides is not None and (overrides / LAYOUT_FILE).is_file():
        path = overrides / LAYOUT_FILE
    layout = Template(path.read_text(encoding="utf-8"))
    unknown = set(layout.get_identifiers()) - {"subject", "business_name", "content"}
    if not layout.is_valid() or unknown:
        raise TemplateFormatError(
            f"{path}: the layout may use only ${{subject}}, ${{business_name}} and ${{content}}"
        )
    return layout


@dataclass(frozen=True)
class Sender:
    """Who one flow's emails are from and where their links lead."""

    business_name: str
    mail_from: str
    links: Mapping[str, str]

    def action(self, template: EmailTemplate, order_id: str, flow: str) -> Action | None:
        """The template's next step as a link, when this deployment has its URL."""
        if template.action is None:
            return None
        name, label = template.action
        url = self.links.get(name)
        return Action(label, url.format(order_id=order_id, flow=flow)) if url else None


def message_id_for(idempotency_key: str) -> str:
    """The Message-ID of an email: the same key always gives the same id."""
    digest = hashlib.sha256(idempotency_key.encode("utf-8")).hexdigest()[:32]
    return f"<{digest}@orderclock>"


class EmailActivities:
    """Sends order emails over SMTP; templates are loaded and checked once, at construction."""

    def __init__(
        self,
        smtp_host: str,
        smtp_port: int,
        mail_from: str,
        timeout: float = 10.0,
        template_dir: Path | None = None,
        policies: Mapping[str, object] | None = None,
        *,
        business_name: str | None = None,
        links: Mapping[str, str] | None = None,
        senders: Mapping[str, Sender] | None = None,
        template_overrides: Path | None = None,
    ) -> None:
        self._host = smtp_host
        self._port = smtp_port
        # Without a business name, the sender's display name serves.
        name = business_name or parseaddr(mail_from)[0] or parseaddr(mail_from)[1]
        self._default_sender = Sender(name, mail_from, dict(links or {}))
        # Per flow where a flow's emails come from another business or sender.
        self._senders = dict(senders or {})
        for sender in (self._default_sender, *self._senders.values()):
            if not parseaddr(sender.mail_from)[1]:
                raise ValueError(f"mail_from has no address: {sender.mail_from!r}")
        self._timeout = timeout
        self.templates = load_templates(template_dir, template_overrides)
        self.layout = load_layout(template_dir or TEMPLATE_DIR, template_overrides)
        # Each flow's policy of this deployment, by flow name (the email switches).
        self._policies = dict(policies or {})

    @classmethod
    def from_settings(cls, settings: Settings, template_dir: Path | None = None) -> EmailActivities:
        """Built from the process's settings (SMTP, the business and its senders, links)."""
        senders = {
            flow: Sender(identity.business_name, identity.mail_from, identity.links)
            for flow in FLOWS
            for identity in [settings.email_identity(flow)]
        }
        default = settings.email_identity("")
        return cls(
            smtp_host=settings.smtp_host,
            smtp_port=settings.smtp_port,
            mail_from=default.mail_from,
            timeout=settings.smtp_timeout_seconds,
            template_dir=template_dir,
            policies={flow: settings.policy_for(flow) for flow in FLOWS},
            business_name=default.business_name,
            links=default.links,
            senders=senders,
            template_overrides=settings.email_templates_dir,
        )

    def sender(self, flow: str) -> Sender:
        """Who ``flow``'s emails are from."""
        return self._senders.get(flow, self._default_sender)

    def compose(self, input: SendEmailInput, template: EmailTemplate) -> EmailMessage:
        """The whole message for ``input`` from ``template``; KeyError on a missing key."""
        sender = self.sender(input.flow)
        context = {**input.context, "business_name": sender.business_name}
        subject, body = template.render(context)
        action = sender.action(template, input.order_id, input.flow)
        return self._message(input, sender, subject, body, action)

    @activity.defn(name=SEND_EMAIL)
    async def send_email(self, input: SendEmailInput) -> SendEmailResult:
        """Render and send one email; a missing template means the role is not told."""
        policy = self._policies.get(input.flow)
        if isinstance(policy, EmailSwitch):
            reason = policy.email_skip_reason(input.event, input.context)
            if reason is not None:
                return SendEmailResult(status=NotificationStatus.skipped, detail=reason)
        key = TemplateKey(flow=input.flow, event=input.event, role=str(input.recipient_role))
        template = self.templates.get(key)
        if template is None:
            return SendEmailResult(
                status=NotificationStatus.skipped, detail=f"no template for {key}"
            )
        try:
            message = self.compose(input, template)
        except KeyError as exc:
            raise ApplicationError(
                f"template {key} needs context key {exc.args[0]!r}",
                type=EMAIL_TEMPLATE_ERROR,
                non_retryable=True,
            ) from exc

        message_id = str(message["Message-ID"])
        rejection = await asyncio.to_thread(self._deliver, message, input.to_address)
        if rejection is not None:
            activity.logger.warning("email %s to %s rejected: %s", key, input.to_address, rejection)
            return SendEmailResult(
                status=NotificationStatus.failed, detail=rejection, message_id=message_id
            )
        return SendEmailResult(
            status=NotificationStatus.sent,
            detail=f"accepted by {self._host}:{self._port}",
            message_id=message_id,
        )

    def _message(
        self,
        input: SendEmailInput,
        sender: Sender,
        subject: str,
        body: str,
        action: Action | None,
    ) -> EmailMessage:
        message = EmailMessage(policy=MESSAGE_POLICY)
        message["Subject"] = subject
        message["From"] = sender.mail_from
        message["To"] = formataddr((" ".join(input.to_name.split()), input.to_address))
        message["Date"] = formatdate(usegmt=True)
        message["Message-ID"] = message_id_for(input.idempotency_key)
        message["X-Orderclock-Key"] = input.idempotency_key
        message["X-Orderclock-Order"] = input.order_id
        message["X-Orderclock-Event"] = f"{input.flow}/{input.event}"
        message.set_content(
            flowed_text(text_with_action(body, action)),
            params={"format": "flowed", "delsp": "no"},
        )
        message.add_alternative(
            html_document(self.layout, subject, sender.business_name, body, action),
            subtype="html",
        )
        if input.receipt is not None:
            # Account orders: the receipt travels with its email, as HTML and as PDF.
            receipt = input.receipt
            message.add_attachment(
                receipt_html(receipt), subtype="html", filename=receipt_filename(receipt, "html")
            )
            message.add_attachment(
                receipt_pdf(receipt),
                maintype="application",
                subtype="pdf",
                filename=receipt_filename(receipt, "pdf"),
            )
        return message

    def _deliver(self, message: EmailMessage, to_address: str) -> str | None:
        """Send; None when accepted, the server's answer when permanently rejected."""
        try:
            with smtplib.SMTP(self._host, self._port, timeout=self._timeout) as smtp:
                envelope_from = parseaddr(str(message["From"]))[1]
                smtp.send_message(message, from_addr=envelope_from, to_addrs=[to_address])
        except smtplib.SMTPRecipientsRefused as exc:
            code, text = exc.recipients.get(to_address, (0, b"recipient refused"))
            return self._permanent_or_raise(code, text)
        except smtplib.SMTPResponseException as exc:
            return self._permanent_or_raise(exc.smtp_code, exc.smtp_error)
        except smtplib.SMTPNotSupportedError as exc:
            # The message needs an extension (SMTPUTF8) this server lacks: retrying won't help.
            return f"not supported by the server: {exc}"
        except (smtplib.SMTPException, OSError) as exc:
            raise ApplicationError(
                f"SMTP server {self._host}:{self._port} unavailable: {exc!r}",
                type=SMTP_UNAVAILABLE,
            ) from exc
        return None

    def _permanent_or_raise(self, code: int, text: bytes | str) -> str:
        detail = f"{code} {text.decode('utf-8', 'replace') if isinstance(text, bytes) else text}"
        if code >= 500:
            return detail
        raise ApplicationError(
            f"SMTP server {self._host}:{self._port} answered {detail}",
            type=SMTP_TEMPORARY_FAILURE,
        )
