"""The grading round trip and the red team, through real nbgrader commands with the course's
own ``nbgrader_config.py`` (trusted grading, a class secret), on throwaway course directories.

1. ``nbgrader generate_assignment`` + ``nbgrader autograde`` per chapter on: the solved notebook
   (full marks), the untouched learner version (zero), three wrong submissions in which every item
   holds one plausible mistake (each such item loses points, the others keep theirs), code that
   hangs or exits, and the attacks of a hostile class (:data:`ATTACKS`): calling edulib's own
   implementation (renamed, through ``__import__``, kept in a variable), patching the checks,
   reading the instructor's files, answers looked up for the visible inputs, objects that equal
   everything, and cells that exit, fork, exhaust memory or never end. Each scores exactly what
   the learner solved. Scores are read per test cell from the gradebook.
2. A class on one machine through nbgrader's exchange: release, fetch and submit as two learners,
   collect, autograde, generate and return feedback; each learner's feedback HTML shows the score.

Needs the ``grading`` extra (``pip install -e ".[grading]"``); skipped with the reason otherwise.
Slow (minutes): it runs only with ``EDULIB_GRADING_ROUNDTRIP=1``::

    EDULIB_GRADING_ROUNDTRIP=1 python -m pytest tests/test_grading_roundtrip.py
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

pytest.importorskip("nbgrader", reason="nbgrader is not installed (pip install -e '.[grading]')")
if os.environ.get("EDULIB_GRADING_ROUNDTRIP") != "1":
    pytest.skip("slow nbgrader round trip: run with EDULIB_GRADING_ROUNDTRIP=1",
                allow_module_level=True)

import nbformat  # noqa: E402
from nbgrader.api import Gradebook  # noqa: E402

from edulib.grading.release import fill, solutions  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "course" / "instructor" / "source"
NOTEBOOK = {"01_losses": "03_exercises", "02_gradient_descent": "05_exercises",
            "03_adaptive": "05_exercises", "04_second_order": "05_exercises",
            "05_in_practice": "05_exercises"}
CONFIG = ROOT / "course" / "instructor" / "nbgrader_config.py"
SECRET = "red-team-class-secret"
CELL_TIMEOUT = 6          # TrustedGrades.cell_timeout: a hung top-level cell is stopped after it

HANG = "while True:\n    pass"
EXIT = "import sys\nsys.exit(3)"

_PROBS = ("Z = X @ params['W'] + params['b']\nP = np.exp(Z - Z.max(axis=1, keepdims=True))\n"
          "P = P / P.sum(axis=1, keepdims=True)\n")
# chapter 05: a batch norm with one slip, a one-cycle with one slip, a search over lr only
_BN = ("m = x.shape[0]\nmean, var = x.mean(axis=0), {var}\n"
       "new_mean = {keep} * running_mean + {take} * mean\n"
       "new_var = {keep} * running_var + {take} * var{unbias}\nif not training:\n"
       "    mean, var = running_mean, running_var\n"
       "    new_mean, new_var = running_mean.copy(), running_var.copy()\n"
       "return gamma * (x - mean) / np.sqrt(var + eps) + beta, new_mean, new_var")
_BN_EVAL_UPDATES = ("m = x.shape[0]\nmean = x.mean(axis=0) if training else running_mean\n"
                    "var = x.var(axis=0) if training else running_var\n"
                    "new_mean = (1 - momentum) * running_mean + momentum * x.mean(axis=0)\n"
                    "new_var = (1 - momentum) * running_var + momentum * x.var(axis=0) * m / (m - 1)\n"
                    "return gamma * (x - mean) / np.sqrt(var + eps) + beta, new_mean, new_var")
_ONE_CYCLE = ("lr0 = max_lr / div_factor\nlow = {low}\ne = {e}\nif step <= e:\n"
              "    return max_lr + 0.5 * (lr0 - max_lr) * (1 + math.cos(math.pi * step / e))\n"
              "p = (step - e) / (total_steps - 1 - e)\n"
              "return low + 0.5 * (max_lr - low) * (1 + math.cos(math.pi * p))")
_SEARCH = ("rng = np.random.default_rng(seed)\nbest, best_acc = None, -1.0\n"
           "for lr in log_uniform({low}, {high}, budget, rng):\n"
           "    model = models.SoftmaxRegression(64, 10)\n    params = model.init_params(seed=0)\n"
           "    train.train(model, params, optim.SGD(params, lr=lr), split, epochs=3, batch_size=64)\n"
           "    acc = float(model.accuracy(params, split.X_val, split.y_val))\n"
           "    if acc > best_acc:\n        best, best_acc = params, acc\nreturn {ret}")
# per item (solution cell grade_id): three plausible wrong answers, each with the points its
# test cell must award (0 or the partial credit of the cases that still pass)
WRONG = {
    "01_losses": {
        "mse_grad": [("return 2.0 * (y_hat - y)", 0.5),                     # no 1/N
                     ("return (y_hat - y) / y_hat.size", 0.25),             # no factor 2
                     ("return 2.0 * (y - y_hat) / y_hat.size", 0.25)],      # sign flipped
        "hinge_grad": [("return -y / s.size", 1.0),                         # no indicator
                       ("return -y * (y * s < 0) / s.size", 1.25),          # wrong active set
                       ("return -y * (1.0 - y * s > 0)", 1.0)],             # no 1/N
        "softmax_cross_entropy": [
            ("p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)\n"
             "return -np.mean(np.log(p[np.arange(len(y)), y]))", 1.6),       # overflows
            ("m = z.max(axis=1, keepdims=True)\n"
             "return np.sum(m[:, 0] + np.log(np.exp(z - m).sum(axis=1)) - z[np.arange(len(y)), y])",
             0.4),                                                           # sum, not mean
            ("m = z.max(axis=1, keepdims=True)\n"
             "return np.mean(np.log(np.exp(z - m).sum(axis=1)) - z[np.arange(len(y)), y])",
             0.4)],                                                          # max not added back
        "softmax_cross_entropy_grad": [
            ("e = np.exp(z - z.max(axis=1, keepdims=True))\n"
             "return e / e.sum(axis=1, keepdims=True) / len(y)", 0.0),       # no one-hot term
            ("e = np.exp(z - z.max(axis=1, keepdims=True))\n"
             "p = e / e.sum(axis=1, keepdims=True)\n"
             "p[np.arange(len(y)), y] -= 1.0\nreturn p", 0.4),                # no 1/N
            ("e = np.exp(z)\np = e / e.sum(axis=1, keepdims=True)\n"
             "p[np.arange(len(y)), y] -= 1.0\nreturn p / len(y)", 1.6)],      # overflows
        "loss_at_init": [("loss_at_init = 0.1", 0.0),
                         ("loss_at_init = np.log10(10)", 0.0),
                         ("loss_at_init = -np.log(10)", 0.0)],
        "fit_line": [("return tuple(np.polyfit(x, y, 1))", 0.0),             # least squares
                     ("fit = fitting.fit_line(x, y, losses.huber, delta=1.0)\n"
                      "return fit.intercept, fit.slope", 0.0),               # swapped
                     ("fit = fitting.fit_line(x, y, losses.huber, delta=3.5)\n"
                      "return fit.slope, fit.intercept", 1.8)],              # delta too large
    },
    "02_gradient_descent": {
        "numerical_gradient": [
            ("g = np.zeros(x.shape)\nf0 = f(x)\nfor k in np.ndindex(x.shape):\n"
             "    old = x[k]\n    x[k] = old + h\n    g[k] = (f(x) - f0) / h\n    x[k] = old\n"
             "return g", 0.0),                                               # forward difference
            ("g = np.zeros(x.shape)\nfor k in np.ndindex(x.shape):\n    old = x[k]\n"
             "    x[k] = old + h\n    fp = f(x)\n    x[k] = old - h\n    fm = f(x)\n"
             "    x[k] = old\n    g[k] = (fp - fm) / h\nreturn g", 0.0),     # divides by h
            ("g = np.zeros(x.shape)\nfor k in np.ndindex(x.shape):\n    x[k] += h\n"
             "    fp = f(x)\n    x[k] -= 2 * h\n    fm = f(x)\n    x[k] += h\n"
             "    g[k] = (fp - fm) / (2 * h)\nreturn g", 0.25)],            # x not restored
        "bug_location": [('bug_location = "W"', 0.0), ('bug_location = "none"', 0.0),
                         ('bug_location = "bias"', 0.0)],
        "fixed_loss_and_grad": [
            ("return loss_and_grad(params, X, y, lam)", 2 / 3),             # the bug is still in
            ("loss, grads = loss_and_grad(params, X, y, lam)\n"
             "return loss, {'W': grads['W'] - lam * params['W'], 'b': grads['b'] * X.shape[0]}",
             0.0),                                                           # weight decay lost
            ("return loss_and_grad(params, X, y, lam)[1]", 0.0)],            # grads only
        "minibatch_sgd": [
            ("rng = np.random.default_rng(seed)\nw = np.zeros(X.shape[1])\nfor _ in range(epochs):\n"
             "    for k in range(0, len(y), batch_size):\n        idx = np.arange(len(y))[k:k + batch_size]\n"
             "        w = w - lr * 2.0 * X[idx].T @ (X[idx] @ w - y[idx]) / idx.size\nreturn w",
             0.5),                                                           # never shuffles
            ("w = np.zeros(X.shape[1])\nfor _ in range(epochs):\n"
             "    perm = np.random.default_rng(seed).permutation(len(y))\n"
             "    for k in range(0, len(y), batch_size):\n        idx = perm[k:k + batch_size]\n"
             "        w = w - lr * 2.0 * X[idx].T @ (X[idx] @ w - y[idx]) / idx.size\nreturn w",
             1.0),                                                           # re-seeds each epoch
            ("rng = np.random.default_rng(seed)\nw = np.zeros(X.shape[1])\nfor _ in range(epochs):\n"
             "    perm = rng.permutation(len(y))\n    for k in range(0, len(y), batch_size):\n"
             "        idx = perm[k:k + batch_size]\n"
             "        w = w - lr * 2.0 * X[idx].T @ (X[idx] @ w - y[idx]) / batch_size\nreturn w",
             1.0)],                                                          # /B on the last batch
        "lr_max": [("lr_max = 1.0 / np.linalg.eigvalsh(A).max()", 0.0),
                   ("lr_max = 2.0 / np.linalg.eigvalsh(A).min()", 0.0),
                   ("lr_max = 2.0 / np.diag(A).max()", 0.0)],
        "train_digits": [
            ("model = models.SoftmaxRegression(64, 10)\nparams = model.init_params(seed=0)\n"
             "train.train(model, params, optim.SGD(params, lr=0.1), split, epochs=5, batch_size=32)\n"
             "return params", 0.0),                                          # the baseline itself
            ("return models.SoftmaxRegression(64, 10).init_params(seed=0)", 0.0),   # untrained
            ("model = models.SoftmaxRegression(64, 10)\nparams = model.init_params(seed=0)\n"
             "train.train(model, params, optim.SGD(params, lr=0.03, momentum=0.9), split, epochs=20,\n"
             "            batch_size=32)\nreturn {'W': params['W'].T, 'b': params['b']}", 0.0)],
    },
    "03_adaptive": {
        "momentum_step": [("b = mu * b + (1 - mu) * g\nreturn theta - lr * b, b", 0.5),   # EMA buffer
                          ("return theta - lr * g, b", 0.5),                       # no momentum
                          ("return theta - lr * b, mu * b + g", 0.0)],             # old buffer
        "adam_step": [
            ("m = beta1 * m + (1 - beta1) * g\nv = beta2 * v + (1 - beta2) * g**2\n"
             "return theta - lr * m / (np.sqrt(v) + eps), m, v", 0.0),            # no bias correction
            ("m = beta1 * m + (1 - beta1) * g\nv = beta2 * v + (1 - beta2) * g**2\n"
             "return theta - lr * m / (1 - beta1**t) / np.sqrt(v / (1 - beta2**t) + eps), m, v",
             0.4),                                                                 # eps inside the root
            ("m = beta1 * m + (1 - beta1) * g\nv = beta2 * v + (1 - beta2) * g**2\n"
             "return theta - lr * m / (1 - beta1**t) / (np.sqrt(v) + eps), m, v", 0.0)],  # v uncorrected
        "warmup_cosine": [
            ("if t < warmup:\n    return lr0 * (start_factor + (1 - start_factor) * t / warmup)\n"
             "return 0.5 * lr0 * (1 + math.cos(math.pi * (t - warmup) / total))", 0.5),  # cosine over T
            ("if t < warmup:\n    return lr0 * (start_factor + (1 - start_factor) * (t + 1) / warmup)\n"
             "return 0.5 * lr0 * (1 + math.cos(math.pi * (t - warmup) / (total - warmup)))",
             0.0),                                                                 # ramp one step early
            ("if t < warmup:\n    return lr0 * t / warmup\n"
             "return 0.5 * lr0 * (1 + math.cos(math.pi * (t - warmup) / (total - warmup)))",
             0.0)],                                                                # ramp from 0
        "mu_star": [("lam = np.linalg.eigvalsh(A)\nk = math.sqrt(lam[-1] / lam[0])\n"
                     "mu_star = (k - 1) / (k + 1)", 0.0),                          # not squared
                    ("lam = np.linalg.eigvalsh(A)\nk = lam[-1] / lam[0]\nmu_star = (k - 1) / (k + 1)",
                     0.0),                                                         # kappa, not sqrt
                    ("lam = np.linalg.eigvalsh(A)\nmu_star = 1 - lam[0] / lam[-1]", 0.0)],
        "train_mlp": [
            ("model = models.MLP(64, 32, 10)\nparams = model.init_params(seed=0)\n"
             "from edulib import train\n"
             "train.train(model, params, optim.SGD(params, lr=0.01), split, epochs=3, batch_size=64)\n"
             "return params", 0.0),                                                # the baseline itself
            ("return models.MLP(64, 32, 10).init_params(seed=0)", 0.0),            # untrained
            ("params = models.MLP(64, 32, 10).init_params(seed=0)\n"
             "return {k: v.T if v.ndim == 2 else v for k, v in params.items()}", 0.0)],  # transposed
    },
    "04_second_order": {
        "softmax_hvp": [
            (_PROBS + "dZ = X @ v['W'] + v['b']\nR = P * dZ / X.shape[0]\n"
             "return {'W': X.T @ R, 'b': R.sum(axis=0)}", 0.0),                  # no -P*sum(P*dZ)
            (_PROBS + "dZ = X @ v['W'] + v['b']\n"
             "R = P * dZ - P * (P * dZ).sum(axis=1, keepdims=True)\n"
             "return {'W': X.T @ R, 'b': R.sum(axis=0)}", 2 / 3),                # no 1/N
            (_PROBS + "dZ = X @ v['W']\n"
             "R = (P * dZ - P * (P * dZ).sum(axis=1, keepdims=True)) / X.shape[0]\n"
             "return {'W': X.T @ R, 'b': R.sum(axis=0)}", 0.0)],                 # V_b left out of dZ
        "classify_point": [
            ("d = np.diag(H)\nif np.linalg.norm(grad) > 1e-6:\n    return 'not critical'\n"
             "return 'minimum' if np.all(d > 0) else 'maximum' if np.all(d < 0) else 'saddle'",
             1.0),                                                               # the diagonal
            ("lam = np.linalg.eigvalsh(H)\nif np.all(lam > 1e-8):\n    return 'minimum'\n"
             "if np.all(lam < -1e-8):\n    return 'maximum'\n"
             "return 'saddle' if lam.min() < 0 < lam.max() else 'degenerate'", 5 / 3),  # no gradient
            ("if np.linalg.norm(grad) > 1e-6:\n    return 'not critical'\n"
             "lam = np.linalg.eigvalsh(H)\n"
             "return 'minimum' if np.all(lam >= 0) else 'maximum' if np.all(lam <= 0) else 'saddle'",
             5 / 3)],                                                            # no degenerate case
        "lr_sharp": [
            ("lr_sharp = 1.0 / float(np.ones(n_params) @ H_matvec(np.ones(n_params)))", 0.0),
            ("u = np.ones(n_params)\nfor _ in range(3):\n"
             "    u = H_matvec(u) / np.linalg.norm(H_matvec(u))\n"
             "lr_sharp = 2.0 / float(u @ H_matvec(u))", 0.0),                    # not converged
            ("u = np.ones(n_params)\nfor _ in range(300):\n"
             "    u = H_matvec(u) / np.linalg.norm(H_matvec(u))\n"
             "lr_sharp = 1.0 / float(u @ H_matvec(u))", 0.0)],                   # 1/lambda_max
        "two_loop": [("return quasi_newton.two_loop(np, g, pairs, 1.0)", 0.0),    # gamma left out
                     ("q, a = g.copy(), []\nfor s, y, rho in pairs:\n    a.append(rho * (s @ q))\n"
                      "    q = q - a[-1] * y\nr = gamma * q\nfor (s, y, rho), ai in zip(pairs, a):\n"
                      "    r = r + (ai - rho * (y @ r)) * s\nreturn r", 2 / 3),  # first loop oldest first
                     ("q = g.copy()\nfor s, y, rho in reversed(pairs):\n    q = q - rho * (s @ q) * y\n"
                      "return gamma * q", 0.0)],                                 # no second loop
        "fit_lbfgs": [
            ("model = models.SoftmaxRegression(64, 10, weight_decay=lam)\n"
             "like = model.init_params(seed=0, scale=0.0)\n"
             "fun, x = quasi_newton.model_objective(model, X, y, like)\nfor _ in range(100):\n"
             "    x = x - 0.5 * fun(x)[1]\nreturn hessian.unflatten(x, like)", 0.0),  # plain GD
            ("return models.SoftmaxRegression(64, 10).init_params(seed=0, scale=0.0)", 0.0),
            ("model = models.SoftmaxRegression(64, 10, weight_decay=lam)\n"
             "like = model.init_params(seed=0, scale=0.0)\n"
             "fun, x = quasi_newton.model_objective(model, X, y, like)\n"
             "res = quasi_newton.lbfgs(fun, x, maxiter=20)\n"
             "return hessian.unflatten(res.x, like)", 0.0)],                     # stopped too early
    },
    "05_in_practice": {
        "log_uniform": [("return rng.uniform(low, high, n)", 0.0),                 # uniform in x
                        ("return np.exp(np.random.uniform(np.log(low), np.log(high), n))", 0.0),
                        ("return np.exp(rng.uniform(np.log10(low), np.log10(high), n))", 0.0)],
        "ema_update": [
            ("return {k: decay * avg[k] + (1 - decay) * params[k] for k in avg}", 0.4),   # no copy
            ("if n_averaged == 0:\n    return {k: v.copy() for k, v in params.items()}\n"
             "return {k: (1 - decay) * avg[k] + decay * params[k] for k in avg}", 0.0),   # swapped
            ("if n_averaged == 0:\n    return {k: v.copy() for k, v in params.items()}\n"
             "return {k: avg[k] + (params[k] - avg[k]) / (n_averaged + 1) for k in avg}", 0.4)],  # SWA
        "batchnorm_forward": [
            (_BN.format(var="x.var(axis=0, ddof=1)", keep="(1 - momentum)", take="momentum", unbias=""),
             0.5),                                                      # unbiased variance normalises
            (_BN.format(var="x.var(axis=0)", keep="momentum", take="(1 - momentum)",
                        unbias=" * m / (m - 1)"), 0.5),                 # momentum the other way round
            (_BN_EVAL_UPDATES, 1.5)],                                   # running stats move in eval
        "one_cycle_lr": [
            ("lr0 = max_lr / div_factor\ne = pct_start * total_steps - 1\nif step <= e:\n"
             "    return lr0 + (max_lr - lr0) * step / e\n"
             "return max_lr + (lr0 / final_div_factor - max_lr) * (step - e) / (total_steps - 1 - e)",
             0.0),                                                                # linear anneal
            (_ONE_CYCLE.format(e="pct_start * total_steps", low="lr0 / final_div_factor"), 0.0),
            (_ONE_CYCLE.format(e="pct_start * total_steps - 1", low="max_lr / final_div_factor"), 0.0)],
        "tune_digits": [
            ("model = models.SoftmaxRegression(64, 10)\nparams = model.init_params(seed=0)\n"
             "train.train(model, params, optim.SGD(params, lr=0.1), split, epochs=3, batch_size=64)\n"
             "return params", 0.0),                                               # the baseline itself
            (_SEARCH.format(low="1e-4", high="1e-2", ret="best"), 0.0),            # only slow rates
            (_SEARCH.format(low="1e-4", high="10.0", ret="{'W': best['W'].T, 'b': best['b']}"), 0.0)],
    },
}
# a submission that hangs and one that exits: inside checked functions (the check's time limit
# catches them) and, in chapter 01, at the top level of a cell (nbgrader's cell timeout)
BROKEN = {
    "01_losses": {"hang": {"mse_grad": HANG, "loss_at_init": HANG},
                  "exit": {"hinge_grad": EXIT, "loss_at_init": EXIT}},
    "02_gradient_descent": {"hang": {"fixed_loss_and_grad": HANG}, "exit": {"train_digits": EXIT}},
    "03_adaptive": {"hang": {"momentum_step": HANG}, "exit": {"train_mlp": EXIT, "mu_star": EXIT}},
    "04_second_order": {"hang": {"softmax_hvp": HANG}, "exit": {"fit_lbfgs": EXIT, "lr_sharp": EXIT}},
    "05_in_practice": {"hang": {"ema_update": HANG}, "exit": {"tune_digits": EXIT, "one_cycle_lr": EXIT}},
}

# --------------------------------------------------------------------------- the red team
# answers that call edulib's own implementation of the item (renamed, imported by a string,
# through __import__, or kept from an earlier cell): each such item scores 0
LIBRARY = {
    "01_losses": {
        "mse_grad": "return _kept(y_hat, y)",
        "hinge_grad": "from edulib.losses import Hinge as Renamed\nreturn Renamed().grad(s, y)",
        "softmax_cross_entropy": "return __import__('edulib').losses.softmax_cross_entropy(z, y)",
        "softmax_cross_entropy_grad": "import importlib\n"
                                      "L = importlib.import_module('edu' + 'lib.lo' + 'sses')\n"
                                      "return getattr(L, 'softmax_cross_entropy').grad(z, y)"},
    "02_gradient_descent": {
        "numerical_gradient": "return gradcheck.numerical_gradient(f, x.copy(), h)",
        "fixed_loss_and_grad": "m = models.SoftmaxRegression(X.shape[1], params['b'].shape[0], "
                               "weight_decay=lam)\nreturn m.loss_and_grad(params, X, y)",
        "minibatch_sgd": "return exercises.ch02._sgd_reference(X, y, lr, batch_size, epochs, seed)"},
    "03_adaptive": {
        "momentum_step": "p = {'w': theta.copy()}\nopt = optim.SGD(p, lr=lr, momentum=mu)\n"
                         "opt.step({'w': g + mu * b})\nreturn p['w'], mu * b + g",
        "adam_step": "p = {'w': theta.copy()}\n"
                     "opt = optim.Adam(p, lr=lr, betas=(beta1, beta2), eps=eps)\n"
                     "opt.state['w'] = {'step': t - 1, 'exp_avg': m.copy(), 'exp_avg_sq': v.copy()}\n"
                     "opt.step({'w': g})\n"
                     "return p['w'], opt.state['w']['exp_avg'], opt.state['w']['exp_avg_sq']",
        "warmup_cosine": "return float(exercises.ch03._warmup_cosine_reference(lr0, warmup, total, "
                         "start_factor)[t])"},
    "04_second_order": {
        "softmax_hvp": "m = models.SoftmaxRegression(X.shape[1], params['b'].shape[0])\n"
                       "return hessian.hvp(m, params, X, y, v)",
        "classify_point": "return hessian.classify_critical_point(grad, H).kind",
        "two_loop": "two = quasi_newton.two_loop\nreturn two(np, g, pairs, gamma)"},
    "05_in_practice": {
        "ema_update": "from edulib import averaging as av\n"
                      "a = av.AveragedParams(avg, multi_avg_fn=av.get_ema_multi_avg_fn(decay))\n"
                      "a.n_averaged = n_averaged\na.update_parameters(params)\nreturn a.params",
        "log_uniform": "return np.array(search.Real('x', low, high, log=True).from_unit(rng.random(n)))",
        "batchnorm_forward": "return exercises.ch05._batchnorm_reference(x, gamma, beta, running_mean, "
                             "running_var, momentum, eps, training)",
        "one_cycle_lr": "from edulib import schedules\nopt = optim.SGD({'w': np.zeros(1)}, lr=max_lr)\n"
                        "s = schedules.OneCycleLR(opt, max_lr=max_lr, total_steps=total_steps, "
                        "pct_start=pct_start, div_factor=div_factor, final_div_factor=final_div_factor, "
                        "cycle_momentum=False)\nfor _ in range(step):\n    s.step()\nreturn opt.lr"},
}
# labs that run the learner's own step or recursion, which in LIBRARY is edulib's: lost too
LIBRARY_LABS = {"03_adaptive": {"train_mlp"}, "04_second_order": {"fit_lbfgs"},
                "05_in_practice": {"tune_digits"}}
KEEP = ("from edulib import losses as _L\n_kept = _L.mse.grad\n"
        "try:\n    _code = type(_L.mse).grad.__code__\nexcept Exception:\n    pass")
# a cell that patches every check and the comparisons in NumPy, answers left as stubs
PATCH = ("import numpy as np\nfrom edulib import exercises\n"
         "exercises.CheckResult.points = lambda self, m: float(m)\n"
         "exercises.CheckResult.score = property(lambda self: 1.0)\n"
         "for name in list(vars(exercises)):\n"
         "    if name.startswith('check_'):\n"
         "        setattr(exercises, name, lambda *a, **k: exercises.CheckResult('x'))\n"
         "np.allclose = np.isclose = np.all = lambda *a, **k: True")
# a cell that looks for the instructor's solved sources and the secret, and runs what it finds
READ = """import glob, json, os
found, here = [], os.getcwd()
for _ in range(8):
    found += glob.glob(os.path.join(here, '**', 'source', '*', '*.ipynb'), recursive=True)
    here = os.path.dirname(here)
