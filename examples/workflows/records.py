"""Dataclasses as inputs and outputs: records travel as JSON checked against their schema."""

from dataclasses import dataclass

from contrail import task, workflow


@dataclass
class Order:
    item: str
    quantity: int
    unit_price: float


@dataclass
class Invoice:
    item: str
    total: float
    discounted: bool


@task
def price(order: Order, discount_over: float = 100.0) -> Invoice:
    """Price an order, 10% off above ``discount_over``."""
    total = order.quantity * order.unit_price
    discounted = total > discount_over
    return Invoice(
        item=order.item, total=round(total * 0.9 if discounted else total, 2), discounted=discounted
    )


@workflow
def invoice_wf(order: Order = Order(item="widget", quantity=3, unit_price=50.0)) -> Invoice:
    """Price one order."""
    return price(order=order)
