"""The simulated execution engine: accounts, orders, fills, balances.

Nothing here runs in the background. Every call first brings the engine up to
the clock's "now" (:meth:`Engine.sync`), processing the events that fell due
in time order: orders starting, slices filling, resting orders looking at
the price, chains moving on to their next batch, orders paused for 24 hours
canceled. So the same code serves a virtual clock (tests advance it by hand,
fully deterministic) and a real-time clock at any speed (demos). What each
strategy trades at each step is :mod:`~taas_async.sandbox._strategies`'s
business.

Money is ``Decimal`` throughout. A fill of ``qty`` base at ``price`` moves
exactly ``qty * price`` of quote: for spot pairs between the base and quote
tokens, for derivative pairs (``ETH:PERP-USDT``) into a position whose cost
is tracked exactly, so an account's value at the fill price changes by a
fill only by its fee, paid in the quote token.
"""

from __future__ import annotations

import datetime as dt
import heapq
import itertools
import random
from collections.abc import Iterable, Mapping
from decimal import Decimal, localcontext

from taas_async._enums import OrderStatus, Side, Strategy
from taas_async._requests import (
    AmendOrderRequest,
    CloseBalancesRequest,
    GetMultiOrdersRequest,
    GetOrdersRequest,
    PlaceChainedOrderRequest,
    PlaceMultiOrderRequest,
    PlaceOrderRequest,
    SetLeverageRequest,
)
from taas_async.sandbox import _strategies as strategies
from taas_async.sandbox._clock import Clock
from taas_async.sandbox._feed import Feed
from taas_async.sandbox._market import DEFAULT_FEE_BPS, FeeTable, Market
from taas_async.sandbox._prices import Pair, PriceFeed
from taas_async.sandbox._records import (
    EXACT,
    MAX_AMOUNT,
    MICROSECOND,
    PAUSE_EXPIRED,
    PAUSE_LIMIT,
    WAITING,
    Account,
    Fill,
    Message,
    SandboxError,
    SimChain,
    SimMulti,
    SimOrder,
    accounts_matching,
    amended_request,
    bad_field,
    chain_stop_reason,
    check_limits,
    child_request,
    close_request,
    limit_problems,
    listed,
    not_found,
    open_exposures,
    random_uuid,
    start_of,
)

__all__ = ["Engine"]

# --------------------------------------------------------------------------- the engine


