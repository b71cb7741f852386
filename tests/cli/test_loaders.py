"""What the commands load: models, weights, transforms (topolens.cli._loaders)."""

from __future__ import annotations

import os
import re
import sys

import numpy as np
import pytest
import torch

from topolens.cli._loaders import (
    build_transform,
    load_model,
    load_transform,
    parse_model_kwargs,
    parse_normalize,
)
from topolens.cli.main import main
from topolens.exceptions import InvalidInputError, UntrustedCheckpointError

NET_FILE = """
import torch.nn as nn
from os import system as make_imported

class Net(nn.Module):
    def __init__(self, input_size, hidden=16, name="net", flag=False):
        super().__init__()
        self.name, self.flag = name, flag
        self.fc1 = nn.Linear(input_size, hidden)
        self.out = nn.Linear(hidden, 10)
    def forward(self, x):
        return self.out(self.fc1(x.flatten(1)).relu())

class NotAModule:
    pass

def make(hidden=8):
    return nn.Sequential(nn.Flatten(), nn.Linear(64, hidden), nn.ReLU(), nn.Linear(hidden, 10))

def make_list():
    return [1, 2]

def broken():
    raise RuntimeError("factory exploded")

def double(x):
    return 2 * x

instance = make(4)
"""


@pytest.fixture
def netfile(tmp_path):
    f = tmp_path / "usernets.py"
    f.write_text(NET_FILE)
    return f


@pytest.mark.parametrize("spec", ["os:system", "builtins:breakpoint", "builtins:exit", "pdb:set_trace",
                                  "subprocess:call", "code:interact", "os.path:join", "json:loads"])
def test_dangerous_callables_are_refused_without_being_called(spec, monkeypatch):
    called = []
    monkeypatch.setattr(sys, "breakpointhook", lambda *a, **k: called.append("breakpoint"))
    with pytest.raises(InvalidInputError, match=r"builtin or C function|standard-library|not a factory"):
        load_model(spec)
    assert not called


def test_classes_factories_and_instances(netfile):
    net = load_model(f"{netfile}:Net", kwargs={"input_size": 64, "hidden": 7})
    assert net.fc1.out_features == 7
    assert load_model(f"{netfile}:make")[1].out_features == 8
    assert load_model(f"{netfile}:instance")[1].out_features == 4
    with pytest.raises(InvalidInputError, match=r"not a torch\.nn\.Module subclass"):
        load_model(f"{netfile}:NotAModule")
    with pytest.raises(InvalidInputError, match=r"returned a list, not a torch\.nn\.Module"):
        load_model(f"{netfile}:make_list")
    with pytest.raises(InvalidInputError, match=r"RuntimeError: factory exploded \(.*usernets.py:\d+\)"):
        load_model(f"{netfile}:broken")
    with pytest.raises(InvalidInputError, match="builtin or C function"):
        load_model(f"{netfile}:make_imported")  # os.system under another name
    with pytest.raises(InvalidInputError, match="model instance"):
        load_model(f"{netfile}:instance", kwargs={"hidden": 3})


def test_a_factory_type_error_shows_the_signature(netfile):
    with pytest.raises(InvalidInputError, match=r"missing a required argument: 'input_size'.*"
                       r"Net\(input_size, hidden=16"):
        load_model(f"{netfile}:Net")
    with pytest.raises(InvalidInputError, match=r"unexpected keyword argument 'widht'.*make\(hidden=8\)"):
        load_model(f"{netfile}:make", kwargs={"widht": 3})


def test_model_kwargs_are_python_literals_or_strings():
    got = parse_model_kwargs(["input_size=28", "hidden=64", "name=foo", "flag=true", "off=False",
                              "shape=(1, 28, 28)", "lr=1e-3", "path=/tmp/x=1", "none=None"])
    assert got == {"input_size": 28, "hidden": 64, "name": "foo", "flag": True, "off": False,
                   "shape": (1, 28, 28), "lr": 1e-3, "path": "/tmp/x=1", "none": None}
    for bad in (["28"], ["=3"], ["a-b=3"], ["a=1", "a=2"]):
        with pytest.raises(InvalidInputError, match="--model-kwargs"):
            parse_model_kwargs(bad)


def test_the_current_directory_is_importable_and_sys_path_restored(tmp_path, monkeypatch):
    (tmp_path / "cwd_models_xyz.py").write_text(NET_FILE)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", os.getcwd())])
    before = list(sys.path)
    assert load_model("cwd_models_xyz:make")[1].out_features == 8
    assert sys.path == before


