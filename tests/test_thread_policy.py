"""The thread policy (config.choose_threads / apply_thread_policy / large_work): what it picks for given core counts
and devices, that setup(), the command line and the benches apply it, that an explicit choice wins, and that bad
values are refused with the valid choices named. No timings here: bench/thread_policy.py measures the policy."""
import os
import subprocess
import sys

import pytest
import torch

import mmlesson
from mmlesson import cli, config

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(autouse=True)
def restore_torch_threads(monkeypatch):
    """Each test may change torch's count and the applied policy; put both back."""
    before = torch.get_num_threads()
    monkeypatch.setattr(config, "_APPLIED", config._APPLIED)
    yield
    torch.set_num_threads(before)


def run_python(code: str, **env) -> subprocess.CompletedProcess:
    environment = {key: value for key, value in os.environ.items() if key != "MMLESSON_THREADS"}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120,
                          env={**environment, "PYTHONPATH": REPO, **env})


@pytest.mark.parametrize("cores", [2, 4, 16])
def test_several_cores_run_on_one_thread_and_large_work_on_all(cores):
    policy = config.choose_threads(cores, "cpu")
    assert (policy.threads, policy.large_work_threads) == (1, cores)
    assert policy.reason.startswith(f"1 of {cores} cores") and "tiny models" in policy.reason


def test_one_core_is_one_thread_everywhere():
    policy = config.choose_threads(1, "cpu")
    assert (policy.threads, policy.large_work_threads) == (1, 1)


@pytest.mark.parametrize("device", ["cuda", "cuda:1", "mps"])
def test_on_a_gpu_the_reason_says_the_gpu_does_the_heavy_work(device):
    policy = config.choose_threads(8, device)
    assert policy.threads == 1 and "GPU" in policy.reason


@pytest.mark.parametrize("requested", [1, 3, "2", " 4 "])
def test_an_explicit_count_wins_everywhere(requested):
    policy = config.choose_threads(2, "cpu", requested=requested)
    count = int(str(requested).strip())
    assert (policy.threads, policy.large_work_threads) == (count, count) and "as asked" in policy.reason


@pytest.mark.parametrize("unset", [None, "auto", " AUTO ", ""])
def test_auto_or_nothing_leaves_the_choice_to_the_policy(unset):
    assert config.check_threads(unset) is None


@pytest.mark.parametrize("bad", [0, -2, 1.5, "two", True, "1.0"])
def test_bad_thread_counts_name_the_valid_choices(bad):
    with pytest.raises(ValueError, match="'auto'.*whole number of torch threads, 1 or more"):
        config.check_threads(bad, "threads")


def test_apply_sets_torch_threads_and_an_argument_beats_the_environment(monkeypatch):
    monkeypatch.setattr(config, "REQUESTED_THREADS", 3)
    assert config.apply_thread_policy(device="cpu").threads == 3 and torch.get_num_threads() == 3
    assert config.apply_thread_policy(2, device="cpu").threads == 2 and torch.get_num_threads() == 2
    monkeypatch.setattr(config, "REQUESTED_THREADS", None)
    assert config.apply_thread_policy("auto", device="cpu").threads == 1 and torch.get_num_threads() == 1


def test_large_work_uses_the_policys_count_then_restores(monkeypatch):
    monkeypatch.setattr(config, "_APPLIED", config.ThreadPolicy(1, 3, "test"))
    torch.set_num_threads(1)
    with config.large_work():
        assert torch.get_num_threads() == 3
    assert torch.get_num_threads() == 1


@pytest.mark.parametrize("free, expected", [(None, 3), (3, 3), (2, 2), (1, 1), (0, 1)])
def test_large_work_takes_only_the_free_cores_when_it_adapts(monkeypatch, free, expected):
    monkeypatch.setattr(config, "_APPLIED", config.ThreadPolicy(1, 3, "test", adapt_to_load=True))
    monkeypatch.setattr(config, "free_cores", lambda: free)
    torch.set_num_threads(1)
    with config.large_work():
        assert torch.get_num_threads() == expected
    with config.large_work(enabled=False):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == 1


def test_the_policy_adapts_to_load_but_an_explicit_count_does_not(monkeypatch):
    assert config.choose_threads(4).adapt_to_load and not config.choose_threads(4, requested=4).adapt_to_load
    monkeypatch.setattr(config, "_APPLIED", config.choose_threads(4, requested=3))
    monkeypatch.setattr(config, "free_cores", lambda: 1)
    with config.large_work():
        assert torch.get_num_threads() == 3


