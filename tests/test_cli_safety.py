"""The CLIs in front of hostile tenant text and secrets (SECURITY): `python -m fixes`, `python -m collectors`,
`python -m posture` and launcher.py.

Tenant text (policy, tenant, CIPP client names, service errors) reaches a terminal only as inert text:
no control character of ``payloads.TERMINAL_CONTROLS`` on standard output or error, no faked line, and
JSON output still parses back to the exact strings. The database password never shows; a missing
database driver is one line and exit 2. The CLIs run as real subprocesses with the repo's interpreter.
"""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from typing import Any

import httpx
import pytest
from payloads import AUTO_LINKS, FORMULAS, HTML, TERMINAL, TERMINAL_CONTROLS
from posture_fixtures import good_snapshot, msp
from sqlalchemy import select, update

from safetext.secrets import MASK, redact
from safetext.terminal import UNSAFE_CHARACTERS, terminal_output, terminal_value
from simulator import SimConfig, Simulator, demo
from support import FIXED_NOW, ROOT

MSP = demo.MSP_TENANT_ID
POLICIES = "identity/conditionalAccess/policies"
# One name carrying every terminal payload (and some others): the newline one fakes a "Target:" line.
HOSTILE = " | ".join(TERMINAL + HTML[:1] + AUTO_LINKS[:2] + FORMULAS[:2])
SECRET_PW = "S3cretPw"
UNREACHABLE = f"postgresql+psycopg://perimeter:{SECRET_PW}@127.0.0.1:1/x"
MISSING_DRIVERS = ["mysql+pymysql://u:S3cretPw@127.0.0.1/x", "postgresql+psycopg2://u:S3cretPw@127.0.0.1/x"]


# --- running the CLIs ------------------------------------------------------------------------------


def run_cli(
    module: str, *args: str, env: dict[str, str] | None = None, **kwargs: Any
) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PERIMETER_")}
    kwargs.setdefault("stdin", subprocess.DEVNULL)
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=ROOT,
        env={**clean, **(env or {})},
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=120,
        **kwargs,
    )


def assert_inert(*texts: str) -> None:
    for text in texts:
        leaked = sorted({repr(ch) for ch in text if ch in TERMINAL_CONTROLS})
        assert not leaked, f"control characters reached the terminal: {leaked}\n{text!r}"


def assert_one_line(result: subprocess.CompletedProcess, prefix: str) -> str:
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(prefix), result.stderr
    return lines[0]


# --- a simulated MSP with hostile names, collected into a database ----------------------------------


