"""``splitrank fleet ...`` and ``splitrank broker``: what device operators run."""

from __future__ import annotations

import functools
import json
import re
import signal
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from splitrank._output import emit

FORMAT_CHOICE = click.Choice(["table", "json"])


def _broker_options(command: Any) -> Any:
    """The broker options of every fleet command, handed to it as one ``broker: BrokerAddress``."""

    @functools.wraps(command)
    def with_broker(**kwargs: Any) -> Any:
        from devices.mqtt import BrokerAddress

        address = BrokerAddress.parse(kwargs.pop("broker"), username=kwargs.pop("username"), password=kwargs.pop("password"),
                                      protocol=kwargs.pop("protocol"), tls_ca_file=kwargs.pop("tls_ca"), tls_cert_file=kwargs.pop("tls_cert"),
                                      tls_key_file=kwargs.pop("tls_key"))
        return command(broker=address, **kwargs)

    for option in reversed([
        click.option("--broker", default="127.0.0.1:1883", show_default=True, envvar="SPLITRANK_MQTT", help="MQTT broker host:port."),
        click.option("--username", default="manager", show_default=True, envvar="SPLITRANK_MQTT_USERNAME"),
        click.option("--password", default=None, envvar="SPLITRANK_MQTT_PASSWORD", help="[env SPLITRANK_MQTT_PASSWORD]"),
        click.option("--protocol", type=click.Choice(["5", "3.1.1"]), default="5", show_default=True,
                     help="MQTT version (the embedded broker speaks 3.1.1)."),
        click.option("--tls-ca", envvar="SPLITRANK_MQTT_CA", help="TLS: the CA of the broker's certificate (e.g. DIR/ca/ca.pem of `splitrank broker "
                                                              "--mosquitto-config DIR`; the TLS port is 8883 there)."),
        click.option("--tls-cert", envvar="SPLITRANK_MQTT_CERT", help="TLS: this client's certificate (DIR/clients/manager.pem); its name is the user."),
        click.option("--tls-key", envvar="SPLITRANK_MQTT_KEY", help="TLS: the certificate's key (DIR/clients/manager.key)."),
    ]):
        with_broker = option(with_broker)
    return with_broker


def _manager(broker: Any, *, group: str | None = None, ingest: bool = False, manager_id: str | None = None) -> Any:
    from devices.manager import FleetManager

    try:
        manager = FleetManager(broker, client_id=manager_id or f"splitrank-cli-{time.time_ns()}", group=group, ingest=ingest)
        manager.start(10)
    except (ConnectionError, ValueError) as err:
        raise click.ClickException(str(err)) from None
    return manager


def _collect(broker: Any, seconds: float, view: Callable[[Any], Any], group: str | None = None) -> Any:
    """Listen as the manager (or as an observer of ``group``'s managers) for ``seconds``, then return ``view(manager)``."""
    manager = _manager(broker, group=group)
    time.sleep(seconds)
    try:
        return view(manager)
    finally:
        manager.stop()


@click.group()
def fleet() -> None:
    """Manage edge devices over MQTT: status, config, telemetry, signed staged rollouts, the freshness push."""


@fleet.command("keygen")
@click.option("--out", type=click.Path(path_type=Path), default=Path("keys"), show_default=True)
def keygen(out: Path) -> None:
    """Make the Ed25519 key pair releases are signed with (release.key stays with you; devices get release.pub)."""
    from devices.release import generate_keypair

    try:
        private, public = generate_keypair(out)
    except FileExistsError as err:
        raise click.ClickException(str(err)) from None
    click.echo(f"private key {private} (keep it secret), public key {public} (give it to devices: --release-public-key)")


