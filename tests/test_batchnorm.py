"""Batch normalisation in the MLP (``MLP(..., batch_norm=True)``): forward, hand-written backward
and running statistics equal to ``nn.Sequential(Linear, BatchNorm1d, ReLU, ..., Linear)`` in
float64, step for step; gradient checking; the two modes (training: batch statistics, running
statistics updated by ``loss_and_grad`` only; eval: running statistics) and what
:func:`edulib.train.train` does with them; the errors PyTorch raises too."""

from __future__ import annotations

import math

import numpy as np
import pytest

from edulib import hessian, models, optim
from edulib.backend import to_numpy
from edulib.data import Split
from edulib.gradcheck import check_gradient
from edulib.train import train

CONFIGS = {
    "relu_1": dict(n_features=4, hidden=6, n_classes=3, activation="relu"),
    "relu_2": dict(n_features=4, hidden=(6, 5), n_classes=3, activation="relu"),
    "tanh_2": dict(n_features=3, hidden=(5, 4), n_classes=2, activation="tanh"),
    "regression": dict(n_features=3, hidden=(5, 4), n_classes=None, activation="tanh"),
}


def _model(name, **kw):
    return models.MLP(**CONFIGS[name], batch_norm=True, **kw)


def _params(model, xp=None, seed=1, jitter=0.3):
    """init_params with nonzero biases, gamma != 1, beta != 0 and running statistics away from
    their start, so that every term of the forward and backward pass is exercised."""
    p = model.init_params(seed=seed)
    g = np.random.default_rng(seed + 100)
    out = {}
    for k, v in p.items():
        if k.startswith(("b", "gamma", "running_mean")):
            v = v + jitter * g.standard_normal(v.shape)
        elif k.startswith("running_var"):
            v = v * np.exp(jitter * g.standard_normal(v.shape))
        out[k] = v if xp is None else xp.asarray(v)
    return out


def _data(model, n, seed, xp=np):
    g = np.random.default_rng(seed)
    X = g.standard_normal((n, model.n_features)) * 2.0 + 0.5
    if model.task == "classification":
        y = g.integers(0, model.n_classes, n)
    else:
        y = g.standard_normal(n)
    return xp.asarray(X), xp.asarray(y)


def _torch_net(torch, model, params):
    """The same network in PyTorch, float64, holding a copy of ``params`` (buffers included)."""
    layers, sizes = [], (model.n_features, *model.hidden)
    act = torch.nn.ReLU if model.activation == "relu" else torch.nn.Tanh
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:], strict=True):
        lin, bn = torch.nn.Linear(fan_in, fan_out), torch.nn.BatchNorm1d(fan_out)
        layers += [lin, bn, act()]
    layers.append(torch.nn.Linear(sizes[-1], model.n_classes or 1))
    net = torch.nn.Sequential(*layers).double()
    _copy_into(torch, model, params, net)
    return net


def _torch_names(model):
    """edulib name -> (module index, attribute) in the Sequential above."""
    names = {}
    for layer in range(1, len(model.hidden) + 1):
        lin, bn = 3 * (layer - 1), 3 * (layer - 1) + 1
        names.update({f"W{layer}": (lin, "weight"), f"b{layer}": (lin, "bias"),
                      f"gamma{layer}": (bn, "weight"), f"beta{layer}": (bn, "bias"),
                      f"running_mean{layer}": (bn, "running_mean"),
                      f"running_var{layer}": (bn, "running_var")})
    last = 3 * len(model.hidden)
    names.update({f"W{model.n_layers}": (last, "weight"), f"b{model.n_layers}": (last, "bias")})
    return names


def _copy_into(torch, model, params, net):
    with torch.no_grad():
        for k, (i, attr) in _torch_names(model).items():
            if k in params:
                v = torch.tensor(np.asarray(to_numpy(params[k])), dtype=torch.float64)
                getattr(net[i], attr).copy_(v.T if k.startswith("W") else v)