def _graph(sim: Simulator, method: str, tenant: str, path: str, body: Any = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {Simulator.token(tenant)}"}
    return httpx.request(method, f"{sim.url}/v1.0/{path}", json=body, headers=headers)


def _policy_id(sim: Simulator, prefix: str) -> str:
    policies = _graph(sim, "GET", MSP, POLICIES).json()["value"]
    return next(p["id"] for p in policies if p["displayName"].startswith(prefix))


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A simulator whose service-account and technician policies carry HOSTILE as their name, collected
    (and evaluated) into a database; then each TERMINAL payload written as a tenant's name and as a
    source's last error."""
    from collectors.run import collect_once
    from db import open_database, write_transaction
    from db.models import CollectionState, Tenant
    from settings import load_settings

    sim = Simulator(SimConfig(seed=7, now=FIXED_NOW, throttle=False))
    sim.start()
    try:
        sa_policy = _policy_id(sim, "CIPP service account (legacy)")
        tech_policy = _policy_id(sim, "OLD - Block CIPP")
        for pid in (sa_policy, tech_policy):
            assert _graph(sim, "PATCH", MSP, f"{POLICIES}/{pid}", {"displayName": HOSTILE}).status_code == 204
        url = f"sqlite:///{tmp_path_factory.mktemp('cli-safety') / 'perimeter.db'}"
        engine = open_database(url)
        report = collect_once(
            load_settings(database_url=url, simulator_url=sim.url), engine, clock=lambda: FIXED_NOW
        )
        assert not report.errors, report.errors
        with engine.connect() as conn:
            tenants = list(conn.execute(select(Tenant.tenant_id).order_by(Tenant.tenant_id)).scalars())
        names = dict(zip(tenants, TERMINAL, strict=False))
        with write_transaction(engine) as conn:
            for tenant_id, name in names.items():
                conn.execute(update(Tenant).where(Tenant.tenant_id == tenant_id).values(display_name=name))
                conn.execute(
                    update(CollectionState)
                    .where(CollectionState.tenant_id == tenant_id)
                    .values(last_error=name, last_error_at=FIXED_NOW.replace(year=2099))
                )
        engine.dispose()
        yield {
            "env": {"PERIMETER_DATABASE_URL": url, "PERIMETER_SIMULATOR_URL": sim.url},
            "sa_policy": sa_policy,
            "tech_policy": tech_policy,
            "names": names,
        }
    finally:
        sim.stop()


# --- the rule itself -------------------------------------------------------------------------------


@pytest.mark.parametrize("payload", TERMINAL)
def test_terminal_value_escapes_every_control_and_keeps_one_line(payload):
    shown = terminal_value(payload)
    assert_inert(shown)
    assert "\n" not in shown and "\t" not in terminal_value("a\tb")
    assert "\\u" in shown  # visible, not dropped


def test_terminal_value_covers_every_control_of_the_payload_list_and_the_other_format_controls():
    for ch in TERMINAL_CONTROLS | {"\n", "\t", "\u200e", "\u200f", "\u061c"}:
        assert terminal_value(f"a{ch}b") == f"a\\u{ord(ch):04x}b"
        assert ch in UNSAFE_CHARACTERS
    assert terminal_value("Tailspin Toys · ünïcödé ✓") == "Tailspin Toys · ünïcödé ✓"


def test_terminal_output_keeps_lines_and_tabs_and_escapes_the_rest():
    assert terminal_output("a\tb\nc\x1b[2Jd\re\x85f\u202eg") == "a\tb\nc\\u001b[2Jd\\u000de\\u0085f\\u202eg"


def test_terminal_output_of_json_stays_json_with_the_same_strings():
    document = {"names": TERMINAL + HTML + AUTO_LINKS + FORMULAS + ["\ud800 lone surrogate"]}
    shown = terminal_output(json.dumps(document, indent=2, ensure_ascii=False))
    assert_inert(shown)
    assert json.loads(shown) == document


# --- item 1: tenant text on the terminal ------------------------------------------------------------


def test_fixes_plan_shows_a_hostile_policy_name_inert_with_one_target_line(world):
    result = run_cli(
        "fixes", "plan", "service-account-policy.enable", "--target", world["sa_policy"], env=world["env"]
    )
    assert result.returncode == 0, result.stderr
    assert_inert(result.stdout, result.stderr)
    targets = [line for line in result.stdout.splitlines() if line.lstrip().startswith("Target:")]
    assert len(targets) == 1 and targets[0].startswith("Target:  policy '"), result.stdout
    assert "\\u001b[2J" in targets[0] and "\\u000aTarget:" in targets[0]


def test_fixes_plan_json_gives_back_the_exact_name(world):
    result = run_cli(
        "fixes",
        "plan",
        "service-account-policy.enable",
        "--target",
        world["sa_policy"],
        "--format",
        "json",
        env=world["env"],
    )
    assert result.returncode == 0, result.stderr
    assert_inert(result.stdout, result.stderr)
    assert json.loads(result.stdout)["plan"]["target"]["name"] == HOSTILE


def test_fixes_apply_prompt_and_plan_are_inert_on_a_terminal(world):
    """`apply` without --yes on a terminal: the plan, then the question; answering "no" changes nothing."""
    controller, terminal = pty.openpty()
    try:
        os.write(controller, b"no\n")
        result = run_cli(
            "fixes",
            "apply",
            "service-account-policy.enable",
            "--target",
            world["sa_policy"],
            "--acknowledge-warnings",  # no sign-in history here: a switch-on's thin evidence, acknowledged
            env=world["env"],
            stdin=terminal,
        )
    finally:
        os.close(terminal)
        os.close(controller)
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "Type 'yes' to apply" in result.stdout and "Not applied" in result.stdout
    assert_inert(result.stdout, result.stderr)
    assert sum(line.startswith("Target:") for line in result.stdout.splitlines()) == 1


def test_the_confirmation_prompt_escapes_the_tenant():
    from fixes.__main__ import confirmation_prompt
    from fixes.model import FixRequest, Plan, Target

    for payload in TERMINAL:
        plan = Plan(
            FixRequest("service-account-policy.enable", payload),
            "title",
            "summary",
            Target("policy", "id", payload),
            None,
            None,
        )
        prompt = confirmation_prompt(plan)
        assert_inert(prompt)
        assert "\n" not in prompt


def test_fixes_apply_outcome_and_audit_log_are_inert(world):
    # The technician policy does not exclude break-glass: the apply is refused and recorded (nothing
    # changes), with the hostile name in the outcome and in the audit record.
    applied = run_cli(
        "fixes",
        "apply",
        "technician-policy.enable",
        "--target",
        world["tech_policy"],
        "--egress-ip",
        demo.MSP_OFFICE_IPS[0],
        "--yes",
        env=world["env"],
    )
    assert applied.returncode == 1, (applied.stdout, applied.stderr)
    assert applied.stdout.strip().splitlines()[-1].startswith("refused: '")
    assert_inert(applied.stdout, applied.stderr)
    text = run_cli("fixes", "list", "--audit", env=world["env"])
    assert text.returncode == 0, text.stderr
    assert_inert(text.stdout, text.stderr)
    assert all(line.startswith("#") for line in text.stdout.strip().splitlines()), text.stdout
    as_json = run_cli("fixes", "list", "--audit", "--format", "json", env=world["env"])
    assert_inert(as_json.stdout, as_json.stderr)
    audit = json.loads(as_json.stdout)["audit"]
    assert any(a["target"]["name"] == HOSTILE for a in audit), audit


def test_fixes_list_offers_are_inert_and_json_gives_back_the_names(world):
    text = run_cli("fixes", "list", env=world["env"])
    assert text.returncode == 0, text.stderr
    assert_inert(text.stdout, text.stderr)
    assert "\\u001b" in text.stdout  # the hostile policy (and tenant names) are listed, escaped
    as_json = run_cli("fixes", "list", "--format", "json", env=world["env"])
    assert_inert(as_json.stdout, as_json.stderr)
    offers = json.loads(as_json.stdout)["offers"]
    assert any((o.get("subject") or {}).get("name") == HOSTILE for o in offers), offers


def test_collectors_status_table_is_inert(world):
    result = run_cli("collectors", "status", env=world["env"])
    assert result.returncode == 0, result.stderr
    assert_inert(result.stdout, result.stderr)
    rows = result.stdout.splitlines()[2:]
    assert sum("ERROR: " in line for line in rows) >= len(world["names"])
    assert "\\u001b[2J" in result.stdout


def test_collectors_status_json_gives_back_the_exact_names_and_errors(world):
    result = run_cli("collectors", "status", "--format", "json", env=world["env"])
    assert result.returncode == 0, result.stderr
    assert_inert(result.stdout, result.stderr)
    sources = json.loads(result.stdout)["sources"]
    names = {row["tenantId"]: row["tenant"] for row in sources}
    errors = {row["tenantId"]: row["lastError"] for row in sources}
    for tenant_id, payload in world["names"].items():
        assert names[tenant_id] == payload and errors[tenant_id] == payload


def _hostile_snapshot(tmp_path) -> str:
    snapshot = good_snapshot()
    snapshot["tenants"][0]["displayName"] = HOSTILE
    for policy in msp(snapshot)["conditionalAccessPolicies"]:
        policy["displayName"] = HOSTILE
        policy["state"] = "enabledForReportingButNotEnforced"  # findings that name the policy
    for position, tenant in enumerate(snapshot["tenants"][1:]):
        tenant["displayName"] = TERMINAL[position % len(TERMINAL)]
    path = tmp_path / "hostile.json"
    path.write_text(json.dumps(snapshot), encoding="utf-8")
    return str(path)


def test_posture_check_table_is_inert(tmp_path):
    result = run_cli("posture", "check", _hostile_snapshot(tmp_path), "--format", "table")
    assert result.returncode in (0, 1), result.stderr
    assert_inert(result.stdout, result.stderr)
    assert "\\u001b" in result.stdout


def test_posture_check_json_gives_back_the_exact_names(tmp_path):
    result = run_cli("posture", "check", _hostile_snapshot(tmp_path), "--format", "json")
    assert result.returncode in (0, 1), result.stderr
    assert_inert(result.stdout, result.stderr)
    findings = json.loads(result.stdout)["findings"]
    assert any(f["subject"]["name"] == HOSTILE for f in findings)


def test_posture_error_line_about_a_hostile_file_name_is_one_inert_line(tmp_path):
    path = tmp_path / "bad\x1b[2J\nname.json"
    path.write_text("{", encoding="utf-8")
    line = assert_one_line(run_cli("posture", "check", str(path)), "posture: ")
    assert_inert(line)


# --- item 2: secrets --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("module", "args"),
    [
        ("collectors", ("status",)),
        ("collectors", ("status", "--format", "json")),
        ("posture", ("check",)),
        ("fixes", ("list",)),
        ("fixes", ("list", "--audit")),
    ],
)
def test_an_unreachable_database_is_one_line_without_its_password(module, args):
    result = run_cli(module, *args, env={"PERIMETER_DATABASE_URL": UNREACHABLE})
    line = assert_one_line(result, f"{module}: ")
    assert SECRET_PW not in result.stdout + result.stderr
    assert f"perimeter:{MASK}@127.0.0.1:1/x" in line


