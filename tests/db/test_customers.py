"""Customers are found by any written form of their number; the last agent is remembered."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from cti.container import Container
from cti.customers.service import (
    CustomerError,
    add_phone,
    find_by_phone,
    record_answered,
    upsert_customer,
)

T0 = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)

SAME_MOBILE = [
    "+86 138 0013 8000",
    "+86-138-0013-8000",
    "008613800138000",
    "13800138000",
    "86 13800138000",
    "17951 13800138000",
    "sip:+8613800138000@trunk",
]
SAME_FIXED = [
    "010-12345678",
    "01012345678",
    "(010) 1234 5678",
    "+86 10 1234 5678",
    "0086-10-12345678",
]


async def _seed(container: Container) -> int:
    async with container.sessions() as session, session.begin():
        customer = await upsert_customer(
            session, phones=container.phones, phone="+86 138-0013-8000", name="张伟", at=T0
        )
        await add_phone(
            session, phones=container.phones, customer=customer, phone="010-12345678", at=T0
        )
        return customer.id


@pytest.mark.parametrize("form", SAME_MOBILE + SAME_FIXED)
async def test_every_form_finds_the_same_customer(container: Container, form: str) -> None:
    customer_id = await _seed(container)
    async with container.sessions() as session:
        found = await find_by_phone(session, phones=container.phones, number=form)
    assert found is not None
    assert found.id == customer_id
    assert found.name == "张伟"
    assert {p.e164 for p in found.phones} == {"+8613800138000", "+861012345678"}
    assert "+86 138-0013-8000" in {p.raw for p in found.phones}


@pytest.mark.parametrize("form", ["", "anonymous", "<unknown>", "Restricted", "0000", "10086"])
async def test_withheld_or_unknown_number_is_no_customer(container: Container, form: str) -> None:
    await _seed(container)
    async with container.sessions() as session:
        assert await find_by_phone(session, phones=container.phones, number=form) is None
        assert await find_by_phone(session, phones=container.phones, number="13900139000") is None


async def test_upsert_keeps_one_customer_per_phone(container: Container) -> None:
    first = await _seed(container)
    async with container.sessions() as session, session.begin():
        again = await upsert_customer(
            session,
            phones=container.phones,
            phone="13800138000",
            name="张伟 (VIP)",
            at=T0,
            tier="vip",
        )
    assert again.id == first
    async with container.sessions() as session:
        found = await find_by_phone(session, phones=container.phones, number="008613800138000")
    assert found is not None
    assert (found.name, found.tier) == ("张伟 (VIP)", "vip")


async def test_a_number_of_another_customer_or_no_number_is_refused(container: Container) -> None:
    await _seed(container)
    async with container.sessions() as session, session.begin():
        phones = container.phones
        other = await upsert_customer(
            session, phones=phones, phone="13900139000", name="李娜", at=T0
        )
        with pytest.raises(CustomerError, match="already belongs"):
            await add_phone(session, phones=phones, customer=other, phone="01012345678", at=T0)
        with pytest.raises(CustomerError, match="not a phone number"):
            await upsert_customer(session, phones=phones, phone="anonymous", name="x", at=T0)
        with pytest.raises(CustomerError, match="unknown tier"):
            await upsert_customer(
                session, phones=phones, phone="13700137000", name="x", at=T0, tier="gold"
            )


async def test_record_answered_remembers_the_last_agent(container: Container) -> None:
    customer_id = await _seed(container)

    def answered(number: str, agent: str, at: datetime) -> Any:
        return record_answered(
            session, phones=container.phones, caller_number=number, agent_interface=agent, at=at
        )

    async with container.sessions() as session, session.begin():
        assert await answered("01012345678", "PJSIP/1001", T0)
        assert await answered("13800138000", "PJSIP/1002", T0 + timedelta(1))
        # An older answer replayed after a reconnect does not win.
        assert not await answered("13800138000", "PJSIP/1003", T0)
        # Unknown and withheld callers are not customers.
        assert not await answered("13900139000", "PJSIP/1001", T0)
        assert not await answered("anonymous", "PJSIP/1001", T0)
    async with container.sessions() as session:
        found = await find_by_phone(session, phones=container.phones, number="+86 10 1234 5678")
    assert found is not None and found.id == customer_id
    assert found.last_agent == "PJSIP/1002"
    assert found.last_call_at == T0 + timedelta(days=1)