def _torch_arrays(model, net, what="data"):
    """The Sequential's parameters (``what="data"``) or gradients (``"grad"``), edulib names."""
    out = {}
    for k, (i, attr) in _torch_names(model).items():
        if what == "grad" and k.startswith("running"):
            continue  # buffers have no gradient
        t = getattr(net[i], attr)
        a = (t.grad if what == "grad" else t).detach().numpy()
        out[k] = a.T if k.startswith("W") else a
    return out


def _torch_loss(torch, model, out, y):
    yt = torch.tensor(np.asarray(y))
    if model.task == "regression":
        return torch.nn.functional.mse_loss(out[:, 0], yt)
    return torch.nn.functional.cross_entropy(out, yt)


# ----------------------------------------------------------------------------- forward, backward
@pytest.mark.parametrize("name", list(CONFIGS))
@pytest.mark.parametrize("training", [True, False])
def test_forward_loss_and_every_gradient_match_torch(name, training):
    torch = pytest.importorskip("torch")
    model = _model(name)
    params = _params(model)
    X, y = _data(model, 9, seed=3)
    net = _torch_net(torch, model, params)
    net.train(training)
    out = net(torch.tensor(X))
    t_loss = _torch_loss(torch, model, out, y)
    t_loss.backward()
    t_out = out.detach().numpy()[:, 0] if model.task == "regression" else out.detach().numpy()
    np.testing.assert_allclose(to_numpy(model.forward(params, X, training=training)), t_out,
                               rtol=1e-12, atol=1e-13)
    loss, grads = model.loss_and_grad(params, X, y, training=training)
    assert float(loss) == pytest.approx(t_loss.item(), rel=1e-12)
    expected = _torch_arrays(model, net, "grad")
    assert set(expected) == set(model.param_shapes)          # every parameter, gamma and beta too
    for k, g in expected.items():
        np.testing.assert_allclose(grads[k], g, rtol=1e-9, atol=1e-12, err_msg=k)
    for k in model.buffer_shapes:
        assert grads[k] is None
    # the running statistics moved exactly as torch's (training) or not at all (eval)
    for k, v in _torch_arrays(model, net).items():
        if k.startswith("running"):
            np.testing.assert_allclose(params[k], v, rtol=1e-13, atol=1e-15, err_msg=k)


def test_training_and_eval_mode_give_different_outputs():
    model = _model("relu_2")
    params = _params(model)
    X, _ = _data(model, 12, seed=4)
    assert not np.allclose(model.forward(params, X), model.forward(params, X, training=True))
    # training mode: each unit's pre-activation has batch mean beta and std ~gamma, whatever X
    W, b, gam, bet = (params[k] for k in ("W1", "b1", "gamma1", "beta1"))
    Z = X @ W + b
    U = gam * (Z - Z.mean(0)) / np.sqrt(Z.var(0) + 1e-5) + bet
    first = models.MLP(4, 6, 3, batch_norm=True)  # one hidden layer: its logits from U directly
    p1 = {k: params[k] for k in ("W1", "b1", "gamma1", "beta1")} | {
        "W2": params["W2"][:, :3], "b2": params["b2"][:3]}
    np.testing.assert_allclose(first.forward(p1, X, training=True),
                               np.maximum(U, 0) @ p1["W2"] + p1["b2"], rtol=1e-12)


def test_hidden_bias_before_batch_norm_gets_no_training_gradient():
    model = _model("relu_2")
    params = _params(model)
    X, y = _data(model, 10, seed=5)
    _, grads = model.loss_and_grad(params, X, y)
    scale = max(float(np.abs(grads[k]).max()) for k in ("W1", "W2"))
    for k in ("b1", "b2"):
        assert float(np.abs(grads[k]).max()) < 1e-12 * scale
    _, eval_grads = model.loss_and_grad(params, X, y, training=False)
    assert float(np.abs(eval_grads["b1"]).max()) > 1e-3 * scale   # eval mode: b matters


