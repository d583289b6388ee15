"""`python -m mmlesson generate --method dalle` and `train-dalle`: outputs and bad-input messages."""
from __future__ import annotations

import pytest

from mmlesson import checkpoints, dalle
from mmlesson.cli import main

needs_dalle = pytest.mark.skipif(dalle.CHECKPOINTS["tiny-shapes"] not in checkpoints.registry(),
                                 reason="the mini DALL-E is not bundled (python -m mmlesson train-dalle --register)")


@pytest.mark.parametrize("argv, message", [
    (["generate", "a red star", "--method", "dalle", "--samples", "0"], "--samples must be 1 or more"),
    (["generate", "a red star", "--method", "dalle", "--samples", "-3"], "--samples must be 1 or more"),
    (["generate", "   ", "--method", "dalle"], "non-empty"),
    (["train-dalle", "--steps", "0"], "--steps must be 1 or more"),
])
def test_bad_input_is_one_clear_line(argv, message, capsys):
    assert main(argv) == 2
    error = capsys.readouterr().err
    assert message in error and "Traceback" not in error


def test_unknown_method_lists_the_choices(capsys):
    with pytest.raises(SystemExit):
        main(["generate", "a red star", "--method", "dall-e-3"])
    assert "choose from" in capsys.readouterr().err


@needs_dalle
def test_generate_with_dalle_saves_a_png_and_prints_the_strict_verdict(tmp_path, capsys):
    assert main(["generate", "a red star", "--method", "dalle", "--samples", "2", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert (tmp_path / "a_red_star.png").exists()
    assert "best of 2" in out and "strict measure:" in out
