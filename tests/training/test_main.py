"""``python -m training``: overrides reach the run, bad input ends with ``error: …`` and exit code 2."""
from __future__ import annotations

import json
import re

import pytest
import yaml

from training.__main__ import main

from tests.training.factories import recipe_data


@pytest.fixture
def recipe_file(tmp_path, tiny_llama_dir, data_dir):
    data = recipe_data(data_dir, model={"model_name_or_path": str(tiny_llama_dir)},
                       training={"output_dir": str(tmp_path / "out")})
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_train_applies_command_line_overrides(recipe_file, capsys):
    assert main(["train", "--recipe", str(recipe_file), "--max_steps", "2", "--learning_rate", "1e-3"]) == 0
    out = capsys.readouterr().out
    printed = json.loads(out[out.index('{\n  "output_dir"'):])  # after the Trainer's own log lines
    assert printed["metrics"]["global_step"] == 2
    manifest = json.loads((recipe_file.parent / "out" / "training_manifest.json").read_text())
    assert manifest["recipe"]["training"]["learning_rate"] == 1e-3 and manifest["recipe_path"] == str(recipe_file)
    assert manifest["recipe"]["overrides"] == ["--max_steps", "2", "--learning_rate", "1e-3"]


@pytest.mark.parametrize("argv, message", [
    (["--mix", '{"corpus": 0.6, "eu": 0.2}'], "error: recipe .*shares must sum to 1"),
    (["--trianing_steps", "1"], "error: recipe .*unknown option --trianing_steps"),
    (["--max_steps", "many"], "error: recipe .*invalid int value: 'many'"),
])
def test_bad_train_input_is_reported_without_a_traceback(recipe_file, capsys, argv, message):
    assert main(["train", "--recipe", str(recipe_file), *argv]) == 2
    err = capsys.readouterr().err
    assert re.search(message, err) and "Traceback" not in err


def test_bad_instructions_options_are_reported(capsys, tmp_path):
    assert main(["instructions", "--model", str(tmp_path), "--out", "x.jsonl", "--backend", "llama.cpp"]) == 2
    assert "error: argument --backend: invalid choice: 'llama.cpp'" in capsys.readouterr().err


def test_other_subcommands_refuse_unknown_options():
    with pytest.raises(SystemExit) as exit_info:
        main(["prepare-smollm2", "--out", "x", "--learning_rate", "1"])
    assert exit_info.value.code == 2


@pytest.mark.django_db
@pytest.mark.parametrize("content, message", [
    ("{", r"training_manifest\.json is not valid JSON .*rerun the training or remove the file"),
    ("[1, 2]", r"training_manifest\.json is not a training manifest"),
    ('{"backbone": "x"}', r"training_manifest\.json is not a training manifest"),
])
def test_a_bad_manifest_is_reported_without_a_traceback(tmp_path, capsys, content, message):
    (tmp_path / "training_manifest.json").write_text(content)
    assert main(["register", str(tmp_path), "--name", "Broken run"]) == 2
    err = capsys.readouterr().err
    assert re.search(message, err) and "Traceback" not in err