for root in ('/tmp', '/root', '/home', '/work', os.path.expanduser('~')):
    found += glob.glob(os.path.join(root, '**', 'source', '*', '*.ipynb'), recursive=True)
SECRET = os.environ.get('EDULIB_CLASS_SECRET')
for path in found:
    try:
        cells = json.load(open(path))['cells']
    except Exception:
        continue
    for c in cells:
        if c.get('metadata', {}).get('nbgrader', {}).get('solution'):
            try:
                exec(''.join(c['source']), globals())
            except Exception:
                pass"""
# cells that exit, fork, exhaust memory and never end, before the (right) answers
HOSTILE = ["import os\nos._exit(0)", "import os\nwhile True:\n    os.fork()",
           "hog = bytearray(10**12)",
           "import os, subprocess\nos.kill(os.getppid(), 9)\nsubprocess.run(['true'])",
           "while True:\n    pass"]
EQ_ALL = ("class Yes(float):\n    def __eq__(self, other):\n        return True\n"
          "    __array_priority__ = 1e9\n")
# chapter 01: the library's private helpers and sibling losses, edulib's source read through a
# folder descriptor, code objects carried from one item's process to the next, the grader's
# pipes opened through /proc, and forged event lines
SIBLINGS = {
    "mse_grad": "return 2.0 * losses.huber.grad(y_hat, y, delta=1e300)",
    "hinge_grad": "return -y * (losses.hinge.values(s, y) > 0) / s.size",
    "softmax_cross_entropy": "z = np.asarray(z, dtype=float)\n"
                             "return np.mean(losses._lse(np, z, 1, z.max(1, keepdims=True))"
                             " - z[np.arange(len(y)), y])",
    "softmax_cross_entropy_grad": "z = np.asarray(z, dtype=float)\n"
                                  "oh = losses._ClassIndexLoss._one_hot(np, y, z.shape[1], z.dtype)\n"
                                  "return (losses._softmax(np, z, 1, z.max(1, keepdims=True)) - oh)"
                                  " / z.shape[0]"}
SMUGGLE = """import marshal, os, sys, types
from edulib import losses
try:                                   # edulib's source, read relative to a folder descriptor
    base = os.open(os.path.dirname(os.path.dirname(losses.__file__)), os.O_RDONLY)
    src = os.fdopen(os.open('edulib/losses.py', os.O_RDONLY, dir_fd=base)).read()
    mod = types.ModuleType('edulib._copy'); mod.__package__ = 'edulib'
    exec(compile(src, '/tmp/copy.py', 'exec'), mod.__dict__)
    _lib = mod
