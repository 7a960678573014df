"""`python -m bench.reproduce`: the page renders from whatever records exist, says "not run yet" with the command
for the others and never shows a figure for weights this machine cannot obtain; --dry-run and --smoke keep the
command itself from rotting."""

import json
import subprocess

import pytest

from bench import reproduce, reproduce_recipes
from bench.reproduce_render import BEGIN, END, render

PROSE = f"# Reproducing\n\nHand-written prose.\n\n{BEGIN}\nold table\n{END}\n\nAfter the table.\n"


def _record(name: str, figure: float, **ours) -> dict:
    return {"recipe": name, "figure": figure, "ours": ours, "peer": None, "notes": ["a note"], "wall_s": 12.3,
            "commands": [f"python main.py fit --config configs/{name}.yaml"], "commit": "abcdef1234", "smoke": False,
            "date": "2026-12-04T05:00:00+00:00", "machine": "x86_64 2 CPU cores", "versions": {"torch": "2"}}


def test_render_fills_only_the_generated_part_and_marks_missing_rows(tmp_path):
    docs = tmp_path / "reproduction.md"
    docs.write_text(PROSE)
    mini = _record("mini_bert", 84.0, ms_per_optimizer_step=84.0, ms_per_micro_batch=21.0)
    render({"mini_bert": mini, "custom_mlm": {**_record("custom_mlm", 30.0), "stand_in": True}}, docs)
    text = docs.read_text()
    assert text.startswith("# Reproducing\n\nHand-written prose.") and text.endswith("After the table.\n")
    assert "old table" not in text
    rows = {line.split(" | ")[0]: line for line in text.splitlines() if line.startswith("| ")}
    assert "84.0 ms/step (21.0 per micro-batch)" in rows["| D. mini-BERT, 4,498,880 parameters"]
    assert "+14 (+20.0%)" in rows["| D. mini-BERT, 4,498,880 parameters"]  # against the reference's 70 ms
    assert "abcdef1" in rows["| D. mini-BERT, 4,498,880 parameters"]
    assert "stand-in: embedded MiniLM" in rows["| A. MLM fine-tuning, custom text"]
    for title, recipe in (("| B. BERT-mini from scratch, WikiText-2", "wikitext2"), ("| C. GLUE MRPC", "mrpc"),
                          ("| E. bert-tiny causal LM + BCE", "bce_lm")):
        assert "not run yet" in rows[title] and f"python -m bench.reproduce --recipe {recipe}" in rows[title]
    assert "--recipe mini_bert --peer`" in rows["| D. mini-BERT, 4,498,880 parameters"]  # no peer_requested: old
    for title in ("| C. with ModernBERT-base", "| A. with bert-base-uncased"):
        assert "not run: needs" in rows[title] and "--model.pretrained_model" in rows[title]


def test_a_record_made_without_the_peer_shows_its_own_command(tmp_path):
    docs = tmp_path / "reproduction.md"
    docs.write_text(PROSE)
    render({"wikitext2": {**_record("wikitext2", 440.0, val_perplexity=440.0), "peer_requested": False}}, docs)
    row = next(line for line in docs.read_text().splitlines() if line.startswith("| B. BERT-mini"))
    assert "`python -m bench.reproduce --recipe wikitext2`" in row and "not run yet (needs --peer)" in row


def test_a_peer_run_as_its_own_part_shows_its_own_time_and_commit(tmp_path):
    docs = tmp_path / "reproduction.md"
    docs.write_text(PROSE)
    peer_run = {"wall_s": 4000.0, "commands": ["python bench/mlm_quality_vs_hf.py --side peer"], "commit": "9876543210",
                "date": "2026-12-05T01:00:00+00:00", "machine": "x86_64 2 CPU cores", "versions": {}}
    record = {**_record("wikitext2", 440.0, val_perplexity=440.0), "peer_requested": True, "peer_run": peer_run,
              "peer": {"val_perplexity": 500.0, "label": "HF Trainer"}}
    render({"wikitext2": record}, docs)
    text = docs.read_text()
    row = next(line for line in text.splitlines() if line.startswith("| B. BERT-mini"))
    assert "12 s + peer 4000 s" in row and "abcdef1" in row and "peer: 9876543 " in row
    assert "val_perplexity 500.0 (HF Trainer)" in row
    assert "python bench/mlm_quality_vs_hf.py --side peer" in text.split(END)[0].split("### B.")[1]


def test_dry_run_runs_nothing_and_renders_existing_records(tmp_path, capsys):
    results, docs = tmp_path / "results", tmp_path / "docs.md"
    results.mkdir()
    (results / "bce_lm.json").write_text(json.dumps(_record("bce_lm", 19.5, val_perplexity=19.5, steps_per_s=30.1)))
    assert reproduce.main(["--dry-run", "--peer", "--results_dir", str(results), "--docs", str(docs)]) == 0
    assert "would run mrpc with its peer" in capsys.readouterr().out
    assert [p.name for p in results.iterdir()] == ["bce_lm.json"]
    assert "val perplexity 19.5; 30.1 steps/s" in docs.read_text()


