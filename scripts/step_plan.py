"""StepPlan: checks run in priority order within one time budget (a device call's limit).

A step starts only if the time it needs fits what is left of the budget; what did not fit (or
was not chosen) is named, with the command line that runs just those steps. Setup steps always
run. The summary is rewritten after every step, so a call cut short still says what it did.
"""
import json
import os
import time


class StepPlan:
    def __init__(self, budget_s, only=(), on_step=None, clock=time.monotonic):
        """budget_s: seconds for all steps (0: no limit). only: the keys of the checks to run
        (empty: all). on_step(plan): called after every step (the summary writer)."""
        self.budget_s = budget_s
        self.only = set(only)
        self.on_step = on_step or (lambda plan: None)
        self.clock = clock
        self.start = clock()
        self.steps = []  # (key, title, fn, need_s, setup, skip_reason)
        self.results = []

    def add(self, key, title, fn, need_s=0, setup=False, skip=None):
        """A step: `need_s` is the time it needs at least; `skip` a reason it is skipped
        (e.g. a dry run and a GPU step)."""
        self.steps.append((key, title, fn, need_s, setup, skip))

    def check_only(self):
        """Raises ValueError naming any --only key that is not a check."""
        keys = {key for key, *_, setup, _ in self.steps if not setup}
        unknown = sorted(self.only - keys)
        if unknown:
            raise ValueError(f"--only {','.join(unknown)}: no such step (steps: "
                             f"{','.join(k for k, *_ in self.steps if k in keys)})")

    def elapsed(self):
        return self.clock() - self.start

    def remaining(self):
        """Seconds left of the budget (a large number without one)."""
        return self.budget_s - self.elapsed() if self.budget_s else 1e9

    def allowance(self, key):
        """What `key` may take and still leave the chosen later steps their need."""
        keys = [k for k, *_ in self.steps]
        later = sum(need for k, _, _, need, setup, skip in self.steps[keys.index(key) + 1:]
                    if self.chosen(k, setup) and not skip)
        own = next(need for k, _, _, need, *_ in self.steps if k == key)
        return max(own, self.remaining() - later)

    def chosen(self, key, setup):
        return setup or not self.only or key in self.only

    def run(self, say=print):
        for key, title, fn, need, setup, skip in self.steps:
            if not self.chosen(key, setup):
                continue
            entry = {"step": title, "key": key}
            if skip:
                entry["status"] = f"skipped ({skip})"
            elif not setup and self.remaining() < need:
                entry["status"] = "not run"
                entry["detail"] = (f"{self.remaining():.0f} s left of --budget-s "
                                   f"{self.budget_s:g}, it needs about {need:.0f} s")
            else:
                began = self.clock()
                try:
                    entry["detail"], entry["status"] = fn(), "passed"
                except Exception as e:  # one failing step must not hide the others' results
                    entry["detail"] = str(e).replace("\n", " ")[:2000]
                    entry["status"] = "failed"
                entry["seconds"] = round(self.clock() - began, 1)
            self.results.append(entry)
            say(f"[{entry['status']}] {title}"
                + (f" ({entry['seconds']:.1f} s)" if "seconds" in entry else "")
                + (": " + json.dumps(entry["detail"])[:600] if "detail" in entry else ""))
            self.on_step(self)

    def not_run(self):
        """The keys of the checks that did not run for lack of time."""
        return [r["key"] for r in self.results if r["status"] == "not run"]

    def passed(self):
        """Every chosen step passed (or was skipped by design), and none is left to run."""
        return all(r["status"] == "passed" or r["status"].startswith("skipped")
                   for r in self.results)

    def summary(self, extra=None):
        doc = {"passed": self.passed(), "seconds": round(self.elapsed(), 1),
               "budget_s": self.budget_s, "steps": list(self.results), **(extra or {})}
        if self.not_run():
            doc["rerun"] = "--only " + ",".join(self.not_run())
        return doc

    def write(self, path, extra=None):
        with open(path + ".part", "w") as f:
            json.dump(self.summary(extra), f, indent=2)
        os.replace(path + ".part", path)