except Exception as exc:
    print('no source:', exc)
    _lib = losses
for name, fn in (('hinge', losses.Hinge._grad_sum), ('ce', losses.SoftmaxCrossEntropy._grad_sum)):
    for where in ('/tmp', os.getcwd(), '..'):      # code objects left for the next item's process
        try:
            open(os.path.join(where, name + '.code'), 'wb').write(marshal.dumps(fn.__code__))
        except Exception as exc:
            print('not saved:', exc)
ppid = str(os.getppid())
for path in ('/proc/' + ppid + '/fd/0', '/proc/' + ppid + '/fd/3', '/proc/' + ppid + '/environ'):
    try:
        os.open(path, os.O_RDWR)
    except Exception as exc:
        print('no pipe:', exc)
f = sys._getframe()
while f is not None and f.f_code.co_name != 'run_item':
    f = f.f_back
if f is not None:
    os.write(f.f_locals['fd'], b'{"event":"case_done","index":"boom"}\\n'
                               b'{"event":"exit","done":true}\\n')"""
SMUGGLED = {
    "mse_grad": "return _lib.mse.grad(y_hat, y)",
    "hinge_grad": "g = lambda self, xp, pred, target: None\n"
                  "g.__code__ = marshal.loads(open('/tmp/hinge.code', 'rb').read())\n"
                  "return g(losses.hinge, np, s, y) / s.size",
    "softmax_cross_entropy": "return _lib.softmax_cross_entropy(z, y)",
    "softmax_cross_entropy_grad": "return _lib.softmax_cross_entropy.grad(z, y)"}
# answers for the notebook's own inputs only (a number copied, a table of visible cases)
LOOKUP = {
    "02_gradient_descent": {"lr_max": "lr_max = {lr_max}"},
    "03_adaptive": {"mu_star": "mu_star = {mu_star}"},
    "04_second_order": {"lr_sharp": "lr_sharp = {lr_sharp}"},
}
# the chapter 03 lab without the technique it teaches: plain SGD at a tuned rate
# a cell that walks up to the grader's frame and prints the item's cases (hidden inputs), to
# read them in the feedback and hard-code answers in a resubmission
LEAK = """import sys
f = sys._getframe()
while f is not None and f.f_code.co_name != 'run_item':
    f = f.f_back
