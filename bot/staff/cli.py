"""`python -m bot.staff ...`: database migrations, helplines and staff accounts.

  migrate                       bring the handoff tables up to date (Alembic; also done at start-up)
  sync-helplines                mirror data/helplines.yml into the database
  create-helpline ID NAME       add a helpline that is not in data/helplines.yml (e.g. a regional team)
  create-staff --email E --helpline ID [--admin] [--name N] [--password-file F]
                                a staff account; the password comes from a prompt or a file, never echoed
  set-password --email E [--password-file F]
  deactivate-staff --email E
  list-staff
  demo-seed                     DEVELOPMENT ONLY: one account per helpline plus an admin; prints the passwords
  purge                         run the retention task once (RETENTION_DAYS)
"""
from __future__ import annotations

import argparse
import asyncio
import getpass
import secrets
import sys
from pathlib import Path
from typing import List, Optional

from sqlalchemy import select

from bot.db import make_engine, make_sessionmaker
from bot.handoff.migrate import upgrade
from bot.handoff.models import ROLE_ADMIN, ROLE_STAFF, HelplineRow, Staff
from bot.handoff.service import HandoffService
from bot.settings import Settings, load_settings
from bot.staff.auth import hash_password

DEMO_DOMAIN = "demo.adempauze.invalid"


def _password(args: argparse.Namespace) -> str:
    if args.password_file:
        text = Path(args.password_file).read_text(encoding="utf-8").splitlines()
        password = text[0] if text else ""
    else:
        if not sys.stdin.isatty():
            password = sys.stdin.readline().rstrip("\n")
        else:
            password = getpass.getpass("Wachtwoord: ")
            if getpass.getpass("Nogmaals: ") != password:
                raise SystemExit("De wachtwoorden verschillen.")
    if len(password) < 8:
        raise SystemExit("Een wachtwoord heeft minstens 8 tekens.")
    return password


