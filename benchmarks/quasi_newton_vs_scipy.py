"""edulib's L-BFGS and BFGS against SciPy's on the benchmark set of
tests/test_quasi_newton_benchmark.py, over more seeds than the test runs (0-19 by default).

Prints, per problem family and method, the ratio of edulib's iterations to SciPy's (min - max),
the largest distance between the two minimisers relative to the problem's gtol, and every
problem where one solver met gtol and the other did not. The bounds asserted in the test
(``RATIO_BOUNDS``) were set from this output with a margin.

    python benchmarks/quasi_newton_vs_scipy.py [first_seed] [last_seed]
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np


def load_benchmark():
    path = Path(__file__).resolve().parents[1] / "tests" / "test_quasi_newton_benchmark.py"
    spec = importlib.util.spec_from_file_location("qn_benchmark", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def family(problem: str) -> str:
    return problem.split(" seed")[0].split(" from")[0].split(" kappa")[0]


def main(first: int = 0, last: int = 19) -> None:
    bench = load_benchmark()
    rows = bench.run_all(range(first, last + 1))
    table: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for r in rows:
        ours_ok = r["ours"].success and r["ours"].grad_norm <= r["gtol"]
        if ours_ok != r["ref_ok"]:
            print(f"only {'edulib' if ours_ok else 'SciPy'} met gtol: {r['problem']}, {r['method']}")
        if ours_ok and r["ref_ok"]:
            gap = float(np.linalg.norm(r["ours"].x - r["ref"].x)) / r["gtol"]
            table.setdefault((family(r["problem"]), r["method"]), []).append(
                (r["ours"].nit / max(r["ref"].nit, 1), gap))
    print(f"{'family':22s} {'method':12s} {'iterations ours/SciPy':>22s} {'|x - x_SciPy| / gtol':>21s}")
    for (fam, method), v in sorted(table.items()):
        a = np.array(v)
        print(f"{fam:22s} {method:12s} {a[:, 0].min():10.2f} - {a[:, 0].max():5.2f}    "
              f"{a[:, 1].max():17.1f}")
    for method in bench.RATIO_BOUNDS:
        ratios = [x[0] for (_, m), v in table.items() if m == method for x in v]
        print(f"{method:12s} all families: {min(ratios):.2f} - {max(ratios):.2f} "
              f"(asserted {bench.RATIO_BOUNDS[method][0]:.2f} - {bench.RATIO_BOUNDS[method][1]:.2f})")


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3]))
