"""Decorator: @timeout."""
from metaflow import FlowSpec, project, step, timeout


@project(name="shapes")
class TimeoutFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.work)

    @timeout(minutes=10)
    @step
    def work(self):
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    TimeoutFlow()
