"""Each task's export loads with `transformers.pipeline` under the newest installed transformers and under the lowest
version pyproject.toml allows, and both give the same answers (masked LM -> fill-mask, MRPC classifier ->
text-classification with sentence pairs, causal LM -> text-generation).

The old version is installed by this test with `pip install --target` into a user cache directory (never the
project or the environment) and loaded in a subprocess with that directory first on PYTHONPATH, run from a folder
outside the project: the export must load without this project's code.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from cli_helpers import PROJECT_ROOT, write_tiny_causal_config, write_tiny_mlm_config, write_tiny_mrpc_config

from lightning_app.cli import cli_main

LOWEST = re.search(r'"transformers>=([\d.]+)', (PROJECT_ROOT / "pyproject.toml").read_text()).group(1)
PAIR = {"text": "The cat sat on the mat.", "text_pair": "A cat was sitting on the mat."}
LOAD = """
import json, sys
import transformers
from transformers import pipeline

exports = json.loads(sys.argv[1])
fill = pipeline("fill-mask", model=exports["mlm"], device="cpu")("the king is [MASK].", top_k=3)
classify = pipeline("text-classification", model=exports["mrpc"], device="cpu")
scores = classify(json.loads(sys.argv[2]), function_to_apply="none", top_k=None)
generate = pipeline("text-generation", model=exports["causal"], device="cpu")
text = generate("Translate to Turkish: I am here.\\n", max_new_tokens=6, do_sample=False)[0]["generated_text"]
print(json.dumps({"version": transformers.__version__, "fill": [[r["token_str"], r["score"]] for r in fill],
                  "classify": {r["label"]: r["score"] for r in scores}, "generate": text}))
"""


def _old_transformers() -> Path:
    """transformers=={LOWEST} (and the tokenizers/huggingface_hub it needs) in a cache directory, installed once."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "lightning-bert-toolkit"
    site = cache / f"transformers-{LOWEST}"
    if (site / "transformers" / "__init__.py").is_file():
        return site
    partial = cache / f".transformers-{LOWEST}.partial-{os.getpid()}"
    try:
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--target",
                        str(partial), f"transformers=={LOWEST}"], check=True, timeout=1200)
        partial.replace(site)  # the cache holds a complete install or none
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return site


def _load(exports: dict[str, str], cwd: Path, site: Path | None) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1", **({"PYTHONPATH": str(site)} if site else {}))
    done = subprocess.run([sys.executable, "-c", LOAD, json.dumps(exports), json.dumps(PAIR)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_every_task_exports_for_the_oldest_and_newest_transformers(tmp_path, tiny_bert, small_text, shared_data):
    import transformers

    site = _old_transformers()
    configs = {"mlm": write_tiny_mlm_config(tmp_path, tmp_path / "runs", tiny_bert, small_text, max_steps=2),
               "causal": write_tiny_causal_config(tmp_path, shared_data)}
    (tmp_path / "mrpc").mkdir()
    configs["mrpc"] = write_tiny_mrpc_config(tmp_path / "mrpc", tiny_bert, shared_data)
    exports = {}
    for task, config in configs.items():
        fit = cli_main(["fit", "--config", str(config), "--trainer.max_steps", "3"])
        exports[task] = str(tmp_path / "exports" / task)
        cli_main(["export", "--ckpt_path", fit.trainer.checkpoint_callback.dirpath + "/last.ckpt", "--output_dir",
                  exports[task]])
        assert (Path(exports[task]) / "README.md").is_file()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    old, new = _load(exports, elsewhere, site), _load(exports, elsewhere, None)

    assert old["version"].startswith(LOWEST) and new["version"] == transformers.__version__
    assert [token for token, _ in old["fill"]] == [token for token, _ in new["fill"]]
    for (_, old_score), (_, new_score) in zip(old["fill"], new["fill"]):
        assert old_score == pytest.approx(new_score, abs=1e-5)
    assert set(old["classify"]) == set(new["classify"]) == {"equivalent", "not_equivalent"}
    for label, score in new["classify"].items():
        assert old["classify"][label] == pytest.approx(score, abs=1e-5)
    assert old["generate"] == new["generate"] and len(new["generate"]) > len("Translate to Turkish: I am here.\n")
