"""`hpsearch user ...` and `hpsearch token ...`: accounts of the web UI and the API.

Passwords are never taken from the command line (other users see argv in `ps`):
they are prompted for, or read from standard input with ``--password-stdin``.
"""
from __future__ import annotations

import argparse
import getpass
import sys

from hpsearch.cli.format import table
from hpsearch.exceptions import HpsearchError


def _accounts(args):
    from hpsearch.accounts import Accounts
    from hpsearch.store import Store

    return Accounts(Store(args.db))


def _password(args) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if not sys.stdin.isatty():
        raise HpsearchError("no terminal to ask for a password: use --password-stdin")
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        raise HpsearchError("the two passwords differ")
    return first


def _when(t) -> str:
    return t.strftime("%Y-%m-%d %H:%M") if t else "-"


def _need(args, what: str) -> str:
    value = getattr(args, what)
    if not value:
        raise HpsearchError(f"`{args.command} {args.action}` needs {what.upper()}")
    return value


def cmd_user(args) -> int:
    """Manage users: add (the first is an admin), list, remove, passwd, role, unlock.

    hpsearch user add ada --role admin      (prompts for the password)
    echo "$PW" | hpsearch user add bob --password-stdin
    hpsearch user role bob viewer
    hpsearch user unlock bob                (an account's failed logins)
    hpsearch user unlock --address 10.0.0.7 (a client address's failed logins)
    """
    acc = _accounts(args)
    if args.action == "unlock" and args.address:
        n = acc.unlock_address(args.address)
        print(f"failed logins from {args.address!r} forgotten" if n else
              f"no failed logins were counted for {args.address!r}")
        if not args.username:
            return 0
    if args.action == "list":
        rows = [[u.username, u.role, _when(u.created_at), _when(u.last_login_at)]
                for u in acc.list_users()]
        print(table(["user", "role", "created", "last login"], rows))
        return 0
    name = _need(args, "username")
    if args.action == "add":
        user = acc.add_user(name, _password(args), role=args.role)
        print(f"user {user.username!r} added ({user.role})")
    elif args.action == "remove":
        acc.remove_user(name)
        print(f"user {name!r} removed, with their tokens")
    elif args.action == "passwd":
        acc.set_password(name, _password(args))
        print(f"password of {name!r} changed; their sessions have ended")
    elif args.action == "role":
        acc.set_role(name, _need(args, "value"))
        print(f"{name!r} is now {args.value}")
    elif args.action == "unlock":
        acc.unlock(name)
        print(f"failed logins of {name!r} forgotten")
    return 0


def cmd_token(args) -> int:
    """Manage API tokens: create (printed once), list, revoke.

    hpsearch token create ada --name laptop
    export HPSEARCH_TOKEN=hps_...        (the CLI and Python API send it as a Bearer token)
    hpsearch token revoke 3
    """
    acc = _accounts(args)
    if args.action == "create":
        from datetime import timedelta

        if args.expires_days is not None and not 1 <= args.expires_days <= 3650:
            raise HpsearchError(f"--expires-days must be 1 to 3650, got {args.expires_days}")
        row, token = acc.create_token(_need(args, "target"), args.name or "",
                                      expires_in=timedelta(days=args.expires_days)
                                      if args.expires_days else None)
        print(token)
        print(f"token {row.id} ({row.name}) for {args.target}: store it now, it is not shown again",
              file=sys.stderr)
    elif args.action == "list":
        rows = [[t.id, user, t.name, t.prefix + "…", _when(t.created_at), _when(t.last_used_at),
                 _when(t.expires_at) if t.expires_at else "never",
                 "revoked " + _when(t.revoked_at) if t.revoked_at else "active"]
                for t, user in acc.list_tokens(args.target)]
        print(table(["id", "user", "name", "token", "created", "last used", "expires", "state"],
                    rows))
    elif args.action == "revoke":
        target = _need(args, "target")
        if not target.isdigit():
            raise HpsearchError(f"TARGET must be a token id (see `hpsearch token list`), got {target!r}")
        acc.revoke_token(int(target))
        print(f"token {target} revoked")
    return 0


def add_commands(add) -> None:
    """Register the subcommands with the CLI's ``add(name, fn)`` helper."""
    p: argparse.ArgumentParser = add("user", cmd_user)
    p.add_argument("action", choices=["add", "list", "remove", "passwd", "role", "unlock"])
    p.add_argument("username", nargs="?", help="the user's name")
    p.add_argument("value", nargs="?", help="with `role`: viewer, member or admin")
    p.add_argument("--role", choices=["viewer", "member", "admin"],
                   help="with `add` (default: admin for the first user, else member)")
    p.add_argument("--password-stdin", action="store_true",
                   help="read the password from the first line of standard input")
    p.add_argument("--address", help="with `unlock`: forget the failed logins of this client "
                                     "address (as the service sees it)")

    p = add("token", cmd_token)
    p.add_argument("action", choices=["create", "list", "revoke"])
    p.add_argument("target", nargs="?", help="create/list: a username; revoke: a token id")
    p.add_argument("--name", help="with `create`: a label (e.g. the machine it lives on)")
    p.add_argument("--expires-days", type=int, default=None,
                   help="with `create`: the token stops working after this many days "
                        "(default: until revoked)")
