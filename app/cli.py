"""Command-line tools: `flask agency create|invite-supervisor`, `flask staff reset-second-factor`,
`flask audit verify|checkpoint|export|generate-key`, `flask keys generate|rotate`, `flask demo load`, `flask sms ...`,
`flask accounts reset-password` (the job commands are app/jobs.py's)."""
from __future__ import annotations

import sys

import click
import sqlalchemy as sa
from flask import Flask, current_app
from flask.cli import AppGroup
from marshmallow import ValidationError

from app import crypto
from app.accounts import invitations, recovery, second_factor
from app.accounts import service as accounts
from app.accounts.models import User
from app.agencies.models import Agency
from app.audit import checkpoints, proofs, signing
from app.audit import service as audit
from app.audit.export import export_lines
from app.audit.models import HISTORY, INSTALLATION, agency_chain
from app.common.fields import EmailAddress
from app.demo import load_demo, print_demo
from app.errors import ApiError
from app.extensions import db
from app.notifications.cli import mail_cli, sms_cli

agency_cli = AppGroup("agency", help="Create and list agencies.")
staff_cli = AppGroup("staff", help="Staff accounts.")
audit_cli = AppGroup("audit", help="Check, checkpoint and export the audit chains.")
demo_cli = AppGroup("demo", help="Demo data for a local try-out.")
keys_cli = AppGroup("keys", help="ENCRYPTION_KEYS: the keys of the secrets kept in the database.")
accounts_cli = AppGroup("accounts", help="Help people back into their accounts.")


def _fail(message: str) -> None:
    click.secho(f"error: {message}", fg="red", err=True)
    sys.exit(1)


@agency_cli.command("create")
@click.option("--name", required=True, help="The agency's full name, e.g. 'Milwaukee Police Department'.")
@click.option("--slug", required=True, help="Short unique id used in URLs, e.g. 'mpd'.")
@click.option("--timezone", "tz", default=None, help="IANA time zone; defaults to DEFAULT_TIMEZONE.")
@click.option("--supervisor-email", required=True, help="E-mail of the first supervisor.")
@click.option("--supervisor-name", default=None)
def create_agency(name, slug, tz, supervisor_email, supervisor_name):
    """Create an agency and print the invitation link of its first supervisor.

    Nobody but the supervisor ever knows their password: the link (single use, 72 hours)
    lets them choose it and set up two-step sign-in.
    """
    tz = tz or current_app.config["DEFAULT_TIMEZONE"]
    # The service checks name, slug and time zone; the CLI only turns its errors into messages.
    try:
        email = EmailAddress().deserialize(supervisor_email)
        agency, link = accounts.create_agency_with_supervisor(
            name=name.strip(), slug=slug.lower(), timezone=tz, email=email, display_name=supervisor_name)
    except ValidationError as exc:
        _fail(f"supervisor e-mail: {' '.join(exc.messages)}")
    except ApiError as exc:
        _fail(exc.message)
    click.echo(f"Created agency {agency.name!r} (id {agency.id}, slug {agency.slug}).")
    click.echo(f"Send this invitation link to the first supervisor, {email}; it works once, within 72 hours,\n"
               "to choose a password and set up two-step sign-in:")
    click.echo(link)


@agency_cli.command("invite-supervisor")
@click.argument("slug")
@click.argument("email")
@click.option("--name", "display_name", default=None, help="The supervisor's name.")
def invite_supervisor(slug, email, display_name):
    """Print a new invitation link for a supervisor of the agency SLUG (e.g. when the first
    supervisor's link expired unused); an open invitation of EMAIL stops working."""
    agency = db.session.scalar(sa.select(Agency).where(Agency.slug == slug.lower()))
    if agency is None:
        _fail(f"no agency with slug {slug!r} (see `flask agency list`)")
    try:
        email = EmailAddress().deserialize(email)
    except ValidationError as exc:
        _fail(f"e-mail: {' '.join(exc.messages)}")
    link = invitations.invite_supervisor_by_operator(agency, email=email, display_name=display_name)
    db.session.commit()
    click.echo(f"Send this invitation link to {email}, a new supervisor of {agency.name}; it works once, "
               "within 72 hours:")
    click.echo(link)


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
    # A resident account may share the address (identities are per side): the staff one is meant.
    user = db.session.scalar(sa.select(User).where(User.email == email.strip().lower())
                             .order_by(User.is_staff.desc(), User.email_verified_at.is_(None), User.id).limit(1))
    if user is None:
        _fail(f"no account with e-mail {email!r}")
    second_factor.reset(user, actor=None, agency_id=user.agency_id, via="cli")
    click.echo(f"Two-step sign-in reset for {user.email} ({user.role.value}); "
               "the next sign-in sets it up again.")


def _chains_chosen(agency_id: int | None, installation: bool, history: bool) -> list[str] | None:
    """The chains --agency / --installation / --history pick (None: every chain)."""
    chosen = [name for name, on in (("--agency", agency_id is not None), ("--installation", installation),
                                    ("--history", history)) if on]
    if len(chosen) > 1:
        _fail(f"choose one of --agency, --installation and --history, not {' and '.join(chosen)}")
    if agency_id is not None:
        chain = agency_chain(agency_id)
        if db.session.get(Agency, agency_id) is None and chain not in audit.chain_names():
            _fail(f"no agency with id {agency_id} (see `flask agency list`)")
        return [chain]
    if installation:
        return [INSTALLATION]
    if history:
        return [HISTORY]
    return None


