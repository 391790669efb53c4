"""Bad input at every public boundary of edulib: a clear ValueError/TypeError that names the
argument, what was expected and what was received -- never a broadcasting accident, a silent
NaN or a crash deep inside. One row per case: (id, call, exception type, words in the message).
"""

from __future__ import annotations

import math

import matplotlib
import numpy as np
import pytest

from edulib import data as D
from edulib import exercises as EX
from edulib import fitting as FT
from edulib import functions as F
from edulib import gradcheck as G
from edulib import landscape as LS
from edulib import losses as L
from edulib import models as M
from edulib import optim as O
from edulib import plots as P
from edulib import train as T
from edulib import widgets as W

matplotlib.use("Agg")
xs = pytest.importorskip("array_api_strict")

X = np.arange(8.0).reshape(4, 2) / 8.0
Y_REG = np.array([0.0, 1.0, 2.0, 3.0])
Y_CLS = np.array([0, 1, 2, 0])
X_NAN = X.copy()
X_NAN[1, 0] = np.nan
LIN = M.LinearRegression(2)
SOFT = M.SoftmaxRegression(2, 3)


def lin_params():
    return LIN.init_params(seed=0)


def sgd(**kw):
    return O.SGD({"w": np.zeros(2)}, **kw)


def step_with(grads, **kw):
    sgd(lr=0.1, **kw).step(grads)


def train_lin(data=(X, Y_REG), **kw):
    params = lin_params()
    return T.train(LIN, params, O.SGD(params, lr=0.1), data, **kw)


def set_lr_then_step():
    opt = sgd(lr=0.1)
    opt.lr = -1.0  # a slider or a schedule may change it between steps
    opt.step({"w": np.zeros(2)})


def set_then_step(**flags):
    opt = sgd(lr=0.1, momentum=0.9)
    for k, v in flags.items():  # a flag changed between steps is checked at the next step
        setattr(opt, k, v)
    opt.step({"w": np.zeros(2)})


def plot_fits(**kw):
    args = {"x": np.ones(3), "y": np.ones(3), "fits": {}} | kw
    return P.plot_line_fits(**args)


def history():
    return T.History(train_loss=[1.0], epoch_steps=[0], time=[0.0])


