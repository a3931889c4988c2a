"""The local broker's SASL_SSL listener: its CA and keystore, its SCRAM-SHA-512 users, its ACLs.

``infra.py up --secure`` (or ``OUTGOING_KAFKA_SECURE=1``) starts Kafka with a SASL_SSL
listener on ``OUTGOING_KAFKA_SECURE_PORT`` (Kafka's port + 2) beside the plaintext one, with
KRaft's StandardAuthorizer. What it needs is made once per run folder, in
``<run>/kafka/security/`` (mode 0700; ``.run/`` is never committed):

- ``ca.pem``, ``ca.key``: a local CA (openssl); clients trust it through OUTGOING_KAFKA_CA_FILE;
- ``broker.p12``: the broker's key and certificate (for 127.0.0.1, localhost and the
  configured host), signed by that CA, in a PKCS#12 keystore with a random password;
- ``secrets.json``: that password and a random password per principal (deploy/local/kafka_acls.py);
- ``<principal>.env``: the OUTGOING_KAFKA_* settings of that principal's clients.

Users and ACLs go in through Kafka's Admin API (``kafka/KafkaSecurity.java``, one JVM) on the
plaintext listener, whose ANONYMOUS principal is a super user: the local admin side.

Usage (from the project's root): python -m deploy.local.kafka_security acls [--prefix ENV] [--show]
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import ipaddress
import json
import os
import secrets
import shlex
import subprocess
import sys
from pathlib import Path

from pydantic import SecretStr

from deploy.local import infra
from deploy.local.kafka_acls import ADMIN, PRINCIPALS, SUPER_USERS, acls, describe, scope
from shared.settings import Settings

MECHANISM = "SCRAM-SHA-512"
TOOL = infra.PROJECT_ROOT / "deploy/local/kafka/KafkaSecurity.java"


def folder(cfg: infra.Config) -> Path:
    return cfg.run_dir / "kafka" / "security"


def ca_file(cfg: infra.Config) -> Path:
    return folder(cfg) / "ca.pem"


def secure_address(cfg: infra.Config) -> str:
    return f"{cfg.kafka_host}:{cfg.kafka_secure_port}"


# ---------------------------------------------------------------- certificates and passwords


def ensure_material(cfg: infra.Config) -> Path:
    """The CA, the broker's keystore and the passwords, made if missing; returns their folder."""
    home = folder(cfg)
    home.mkdir(parents=True, exist_ok=True)
    home.chmod(0o700)
    new_ca = not (home / "ca.pem").exists()
    if new_ca:
        make_ca(home, "Outgoing local Kafka CA")
    names = sorted({"127.0.0.1", "localhost", cfg.kafka_host})
    if new_ca or not (home / "broker.p12").exists() or _read(home / "broker.names") != ",".join(names):
        _broker_keystore(home, names, _secrets(cfg)["keystore"])
    for principal in PRINCIPALS:
        _write_private(home / f"{principal}.env", "".join(f"{k}={v}\n" for k, v in client_env(cfg, principal).items()))
    return home


def make_ca(home: Path, name: str) -> Path:
    """A self-signed CA (``ca.pem``, ``ca.key``) in ``home``."""
    home.mkdir(parents=True, exist_ok=True)
    (home / "ca.cnf").write_text(
        "[req]\ndistinguished_name = dn\nprompt = no\n"
        f"[dn]\nCN = {name}\n"
        "[ca]\nbasicConstraints = critical, CA:TRUE\nkeyUsage = critical, keyCertSign, cRLSign\nsubjectKeyIdentifier = hash\n"
    )
    _openssl(home, "making the CA", "req -x509 -config ca.cnf -extensions ca -newkey rsa:2048 -nodes -days 3650 -keyout ca.key -out ca.pem")
    return home / "ca.pem"


def _broker_keystore(home: Path, names: list[str], password: str) -> None:
    (home / "broker.cnf").write_text(
        "[req]\ndistinguished_name = dn\nprompt = no\n[dn]\nCN = outgoing-kafka\n"
        "[broker]\nbasicConstraints = CA:FALSE\nkeyUsage = critical, digitalSignature, keyEncipherment\n"
        f"extendedKeyUsage = serverAuth\nsubjectAltName = {', '.join(map(_alt_name, names))}\nauthorityKeyIdentifier = keyid\n"
    )
    _openssl(home, "making the broker's key", "req -new -config broker.cnf -newkey rsa:2048 -nodes -keyout broker.key -out broker.csr")
    _openssl(
        home,
        "signing the broker's certificate",
        "x509 -req -in broker.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 825 -extfile broker.cnf -extensions broker -out broker.pem",
    )
    _openssl(
        home,
        "packing the broker's keystore",
        "pkcs12 -export -name broker -in broker.pem -inkey broker.key -certfile ca.pem -passout env:KEYSTORE_PASSWORD -out broker.p12",
        env={"KEYSTORE_PASSWORD": password},  # not on the command line, where `ps` shows it
    )
    (home / "broker.names").write_text(",".join(names))


def _alt_name(name: str) -> str:
    try:
        return f"IP:{ipaddress.ip_address(name)}"
    except ValueError:
        return f"DNS:{name}"


def _openssl(home: Path, what: str, command: str, env: dict[str, str] | None = None) -> None:
    argv = ["openssl", *shlex.split(command)]
    proc = subprocess.run(argv, cwd=home, capture_output=True, text=True, env={**os.environ, **(env or {})}, check=False)
    if proc.returncode != 0:
        raise infra.InfraError(f"{what} with openssl failed: {proc.stderr.strip()[-500:]}", "apt-get install -y openssl, then retry")