@pytest.mark.parametrize("name", list(CONFIGS))
def test_many_sgd_steps_with_changing_batches_match_torch(name):
    """12 steps of SGD (momentum and weight decay on every parameter, as torch's single default
    group) on batches of changing size and content; loss, parameters, gradients and running
    statistics equal at every step; then the eval-mode outputs on new data equal."""
    torch = pytest.importorskip("torch")
    model = _model(name)
    params = model.init_params(seed=2)
    net = _torch_net(torch, model, params)
    opt = optim.SGD(params, lr=0.05, momentum=0.9, weight_decay=0.01)
    t_opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9, weight_decay=0.01)
    for step in range(12):
        X, y = _data(model, 5 + 3 * (step % 4), seed=10 + step)
        net.train()
        t_opt.zero_grad()
        t_loss = _torch_loss(torch, model, net(torch.tensor(X)), y)
        t_loss.backward()
        t_opt.step()
        loss, grads = model.loss_and_grad(params, X, y)
        opt.step(grads)
        assert float(loss) == pytest.approx(t_loss.item(), rel=1e-11), step
        for k, v in _torch_arrays(model, net).items():
            np.testing.assert_allclose(params[k], v, rtol=1e-10, atol=1e-12,
                                       err_msg=f"{k} at step {step}")
    assert not np.allclose(params["running_var1"], 1.0)       # the statistics did move
    net.eval()
    X_new, _ = _data(model, 7, seed=99)
    t_out = net(torch.tensor(X_new)).detach().numpy()
    t_out = t_out[:, 0] if model.task == "regression" else t_out
    np.testing.assert_allclose(model.forward(params, X_new), t_out, rtol=1e-10, atol=1e-12)
    if model.task == "classification":
        np.testing.assert_array_equal(model.predict(params, X_new), t_out.argmax(1))
        # one example at a time in eval mode: the same answers as the whole batch
        one = np.concatenate([model.predict(params, X_new[i:i + 1]) for i in range(7)])
        np.testing.assert_array_equal(one, t_out.argmax(1))


def test_adam_and_adamw_leave_the_running_statistics_to_the_forward_pass():
    torch = pytest.importorskip("torch")
    model = _model("relu_2")
    for cls, t_cls in ((optim.Adam, torch.optim.Adam), (optim.AdamW, torch.optim.AdamW)):
        params = model.init_params(seed=4)
        net = _torch_net(torch, model, params)
        opt, t_opt = cls(params, lr=0.01), t_cls(net.parameters(), lr=0.01)  # AdamW: wd 1e-2
        for step in range(10):
            X, y = _data(model, 8, seed=step)
            t_opt.zero_grad()
            _torch_loss(torch, model, net(torch.tensor(X)), y).backward()
            t_opt.step()
            opt.step(model.loss_and_grad(params, X, y)[1])
        for k, v in _torch_arrays(model, net).items():
            # the biases before a BatchNorm get gradients of pure rounding (~1e-17), which Adam
            # turns into steps of lr * g / eps ~ 1e-11: equal up to that, like everything else
            np.testing.assert_allclose(params[k], v, rtol=1e-8, atol=1e-9, err_msg=f"{cls} {k}")


# ----------------------------------------------------------------------------- gradient checking
@pytest.mark.parametrize("name", list(CONFIGS))
@pytest.mark.parametrize("wd", [0.0, 0.2])
def test_gradient_check_in_float64(name, wd):
    model = _model(name, weight_decay=wd)
    params = _params(model)
    X, y = _data(model, 8, seed=6)
    trainable = {k: params[k] for k in model.param_shapes}
    buffers = {k: params[k].copy() for k in model.buffer_shapes}
    # training mode: the loss of the batch statistics (a pure function: nothing updated)
    _, g_train = model.loss_and_grad(trainable, X, y)
    res = check_gradient(lambda p: model.loss(p, X, y, training=True), trainable, g_train)
    assert res.ok, str(res)
    # the full params give the same gradient (and move the buffers)
    _, g_full = model.loss_and_grad(params, X, y)
    for k in trainable:
        np.testing.assert_array_equal(g_full[k], g_train[k])
    assert not np.allclose(params["running_mean1"], buffers["running_mean1"])
    # eval mode: the running statistics are constants
    frozen = {**trainable, **buffers}
    _, g_eval = model.loss_and_grad(frozen, X, y, training=False)
    res = check_gradient(lambda p: model.loss({**p, **buffers}, X, y), trainable,
                         {k: g_eval[k] for k in trainable})
    assert res.ok, str(res)
    for k, v in buffers.items():
        np.testing.assert_array_equal(frozen[k], v)           # eval mode updates nothing