@pytest.mark.slow
def test_smoke_budget_writes_a_complete_record(tmp_path):
    results, docs = tmp_path / "results", tmp_path / "docs.md"
    assert reproduce.main(["--recipe", "bce_lm", "--smoke", "--peer", "--results_dir", str(results), "--docs",
                           str(docs), "--workdir", str(tmp_path / "work")]) == 0
    record = json.loads((results / "bce_lm.json").read_text())
    assert record["smoke"] is True and record["figure"] > 1.0 and record["wall_s"] > 0
    assert record["peer"]["val_perplexity"] > 1.0 and record["peer_run"]["wall_s"] > 0
    assert record["peer_run"]["commands"][0].startswith(
        "python bench/causal_lm_vs_hf.py --peer_only our_recipe_bce ")  # recipe E trains on CE + BCE
    assert {row["split"] for row in record["ours"]["bce_on_off"]} == {"val", "val_small", "val_wikitext"}
    assert record["commands"][0].startswith("python main.py fit --config configs/tr_en_bce_lm.yaml")
    assert len(record["commit"]) >= 40 and record["versions"]["torch"]
    assert "(smoke budget)" in docs.read_text()


@pytest.mark.slow
@pytest.mark.parametrize("recipe, peer_figure", [("mrpc", "f1_mean"), ("wikitext2", "val_perplexity")])
def test_a_smoke_run_of_the_peer_reads_its_bench_output(recipe, peer_figure, tmp_path):
    """Each peer part parses a bench script's JSON line: only a real run shows the keys still match."""
    results = tmp_path / "results"
    assert reproduce.main(["--recipe", recipe, "--smoke", "--peer", "--results_dir", str(results), "--docs",
                           str(tmp_path / "docs.md"), "--workdir", str(tmp_path / "work")]) == 0
    record = json.loads((results / f"{recipe}.json").read_text())
    assert record["peer"][peer_figure] > 0 and record["peer_run"]["smoke"] is True


def _fake_recipes(monkeypatch, peer_fails: bool) -> dict:
    """Recipes that count their calls instead of training, and a fixed provenance."""
    calls = {"ours": 0, "peer": 0}

    def ours(budget):
        calls["ours"] += 1
        return {"figure": 1.5, "ours": {"val_perplexity": 1.5}, "peer": None, "notes": []}

    def peer(budget, record):
        calls["peer"] += 1
        if peer_fails:
            raise RuntimeError("the peer was interrupted")
        return {"peer": {"val_perplexity": 2.5, "label": "fake peer"}}

    monkeypatch.setattr(reproduce, "RECIPES", {"custom_mlm": reproduce_recipes.Recipe(ours, peer)})
    monkeypatch.setattr(reproduce, "provenance", lambda: {"commit": "c0ffee", "date": "2026-12-04T00:00:00",
                                                          "machine": "m", "versions": {}})
    return calls


def test_a_failed_peer_keeps_our_part_and_resume_runs_only_the_peer(tmp_path, monkeypatch, capsys):
    results, docs = tmp_path / "results", tmp_path / "docs.md"
    argv = ["--recipe", "custom_mlm", "--peer", "--results_dir", str(results), "--docs", str(docs)]
    calls = _fake_recipes(monkeypatch, peer_fails=True)
    assert reproduce.main(argv) == 1 and calls == {"ours": 1, "peer": 1}
    record = json.loads((results / "custom_mlm.json").read_text())
    assert record["figure"] == 1.5 and record["peer_requested"] is False and "peer_run" not in record
    assert [p.name for p in results.iterdir()] == ["custom_mlm.json"]  # no partial file left behind

    calls = _fake_recipes(monkeypatch, peer_fails=False)
    monkeypatch.setattr(reproduce, "stale_reason", lambda part, smoke: None)  # our part still measures this code
    assert reproduce.main([*argv, "--resume"]) == 0 and calls == {"ours": 0, "peer": 1}
    record = json.loads((results / "custom_mlm.json").read_text())
    assert record["peer"]["val_perplexity"] == 2.5 and record["peer_run"]["commit"] == "c0ffee"
    assert record["wall_s"] >= 0 and record["peer_run"]["wall_s"] >= 0 and record["peer_requested"] is True

    calls = _fake_recipes(monkeypatch, peer_fails=False)
    assert reproduce.main([*argv, "--resume"]) == 0 and calls == {"ours": 0, "peer": 0}  # both parts current
    assert reproduce.main(argv) == 0 and calls == {"ours": 1, "peer": 1}  # without --resume: everything again
    assert "keeping our part from c0ffee" in capsys.readouterr().out


def _commit(repo, message: str) -> str:
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", message], check=True)
    return subprocess.run([*git, "rev-parse", "HEAD"], check=True, capture_output=True, text=True).stdout.strip()


