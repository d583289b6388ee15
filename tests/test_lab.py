"""`make lab` starts JupyterLab on notebooks/: shown by starting it and asking it for the notebook list."""
import subprocess
import sys
from pathlib import Path

LAB_CHECK = Path(__file__).with_name("lab_check.py")


def test_jupyterlab_answers_on_localhost_and_lists_the_notebooks():
    result = subprocess.run([sys.executable, str(LAB_CHECK)], capture_output=True, text=True, timeout=150)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "JupyterLab answered" in result.stdout and "00_start_here.ipynb" in result.stdout
