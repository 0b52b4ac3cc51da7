"""The experiment runner: results files, the comparison table, the shared training cache."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from zfnet.io import checkpoint as ckpt
from zfnet.repro import reproduce as rep
from zfnet import train
from conftest import tiny_config, toy_dataset

FAKE = '''
def run(ctx):
    ctx.params["answer"] = 42
    ctx.write_csv("numbers.csv", ["a", "b"], [[1, 0.5]])
    return {"value": %r, "summary": %r}
'''
README = "# experiments\n\nintro\n\n%s\nold row\n%s\n\nafter\n" % (rep.TABLE_START, rep.TABLE_END)


def _fake_tree(root, summaries):
    os.makedirs(str(root), exist_ok=True)
    with open(os.path.join(str(root), "README.md"), "w") as f:
        f.write(README)
    for name, (value, summary) in summaries.items():
        d = os.path.join(str(root), name)
        os.makedirs(d)
        with open(os.path.join(d, "run.py"), "w") as f:
            f.write(FAKE % (value, summary))


GOOD = {"paper": "x is 1.0", "ours": "x is 0.9 | close", "holds": "partly", "deviation": "toy data"}


def test_reproduce_writes_results_and_the_table(tmp_path, monkeypatch):
    root = tmp_path / "experiments"
    _fake_tree(root, {"alpha": (1.5, GOOD), "beta": (2, GOOD)})
    monkeypatch.setenv("ZFNET_EXPERIMENTS_DIR", str(root))
    (root / "alpha" / "README.md").write_text("# alpha\n%s\nstale\n%s\nwhy\n" % (rep.RESULTS_START,
                                                                                 rep.RESULTS_END))
    assert rep.experiment_names() == ["alpha", "beta"]
    doc = rep.reproduce("alpha", log=lambda *a: None)
    own = (root / "alpha" / "README.md").read_text()
    assert "stale" not in own and own.startswith("# alpha\n") and own.endswith("\nwhy\n")
    assert "| ours | x is 0.9 \\| close |" in own and "| holds here? | partly |" in own
    with open(root / "alpha" / "results" / "results.json") as f:
        saved = json.load(f)
    assert saved == json.loads(json.dumps(doc))
    assert saved["results"] == {"value": 1.5} and saved["params"]["answer"] == 42
    assert saved["command"] == "python -m zfnet reproduce alpha"
    assert (root / "alpha" / "results" / "numbers.csv").read_text() == "a,b\n1,0.5\n"
    text = (root / "README.md").read_text()
    assert "old row" not in text and text.startswith("# experiments\n\nintro") and text.endswith("after\n")
    rows = [l for l in text.splitlines() if l.startswith("| [")]
    assert rows[0] == ("| [alpha](alpha/) | `python -m zfnet reproduce alpha` | x is 1.0 | "
                       "x is 0.9 \\| close | partly | toy data |")
    assert "not run yet" in rows[1]  # beta has no results
    # --table: both READMEs rebuilt from results.json alone, nothing run
    (root / "alpha" / "README.md").write_text(own.replace("x is 0.9", "edited by hand"))
    (root / "README.md").write_text(README)
    rep.refresh_readmes()
    assert (root / "alpha" / "README.md").read_text() == own
    assert "| [alpha](alpha/) |" in (root / "README.md").read_text()


def test_the_readme_prose_reads_the_json_as_written(tmp_path, monkeypatch):
    """A result keyed by ints (a dict of classes per count, say) is written to results.json with
    string keys; the README's numbers are rendered from that file, so a pointer like /by/6 works."""
    root = tmp_path / "experiments"
    _fake_tree(root, {"alpha": ({6: 0.25, 12: 0.5}, GOOD)})
    monkeypatch.setenv("ZFNET_EXPERIMENTS_DIR", str(root))
    marker = "<!--= .0%% | j('/results/value/%s') -->?<!--/=-->"
    (root / "alpha" / "README.md").write_text("# alpha\n%s\n%s\nsix: %s, twelve: %s\n" % (
        rep.RESULTS_START, rep.RESULTS_END, marker % 6, marker % 12))
    rep.reproduce("alpha", log=lambda *a: None)
    own = (root / "alpha" / "README.md").read_text()
    assert own.endswith("six: %s, twelve: %s\n" % ((marker % 6).replace("?", "25%"),
                                                    (marker % 12).replace("?", "50%")))


