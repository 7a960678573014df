"""Options that delete or replace files cannot destroy anything else: `export --overwrite true` deletes only a
directory an earlier export wrote (never a run, the current directory, a directory holding the checkpoint, one with
files export did not write, or anything through a symbolic link), and `lm-report --output` never replaces a file.

Each refusal is a bad-input case (`cli_helpers.run_bad_input`: exit 2, one `error:` line naming `--output_dir`,
nothing written or changed) and a row of README.md's bad-input table.
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
from collections import namedtuple
from pathlib import Path

import pytest
from cli_helpers import UserInputs, run_bad_input, write_small_text, write_tiny_mlm_config
from conftest import TINY_BERT

from foundation.leftovers import this_host
from lightning_app.cli import cli_main
from lightning_app.tools.export_target import MARKER

Case = namedtuple("Case", "command fragments")
RUN = Path("runs") / "custom_mlm" / "version_0"


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A real tiny masked-LM run (2 steps) and an export of its last checkpoint, made once for this module."""
    root = tmp_path_factory.mktemp("trained")
    write_small_text(root)
    config = write_tiny_mlm_config(root, root / "runs", dict(TINY_BERT), root / "small.txt")
    cli_main(["fit", "--config", str(config), "--trainer.max_steps", "2", "--trainer.limit_val_batches", "1"])
    cli_main(["export", "--ckpt_path", str(root / RUN / "checkpoints" / "last.ckpt"), "--output_dir",
              str(root / "earlier")])
    return root


def _run(u: UserInputs) -> str:
    """A copy of the trained run inside the test's directory (so the no-change check covers it); its last.ckpt."""
    if not (u.tmp / RUN).exists():
        shutil.copytree(u.trained() / RUN, u.tmp / RUN)
    return str(u.tmp / RUN / "checkpoints" / "last.ckpt")


def _earlier_export(u: UserInputs, extra: str | None = None) -> str:
    target = u.tmp / "inputs" / "exported"
    shutil.copytree(u.trained() / "earlier", target)
    if extra:
        (target / extra).write_bytes(b"not written by export")
    return str(target)


def _link_to_earlier_export(u: UserInputs) -> str:
    link = u.tmp / "inputs" / "link"
    target = _earlier_export(u)
    link.symlink_to(target, target_is_directory=True)
    return str(link)


def _here(u: UserInputs) -> str:
    u.monkeypatch.chdir(u.tmp)
    return "."


def export(u: UserInputs, output_dir: str, overwrite: bool = True) -> list[str]:
    ckpt = _run(u)
    return ["export", "--ckpt_path", ckpt, "--output_dir", output_dir] + (["--overwrite", "true"] if overwrite else [])


CASES = {
    "export --overwrite into the checkpoint's run directory": Case(
        lambda u: export(u, str(u.tmp / RUN)),
        ["--output_dir", "version_0 holds the checkpoint being exported", "last.ckpt", "pass a new directory"]),
    "export --overwrite into the folder of all runs": Case(
        lambda u: export(u, str(u.tmp / "runs")),
        ["--output_dir", "runs holds the checkpoint being exported", "pass a new directory"]),
    "export --overwrite into the current directory": Case(
        lambda u: export(u, _here(u)), ["--output_dir . is the current directory", "pass a new directory"]),
    "export --overwrite into a symbolic link": Case(
        lambda u: export(u, _link_to_earlier_export(u)),
        ["--output_dir", "link is a symbolic link", "never writes or deletes through a link"]),
    "export --overwrite into a directory export did not write": Case(
        lambda u: export(u, str(Path(u.file("exported/notes.txt", "keep me\n")).parent)),
        ["--output_dir", "exported is not empty and was not written by export (notes.txt)",
         "--overwrite only replaces an earlier export"]),
    "export --overwrite into an earlier export with a checkpoint added": Case(
        lambda u: export(u, _earlier_export(u, extra="last.ckpt")),
        ["--output_dir", "holds an earlier export plus files export did not write (last.ckpt)"]),
    "export into an earlier export without --overwrite": Case(
        lambda u: export(u, _earlier_export(u), overwrite=False),
        ["--output_dir", "holds an earlier export", "pass --overwrite true to replace it"]),
    "export --ckpt_path last without --config": Case(
        lambda u: ["export", "--ckpt_path", "last", "--output_dir", str(u.tmp / "exported")],
        ["--ckpt_path last needs --config", "pass the path of a .ckpt file"]),
    "lm-report --output that already exists": Case(
        lambda u: ["lm-report", "examples", "--ckpt_path", _run(u), "--output", u.file("report.json", "{}\n")],
        ["--output", "report.json already exists", "never replaces a file", "pass a new file name"]),
}


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_refused(case, tmp_path, tiny_bert, small_text, shared_data, monkeypatch, capsys, request,
                        bad_input_table):
    command, fragments = CASES[case]
    inputs = UserInputs(tmp_path, tiny_bert, small_text, shared_data, monkeypatch,
                        trained=lambda: request.getfixturevalue("trained"))
    argv = command(inputs)
    message = run_bad_input(capsys, argv, tmp_path)
    assert all(fragment in message for fragment in fragments), message
    assert not (tmp_path / RUN).exists() or (tmp_path / RUN / "checkpoints" / "last.ckpt").is_file()
    bad_input_table.record(case, inputs.command(argv), message)


