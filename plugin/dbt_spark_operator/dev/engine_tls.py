"""TLS for the local engine's thrift endpoint (``engine up --tls``): a self-signed certificate made at
the first start with the JDK's ``keytool``, under the engine home (``<home>/tls``).

The PKCS#12 keystore's password is generated and written only to the thrift server's ``hive-site.xml``
in the engine's private conf directory (mode 0600), never to its command line. The certificate is also
exported as PEM (``<home>/tls/engine.pem``) for clients that can verify a server: dbt-spark cannot (its
``use_ssl`` encrypts but accepts any certificate, see docs/security.md). Kyuubi takes the same keystore
with ``kyuubi.frontend.thrift.binary.ssl.enabled`` and ``kyuubi.frontend.ssl.keystore.*``.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

from dbt_spark_operator.dev.ldap_directory import write_private
from dbt_spark_operator.errors import DbtSparkOperatorError

ALIAS = "engine"
VALID_DAYS = 365


@dataclass(frozen=True)
class EngineCertificate:
    """The keystore and certificate under ``root``; :meth:`prepare` creates them once."""

    root: Path

    @property
    def keystore(self) -> Path:
        return self.root / "engine.p12"

    @property
    def certificate(self) -> Path:
        """The server certificate, PEM."""
        return self.root / "engine.pem"

    @property
    def password_file(self) -> Path:
        return self.root / "keystore-password"

    def prepare(self, java: Path, host: str) -> None:
        """Create the keystore (RSA 2048, CN and subjectAltName ``host`` and localhost) unless it exists."""
        if self.keystore.is_file() and self.certificate.is_file() and self.password_file.is_file():
            return
        keytool = java.parent / "keytool"
        if not keytool.exists():
            raise DbtSparkOperatorError(f"keytool is missing next to {java}: install a full JDK or JRE")
        shutil.rmtree(self.root, ignore_errors=True)
        self.root.mkdir(parents=True)
        os.chmod(self.root, 0o700)
        password = secrets.token_urlsafe(18)
        write_private(self.password_file, password)
        names = ["dns:localhost", f"ip:{host}" if host.replace(".", "").isdigit() else f"dns:{host}"]
        # keytool reads the store password from a file (-storepass:file), not from its command line.
        for argv in (
            [
                str(keytool), "-genkeypair", "-alias", ALIAS, "-keyalg", "RSA", "-keysize", "2048",
                "-validity", str(VALID_DAYS), "-dname", "CN=localhost,O=dbt-spark-operator local engine",
                "-ext", "SAN=" + ",".join(dict.fromkeys(names)), "-storetype", "PKCS12",
                "-keystore", str(self.keystore), "-storepass:file", str(self.password_file),
            ],
            [
                str(keytool), "-exportcert", "-rfc", "-alias", ALIAS, "-keystore", str(self.keystore),
                "-storepass:file", str(self.password_file), "-file", str(self.certificate),
            ],
        ):  # fmt: skip
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=120)
            if proc.returncode != 0:
                raise DbtSparkOperatorError(f"keytool failed: {(proc.stderr or proc.stdout).strip()[-300:]}")
        os.chmod(self.keystore, 0o600)

    def hive_site(self) -> str:
        """The thrift server's SSL settings as a ``hive-site.xml`` (it holds the keystore password)."""
        settings = {
            "hive.server2.use.SSL": "true",
            "hive.server2.keystore.path": str(self.keystore),
            "hive.server2.keystore.password": self.password_file.read_text(),
        }
        properties = "".join(
            f"  <property><name>{escape(k)}</name><value>{escape(v)}</value></property>\n"
            for k, v in settings.items()
        )
        return f'<?xml version="1.0"?>\n<configuration>\n{properties}</configuration>\n'

    def write_hive_site(self, conf_dir: Path) -> None:
        write_private(conf_dir / "hive-site.xml", self.hive_site())
