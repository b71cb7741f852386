import numpy as np
import pytest
import torch

from topolens.attacks import fgsm, pgd
from topolens.datasets import load_mnist_sample
from topolens.exceptions import InvalidInputError, ShapeError
from topolens.models import CCFF, evaluate, train_classifier


@pytest.fixture(scope="module")
def trained():
    xtr, ytr = load_mnist_sample("train")
    xte, yte = load_mnist_sample("test")
    x = torch.from_numpy(xtr).float().div(255).unsqueeze(1)
    model = CCFF()
    train_classifier(model, x, torch.from_numpy(ytr), epochs=2, seed=0)
    model.eval()
    xt = torch.from_numpy(xte[:300]).float().div(255).unsqueeze(1)
    return model, xt, torch.from_numpy(yte[:300])


def test_fgsm_and_pgd_fool_a_trained_model_within_the_ball(trained):
    model, x, y = trained
    clean = evaluate(model, x, y)
    assert clean > 0.85
    before = [p.detach().clone() for p in model.parameters()]
    grads = [None if p.grad is None else p.grad.clone() for p in model.parameters()]
    xa = fgsm(model, x, y, 0.15)
    xp = pgd(model, x, y, 0.15, steps=20, seed=0)
    for adv in (xa, xp):
        assert adv.shape == x.shape
        assert (adv - x).abs().max() <= 0.15 + 1e-6
        assert adv.min() >= 0 and adv.max() <= 1
    acc_f, acc_p = evaluate(model, xa, y), evaluate(model, xp, y)
    assert acc_f < clean - 0.2
    assert acc_p <= acc_f + 0.02  # the iterated attack is at least as strong
    changed = (model(xa).argmax(1) != model(x).argmax(1)).float().mean().item()
    assert changed > 0.2
    for p, g, q in zip(before, grads, model.parameters(), strict=True):
        assert torch.equal(p, q)
        assert (g is None and q.grad is None) or torch.equal(g, q.grad)
    # reproducible from the seed; eps = 0 changes nothing
    assert torch.equal(xp, pgd(model, x, y, 0.15, steps=20, seed=0))
    assert torch.equal(fgsm(model, x, y, 0.0), x)
    assert torch.equal(pgd(model, x, y, 0.0, steps=3), x)


def test_attack_bad_inputs(trained):
    model, x, y = trained
    with pytest.raises(InvalidInputError, match="eps"):
        fgsm(model, x, y, -0.1)
    with pytest.raises(ShapeError):
        fgsm(model, x, y[:3], 0.1)
    with pytest.raises(InvalidInputError, match="steps"):
        pgd(model, x, y, 0.1, steps=0)
    with pytest.raises(InvalidInputError, match="NaN"):
        fgsm(model, x * np.nan, y, 0.1)
    with pytest.raises(InvalidInputError, match="Module"):
        fgsm(lambda t: t, x, y, 0.1)
    with pytest.raises(InvalidInputError, match="clamp"):
        pgd(model, x, y, 0.1, clamp=(1.0, 0.0))


def test_attacks_run_in_eval_mode_and_restore_the_mode(trained):
    model, x, y = trained
    model.train()
    try:
        a = fgsm(model, x[:20], y[:20], 0.1)
        assert model.training
        model.eval()
        assert torch.equal(a, fgsm(model, x[:20], y[:20], 0.1))
    finally:
        model.eval()
