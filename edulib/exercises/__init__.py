r"""Self-checks for the exercises: instant feedback in the notebook, the same checks the trusted
grader scores.

Each ``check_*`` function runs the learner's answer on seeded inputs and edge cases (large
logits, one example, float32 ...), compares it with a reference and returns a
:class:`CheckResult`:

>>> res = check_mse_grad(mse_grad)    # prints a verdict: what was tested, expected vs received
>>> bool(res), res.score               # (True, 1.0) for a right answer, partial score otherwise
>>> res.points(2)                      # 2.0 * score

A wrong answer never raises. Each case runs the learner's function in a forked child process
(Linux, macOS) with a time limit (``timeout`` seconds for the whole check, default
``EDULIB_CHECK_TIMEOUT`` or 10): an exception of any kind (``SystemExit`` and
``KeyboardInterrupt`` included), a crash, an endless loop, a forgotten ``return`` (``None``), a
wrong shape, dtype or type, NaN, or changing the inputs in place is reported as a failed case
with a hint aimed at the likely mistake (off by a factor N, 2 or -1, transposed, float32
round-off, overflow at large logits, wrong reduction ...). A sign error or a wrong order earns
no partial credit. Where ``fork`` is missing (Windows) the function runs in the notebook's own
process, without the time limit.

These checks are feedback: they run in the learner's kernel, which the learner controls. Grades
come from :mod:`edulib.grading`, which runs the same checks (``check_*(SPEC)`` returns the
:class:`Check` as data) on hidden inputs, with the learner's code in a sandboxed child process.

Only bad arguments to the check itself raise (``TypeError``/``ValueError`` naming the argument:
a string ``delta``, a negative ``timeout``). Learners' functions receive NumPy arrays.

Modules: :mod:`.engine` (cases, running, judging), :mod:`.ch01` ... :mod:`.ch05` (one per
chapter); ``CHECKS`` maps every exercise name to its check.
"""

from __future__ import annotations

from collections.abc import Callable

from . import ch01, ch02, ch03, ch04, ch05, engine
from .ch01 import (
    check_bce_with_logits,
    check_hinge_grad,
    check_huber_grad,
    check_loss_at_init,
    check_mse_grad,
    check_robust_line,
    check_softmax_cross_entropy,
    check_softmax_cross_entropy_grad,
    robust_line_baseline,
)
from .ch02 import (
    check_bug_location,
    check_digits_lab,
    check_fixed_loss_and_grad,
    check_lr_max,
    check_minibatch_sgd,
    check_numerical_gradient,
    digits_lab_baseline,
    planted_bug_loss_and_grad,
)
from .ch03 import (
    adaptive_lab_baseline,
    check_adam_step,
    check_adaptive_lab,
    check_momentum_step,
    check_mu_star,
    check_warmup_cosine,
)
from .ch04 import (
    check_classify_point,
    check_lbfgs_lab,
    check_softmax_hvp,
    check_two_loop,
    lbfgs_lab_reference,
)
from .ch05 import (
    check_batchnorm_forward,
    check_ema_update,
    check_log_uniform,
    check_one_cycle_lr,
    check_search_lab,
    search_lab_baseline,
    search_lab_split,
)
from .engine import (
    SPEC,
    Case,
    CaseResult,
    Check,
    CheckResult,
    Expect,
    Outcome,
    Recipe,
    default_timeout,
    run_isolated,
)

#: every check by exercise name (for an auto-grader looping over a submission)
CHECKS: dict[str, Callable[..., CheckResult]] = {
    "mse_grad": check_mse_grad,
    "huber_grad": check_huber_grad,
    "hinge_grad": check_hinge_grad,
    "bce_with_logits": check_bce_with_logits,
    "softmax_cross_entropy": check_softmax_cross_entropy,
    "softmax_cross_entropy_grad": check_softmax_cross_entropy_grad,
    "loss_at_init": check_loss_at_init,
    "robust_line": check_robust_line,
    "numerical_gradient": check_numerical_gradient,
    "bug_location": check_bug_location,
    "fixed_loss_and_grad": check_fixed_loss_and_grad,
    "minibatch_sgd": check_minibatch_sgd,
    "lr_max": check_lr_max,
    "digits_lab": check_digits_lab,
    "momentum_step": check_momentum_step,
    "adam_step": check_adam_step,
    "warmup_cosine": check_warmup_cosine,
    "mu_star": check_mu_star,
    "adaptive_lab": check_adaptive_lab,
    "softmax_hvp": check_softmax_hvp,
    "classify_point": check_classify_point,
    "two_loop": check_two_loop,
    "lbfgs_lab": check_lbfgs_lab,
    "log_uniform": check_log_uniform,
    "ema_update": check_ema_update,
    "batchnorm_forward": check_batchnorm_forward,
    "one_cycle_lr": check_one_cycle_lr,
    "search_lab": check_search_lab,
}

__all__ = [
    "CHECKS", "SPEC", "Case", "CaseResult", "Check", "CheckResult", "Expect", "Outcome", "Recipe",
    "adaptive_lab_baseline", "ch01", "ch02", "ch03", "ch04", "ch05", "check_adam_step",
    "check_adaptive_lab", "check_batchnorm_forward", "check_bce_with_logits",
    "check_bug_location", "check_classify_point", "check_digits_lab", "check_ema_update",
    "check_fixed_loss_and_grad", "check_hinge_grad", "check_huber_grad", "check_lbfgs_lab",
    "check_log_uniform", "check_loss_at_init", "check_lr_max", "check_minibatch_sgd",
    "check_momentum_step", "check_mse_grad", "check_mu_star", "check_numerical_gradient",
    "check_one_cycle_lr", "check_robust_line", "check_search_lab", "check_softmax_cross_entropy",
    "check_softmax_cross_entropy_grad", "check_softmax_hvp", "check_two_loop",
    "check_warmup_cosine", "default_timeout", "digits_lab_baseline", "engine",
    "lbfgs_lab_reference", "planted_bug_loss_and_grad", "robust_line_baseline", "run_isolated",
    "search_lab_baseline", "search_lab_split",
]
