"""`python -m mmlesson generate --method dalle|unclip`, `train-dalle`, `train-unclip` and `train-vqgan --model`:
outputs and bad-input messages."""
from __future__ import annotations

import pytest

from mmlesson import checkpoints, cli, dalle, unclip
from mmlesson.cli import main

needs_dalle = pytest.mark.skipif(dalle.CHECKPOINTS["tiny-shapes"] not in checkpoints.registry(),
                                 reason="the mini DALL-E is not bundled (python -m mmlesson train-dalle --register)")
needs_unclip = pytest.mark.skipif(unclip.CHECKPOINT not in checkpoints.registry(),
                                  reason="the unCLIP is not bundled (python -m mmlesson train-unclip --register)")


@pytest.mark.parametrize("argv, option", [
    (["generate", "a red star", "--method", "dalle", "--samples", "0"], "--samples"),
    (["generate", "a red star", "--method", "unclip", "--samples", "-3"], "--samples"),
    (["generate", "a red star", "--samples", "two"], "--samples"),
    (["train-dalle", "--steps", "0"], "--steps"),
    (["train-unclip", "--batch-size", "-1"], "--batch-size"),
])
def test_the_parser_refuses_bad_counts_before_anything_runs(argv, option, tmp_path, capsys):
    with pytest.raises(SystemExit) as exited:
        main(argv + ["--out", str(tmp_path / "out")])
    error = capsys.readouterr().err
    assert exited.value.code == 2 and option in error and "1 or more" in error and "Traceback" not in error
    assert not (tmp_path / "out").exists()  # nothing ran, nothing saved


def test_an_empty_prompt_is_one_clear_line(capsys):
    assert main(["generate", "   ", "--method", "dalle"]) == 2
    error = capsys.readouterr().err
    assert "non-empty" in error and "Traceback" not in error


def test_unknown_method_lists_the_choices(capsys):
    with pytest.raises(SystemExit):
        main(["generate", "a red star", "--method", "dall-e-3"])
    error = capsys.readouterr().err
    assert "choose from" in error and all(method in error for method in cli.GENERATE_METHODS)


def test_generate_defaults_to_vqgan_clip_and_dispatches_by_method(monkeypatch):
    called = []
    for method in ("_generate_vqgan_clip", "_generate_dalle", "_generate_unclip"):
        monkeypatch.setattr(cli, method, lambda args, method=method: called.append((method, args.samples)) or 0)
    assert main(["generate", "a red star"]) == 0
    assert main(["generate", "a red star", "--method", "dalle", "--samples", "3"]) == 0
    assert main(["generate", "a red star", "--method", "unclip"]) == 0
    assert called == [("_generate_vqgan_clip", None), ("_generate_dalle", 3), ("_generate_unclip", None)]


def test_train_vqgan_refuses_an_unknown_model_by_listing_the_recipes(capsys):
    assert main(["train-vqgan", "--model", "tiny-shapes-4x4", "--steps", "2"]) == 2
    error = capsys.readouterr().err
    assert "tiny-shapes-4x4" in error and "tiny-shapes-8x8" in error and "Traceback" not in error


def test_train_vqgan_refuses_both_discriminator_flags(capsys, tmp_path):
    argv = ["train-vqgan", "--discriminator", "--no-discriminator", "--steps", "2", "--out", str(tmp_path / "v.st")]
    assert main(argv) == 2
    error = capsys.readouterr().err
    assert "contradict" in error and "Traceback" not in error and not (tmp_path / "v.st").exists()


@needs_dalle
def test_generate_with_dalle_saves_a_png_and_prints_the_strict_verdict(tmp_path, capsys):
    assert main(["generate", "a red star", "--method", "dalle", "--samples", "2", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert (tmp_path / "a_red_star.png").exists()
    assert "best of 2" in out and "strict measure:" in out


@needs_unclip
def test_generate_with_unclip_saves_a_png_and_prints_the_strict_verdict(tmp_path, capsys):
    assert main(["generate", "a blue circle", "--method", "unclip", "--samples", "2", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert (tmp_path / "a_blue_circle.png").exists()
    assert "best of 2" in out and "strict measure:" in out and "not DALL-E 2's diffusion decoder" in out


def test_samples_sets_the_restarts_of_vqgan_clip(monkeypatch, tmp_path, capsys):
    from mmlesson import generate as generation

    restarts, original = [], generation.generate
    monkeypatch.setattr(generation, "generate",
                        lambda prompt, clip, vqgan, config: restarts.append(config.restarts) or
                        original(prompt, clip, vqgan, config))
    argv = ["generate", "a red star", "--preset", "tiny", "--steps", "2", "--samples", "2", "--out", str(tmp_path)]
    assert main(argv) == 0
    assert restarts == [2] and "strict measure ('a red star'): " in capsys.readouterr().out
