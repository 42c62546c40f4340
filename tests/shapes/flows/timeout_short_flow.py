"""Decorator: @timeout under 60 s."""
from metaflow import FlowSpec, project, step, timeout


@project(name="shapes")
class TimeoutShortFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.work)

    @timeout(seconds=30)
    @step
    def work(self):
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    TimeoutShortFlow()
