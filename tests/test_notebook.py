"""The example notebook runs headless, end to end, on a private HPSEARCH_HOME.

It is executed with nbclient in a real ``python3`` kernel (ipykernel ships that
kernelspec into the venv, and jupyter_client launches it with this interpreter),
which starts its own local Ray and runs a real 4-trial CNN search.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "examples" / "quickstart.ipynb"
PLOTLY_MIME = "application/vnd.plotly.v1+json"


def test_committed_notebook_has_no_outputs():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, cell.source[:60]


def test_quickstart_notebook_runs(tmp_path, monkeypatch):
    from jupyter_client.kernelspec import KernelSpecManager

    assert "python3" in KernelSpecManager().find_kernel_specs()
    # The kernel inherits this process's environment when it starts.
    monkeypatch.setenv("HPSEARCH_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("HPSEARCH_DB", raising=False)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)

    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(nb, kernel_name="python3", timeout=600,
                                     resources={"metadata": {"path": str(NOTEBOOK.parent)}})
    client.execute()  # raises CellExecutionError on the first failing cell

    code = [c for c in nb.cells if c.cell_type == "code"]
    outputs = [o for c in code for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]

    def cell(fragment: str):
        return next(c for c in code if fragment in c.source)

    run_out = cell("hpsearch.run(").outputs
    text = "".join(o.get("data", {}).get("text/plain", "") for o in run_out)
    assert "<Study 'notebook-cnn-" in text and "completed" in text.lower() and "trials=4" in text

    board = [o for o in cell("to_dataframe()").outputs if o.output_type == "execute_result"]
    assert board and "text/html" in board[0].data
    html = board[0].data["text/html"]
    assert "val_accuracy" in html and "param_lr" in html

    for fragment in ("plot_history()", "plot_parallel_coordinates()"):
        data = [o.data for o in cell(fragment).outputs if o.output_type in ("execute_result", "display_data")]
        assert any(PLOTLY_MIME in d or "plotly" in d.get("text/html", "") for d in data), (fragment, [list(d) for d in data])
    # Several objectives: the front drawn, and a model picked from it.
    data = [o.data for o in cell("mo_study.plot_pareto()").outputs
            if o.output_type in ("execute_result", "display_data")]
    assert any(PLOTLY_MIME in d or "plotly" in d.get("text/html", "") for d in data)
    picked = "".join(o.get("text", "") for o in cell("pareto_front").outputs)
    assert picked.startswith("trial ") and "KiB" in picked
