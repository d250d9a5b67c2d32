"""The command table: which function serves which command (built lazily by cli.main)."""

from __future__ import annotations

import typer

from machine.cli import changing, image, orphans, reading, remote, swarm


def register(app: typer.Typer) -> None:
    settings = {"allow_interspersed_args": True}
    app.command("env", context_settings=settings)(reading.env_cmd)
    app.command("ls")(reading.ls_cmd)
    app.command("ip")(reading.ip_cmd)
    app.command("url")(reading.url_cmd)
    app.command("status")(reading.status_cmd)
    app.command("inspect")(reading.inspect_cmd)
    app.command("config")(reading.config_cmd)
    app.command("rm")(changing.rm_cmd)
    app.command("provision")(changing.provision_cmd)
    app.command("regenerate-certs")(changing.regenerate_certs_cmd)
    app.command(
        "ssh",
        context_settings={
            "allow_interspersed_args": False,
            "ignore_unknown_options": True,
            "help_option_names": [],  # -h is ssh's business after the name; handled first
        },
    )(remote.ssh_cmd)
    app.command("version")(reading.version_cmd)
    app.command("start")(changing.start_cmd)
    app.command("stop")(changing.stop_cmd)
    app.command("restart")(changing.restart_cmd)
    app.command("kill")(changing.kill_cmd)
    app.command("upgrade")(changing.upgrade_cmd)
    app.command("active")(reading.active_cmd)
    app.command("use")(changing.use_cmd)
    app.command("completion")(reading.completion_cmd)
    app.command(
        "__complete",
        hidden=True,
        context_settings={
            "allow_interspersed_args": False,
            "ignore_unknown_options": True,
            "help_option_names": [],
        },
    )(reading.complete_cmd)
    app.command("scp")(remote.scp_cmd)
    app.command("mount")(remote.mount_cmd)
    app.command("orphans")(orphans.orphans_cmd)
    app.add_typer(image.app, name="image")
    app.add_typer(swarm.app, name="swarm")