class Engine:
    """The whole simulated venue. Every public method syncs to the clock first.

    ``fee_bps`` maps exchange names to fee rates in basis points (``"*"``: any
    other exchange); it replaces :data:`~taas_async.sandbox._market.DEFAULT_FEE_BPS`.
    """

    def __init__(
        self, clock: Clock, *, seed: int = 0, fee_bps: Mapping[str, Decimal] | None = None
    ) -> None:
        self.clock = clock
        self.prices: PriceFeed = PriceFeed(seed, clock.now())
        self.market: Market = Market(self.prices, seed)
        self.fees: FeeTable = FeeTable(DEFAULT_FEE_BPS if fee_bps is None else fee_bps)
        self._price_version = self.prices.version
        self._rng = random.Random(seed)  # noqa: S311 (ids only need to be reproducible)
        self.accounts: dict[str, Account] = {}
        self.orders: dict[str, SimOrder] = {}
        self.multis: dict[str, SimMulti] = {}
        self.chains: dict[str, SimChain] = {}
        self.messages: dict[str, list[Message]] = {}
        self._events: list[tuple[dt.datetime, int, str, int]] = []
        self._seqs = itertools.count(1)
        self._now = clock.now()
        self.feed: Feed = Feed(self.multis)  # the order updates, for the order stream

    # ------------------------------------------------------------------ time

    def new_id(self) -> str:
        """A UUID4 string drawn from the seeded generator (reproducible)."""
        return random_uuid(self._rng)

    def next_due(self) -> dt.datetime | None:
        """When the earliest scheduled event falls due (None: nothing is scheduled)."""
        return self._events[0][0] if self._events else None

    def sync(self) -> dt.datetime:
        """Process every event due by the clock's now, in time order; return now."""
        now = max(self._now, self.clock.now())
        if self.prices.version != self._price_version:
            self._price_version = self.prices.version
            self._wake_resting()
        with localcontext(EXACT):
            while self._events and self._events[0][0] <= now:
                when, _, order_id, version = heapq.heappop(self._events)
                order = self.orders[order_id]
                if order.version == version and not order.is_terminal:
                    self._now = when
                    if order.status is OrderStatus.PAUSED:
                        self._expire_pause(order, when)
                    else:
                        self._step(order, when)
        self._now = now
        return now

    def _schedule(self, order: SimOrder) -> None:
        order.version += 1
        when = self._next_event(order)
        if when is not None:
            heapq.heappush(self._events, (when, next(self._seqs), order.id, order.version))

    def _next_event(self, order: SimOrder) -> dt.datetime | None:
        if order.status is OrderStatus.SCHEDULED:
            return order.time_start  # None while a chain leg waits for its turn
        if order.status is OrderStatus.ACTIVE:
            return strategies.next_step(order)
        if order.status is OrderStatus.PAUSED and order.paused_at is not None:
            return order.paused_at + PAUSE_LIMIT
        return None

    def _expire_pause(self, order: SimOrder, when: dt.datetime) -> None:
        """Cancel an order paused for 24 hours, at that moment."""
        order.failure_reason = PAUSE_EXPIRED
        self._log(order, when, "warning", f"order {PAUSE_EXPIRED}")
        self._finish(order, when, OrderStatus.CANCELED)

    def _step(self, order: SimOrder, when: dt.datetime) -> None:
        since = when
        if order.status is OrderStatus.SCHEDULED:
            order.status = OrderStatus.ACTIVE
            order.last_step = when
            order.updated_at = when
            order.arrival_price = self.market.mid(order.pair, when)
            if order.strategy is Strategy.ICEBERG:
                order.slice_factors = strategies.iceberg_factors(order)
            self._log(order, when, "info", f"order started ({order.strategy.value})")
            self.feed.status_changed(order, when)
        else:
            assert order.last_step is not None  # noqa: S101
            since = order.last_step
            order.elapsed_us += (when - order.last_step) // MICROSECOND
            order.last_step = when
        due = order.slices_due()
        outcome = strategies.step(order, self.market, since, when, due)
        if outcome.trade is not None:
            self._fill(order, when, outcome.trade)
        if outcome.end is not None:
            if outcome.reason:
                order.failure_reason = outcome.reason
            self._finish(order, when, outcome.end)
            return
        if order.shown and strategies.kind_of(order) is strategies.Kind.RESTING:
            order.wake_at = when + strategies.quiet_time(order, self.market, when)
        self._schedule(order)

    def _wake_resting(self) -> None:
        """A price was set by hand: every resting order looks at it now."""
        for order in self.orders.values():
            if order.status is OrderStatus.ACTIVE and order.shown:
                order.wake_at = self._now
                self._schedule(order)

    def _fill(self, order: SimOrder, when: dt.datetime, trade: strategies.Trade) -> None:
        """Record a fill and move the account: notional exactly qty x price, plus the fee."""
        qty, price = trade.qty, trade.price
        notional = qty * price
        fee = self.fees.fee(order.account.exchange, notional)
        fill = Fill(self.new_id(), when, qty, price, notional, order.account.name, fee)
        order.fills.append(fill)
        order.executed_qty += qty
        order.executed_notional += notional
        order.total_fee += fee
        order.updated_at = when
        order.account.apply_fill(order.pair, order.side, qty, notional, fee)
        self._log(order, when, "info", f"filled {qty} {order.pair.base} at {price}")
        self.feed.filled(order, when)

    def _finish(self, order: SimOrder, when: dt.datetime, status: OrderStatus) -> None:
        order.status = status
        order.time_end = when
        order.updated_at = when
        order.version += 1
        word = "complete" if status is OrderStatus.COMPLETE else "canceled"
        self._log(order, when, "info", f"order {word}: {order.pct_filled}% filled")
        self.feed.status_changed(order, when)
        if order.chain is not None:
            self._advance_chain(order.chain, order, when)

    def _advance_chain(self, chain: SimChain, leg: SimOrder, when: dt.datetime) -> None:
        """``leg`` ended: stop the chain unless it filled completely, else go on."""
        if chain.failure_reason:
            return  # stopped already (this is a waiting leg it canceled)
        if not leg.fully_filled:  # the chain stops: the legs still waiting never run
            chain.failure_reason = chain_stop_reason(chain, leg)
            waiting = chain.waiting()
            self._log(
                leg, when, "error", f"{chain.failure_reason}; {len(waiting)} later orders canceled"
            )
            for later in waiting:
                later.failure_reason = chain.failure_reason
                self._finish(later, when, OrderStatus.CANCELED)
            return
        self._start_batch(chain, when)

    def _start_batch(self, chain: SimChain, when: dt.datetime) -> None:
        for leg in chain.next_batch():
            leg.time_start = start_of(leg.request, when)
            self._schedule(leg)

    def _log(self, order: SimOrder, when: dt.datetime, level: str, text: str) -> None:
        self.messages.setdefault(order.id, []).append(Message(order.id, when, level, text))

    # ------------------------------------------------------------------ accounts

    def add_account(
        self,
        name: str,
        tokens: Mapping[str, Decimal] | None = None,
        *,
        exchange: str = "Mock",
        account_id: str | None = None,
    ) -> Account:
        """Open an account holding ``tokens`` (symbol -> amount), each one the feed prices."""
        if name in self.accounts:
            raise ValueError(f"account {name!r} exists already")
        unknown = [t for t in tokens or {} if not self.prices.is_known(t)]
        if unknown:
            raise ValueError(
                f"the sandbox has no price for {', '.join(unknown)}:"
                " set_token_price gives a token one"
            )
        account = Account(
            name=name,
            id=account_id or self.new_id(),
            exchange=exchange,
            tokens={k.upper(): Decimal(v) for k, v in (tokens or {}).items()},
        )
        self.accounts[name] = account
        return account

    def _account_named(self, name: str, field: str) -> Account:
        account = self.accounts.get(name)
        if account is None:
            raise bad_field(field, f"unknown account {name!r}")
        return account

    def balances(
        self, exchange_names: Iterable[str] | None, account_names: Iterable[str] | None
    ) -> list[Account]:
        """Accounts matching the filters (every account when both are None)."""
        self.sync()
        return accounts_matching(self.accounts.values(), exchange_names, account_names)

    def set_leverage(self, request: SetLeverageRequest) -> list[Account]:
        """Set ``leverage`` on ``pair`` for each account id; it sticks."""
        self.sync()
        by_id = {a.id: a for a in self.accounts.values()}
        unknown = [i for i in request.account_ids if i not in by_id]
        if unknown:
            raise bad_field("account_ids", f"unknown account ids: {', '.join(unknown)}")
        if request.leverage >= MAX_AMOUNT:
            raise bad_field("leverage", f"must be below {MAX_AMOUNT:E} in the sandbox")
        self._check_pairs({"pair": request.pair})
        pair = Pair.parse(request.pair).symbol
        accounts = [by_id[i] for i in request.account_ids]
        for account in accounts:
            account.leverage[pair] = request.leverage
        return accounts

    # ------------------------------------------------------------------ orders

    def place_order(self, request: PlaceOrderRequest, *, order_id: str | None = None) -> SimOrder:
        """Accept an order: SCHEDULED now, ACTIVE on the next sync."""
        now = self.sync()
        self._check_pairs({"pair": request.pair})
        return self._place(request, now, order_id=order_id)

    def _check_pairs(self, pairs: Mapping[str, str]) -> None:
        """400 naming each field (field -> pair) whose pair the sandbox has no price for."""
        problems = self.prices.pair_problems(pairs)
        if problems:
            raise SandboxError(400, problems)

    def _place(
        self,
        request: PlaceOrderRequest,
        now: dt.datetime,
        *,
        order_id: str | None = None,
        parent_order: str | None = None,
        chain: SimChain | None = None,
        priority: int | None = None,
    ) -> SimOrder:
        # No sync in here: the legs of a multi or chained order are all in
        # place before any of them starts.
        check_limits([("", request)])  # groups checked every leg before placing any
        if order_id is not None and order_id in self.orders:
            raise bad_field("id", f"order {order_id} exists already")
        accounts = [self._account_named(n, "accounts") for n in request.accounts]
        pair = Pair.parse(request.pair)
        order = SimOrder(
            id=order_id or self.new_id(),
            seq=next(self._seqs),
            request=request,
            created_at=now,
            updated_at=now,
            pair=pair,
            account=accounts[0],
            sell_token_amount=Decimal(0),
            parent_order=parent_order,
            chain=chain,
            priority=priority,
        )
        order.sell_token_amount = self._sell_amount(order, now)
        if request.updated_leverage is not None and pair.is_derivative:
            for account in accounts:
                account.leverage[pair.symbol] = Decimal(request.updated_leverage)
        self.orders[order.id] = order
        self._log(order, now, "info", "order accepted")
        if chain is None:
            order.time_start = start_of(request, now)
            self._schedule(order)
        self.feed.placed(order, now)
        return order

    def _sell_amount(self, order: SimOrder, now: dt.datetime) -> Decimal:
        req = order.request
        if req.sell_token_amount is not None:
            return req.sell_token_amount
        price = self.prices.price(order.pair, now)
        unit, total = order.target
        if (unit == "base") == (order.side is Side.SELL):
            return total  # it spends what it is measured in
        return total * price if unit == "base" else total / price

    def order(self, order_id: str) -> SimOrder:
        """The order with this id (404 if there is none)."""
        self.sync()
        order = self.orders.get(order_id)
        if order is None:
            raise not_found("order", order_id)
        return order

    def cancel_order(self, order_id: str) -> str:
        """Cancel an order; canceling a canceled order again succeeds and says so."""
        order = self.order(order_id)
        if order.status is OrderStatus.CANCELED:
            return f"order {order.id} was already canceled"
        if order.status is OrderStatus.COMPLETE:
            raise SandboxError(400, {"error": f"order {order.id} is COMPLETE: nothing to cancel"})
        order.failure_reason = "canceled by user"
        self._finish(order, self._now, OrderStatus.CANCELED)
        return f"order {order.id} canceled"

    def pause_order(self, order_id: str) -> str:
        """Pause an ACTIVE order: no fills until it is resumed; canceled after 24 hours."""
        order = self.order(order_id)
        if order.strategy is Strategy.TARGET_TIME:
            raise SandboxError(400, {"error": "Target Time orders cannot be paused"})
        if order.status is not OrderStatus.ACTIVE:
            raise SandboxError(
                400, {"error": f"order {order.id} is {order.status.value}, not ACTIVE"}
            )
        self._step_elapsed(order)
        order.status = OrderStatus.PAUSED
        order.updated_at = order.paused_at = self._now
        self._schedule(order)  # its step is dropped; the 24-hour limit is due instead
        self._log(order, self._now, "info", "order paused")
        self.feed.status_changed(order, self._now)
        return f"order {order.id} paused"

    def resume_order(self, order_id: str) -> str:
        """Resume a PAUSED order where its schedule left off."""
        order = self.order(order_id)
        if order.status is not OrderStatus.PAUSED:
            raise SandboxError(
                400, {"error": f"order {order.id} is {order.status.value}, not PAUSED"}
            )
        order.status = OrderStatus.ACTIVE
        order.last_step = self._now
        order.updated_at = self._now
        order.paused_at = None
        strategies.place_again(order, self._now)  # from the market as it is: no catching up
        self._log(order, self._now, "info", "order resumed")
        self._schedule(order)
        self.feed.status_changed(order, self._now)
        return f"order {order.id} resumed"

    def _step_elapsed(self, order: SimOrder) -> None:
        if order.status is OrderStatus.ACTIVE and order.last_step is not None:
            order.elapsed_us += (self._now - order.last_step) // MICROSECOND
            order.last_step = self._now

    def amend_order(self, request: AmendOrderRequest) -> SimOrder:
        """Change a live order's parameters; the schedule follows the new ones."""
        order = self.order(request.order_id)
        amended = amended_request(order, request.changes)
        self._step_elapsed(order)
        order.request = amended
        order.updated_at = self._now
        strategies.place_again(order, self._now)  # a new price or size: placed anew
        self._log(order, self._now, "info", f"order amended: {', '.join(sorted(request.changes))}")
        self._schedule(order)
        return order

    def list_orders(self, filters: GetOrdersRequest) -> list[SimOrder]:
        """Orders passing every filter given, newest first."""
        self.sync()
        found = [
            o
            for o in self.orders.values()
            if listed(
                filters,
                status=o.status.value,
                created_at=o.created_at,
                custom_order_id=o.request.custom_order_id,
                accounts=o.request.accounts,
            )
        ]
        return sorted(found, key=lambda o: o.seq, reverse=True)

    def list_multi_orders(self, filters: GetMultiOrdersRequest) -> list[SimMulti]:
        """Multi orders passing every filter given, newest first."""
        self.sync()
        found = [
            m
            for m in self.multis.values()
            if listed(
                filters,
                status=m.status,
                created_at=m.created_at,
                custom_order_id=m.request.custom_order_id,
            )
        ]
        return found[::-1]  # placed in order, so newest first even within one instant

    def order_messages(self, order_ids: Iterable[str]) -> list[Message]:
        """The logs of these orders, in order of the ids given."""
        self.sync()
        return [m for i in order_ids for m in self.messages.get(i, [])]

    # ------------------------------------------------------------------ groups

    def place_multi_order(
        self, request: PlaceMultiOrderRequest, *, multi_id: str | None = None
    ) -> SimMulti:
        """One child order per leg, each with the multi order's execution parameters."""
        now = self.sync()
        if multi_id is not None and multi_id in self.multis:
            raise bad_field("id", f"multi order {multi_id} exists already")
        accounts = request.resolved_accounts
        for name in accounts:
            self._account_named(name, "accounts")
        for index, child in enumerate(request.child_orders):
            if child.account is not None:
                self._account_named(child.account, f"child_orders[{index}].account")
        self._check_pairs(
            {f"child_orders[{i}].pair": c.pair for i, c in enumerate(request.child_orders)}
        )
        legs = [child_request(request, child, accounts) for child in request.child_orders]
        problems = {  # the legs' duration is the multi order's
            key if key == "duration" else f"child_orders[{index}].{key}": reasons
            for index, leg in enumerate(legs)
            for key, reasons in limit_problems(leg).items()
        }
        if problems:
            raise SandboxError(400, problems)
        multi = SimMulti(id=multi_id or self.new_id(), request=request, created_at=now)
        for leg in legs:
            multi.children.append(self._place(leg, now, parent_order=multi.id))
        self.multis[multi.id] = multi
        self.feed.multi_placed(multi, now)
        return multi

    def multi_order(self, multi_id: str) -> SimMulti:
        """The multi order with this id (404 if there is none)."""
        self.sync()
        multi = self.multis.get(multi_id)
        if multi is None:
            raise not_found("multi order", multi_id)
        return multi

    def cancel_multi_order(self, multi_id: str) -> str:
        """Cancel a multi order and every child still running."""
        multi = self.multi_order(multi_id)
        live = [c for c in multi.children if not c.is_terminal]
        if not live and not multi.canceled:
            raise SandboxError(400, {"error": f"multi order {multi.id} is {multi.status}"})
        multi.canceled = True  # before its children finish: never reported COMPLETE on the way
        for child in live:
            child.failure_reason = "multi order canceled by user"
            self._finish(child, self._now, OrderStatus.CANCELED)
        return f"multi order {multi.id} canceled ({len(live)} child orders)"

    def place_chained_order(self, request: PlaceChainedOrderRequest) -> SimChain:
        """Legs run in batches by priority (1 first); a batch starts once the one before filled.

        A leg that ends without filling completely stops the chain: the legs
        still waiting are canceled, their ``failure_reason`` naming that leg.
        """
        now = self.sync()
        for index, entry in enumerate(request.orders_in_chain):
            for name in entry.order_request.accounts:
                self._account_named(name, f"orders_in_chain[{index}].order_request.accounts")
        legs = [
            (f"orders_in_chain[{i}].order_request.", e.order_request)
            for i, e in enumerate(request.orders_in_chain)
        ]
        self._check_pairs({f"{prefix}pair": leg.pair for prefix, leg in legs})
        check_limits(legs)
        chain = SimChain(id=self.new_id(), created_at=now)
        for entry in sorted(request.orders_in_chain, key=lambda e: e.priority):
            leg = self._place(
                entry.order_request,
                now,
                parent_order=chain.id,
                chain=chain,
                priority=entry.priority,
            )
            chain.legs.append(leg)
        self.chains[chain.id] = chain
        self._start_batch(chain, now)  # the first batch starts
        for leg in chain.legs:
            if leg.time_start is None:
                self._log(leg, now, "info", WAITING)
        return chain

    # ------------------------------------------------------------------ closing

    def close_balances(self, request: CloseBalancesRequest) -> list[SimOrder]:
        """Open orders that flatten every non-stablecoin token and every position.

        Each flattening order is worth at most ``max_notional`` at the current
        price, so a larger holding is reduced by that much, not closed.
        """
        now = self.sync()
        if request.max_notional >= MAX_AMOUNT:
            raise bad_field("max_notional", f"must be below {MAX_AMOUNT:E} in the sandbox")
        names = request.account_names or list(self.accounts)
        accounts = [self._account_named(n, "account_names") for n in names]
        opened = []
        for account in accounts:
            for pair, size in open_exposures(account):
                close = close_request(account, pair, size, self.prices.price(pair, now), request)
                if close is not None:
                    opened.append(self._place(close, now))
        return opened