def _secrets(cfg: infra.Config) -> dict[str, str]:
    """The keystore's password and one per principal: random, made once, kept in a file only its owner reads."""
    path = folder(cfg) / "secrets.json"
    known: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
    wanted = {name: known.get(name) or secrets.token_urlsafe(24) for name in ("keystore", *PRINCIPALS)}
    if wanted != known:
        _write_private(path, json.dumps(wanted, indent=2))
    return wanted


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as out:
        out.write(text)
    path.chmod(0o600)


def _read(path: Path) -> str:
    return path.read_text() if path.exists() else ""


# ---------------------------------------------------------------- the broker and its clients


def broker_properties(cfg: infra.Config) -> list[str]:
    """server.properties lines for the SASL_SSL listener (the listeners themselves are infra's)."""
    home, listener = folder(cfg), "listener.name.sasl_ssl"
    password = _secrets(cfg)["keystore"]
    return [
        f"sasl.enabled.mechanisms={MECHANISM}",
        f"{listener}.sasl.enabled.mechanisms={MECHANISM}",
        f"{listener}.{MECHANISM.lower()}.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;",
        f"{listener}.ssl.keystore.type=PKCS12",
        f"{listener}.ssl.keystore.location={home / 'broker.p12'}",
        f"{listener}.ssl.keystore.password={password}",
        f"{listener}.ssl.key.password={password}",
        "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        f"super.users={';'.join(SUPER_USERS)}",
        "allow.everyone.if.no.acl.found=false",
    ]


def client_env(cfg: infra.Config, principal: str) -> dict[str, str]:
    """The OUTGOING_KAFKA_* settings of a client connecting as ``principal`` over SASL_SSL."""
    return {
        "OUTGOING_KAFKA_BOOTSTRAP": secure_address(cfg),
        "OUTGOING_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "OUTGOING_KAFKA_SASL_MECHANISM": MECHANISM,
        "OUTGOING_KAFKA_USERNAME": principal,
        "OUTGOING_KAFKA_PASSWORD": _secrets(cfg)[principal],
        "OUTGOING_KAFKA_CA_FILE": str(ca_file(cfg)),
    }


def client_settings(cfg: infra.Config, principal: str, **fields: object) -> Settings:
    """Settings of a client connecting as ``principal`` over SASL_SSL (``fields`` override any)."""
    return Settings.model_validate(
        {
            "kafka_bootstrap": secure_address(cfg),
            "kafka_security_protocol": "SASL_SSL",
            "kafka_sasl_mechanism": MECHANISM,
            "kafka_username": principal,
            "kafka_password": SecretStr(_secrets(cfg)[principal]),
            "kafka_ca_file": str(ca_file(cfg)),
            **fields,
        }
    )


def listener_ready(cfg: infra.Config) -> bool:
    """True when the SASL_SSL listener answers the admin principal with this folder's CA and password."""
    if cfg.kafka_secure_port is None or not ca_file(cfg).exists() or not infra.port_open(cfg.kafka_host, cfg.kafka_secure_port):
        return False
    from shared.kafka import admin_client

    async def probe() -> bool:
        async with admin_client(client_settings(cfg, ADMIN), role="probe", request_timeout_ms=5000) as admin:
            await admin.list_topics()
            return True

    try:  # a thread of its own, so this also works when called from inside an event loop
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            return pool.submit(asyncio.run, asyncio.wait_for(probe(), 10)).result()
    except Exception:  # noqa: BLE001 - whatever the failure, the listener is not usable
        return False


def apply(cfg: infra.Config, prefixes: list[str], dropped: list[str] | None = None) -> str:
    """Upsert the SCRAM users and sync the ACLs of each environment in ``prefixes``; remove those of
    the environments in ``dropped``. Returns the tool's summary."""
    passwords = _secrets(cfg)
    lines = [f"user\t{MECHANISM}\t{principal}\t{passwords[principal]}" for principal in PRINCIPALS]
    lines += [acl.line() for prefix in prefixes for acl in acls(prefix)]
    lines += [f"scope\t{name}" for prefix in (*prefixes, *(dropped or [])) for name in sorted(scope(prefix))]
    log4j = cfg.run_dir / "kafka" / "log4j-tools.properties"
    log4j.write_text(
        "log4j.rootLogger=WARN, stderr\nlog4j.appender.stderr=org.apache.log4j.ConsoleAppender\n"
        "log4j.appender.stderr.Target=System.err\nlog4j.appender.stderr.layout=org.apache.log4j.SimpleLayout\n"
    )
    argv = [infra.require_java(), "-cp", f"{infra.kafka_libs(cfg)}/*", f"-Dlog4j.configuration=file:{log4j}", str(TOOL)]
    stdin = "\n".join(lines) + "\n"  # passwords go through stdin, never through a command line
    proc = subprocess.run([*argv, f"{cfg.kafka_host}:{cfg.kafka_port}"], input=stdin, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-8:])
        raise infra.InfraError(f"setting Kafka's users and ACLs failed:\n{tail}", "read the broker's log (.run/logs/kafka.log), then retry")
    return proc.stdout.strip()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["acls"])
    parser.add_argument("--prefix", default=os.environ.get("OUTGOING_TOPIC_PREFIX", "outgoing"), help="the environment (topic prefix)")
    parser.add_argument("--show", action="store_true", help="print the ACLs the environment gets; change nothing")
    args = parser.parse_args(argv)
    if args.show:
        print("\n".join(describe(acls(args.prefix))))
        return 0
    cfg = infra.Config.from_env()
    cfg = cfg if cfg.kafka_secure_port is not None else cfg.with_secure_listener()
    try:
        if not listener_ready(cfg):
            raise infra.InfraError("the local broker has no SASL_SSL listener", "make down && OUTGOING_KAFKA_SECURE=1 make up")
        print(apply(cfg, [args.prefix]))
    except infra.InfraError as error:
        print(f"[security] error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
