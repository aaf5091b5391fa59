"""The rule for a customer shared by shops (README "Who may do what"), as a table."""

from __future__ import annotations

import pytest

from cti.customers.service import CustomerDetails, ShopWord, Standing, settle


def said(*words: tuple[str, str, str | None]) -> CustomerDetails:
    return CustomerDetails(
        raw="13800138000", shops={shop: ShopWord(name, tier) for shop, name, tier in words}
    )


@pytest.mark.parametrize(
    ("current", "details", "after"),
    [
        # A new customer is brought by the first shop of the batch, with its word.
        (("", None, None), said(("a", "张伟", None), ("b", "李四", "vip")), ("张伟", None, "a")),
        # The shop that brought them renames them and sets their tier.
        (("张伟", None, "a"), said(("a", "张伟伟", "vip")), ("张伟伟", "vip", "a")),
        # Another shop can neither rename them nor change their tier.
        (("张伟", "returning", "a"), said(("b", "李四", "vip")), ("张伟", "returning", "a")),
        # ... nor clear them: an order without a name or tier changes nothing.
        (("张伟", "vip", "a"), said(("a", "", None)), ("张伟", "vip", "a")),
        # Another shop's name fills a customer who has none; its tier still does not count.
        (("", None, "a"), said(("b", "李四", "vip")), ("李四", None, "a")),
        # A customer no shop brought yet (an operator's) is brought by the next order.
        (("王芳", "vip", None), said(("b", "", "new")), ("王芳", "new", "b")),
    ],
)
def test_only_the_shop_that_brought_a_customer_sets_their_name_and_tier(
    current: Standing, details: CustomerDetails, after: Standing
) -> None:
    assert settle(current, details) == after
