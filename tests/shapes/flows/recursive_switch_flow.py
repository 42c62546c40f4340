"""Shape: a recursive switch (a step that loops on itself until a condition changes)."""
from metaflow import FlowSpec, project, step


@project(name="shapes")
class RecursiveSwitchFlow(FlowSpec):
    @step
    def start(self):
        self.count = 0
        self.next(self.loop)

    @step
    def loop(self):
        self.count += 1
        self.state = "again" if self.count < 3 else "done"
        self.next({"again": self.loop, "done": self.end}, condition="state")

    @step
    def end(self):
        pass


if __name__ == "__main__":
    RecursiveSwitchFlow()