def test_a_bad_database_url_setting_is_not_echoed_with_its_password():
    result = run_cli(
        "collectors", "status", env={"PERIMETER_DATABASE_URL": f"postgresql://u:{SECRET_PW}@host:notaport/x"}
    )
    line = assert_one_line(result, "collectors: setting PERIMETER_DATABASE_URL: not a database URL")
    assert SECRET_PW not in line and MASK in line


def test_launcher_prints_the_database_url_without_its_password(monkeypatch, capsys):
    import launcher
    from settings import get_settings

    class Child:
        args = ["python", "-m", "child"]
        returncode = 0

        def poll(self) -> int | None:
            return 0

        def wait(self, timeout: float | None = None) -> int:
            return 0

    monkeypatch.setenv("PERIMETER_DATABASE_URL", UNREACHABLE)
    monkeypatch.setattr(launcher.subprocess, "Popen", lambda *a, **k: Child())
    monkeypatch.setattr(launcher, "_wait_for", lambda *a: None)
    monkeypatch.setattr(launcher.signal, "signal", lambda *a: None)
    get_settings.cache_clear()
    try:
        assert launcher.main() == 1
    finally:
        get_settings.cache_clear()
    out, err = capsys.readouterr()
    assert SECRET_PW not in out + err
    assert (
        json.loads(out.splitlines()[0])["database"] == f"postgresql+psycopg://perimeter:{MASK}@127.0.0.1:1/x"
    )


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        (UNREACHABLE, f"postgresql+psycopg://perimeter:{MASK}@127.0.0.1:1/x"),
        (
            "postgresql://u:S3cretPw@db.example:5432/perimeter?sslmode=require",
            f"postgresql://u:{MASK}@db.example:5432/perimeter?sslmode=require",
        ),
        ("mysql+pymysql://u:S3cretPw@127.0.0.1/x", f"mysql+pymysql://u:{MASK}@127.0.0.1/x"),
        ("https://user:S3cretPw@cipp.example/api", f"https://user:{MASK}@cipp.example/api"),
        ("redis://:S3cretPw@cache:6379/0", f"redis://:{MASK}@cache:6379/0"),
        ("postgresql://u:S3cret/Pw@host/db", f"postgresql://u:{MASK}@host/db"),  # does not parse as a URL
        ("postgresql://u:S3c@ret#Pw@host/db", f"postgresql://u:{MASK}@host/db"),
        ("postgresql://u:S3cret Pw@host/db", f"postgresql://u:{MASK}@host/db"),  # a whole setting's value
        ("postgresql//u:S3cretPw@host/db", f"postgresql//u:{MASK}@host/db"),
        (
            "https://login.example/token?client_secret=S3cretPw&grant_type=client_credentials",
            f"https://login.example/token?client_secret={MASK}&grant_type=client_credentials",
        ),
        (
            "https://acct.blob.core.windows.net/c/f?sv=2022-11-02&sig=S3cretPw%3D&se=2026",
            f"https://acct.blob.core.windows.net/c/f?sv=2022-11-02&sig={MASK}&se=2026",
        ),
        (
            "https://h/cb?code=S3cretPw&state=1&access_token=S3cretPw&api_key=S3cretPw",
            f"https://h/cb?code={MASK}&state=1&access_token={MASK}&api_key={MASK}",
        ),
        (
            "host=db.example user=perimeter password=S3cretPw dbname=x",
            f"host=db.example user=perimeter password={MASK} dbname=x",
        ),
        ("host=db password='S3cret Pw' port=5432", f"host=db password={MASK} port=5432"),
        (
            '{"client_secret": "S3cretPw", "status_code": "400"}',
            f'{{"client_secret": "{MASK}", "status_code": "400"}}',
        ),
        ("Authorization: Bearer S3cretPw.eyJ", f"Authorization: Bearer {MASK}"),
        ("postgresql://u:12345678@db/x", f"postgresql://u:{MASK}@db/x"),  # a numeric password is no port
        ("postgresql://u:S3cretPw@[::1]:5432/db", f"postgresql://u:{MASK}@[::1]:5432/db"),
        ("https://host:8080/path?mail=a@b.example", "https://host:8080/path?mail=a@b.example"),
        ("http://[::1]:8080/x?mail=a@b.example", "http://[::1]:8080/x?mail=a@b.example"),
        ("https://user@host/", "https://user@host/"),
        ("sqlite:////var/lib/perimeter.db", "sqlite:////var/lib/perimeter.db"),
        ("status_code=500 signin_window_hours=24", "status_code=500 signin_window_hours=24"),
    ],
)
def test_redact_each_form(text, shown):
    assert redact(text) == shown
    if SECRET_PW in text:
        assert SECRET_PW not in redact(text)