def test_a_wrong_batch_norm_backward_fails_the_check(monkeypatch):
    """The check has teeth: the backward pass without the terms for the batch statistics (what
    the eval-mode formula gives) is flagged in training mode."""
    model = _model("relu_2")
    params = {k: v for k, v in _params(model).items() if k in model.param_shapes}
    X, y = _data(model, 8, seed=7)
    wrong = models.MLP._bn_backward

    def no_batch_terms(xp, p, layer, saved, G_U, training, grads):
        return wrong(xp, p, layer, saved, G_U, False, grads)

    monkeypatch.setattr(models.MLP, "_bn_backward", staticmethod(no_batch_terms))
    _, g = model.loss_and_grad(params, X, y)
    assert not check_gradient(lambda p: model.loss(p, X, y, training=True), params, g).ok


# ----------------------------------------------------------------------------- modes and buffers
def test_only_loss_and_grad_in_training_mode_updates_the_running_statistics():
    model = _model("relu_2")
    params = _params(model)
    X, y = _data(model, 10, seed=8)
    before = {k: v.copy() for k, v in params.items()}
    model.loss(params, X, y)
    model.loss(params, X, y, training=True)
    model.accuracy(params, X, y)
    model.loss_and_accuracy(params, X, y, training=True)
    model.predict(params, X)
    model.predict_proba(params, X, training=True)
    model.forward(params, X, training=True)
    model.loss_and_grad(params, X, y, training=False)
    for k, v in before.items():
        np.testing.assert_array_equal(params[k], v, err_msg=k)
    arrays = {k: params[k] for k in model.buffer_shapes}
    model.loss_and_grad(params, X, y)
    for k, v in arrays.items():
        assert params[k] is v                                   # updated in place ...
        assert not np.array_equal(v, before[k])                 # ... and moved
    # the update is rho * batch statistic + (1 - rho) * old, unbiased variance
    Z = X @ before["W1"] + before["b1"]
    np.testing.assert_allclose(params["running_mean1"],
                               0.1 * Z.mean(0) + 0.9 * before["running_mean1"], rtol=1e-13)
    np.testing.assert_allclose(params["running_var1"],
                               0.1 * Z.var(0, ddof=1) + 0.9 * before["running_var1"], rtol=1e-13)
    for k in model.param_shapes:
        np.testing.assert_array_equal(params[k], before[k])     # the parameters did not move


def test_default_modes_and_their_values():
    model = _model("relu_2")
    params = _params(model)
    X, y = _data(model, 10, seed=9)
    copy = {k: v.copy() for k, v in params.items()}
    ev, tr = float(model.loss(copy, X, y)), float(model.loss(copy, X, y, training=True))
    assert ev != pytest.approx(tr)
    assert float(model.loss_and_grad(copy, X, y)[0]) == tr          # training by default
    assert float(model.loss_and_grad(copy, X, y, training=False)[0]) == float(
        model.loss(copy, X, y))
    loss, acc = model.loss_and_accuracy(params, X, y)
    assert float(loss) == float(model.loss(params, X, y))
    assert float(acc) == float(model.accuracy(params, X, y))
    np.testing.assert_array_equal(model.predict(params, X, training=True),
                                  np.argmax(model.forward(params, X, training=True), axis=1))


def test_params_without_buffers_work_in_training_mode_only():
    model = _model("relu_2")
    params = _params(model)
    trainable = {k: params[k] for k in model.param_shapes}
    X, y = _data(model, 10, seed=10)
    loss, grads = model.loss_and_grad(trainable, X, y)
    assert set(grads) == set(trainable)
    assert float(loss) == float(model.loss(params, X, y, training=True))
    with pytest.raises(ValueError, match=r"eval mode.*running_mean1.*training=True"):
        model.loss(trainable, X, y)
    with pytest.raises(ValueError, match=r"eval mode"):
        model.predict(trainable, X)
    partial = {**trainable, "running_mean1": params["running_mean1"]}
    with pytest.raises(ValueError, match=r"plus the buffers.*received"):
        model.loss_and_grad(partial, X, y)
    with pytest.raises(ValueError, match=r"params\['running_var2'\] must have shape \(5,\)"):
        model.loss(params | {"running_var2": np.ones(4)}, X, y)