def test_quick_runs_never_touch_committed_results(tmp_path, monkeypatch):
    root = tmp_path / "experiments"
    _fake_tree(root, {"alpha": (1, GOOD)})
    monkeypatch.setenv("ZFNET_EXPERIMENTS_DIR", str(root))
    monkeypatch.setenv("ZFNET_RUNS_DIR", str(tmp_path / "runs"))
    doc = rep.reproduce("alpha", quick=True, log=lambda *a: None)
    assert doc["command"].endswith("--quick") and doc["params"]["quick"] is True
    assert (tmp_path / "runs" / "quick" / "alpha" / "results.json").exists()
    assert not (root / "alpha" / "results").exists()
    assert "old row" in (root / "README.md").read_text()


def test_bad_experiments_are_named(tmp_path, monkeypatch):
    root = tmp_path / "experiments"
    _fake_tree(root, {"alpha": (1, {"paper": "p"})})
    monkeypatch.setenv("ZFNET_EXPERIMENTS_DIR", str(root))
    with pytest.raises(ValueError, match=r"Unknown experiment 'gamma'.*\['alpha'\]"):
        rep.reproduce("gamma")
    with pytest.raises(ValueError, match=r"alpha returned a summary without \['ours', 'holds', 'deviation'\]"):
        rep.reproduce("alpha", log=lambda *a: None)
    (root / "README.md").write_text("no markers")
    with pytest.raises(ValueError, match="no results markers"):
        rep.write_summary_table()