def test_overwrite_replaces_an_earlier_export_and_leaves_nothing_beside_it(tmp_path, trained):
    target = tmp_path / "exported"
    shutil.copytree(trained / "earlier", target)
    os.utime(target / "model.safetensors", (0, 0))
    cli_main(["export", "--ckpt_path", str(trained / RUN / "checkpoints" / "last.ckpt"), "--output_dir",
              str(target), "--overwrite", "true"])
    assert (target / "model.safetensors").stat().st_mtime > 0  # rewritten, not the old file
    assert (target / MARKER).is_file() and (target / "README.md").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exported"]  # no partial or replaced directory left


def test_a_failed_write_keeps_the_earlier_export_and_says_so(tmp_path, trained, monkeypatch, capsys):
    target = tmp_path / "exported"
    shutil.copytree(trained / "earlier", target)
    before = {p.name: p.read_bytes() for p in target.iterdir()}
    real_replace = Path.replace

    def full_disk(self, destination):
        if Path(destination) == target:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_replace(self, destination)

    monkeypatch.setattr(Path, "replace", full_disk)
    with pytest.raises(SystemExit) as stop:
        cli_main(["export", "--ckpt_path", str(trained / RUN / "checkpoints" / "last.ckpt"), "--output_dir",
                  str(target), "--overwrite", "true"])
    assert stop.value.code == 2
    assert "No space left on device" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in target.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exported"]


def test_a_half_written_export_of_a_killed_export_is_removed_and_nothing_else(tmp_path, trained):
    gone = subprocess.Popen(["true"])
    gone.wait()  # its process id no longer runs, like that of an export killed half-way
    for folder in (tmp_path / f".exported.partial-{gone.pid}", tmp_path / ".other.partial-1"):
        folder.mkdir()
        (folder / "model.safetensors").write_bytes(b"half")
    cli_main(["export", "--ckpt_path", str(trained / RUN / "checkpoints" / "last.ckpt"), "--output_dir",
              str(tmp_path / "exported")])
    assert sorted(p.name for p in tmp_path.iterdir()) == [".other.partial-1", "exported"]


def test_an_earlier_export_hidden_by_an_export_killed_between_its_renames_is_put_back(tmp_path, trained, capsys):
    gone = subprocess.Popen(["true"])
    gone.wait()  # the export killed after moving the earlier export aside, before renaming the new one in
    aside = tmp_path / f".exported.replaced-{this_host()}-{gone.pid}"
    shutil.copytree(trained / "earlier", aside)
    (tmp_path / f".exported.partial-{this_host()}-{gone.pid}").mkdir()  # its new export, unfinished
    before = {p.name: p.read_bytes() for p in aside.iterdir()}
    with pytest.raises(SystemExit) as stop:  # without --overwrite: the earlier export is back, so it is kept
        cli_main(["export", "--ckpt_path", str(trained / RUN / "checkpoints" / "last.ckpt"), "--output_dir",
                  str(tmp_path / "exported")])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and "holds an earlier export; pass --overwrite true" in err
    assert f"put back the earlier export {tmp_path / 'exported'} from {aside.name}" in err
    assert {p.name: p.read_bytes() for p in (tmp_path / "exported").iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exported"]