def test_a_part_is_stale_once_the_code_it_measured_changes(tmp_path, monkeypatch):
    repo = tmp_path / "repo"
    for name in ("models/model.py", "bench/reproduce_recipes.py", "bench/results/reproduce/x.json", "docs/page.md",
                 "tests/test_x.py"):
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text("first\n")
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    commit = _commit(repo, "first")
    monkeypatch.setattr(reproduce, "ROOT", repo)
    part = {"commit": commit, "smoke": False}
    for name in ("bench/reproduce_recipes.py", "bench/results/reproduce/x.json", "docs/page.md", "tests/test_x.py"):
        (repo / name).write_text("second\n")  # not measured code: the part stays current, committed or not
    assert reproduce.stale_reason(part, smoke=False) is None
    _commit(repo, "second")
    assert reproduce.stale_reason(part, smoke=False) is None
    assert "--smoke" in reproduce.stale_reason(part, smoke=True)
    assert "uncommitted" in reproduce.stale_reason({**part, "commit": commit + "+local changes"}, smoke=False)
    assert "not in this clone" in reproduce.stale_reason({**part, "commit": "0" * 40}, smoke=False)
    (repo / "models/model.py").write_text("second\n")
    assert "models/model.py" in reproduce.stale_reason(part, smoke=False)  # uncommitted change to measured code
    _commit(repo, "third")
    assert "models/model.py" in reproduce.stale_reason(part, smoke=False)


def test_only_the_bench_scripts_a_part_ran_count_as_its_code(tmp_path, monkeypatch):
    repo = tmp_path / "repo"
    (repo / "bench").mkdir(parents=True)
    (repo / "bench" / "peer_bench.py").write_text("import torch\nfrom timing import Clock\n")
    (repo / "bench" / "timing.py").write_text("import bench.mfu\n")
    for name in ("mfu.py", "ablation.py"):
        (repo / "bench" / name).write_text("first\n")
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    commit = _commit(repo, "first")
    monkeypatch.setattr(reproduce, "ROOT", repo)
    part = {"commit": commit, "smoke": False, "commands": ["python bench/peer_bench.py --steps 3"]}
    assert reproduce.bench_scripts_run(part["commands"]) == {"bench/peer_bench.py", "bench/timing.py",
                                                             "bench/mfu.py"}
    (repo / "bench" / "ablation.py").write_text("second\n")  # a bench this part never ran
    assert reproduce.stale_reason(part, smoke=False) is None
    without_commands = {key: value for key, value in part.items() if key != "commands"}  # an older record
    assert "bench/ablation.py" in reproduce.stale_reason(without_commands, smoke=False)
    (repo / "bench" / "mfu.py").write_text("second\n")  # imported by what it ran, two steps away
    assert "bench/mfu.py" in reproduce.stale_reason(part, smoke=False)


def test_the_last_step_is_the_runs_not_the_last_logged_training_loss(tmp_path):
    from torch.utils.tensorboard import SummaryWriter

    from bench.reproduce_runs import last_step

    writer = SummaryWriter(str(tmp_path))
    for step in (0, 50, 100):  # log_every_n_steps 50
        writer.add_scalar("train/loss", 1.0, step)
    writer.add_scalar("val/loss", 1.0, 136)  # end-of-epoch validation at the final step
    writer.close()
    assert last_step(tmp_path) == 136


def test_mrpc_details_show_every_seed_and_their_mean(tmp_path):
    docs = tmp_path / "reproduction.md"
    docs.write_text(PROSE)
    per_seed = {"0": {"accuracy": 0.8, "f1": 0.85}, "1": {"accuracy": 0.82, "f1": 0.87}}
    record = _record("mrpc", 0.81, accuracy_mean=0.81, accuracy_sd=0.0141, f1_mean=0.86, f1_sd=0.0141,
                     per_seed=per_seed)
    render({"mrpc": record}, docs)
    details = docs.read_text().split("### C. GLUE MRPC")[1]
    assert "| 0 | 0.8 | 0.85 |" in details and "| 1 | 0.82 | 0.87 |" in details
    assert "| mean ± sd | 0.81 ± 0.0141 | 0.86 ± 0.0141 |" in details


def test_the_mrpc_peer_runs_each_seed_once_in_its_fastest_setting_only():
    calls = []

    class RecordingBudget:
        smoke = False

        def bench(self, script, label, *args):
            calls.append(args)
            seed = int(args[args.index("--seeds") + 1])  # bench/mrpc_vs_hf.py's JSON line, one seed
            run = {"seed": seed, "dev_accuracy": 0.8, "dev_f1": 0.85, "wall_s": 300.0}
            return {"hf_trainer": {"summary": {"runs": 1, "dev_accuracy_mean": 0.8}, "seeds": [run]}}

    part = reproduce_recipes.mrpc_peer(RecordingBudget(), {})
    assert [args[args.index("--seeds") + 1] for args in calls] == ["0", "1", "2"]
    assert all("--no-pad-to-128-row" in args for args in calls)  # the slow reference row is not the recipe's peer
    assert part["peer"]["f1_mean"] == 0.85 and part["peer"]["f1_sd"] == 0.0