def test_cli_lists_and_rejects(tmp_path):
    env = dict(os.environ, ZFNET_EXPERIMENTS_DIR=str(tmp_path / "experiments"))
    _fake_tree(tmp_path / "experiments", {"alpha": (1, GOOD)})
    out = subprocess.run([sys.executable, "-m", "zfnet", "reproduce", "--list"], env=env,
                         capture_output=True, text=True)
    assert out.returncode == 0 and "alpha" in out.stdout and "no results yet" in out.stdout
    bad = subprocess.run([sys.executable, "-m", "zfnet", "reproduce", "nope"], env=env,
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "Unknown experiment 'nope'" in bad.stderr and "alpha" in bad.stderr


def test_the_real_experiments_are_all_listed():
    names = rep.experiment_names()
    for n in ["fig2_top9", "fig4_evolution", "fig5_invariance", "fig6_filters", "fig7_occlusion",
              "tab1_correspondence", "tab2_error", "tab3_ablation", "tab4_transfer", "tab7_layers"]:
        assert n in names
        assert os.path.isfile(os.path.join(rep.experiments_dir(), n, "README.md")), n


def test_trained_runs_are_cached_by_content(tmp_path, monkeypatch):
    monkeypatch.setenv("ZFNET_RUNS_DIR", str(tmp_path))
    ctx = rep.Context("t", str(tmp_path / "out"), log=lambda *a: None, progress=False)
    ds = toy_dataset(n_train=96, n_test=30)
    s = train.TrainSettings(epochs=1, batch_size=32, lr=0.05, val_size=16, seed=0)
    a = ctx.trained("toy", tiny_config(), s, ds)
    stamp = os.path.getmtime(os.path.join(a, "final", "model.npz"))
    assert ctx.trained("toy", tiny_config(), s, ds) == a  # reused, not retrained
    assert os.path.getmtime(os.path.join(a, "final", "model.npz")) == stamp
    s2 = train.TrainSettings(epochs=1, batch_size=32, lr=0.02, val_size=16, seed=0)
    b = ctx.trained("toy", tiny_config(), s2, ds)  # other settings: another folder
    assert b != a and os.path.basename(b).startswith("toy-")


def test_short_protocol_equals_the_base_run_at_that_epoch(tmp_path):
    """The identity the experiments rely on to reuse the base run's checkpoint."""
    ds = toy_dataset(n_train=96, n_test=30)
    base = train.TrainSettings(epochs=3, batch_size=32, lr=0.05, val_size=16, seed=0,
                               schedule="step", step_size=3, keep=(1, 2, 3))
    short = train.TrainSettings(epochs=2, batch_size=32, lr=0.05, val_size=16, seed=0,
                                schedule="none", keep=(2,))
    quiet = dict(progress=False, log=lambda *a: None)
    train.train(tiny_config(), ds, base, str(tmp_path / "base"), **quiet)
    train.train(tiny_config(), ds, short, str(tmp_path / "short"), **quiet)
    _, a = ckpt.read_checkpoint(str(tmp_path / "base" / "checkpoints" / "epoch-002"))
    _, b = ckpt.read_checkpoint(str(tmp_path / "short" / "final"))
    assert sorted(a) == sorted(b)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
    _, c = ckpt.read_checkpoint(str(tmp_path / "base" / "final"))
    assert not np.array_equal(a["conv1.W"], c["conv1.W"])  # epoch 3 moved on


def test_base_and_short_settings_agree_until_the_lr_drop(tmp_path):
    for quick in (False, True):
        ctx = rep.Context("t", str(tmp_path), quick=quick)
        b, s = rep.base_settings(quick), rep.short_settings_for(ctx)
        assert s.epochs <= b.step_size and s.schedule == "none"
        assert s.epochs in b.keep
        diff = {k for k in b.to_dict() if b.to_dict()[k] != s.to_dict()[k]}
        assert diff <= {"epochs", "schedule", "keep"}, diff


def test_table_has_a_row_per_paper_item_in_order(tmp_path, monkeypatch):
    root = tmp_path / "experiments"
    _fake_tree(root, {"alpha": (1, GOOD), "beta": (2, GOOD), "gamma": (3, GOOD)})
    for name, items in (("alpha", '["Fig. 8", "Table 1"]'), ("beta", '["Fig. 2"]')):
        run_py = root / name / "run.py"
        run_py.write_text("PAPER_ITEMS = %s\n" % items + run_py.read_text())
    monkeypatch.setenv("ZFNET_EXPERIMENTS_DIR", str(root))
    text = rep.summary_table(str(root))
    items = [l.split(" | ")[0][2:] for l in text.splitlines() if l.startswith("| Fig.") or l.startswith("| Table")]
    assert items == rep.PAPER_ORDER                      # every figure and table, in the paper's order
    lines = text.splitlines()
    assert lines[lines.index(next(l for l in lines if l.startswith("| Fig. 8")))].startswith("| Fig. 8 | [alpha](alpha/)")
    assert next(l for l in lines if l.startswith("| Table 1")).startswith("| Table 1 | [alpha](alpha/)")
    assert next(l for l in lines if l.startswith("| Fig. 1 |")).endswith("| not covered | |")
    beyond = text.split("Beyond the paper")[1]
    assert "[gamma](gamma/)" in beyond and "[alpha]" not in beyond
    (root / "gamma" / "run.py").write_text('PAPER_ITEMS = ["Fig. 10"]\n')
    with pytest.raises(ValueError, match=r"PAPER_ITEMS \['Fig. 10'\] are not items of the paper"):
        rep.summary_table(str(root))


def test_an_experiment_covering_several_items_gives_each_its_own_row(tmp_path, monkeypatch):
    root = tmp_path / "experiments"
    _fake_tree(root, {"alpha": (1, GOOD)})
    run_py = root / "alpha" / "run.py"
    own = dict(GOOD, ours="the Table 5 number", holds="no")
    run_py.write_text('PAPER_ITEMS = ["Fig. 9", "Table 5"]\n' + run_py.read_text().replace(
        '"value": %r' % 1, '"value": 1, "item_summaries": {"Table 5": %r}' % own))
    monkeypatch.setenv("ZFNET_EXPERIMENTS_DIR", str(root))
    monkeypatch.setenv("ZFNET_RUNS_DIR", str(tmp_path / "runs"))
    rep.reproduce("alpha", log=lambda *a: None)
    lines = rep.summary_table(str(root)).splitlines()
    fig9 = next(l for l in lines if l.startswith("| Fig. 9 |"))
    tab5 = next(l for l in lines if l.startswith("| Table 5 |"))
    assert "x is 0.9 \\| close | partly" in fig9        # the experiment's own summary
    assert "the Table 5 number | no" in tab5 and "close" not in tab5


def test_controls_follow_the_papers_setting_and_say_so(tmp_path, monkeypatch):
    root = tmp_path / "experiments"
    _fake_tree(root, {"aaa": (1, GOOD), "zzz": (2, GOOD)})
    (root / "aaa" / "run.py").write_text('PAPER_ITEMS = ["Table 4"]\nROLE = "control"\n' +
                                        (root / "aaa" / "run.py").read_text())
    (root / "zzz" / "run.py").write_text('PAPER_ITEMS = ["Table 4"]\n' + (root / "zzz" / "run.py").read_text())
    monkeypatch.setenv("ZFNET_EXPERIMENTS_DIR", str(root))
    lines = [l for l in rep.summary_table(str(root)).splitlines() if l.startswith("| Table 4")]
    assert lines[0].startswith("| Table 4 | [zzz](zzz/)") and lines[1].startswith("| Table 4 (control) | [aaa](aaa/)")
    (root / "aaa" / "run.py").write_text('ROLE = "side"\n')
    with pytest.raises(ValueError, match="ROLE 'side'"):
        rep.summary_table(str(root))


def test_effect_agrees_with_scipys_t_tests_and_has_three_outcomes():
    """The interval excludes 0 exactly when scipy's two-sided p is below 5% (paired: ttest_rel;
    Welch: ttest_ind with unequal variances); the outcome follows the claimed direction."""
    from scipy import stats
    from zfnet.repro.reproduce import effect, verdict_of
    rng = np.random.RandomState(0)
    for trial in range(200):
        n = rng.randint(2, 8)
        a = rng.randn(n) + rng.choice([0, 1.5, -1.5])
        b = rng.randn(n)
        for paired, ref in ((True, stats.ttest_rel(a, b)), (False, stats.ttest_ind(a, b, equal_var=False))):
            e = effect(a, b, ">", paired=paired)
            significant = ref.pvalue < 0.05
            assert (e["outcome"] != "not shown") == significant, (trial, paired, e, ref)
            if significant:
                assert e["outcome"] == ("holds" if np.mean(a) > np.mean(b) else "contradicted")
                assert effect(a, b, "<", paired=paired)["outcome"] == \
                    ("contradicted" if e["outcome"] == "holds" else "holds")
    # the t critical value at 2 degrees of freedom is 4.30, not 2
    e = effect([3.0, 2.0, 4.0], [0.0, 0.0, 0.0])
    assert abs(e["t_critical"] - 4.3027) < 1e-3 and e["df"] == 2
    assert verdict_of(["holds", "holds"]) == "yes" and verdict_of(["holds", "not shown"]) == "partly"
    assert verdict_of(["not shown", "contradicted"]) == "no" and verdict_of(["not shown"]) == "not shown"


def test_combine_outcomes_over_settings():
    from zfnet.repro.reproduce import combine_outcomes, verdict_of
    assert combine_outcomes(["holds", "holds"]) == "holds"
    assert combine_outcomes(["holds", "not shown"]) == "partly"
    assert combine_outcomes(["contradicted", "holds"]) == "partly"
    assert combine_outcomes(["contradicted", "contradicted"]) == "contradicted"
    assert combine_outcomes(["contradicted", "not shown"]) == "not shown"
    assert combine_outcomes([]) == "not shown"
    assert verdict_of(["partly", "not shown"]) == "partly" and verdict_of(["partly", "holds"]) == "partly"
    with pytest.raises(ValueError, match="'yes'"):
        combine_outcomes(["yes"])


def test_equivalence_outcomes_by_hand():
    from zfnet.repro.reproduce import equivalence
    # differences 0.1, 0.2, 0.3: mean 0.2, se 0.0577, t(2) 4.303 -> CI [-0.048, 0.448]
    e = equivalence([1.1, 1.2, 1.3], [1.0, 1.0, 1.0], margin=0.5)
    assert e["ci"][0] == pytest.approx(0.2 - 4.3027 * 0.1 / np.sqrt(3), abs=1e-3) and e["outcome"] == "holds"
    assert equivalence([1.1, 1.2, 1.3], [1.0, 1.0, 1.0], margin=0.4)["outcome"] == "not shown"
    assert equivalence([3.1, 3.2, 3.3], [1.0, 1.0, 1.0], margin=0.5)["outcome"] == "contradicted"
    assert equivalence([1.0, 1.0, 1.0], [3.1, 3.2, 3.3], margin=0.5)["outcome"] == "contradicted"
    with pytest.raises(ValueError, match="margin"):
        equivalence([1, 2], [1, 2], margin=0)


def test_pieces_are_kept_at_once_and_bad_stores_are_named(tmp_path, monkeypatch):
    monkeypatch.setenv("ZFNET_RUNS_DIR", str(tmp_path))
    ctx = rep.Context("t", str(tmp_path / "out"))
    p = ctx.pieces("thing", {"a": 1}, 2)
    assert p.get("5/0") is None
    assert p.put("5/0", [0.5, 700]) == [0.5, 700]
    again = rep.Context("t", str(tmp_path / "out2")).pieces("thing", {"a": 1}, 2)
    assert again.get("5/0") == [0.5, 700] and again.path == p.path
    assert rep.Context("t", str(tmp_path / "o3")).pieces("thing", {"a": 2}, 2).get("5/0") is None  # other key
    with open(p.path, "w") as f:
        f.write("[1, 2]")
    with pytest.raises(ValueError, match="not a store of finished pieces"):
        rep.Context("t", str(tmp_path / "o4")).pieces("thing", {"a": 1}, 2)