def test_hessian_of_the_training_loss_matches_torch():
    """edulib.hessian on the parameters alone (training mode, batch statistics): its HVP equals
    torch's double backward through BatchNorm1d in train mode."""
    torch = pytest.importorskip("torch")
    model = _model("tanh_2")
    params = _params(model)
    trainable = {k: params[k] for k in model.param_shapes}
    X, y = _data(model, 12, seed=11)
    v = {k: np.random.default_rng(1).standard_normal(s) for k, s in model.param_shapes.items()}
    hv = hessian.hvp(model, trainable, X, y, v)
    net = _torch_net(torch, model, params)
    names = _torch_names(model)
    tensors = [getattr(net[names[k][0]], names[k][1]) for k in trainable]
    loss = _torch_loss(torch, model, net(torch.tensor(X)), y)
    g = torch.autograd.grad(loss, tensors, create_graph=True)
    vt = [torch.tensor(v[k].T if k.startswith("W") else v[k]) for k in trainable]
    hvt = torch.autograd.grad(sum((gi * vi).sum() for gi, vi in zip(g, vt, strict=True)), tensors)
    hvt = {k: h.numpy().T if k.startswith("W") else h.numpy()
           for k, h in zip(trainable, hvt, strict=True)}
    scale = max(float(np.abs(h).max()) for h in hvt.values())
    for k, h in hvt.items():  # finite differences: ~8 digits of the largest entry
        np.testing.assert_allclose(hv[k], h, rtol=1e-5, atol=1e-8 * scale, err_msg=k)
    # scale invariance: the loss is unchanged when a pre-BN layer's weights are scaled up
    big = dict(trainable, W1=3.0 * trainable["W1"], b1=3.0 * trainable["b1"])
    assert float(model.loss(big, X, y, training=True)) == pytest.approx(
        float(model.loss(trainable, X, y, training=True)), rel=1e-5)


# ----------------------------------------------------------------------------- train()
def _split(model, seed=0):
    X, y = _data(model, 40, seed)
    Xv, yv = _data(model, 15, seed + 1)
    return Split(X, Xv, y, yv)


def test_train_steps_in_training_mode_and_evaluates_in_eval_mode():
    """train() (unchanged) gives exactly torch's loop: net.train() for each mini-batch step,
    net.eval() for the evaluations after each epoch; batch order from the same permutations."""
    torch = pytest.importorskip("torch")
    from edulib.backend import rng

    model = _model("relu_2")
    params = model.init_params(seed=3)
    net = _torch_net(torch, model, params)
    split = _split(model)
    hist = train(model, params, optim.SGD(params, lr=0.1, momentum=0.5), split, epochs=4,
                 batch_size=16, seed=7)
    t_opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.5)
    Xt, yt = torch.tensor(split.X_train), torch.tensor(split.y_train)

    def evaluate():
        net.eval()
        with torch.no_grad():
            return (torch.nn.functional.cross_entropy(net(Xt), yt).item(),
                    torch.nn.functional.cross_entropy(net(torch.tensor(split.X_val)),
                                                      torch.tensor(split.y_val)).item())

    g = rng(7)
    losses, evals = [], [evaluate()]
    for _ in range(4):
        order = g.permutation(40)
        for i in range(0, 40, 16):
            idx = torch.tensor(order[i:i + 16])
            net.train()
            t_opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(net(Xt[idx]), yt[idx])
            loss.backward()
            t_opt.step()
            losses.append(loss.item())
        evals.append(evaluate())
    np.testing.assert_allclose(hist.loss, losses, rtol=1e-10)
    np.testing.assert_allclose(hist.train_loss, [e[0] for e in evals], rtol=1e-10)
    np.testing.assert_allclose(hist.val_loss, [e[1] for e in evals], rtol=1e-10)
    for k, v in _torch_arrays(model, net).items():
        np.testing.assert_allclose(params[k], v, rtol=1e-9, atol=1e-12, err_msg=k)
    # what train records is the eval-mode loss, not the training-mode one
    assert hist.train_loss[-1] == pytest.approx(float(model.loss(params, split.X_train,
                                                                 split.y_train)), rel=1e-12)
    assert hist.train_loss[-1] != pytest.approx(float(model.loss(
        params, split.X_train, split.y_train, training=True)), rel=1e-6)


