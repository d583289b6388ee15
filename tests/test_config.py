"""config.py: run modes, device choice, seeds; `python -m mmlesson doctor`."""
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

import mmlesson
from mmlesson import config

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_module(*args, **env):
    return subprocess.run([sys.executable, "-m", "mmlesson", *args], capture_output=True, text=True, cwd=REPO,
                          env={**os.environ, **env}, timeout=120)


def test_unknown_device_names_valid_choices():
    with pytest.raises(ValueError, match="cpu, cuda, mps"):
        config.check_device("tpu")


def test_cpu_is_always_usable_and_cuda_refused_without_gpu():
    assert config.get_device("cpu") == "cpu"
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA GPU"):
            config.get_device("cuda")


def test_seed_everything_repeats_all_generators():
    config.seed_everything(123)
    first = (np.random.rand(3), torch.rand(3))
    config.seed_everything(123)
    second = (np.random.rand(3), torch.rand(3))
    assert np.array_equal(first[0], second[0]) and torch.equal(first[1], second[1])


def test_quick_picks_the_size_for_the_mode():
    assert config.quick(1000, 10) == (10 if config.QUICK else 1000)


def test_cache_dir_is_created(tmp_path, monkeypatch):
    monkeypatch.setattr(config, "CACHE_DIR", tmp_path / "cache")
    assert config.cache_dir("indexes").is_dir()


def test_doctor_reports_and_exits_zero():
    result = run_module("doctor")
    assert result.returncode == 0, result.stderr
    assert "torchvision" in result.stdout and "all good" in result.stdout


@pytest.mark.parametrize("variable, value, expected", [
    ("MMLESSON_QUICK", "maybe", "use one of 1/0"),
    ("MMLESSON_DEVICE", "tpu", "choose one of cpu, cuda, mps"),
])
def test_doctor_bad_environment_value_is_one_clear_line(variable, value, expected):
    result = run_module("doctor", **{variable: value})
    assert result.returncode != 0
    assert expected in result.stderr and "Traceback" not in result.stderr


def test_setup_prints_device_mode_and_weights(capsys):
    device = mmlesson.setup(seed=0)
    printed = capsys.readouterr().out
    assert device in printed and "mode" in printed and "weights tiny-clip-shapes" in printed
