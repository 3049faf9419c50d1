"""The baselines: bare workflows with Temporal's moves and no business logic.

Each is what any Temporal application doing the same number of Updates, timers and
activities pays; the benchmarks compare orderclock's workflow against them on the same
server, worker settings and data converter.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta

from temporalio import activity, workflow

BARE_LIFECYCLE = "bench_lifecycle"
BARE_TIMER = "bench_timer"
BARE_STEP = "bench_step"


@dataclass
class LifecyclePlan:
    """How many of each move the bare lifecycle makes.

    ``activities[i]`` activities start before waiting for Update ``i`` (the last entry
    after the final timer); Update number ``update_activity`` waits on one more activity
    before it answers, as orderclock's ``pay`` waits on the charge.
    """

    updates: int
    activities: list[int]
    update_activity: int
    wait_seconds: float
    fire_seconds: float


@dataclass
class TimerInput:
    """When the bare timer workflow's one timer fires (epoch seconds)."""

    due_at: float


@dataclass
class Step:
    """The bare activity's input and result."""

    workflow_id: str
    seq: int


class BareActivities:
    """The baseline's one activity: a stub that answers at once, like ``bench.stubs``."""

    @activity.defn(name=BARE_STEP)
    async def step(self, input: Step) -> Step:
        return input


@workflow.defn(name=BARE_LIFECYCLE)
class BareLifecycle:
    """Updates, timers and activities in the shape of a prepaid order's life, nothing else."""

    @workflow.init
    def __init__(self, plan: LifecyclePlan) -> None:
        self._plan = plan
        self._received = 0
        self._seq = 0

    @workflow.run
    async def run(self, plan: LifecyclePlan) -> int:
        """Wait for each Update with a timeout, then let one timer fire, then finish."""
        running: list[asyncio.Task[list[Step]]] = []
        for phase in range(plan.updates):
            running.append(asyncio.create_task(self._activities(plan.activities[phase])))
            await workflow.wait_condition(
                lambda phase=phase: self._received > phase,  # type: ignore[misc]
                timeout=timedelta(seconds=plan.wait_seconds),
            )
        await workflow.sleep(timedelta(seconds=plan.fire_seconds))
        running.append(asyncio.create_task(self._activities(plan.activities[plan.updates])))
        await asyncio.gather(*running)
        return self._received

    @workflow.update
    async def step(self, n: int) -> int:
        """One Update; the planned one waits on an activity first."""
        if self._received == self._plan.update_activity:
            await self._activities(1)
        self._received += 1
        return self._received

    async def _activities(self, count: int) -> list[Step]:
        calls = []
        for _ in range(count):
            self._seq += 1
            calls.append(
                workflow.execute_activity(
                    BARE_STEP,
                    Step(workflow.info().workflow_id, self._seq),
                    result_type=Step,
                    start_to_close_timeout=timedelta(seconds=30),
                )
            )
        return list(await asyncio.gather(*calls))


@workflow.defn(name=BARE_TIMER)
class BareTimer:
    """One timer, then done."""

    @workflow.run
    async def run(self, input: TimerInput) -> None:
        """Sleep until ``due_at``."""
        remaining = input.due_at - workflow.now().timestamp()
        if remaining > 0:
            await workflow.sleep(timedelta(seconds=remaining))