def _chain_options(command):
    command = click.option("--history", is_flag=True, help="Only the sealed history chain (events from before 0017).")(
        command)
    command = click.option("--installation", is_flag=True, help="Only the installation's chain (events of no agency).")(
        command)
    return click.option("--agency", "agency_id", type=click.IntRange(min=1), default=None,
                        help="Only this agency's chain (by id, see `flask agency list`).")(command)


def _published_problems(source: str) -> list[str]:
    try:
        published, _listed = proofs.checkpoints_of(proofs.load_document(source))
    except (OSError, ValueError, KeyError) as exc:
        _fail(f"cannot read the checkpoints {source}: {exc}")
    click.echo(f"checking {len(published)} published checkpoints from {source}")
    return checkpoints.verify_published(published)


@audit_cli.command("verify")
@_chain_options
@click.option("--checkpoints", "checkpoints_source", metavar="FILE_OR_URL", default=None,
              help="Published checkpoints (the JSON of a transparency page, saved or by URL): each one's signature "
                   "must verify, and the log must still hold its event.")
def verify(agency_id, installation, history, checkpoints_source):
    """Verify the audit chains (every one by default); per chain print its length, head and
    OK or the first broken seq; with --checkpoints, also that no published checkpoint was
    lost (a trimmed log); exit 1 if anything is broken."""
    report = audit.verify_chain(_chains_chosen(agency_id, installation, history))
    for chain in report.chains:
        where = f"{chain.chain}: {chain.length} events, head {chain.last_hash}"
        if chain.sealed:
            where += " (sealed)"
        if chain.ok:
            click.echo(f"{where}: OK")
            continue
        problem = chain.problem
        click.secho(f"{where}: BROKEN at seq {problem.seq}: {problem.message}", fg="red", err=True)
        click.echo(f"first bad row of {chain.chain}: kind={problem.kind} seq={problem.seq} "
                   f"event_id={problem.event_id}", err=True)
    broken = [chain.chain for chain in report.chains if not chain.ok]
    lost = _published_problems(checkpoints_source) if checkpoints_source else []
    for problem in lost:
        click.secho(f"BROKEN: {problem}", fg="red", err=True)
    if broken or lost:
        what = [f"{', '.join(broken)} ({len(report.chains)} chains checked)"] if broken else []
        what += [f"{len(lost)} published checkpoint(s) not in the log or not valid"] if lost else []
        click.secho(f"audit chain BROKEN: {'; '.join(what)}", fg="red", err=True)
        sys.exit(1)
    click.echo(f"audit chain intact: every chain verifies ({len(report.chains)} chains, "
               f"{report.events_checked} events)" + (", every published checkpoint is in the log"
                                                     if checkpoints_source else ""))


@audit_cli.command("checkpoint")
def checkpoint():
    """Sign a checkpoint of every audit chain's head now (the scheduler does it every
    AUDIT_CHECKPOINT_INTERVAL_HOURS); audited. Exit 1 if a chain was refused."""
    run = checkpoints.make_checkpoints(via="command")
    for made in run.made:
        click.echo(f"{made.chain}: signed seq {made.seq}, hash {made.hash}")
    if not run.made and not run.refused:
        click.echo("no chain has grown since its last checkpoint")
    for chain, why in run.refused.items():
        click.secho(f"{chain}: NOT signed: {why}", fg="red", err=True)
    if run.refused:
        sys.exit(1)


@audit_cli.command("export")
@_chain_options
@click.option("--output", "-o", type=click.File("w", encoding="utf-8"), default="-", show_default=True,
              help="Where to write the JSON lines (- is standard output).")
def export(agency_id, installation, history, output):
    """Write the chains' events (every chain by default) as JSON lines, for
    `python -m app.audit.verify_export log FILE --checkpoints ...`."""
    chains = _chains_chosen(agency_id, installation, history) or audit.chain_names()
    for line in export_lines(chains):
        output.write(line)


@audit_cli.command("generate-key")
def generate_signing_key():
    """Print a new Ed25519 private key for AUDIT_SIGNING_KEY (keep it secret; back it up)."""
    click.echo(signing.generate_key())


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


@accounts_cli.command("reset-password")
@click.argument("email")
def reset_password(email):
    """Print a one-time link (30 minutes) that lets the holder of EMAIL choose a new password.

    For someone who cannot receive the e-mail or text: hand the link over only to the
    person, once you know who they are. An address with an owner and a staff account
    gets one link for each, labelled. Audited; nobody's password is changed until the
    link is used, and then every session of the account ends.
    """
    made = recovery.operator_links(email)
    if not made:
        _fail(f"no active account with e-mail {email.strip()!r}")
    for user, url in made:
        unproved = "" if user.email_verified_at else "; the e-mail address is not verified"
        click.echo(f"{recovery.account_label(user)} ({user.email}, id {user.id}{unproved}):\n  {url}")
    click.echo(f"Each link works once, until {recovery.TTL.seconds // 60} minutes from now.")


def register_cli(app: Flask) -> None:
    app.cli.add_command(agency_cli)
    app.cli.add_command(staff_cli)
    app.cli.add_command(audit_cli)
    app.cli.add_command(demo_cli)
    app.cli.add_command(keys_cli)
    app.cli.add_command(sms_cli)
    app.cli.add_command(mail_cli)
    app.cli.add_command(accounts_cli)