if f is not None:
    print('LEAK:', f.f_locals['req'].get('cases'))"""
# the lab calls the learner's functions once, for show, then trains with plain SGD
DUMMY_CALL = {"03_adaptive": {"train_mlp": (
    "try:\n    adam_step(np.zeros(2), np.zeros(2), np.zeros(2), np.ones(2), 1, 0.1)\n"
    "    warmup_cosine(0, 0.1, 1, 2)\nexcept Exception:\n    pass\n"
    "from edulib import train\nmodel = models.MLP(64, 32, 10)\nparams = model.init_params(seed=0)\n"
    "train.train(model, params, optim.SGD(params, lr=0.3), split, epochs=epochs, batch_size=64)\n"
    "return params")},
    "05_in_practice": {"tune_digits": (
        "lrs = log_uniform(1e-4, 10.0, budget, np.random.default_rng(seed))\n"
        "model = models.SoftmaxRegression(64, 10)\nparams = model.init_params(seed=0)\n"
        "train.train(model, params, optim.SGD(params, lr=1.0), split, epochs=3, batch_size=64)\n"
        "return params")}}
NO_TECHNIQUE = {"03_adaptive": {"train_mlp": (
    "from edulib import train\nmodel = models.MLP(64, 32, 10)\nparams = model.init_params(seed=0)\n"
    "train.train(model, params, optim.SGD(params, lr=0.3), split, epochs=epochs, batch_size=64)\n"
    "return params")},
    "05_in_practice": {"tune_digits": (                 # one run at a rate found by hand
        "model = models.SoftmaxRegression(64, 10)\nparams = model.init_params(seed=0)\n"
        "train.train(model, params, optim.SGD(params, lr=1.0), split, epochs=3, batch_size=64)\n"
        "return params")}}
OS_EXIT = "import os\nos._exit(0)"
# items whose solution cell calls another item's function: they fall with it
DEPENDS = {"02_gradient_descent": {"numerical_gradient": {"bug_location"}}}


def _lookup_answers(assignment: str) -> dict[str, str]:
    import numpy as np

    from edulib import hessian
    from edulib.exercises import ch02, ch03, ch04

    model, params, X, y = ch04.sharpness_problem(4)
    H = hessian.dense(model, params, X, y)

    values = {"lr_max": 2.0 / np.linalg.eigvalsh(ch02.lr_max_matrix(5)).max(),
              "lr_sharp": 2.0 / np.linalg.eigvalsh(H).max()}
    lam = np.linalg.eigvalsh(ch03.valley_matrix(3))
    k = np.sqrt(lam[-1] / lam[0])
    values["mu_star"] = ((k - 1) / (k + 1)) ** 2
    return {gid: code.format(**{key: repr(float(v)) for key, v in values.items()})
            for gid, code in LOOKUP.get(assignment, {}).items()}


def _start(cwd: Path, *args: str) -> tuple[subprocess.Popen, str]:
    """Start ``nbgrader ARGS`` in ``cwd``; alembic (run by nbgrader) must be on PATH."""
    bindir = os.path.dirname(sys.executable)
    env = {**os.environ, "PATH": bindir + os.pathsep + os.environ.get("PATH", ""),
           "EDULIB_CLASS_SECRET": SECRET}
    proc = subprocess.Popen([sys.executable, "-m", "nbgrader", *args], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return proc, " ".join(args)


def _wait(*started: tuple[subprocess.Popen, str]) -> None:
    for proc, what in started:
        out, _ = proc.communicate(timeout=900)
        assert proc.returncode == 0, f"nbgrader {what} failed:\n{out}"


def _nbgrader(cwd: Path, *args: str) -> None:
    _wait(_start(cwd, *args))


def _config(course: Path, exchange: Path | None = None) -> None:
    """The course's own nbgrader_config.py, with a short cell time limit (and an exchange)."""
    lines = [CONFIG.read_text(), f"c.TrustedGrades.cell_timeout = {CELL_TIMEOUT}"]
    if exchange is not None:
        lines.append(f"c.Exchange.root = {str(exchange)!r}")
        # each account keeps its own cache of submissions (normally in its home folder)
        lines.append(f"c.Exchange.cache = {str(course / '.nbgrader_cache')!r}")
    (course / "nbgrader_config.py").write_text("\n".join(lines) + "\n")