@fleet.command("status")
@_broker_options
@click.option("--wait", type=float, default=2.0, show_default=True, help="Seconds to collect retained device states.")
@click.option("--format", "fmt", type=FORMAT_CHOICE, default="table", show_default=True)
def status(broker: Any, wait: float, fmt: str) -> None:
    """Every device the broker knows: online, model version, policy, profile, applied config revision, and the
    version and age of its popularity prior (days behind the fleet's newest push; STALE past 2 days)."""
    rows = _collect(broker, wait, lambda manager: manager.status())
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2))
        return
    click.echo(f"{'device':<24} {'online':<7} {'model':<6} {'policy':<10} {'profile':<12} {'config':<14} {'prior':<6} prior age")
    for row in rows:
        age = "-" if row["prior_age_days"] is None else f"{row['prior_age_days']:.0f} d" + (" STALE" if row["stale"] else "")
        click.echo(f"{row['device_id']:<24} {'yes' if row['online'] else 'no':<7} {row['model_version']:<6} {row['policy']:<10} "
                   f"{row['profile']:<12} {row['config_revision']:<14} {row['prior_version']:<6} {age}")


@fleet.command("config")
@_broker_options
@click.argument("devices", nargs=-1, required=True)
@click.option("--policy", type=click.Choice(["local", "split", "cloud", "threshold", "learned"]))
@click.option("--cloud-fraction", type=float, help="Target cloud-call fraction of threshold/learned.")
@click.option("--budget-usd-per-hour", type=float, default=0.0)
@click.option("--endpoint", "endpoints", multiple=True, help="name=host:port[@usd_per_call]; repeat for several.")
@click.option("--pin-version", default="", help="Serve this installed model version.")
@click.option("--cloud-timeout-ms", type=float, default=0.0, help="Cap on cloud calls the router chose [default: 0 = the deadline].")
@click.option("--budget-multiplier", type=float, help="The learned policy's price of a cloud call in expected NDCG@10 gain "
              "(DCAF's lambda) [default: the gain model's threshold for the target].")
def config(broker: Any, devices: tuple[str, ...], policy: str | None,
           cloud_fraction: float | None, budget_usd_per_hour: float, endpoints: tuple[str, ...], pin_version: str,
           cloud_timeout_ms: float, budget_multiplier: float | None) -> None:
    """Set the desired router config of DEVICES (retained: offline devices apply it when they reconnect)."""
    manager = _manager(broker)
    revision = manager.set_config(devices, policy=policy or "", cloud_fraction_target=cloud_fraction or 0.0,
                                  usd_per_hour_budget=budget_usd_per_hour, cloud_endpoints=list(endpoints), pinned_model_version=pin_version,
                                  cloud_timeout_ms=cloud_timeout_ms, budget_multiplier=budget_multiplier)
    time.sleep(0.5)
    manager.stop()
    click.echo(f"config revision {revision} published to {len(devices)} device(s)")


@fleet.command("telemetry")
@_broker_options
@click.option("--seconds", type=float, default=10.0, show_default=True)
@click.option("--group", help="Read what the managers of this group counted (their checkpoints) instead of the telemetry itself.")
@click.option("--format", "fmt", type=FORMAT_CHOICE, default="table", show_default=True)
def telemetry(broker: Any, seconds: float, group: str | None, fmt: str) -> None:
    """Aggregate the fleet's telemetry for a while: route mix, bytes, errors, energy, losses and ingest lag."""
    emit(_collect(broker, seconds, lambda manager: manager.telemetry_summary(), group), fmt)


def _default_manager_id() -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "-", f"manager-{socket.gethostname()}")[:64]


@fleet.command("serve")
@_broker_options
@click.option("--group", default="managers", show_default=True,
              help="Managers of one group share the telemetry ingest (MQTT 5 shared subscription $share/GROUP/...).")
@click.option("--manager-id", default=_default_manager_id, show_default="manager-<hostname>",
              help="This manager's id and MQTT session: give every manager of a group its own, and a restarted manager the same.")
@click.option("--seconds", type=float, default=0.0, help="Stop after this long [default: 0 = until SIGTERM or Ctrl-C].")
@click.option("--format", "fmt", type=FORMAT_CHOICE, default="table", show_default=True)
def serve(broker: Any, group: str, manager_id: str, seconds: float, fmt: str) -> None:
    """Run a fleet manager beside the others of GROUP: each counts its share of the telemetry exactly once,
    a dead manager's unacknowledged share is taken over by a live one, and rollouts keep one leader.
    SIGTERM or Ctrl-C hands this manager's share back and prints what the group counted."""
    if broker.protocol != "5":
        raise click.ClickException("managers side by side need MQTT 5 (shared subscriptions, session expiry): --protocol 5")
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *args: stop.set())
    manager = _manager(broker, group=group, ingest=True, manager_id=manager_id)
    click.echo(f"manager {manager_id} serving group {group} at {broker.host}:{broker.port}", err=True)
    stop.wait(seconds or None)
    manager.stop()
    emit(manager.telemetry_summary(), fmt)