def _service(settings: Settings) -> HandoffService:
    engine = make_engine(settings.database_url)
    upgrade(engine)
    return HandoffService(make_sessionmaker(engine))


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.staff", description="Adempauze staff console administration")
    parser.add_argument("--database-url", help="default: DATABASE_URL or the SQLite file under var/")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("migrate", help="upgrade the handoff tables to the newest schema")
    sub.add_parser("sync-helplines", help="mirror data/helplines.yml into the database")
    p = sub.add_parser("create-helpline", help="add a helpline that is not in data/helplines.yml")
    p.add_argument("id")
    p.add_argument("name")
    p.add_argument("--no-handoffs", action="store_true", help="the line takes no chat handoffs")
    for name in ("create-staff", "set-password"):
        p = sub.add_parser(name)
        p.add_argument("--email", required=True)
        p.add_argument("--password-file", help="first line is the password (else a prompt, or stdin when not a terminal)")
        if name == "create-staff":
            p.add_argument("--helpline", help="helpline id (required unless --admin)")
            p.add_argument("--admin", action="store_true", help="sees every helpline and the audit log")
            p.add_argument("--name", default="", help="display name in the console (not shown to the person)")
    p = sub.add_parser("deactivate-staff")
    p.add_argument("--email", required=True)
    sub.add_parser("list-staff")
    p = sub.add_parser("demo-seed", help="development only: demo accounts with printed passwords")
    p.add_argument("--force", action="store_true", help="even when ADEMPAUZE_SECRET is set (never in production)")
    sub.add_parser("purge", help="run the retention task once")
    args = parser.parse_args(argv)

    settings = load_settings()
    if args.database_url:
        settings = Settings(**{**settings.__dict__, "database_url": args.database_url})

    if args.command == "migrate":
        engine = make_engine(settings.database_url)
        upgrade(engine)
        print("Database schema is up to date.")
        return 0

    service = _service(settings)
    asyncio.run(service.sync_helplines())
    sessions = service.sessions

    if args.command == "sync-helplines":
        print("Helplines synced from data/helplines.yml.")
    elif args.command == "create-helpline":
        with sessions() as session, session.begin():
            row = session.get(HelplineRow, args.id) or HelplineRow(id=args.id)
            row.name, row.accepts_handoffs, row.active = args.name, not args.no_handoffs, True
            session.add(row)
        print(f"Helpline {args.id} saved.")
    elif args.command == "create-staff":
        if not args.admin and not args.helpline:
            raise SystemExit("--helpline is required (or --admin)")
        email = args.email.strip().lower()
        with sessions() as session:
            if args.helpline and session.get(HelplineRow, args.helpline) is None:
                raise SystemExit(f"Unknown helpline {args.helpline!r}; see data/helplines.yml or create-helpline.")
            if session.execute(select(Staff).where(Staff.email == email)).scalars().first():
                raise SystemExit(f"An account for {email} exists already (use set-password).")
        password = _password(args)
        with sessions() as session, session.begin():
            session.add(Staff(email=email, display_name=args.name, password_hash=hash_password(password),
                              helpline_id=args.helpline, role=ROLE_ADMIN if args.admin else ROLE_STAFF))
        print(f"Account created for {email}.")
    elif args.command == "set-password":
        password = _password(args)
        with sessions() as session, session.begin():
            staff = session.execute(select(Staff).where(Staff.email == args.email.strip().lower())).scalars().first()
            if staff is None:
                raise SystemExit("No such account.")
            staff.password_hash = hash_password(password)
        print("Password changed.")
    elif args.command == "deactivate-staff":
        with sessions() as session, session.begin():
            staff = session.execute(select(Staff).where(Staff.email == args.email.strip().lower())).scalars().first()
            if staff is None:
                raise SystemExit("No such account.")
            staff.active = False
            staff.sessions.clear()
        print("Account deactivated; its sessions are closed.")
    elif args.command == "list-staff":
        with sessions() as session:
            for staff in session.execute(select(Staff).order_by(Staff.helpline_id, Staff.email)).scalars():
                print(f"{staff.email:45} {staff.role:6} {staff.helpline_id or '(alle)':16} {'actief' if staff.active else 'uit'}")
    elif args.command == "demo-seed":
        if not settings.development and not args.force:
            raise SystemExit("demo-seed is for development only (ADEMPAUZE_SECRET is set). Use create-staff.")
        print(demo_seed(service))
    elif args.command == "purge":
        from bot.handoff.retention import RetentionTask

        store = None
        try:
            from rasa.shared.core.domain import Domain

            from bot.assistant import sql_tracker_store

            store = sql_tracker_store(settings.database_url, Domain.empty())
        except Exception:  # noqa: BLE001 - the handoff tables are purged even without Rasa
            pass
        purged = asyncio.run(RetentionTask(service, settings.retention_days, store).run_once())
        print(purged)
    return 0


def demo_seed(service: HandoffService) -> str:
    """One account per helpline that takes handoffs, plus an admin; new random passwords each time."""
    lines: List[str] = ["Demo accounts (development only) — log in at http://127.0.0.1:8000/staff/login", ""]
    with service.sessions() as session, session.begin():
        rows = session.execute(select(HelplineRow).where(HelplineRow.accepts_handoffs.is_(True), HelplineRow.active.is_(True))
                               .order_by(HelplineRow.id)).scalars().all()
        accounts = [("beheer", None, ROLE_ADMIN, "Beheerder")] + [(r.id.replace("_", "-"), r.id, ROLE_STAFF, f"Medewerker {r.name}") for r in rows]
        for local, helpline_id, role, name in accounts:
            email = f"{local}@{DEMO_DOMAIN}"
            password = secrets.token_urlsafe(9)
            staff = session.execute(select(Staff).where(Staff.email == email)).scalars().first()
            if staff is None:
                staff = Staff(email=email)
                session.add(staff)
            staff.display_name, staff.helpline_id, staff.role, staff.active = name, helpline_id, role, True
            staff.password_hash = hash_password(password)
            lines.append(f"  {email:42} {password:14} {'admin (alle hulplijnen)' if role == ROLE_ADMIN else helpline_id}")
    return "\n".join(lines)