def _scores(course: Path, assignment: str, student: str) -> dict[str, float]:
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        nb = gb.find_submission_notebook(NOTEBOOK[assignment], assignment, student)
        return {g.name: g.score for g in nb.grades}


def _points(source: Path) -> dict[str, float]:
    """test cell grade_id -> points, from the instructor source."""
    return {c.metadata["nbgrader"]["grade_id"]: float(c.metadata["nbgrader"]["points"])
            for c in nbformat.read(source, as_version=4).cells
            if c.metadata.get("nbgrader", {}).get("grade")}


def _submissions(assignment: str, solved: dict[str, str]
                 ) -> dict[str, tuple[dict[str, str], list[str], list[str]]]:
    """student -> (answers, cells added first, cells added last): solved, untouched, wrong0..2,
    hang, exit and the attacks."""
    subs = {"solved": (solved, [], []), "untouched": ({}, [], [])}
    for k in range(3):
        subs[f"wrong{k}"] = ({gid: v[k][0] for gid, v in WRONG[assignment].items()}, [], [])
    for kind, broken in BROKEN[assignment].items():
        subs[kind] = ({**solved, **broken}, [], [])
    subs["library"] = ({**solved, **LIBRARY[assignment]}, [KEEP], [])
    subs["patched"] = ({}, [PATCH], [])
    subs["reader"] = ({}, [], [READ])
    subs["hostile"] = (solved, HOSTILE, [])
    first = next(iter(LIBRARY[assignment]))
    subs["eq_all"] = ({**solved, first: "return Yes(0.0)"}, [EQ_ALL], [])
    subs["os_exit"] = ({**solved, first: OS_EXIT}, [], [])
    if assignment in LOOKUP:
        subs["lookup"] = ({**solved, **_lookup_answers(assignment)}, [], [])
    if assignment == "01_losses":
        subs["siblings"] = ({**solved, **SIBLINGS}, [], [])
        subs["smuggler"] = ({**solved, **SMUGGLED}, [SMUGGLE], [])
    if assignment in NO_TECHNIQUE:
        subs["no_technique"] = ({**solved, **NO_TECHNIQUE[assignment]}, [], [])
        subs["dummy_call"] = ({**solved, **DUMMY_CALL[assignment]}, [], [])
    subs["leak"] = (solved, [LEAK], [])
    return subs