def test_redact_masks_known_secret_values_anywhere_also_url_encoded():
    error = "driver: could not connect with S3cret@Pw (S3cret%40Pw), client secret Gr4phSecret!"
    shown = redact(error, ["S3cret@Pw", "Gr4phSecret!", None, "ab"])
    assert shown == f"driver: could not connect with {MASK} ({MASK}), client secret {MASK}"
    assert redact("a b", ["a"]) == "a b"  # too short to search for in free text


def test_settings_list_their_secret_values():
    from settings import load_settings

    settings = load_settings(
        database_url="postgresql+psycopg://u:S3cret%40Pw@h/x",
        graph_client_id="app",
        graph_client_secret="Gr4phSecret",
        msp_tenant_id=MSP,
        cipp_api_url="https://cipp.example",
        cipp_app_id="a",
        cipp_client_id="c",
        cipp_client_secret="C1ppSecret",
    )
    assert set(settings.secret_values()) == {"S3cret%40Pw", "S3cret@Pw", "Gr4phSecret", "C1ppSecret"}
    assert load_settings(database_url="sqlite:///x.db").secret_values() == ()


# --- item 3: a missing database driver -----------------------------------------------------------------


@pytest.mark.parametrize("url", MISSING_DRIVERS)
@pytest.mark.parametrize(
    ("module", "args"), [("posture", ("check",)), ("fixes", ("list",)), ("collectors", ("status",))]
)
def test_a_missing_database_driver_is_one_line_and_exit_2(module, args, url):
    line = assert_one_line(run_cli(module, *args, env={"PERIMETER_DATABASE_URL": url}), f"{module}: ")
    driver = url.split("+")[1].split(":")[0]
    assert f"driver '{driver}' is not installed" in line
    assert SECRET_PW not in line and f"u:{MASK}@127.0.0.1/x" in line