def test_early_stopping_restores_the_running_statistics_with_the_weights():
    model = _model("relu_2")
    split = _split(model, seed=5)
    params = model.init_params(seed=0)
    seen = [{k: v.copy() for k, v in params.items()}]  # after 0, 1, 2, ... steps

    def remember(step, loss, p, hist):
        seen.append({k: v.copy() for k, v in p.items()})

    hist = train(model, params, optim.SGD(params, lr=0.5), split, epochs=30, batch_size=8,
                 early_stopping=2, callback=remember, on_diverge="stop")
    assert hist.stop_reason == "early_stopping"
    assert 0 < hist.best_epoch < len(hist.val_loss) - 1           # restored an earlier state
    best = seen[hist.epoch_steps[hist.best_epoch]]
    assert not np.array_equal(best["running_var1"], seen[-1]["running_var1"])
    for k in params:
        np.testing.assert_array_equal(params[k], best[k], err_msg=k)
    assert float(model.loss(params, split.X_val, split.y_val)) == hist.best_loss


def test_a_last_mini_batch_of_one_example_raises_as_in_torch():
    torch = pytest.importorskip("torch")
    model = _model("relu_2")
    params = model.init_params(seed=0)
    X, y = _data(model, 1, seed=12)
    with pytest.raises(ValueError) as mine:
        model.loss_and_grad(params, X, y)
    net = _torch_net(torch, model, params)
    with pytest.raises(ValueError) as theirs:
        net(torch.tensor(X))
    assert str(mine.value).startswith("Expected more than 1 value per channel when training, "
                                      "got input size (1, 6)")
    assert str(theirs.value).startswith("Expected more than 1 value per channel when training, "
                                        "got input size torch.Size([1, 6])")
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        model.loss(params, X, y, training=True)
    # eval mode handles one example
    assert model.predict(params, X).shape == (1,)
    split = _split(model)
    with pytest.raises(ValueError, match="more than 1 value per channel"):  # 40 = 3 * 13 + 1
        train(model, params, optim.SGD(params, lr=0.1), split, epochs=1, batch_size=13)


# ----------------------------------------------------------------------------- construction
def test_parameters_buffers_and_init():
    model = models.MLP(4, (6, 5), 3, batch_norm=True)
    plain = models.MLP(4, (6, 5), 3)
    assert list(model.param_shapes) == ["W1", "b1", "gamma1", "beta1", "W2", "b2", "gamma2",
                                        "beta2", "W3", "b3"]
    assert model.buffer_shapes == {"running_mean1": (6,), "running_var1": (6,),
                                   "running_mean2": (5,), "running_var2": (5,)}
    assert model.num_params() == plain.num_params() + 2 * (6 + 5)
    p, q = model.init_params(seed=3), plain.init_params(seed=3)
    assert list(p) == [*model.param_shapes, *model.buffer_shapes]
    for k in q:
        np.testing.assert_array_equal(p[k], q[k])            # the same weights for a seed
    for k in ("gamma1", "running_var1", "gamma2", "running_var2"):
        np.testing.assert_array_equal(p[k], np.ones(model.param_shapes.get(
            k, model.buffer_shapes.get(k))))
    for k in ("beta1", "running_mean1", "beta2", "running_mean2"):
        assert not np.any(p[k])
    p32 = model.init_params(seed=0, dtype="float32")
    assert all(v.dtype == np.float32 for v in p32.values())
    X, y = _data(model, 6, seed=0)
    loss, grads = model.loss_and_grad(p32, X, y)
    assert loss.dtype == np.float32 and p32["running_var1"].dtype == np.float32
    assert all(grads[k].dtype == np.float32 for k in model.param_shapes)
    assert repr(model) == ("MLP(n_features=4, hidden=(6, 5), n_classes=3, activation='relu', "
                           "weight_decay=0.0, batch_norm=True)")
    assert "bn_momentum=0.2" in repr(models.MLP(4, 6, batch_norm=True, bn_momentum=0.2))


