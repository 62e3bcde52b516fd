import math

import pytest
import torch

from efficientzero.nets.support import h, h_inv, scalar_to_support, support_to_scalar


def test_h_known_values():
    # h(3) = sign(3) (sqrt(4) - 1) + 0.001 * 3 = 1.003; h(-3) = -1.003 (eps*x outside the sign)
    x = torch.tensor([3.0, -3.0, 0.0, 8.0], dtype=torch.float64)
    expected = torch.tensor([1.003, -1.003, 0.0, 2.008], dtype=torch.float64)
    assert torch.allclose(h(x), expected, atol=1e-12)


@pytest.mark.parametrize("scale", [1.0, 10.0, 1000.0, 1e5])
def test_h_inverse_round_trip(scale):
    x = torch.linspace(-scale, scale, 2001, dtype=torch.float64)
    assert torch.allclose(h_inv(h(x)), x, rtol=1e-9, atol=1e-7)
    assert torch.allclose(h(h_inv(x / scale * 20)), x / scale * 20, rtol=1e-9, atol=1e-9)


def test_two_hot_expectation_is_transformed_scalar():
    support = 10
    x = torch.tensor([-37.2, -1.0, 0.0, 0.4, 5.5, 90.0])
    probs = scalar_to_support(x, support)
    assert torch.allclose(probs.sum(-1), torch.ones(len(x)))
    assert ((probs > 0).sum(-1) <= 2).all()
    bins = torch.arange(-support, support + 1, dtype=torch.float32)
    assert torch.allclose((probs * bins).sum(-1), h(x), atol=1e-5)


def test_support_round_trip_through_logits():
    support = 300
    x = torch.tensor([-250.0, -3.3, 0.0, 1.0, 17.25, 4000.0])
    logits = torch.log(scalar_to_support(x, support) + 1e-30)
    back = support_to_scalar(logits, support)
    assert torch.allclose(back, x, rtol=1e-3, atol=1e-2)


def test_values_beyond_support_are_clipped():
    support = 5
    big = torch.tensor([1e6, -1e6])
    probs = scalar_to_support(big, support)
    assert probs[0, -1] == 1.0 and probs[1, 0] == 1.0
    assert math.isclose(
        float(support_to_scalar(torch.log(probs + 1e-30), support)[0]),
        float(h_inv(torch.tensor(5.0))),
        rel_tol=1e-4,
    )