def test_model_kwargs_on_the_command_line(netfile, capsys):
    assert main(["layers", "--model", f"{netfile}:Net", "--model-kwargs", "input_size=64",
                 "hidden=5", "name=foo", "flag=true"]) == 0
    assert "fc1\tLinear" in capsys.readouterr().out
    assert main(["layers", "--model", f"{netfile}:Net"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "error:" in err and "input_size" in err and "Traceback" not in err
    assert main(["layers", "--model", "os:system"]) == 2
    assert "builtin" in capsys.readouterr().err


class _Evil:
    def __reduce__(self):
        return (print, ("pwned",))


def test_refused_checkpoints_in_our_own_words(netfile, tmp_path, capsys):
    torch.save({"state_dict": _Evil()}, tmp_path / "evil.pt")
    with pytest.raises(UntrustedCheckpointError) as info:
        load_model(f"{netfile}:make", str(tmp_path / "evil.pt"))
    msg = str(info.value)
    assert "\x1b" not in msg and "PyTorch 2.6" not in msg and "add_safe_globals" not in msg
    assert "weights_only=True" in msg and "print" in msg and "state_dict()" in msg
    (tmp_path / "empty.pt").write_bytes(b"")
    with pytest.raises(InvalidInputError, match="not a readable PyTorch file"):
        load_model(f"{netfile}:make", str(tmp_path / "empty.pt"))
    with pytest.raises(InvalidInputError, match="is a folder"):
        load_model(f"{netfile}:make", str(tmp_path))
    torch.save(torch.nn.Linear(3, 3).state_dict(), tmp_path / "other.pt")
    with pytest.raises(InvalidInputError, match="do not fit the model"):
        load_model(f"{netfile}:make", str(tmp_path / "other.pt"))


def test_transforms(netfile):
    t = load_transform(f"{netfile}:double")
    assert torch.equal(t(torch.ones(2)), torch.full((2,), 2.0))
    for spec in ("builtins:print", "os:system", "torch:sigmoid", f"{netfile}:make_imported"):
        with pytest.raises(InvalidInputError):
            load_transform(spec)
    mean, std = parse_normalize(["0.485,0.456,0.406", "0.229,0.224,0.225"])
    assert mean == [0.485, 0.456, 0.406] and std == [0.229, 0.224, 0.225]
    assert parse_normalize(["0.1307", "0.3081"]) == (0.1307, 0.3081)
    assert parse_normalize(["0.5,0.4", "0.2"]) == ([0.5, 0.4], [0.2, 0.2])
    for bad, match in ((["a", "1"], "numbers"), (["0", "0"], "positive"), (["nan", "1"], "finite"),
                       (["1,2", "1,2,3"], "one value per channel")):
        with pytest.raises(InvalidInputError, match=match):
            parse_normalize(bad)
    both, desc = build_transform(["1", "2"], f"{netfile}:double")
    x = torch.arange(4.0).reshape(4, 1)
    assert torch.allclose(both(x), (2 * x - 1) / 2)  # --transform first, then --normalize
    assert desc.startswith(f"{netfile}:double then normalize")
    assert build_transform(None, None) == (None, None)


def test_normalize_and_transform_reach_the_model(netfile, tmp_path):
    """Recorded activations equal the model applied by hand to the transformed inputs."""
    from sklearn.datasets import load_digits

    from topolens.activations import Activations

    model = load_model(f"{netfile}:make")
    torch.save(model.state_dict(), tmp_path / "w.pt")
    common = ["-q", "analyze", "--model", f"{netfile}:make", "--weights", str(tmp_path / "w.pt"),
              "--data", "digits", "--max-inputs", "60", "--layers", "1", "--n-inputs", "50",
              "--n-neurons", "8", "--resamples", "1"]
    assert main([*common, "--normalize", "0.3", "0.2", "--transform", f"{netfile}:double",
                 "--store", str(tmp_path / "a"), "--out", str(tmp_path / "r")]) == 0
    x = torch.as_tensor(load_digits().images[:60] / 16.0, dtype=torch.float32)
    with torch.no_grad():
        expected = model[1](((2 * x - 0.3) / 0.2).flatten(1)).numpy()
    got = np.asarray(Activations.load(tmp_path / "a")["1"])
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    html = (tmp_path / "r" / "report.html").read_text()
    assert "normalize(" in html and re.search(r"[0-9a-f]{64}", html)



def test_user_code_calling_sys_exit_is_an_error_not_a_silent_exit(tmp_path, capsys):
    (tmp_path / "script_like.py").write_text("import sys\nsys.exit(0)\n")
    (tmp_path / "exits.py").write_text(
        "import torch.nn as nn\n"
        "def make():\n    raise SystemExit(3)\n"
        "def model():\n    return nn.Sequential(nn.Flatten(), nn.Linear(784, 10))\n"
        "def quit_in_transform(x):\n    raise SystemExit(0)\n")
    with pytest.raises(InvalidInputError, match=r"importing .*script_like.py ran sys.exit\(0\)"):
        load_model(f"{tmp_path / 'script_like.py'}:f")
    with pytest.raises(InvalidInputError, match=r"ran sys.exit\(3\) \(.*exits.py:3\)"):
        load_model(f"{tmp_path / 'exits.py'}:make")
    # at run time (in the transform): one error line and a non-zero exit, not exit status 0
    rc = main(["analyze", "-q", "--model", f"{tmp_path / 'exits.py'}:model", "--max-inputs", "20",
               "--n-inputs", "10", "--n-neurons", "5", "--resamples", "1",
               "--transform", f"{tmp_path / 'exits.py'}:quit_in_transform", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "ran sys.exit(0)" in err


def test_model_files_import_like_scripts(tmp_path):
    # a dataclass needs its module in sys.modules; a sibling module must be importable
    pkg = tmp_path / "proj"
    pkg.mkdir()
    (pkg / "blocks_xyz.py").write_text("import torch.nn as nn\ndef block(n):\n    return nn.Linear(n, 2)\n")
    (pkg / "dc_models_xyz.py").write_text(
        "from __future__ import annotations\nfrom dataclasses import dataclass\nimport torch.nn as nn\n"
        "from blocks_xyz import block\n"
        "@dataclass\nclass Cfg:\n    n: int = 4\n"
        "class Net(nn.Module):\n    def __init__(self, n: int = 4):\n"
        "        super().__init__()\n        self.fc = block(Cfg(n).n)\n")
    before = list(sys.path)
    assert load_model(f"{pkg / 'dc_models_xyz.py'}:Net", kwargs={"n": 3}).fc.in_features == 3
    assert load_model(f"{pkg / 'dc_models_xyz.py'}:Net").fc.in_features == 4  # again, same process
    assert sys.path == before


def test_damaged_or_odd_weights_are_refused_in_one_line(netfile, tmp_path):
    torch.save(torch.nn.Linear(4, 2).state_dict(), tmp_path / "good.pt")
    (tmp_path / "text.pt").write_bytes(b"root:x:0:0:root:/root:/bin/bash\n" * 20)  # IndexError in torch
    with pytest.raises(InvalidInputError, match="not a readable PyTorch file"):
        load_model("torch.nn:Linear", str(tmp_path / "text.pt"), {"in_features": 4, "out_features": 2})
    good = torch.nn.Linear(4, 2).state_dict()
    torch.save({1: good["weight"]}, tmp_path / "intkeys.pt")  # AttributeError in load_state_dict
    with pytest.raises(InvalidInputError, match="keys must be parameter names"):
        load_model("torch.nn:Linear", str(tmp_path / "intkeys.pt"), {"in_features": 4, "out_features": 2})
    torch.save({**good, "weight": good["weight"].to(torch.complex64)}, tmp_path / "complex.pt")
    with pytest.raises(InvalidInputError, match="complex values"):
        load_model("torch.nn:Linear", str(tmp_path / "complex.pt"), {"in_features": 4, "out_features": 2})


def test_transform_signature_errors_speak_of_the_batch(netfile):
    (netfile.parent / "tr_xyz.py").write_text(
        "import torch.nn as nn\ndef two(x, y):\n    return x\n"
        "class Needs(nn.Module):\n    def __init__(self, a):\n        super().__init__()\n")
    with pytest.raises(InvalidInputError, match="with the input batch") as info:
        load_transform(f"{netfile.parent / 'tr_xyz.py'}:two")
    assert "--model-kwargs" not in str(info.value)
    with pytest.raises(InvalidInputError, match="constructed without arguments") as info:
        load_transform(f"{netfile.parent / 'tr_xyz.py'}:Needs")
    assert "--model-kwargs" not in str(info.value)


def test_npz_labels_arrays_and_normalize_entries(tmp_path):
    from topolens.cli._loaders import load_array, load_data

    x = np.random.default_rng(0).random((6, 1, 4, 4)).astype(np.float32)
    np.savez(tmp_path / "d.npz", x=x, y=np.array([0, 1, 2, 0, 1, 2]))
    xs, ys = load_data(str(tmp_path / "d.npz"), "train", None, 4)
    assert xs.shape == (4, 1, 4, 4) and ys.tolist() == [0, 1, 2, 0]  # the labels were dropped
    np.savez(tmp_path / "bad.npz", x=x, y=np.linspace(0, 1, 6))
    with pytest.raises(InvalidInputError, match="class indices"):
        load_data(str(tmp_path / "bad.npz"), "train", None, None)
    (tmp_path / "text.npy").write_text("not an array\n")
    with pytest.raises(InvalidInputError, match=r"not a \.npy file") as info:
        load_array(str(tmp_path / "text.npy"))
    assert "allow_pickle" not in str(info.value)
    for bad, match in ((["0.1,,0.2", "1"], "empty entry"), (["0", "1e-300"], "too small")):
        with pytest.raises(InvalidInputError, match=match):
            parse_normalize(bad)
