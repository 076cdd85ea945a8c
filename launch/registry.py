"""Launch backends by name: `fn(launch_config, shell) -> exit code`."""
from personax.registry import Registry

LAUNCHERS = Registry("launcher")