def test_weight_decay_penalises_the_weights_only():
    model = _model("relu_2", weight_decay=0.3)
    params = _params(model)
    X, y = _data(model, 8, seed=13)
    plain = models.MLP(**CONFIGS["relu_2"], batch_norm=True)
    _, g = model.loss_and_grad({k: v.copy() for k, v in params.items()}, X, y)
    _, g0 = plain.loss_and_grad({k: v.copy() for k, v in params.items()}, X, y)
    for k in model.param_shapes:
        extra = 0.3 * params[k] if k.startswith("W") else 0.0
        np.testing.assert_allclose(g[k], g0[k] + extra, rtol=1e-12, atol=1e-15, err_msg=k)
    penalty = 0.15 * sum(float(np.sum(params[k] ** 2)) for k in ("W1", "W2", "W3"))
    assert float(model.penalty(params)) == pytest.approx(penalty)


@pytest.mark.parametrize(("kw", "exc", "words"), [
    ({"batch_norm": "yes"}, TypeError, ["batch_norm", "True or False", "'yes'"]),
    ({"batch_norm": "False"}, TypeError, ["batch_norm", "'False'"]),
    ({"batch_norm": None}, TypeError, ["batch_norm", "None"]),
    ({"batch_norm": 2}, TypeError, ["batch_norm", "2"]),
    ({"batch_norm": True, "bn_momentum": 1.5}, ValueError, ["bn_momentum", "1.5"]),
    ({"batch_norm": True, "bn_momentum": "0.1"}, TypeError, ["bn_momentum"]),
    ({"batch_norm": True, "bn_eps": 0.0}, ValueError, ["bn_eps", "0.0"]),
])
def test_bad_constructor_arguments_name_themselves(kw, exc, words):
    with pytest.raises(exc) as info:
        models.MLP(4, 6, 3, **kw)
    for w in words:
        assert w in str(info.value), f"{w!r} missing from: {info.value}"


def test_bad_mode_is_refused():
    model = _model("relu_2")
    params = model.init_params(seed=0)
    X, y = _data(model, 5, seed=0)
    for call in (lambda: model.loss(params, X, y, training="no"),
                 lambda: model.loss_and_grad(params, X, y, training="yes"),
                 lambda: model.predict(params, X, training=None)):
        with pytest.raises(TypeError, match="training must be True or False"):
            call()
    plain = models.MLP(4, 6, 3)
    with pytest.raises(TypeError, match="training must be True or False"):
        plain.loss(plain.init_params(seed=0), X, y, training="no")


def test_batch_norm_false_is_the_plain_mlp():
    plain, off = models.MLP(4, (6, 5), 3), models.MLP(4, (6, 5), 3, batch_norm=False)
    assert off.param_shapes == plain.param_shapes and off.buffer_shapes == {}
    assert repr(off) == repr(plain)
    p = plain.init_params(seed=1)
    X, y = _data(plain, 1, seed=1)          # one example: fine without batch normalisation
    a, b = plain.loss_and_grad(p, X, y), off.loss_and_grad(p, X, y, training=True)
    assert float(a[0]) == float(b[0]) and all(np.array_equal(a[1][k], b[1][k]) for k in p)
    assert float(off.loss(p, X, y, training=True)) == float(off.loss(p, X, y))


