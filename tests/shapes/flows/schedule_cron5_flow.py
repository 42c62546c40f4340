"""Decorator: @schedule(cron=...) 5 fields."""
from metaflow import FlowSpec, project, schedule, step


@schedule(cron="0 12 * * *")
@project(name="shapes")
class ScheduleCron5Flow(FlowSpec):
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
    ScheduleCron5Flow()
