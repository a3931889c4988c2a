"""Install, start, check and stop the local Kafka broker and MongoDB-wire server.

Kafka 3.9 runs from its official jars (resolved from Maven Central by Maven) as one
KRaft node. The database is a real ``mongod`` when one is on PATH, the server
OUTGOING_MONGO_URL points to when it answers, or else mongo-java-server (Maven Central)
on its H2 MVStore file backend, or in memory with OUTGOING_MONGO_STORAGE=memory. Downloads live in a cache folder that survives runs;
pids, logs and data live in a run folder. Stopping only ends processes whose pid file
we wrote and whose command line is still ours. With --secure (or OUTGOING_KAFKA_SECURE=1)
Kafka also gets a SASL_SSL listener with SCRAM users and ACLs (deploy/local/kafka_security.py).

Usage: python deploy/local/infra.py {install,up,down,status} [--services] [--secure]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

KAFKA_VERSION = "3.9.2"
MONGO_JAVA_SERVER_VERSION = "1.47.0"
SERVICES = ("registration", "matching", "notifications")
SECURED_TEST_BROKER = "kafka-secure-tests"
"""The run folder, inside the configured one, of the secured broker the security tests start beside a plain one."""
PROJECT_ROOT = Path(__file__).resolve().parents[2]


class InfraError(RuntimeError):
    """A setup problem, with the command that fixes it."""

    def __init__(self, problem: str, fix: str) -> None:
        super().__init__(f"{problem}\n  fix: {fix}")
        self.problem = problem
        self.fix = fix


@dataclass(frozen=True)
class Config:
    cache_dir: Path
    run_dir: Path
    kafka_host: str
    kafka_port: int
    kafka_controller_port: int
    mongo_url: str
    mongo_url_explicit: bool
    ready_timeout: float
    kafka_heap: str
    mongo_storage: str = "file"
    mongo_heap: str = "1g"
    kafka_secure_port: int | None = None
    """The SASL_SSL listener's port, or None for none (the default)."""
    topic_prefix: str = "outgoing"
    """The environment whose ACLs a secured broker gets at start."""

    @classmethod
    def from_env(cls) -> Config:
        env = os.environ
        cache = Path(env.get("OUTGOING_CACHE_DIR") or Path(env.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "outgoing")
        run = Path(env.get("OUTGOING_RUN_DIR") or PROJECT_ROOT / ".run")
        bootstrap = env.get("OUTGOING_KAFKA_BOOTSTRAP", "127.0.0.1:9092").split(",")[0]
        host, _, port = bootstrap.rpartition(":")
        kafka_port = int(port)
        return cls(
            cache_dir=cache.resolve(),
            run_dir=run.resolve(),
            kafka_host=host or "127.0.0.1",
            kafka_port=kafka_port,
            kafka_controller_port=int(env.get("OUTGOING_KAFKA_CONTROLLER_PORT", kafka_port + 1)),
            mongo_url=env.get("OUTGOING_MONGO_URL", "mongodb://127.0.0.1:27017"),
            mongo_url_explicit="OUTGOING_MONGO_URL" in env,
            ready_timeout=float(env.get("OUTGOING_READY_TIMEOUT", "90")),
            kafka_heap=env.get("OUTGOING_KAFKA_HEAP", "768m"),
            mongo_storage=_storage(env.get("OUTGOING_MONGO_STORAGE", "file")),
            mongo_heap=env.get("OUTGOING_MONGO_HEAP", "1g"),
            kafka_secure_port=int(env.get("OUTGOING_KAFKA_SECURE_PORT", kafka_port + 2))
            if _flag(env.get("OUTGOING_KAFKA_SECURE"))
            else None,
            topic_prefix=env.get("OUTGOING_TOPIC_PREFIX", "outgoing"),
        )

    def with_secure_listener(self) -> Config:
        """This configuration with the SASL_SSL listener on OUTGOING_KAFKA_SECURE_PORT (Kafka's port + 2)."""
        port = int(os.environ.get("OUTGOING_KAFKA_SECURE_PORT", self.kafka_port + 2))
        return replace(self, kafka_secure_port=self.kafka_secure_port or port)

    @property
    def mongo_host_port(self) -> tuple[str, int]:
        parts = urlsplit(self.mongo_url)
        return parts.hostname or "127.0.0.1", parts.port or 27017


def _flag(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


def _storage(value: str) -> str:
    if value not in ("file", "memory"):
        raise InfraError(f"OUTGOING_MONGO_STORAGE must be 'file' or 'memory', not {value!r}", "export OUTGOING_MONGO_STORAGE=file")
    return value


def say(message: str) -> None:
    print(f"[infra] {message}", flush=True)


def shown_url(url: str) -> str:
    """A database URL as printed: its password masked (``mongodb://user:****@host``)."""
    from shared.urls import redact_url  # standard library only; the project root is on sys.path

    return redact_url(url)


# ---------------------------------------------------------------- processes


def _pid_file(cfg: Config, name: str) -> Path:
    return cfg.run_dir / f"{name}.pid"


def _log_file(cfg: Config, name: str) -> Path:
    return cfg.run_dir / "logs" / f"{name}.log"


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def running_pid(cfg: Config, name: str) -> int | None:
    """The pid we recorded for ``name``, if that process is alive and still ours."""
    path = _pid_file(cfg, name)
    if not path.exists():
        return None
    try:
        record = json.loads(path.read_text())
        pid, marker = int(record["pid"]), record["marker"]
    except (ValueError, KeyError, json.JSONDecodeError):
        path.unlink(missing_ok=True)
        return None
    if not _alive(pid):
        path.unlink(missing_ok=True)
        return None
    cmdline = _cmdline(pid)
    if marker in cmdline or not cmdline:  # empty: between fork and exec, still ours
        return pid
    path.unlink(missing_ok=True)  # the pid was reused by an unrelated process
    return None


def _spawn(cfg: Config, name: str, argv: list[str], marker: str, env: dict[str, str] | None = None) -> int:
    log = _log_file(cfg, name)
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        proc = subprocess.Popen(
            argv,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            cwd=PROJECT_ROOT,
            env={**os.environ, **(env or {})},
        )
    _pid_file(cfg, name).write_text(json.dumps({"pid": proc.pid, "marker": marker, "argv": argv}))
    deadline = time.monotonic() + 5
    while marker not in _cmdline(proc.pid) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    return proc.pid


def stop(cfg: Config, name: str, grace: float = 30.0) -> bool:
    pid = running_pid(cfg, name)
    if pid is None:
        _pid_file(cfg, name).unlink(missing_ok=True)
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.2)
    if _alive(pid):
        say(f"{name} (pid {pid}) ignored SIGTERM for {grace:.0f}s; sending SIGKILL")
        os.kill(pid, signal.SIGKILL)
    _pid_file(cfg, name).unlink(missing_ok=True)
    return True


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie child of ours counts as gone
        waited, _ = os.waitpid(pid, os.WNOHANG)
        return waited == 0
    except ChildProcessError:
        stat = Path(f"/proc/{pid}/stat")
        return stat.exists() and ") Z " not in stat.read_text()


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def _require_free(host: str, port: int, what: str, env_var: str) -> None:
    if port_open(host, port):
        raise InfraError(
            f"port {port} on {host}, needed by {what}, is already taken by another process",
            f"stop that process (`ss -ltnp 'sport = :{port}'` shows it) or pick another port, e.g. `export {env_var}=...`",
        )


def _wait(check, what: str, cfg: Config, log: Path, pid_name: str) -> None:
    deadline = time.monotonic() + cfg.ready_timeout
    while time.monotonic() < deadline:
        if check():
            return
        if running_pid(cfg, pid_name) is None:
            raise InfraError(f"{what} exited during start-up; see {log}", f"read the end of {log}, then `make down && make up`")
        time.sleep(0.5)
    raise InfraError(
        f"{what} did not become ready within {cfg.ready_timeout:.0f} seconds; see {log}",
        f"read {log}; raise the limit with `export OUTGOING_READY_TIMEOUT=180` if the machine is slow",
    )


def _run(argv: list[str], what: str, fix: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    proc = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, env={**os.environ, **(env or {})}, check=False)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
        unreachable = re.search(
            r"(resolve|unknown host|connection refused|timed out|no such host|dial tcp|Could not transfer|network)", tail, re.IGNORECASE
        )
        problem = f"{what} failed (exit {proc.returncode})"
        if unreachable:
            problem += ": the package registry could not be reached"
        raise InfraError(f"{problem}\n{tail}", fix)
    return proc.stdout


# ---------------------------------------------------------------- Kafka


def _java() -> str:
    java = shutil.which("java")
    if java is None:
        raise InfraError("Java is missing: Kafka needs a Java 17 runtime", "apt-get install -y openjdk-17-jre-headless")
    out = subprocess.run([java, "-version"], capture_output=True, text=True, check=False).stderr
    match = re.search(r'version "(\d+)', out)
    if match is None or int(match.group(1)) < 17:
        raise InfraError(
            f"Java 17 or newer is needed, found: {out.splitlines()[0] if out else 'unknown'}", "apt-get install -y openjdk-17-jre-headless"
        )
    return java


def require_java() -> str:
    """The java binary (17 or newer), or an InfraError saying how to install one."""
    return _java()


def kafka_libs(cfg: Config) -> Path:
    return cfg.cache_dir / f"kafka-{KAFKA_VERSION}" / "libs"


def install_kafka(cfg: Config) -> Path:
    return _resolve_jars(
        cfg,
        pom=PROJECT_ROOT / "deploy/local/kafka/pom.xml",
        libs=kafka_libs(cfg),
        properties={"kafka.version": KAFKA_VERSION},
        expected=f"kafka_2.13-{KAFKA_VERSION}.jar",
        what=f"Apache Kafka {KAFKA_VERSION}",
    )


def _resolve_jars(cfg: Config, pom: Path, libs: Path, properties: dict[str, str], expected: str, what: str) -> Path:
    """Copy a pom's runtime dependencies from Maven Central into ``libs``, once."""
    stamp = libs / ".complete"
    if stamp.exists():
        return libs
    _java()
    mvn = shutil.which("mvn")
    if mvn is None:
        raise InfraError(f"Maven is missing: it resolves the {what} jars from Maven Central", "apt-get install -y maven")
    say(f"resolving {what} jars from Maven Central into {libs}")
    libs.mkdir(parents=True, exist_ok=True)
    _run(
        [
            mvn,
            "-B",
            "-q",
            "-f",
            str(pom),
            *(f"-D{key}={value}" for key, value in properties.items()),
            f"-Dmaven.repo.local={cfg.cache_dir / 'm2'}",
            "dependency:copy-dependencies",
            f"-DoutputDirectory={libs}",
        ],
        f"resolving the {what} jars with Maven",
        "check that Maven Central is reachable (proxy settings in ~/.m2/settings.xml), then `make install`",
    )
    if not (libs / expected).exists():
        raise InfraError(f"Maven finished but {expected} is not in {libs}", f"rm -rf {libs} && make install")
    stamp.touch()
    return libs


def _kafka_properties(cfg: Config, data: Path, secure: list[str] | None = None) -> str:
    """``secure``: the SASL_SSL listener's settings (kafka_security.broker_properties), when it is wanted."""
    host, port, cport = cfg.kafka_host, cfg.kafka_port, cfg.kafka_controller_port
    sasl_ssl = f",SASL_SSL://{host}:{cfg.kafka_secure_port}" if secure else ""
    return "\n".join(
        [
            "process.roles=broker,controller",
            "node.id=1",
            f"controller.quorum.voters=1@{host}:{cport}",
            f"listeners=PLAINTEXT://{host}:{port},CONTROLLER://{host}:{cport}{sasl_ssl}",
            f"advertised.listeners=PLAINTEXT://{host}:{port}{sasl_ssl}",
            "controller.listener.names=CONTROLLER",
            "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT" + (",SASL_SSL:SASL_SSL" if secure else ""),
            "inter.broker.listener.name=PLAINTEXT",
            f"log.dirs={data}",
            "auto.create.topics.enable=false",
            "num.partitions=1",
            "offsets.topic.replication.factor=1",
            "offsets.topic.num.partitions=10",
            "transaction.state.log.replication.factor=1",
            "transaction.state.log.min.isr=1",
            "group.initial.rebalance.delay.ms=0",
            "log.retention.hours=168",
            *(secure or []),
            "",
        ]
    )


def _log4j(cfg: Config) -> Path:
    path = cfg.run_dir / "kafka" / "log4j.properties"
    path.write_text(
        "log4j.rootLogger=INFO, stdout\n"
        "log4j.appender.stdout=org.apache.log4j.ConsoleAppender\n"
        "log4j.appender.stdout.layout=org.apache.log4j.PatternLayout\n"
        "log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n\n"
        "log4j.logger.kafka.controller=WARN\nlog4j.logger.state.change.logger=WARN\n"
    )
    return path


def kafka_ready(cfg: Config) -> bool:
    """True when the broker answers a metadata request, not merely accepts TCP."""
    if not port_open(cfg.kafka_host, cfg.kafka_port):
        return False
    try:
        import asyncio

        from aiokafka.admin import AIOKafkaAdminClient

        async def probe() -> bool:
            admin = AIOKafkaAdminClient(bootstrap_servers=f"{cfg.kafka_host}:{cfg.kafka_port}", request_timeout_ms=3000)
            try:
                await admin.start()
                await admin.list_topics()
                return True
            finally:
                await admin.close()

        # A thread of its own, so this also works when called from inside an event loop.
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            return pool.submit(asyncio.run, asyncio.wait_for(probe(), 6)).result()
    except Exception:  # noqa: BLE001 - whatever the failure, the broker is not ready yet
        return False


def start_kafka(cfg: Config) -> str:
    if running_pid(cfg, "kafka"):
        return _require_secure_listener(cfg, "already running")
    if port_open(cfg.kafka_host, cfg.kafka_port) and kafka_ready(cfg):
        return _require_secure_listener(cfg, f"reusing the broker already answering on {cfg.kafka_host}:{cfg.kafka_port}")
    java = _java()
    libs = install_kafka(cfg)
    _require_free(cfg.kafka_host, cfg.kafka_port, "Kafka", "OUTGOING_KAFKA_BOOTSTRAP")
    _require_free(cfg.kafka_host, cfg.kafka_controller_port, "the Kafka controller", "OUTGOING_KAFKA_CONTROLLER_PORT")
    home = cfg.run_dir / "kafka"
    data = home / "data"
    data.mkdir(parents=True, exist_ok=True)
    props = home / "server.properties"
    props.write_text(_kafka_properties(cfg, data, _secure_listener(cfg)))
    props.chmod(0o600)  # with the SASL_SSL listener, it holds the keystore's password
    log4j = _log4j(cfg)
    classpath = f"{libs}/*"
    if not (data / "meta.properties").exists():
        cluster_id = _run(
            [java, "-cp", classpath, "kafka.tools.StorageTool", "random-uuid"], "generating a Kafka cluster id", "check the Java install"
        ).strip()
        _run(
            [
                java,
                "-cp",
                classpath,
                f"-Dlog4j.configuration=file:{log4j}",
                "kafka.tools.StorageTool",
                "format",
                "-t",
                cluster_id,
                "-c",
                str(props),
            ],
            "formatting Kafka storage",
            f"rm -rf {data} && make up",
        )
    argv = [
        java,
        "-Xms256m",
        f"-Xmx{cfg.kafka_heap}",
        "-XX:+UseG1GC",
        "-Djava.awt.headless=true",
        f"-Dlog4j.configuration=file:{log4j}",
        f"-Doutgoing.run={home}",
        "-cp",
        classpath,
        "kafka.Kafka",
        str(props),
    ]
    _spawn(cfg, "kafka", argv, marker=f"-Doutgoing.run={home}")
    _wait(lambda: kafka_ready(cfg), f"Kafka on {cfg.kafka_host}:{cfg.kafka_port}", cfg, _log_file(cfg, "kafka"), "kafka")
    if cfg.kafka_secure_port is not None:
        apply_security(cfg)
    return "started"


def _secure_listener(cfg: Config) -> list[str] | None:
    """server.properties lines of the SASL_SSL listener, its CA and keystore made first; None when it is not wanted."""
    if cfg.kafka_secure_port is None:
        return None
    from deploy.local import kafka_security

    _require_free(cfg.kafka_host, cfg.kafka_secure_port, "Kafka's SASL_SSL listener", "OUTGOING_KAFKA_SECURE_PORT")
    kafka_security.ensure_material(cfg)
    return kafka_security.broker_properties(cfg)


def _require_secure_listener(cfg: Config, state: str) -> str:
    """A broker already up must serve the SASL_SSL listener asked for: restarting it is the operator's call."""
    if cfg.kafka_secure_port is None:
        return state
    from deploy.local import kafka_security

    if not kafka_security.listener_ready(cfg):
        raise InfraError(
            f"Kafka is {state} without a SASL_SSL listener on port {cfg.kafka_secure_port} that this run folder set up",
            "make down && OUTGOING_KAFKA_SECURE=1 make up",
        )
    return state


def apply_security(cfg: Config) -> None:
    """SCRAM users and the ACLs of the configured environment (OUTGOING_TOPIC_PREFIX), on the secured broker."""
    from deploy.local import kafka_security

    summary = kafka_security.apply(cfg, [cfg.topic_prefix])
    say(f"kafka: SASL_SSL on {kafka_security.secure_address(cfg)}, ACLs of {cfg.topic_prefix!r}: {summary}")


# ---------------------------------------------------------------- MongoDB wire


def mongo_libs(cfg: Config) -> Path:
    return cfg.cache_dir / f"mongo-java-server-{MONGO_JAVA_SERVER_VERSION}" / "libs"


def install_mongo_java_server(cfg: Config) -> Path:
    return _resolve_jars(
        cfg,
        pom=PROJECT_ROOT / "deploy/local/mongo/pom.xml",
        libs=mongo_libs(cfg),
        properties={"mongo-java-server.version": MONGO_JAVA_SERVER_VERSION},
        expected=f"mongo-java-server-h2-backend-{MONGO_JAVA_SERVER_VERSION}.jar",
        what=f"mongo-java-server {MONGO_JAVA_SERVER_VERSION}",
    )


def mongo_ready(cfg: Config) -> bool:
    host, port = cfg.mongo_host_port
    if not port_open(host, port):
        return False
    try:
        from pymongo import MongoClient

        with MongoClient(cfg.mongo_url, serverSelectionTimeoutMS=2000) as client:
            client.admin.command("ping")
        return True
    except Exception:  # noqa: BLE001 - whatever the failure, the database is not ready yet
        return False


def mongo_flavour(cfg: Config) -> str:
    """``mongod`` when one is on PATH, else the embedded mongo-java-server (file or memory)."""
    if shutil.which("mongod"):
        return "mongod"
    return f"mongo-java-server ({cfg.mongo_storage})"


def start_mongo(cfg: Config) -> str:
    if running_pid(cfg, "mongo"):
        return "already running"
    if mongo_ready(cfg):
        return f"reusing the server already answering at {shown_url(cfg.mongo_url)}"
    host, port = cfg.mongo_host_port
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise InfraError(
            f"the MongoDB server at {shown_url(cfg.mongo_url)} does not answer",
            "start it, or unset OUTGOING_MONGO_URL to use a local server",
        )
    _require_free(host, port, "the MongoDB-wire server", "OUTGOING_MONGO_URL")
    home = cfg.run_dir / "mongo"
    data = home / "data"
    data.mkdir(parents=True, exist_ok=True)
    if shutil.which("mongod"):
        argv = [shutil.which("mongod") or "mongod", "--bind_ip", host, "--port", str(port), "--dbpath", str(data)]
        marker = f"--dbpath {data}"
    else:
        java = _java()
        libs = install_mongo_java_server(cfg)
        marker = f"-Doutgoing.run={home}"
        storage = [str(data / "outgoing.mv")] if cfg.mongo_storage == "file" else []
        argv = [
            java,
            "-Xms64m",
            f"-Xmx{cfg.mongo_heap}",
            "-XX:+UseSerialGC",
            "-Djava.awt.headless=true",
            "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn",
            marker,
            "-cp",
            f"{libs}/*",
            str(PROJECT_ROOT / "deploy/local/mongo/OutgoingMongoServer.java"),
            host,
            str(port),
            *storage,
        ]
    _spawn(cfg, "mongo", argv, marker=marker)
    _wait(lambda: mongo_ready(cfg), f"the MongoDB-wire server at {shown_url(cfg.mongo_url)}", cfg, _log_file(cfg, "mongo"), "mongo")
    return "started"


# ---------------------------------------------------------------- services


def service_ready(cfg: Config, name: str) -> bool:
    log = _log_file(cfg, name)
    if not log.exists():
        return False
    marker = _ready_marker(cfg, name)
    for line in log.read_text(errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue
        if entry.get("event") == "ready" and entry.get("service") == name and entry.get("instance") == marker:
            return True
    return False


def _ready_marker(cfg: Config, name: str) -> str:
    path = _pid_file(cfg, name)
    try:
        return json.loads(path.read_text())["instance"]
    except (OSError, KeyError, json.JSONDecodeError):
        return ""


def start_service(cfg: Config, name: str) -> str:
    if not spawn_service(cfg, name):
        return "already running"
    wait_for_service(cfg, name)
    return "started"


def spawn_service(cfg: Config, name: str, env: dict[str, str] | None = None) -> bool:
    """Start the service's process without waiting for it; False if it was already running.

    Several services spawned first and awaited afterwards start in parallel: most of a
    start is imports, which the machine's cores can do side by side. ``env`` adds to this
    process's environment (OUTGOING_* settings for the service).
    """
    if running_pid(cfg, name):
        return False
    instance = f"{name}-{uuid.uuid4().hex[:8]}"
    health_port = free_port()
    argv = [sys.executable, "-m", f"services.{name}"]
    env = {"OUTGOING_LINK_SECRET": link_secret(cfg), **(env or {})}
    _spawn(
        cfg,
        name,
        argv,
        marker=f"services.{name}",
        env={**env, "OUTGOING_INSTANCE_ID": instance, "OUTGOING_HEALTH_PORT": str(health_port)},
    )
    record = json.loads(_pid_file(cfg, name).read_text())
    record |= {"instance": instance, "health_port": health_port}
    _pid_file(cfg, name).write_text(json.dumps(record))
    return True


def link_secret(cfg: Config) -> str:
    """OUTGOING_LINK_SECRET if set, else this run folder's own, made once (shared/links.py): the
    services it starts share it, so rooms and survey tokens stay the same across restarts."""
    given = os.environ.get("OUTGOING_LINK_SECRET")
    if given:
        return given
    path = cfg.run_dir / "link-secret"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileExistsError), os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as out:
            out.write(secrets.token_hex(32))
    return path.read_text().strip()


def free_port() -> int:
    """A port nobody listens on now, for a process about to bind it."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def service_health(cfg: Config, name: str) -> dict[str, object] | None:
    """The service's /readyz report (whatever its status code), or None if it does not answer."""
    return _service_get(cfg, name, "/readyz")


def service_view(cfg: Config, name: str, view: str) -> dict[str, Any] | None:
    """A read model the service exposes (``GET /views/<view>``), or None if it does not answer."""
    found = _service_get(cfg, name, f"/views/{view}", accept_error=False)
    return found if isinstance(found, dict) else None


def _service_get(cfg: Config, name: str, path: str, accept_error: bool = True) -> Any:
    import urllib.error
    import urllib.request

    try:
        port = json.loads(_pid_file(cfg, name).read_text())["health_port"]
    except (OSError, KeyError, ValueError):
        return None
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as reply:
            return json.loads(reply.read())
    except urllib.error.HTTPError as error:
        return json.loads(error.read()) if accept_error else None
    except (OSError, ValueError):
        return None


def wait_for_service(cfg: Config, name: str) -> None:
    pid = running_pid(cfg, name)
    _wait(lambda: service_ready(cfg, name), f"the {name} service (pid {pid})", cfg, _log_file(cfg, name), name)


def stop_all(cfg: Config, names: list[str], grace: float = 30.0) -> list[str]:
    """Stop several processes at once: SIGTERM to all, then wait for each."""
    with concurrent.futures.ThreadPoolExecutor(max(1, len(names))) as pool:
        stopped = list(pool.map(lambda name: stop(cfg, name, grace), names))
    return [name for name, was in zip(names, stopped, strict=True) if was]


# ---------------------------------------------------------------- commands


def install(cfg: Config) -> None:
    install_kafka(cfg)
    if not shutil.which("mongod") and not (cfg.mongo_url_explicit and mongo_ready(cfg)):
        install_mongo_java_server(cfg)
    say("installed: Kafka jars and the MongoDB-wire server are in " + str(cfg.cache_dir))


def up(cfg: Config, services: bool = False) -> None:
    cfg.run_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    kafka = start_kafka(cfg)
    say(f"kafka: {kafka} ({cfg.kafka_host}:{cfg.kafka_port})")
    if cfg.kafka_secure_port is not None and kafka != "started":
        apply_security(cfg)  # a broker that was up may not know this environment yet
    say(f"mongo: {start_mongo(cfg)} ({shown_url(cfg.mongo_url)}, {mongo_flavour(cfg)})")
    if services:
        import asyncio

        from shared.kafka import ensure_topics
        from shared.settings import Settings

        created = asyncio.run(ensure_topics(Settings()))
        say(f"topics: {len(created)} created")
        spawned = [name for name in SERVICES if spawn_service(cfg, name, _service_kafka(cfg, name))]
        for name in SERVICES:
            if name in spawned:
                wait_for_service(cfg, name)
            say(f"{name}: {'started' if name in spawned else 'already running'} (log {_log_file(cfg, name)})")
    say(f"ready in {time.monotonic() - t0:.1f}s; logs in {cfg.run_dir / 'logs'}; stop with `make down` (or `outgoing dev down`)")


def _service_kafka(cfg: Config, name: str) -> dict[str, str] | None:
    """With the SASL_SSL listener, each service connects through it as its own principal."""
    if cfg.kafka_secure_port is None:
        return None
    from deploy.local import kafka_security

    return kafka_security.client_env(cfg, name)


def down(cfg: Config) -> None:
    for name in stop_all(cfg, list(SERVICES)):
        say(f"{name}: stopped")
    for name in ("mongo", "kafka"):
        if stop(cfg, name):
            say(f"{name}: stopped")
    if stop(replace(cfg, run_dir=cfg.run_dir / SECURED_TEST_BROKER), "kafka"):
        say("kafka (the security tests' secured broker): stopped")


def status(cfg: Config) -> dict[str, str]:
    report = {}
    for name in ("kafka", "mongo", *SERVICES):
        pid = running_pid(cfg, name)
        report[name] = f"running (pid {pid})" if pid else "stopped"
    report["kafka"] += ", answering" if kafka_ready(cfg) else ", not answering"
    report["mongo"] += ", answering" if mongo_ready(cfg) else ", not answering"
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["install", "up", "down", "status"])
    parser.add_argument("--services", action="store_true", help="with up: also start the three services")
    parser.add_argument("--secure", action="store_true", help="with up: also a SASL_SSL listener, users and ACLs (OUTGOING_KAFKA_SECURE=1)")
    args = parser.parse_args(argv)
    cfg = Config.from_env().with_secure_listener() if args.secure else Config.from_env()
    try:
        if args.command == "install":
            install(cfg)
        elif args.command == "up":
            up(cfg, services=args.services)
        elif args.command == "down":
            down(cfg)
        else:
            for name, state in status(cfg).items():
                print(f"{name:14} {state}")
    except InfraError as error:
        print(f"[infra] error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(PROJECT_ROOT))
    import importlib

    # Run the package's copy of this module: deploy/local/kafka_security.py imports that one,
    # so InfraError and Config are the same classes on both sides.
    raise SystemExit(importlib.import_module("deploy.local.infra").main())
