"""Commands a launcher runs, or only prints under --dry-run. Secret values (forwarded API keys) are
shown as `$NAME`, never printed."""
from __future__ import annotations

import os
import shlex
import subprocess
import sys
from typing import Sequence, TextIO


class Shell:
    def __init__(self, dry_run: bool = False, out: TextIO | None = None):
        self.dry_run, self.out, self.secrets = dry_run, out or sys.stdout, {}

    def show(self, text: str) -> str:
        for name, value in self.secrets.items():
            if value:
                text = text.replace(value, f"<{name}>")
        return text

    def secret_env(self, names: Sequence[str]) -> dict[str, str]:
        """The forwarded variables' values (placeholders `<NAME>` in a dry run), masked in everything shown."""
        values = {n: f"<{n}>" for n in names} if self.dry_run else forwarded_env(names)
        self.secrets |= values
        return values

    def say(self, text: str) -> None:
        self.out.write(self.show(text) + "\n")
        self.out.flush()

    def run(self, argv: Sequence[str], capture: bool = False) -> subprocess.CompletedProcess | None:
        """Prints `$ command`; runs it unless dry. With `capture` the output is returned, not streamed."""
        self.say("$ " + shlex.join(argv))
        if self.dry_run:
            return None
        if capture:
            return subprocess.run(list(argv), capture_output=True, text=True)
        proc = subprocess.Popen(list(argv), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for line in proc.stdout:
            self.out.write(self.show(line))
            self.out.flush()
        return subprocess.CompletedProcess(list(argv), proc.wait())


def forwarded_env(names: Sequence[str]) -> dict[str, str]:
    """The values of the variables a launch config forwards; a missing one is an error (not sent empty)."""
    missing = [n for n in names if n not in os.environ]
    if missing:
        raise ValueError(f"launch config forward_env names {missing}, which are not set in this environment")
    return {n: os.environ[n] for n in names}


def env_prefix(env: dict[str, str]) -> str:
    return " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())


def worker_command(python: str, args: Sequence[str], env: dict[str, str], cd: str | None = None) -> str:
    """A shell line for a remote host: cd DIR && K=V ... python -m launch.worker ARGS."""
    line = " ".join(filter(None, [env_prefix(env), shlex.join([python, "-m", "launch.worker", *args])]))
    return f"cd {cd} && {line}" if cd else line