CASES = [
    # ------------------------------------------------------------------ losses (building blocks)
    ("sigmoid-str", lambda: L.sigmoid("a"), TypeError, ["z", "str"]),
    ("softmax-axis", lambda: L.softmax(np.ones((2, 3)), axis=5), ValueError,
     ["axis", "[-2, 1]", "(2, 3)", "5"]),
    ("log_softmax-axis-float", lambda: L.log_softmax(np.ones((2, 3)), axis=1.0), TypeError,
     ["axis", "float"]),
    ("logsumexp-empty", lambda: L.logsumexp(np.ones((2, 0))), ValueError,
     ["z", "empty", "(2, 0)"]),
    ("mse-mixed-backends", lambda: L.mse(np.ones(3), xs.ones(3)), TypeError,
     ["pred", "target", "one array library", "numpy.ndarray", "array_api_strict"]),
    ("mse-str-target", lambda: L.mse(np.ones(2), "ab"), TypeError, ["target", "str"]),
    ("mse-unicode-target", lambda: L.mse(np.ones(2), np.array(["a", "b"])), TypeError,
     ["target", "real numbers", "<U1"]),
    ("huber-positional", lambda: L.huber(np.ones(2), np.ones(2), 2.0), TypeError,
     ["huber", "by name", "delta=", "(2.0,)"]),
    ("huber-delta-array", lambda: L.huber(np.ones(2), np.ones(2), delta=np.ones(2)), TypeError,
     ["delta", "number", "(2,)"]),
    ("focal-gamma-complex", lambda: L.focal(np.ones(2), np.ones(2), gamma=1j), TypeError,
     ["gamma", "complex"]),
    ("softmax-inf", lambda: L.softmax(np.array([np.inf, 0.0])), ValueError,
     ["z", "finite", "1 slice(s)", "(2,)"]),
    ("sigmoid-nan", lambda: L.sigmoid(np.array([np.nan])), ValueError, ["z", "NaN", "(1,)"]),
    # ------------------------------------------------------------------ gradcheck
    ("numgrad-f-not-callable", lambda: G.numerical_gradient(3, np.ones(2)), TypeError,
     ["f", "function", "int"]),
    ("numgrad-f-vector", lambda: G.numerical_gradient(lambda x: x, np.ones(2)), TypeError,
     ["f", "scalar", "(2,)"]),
    ("numgrad-f-nan", lambda: G.numerical_gradient(lambda x: math.nan, np.ones(2)), ValueError,
     ["f", "finite", "nan"]),
    ("numgrad-dict-int", lambda: G.numerical_gradient(lambda p: 0.0, {"a": np.ones(2, int)}),
     TypeError, ["x['a']", "floating", "int64"]),
    ("numgrad-dict-list", lambda: G.numerical_gradient(lambda p: 0.0, {"a": [1.0, 2.0]}),
     TypeError, ["x['a']", "array", "list"]),
    ("numgrad-h", lambda: G.numerical_gradient(lambda x: 0.0, np.ones(2), h=0), ValueError,
     ["h", "0"]),
    ("numgrad-h-tiny", lambda: G.numerical_gradient(lambda x: 0.0, np.ones(2), h=1e-300),
     ValueError, ["h", "eps^2", "1e-300", "float64"]),
    ("numgrad-f-str", lambda: G.numerical_gradient(lambda x: "0.5", np.ones(2)), TypeError,
     ["f", "real number", "str"]),
    ("numgrad-f-none", lambda: G.numerical_gradient(lambda x: None, np.ones(2)), TypeError,
     ["f", "real number", "NoneType"]),
    ("numgrad-x-nan", lambda: G.numerical_gradient(lambda x: 0.0, np.array([np.nan])),
     ValueError, ["x", "finite"]),
    ("check_gradient-analytic-str",
     lambda: G.check_gradient(lambda x: float(x.sum()), np.ones(2), "ab"), TypeError,
     ["analytic", "array of numbers", "str"]),
    ("verdict-nan", lambda: G.verdict(math.nan), ValueError, ["err", "nan"]),
    ("numgrad-method", lambda: G.numerical_gradient(lambda x: 0.0, np.ones(2), method="back"),
     ValueError, ["method", "'centred'", "'back'"]),
    ("rel_error-nan", lambda: G.rel_error(np.ones(2), np.array([np.nan, 1.0])), ValueError,
     ["n", "finite", "1 non-finite"]),
    ("rel_error-keys", lambda: G.rel_error({"a": np.ones(2)}, {"b": np.ones(2)}), ValueError,
     ["same keys", "['a']", "['b']"]),
    ("check_gradient-shape",
     lambda: G.check_gradient(lambda x: float(x.sum()), np.ones(2), np.ones(3)), ValueError,
     ["analytic", "shape of x", "(2,)", "(3,)"]),
    ("check_gradient-keys",
     lambda: G.check_gradient(lambda p: 0.0, {"a": np.ones(2)}, {"b": np.ones(2)}), ValueError,
     ["analytic", "keys", "['b']", "['a']"]),
    ("check_gradient-nan",
     lambda: G.check_gradient(lambda x: float(x.sum()), np.ones(2), np.array([np.nan, 1.0])),
     ValueError, ["analytic", "finite"]),
    ("check_gradient-tol", lambda: G.check_gradient(lambda x: 0.0, np.ones(2), np.ones(2), tol=-1),
     ValueError, ["tol", "-1"]),
    # ------------------------------------------------------------------ data
    ("split-empty", lambda: D.train_val_split(np.ones((0, 2)), np.ones(0)), ValueError,
     ["X", "at least 2", "(0, 2)"]),
    ("split-0d", lambda: D.train_val_split(np.float64(1.0), np.ones(1)), ValueError,
     ["X", "(N, ...)", "()"]),
    ("split-mismatch", lambda: D.train_val_split(X, Y_REG[:3]), ValueError, ["y", "4", "3"]),
    ("split-fraction", lambda: D.train_val_split(X, Y_CLS, val_fraction=0), ValueError,
     ["val_fraction", "0"]),
    ("split-float-stratify", lambda: D.train_val_split(X, Y_REG, stratify=True), ValueError,
     ["stratify=True", "class labels", "float64", "stratify=False"]),
    ("split-lonely-class", lambda: D.train_val_split(X, np.array([0, 0, 1, 2])), ValueError,
     ["at least 2 examples of every class", "[1, 2]"]),
    ("split-no-train", lambda: D.train_val_split(X, Y_REG, val_fraction=0.9), ValueError,
     ["val_fraction=0.9", "N=4", "none for training"]),
    ("split-stratify-str", lambda: D.train_val_split(X, Y_CLS, stratify="no"), TypeError,
     ["stratify", "'no'"]),
    ("outliers-n", lambda: D.regression_with_outliers(n=0, n_outliers=0), ValueError,
     ["n", "[2, inf]", "0"]),
    ("outliers-n-float", lambda: D.regression_with_outliers(n=10.5), TypeError,
     ["n", "int", "10.5"]),
    ("outliers-too-many", lambda: D.regression_with_outliers(n=5, n_outliers=5), ValueError,
     ["n_outliers", "n=5", "5"]),
    ("outliers-noise", lambda: D.regression_with_outliers(noise=-1.0), ValueError,
     ["noise", "-1.0"]),
    ("outliers-noise-nan", lambda: D.regression_with_outliers(noise=math.nan), ValueError,
     ["noise", "nan"]),
    ("outliers-slope-str", lambda: D.regression_with_outliers(slope="2"), TypeError,
     ["slope", "str"]),
    ("imbalanced-n", lambda: D.imbalanced(n=3), ValueError, ["n", "[4, inf]", "3"]),
    ("imbalanced-features", lambda: D.imbalanced(n_features=0), ValueError,
     ["n_features", "0"]),
    ("imbalanced-no-negatives", lambda: D.imbalanced(n=4, positive_fraction=0.9), ValueError,
     ["positive_fraction", "negatives"]),
    ("spirals-classes", lambda: D.spirals(n_classes=1), ValueError, ["n_classes", "1"]),
    ("spirals-per-class", lambda: D.spirals(n_per_class=0), ValueError, ["n_per_class", "0"]),
    ("spirals-noise", lambda: D.spirals(noise=-0.1), ValueError, ["noise", "-0.1"]),
    ("digits-fraction", lambda: D.digits(val_fraction=2), ValueError, ["val_fraction", "2"]),
    # ------------------------------------------------------------------ functions
    ("surface-shape", lambda: F.Rosenbrock().f(np.ones(3)), ValueError, ["x", "(2,)", "(3,)"]),
    ("surface-str", lambda: F.Rosenbrock().grad("ab"), TypeError, ["x", "str"]),
    ("grid-n", lambda: F.Rosenbrock().grid(n=1), ValueError, ["n", ">= 2", "1"]),
    ("grid-xp", lambda: F.Rosenbrock().grid(xp="numpy"), TypeError, ["xp", "namespace", "str"]),
    ("quadratic-kappa", lambda: F.Quadratic.with_condition_number(0.5), ValueError,
     ["kappa", "0.5"]),
    # ------------------------------------------------------------------ models
    ("model-X-nan", lambda: LIN.loss(lin_params(), X_NAN, Y_REG), ValueError,
     ["X", "finite", "(4, 2)"]),
    ("model-forward-X-nan", lambda: SOFT.forward(SOFT.init_params(), X_NAN), ValueError,
     ["X", "finite"]),
    ("model-accuracy-X-nan", lambda: SOFT.accuracy(SOFT.init_params(), X_NAN, Y_CLS),
     ValueError, ["X", "finite"]),
    ("model-y-nan", lambda: LIN.loss_and_grad(lin_params(), X, np.array([np.nan, 0, 0, 0])),
     ValueError, ["y", "finite", "(4,)"]),
    ("model-y-shape", lambda: LIN.loss(lin_params(), X, Y_REG[:, None]), ValueError,
     ["y", "(4,)", "(4, 1)"]),
    ("model-X-columns", lambda: LIN.loss(lin_params(), np.ones((4, 3)), Y_REG), ValueError,
     ["X", "n_features=2", "(4, 3)"]),
    ("model-keys", lambda: LIN.loss({"w": np.zeros(2)}, X, Y_REG), ValueError,
     ["params", "['b', 'w']", "['w']"]),
    ("model-param-list", lambda: LIN.loss({"w": [0.0, 0.0], "b": [0.0]}, X, Y_REG), TypeError,
     ["params['w']", "array", "list"]),
    ("model-mixed", lambda: LIN.loss(lin_params(), xs.asarray(X), Y_REG), TypeError,
     ["X", "params", "same array library"]),
    ("model-labels-range", lambda: SOFT.loss(SOFT.init_params(), X, np.array([0, 1, 5, 0])),
     ValueError, ["y", "[0, 2]", "[0, 5]"]),
    ("model-labels-float", lambda: SOFT.loss(SOFT.init_params(), X, Y_CLS * 1.0), TypeError,
     ["y", "integer", "float64"]),
    ("penalty-keys", lambda: M.LinearRegression(2, weight_decay=1.0).penalty({"W": np.ones(2)}),
     ValueError, ["params", "['b', 'w']", "['W']"]),
    ("model-params-nan", lambda: LIN.loss({"w": np.array([np.nan, 0.0]), "b": np.zeros(1)}, X,
                                          Y_REG), ValueError,
     ["params['w']", "finite", "1 non-finite", "(2,)"]),
    ("model-predict-params-inf", lambda: SOFT.predict({"W": np.full((2, 3), np.inf),
                                                       "b": np.zeros(3)}, X), ValueError,
     ["params['W']", "finite", "6 non-finite"]),
    ("model-y-str", lambda: LIN.loss(lin_params(), X, "abcd"), TypeError, ["y", "str"]),
    ("mlp-hidden-float", lambda: M.MLP(2, hidden=8.0), TypeError,
     ["hidden", "int or a sequence", "float", "8.0"]),
    ("mlp-hidden-entry", lambda: M.MLP(2, hidden=(4, 2.5)), TypeError,
     ["hidden", "int", "2.5"]),
    ("model-n_features-float", lambda: M.LinearRegression(2.0), TypeError,
     ["n_features", "int", "2.0"]),
    ("mlp-activation", lambda: M.MLP(2, activation="sigmoid"), ValueError,
     ["activation", "'relu'", "'sigmoid'"]),
    ("init-dtype", lambda: LIN.init_params(dtype="int32"), ValueError, ["dtype", "'int32'"]),
    # ------------------------------------------------------------------ optim
    ("sgd-lr", lambda: sgd(lr=-0.1), ValueError, ["lr", "-0.1"]),
    ("sgd-lr-nan", lambda: sgd(lr=math.nan), ValueError, ["lr", "nan"]),
    ("sgd-momentum", lambda: sgd(momentum=-0.5), ValueError, ["momentum", "-0.5"]),
    ("sgd-weight-decay", lambda: sgd(weight_decay=-1.0), ValueError, ["weight_decay", "-1.0"]),
    ("sgd-nesterov-str", lambda: sgd(nesterov="yes", momentum=0.9), TypeError,
     ["nesterov", "True or False", "'yes'"]),
    ("sgd-maximize-str", lambda: sgd(maximize="no"), TypeError, ["maximize", "'no'"]),
    ("adam-amsgrad-str", lambda: O.Adam({"w": np.zeros(2)}, amsgrad="yes"), TypeError,
     ["amsgrad", "True or False", "str 'yes'"]),
    ("rmsprop-centered-str", lambda: O.RMSprop({"w": np.zeros(2)}, centered="False"), TypeError,
     ["centered", "True or False", "'False'"]),
    ("adagrad-maximize-2", lambda: O.Adagrad({"w": np.zeros(2)}, maximize=2), TypeError,
     ["maximize", "True or False", "int 2"]),
    ("sgd-nesterov-set-later", lambda: set_then_step(nesterov="yes"), TypeError,
     ["nesterov", "'yes'"]),
    ("sgd-params-int", lambda: O.SGD({"w": np.zeros(2, int)}), TypeError,
     ["params['w']", "floating", "int64"]),
    ("step-keys", lambda: step_with({"v": np.zeros(2)}), ValueError,
     ["grads", "['w']", "['v']", "missing"]),
    ("step-broadcast", lambda: step_with({"w": np.zeros((1, 2))}), ValueError,
     ["grads['w']", "(2,)", "(1, 2)"]),
    ("step-nan", lambda: step_with({"w": np.array([np.nan, 0.0])}), ValueError,
     ["grads['w']", "finite", "lr"]),
    ("step-mixed", lambda: step_with({"w": xs.zeros(2)}), TypeError,
     ["grads['w']", "same library", "numpy.ndarray", "array_api_strict"]),
    ("step-lr-attribute", set_lr_then_step, ValueError, ["lr", "-1.0"]),
    ("load_state_dict", lambda: sgd().load_state_dict({"x": 1}), ValueError,
     ["state_dict", "'hyperparams'", "['x']"]),
    # ------------------------------------------------------------------ train
    ("global_norm-list", lambda: T.global_norm([np.ones(2)]), TypeError, ["grads", "list"]),
    ("global_norm-values", lambda: T.global_norm({"a": [1.0]}), TypeError,
     ["grads['a']", "list"]),
    ("clip-max_norm", lambda: T.clip_grad_norm({"a": np.ones(2)}, 0), ValueError,
     ["max_norm", "0"]),
    ("batches-0", lambda: T.batch_indices(10, 0), ValueError, ["batch_size", "0"]),
    ("batches-float", lambda: T.batch_indices(10, 2.5), TypeError, ["batch_size", "2.5"]),
    ("batches-n", lambda: T.batch_indices(-1, 2), ValueError, ["n", "-1"]),
    ("batches-rng", lambda: T.batch_indices(10, 2, rng=3), TypeError, ["rng", "Generator", "int"]),
    ("train-epochs", lambda: train_lin(epochs=-1), ValueError, ["epochs", "-1"]),
    ("train-epochs-float", lambda: train_lin(epochs=2.0), ValueError, ["epochs", "2.0"]),
    ("train-batch-0", lambda: train_lin(batch_size=0), ValueError, ["batch_size", "0"]),
    ("train-max_steps-bool", lambda: train_lin(max_steps=True), ValueError,
     ["max_steps", "True"]),
    ("train-clip", lambda: train_lin(clip_norm=-1.0), ValueError, ["clip_norm", "-1.0"]),
    ("train-on_diverge", lambda: train_lin(on_diverge="ignore"), ValueError,
     ["on_diverge", "'ignore'"]),
    ("train-callback", lambda: train_lin(callback=3), TypeError, ["callback", "int"]),
    ("train-X-nan", lambda: train_lin(data=(X_NAN, Y_REG)), ValueError,
     ["X_train", "finite", "(4, 2)"]),
    ("train-y-nan", lambda: train_lin(data=(X, np.array([0.0, np.inf, 0.0, 0.0]))), ValueError,
     ["y_train", "finite"]),
    ("train-y-length", lambda: train_lin(data=(X, Y_REG[:3])), ValueError,
     ["y_train", "4", "3"]),
    ("train-data", lambda: train_lin(data=X), TypeError, ["data", "Split", "ndarray"]),
    ("train-seed-negative", lambda: train_lin(seed=-1), ValueError, ["seed", "[0, inf]", "-1"]),
    ("train-seed-float", lambda: train_lin(seed=1.5), TypeError, ["seed", "int", "1.5"]),
    ("train-seed-str", lambda: train_lin(seed="0"), TypeError, ["seed", "int", "'0'"]),
    ("train-shuffle-str", lambda: train_lin(shuffle="no", batch_size=2), TypeError,
     ["shuffle", "True or False", "'no'"]),
    ("train-verbose-str", lambda: train_lin(verbose="yes"), TypeError,
     ["verbose", "True or False", "'yes'"]),
    ("train-restore_best-none", lambda: train_lin(early_stopping=2, restore_best=None),
     TypeError, ["restore_best", "True or False", "None"]),
    ("batches-shuffle-str", lambda: T.batch_indices(10, 2, shuffle="no"), TypeError,
     ["shuffle", "'no'"]),
    ("train-y_val-length", lambda: train_lin(data=D.Split(X, X, Y_REG, Y_REG[:3])), ValueError,
     ["y_val", "X_val.shape[0] = 4", "3"]),
    ("train-X_val-columns", lambda: train_lin(data=D.Split(X, np.ones((4, 3)), Y_REG, Y_REG)),
     ValueError, ["X_val", "example shape of X_train", "(2,)", "(3,)"]),
    ("train-X_val-none", lambda: train_lin(data=D.Split(X, None, Y_REG, Y_REG)), ValueError,
     ["X_val", "y_val", "both", "X_val = None"]),
    ("train-y_val-nan", lambda: train_lin(data=D.Split(X, X, Y_REG, Y_REG * np.nan)),
     ValueError, ["y_val", "finite"]),
    ("surface-run-surface", lambda: T.run_on_surface(3, O.SGD, np.zeros(2), lr=0.1), TypeError,
     ["surface", "f(x)", "int"]),
    ("surface-run-optimizer", lambda: T.run_on_surface(F.Saddle(), 3, np.zeros(2)), TypeError,
     ["optimizer", "int"]),
    ("surface-run-x0", lambda: T.run_on_surface(F.Saddle(), O.SGD, np.zeros(3), lr=0.1),
     ValueError, ["x0", "(2,)", "(3,)"]),
    ("surface-run-lr", lambda: T.run_on_surface(F.Saddle(), O.SGD, np.zeros(2), lr=-0.1),
     ValueError, ["lr", "-0.1"]),
    # ------------------------------------------------------------------ landscape
    ("direction-filter-axis", lambda: LS.random_direction(SOFT.init_params(), filter_axis=5),
     ValueError, ["filter_axis", "params['W']", "(2, 3)", "5"]),
    ("direction-normalization", lambda: LS.random_direction(lin_params(), normalization="x"),
     ValueError, ["normalization", "'x'"]),
    ("direction-mixed", lambda: LS.direction_between({"w": np.ones(2)}, {"w": xs.ones(2)}),
     TypeError, ["end['w']", "array library", "array_api_strict"]),
    ("direction-list", lambda: LS.direction_between({"w": [1.0]}, {"w": [2.0]}), TypeError,
     ["start['w']", "list"]),
    ("slice-loss-vector", lambda: LS.slice_1d(lambda p: p["w"], lin_params(), lin_params(), [0.0]),
     TypeError, ["loss_fn", "scalar", "(2,)"]),
    ("direction-ignore_biases-str", lambda: LS.random_direction(lin_params(),
                                                                ignore_biases="no"),
     TypeError, ["ignore_biases", "True or False", "'no'"]),
    ("slice-batched-str", lambda: LS.slice_1d(lambda p: 0.0, lin_params(), lin_params(), [0.0],
                                              batched="yes"),
     TypeError, ["batched", "True or False", "'yes'"]),
    ("slice_2d-batched-str", lambda: LS.slice_2d(lambda p: 0.0, lin_params(), lin_params(),
                                                 lin_params(), [0.0], [0.0], batched=1.0),
     TypeError, ["batched", "True or False", "float 1.0"]),
    ("slice-loss-not-callable", lambda: LS.slice_1d(3, lin_params(), lin_params(), [0.0]),
     TypeError, ["loss_fn", "int"]),
    ("slice-alphas", lambda: LS.slice_2d(lambda p: 0.0, lin_params(), lin_params(),
                                         lin_params(), [0.0], []),
     ValueError, ["betas", "(0,)"]),
    # ------------------------------------------------------------------ fitting
    ("predict-shape", lambda: FT.predict(np.ones((4, 3)), np.ones(2), 0.0), ValueError,
     ["w", "d = X.shape[1] = 3", "(2,)"]),
    ("predict-nan", lambda: FT.predict(X_NAN, np.ones(2), 0.0), ValueError, ["X", "finite"]),
    ("fit-y-nan", lambda: FT.fit_linear(X, np.array([np.nan, 1.0, 2.0, 3.0]), L.mse), ValueError,
     ["y", "finite"]),
    ("fit-y-float-labels", lambda: FT.fit_linear(X, Y_REG, L.cross_entropy), TypeError,
     ["y", "integer", "float64"]),
    ("fit-n_classes-small", lambda: FT.fit_linear(X, Y_CLS, L.cross_entropy, n_classes=2),
     ValueError, ["n_classes", "max(y) + 1 = 3", "2"]),
    ("fit-n_classes-regression", lambda: FT.fit_linear(X, Y_REG, L.mse, n_classes=3),
     ValueError, ["n_classes", "'mse'"]),
    ("fit-n_steps-bool", lambda: FT.fit_linear(X, Y_REG, L.mse, n_steps=True), TypeError,
     ["n_steps", "bool"]),
    ("fit-init-shape", lambda: FT.fit_linear(X, Y_REG, L.mse, init=(np.ones(3), 0.0)),
     ValueError, ["init", "w", "(2,)", "(3,)"]),
    ("fit-init-not-pair", lambda: FT.fit_linear(X, Y_REG, L.mse, init=np.ones(3)), TypeError,
     ["init", "pair", "ndarray"]),
    ("fit-lr", lambda: FT.fit_linear(X, Y_REG, L.mse, method="gd", lr=-1.0), ValueError,
     ["lr", "-1.0"]),
    ("fit-mixed", lambda: FT.fit_linear(xs.asarray(X), Y_REG, L.mse), TypeError,
     ["X", "y", "one array library"]),
    ("fit_line-constant", lambda: FT.fit_line(np.ones(5), np.arange(5.0), L.mse), ValueError,
     ["x", "two different values", "x = 1"]),
    ("fit-collinear", lambda: FT.fit_linear(np.stack([Y_REG, 2 * Y_REG], 1), Y_REG, L.mse),
     ValueError, ["X", "unique", "rank 2 < 3"]),
    ("fit-positional", lambda: FT.fit_linear(X, Y_REG, L.mse, "gd"), TypeError,
     ["fit_linear", "by name", "('gd',)"]),
    ("fit-huge", lambda: FT.fit_linear(X * 1e200, Y_REG, L.mse), ValueError,
     ["X", "too large", "rescale"]),
    ("fit-gd-diverges", lambda: FT.fit_linear(X, Y_REG, L.mse, method="gd", lr=1e10),
     ValueError, ["lr=1e+10", "too large", "default lr"]),
    ("fit-init-nan", lambda: FT.fit_linear(X, Y_REG, L.mse, init=(np.array([np.nan, 0]), 0.0)),
     ValueError, ["init w", "finite"]),
    ("predict-w-nan", lambda: FT.predict(X, np.array([np.nan, 1.0]), 0.0), ValueError,
     ["w", "finite"]),
    ("fit-method", lambda: FT.fit_linear(X, Y_REG, L.mse, method="newton"), ValueError,
     ["method", "'newton'"]),
    # ------------------------------------------------------------------ exercises
    ("exercise-seed", lambda: EX.check_mse_grad(lambda a, b: a, seed="x", verbose=False),
     TypeError, ["seed", "str"]),
    ("exercise-rtol", lambda: EX.check_mse_grad(lambda a, b: a, rtol=-1.0, verbose=False),
     ValueError, ["rtol", "-1.0"]),
    # ------------------------------------------------------------------ plots
    ("residual_curve-loss", lambda: P.residual_curve("mse", np.ones(3)), TypeError,
     ["loss", "edulib loss", "'mse'"]),
    ("residual_losses-str", lambda: P.plot_residual_losses("mse"), TypeError,
     ["losses", "str"]),
    ("residual_losses-params", lambda: P.plot_residual_losses([L.mse], params={"hubber": {}}),
     ValueError, ["params", "['mse']", "['hubber']"]),
    ("line_fits-shapes", lambda: plot_fits(y=np.ones(4)), ValueError, ["y", "(3,)", "(4,)"]),
    ("line_fits-mask", lambda: plot_fits(is_outlier=np.zeros(3)), TypeError,
     ["is_outlier", "boolean", "float64"]),
    ("line_fits-fit", lambda: plot_fits(fits={"mse": 1.0}), ValueError,
     ["fits['mse']", "(slope, intercept)"]),
    ("contour-surface", lambda: P.plot_contour("rosenbrock"), TypeError,
     ["surface", "str"]),
    ("contour-levels", lambda: P.contour_levels(np.arange(4.0), levels=1), ValueError,
     ["levels", "1"]),
    ("loss_curve-history", lambda: P.loss_curve_data({"train_loss": [1.0]}), TypeError,
     ["history", "History", "dict"]),
    ("loss_curve-x", lambda: P.loss_curve_data(history(), x="iter"), ValueError,
     ["x", "'step'", "'iter'"]),
    ("get_ax", lambda: P.get_ax(3), TypeError, ["ax", "Axes", "int"]),
    # ------------------------------------------------------------------ widgets
    ("huber-delta", lambda: W.huber_delta_dashboard(delta=-1.0), ValueError,
     ["delta", "-1.0"]),
    ("huber-delta-range", lambda: W.huber_delta_dashboard(delta_min=10.0, delta_max=1.0),
     ValueError, ["delta_max", "1.0"]),
    ("focal_share-labels", lambda: W.focal_share(np.ones(3), np.array([0, 1, 2]), 2.0),
     ValueError, ["y", "0 or 1", "2"]),
    ("focal_share-shape", lambda: W.focal_share(np.ones(3), np.array([0, 1]), 2.0), ValueError,
     ["y", "(3,)", "(2,)"]),
    ("focal_share-threshold", lambda: W.focal_share(np.ones(2), np.array([0, 1]), 2.0,
                                                    easy_threshold=2.0),
     ValueError, ["easy_threshold", "2.0"]),
    ("focal-gamma", lambda: W.focal_gamma_dashboard(gamma=10.0), ValueError,
     ["gamma", "10.0"]),
    ("focal-split", lambda: W.focal_gamma_dashboard(split=(X, Y_CLS)), TypeError,
     ["split", "Split", "tuple"]),
    ("gd-max_steps", lambda: W.gd_dashboard(max_steps=0, steps=0), ValueError,
     ["max_steps", "0"]),
    ("gd-momentum", lambda: W.gd_dashboard(momentum=1.5, momentum_slider=True), ValueError,
     ["momentum", "1.5"]),
    ("gd-x0-box", lambda: W.gd_dashboard(x0=(100.0, 0.0)), ValueError,
     ["x0", "box", "100.0"]),
    ("checkpoints", lambda: W.minibatch_checkpoints(-5), ValueError, ["total_steps", "-5"]),
    ("examples_seen", lambda: W.examples_seen([1], 10, 0), ValueError, ["batch_size", "0"]),
    ("minibatch-n_points", lambda: W.minibatch_dashboard(n_points=0), ValueError,
     ["n_points", "0"]),
    ("momentum_rate-nan", lambda: W.momentum_rate([np.nan], 0.1, 0.5), ValueError,
     ["eigenvalues", "finite"]),
    ("momentum_rate-empty", lambda: W.momentum_rate([], 0.1, 0.5), ValueError,
     ["eigenvalues", "empty", "(0,)"]),
    ("momentum_rate-nesterov-str", lambda: W.momentum_rate([1.0], 0.1, 0.5, nesterov="no"),
     TypeError, ["nesterov", "True or False", "'no'"]),
    ("momentum-dashboard-nesterov-str", lambda: W.momentum_dashboard(nesterov="yes"),
     TypeError, ["nesterov", "True or False", "'yes'"]),
]


