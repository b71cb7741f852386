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

