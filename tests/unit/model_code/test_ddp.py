import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from model_code.data.synthetic import write_dataset

REPO = Path(__file__).resolve().parents[3]


@pytest.mark.slow
def test_torchrun_two_cpu_ranks_train_data_parallel_and_rank_0_writes_the_model(tmp_path):
    write_dataset("circrna", tmp_path / "train", n_per_class=30, seed=1, length_range=(100, 200))
    model_dir = tmp_path / "model"
    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent))
    assert torchrun is not None
    argv = ["--preset", "circrna", "--train", str(tmp_path / "train"), "--model-dir", str(model_dir)]
    argv += ["--max-steps", "2", "--batch-size", "8", "--validation-fraction", "0.2", "--max-length", "67"]
    argv += ["--hidden-size", "32", "--num-hidden-layers", "1", "--num-attention-heads", "2"]
    result = subprocess.run(
        [torchrun, "--standalone", "--nproc_per_node", "2", "-m", "model_code.train", *argv],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-4000:]
    finished = re.findall(r"rank (\d) of 2: training finished \((\w+)\)", log)
    assert sorted(finished) == [("0", "distributed"), ("1", "distributed")]
    assert re.findall(r"rank (\d) of 2: wrote the model", log) == ["0"]
    # 48 training examples, 8 per rank and step, 2 ranks: 3 steps an epoch, so 2 steps reach 2/3 of one.
    # One evaluation, reported once: only rank 0 prints metric lines.
    validation_lines = re.findall(r"seqserve_metric validation:loss=.* train:epoch=([\d.]+);", result.stdout)
    assert validation_lines == ["0.666667"]
    assert (model_dir / "model.safetensors").is_file() and (model_dir / "evaluation.json").is_file()
    assert not model_dir.with_name("model.checkpoints").exists()