def test_free_cores_is_a_count_of_this_machines_cores_or_unknown():
    free = config.free_cores()
    assert free is None or 0 <= free <= config.torch_default_threads()


def test_large_work_without_a_policy_changes_nothing(monkeypatch):
    monkeypatch.setattr(config, "_APPLIED", None)
    torch.set_num_threads(2)
    with config.large_work():
        assert torch.get_num_threads() == 2
    assert torch.get_num_threads() == 2


def test_limit_threads_still_lowers_and_restores():
    torch.set_num_threads(2)
    with config.limit_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == 2


def test_setup_applies_the_policy_and_says_why_in_one_line(capsys, monkeypatch):
    monkeypatch.setattr(config, "REQUESTED_THREADS", None)
    mmlesson.setup(seed=0, threads=None)
    lines = [line for line in capsys.readouterr().out.splitlines() if line.strip().startswith("threads")]
    expected = config.choose_threads(config.torch_default_threads(), config.get_device())
    assert torch.get_num_threads() == expected.threads
    assert len(lines) == 1 and expected.reason in lines[0]


def test_setup_takes_an_explicit_count(capsys):
    mmlesson.setup(seed=0, threads=2)
    assert torch.get_num_threads() == 2 and "as asked" in capsys.readouterr().out


def test_setup_refuses_a_bad_count_before_changing_anything():
    torch.set_num_threads(2)
    with pytest.raises(ValueError, match="whole number of torch threads"):
        mmlesson.setup(threads=0)
    assert torch.get_num_threads() == 2


def record_threads(seen: dict):
    """A stand-in for the search command that records torch's thread count when the command runs."""
    return lambda args: seen.setdefault("threads", torch.get_num_threads()) and 0


def test_the_command_line_applies_the_policy_before_the_command(monkeypatch):
    seen = {}
    monkeypatch.setattr(config, "REQUESTED_THREADS", None)
    monkeypatch.setattr(cli, "search_command", record_threads(seen))  # the parser is built inside main
    torch.set_num_threads(2)
    assert cli.main(["search", "somewhere", "a red star"]) == 0
    assert seen["threads"] == config.choose_threads(config.torch_default_threads(), config.get_device()).threads


def test_the_command_line_threads_option_wins(monkeypatch):
    seen = {}
    monkeypatch.setattr(cli, "search_command", record_threads(seen))
    assert cli.main(["--threads", "2", "search", "somewhere", "a red star"]) == 0
    assert seen["threads"] == 2


def test_the_command_line_refuses_a_bad_threads_option(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--threads", "0", "search", "somewhere", "a red star"])
    assert "whole number of torch threads, 1 or more" in capsys.readouterr().err


def test_the_environment_variable_is_read_by_config_and_refused_clearly():
    chosen = run_python("import mmlesson, torch; mmlesson.setup(); print(torch.get_num_threads())",
                        MMLESSON_THREADS="2", MMLESSON_OFFLINE="1")
    assert chosen.returncode == 0, chosen.stderr
    assert chosen.stdout.strip().splitlines()[-1] == "2"
    refused = subprocess.run([sys.executable, "-m", "mmlesson", "search", "x", "y"], capture_output=True, text=True,
                             cwd=REPO, timeout=120, env={**os.environ, "PYTHONPATH": REPO, "MMLESSON_THREADS": "many"})
    assert refused.returncode != 0 and "Traceback" not in refused.stderr
    assert "MMLESSON_THREADS='many'" in refused.stderr and "'auto'" in refused.stderr


def test_benches_run_under_the_default_policy():
    bench = os.path.join(REPO, "bench")
    probe = run_python(f"import sys; sys.path.insert(0, {bench!r}); import _common, torch; "
                       "print(torch.get_num_threads(), _common.THREAD_POLICY.threads)", MMLESSON_OFFLINE="1")
    assert probe.returncode == 0, probe.stderr
    threads, policy_threads = probe.stdout.split()
    assert threads == policy_threads
    for script in ("generate_tiny.py", "strict_measure.py"):  # they used to pin two threads by hand
        assert "set_num_threads" not in open(os.path.join(bench, script)).read()
