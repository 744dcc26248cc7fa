import pytest

from mygo_nb.core.metrics import (
    accuracy,
    average_accuracy,
    average_accuracy_curve,
    backward_transfer,
    forgetting,
    summarize,
)

R = [
    [90.0, None, None],
    [70.0, 80.0, None],
    [60.0, 75.0, 100.0],
]


def test_average_accuracy_and_curve():
    assert average_accuracy(R) == pytest.approx(235 / 3)
    assert average_accuracy_curve(R) == pytest.approx([90.0, 75.0, 235 / 3])


def test_backward_transfer():
    # ((60 - 90) + (75 - 80)) / 2
    assert backward_transfer(R) == pytest.approx(-17.5)


def test_forgetting_uses_best_earlier_accuracy():
    # task 0: max(90, 70) - 60 = 30; task 1: max(80) - 75 = 5
    assert forgetting(R) == pytest.approx(17.5)
    R2 = [[50.0, None], [80.0, 90.0]]  # accuracy on task 0 improved: no forgetting, positive transfer
    assert forgetting(R2) == pytest.approx(-30.0)
    assert backward_transfer(R2) == pytest.approx(30.0)


def test_single_row_matrix_has_no_transfer_metrics():
    s = summarize([[98.0, 96.0]])
    assert s["average_accuracy"] == pytest.approx(97.0)
    assert s["backward_transfer"] is None and s["forgetting"] is None


def test_accuracy():
    import torch

    logits = torch.tensor([[2.0, 1.0], [0.0, 3.0], [1.0, 0.0], [0.0, 1.0]])
    assert accuracy(logits, torch.tensor([0, 1, 1, 1])) == pytest.approx(75.0)
    with pytest.raises(ValueError):
        accuracy(logits[:0], torch.tensor([], dtype=torch.long))
