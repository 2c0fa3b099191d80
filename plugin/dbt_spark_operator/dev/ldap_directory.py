"""A throw-away OpenLDAP directory for the local engine's LDAP authentication (``engine up --auth ldap``).

Debian's ``slapd`` on loopback, its data under the engine home (``<home>/ldap``), two users with
generated passwords: ``etl`` (the service user the DAGs connect as) and ``analyst``. The passwords live in
``<home>/ldap/users.json`` (mode 0600), nowhere else; the directory's admin password only in its own
slapd.conf (0600). The thrift server checks each login with an LDAP bind as ``uid=<user>,ou=people,...``,
as Kyuubi and HiveServer2 do with ``...authentication.ldap.baseDN``.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from dbt_spark_operator.errors import DbtSparkOperatorError

SUFFIX = "dc=dbt,dc=local"
PEOPLE = f"ou=people,{SUFFIX}"
USERS = ("etl", "analyst")  # the service user first
SCHEMAS = ("core", "cosine", "inetorgperson")


@dataclass(frozen=True)
class LdapDirectory:
    """The directory's files under ``root``; :meth:`prepare` creates them once."""

    root: Path

    @property
    def users_file(self) -> Path:
        return self.root / "users.json"

    @property
    def config(self) -> Path:
        return self.root / "slapd.conf"

    def users(self) -> dict[str, str]:
        """Each user's password (read from :attr:`users_file`)."""
        users: dict[str, str] = json.loads(self.users_file.read_text())
        return users

    def service_user(self) -> tuple[str, str]:
        return USERS[0], self.users()[USERS[0]]

    def prepare(self) -> None:
        """Create the directory (config, database, users) unless it exists; keep it across restarts."""
        if self.users_file.is_file() and self.config.is_file():
            return
        for tool in ("slapd", "slapadd", "slappasswd"):
            if not shutil.which(tool, path=f"{os.environ.get('PATH', '')}{os.pathsep}/usr/sbin"):
                raise DbtSparkOperatorError(f"{tool} is missing: apt-get install slapd ldap-utils")
        shutil.rmtree(self.root, ignore_errors=True)
        (self.root / "data").mkdir(parents=True)
        os.chmod(self.root, 0o700)
        schema_dir = Path("/etc/ldap/schema")
        lines = [f"include {schema_dir / f'{name}.schema'}" for name in SCHEMAS]
        lines += [
            "modulepath /usr/lib/ldap",
            "moduleload back_mdb",
            f"pidfile {self.root / 'slapd.pid'}",
            "database mdb",
            "maxsize 10485760",
            f'suffix "{SUFFIX}"',
            f'rootdn "cn=admin,{SUFFIX}"',
            f"rootpw {_hash(secrets.token_urlsafe(18))}",
            f"directory {self.root / 'data'}",
        ]
        write_private(self.config, "\n".join(lines) + "\n")
        passwords = {user: secrets.token_urlsafe(15) for user in USERS}
        entries = [
            f"dn: {SUFFIX}\nobjectClass: dcObject\nobjectClass: organization\no: dbt\ndc: dbt\n",
            f"dn: {PEOPLE}\nobjectClass: organizationalUnit\nou: people\n",
        ]
        entries += [
            f"dn: uid={user},{PEOPLE}\nobjectClass: inetOrgPerson\nuid: {user}\ncn: {user}\nsn: {user}\n"
            f"userPassword: {_hash(password)}\n"
            for user, password in passwords.items()
        ]
        proc = subprocess.run(
            [_sbin("slapadd"), "-f", str(self.config)],
            input="\n".join(entries),
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0:
            raise DbtSparkOperatorError(f"slapadd failed: {(proc.stderr or proc.stdout).strip()[-300:]}")
        write_private(self.users_file, json.dumps(passwords, indent=1))

    def command(self, url: str) -> list[str]:
        """slapd in the foreground (``-d 0``), listening on ``url`` only."""
        return [_sbin("slapd"), "-f", str(self.config), "-h", url, "-d", "0"]

    @staticmethod
    def hiveconf(url: str) -> dict[str, str]:
        """The thrift server's LDAP settings (Kyuubi: ``kyuubi.authentication=LDAP``,
        ``kyuubi.authentication.ldap.url``, ``kyuubi.authentication.ldap.baseDN``)."""
        return {
            "hive.server2.authentication": "LDAP",
            "hive.server2.authentication.ldap.url": url,
            "hive.server2.authentication.ldap.baseDN": PEOPLE,
        }


def _sbin(tool: str) -> str:
    return shutil.which(tool) or f"/usr/sbin/{tool}"


def _hash(password: str) -> str:
    proc = subprocess.run(
        [_sbin("slappasswd"), "-T", "/dev/stdin", "-h", "{SSHA}"],
        input=password,
        capture_output=True,
        text=True,
        check=True,
    )
    return proc.stdout.strip()


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path``, readable by this user only (0600) from the start."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)
