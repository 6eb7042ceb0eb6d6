""".ci/run's decisions on machines it has not met: what it installs, creates and starts, and
how it ends a run that collected no test.

Each case runs the script with a PATH holding this machine's programs minus the ones the
script looks for (PostgreSQL's, Redis's, Node's, apt-get, make, ...), plus stand-ins playing
the case's machine: installed or not, running or not, root or not. Stand-ins log their
calls; the real services of this machine are never touched. Set-up cases use
``--dry-run`` (the script prints what it would run); the end-of-run cases run it for real
against a stand-in ``make`` that writes pytest's JUnit report as pytest would.
"""
from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / ".ci" / "run"
# What .ci/run looks for: hidden from the sandbox's PATH unless a case gives a stand-in.
LOOKED_FOR = {"psql", "pg_isready", "pg_lsclusters", "pg_createcluster", "pg_ctlcluster", "redis-server",
              "redis-cli", "node", "nodejs", "npm", "apt-get", "runuser", "make", "id"}
INSTALL_ALL = "would run: env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql redis-server nodejs"


@pytest.fixture
def database():
    # Nothing here touches the database.
    return "sqlite"


class Machine:
    """A sandbox PATH: this machine's programs without LOOKED_FOR, and the case's stand-ins."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp = tmp_path
        self.programs = tmp_path / "programs"
        self.standins = tmp_path / "standins"
        self.calls = tmp_path / "calls.log"
        self.pg_libdir = tmp_path / "usr-lib-postgresql"
        for folder in (self.programs, self.standins, self.pg_libdir):
            folder.mkdir()
        for directory in ("/usr/local/bin", "/usr/bin", "/bin", "/usr/sbin", "/sbin"):
            if not os.path.isdir(directory):
                continue
            for entry in os.scandir(directory):
                link = self.programs / entry.name
                if entry.name not in LOOKED_FOR and not link.exists() and os.access(entry.path, os.X_OK):
                    link.symlink_to(entry.path)
        self.command("id", 'echo 0')  # root, unless a case says otherwise
        self.command("apt-get", "exit 0")

    def command(self, name: str, body: str) -> None:
        """A stand-in for ``name`` that logs its call, then runs ``body`` (sh)."""
        path = self.standins / name
        path.write_text(f'#!/bin/sh\necho "{name} $*" >> "{self.calls}"\n{body}\n')
        path.chmod(path.stat().st_mode | stat.S_IXUSR)

    def postgresql(self, up: bool = True, clusters: str = "15 main 5432 online postgres /d /l",
                   password_for_postgres: bool = False) -> None:
        self.command("pg_isready", "exit 0" if up else "exit 2")
        self.command("pg_lsclusters", f"printf '%s' '{clusters}'")
        for name in ("pg_createcluster", "pg_ctlcluster", "runuser"):
            self.command(name, "exit 0")
        refuse = 'case "$*" in *"-U postgres"*) echo "password authentication failed" >&2; exit 2;; esac\n' \
            if password_for_postgres else ""
        self.command("psql", refuse + "echo 1")

    def redis(self, up: bool = True) -> None:
        self.command("redis-server", "exit 0")
        self.command("redis-cli", "exit 0" if up else "exit 1")

    def node(self, version: str = "20", npm: bool = True) -> None:
        self.command("node", f"echo {version}")
        if npm:
            self.command("npm", "exit 0")

    def everything_running(self) -> None:
        self.postgresql()
        self.redis()
        self.node()

    def run(self, *args: str, **env: str) -> subprocess.CompletedProcess:
        environment = {"PATH": f"{self.standins}:{self.programs}", "HOME": str(self.tmp), "LANG": "C.UTF-8",
                       "PG_LIBDIR": str(self.pg_libdir), "CI_JUNIT_XML": str(self.tmp / "junit.xml"), **env}
        return subprocess.run(["/bin/bash", str(SCRIPT), *args], env=environment, cwd=self.tmp,
                              capture_output=True, text=True, timeout=60)

    def called(self) -> list[str]:
        return self.calls.read_text().splitlines() if self.calls.exists() else []


@pytest.fixture
def machine(tmp_path):
    return Machine(tmp_path)


def never_ran(machine: Machine, *programs: str) -> bool:
    return not [call for call in machine.called() if call.split()[0] in programs]


# --- installing and starting (dry runs) ------------------------------------------------------

def test_a_bare_machine_run_as_root_gets_postgresql_redis_and_node_from_apt(machine):
    done = machine.run("--dry-run")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "would run: apt-get update -qq" in lines
    assert INSTALL_ALL in lines
    assert ".ci/run: would install npm as well, unless nodejs brings it" in lines
    assert any("start PostgreSQL's cluster on port 5432, creating one" in line for line in lines)
    assert any("create the database porchlight_test" in line for line in lines)
    assert any(line.startswith("would run: redis-server --daemonize yes --bind 127.0.0.1 --port 6379")
               for line in lines)
    assert lines[-1].startswith(".ci/run: would run: make test")
    assert never_ran(machine, "apt-get")  # a dry run installs nothing


def test_without_root_it_names_the_missing_packages_and_stops(machine):
    machine.command("id", "echo 1000")
    done = machine.run("--dry-run")
    assert done.returncode == 1
    assert "missing: postgresql redis-server nodejs" in done.stderr and "as root" in done.stderr
    assert "make test" not in done.stdout


def test_npm_alone_is_installed_beside_a_node_without_it(machine):
    machine.postgresql()
    machine.redis()
    machine.node(npm=False)
    done = machine.run("--dry-run")
    assert done.returncode == 0, done.stderr
    assert "would run: env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm" in done.stdout.splitlines()


def test_a_machine_with_everything_running_gets_nothing_installed_or_started(machine):
    machine.everything_running()
    done = machine.run("--dry-run")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        ".ci/run: would run: make test (as postgres on 127.0.0.1:5432/porchlight_test, Redis database 15, CI=1)"]
    assert never_ran(machine, "apt-get", "pg_createcluster", "pg_ctlcluster", "redis-server", "runuser", "make")


@pytest.mark.parametrize(("clusters", "name"), [
    ("", "main"),                                               # the package made no cluster
    ("16 main 5433 down postgres /d /l", "porchlight"),         # main exists, on another port
])
def test_without_a_cluster_on_the_port_one_is_created_trusting_127_0_0_1(machine, clusters, name):
    machine.postgresql(up=False, clusters=clusters)
    machine.redis()
    machine.node()
    for version in ("9.6", "15", "16"):
        (machine.pg_libdir / version).mkdir()
    done = machine.run("--dry-run")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert (f"would run: pg_createcluster --port 5432 16 {name} -- --auth-local=peer --auth-host=trust"
            in lines)
    assert f"would run: pg_ctlcluster --skip-systemctl-redirect 16 {name} start" in lines
    assert never_ran(machine, "pg_createcluster", "pg_ctlcluster")


def test_a_stopped_cluster_on_the_port_is_started_not_created(machine):
    machine.postgresql(up=False, clusters="15 main 5432 down postgres /var/lib/postgresql/15/main /l")
    machine.redis(up=False)
    machine.node()
    done = machine.run("--dry-run")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "would run: pg_ctlcluster --skip-systemctl-redirect 15 main start" in lines
    assert not [line for line in lines if "pg_createcluster" in line]
    assert any(line.startswith("would run: redis-server --daemonize yes") for line in lines)


def test_no_server_to_make_a_cluster_with_is_an_error(machine):
    machine.postgresql(up=False, clusters="")
    machine.redis()
    machine.node()
    done = machine.run("--dry-run")
    assert done.returncode == 1
    assert "no PostgreSQL server under" in done.stderr


def test_a_cluster_wanting_a_password_for_postgres_gets_a_role_of_the_suite_s_own(machine):
    machine.postgresql(password_for_postgres=True)
    machine.redis()
    machine.node()
    done = machine.run("--dry-run")
    assert done.returncode == 0, done.stderr
    (create,) = [line for line in done.stdout.splitlines() if line.startswith("would run: runuser")]
    assert create.startswith("would run: runuser -u postgres -- psql -p 5432 -d postgres")
    assert "CREATE ROLE porchlight_ci LOGIN CREATEDB" in create and "ALTER ROLE porchlight_ci PASSWORD '" in create
    assert "(as porchlight_ci on 127.0.0.1:5432/porchlight_test" in done.stdout


def test_a_cluster_wanting_a_password_is_an_error_without_root(machine):
    machine.postgresql(password_for_postgres=True)
    machine.redis()
    machine.node()
    machine.command("id", "echo 1000")
    done = machine.run("--dry-run")
    assert done.returncode == 1
    assert "wants a password for postgres" in done.stderr and "trust 127.0.0.1 in pg_hba.conf" in done.stderr


def test_a_node_older_than_package_json_allows_is_an_error(machine):
    machine.postgresql()
    machine.redis()
    machine.node(version="12")
    done = machine.run("--dry-run")
    assert done.returncode == 1
    assert "Node.js 12 is too old" in done.stderr


def test_an_unknown_argument_is_refused(machine):
    done = machine.run("--dryrun")
    assert done.returncode == 2 and "usage" in done.stderr


# --- the end of a run: make's status and pytest's report ---------------------------------------

def stand_in_make(machine: Machine, tests: int | None, status: int) -> None:
    """`make test` as pytest would end it: a JUnit report of ``tests`` tests (None: no report)."""
    report = "" if tests is None else f"""