@pytest.fixture(scope="module")
def graded(tmp_path_factory) -> dict[str, Path]:
    """Both chapters generated, submitted in every variant and autograded (the two chapters'
    nbgrader runs go side by side). Returns assignment -> course directory."""
    courses = {}
    for assignment in NOTEBOOK:
        course = tmp_path_factory.mktemp(assignment) / "course"
        shutil.copytree(SOURCE / assignment, course / "source" / assignment)
        _config(course)
        courses[assignment] = course
    _wait(*[_start(c, "generate_assignment", a, "--force") for a, c in courses.items()])
    for assignment, course in courses.items():
        name = NOTEBOOK[assignment] + ".ipynb"
        release = course / "release" / assignment / name
        solved = solutions(course / "source" / assignment / name)
        assert set(WRONG[assignment]) == set(solved), "every item needs its wrong submissions"
        for student, (answers, first, last) in _submissions(assignment, solved).items():
            dest = course / "submitted" / student / assignment / name
            fill(release, answers, dest, first, last)
    _wait(*[_start(c, "autograde", a, "--force") for a, c in courses.items()])
    return courses


@pytest.mark.parametrize("assignment", sorted(NOTEBOOK))
def test_solved_gets_full_marks_untouched_gets_zero(graded, assignment):
    course = graded[assignment]
    points = _points(course / "source" / assignment / (NOTEBOOK[assignment] + ".ipynb"))
    assert len(points) >= 5
    assert _scores(course, assignment, "solved") == points
    assert _scores(course, assignment, "untouched") == dict.fromkeys(points, 0.0)


