"""`python -m simulator`: serve the demo MSP until Ctrl-C or SIGTERM."""

from __future__ import annotations

import argparse
import json
import signal
import sys
from datetime import UTC, datetime
from typing import NoReturn

from simulator import demo
from simulator.app import SimConfig, Simulator
from simulator.faults import Fault


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # One line, no usage dump and no traceback.
        self.exit(2, f"{self.prog}: error: {message}\n")


def _instant(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 instant: {text!r}") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _port(text: str) -> int:
    if not text.isdigit() or not 0 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"not a TCP port: {text!r}")
    return int(text)


def _minutes(text: str) -> float:
    """Minutes (a positive number) as seconds."""
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"not a positive number of minutes: {text!r}")
    return value * 60


def _clients(text: str) -> int:
    if not text.isdigit() or not demo.DEMO_CLIENTS <= int(text) <= demo.MAX_CLIENTS:
        raise argparse.ArgumentTypeError(
            f"not a number of client tenants from {demo.DEMO_CLIENTS} to {demo.MAX_CLIENTS}: {text!r}"
        )
    return int(text)


def _faults(path: str) -> list[dict]:
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except OSError as exc:
        raise argparse.ArgumentTypeError(f"cannot read {path}: {exc.strerror}") from None
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{path} is not valid JSON: {exc}") from None
    rules = data.get("faults") if isinstance(data, dict) else data
    if not isinstance(rules, list):
        raise argparse.ArgumentTypeError(f'{path}: expected a list of faults or {{"faults": [...]}}')
    for i, rule in enumerate(rules):
        try:
            Fault.parse(rule)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"{path}: fault {i}: {exc}") from None
    return rules


def main(argv: list[str] | None = None) -> int:
    parser = _Parser(prog="python -m simulator", description="Serve the simulated MSP (Graph + CIPP-API).")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback)")
    parser.add_argument("--port", type=_port, default=8765)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--now", type=_instant, default=None, help="freeze the clock at this instant")
    parser.add_argument("--no-throttle", action="store_true", help="disable Graph's throttling limits")
    parser.add_argument("--faults", type=_faults, default=[], metavar="FILE.json")
    parser.add_argument("--log-requests", action="store_true")
    parser.add_argument(
        "--drift-every",
        type=_minutes,
        default=None,
        metavar="MINUTES",
        help="a client admin's demo drift this often (default: every 8 simulated hours)",
    )
    parser.add_argument(
        "--tenants",
        type=_clients,
        default=demo.DEMO_CLIENTS,
        metavar="N",
        help=f"client tenants (default {demo.DEMO_CLIENTS}, the demo's; more are copies of them, e.g. 500)",
    )
    args = parser.parse_args(argv)

    sim = Simulator(
        SimConfig(
            seed=args.seed,
            now=args.now,
            throttle=not args.no_throttle,
            faults=args.faults,
            host=args.host,
            port=args.port,
            log_requests=args.log_requests,
            drift_every_s=args.drift_every,
            clients=args.tenants,
        )
    )
    try:
        sim.bind()
    except OSError as exc:
        print(
            f"python -m simulator: error: cannot listen on {args.host}:{args.port}: {exc.strerror}",
            file=sys.stderr,
        )
        return 1

    def _terminate(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _terminate)
    print(f"simulator listening on {sim.url}", flush=True)
    try:
        sim.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        sim.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
