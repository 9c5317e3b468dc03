"""trainers.translate: a folder of images in, one PNG per usable image out, named after the input."""

import os
import subprocess
import sys

import numpy as np
from PIL import Image

from keras_cartoon.models.cyclegan_generators import resnet_generator
from tests.conftest import REPO_ROOT


def _write_inputs(folder):
    rng = np.random.default_rng(0)
    (folder / "nested").mkdir(parents=True)
    Image.fromarray(rng.integers(0, 255, (50, 40, 4), dtype=np.uint8), "RGBA").save(folder / "face.png")
    Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(folder / "nested" / "other.jpg")
    (folder / "notes.png").write_text("not an image")


def _run_translate(*args):
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    return subprocess.run(
        [sys.executable, "-m", "trainers.translate", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_translate_folder_writes_pngs(tmp_path):
    generator_path = tmp_path / "generator_a2b.keras"
    resnet_generator(image_size=32, filters=4, num_residual_blocks=1).save(generator_path)
    _write_inputs(tmp_path / "inputs")
    output_dir = tmp_path / "outputs"

    result = _run_translate(f"--generator={generator_path}", f"--input={tmp_path / 'inputs'}", f"--output_dir={output_dir}")

    assert result.returncode == 0, result.stderr[-2000:]
    written = sorted(p.relative_to(output_dir).as_posix() for p in output_dir.rglob("*.png"))
    assert written == ["face.png", "nested/other.png"]
    with Image.open(output_dir / "face.png") as image:
        assert image.size == (32, 32)
        assert image.mode == "RGB"


def test_translate_missing_input_names_flag(tmp_path):
    generator_path = tmp_path / "generator.keras"
    resnet_generator(image_size=32, filters=4, num_residual_blocks=0).save(generator_path)

    result = _run_translate(f"--generator={generator_path}", f"--input={tmp_path / 'absent'}", f"--output_dir={tmp_path}")

    assert result.returncode != 0
    assert "--input" in result.stderr
    assert "Traceback" not in result.stderr