for option in $PYTEST_ADDOPTS; do
  case "$option" in --junitxml=*) report="${{option#--junitxml=}}";; esac
done
echo '<?xml version="1.0"?><testsuites><testsuite name="pytest" tests="{tests}"/></testsuites>' > "$report"
"""
    machine.command("make", f'echo "TEST_DATABASE_URL=$TEST_DATABASE_URL CI=$CI" >> "{machine.calls}"\n'
                            f"{report}\nexit {status}")


def test_a_run_that_collected_no_test_fails_loudly_with_pytest_s_status(machine):
    machine.everything_running()
    stand_in_make(machine, tests=0, status=2)  # make answers 2 for pytest's 5
    done = machine.run()
    assert done.returncode == 5
    assert "CI FAILED: pytest collected no tests" in done.stderr
    assert "make test" in machine.called()
    assert "TEST_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/porchlight_test CI=1" in machine.called()


@pytest.mark.parametrize(("tests", "status", "expected"), [
    (12, 0, 0),       # a green run
    (12, 2, 2),       # failures: make's status
    (None, 2, 2),     # make failed before pytest ran
])
def test_otherwise_the_run_ends_with_make_s_status(machine, tests, status, expected):
    machine.everything_running()
    stand_in_make(machine, tests=tests, status=status)
    done = machine.run()
    assert done.returncode == expected, done.stdout + done.stderr
    assert "collected no tests" not in done.stderr
    if tests is None:
        assert "make test failed before pytest wrote its report" in done.stdout
    else:
        assert f"{tests} tests run, exit status {status}" in done.stdout
