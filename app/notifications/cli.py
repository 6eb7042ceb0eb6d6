"""Command-line tools for SMS and e-mail (the job commands are in app/jobs.py).

    flask sms outbox [--limit N]   the latest messages kept in the outbox (no Twilio configured)
    flask mail outbox [--limit N]  the latest e-mails kept in the outbox (no MAIL_URL configured)
    flask sms receive --from +1... "YES 4821"
                                   act on a text as if it had arrived by SMS (for a local try-out)
"""
from __future__ import annotations

import click
import sqlalchemy as sa
from flask import current_app
from flask.cli import AppGroup

from app.extensions import db
from app.notifications import mail_log, service
from app.notifications.models import SmsDirection, SmsMessage

sms_cli = AppGroup("sms", help="The SMS outbox and simulated replies.")


@sms_cli.command("outbox")
@click.option("--limit", default=20, show_default=True)
def outbox(limit: int) -> None:
    """Show the latest SMS kept in the outbox (not sent)."""
    rows = db.session.scalars(sa.select(SmsMessage).where(SmsMessage.direction == SmsDirection.OUTBOUND,
                                                          SmsMessage.status == "outbox")
                              .order_by(SmsMessage.id.desc()).limit(limit)).all()
    if not rows:
        click.echo("The outbox is empty.")
    for row in reversed(rows):
        click.echo(f"[{row.created_at:%Y-%m-%d %H:%M:%S}] to {row.to_number}: {row.body}")


@sms_cli.command("receive")
@click.option("--from", "sender", required=True, help="The sender's number, e.g. +14145550123.")
@click.argument("text")
def receive(sender: str, text: str) -> None:
    """Act on TEXT as if SENDER had texted it; prints the reply."""
    reply = service.inbound_sms({"From": sender, "Body": text, "To": current_app.config.get("TWILIO_FROM_NUMBER")})
    click.echo(f"reply: {reply}" if reply else "(no reply)")


mail_cli = AppGroup("mail", help="The e-mail outbox.")


@mail_cli.command("outbox")
@click.option("--limit", default=10, show_default=True)
@click.option("--html", is_flag=True, help="Show the HTML part too.")
def mail_outbox(limit: int, html: bool) -> None:
    """Show the latest e-mails kept in the outbox (not sent), text part first."""
    rows = mail_log.outbox(limit)
    if not rows:
        click.echo("The outbox is empty.")
    for row in rows:
        click.echo(f"--- [{row.created_at:%Y-%m-%d %H:%M:%S}] to {row.to_address}: {row.subject}")
        click.echo(row.body_text.rstrip())
        if html and row.body_html:
            click.echo("--- HTML")
            click.echo(row.body_html.rstrip())