@pytest.mark.parametrize(("call", "exc", "words"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_bad_input_raises_clear_error(call, exc, words):
    with pytest.raises(exc) as info:
        call()
    for w in words:
        assert w in str(info.value), f"{w!r} missing from: {info.value}"


# ---------------------------------------------------------------------- the same on every backend
def test_nan_in_data_is_named_on_every_backend(xp):
    X_bad = xp.asarray(X_NAN)
    params = LIN.init_params(xp=xp)
    with pytest.raises(ValueError, match="X must be finite"):
        LIN.loss_and_grad(params, X_bad, xp.asarray(Y_REG))
    with pytest.raises(ValueError, match="X_train must be finite"):
        T.train(LIN, params, O.SGD(params, lr=0.1), (X_bad, xp.asarray(Y_REG)))
    with pytest.raises(ValueError, match=r"grads\['w'\] must be finite"):
        O.SGD(params, lr=0.1).step({"w": xp.asarray([math.nan, 0.0]), "b": xp.zeros(1)})
    with pytest.raises(ValueError, match="axis must be in"):
        L.softmax(xp.ones((2, 3)), axis=2)


# ---------------------------------------------------------------------- valid edges stay valid
def test_valid_edge_cases_still_work():
    # batch_size >= N is one batch (as PyTorch's DataLoader); epochs=0 only evaluates
    assert len(T.batch_indices(10, 20)) == 1
    assert train_lin(batch_size=100, epochs=1).steps == 1
    assert train_lin(epochs=0).steps == 0
    # a regression model trains without accuracy (its accuracy() refuses to run)
    h = train_lin(epochs=2)
    assert h.stop_reason == "completed" and h.train_acc == [] and len(h.train_loss) == 3
    # flags: NumPy booleans and 0/1 are booleans; seed=None and NumPy integer seeds work
    assert train_lin(shuffle=np.False_, batch_size=2, epochs=1).steps == 2
    assert train_lin(verbose=0, epochs=1).steps == 1
    assert train_lin(seed=None, batch_size=2, epochs=1).steps == 2
    assert train_lin(seed=np.int64(3), batch_size=2, epochs=1).steps == 2
    assert O.SGD({"w": np.zeros(2)}, momentum=0.9, nesterov=1).nesterov is True
    # lists are accepted as data; integer x0 as a start point
    assert train_lin(data=(X.tolist(), Y_REG.tolist()), epochs=1).steps == 1
    run = T.run_on_surface(F.Quadratic(), O.SGD, [1, 1], steps=2, lr=0.1)
    assert run.xs.shape == (3, 2)
    # f returning a 1-element array is still a scalar for gradient checking
    assert G.check_gradient(lambda x: x[:1] * 2.0, np.ones(1), np.array([2.0]))
