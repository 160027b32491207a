#!/usr/bin/env python3
"""scripts/step_plan.py, the GPU acceptance's schedule: checks start only when their need fits
the budget, setup steps always run, what did not fit is named with its --only rerun, the
summary is rewritten after every step, and an unknown --only key is one clear error."""
import json
import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../scripts"))
from step_plan import StepPlan  # noqa: E402


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def step(clock, seconds, result="ok", ran=None, name=None):
    """A step that takes `seconds` of the fake clock."""
    def fn():
        clock.now += seconds
        if ran is not None:
            ran.append(name)
        if isinstance(result, Exception):
            raise result
        return result
    return fn


class StepPlanTest(unittest.TestCase):
    def plan(self, budget, only=(), writes=None):
        self.clock = FakeClock()
        self.ran = []
        on_step = (lambda p: writes.append(p.summary())) if writes is not None else None
        return StepPlan(budget, only, on_step=on_step, clock=self.clock)

    def add(self, plan, key, seconds, need, **kw):
        plan.add(key, f"title {key}", step(self.clock, seconds, ran=self.ran, name=key,
                                           result=kw.pop("result", "ok")), need, **kw)

    def test_a_check_that_does_not_fit_is_left_with_its_rerun(self):
        p = self.plan(100)
        self.add(p, "build", 70, 0, setup=True)
        self.add(p, "tests", 10, 20)
        self.add(p, "bench", 10, 30)  # 20 s left: needs 30
        self.add(p, "micro", 5, 10)  # still fits after the skipped bench
        p.run(say=lambda _: None)
        self.assertEqual(self.ran, ["build", "tests", "micro"])
        self.assertEqual(p.not_run(), ["bench"])
        summary = p.summary()
        self.assertFalse(summary["passed"])
        self.assertEqual(summary["rerun"], "--only bench")
        left = next(r for r in summary["steps"] if r["key"] == "bench")
        self.assertEqual(left["status"], "not run")
        self.assertIn("20 s left of --budget-s 100, it needs about 30 s", left["detail"])

    def test_setup_steps_always_run_and_only_picks_checks(self):
        p = self.plan(60, only=["micro"])
        self.add(p, "build", 50, 100, setup=True)  # needs more than the budget: runs anyway
        self.add(p, "tests", 1, 1)  # not chosen
        self.add(p, "micro", 1, 5)  # 10 s left
        p.run(say=lambda _: None)
        self.assertEqual(self.ran, ["build", "micro"])
        self.assertTrue(p.passed())
        self.assertNotIn("rerun", p.summary())
        late = self.plan(10)
        self.add(late, "build", 50, 0, setup=True)
        self.add(late, "micro", 1, 0)  # the budget is spent: not even a need of 0 fits
        late.run(say=lambda _: None)
        self.assertEqual(late.not_run(), ["micro"])

    def test_allowance_leaves_the_later_checks_their_need(self):
        p = self.plan(300)
        self.add(p, "bench", 1, 50)
        self.add(p, "numerics", 1, 60)
        self.add(p, "gpu-only", 1, 500, skip="dry run: needs a GPU")  # skipped: needs nothing
        self.add(p, "micro", 1, 40)
        self.clock.now += 100  # 200 s left
        self.assertEqual(p.allowance("bench"), 100)  # 200 - 60 - 40
        self.clock.now += 150  # 50 s left: never below its own need
        self.assertEqual(p.allowance("bench"), 50)
        self.assertEqual(self.plan(0).remaining(), 1e9)  # no budget: no limit

    def test_failures_and_skips_are_reported_and_summaries_written_each_step(self):
        writes = []
        p = self.plan(0, writes=writes)
        self.add(p, "a", 1, 0, result=RuntimeError("boom\nsecond line"))
        self.add(p, "b", 1, 0, skip="dry run: needs a GPU")
        self.add(p, "c", 1, 0)
        lines = []
        p.run(say=lines.append)
        self.assertEqual([len(w["steps"]) for w in writes], [1, 2, 3])
        statuses = [r["status"] for r in writes[-1]["steps"]]
        self.assertEqual(statuses, ["failed", "skipped (dry run: needs a GPU)", "passed"])
        self.assertEqual(writes[-1]["steps"][0]["detail"], "boom second line")
        self.assertFalse(p.passed())
        self.assertTrue(lines[0].startswith("[failed] title a (1.0 s): "))
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "summary.json")
            p.write(path, {"dry_run": True})
            doc = json.load(open(path))
            self.assertTrue(doc["dry_run"])
            self.assertEqual(os.listdir(tmp), ["summary.json"])  # no .part left

    def test_an_unknown_only_key_names_the_steps(self):
        p = self.plan(0, only=["bench", "bogus"])
        self.add(p, "build", 1, 0, setup=True)
        self.add(p, "bench", 1, 0)
        with self.assertRaises(ValueError) as e:
            p.check_only()
        self.assertEqual(str(e.exception), "--only bogus: no such step (steps: bench)")


if __name__ == "__main__":
    unittest.main()