@fleet.command("rollout")
@_broker_options
@click.option("--bundle", type=click.Path(path_type=Path, exists=True), required=True, help="The bundle directory to release.")
@click.option("--key", type=click.Path(path_type=Path, exists=True), required=True, help="release.key from `splitrank fleet keygen`.")
@click.option("--devices", "device_list", help="Comma-separated device ids [default: every device with a retained state].")
@click.option("--previous-version", required=True, help="The version devices return to when the rollout halts.")
@click.option("--canary-share", type=float, default=0.05, show_default=True)
@click.option("--growth", type=float, default=2.0, show_default=True, help="Each wave is this many times the last.")
@click.option("--max-failure-share", type=float, default=0.2, show_default=True, help="Halt and roll back past this share of failures.")
@click.option("--min-answers", type=int, default=1, show_default=True, help="Answers needed before the failure share counts.")
@click.option("--health-window-s", type=int, default=30, show_default=True, help="Each device watches the new model this long.")
@click.option("--releases", type=click.Path(path_type=Path), default=Path("releases"), show_default=True, help="Where signed archives go.")
@click.option("--chunked", is_flag=True, help="Send the archive over MQTT in chunks (devices that reach no file or web server; online devices only).")
@click.option("--format", "fmt", type=FORMAT_CHOICE, default="table", show_default=True)
def rollout(broker: Any, bundle: Path, key: Path, device_list: str | None,
            previous_version: str, canary_share: float, growth: float, max_failure_share: float, min_answers: int, health_window_s: int,
            releases: Path, chunked: bool, fmt: str) -> None:
    """Sign BUNDLE and roll it out in waves: a canary first, halting and rolling back on failures."""
    from devices.release import load_private_key, make_release
    from devices.rollout import RolloutPlan

    plan = RolloutPlan(canary_share=canary_share, growth=growth, max_failure_share=max_failure_share, min_answers=min_answers,
                       wave_timeout_s=health_window_s + 120)
    release = make_release(bundle, load_private_key(key), releases, release_id=f"{bundle.name}-{int(time.time())}", health_window_s=health_window_s)
    manager = _manager(broker)
    time.sleep(1.0)
    devices = device_list.split(",") if device_list else [row["device_id"] for row in manager.status()]
    if not devices:
        manager.stop()
        raise click.ClickException("no devices: none given and none has a retained state at this broker")
    say = (lambda line: click.echo(line, err=True)) if fmt == "table" else (lambda line: None)
    archive = Path(release.url.removeprefix("file://")).read_bytes() if chunked else None
    from devices.lease import LeaseHeld

    try:
        result = manager.rollout(release, devices, plan, previous_version=previous_version, chunked=archive, progress=say)
    except LeaseHeld as err:
        raise click.ClickException(f"not released: {err}") from None
    finally:
        manager.stop()
    out = {"release_id": result.release_id, "halted": result.halted, "reason": result.reason, "waves": result.waves, "outcomes": result.outcomes}
    if fmt == "json":
        click.echo(json.dumps(out, indent=2))
    else:
        click.echo(f"release {result.release_id}: {'HALTED - ' + result.reason if result.halted else 'completed'}")
        for device_id, outcome in sorted(result.outcomes.items()):
            click.echo(f"  {device_id:<24} {outcome}")


@fleet.command("push-prior")
@_broker_options
@click.option("--key", type=click.Path(path_type=Path, exists=True), required=True, help="release.key: pushes are signed like releases.")
@click.option("--repository", type=click.Path(path_type=Path), default=Path("models"), show_default=True,
              help="The bundle whose catalogue the prior indexes (newest valid one in a repository).")