# ----------------------------------------------------------------------------- array backends
@pytest.mark.parametrize("training", [True, False])
def test_every_backend_gives_the_numpy_numbers(xp, training):
    model = _model("relu_2")
    ref = _params(model)
    params = _params(model, xp=xp)
    X, y = _data(model, 9, seed=14)
    Xx, yx = _data(model, 9, seed=14, xp=xp)
    loss, grads = model.loss_and_grad(ref, X, y, training=training)
    loss_x, grads_x = model.loss_and_grad(params, Xx, yx, training=training)
    assert float(loss_x) == pytest.approx(float(loss), rel=1e-12)
    for k in model.param_shapes:
        np.testing.assert_allclose(to_numpy(grads_x[k]), grads[k], rtol=1e-10, atol=1e-14)
    for k in model.buffer_shapes:
        assert grads_x[k] is None
        np.testing.assert_allclose(to_numpy(params[k]), ref[k], rtol=1e-13)
    np.testing.assert_allclose(to_numpy(model.predict_proba(params, Xx)),
                               model.predict_proba(ref, X), rtol=1e-12)
    assert math.isfinite(float(model.accuracy(params, Xx, yx)))


def test_curvature_tools_take_a_batch_norm_model_with_its_running_statistics():
    """hvp, dense, model_matvec, track_sharpness and quasi_newton.model_objective leave the
    running statistics out (no gradient, no curvature) and use the training-mode loss."""
    from edulib import quasi_newton

    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((40, 4)), rng.integers(0, 3, 40)
    model = models.MLP(4, hidden=5, n_classes=3, batch_norm=True)
    params = model.init_params(seed=0)
    train_only = hessian.trainable(model, params)
    assert set(train_only) == set(model.param_shapes)
    H = hessian.dense(model, params, X, y)
    assert np.allclose(H, hessian.dense(model, train_only, X, y))
    v = {k: rng.standard_normal(a.shape) for k, a in train_only.items()}
    Hv = hessian.flatten(hessian.hvp(model, params, X, y, v))
    assert np.allclose(Hv, H @ hessian.flatten(v), rtol=1e-4, atol=1e-6)
    mv = hessian.model_matvec(model, params, X, y)
    assert mv.n == H.shape[0]
    trace = hessian.track_sharpness(model, params, X, y, lr=0.1, steps=3, every=3)
    assert np.isclose(trace.sharpness[0], np.linalg.eigvalsh(H)[-1], rtol=1e-3)
    fun, x0 = quasi_newton.model_objective(model, X, y, params)
    loss, g = fun(x0)
    assert x0.shape == (H.shape[0],) and g.shape == x0.shape
    assert np.isclose(float(loss), float(model.loss(train_only, X, y, training=True)))


@pytest.mark.parametrize("batch_size", [None, 16, 7])
def test_update_bn_equals_torch_swa_utils(batch_size):
    """averaging.update_bn recomputes the running statistics as torch.optim.swa_utils.update_bn:
    reset, then the plain average of each batch's statistics (momentum=None)."""
    torch = pytest.importorskip("torch")
    from edulib.averaging import update_bn

    model = models.MLP(4, hidden=(6, 5), n_classes=3, batch_norm=True)
    params = model.init_params(seed=1)
    X, _ = _data(model, 45, seed=2)
    net = _torch_net(torch, model, params)
    bs = batch_size or len(X)
    loader = [torch.tensor(X[i:i + bs]) for i in range(0, len(X), bs)]
    torch.optim.swa_utils.update_bn(loader, net)
    update_bn(model, params, X, batch_size=batch_size)
    ref = _torch_arrays(model, net)
    for k in model.buffer_shapes:
        np.testing.assert_allclose(params[k], ref[k], rtol=1e-13, atol=1e-15)
    assert model.bn_momentum == 0.1                      # restored


def test_update_bn_refuses_a_last_batch_of_one_and_leaves_plain_models_alone():
    from edulib.averaging import update_bn

    model = models.MLP(4, hidden=5, n_classes=3, batch_norm=True)
    params = model.init_params(seed=0)
    X, _ = _data(model, 9, seed=0)
    with pytest.raises(ValueError, match="1 row"):
        update_bn(model, params, X, batch_size=4)
    with pytest.raises(ValueError, match="missing"):
        update_bn(model, {k: params[k] for k in model.param_shapes}, X)
    plain = models.MLP(4, hidden=5, n_classes=3)
    p = plain.init_params(seed=0)
    before = {k: v.copy() for k, v in p.items()}
    update_bn(plain, p, X)
    assert all(np.array_equal(p[k], before[k]) for k in p)
