"""The ``guard`` command. Each area registers its own click group; this module only wires them."""

from __future__ import annotations

import os

import click

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@click.group()
@click.version_option(package_name="guard")
def main() -> None:
    """guard: an OpenAI-compatible proxy that keeps LLM answers honest."""


def _register() -> None:
    from guard.commands import serve, policy_cmd, keys_cmd

    main.add_command(serve.serve)
    main.add_command(serve.up)
    main.add_command(policy_cmd.policy)
    main.add_command(keys_cmd.keys)
    optional = [
        ("guard.knowledge.cli", "index"),
        ("guard.checks.cli", "check"),
        ("guard.checks.cli", "eval_cmd"),
        ("guard.training.cli", "calibrate"),
        ("guard.training.cli", "train"),
        ("review_queue.cli", "review"),
        ("guard.commands.knowledge_cmd", "knowledge"),
        ("guard.probe.cli", "probe"),
    ]
    import importlib

    for module, attr in optional:
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as e:
            if e.name and (e.name == module or module.startswith(e.name + ".")):
                continue  # that area is not built yet
            raise
        main.add_command(getattr(mod, attr))


_register()


if __name__ == "__main__":  # python -m guard.cli, as python -m guard
    main()