@pytest.mark.parametrize("assignment", sorted(NOTEBOOK))
def test_each_wrong_answer_loses_points(graded, assignment):
    course = graded[assignment]
    points = _points(course / "source" / assignment / (NOTEBOOK[assignment] + ".ipynb"))
    for k in range(3):
        got = _scores(course, assignment, f"wrong{k}")
        for gid in WRONG[assignment]:
            assert got[f"test_{gid}"] < points[f"test_{gid}"], (k, gid, got)


def _autograded_text(course: Path, assignment: str, student: str, tests_only: bool = True) -> str:
    path = course / "autograded" / student / assignment / (NOTEBOOK[assignment] + ".ipynb")
    nb = nbformat.read(path, as_version=4)
    cells = [c for c in nb.cells if c.cell_type == "code" and (
        not tests_only or c.metadata.get("nbgrader", {}).get("grade"))]
    return "".join(o.get("text", "") for c in cells for o in c.get("outputs", []))


def _only_lost(got: dict[str, float], points: dict[str, float], lost: set[str]) -> None:
    assert got == {g: (0.0 if g in lost else p) for g, p in points.items()}, (lost, got)


@pytest.mark.parametrize("assignment", sorted(NOTEBOOK))
def test_hanging_and_exiting_code_lose_only_their_items(graded, assignment):
    course = graded[assignment]
    points = _points(course / "source" / assignment / (NOTEBOOK[assignment] + ".ipynb"))
    for kind, broken in BROKEN[assignment].items():
        _only_lost(_scores(course, assignment, kind), points, {f"test_{gid}" for gid in broken})
    # the feedback says what happened instead of showing a bare traceback
    for kind, words in (("hang", "timed out"), ("exit", "SystemExit")):
        text = _autograded_text(course, assignment, kind)
        assert words in text and "Traceback" not in text, text[:2000]


@pytest.mark.parametrize("assignment", sorted(NOTEBOOK))
def test_calling_edulibs_implementation_scores_zero_for_that_item(graded, assignment):
    course = graded[assignment]
    points = _points(course / "source" / assignment / (NOTEBOOK[assignment] + ".ipynb"))
    lost = set(LIBRARY[assignment]) | LIBRARY_LABS.get(assignment, set())
    _only_lost(_scores(course, assignment, "library"), points, {f"test_{gid}" for gid in lost})
    assert "edulib's own implementation" in _autograded_text(course, assignment, "library")


@pytest.mark.parametrize("assignment", sorted(NOTEBOOK))
def test_patched_checks_and_the_instructors_files_earn_nothing(graded, assignment):
    course = graded[assignment]
    for student in ("patched", "reader"):
        assert set(_scores(course, assignment, student).values()) == {0.0}, student


@pytest.mark.parametrize("assignment", sorted(NOTEBOOK))
def test_hostile_cells_cost_nothing_and_are_reported(graded, assignment):
    course = graded[assignment]
    points = _points(course / "source" / assignment / (NOTEBOOK[assignment] + ".ipynb"))
    assert _scores(course, assignment, "hostile") == points
    text = _autograded_text(course, assignment, "hostile", tests_only=False)
    for words in ("crashed the process", "hung", "PermissionError", "MemoryError"):
        assert words in text, (words, text[:3000])


@pytest.mark.parametrize("assignment", sorted(NOTEBOOK))
def test_fake_numbers_and_a_dying_function_lose_only_their_item(graded, assignment):
    course = graded[assignment]
    points = _points(course / "source" / assignment / (NOTEBOOK[assignment] + ".ipynb"))
    first = next(iter(LIBRARY[assignment]))
    lost = {f"test_{gid}" for gid in {first} | DEPENDS.get(assignment, {}).get(first, set())}
    for student in ("eq_all", "os_exit"):
        _only_lost(_scores(course, assignment, student), points, lost)


@pytest.mark.parametrize("assignment", sorted(LOOKUP))
def test_answers_copied_for_the_visible_inputs_get_only_the_visible_share(graded, assignment):
    course = graded[assignment]
    points = _points(course / "source" / assignment / (NOTEBOOK[assignment] + ".ipynb"))
    got = _scores(course, assignment, "lookup")
    for gid in LOOKUP[assignment]:
        t = f"test_{gid}"
        assert got[t] == pytest.approx(points[t] / 3, abs=1e-3), got   # 1 visible of 3 cases
        assert sum(got.values()) == pytest.approx(sum(points.values()) - 2 * points[t] / 3, abs=1e-3)


def test_private_helpers_smuggled_code_and_forged_events_earn_nothing(graded):
    course = graded["01_losses"]
    points = _points(course / "source" / "01_losses" / "03_exercises.ipynb")
    lost = {f"test_{gid}" for gid in SIBLINGS}
    for student in ("siblings", "smuggler"):
        _only_lost(_scores(course, "01_losses", student), points, lost)
    text = _autograded_text(course, "01_losses", "smuggler", tests_only=False)
    assert "no source: not allowed while grading: open() of a relative path" in text
    assert text.count("no pipe: not allowed while grading: reading /proc/") == 3


