"""Decorator: @schedule(timezone=...)."""
from metaflow import FlowSpec, project, schedule, step


@schedule(cron="0 12 * * *", timezone="Europe/Paris")
@project(name="shapes")
class ScheduleTimezoneFlow(FlowSpec):
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
    ScheduleTimezoneFlow()
