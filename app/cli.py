"""Command-line tools: `flask agency create`, `flask staff reset-second-factor`, `flask audit verify`,
`flask keys generate|rotate`, `flask demo load`, `flask sms ...` (the job commands are app/jobs.py's)."""
from __future__ import annotations

import sys

import click
import sqlalchemy as sa
from flask import Flask, current_app
from flask.cli import AppGroup
from marshmallow import ValidationError

from app import crypto
from app.accounts import second_factor
from app.accounts import service as accounts
from app.accounts.models import User
from app.agencies.models import Agency
from app.audit import service as audit
from app.common.fields import EmailAddress
from app.demo import load_demo, print_demo
from app.errors import ApiError
from app.extensions import db
from app.notifications.cli import mail_cli, sms_cli

agency_cli = AppGroup("agency", help="Create and list agencies.")
staff_cli = AppGroup("staff", help="Staff accounts.")
audit_cli = AppGroup("audit", help="Check the audit chain.")
demo_cli = AppGroup("demo", help="Demo data for a local try-out.")
keys_cli = AppGroup("keys", help="ENCRYPTION_KEYS: the keys of the secrets kept in the database.")


def _fail(message: str) -> None:
    click.secho(f"error: {message}", fg="red", err=True)
    sys.exit(1)


@agency_cli.command("create")
@click.option("--name", required=True, help="The agency's full name, e.g. 'Milwaukee Police Department'.")
@click.option("--slug", required=True, help="Short unique id used in URLs, e.g. 'mpd'.")
@click.option("--timezone", "tz", default=None, help="IANA time zone; defaults to DEFAULT_TIMEZONE.")
@click.option("--supervisor-email", required=True, help="E-mail of the first supervisor.")
@click.option("--supervisor-name", default=None)
@click.password_option("--supervisor-password", envvar="SUPERVISOR_PASSWORD",
                       help="Asked for when not given (or set SUPERVISOR_PASSWORD).")
def create_agency(name, slug, tz, supervisor_email, supervisor_name, supervisor_password):
    """Create an agency and its first supervisor."""
    tz = tz or current_app.config["DEFAULT_TIMEZONE"]
    # The service checks name, slug and time zone; the CLI only turns its errors into messages.
    try:
        email = EmailAddress().deserialize(supervisor_email)
        agency, user = accounts.create_agency_with_supervisor(
            name=name.strip(), slug=slug.lower(), timezone=tz, email=email, password=supervisor_password,
            display_name=supervisor_name)
    except ValidationError as exc:
        _fail(f"supervisor e-mail: {' '.join(exc.messages)}")
    except ApiError as exc:
        _fail(exc.message)
    click.echo(f"Created agency {agency.name!r} (id {agency.id}, slug {agency.slug}) "
               f"with supervisor {user.email} (id {user.id}).")


@agency_cli.command("list")
def list_agencies():
    """List agencies."""
    for agency in db.session.scalars(sa.select(Agency).order_by(Agency.id)):
        click.echo(f"{agency.id}\t{agency.slug}\t{agency.name}\t{agency.timezone}")


@staff_cli.command("reset-second-factor")
@click.argument("email")
def reset_second_factor(email):
    """Take two-step sign-in off an account (e.g. an agency's only supervisor lost their phone).

    The account's sessions end; its next sign-in with the password leads to setting it up again.
    """
    user = db.session.scalar(sa.select(User).where(User.email == email.strip().lower()))
    if user is None:
        _fail(f"no account with e-mail {email!r}")
    second_factor.reset(user, actor=None, agency_id=user.agency_id, via="cli")
    click.echo(f"Two-step sign-in reset for {user.email} ({user.role.value}); "
               "the next sign-in sets it up again.")


@audit_cli.command("verify")
def verify():
    """Verify the hash chain; exit 1 and name the first bad row if it was tampered with."""
    report = audit.verify_chain()
    if report.ok:
        click.echo(f"audit chain intact: {report.events_checked} events verified")
        return
    problem = report.problem
    click.secho(f"audit chain BROKEN: {problem.message}", fg="red", err=True)
    click.echo(f"first bad row: kind={problem.kind} seq={problem.seq} event_id={problem.event_id}", err=True)
    sys.exit(1)


@keys_cli.command("generate")
def generate_key():
    """Print a new encryption key, to put first in ENCRYPTION_KEYS."""
    click.echo(crypto.generate_key())


@keys_cli.command("rotate")
@click.option("--batch-size", default=500, show_default=True, help="Rows re-encrypted per transaction.")
def rotate_keys(batch_size):
    """Re-encrypt every stored secret under the newest key of ENCRYPTION_KEYS.

    Run it once every process runs with the new key first; then older keys can be dropped.
    Running it again changes nothing. Exits 1 if some secret no key opens.
    """
    reports = crypto.rotate_stored_secrets(batch_size)
    for r in reports:
        click.echo(f"{r.name}: {r.rotated} re-encrypted under the newest key, {r.current} were already")
    unreadable = [(r.name, r.unreadable) for r in reports if r.unreadable]
    if unreadable:
        for name, ids in unreadable:
            click.secho(f"{name}: {len(ids)} cannot be decrypted with any key (ids {ids[:20]}); "
                        "keep the older keys and find the one they were encrypted with", fg="red", err=True)
        sys.exit(1)
    click.echo("Every stored secret is under the newest key: keys after the first can be removed from "
               "ENCRYPTION_KEYS (restart every process after).")


@demo_cli.command("load")
def demo_load():
    """Load the demo agency, people and cameras once, and print how to sign in (links at PUBLIC_BASE_URL)."""
    print_demo(load_demo())


def register_cli(app: Flask) -> None:
    app.cli.add_command(agency_cli)
    app.cli.add_command(staff_cli)
    app.cli.add_command(audit_cli)
    app.cli.add_command(demo_cli)
    app.cli.add_command(keys_cli)
    app.cli.add_command(sms_cli)
    app.cli.add_command(mail_cli)
