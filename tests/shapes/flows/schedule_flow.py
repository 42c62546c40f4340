"""Decorator: @schedule(daily=True)."""
from metaflow import FlowSpec, project, schedule, step


@schedule(daily=True)
@project(name="shapes")
class ScheduleFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.work)

    @step
    def work(self):
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    ScheduleFlow()