@click.option("--data", help="The interaction log: Online Retail file or folder [env SPLITRANK_DATA].")
@click.option("--every-hours", type=float, default=24.0, show_default=True, help="Push interval.")
@click.option("--day", "first_day", type=click.DateTime(["%Y-%m-%d"]), help="Push this day's prior, then the next day's at each interval "
              "(replaying a past log) [default: today's, UTC].")
@click.option("--count", type=int, default=0, show_default=True, help="Stop after this many pushes (0 = run until stopped).")
@click.option("--full-every", type=int, default=7, show_default=True, help="A full prior at least every N pushes (else deltas when smaller).")
def push_prior(broker: Any, key: Path, repository: Path, data: str | None, every_hours: float, first_day: Any, count: int,
               full_every: int) -> None:
    """Compute the trailing-window popularity prior (the 28 days before the day) from the interaction log on a
    schedule and push it to every device: signed, versioned, retained on splitrank/v1/fleet/prior."""
    from cloud.data.cleaning import clean_interactions
    from cloud.data.loader import load_online_retail
    from core.bundle import resolve_bundle
    from devices.release import load_private_key
    from splitrank.freshness import PriorSchedule, push_priors

    bundle = resolve_bundle(repository)
    codes = json.loads((bundle / "catalogue.json").read_text())["codes"]
    manager = _manager(broker)
    schedule = PriorSchedule(every_s=every_hours * 3600, first_day=first_day.date() if first_day else None, count=count)
    try:
        push_priors(manager, load_private_key(key), codes, lambda: clean_interactions(load_online_retail(data))[0], schedule,
                    full_every=full_every, say=click.echo)
    finally:
        manager.stop()


@click.command("broker")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=1883, show_default=True)
@click.option("--mosquitto-config", type=click.Path(path_type=Path),
              help="Instead: write a mosquitto setup (passwords, client certificates and their CA, ACL) here and exit.")
@click.option("--devices", type=int, default=10, show_default=True, help="With --mosquitto-config: device-00.. accounts to create.")
@click.option("--tls-port", type=int, default=8883, show_default=True,
              help="With --mosquitto-config: the TLS listener, client certificate required (0: none; passwords on --port either way).")
@click.option("--user", "run_as", default="mosquitto", show_default=True, help="With --mosquitto-config: started as root, mosquitto drops to this user.")
@click.option("--autosave-changes", type=int, default=20, show_default=True,
              help="With --mosquitto-config: save the database after this many changes (a SIGKILL loses at most these).")
def broker(host: str, port: int, mosquitto_config: Path | None, devices: int, tls_port: int, run_as: str, autosave_changes: int) -> None:
    """Run the embedded MQTT broker (pure Python, MQTT 3.1.1, anonymous: for demos and trials),
    or write a mosquitto config with per-device passwords and TLS client certificates and the fleet ACL."""
    import asyncio
    import secrets

    from devices.broker import run_embedded_broker, write_mosquitto_config
    from devices.pki import write_secret

    if mosquitto_config:
        users = {"manager": secrets.token_urlsafe(12), **{f"device-{i:02d}": secrets.token_urlsafe(12) for i in range(devices)}}
        try:
            conf = write_mosquitto_config(mosquitto_config, port=port, users=users, host=host, tls_port=tls_port or None, run_as=run_as,
                                          autosave_changes=autosave_changes)
        except (ValueError, OSError) as err:
            raise click.ClickException(str(err)) from None
        write_secret(mosquitto_config / "credentials.json", json.dumps(users, indent=2).encode())
        click.echo(f"wrote {conf}; run `mosquitto -c {conf}`; passwords in {mosquitto_config / 'credentials.json'}")
        if tls_port:
            click.echo(f"TLS on port {tls_port}: CA {mosquitto_config / 'ca' / 'ca.pem'}, a certificate and key per device and the manager in "
                       f"{mosquitto_config / 'clients'} (give each device its own: run-agent --mqtt-tls-ca-file, --mqtt-tls-cert-file, --mqtt-tls-key-file)")
        return
    click.echo(f"embedded MQTT broker on {host}:{port} (MQTT 3.1.1, anonymous); Ctrl-C stops it", err=True)
    try:
        asyncio.run(run_embedded_broker(host, port))
    except KeyboardInterrupt:
        pass