@pytest.mark.parametrize("assignment", sorted(NO_TECHNIQUE))
def test_the_lab_needs_the_technique_it_teaches(graded, assignment):
    course = graded[assignment]
    points = _points(course / "source" / assignment / (NOTEBOOK[assignment] + ".ipynb"))
    lab = {f"test_{gid}" for gid in NO_TECHNIQUE[assignment]}
    for student in ("no_technique", "dummy_call"):
        _only_lost(_scores(course, assignment, student), points, lab)


@pytest.mark.parametrize("assignment", sorted(NOTEBOOK))
def test_the_feedback_never_shows_hidden_inputs(graded, assignment):
    course = graded[assignment]
    points = _points(course / "source" / assignment / (NOTEBOOK[assignment] + ".ipynb"))
    assert _scores(course, assignment, "leak") == points
    text = _autograded_text(course, assignment, "leak", tests_only=False)
    assert "LEAK: []" in text and "__ndarray__" not in text and "__recipe__" not in text


def test_a_class_through_the_exchange(tmp_path):
    assignment, name = "01_losses", NOTEBOOK["01_losses"] + ".ipynb"
    exchange, course = tmp_path / "exchange", tmp_path / "instructor"
    exchange.mkdir()
    shutil.copytree(SOURCE / assignment, course / "source" / assignment)
    _config(course, exchange)
    _nbgrader(course, "generate_assignment", assignment, "--force")
    _nbgrader(course, "release_assignment", assignment, "--force")

    solved = solutions(course / "source" / assignment / name)
    answers = {"alice": solved,
               "bob": {**solved, "mse_grad": WRONG[assignment]["mse_grad"][0][0],
                       "fit_line": WRONG[assignment]["fit_line"][0][0]}}
    homes = {student: tmp_path / student for student in answers}    # one account each
    for home in homes.values():
        home.mkdir()
        _config(home, exchange)
    _wait(*[_start(home, "fetch_assignment", assignment, f"--student={student}")
            for student, home in homes.items()])
    for student, home in homes.items():
        fetched = home / assignment / name
        fill(fetched, answers[student], fetched)
    _wait(*[_start(home, "submit", assignment, f"--student={student}")
            for student, home in homes.items()])

    _nbgrader(course, "collect", assignment)
    _nbgrader(course, "autograde", assignment)
    assert set(_scores(course, assignment, "alice").values()) != {0.0}
    _nbgrader(course, "generate_feedback", assignment)
    _nbgrader(course, "release_feedback", assignment)
    expected = {"alice": 11.0, "bob": 11.0 - 1.0 + 0.5 - 3.0}
    _wait(*[_start(home, "fetch_feedback", assignment, f"--student={student}")
            for student, home in homes.items()])
    for student, score in expected.items():
        assert sum(_scores(course, assignment, student).values()) == pytest.approx(score)
        html = list((homes[student] / assignment / "feedback").glob(f"*/{NOTEBOOK[assignment]}.html"))
        assert len(html) == 1, html
        page = html[0].read_text()
        assert f"(Score: {score:.1f} / 11.0)" in page, re.findall(r"\(Score: [^)]*\)", page)[:3]


def test_the_instructors_guide_for_a_class(tmp_path):
    """course/INSTRUCTORS.md, "Grading on one machine": generate, submissions, the class command
    (a process pool, then nbgrader's gradebook), feedback, export and the report."""
    assignment, name = "01_losses", NOTEBOOK["01_losses"] + ".ipynb"
    course = tmp_path / "instructor"
    shutil.copytree(SOURCE / assignment, course / "source" / assignment)
    _config(course)
    _nbgrader(course, "generate_assignment", assignment)
    solved = solutions(course / "source" / assignment / name)
    answers = {"ann": solved, "ben": {**solved, "mse_grad": "return 2.0 * (y - y_hat) / y_hat.size"},
               "cat": {}}
    for student, ans in answers.items():
        fill(course / "release" / assignment / name, ans, course / "submitted" / student / assignment / name)
    env = {**os.environ, "EDULIB_CLASS_SECRET": SECRET,
           "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")}
    out = subprocess.run([sys.executable, "-m", "edulib.grading", "autograde", assignment,
                          "--workers", "2"], cwd=course, env=env, capture_output=True, text=True,
                         timeout=900)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "100%" in out.stderr and "3/3" in out.stderr          # tqdm's progress bar
    assert "test_mse_grad" in out.stdout and "the sign is flipped" in out.stdout   # the report
    totals = {s: sum(_scores(course, assignment, s).values()) for s in answers}
    assert totals == {"ann": 11.0, "ben": 10.0, "cat": 0.0}
    _nbgrader(course, "generate_feedback", assignment)
    _nbgrader(course, "export")
    assert (course / "feedback" / "ben" / assignment / "03_exercises.html").exists()
    grades = (course / "grades.csv").read_text()
    assert grades.count(assignment) == 3
    for f in ("report.csv", "mistakes.csv", "report.png"):
        assert (course / "trusted" / assignment / f).exists()


def test_a_class_on_a_dask_cluster(tmp_path):
    distributed = pytest.importorskip("distributed", reason="pip install -e '.[cluster]'")
    from edulib.grading.classroom import grade_class

    assignment, name = "01_losses", NOTEBOOK["01_losses"] + ".ipynb"
    course = tmp_path / "instructor"
    shutil.copytree(SOURCE / assignment, course / "source" / assignment)
    src = course / "source" / assignment / name        # the solved notebook, submitted twice
    for student in ("ann", "ben"):
        dest = course / "submitted" / student / assignment / name
        dest.parent.mkdir(parents=True)
        shutil.copy(src, dest)
    os.environ["EDULIB_CLASS_SECRET"] = SECRET
    try:
        with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                      dashboard_address=None) as cluster:
            subs = grade_class(course, assignment, scheduler=cluster.scheduler_address,
                               progress=False, run_nbgrader=False)
    finally:
        del os.environ["EDULIB_CLASS_SECRET"]
    assert len(subs) == 2
    for student in ("ann", "ben"):
        saved = json.loads((course / "trusted" / assignment / student / "03_exercises.json").read_text())
        assert sum(i["points"] for i in saved["items"]) == 11.0
